"""The words of notes' LaTeX the reader knows: Greek letters, relations, named functions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def word_set(text: str) -> frozenset[str]:
    """The whitespace-separated words of `text`."""
    return frozenset(text.split())


GREEK = word_set("""alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta
iota kappa lambda mu nu xi omicron pi varpi rho varrho sigma varsigma tau upsilon phi varphi
chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega ell""")

WORD_NAMES = word_set("""TP TN FP FN FPR TPR AP mAP IoU Dice BLEU BP PE Var Cov KL JS BC
MSE MAE RMSE pos softmax Softmax sigmoid ReLU relu tanh loss val accuracy precision
recall""")
"""Runs of italic letters that name one thing (`TP`, `Var`) rather than a product."""

PROSE = frozenset({"if", "where", "otherwise", "for", "and", "or", "with", "when", "s.t.",
                    "such that", "for all", "else", "then"})

CONVENTIONAL_FUNCTIONS = frozenset({"f", "g", "h", "sigma", "O", "Omega"})
"""Names read as functions when applied to an expression (`g(Wx + b)`) unless the same
equation uses them as values (`4h(h + d)`: a product); used as values only elsewhere in
the card, the side is refused (which one?), except for `SIZE_NAMES`. `O(1)` and
`\\Omega(1/\\sqrt{C})` are Landau's order symbols: nobody multiplies by a letter O."""

SIZE_NAMES = frozenset({"h"})
"""Conventional function names as often a quantity (a hidden size, a step): a bare use
anywhere in the card makes `h(…)` a product, as `1 - p` does for `p(1 - p)`."""

RELATIONS = {"=": "=", "\\approx": "\\approx", "\\simeq": "\\approx", "\\le": "\\le",
              "\\leq": "\\le", "\\ge": "\\ge", "\\geq": "\\ge", "<": "<", ">": ">",
              "\\lt": "<", "\\gt": ">", "\\ne": "\\ne", "\\neq": "\\ne",
              "\\propto": "\\propto", "\\equiv": "\\equiv", "\\cong": "\\approx",
              "\\leftarrow": "\\leftarrow", "\\gets": "\\leftarrow",
              "\\longleftarrow": "\\leftarrow", "\\in": "\\in",
              "\\notin": "\\notin", "\\subset": "\\subset", "\\subseteq": "\\subseteq",
              "\\mapsto": "\\mapsto", "\\coloneqq": "=", "\\triangleq": "=",
              "\\sim": "\\sim", "\\ll": "\\ll", "\\gg": "\\gg", "\\leqslant": "\\le",
              "\\geqslant": "\\ge"}
BREAKS = frozenset({"\\Rightarrow", "\\rightarrow", "\\to", "\\Leftarrow", "\\implies",
                     "\\iff", "\\Leftrightarrow", "\\longrightarrow", "\\Longrightarrow",
                     "\\xrightarrow", "\\therefore", "\\because", "\\impliedby",
                     "\\leftrightarrow", "\\Longleftrightarrow", "\\longleftrightarrow",
                     "\\Longleftarrow", "\\longmapsto"})

TRANSPOSE = frozenset({"T", "\\top", "\\intercal", "\\mathsf{T}"})

ALIGN_ENVS = frozenset({"aligned", "align", "align*", "gathered", "gather", "gather*",
                         "split", "eqnarray", "eqnarray*", "alignat", "alignat*",
                         "flalign", "flalign*", "multline", "multline*", "equation",
                         "equation*", "alignedat"})
MATRIX_ENVS = frozenset({"matrix", "bmatrix", "pmatrix", "vmatrix", "Vmatrix", "Bmatrix",
                          "smallmatrix"})


def known_function(name: str) -> Callable[..., Any] | None:
    """sympy's meaning of a named function (`\\tanh`, `\\text{ReLU}`), or None."""
    import sympy

    def sigmoid(x: Any) -> Any:
        return 1 / (1 + sympy.exp(-x))

    def relu(x: Any) -> Any:
        return sympy.Max(0, x)

    table: dict[str, Callable[..., Any]] = {
        "sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan, "cot": sympy.cot,
        "sec": sympy.sec, "csc": sympy.csc, "sinh": sympy.sinh, "cosh": sympy.cosh,
        "tanh": sympy.tanh, "coth": sympy.coth, "sech": sympy.sech, "csch": sympy.csch,
        "arcsin": sympy.asin,
        "arccos": sympy.acos, "arctan": sympy.atan, "exp": sympy.exp, "log": sympy.log,
        "ln": sympy.log, "sqrt": sympy.sqrt, "max": sympy.Max, "min": sympy.Min,
        "sigmoid": sigmoid, "ReLU": relu, "relu": relu, "Relu": relu,
        "sgn": sympy.sign, "sign": sympy.sign, "abs": sympy.Abs,
    }
    return table.get(name)


WORD_FUNCTIONS = frozenset({"sin", "cos", "tan", "tanh", "sinh", "cosh", "exp", "log",
                            "ln", "sigmoid", "ReLU", "relu", "Relu", "max", "min", "sgn",
                            "sign", "arcsin", "arccos", "arctan", "sech", "csch",
                            "coth"})
"""Functions written as words (`\\text{sigmoid}`, `\\mathrm{ReLU}`, `\\text{tanh}`)."""

OPTIMA = frozenset({"max", "min", "argmax", "argmin", "sup", "inf"})
"""Operators over a variable (`\\max_{a}`, `\\arg\\min_x`, `\\sup_y`): with a subscript, an
unknown function of their operand."""

FUNCTION_COMMANDS = frozenset({"\\sin", "\\cos", "\\tan", "\\cot", "\\sec", "\\csc",
                                "\\sinh", "\\cosh", "\\tanh", "\\coth", "\\arcsin",
                                "\\arccos", "\\arctan", "\\exp", "\\log", "\\ln",
                                "\\max", "\\min", "\\lg"})


# --------------------------------------------------------------------------- context

EXPLICIT_PRODUCTS = frozenset({"\\cdot", "\\times", "*", "\\odot", "\\ast", "\\bullet"})
"""Multiplication written out (`a \\cdot b`), as opposed to `ab`."""
