"""formula: LaTeX as people write it in their notes, compiled to sympy and numpy.

The stage's public names; the modules inside are its own business. Bottom to top:
`vocabulary` (the words it knows), `tokens` (tokenizer, normalisation, token helpers),
`results` (what compiling gives), `context` (declarations, what a parse knows),
`functions` (sympy functions sympy lacks), `reader` < `parser_names`,
`parser_derivatives`, `parser_calculus`, `parser_operators`, `parser_environments` <
`parser` (the parser, one class by concern),
`names` (LaTeX → Python names), `evidence` (what tokens show about names),
`declarations` (a card's `let:`), `delimiters` (unbalanced delimiters, warned), `chains`
(rows, statements, relation chains), `pairs` (when `(a, b)` is an inner product),
`equations` (`compile_equation` and its cache), `numeric` (`formula`,
`numeric_function`).
"""

from builder.formula.context import Declarations
from builder.formula.declarations import LET_KINDS, declarations_for
from builder.formula.delimiters import (
    brace_error_offset,
    delimiter_problems,
    delimiter_warnings,
)
from builder.formula.equations import MAX_CHARACTERS, compile_equation
from builder.formula.evidence import NameEvidence, name_evidence
from builder.formula.names import latex_name, python_name
from builder.formula.numeric import (
    Formula,
    NotNumeric,
    NumericFunction,
    formula,
    numeric_function,
)
from builder.formula.results import TEXT_ONLY, Chain, CompiledEquation, Side
from builder.formula.tokens import Refused

__all__ = [
    "LET_KINDS",
    "MAX_CHARACTERS",
    "TEXT_ONLY",
    "Chain",
    "CompiledEquation",
    "Declarations",
    "Formula",
    "NameEvidence",
    "NotNumeric",
    "NumericFunction",
    "Refused",
    "Side",
    "brace_error_offset",
    "compile_equation",
    "declarations_for",
    "delimiter_problems",
    "delimiter_warnings",
    "formula",
    "latex_name",
    "name_evidence",
    "numeric_function",
    "python_name",
]
