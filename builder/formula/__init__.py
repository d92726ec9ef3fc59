"""formula: LaTeX as people write it in their notes, compiled to sympy and numpy."""
