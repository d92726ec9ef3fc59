"""sheets: checked formula sheets from Marp-dialect Markdown.

The pipeline runs one way, one module per stage:
parse → cards → compile → check → render → pdf, with serve (preview) and cli on top.
"""

__version__ = "0.1.0"
