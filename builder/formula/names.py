"""LaTeX → Python names: the one rule by which a symbol in the notes is named in Python.

`\\sigma` and `σ` → `sigma`, `H_{in}` → `H_in`, `\\hat{y}` and `\\hat y` → `y_hat`, `\\Delta x` →
`Delta_x`, `x'` → `x_prime`, `\\mathrm{TP}` → `TP`. The name is what the compiler gives
the symbol inside an equation, because it is found the same way: the fragment is read
by the equation parser. `assume:`, `let:` and messages name symbols with it, so that a
declaration always reaches the symbol the equation has.
"""

from __future__ import annotations

import functools
import re

from builder.formula.context import Declarations, ParseContext
from builder.formula.parser import Parser
from builder.formula.tokens import Refused, read_tokens


@functools.lru_cache(maxsize=1024)
def python_name(tex: str) -> str:
    """The Python name of the one symbol `tex` writes, in LaTeX or already in Python
    (`H_in`, `y_hat`: returned as they are). A fragment that is not one symbol (`x + y`,
    `\\pi`) comes back stripped and unchanged, which is not a Python identifier: callers
    tell names from the rest with `str.isidentifier`."""
    text = tex.strip()
    if text.isidentifier() and text.isascii():  # `α` is an identifier too, but `alpha`
        return text
    import sympy

    try:
        tokens = read_tokens(text)
        with sympy.evaluate(False):
            expr = Parser(tokens, ParseContext(Declarations())).whole()
    except (Refused, RecursionError, TypeError, ValueError, AttributeError):
        return text
    if isinstance(expr, sympy.Symbol) and expr.name.isidentifier():
        return str(expr.name)
    return text


def latex_name(name: str) -> str:
    """A Python name as `assume:` reads it back (`eta` → `\\eta`, `alpha_bar_t` →
    `\\bar{\\alpha}_t`, `p_theta` → `p_{\\theta}`, `pi` → `\\pi`); the name itself when
    that spelling does not read back as it."""
    base, _, script = name.partition("_")
    letter = f"\\{base}" if base in _GREEK else base
    accent = re.match(r"(bar|hat|tilde)(?:_|$)", script)
    if accent:
        letter = f"\\{accent.group(1)}{{{letter}}}"
        script = script[accent.end():]
    if script in _GREEK:
        script = f"\\{script}"
    written = f"{letter}_{{{script}}}" if len(script) > 1 else \
        f"{letter}_{script}" if script else letter
    if python_name(written) == name or (written == f"\\{name}" and name == "pi"):
        return written  # (`\\pi` alone reads as the number; `\\pi_k` is a vector's entry)
    return name


_GREEK = frozenset(("alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta",
                    "theta", "vartheta", "iota", "kappa", "lambda", "mu", "nu", "xi", "pi",
                    "varpi", "rho", "varrho", "sigma", "varsigma", "tau", "upsilon", "phi",
                    "varphi", "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi",
                    "Pi", "Sigma", "Upsilon", "Phi", "Psi", "Omega"))
"""Greek letters by name: written with a backslash (`\\eta`, `p_{\\theta}`)."""
