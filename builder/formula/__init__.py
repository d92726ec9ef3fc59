"""formula: LaTeX as people write it in their notes, compiled to sympy and numpy.

The stage's public names; the modules inside are its own business.
"""

from builder.formula.core import (
    MAX_CHARACTERS,
    Chain,
    CompiledEquation,
    Declarations,
    Formula,
    NotNumeric,
    NumericFunction,
    Refused,
    Side,
    compile_equation,
    declarations_for,
    formula,
    numeric_function,
    python_name,
)

__all__ = ["MAX_CHARACTERS", "Chain", "CompiledEquation", "Declarations", "Formula",
           "NotNumeric", "NumericFunction", "Refused", "Side", "compile_equation",
           "declarations_for", "formula", "numeric_function", "python_name"]
