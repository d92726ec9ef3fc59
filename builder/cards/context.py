"""A card's document context: the math earlier in its sheet that may define a name the
card uses (`Let $\\alpha_t = 1 - \\beta_t$.` in a paragraph above, `$$z = Wx + b$$` in
an earlier card), so that a later step that holds only given such a definition can be
checked with it (builder/check/context.py decides what each one defines, and uses it).

This stage reads text only: for each row of a math block, the name written before its
first `=` (`\\alpha_t`, `\\bar{\\alpha}_t`, `\\sigma(x)`, `H_{out}`); a block is in a
card's context when such a name is written in one of the card's equations and no later
block before the card (re)defines it. The latest definition of a name wins: a name
redefined further down is never read in its old sense.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from builder.model import Equation

__all__ = ["context_of", "defined_heads"]

_DECORATED = r"\\(?:bar|hat|tilde|vec|mathbf|boldsymbol|bm|mathcal|mathrm|text|dot|overline)"
_HEAD = re.compile(
    rf"(?P<name>(?:{_DECORATED}\{{[^{{}}]*\}}|\\[A-Za-z]+|[A-Za-z])"
    r"(?:_(?:\{[^{}]*\}|\\[A-Za-z]+|[A-Za-z0-9])|\^(?:\{[^{}]*\}|[A-Za-z0-9])|')*)"
    r"(?:\([^()]*\))?")
_NOT_NAMES = frozenset({
    "\\log", "\\ln", "\\exp", "\\sin", "\\cos", "\\tan", "\\sinh", "\\cosh", "\\tanh",
    "\\max", "\\min", "\\det", "\\sum", "\\prod", "\\int", "\\lim", "\\frac", "\\sqrt",
    "\\left", "\\mathbb", "\\operatorname", "\\partial", "\\nabla", "\\Pr", "\\arg",
    "\\displaystyle", "\\textstyle", "\\quad", "\\qquad", "\\label", "\\tag"})
"""Commands that start a row without naming a quantity (`\\log(x) = …` uses `\\log`)."""
_ROW_BREAK = re.compile(r"\\\\|\\begin\{[^}]*\}|\\end\{[^}]*\}|\\quad|\\qquad|,\s*\\text")


def _squeezed(tex: str) -> str:
    """The TeX with the spellings of one name made one: `\\bar\\alpha` as `\\bar{\\alpha}`,
    `x_{t}` as `x_t`, no spaces around scripts, braces and brackets."""
    text = " ".join(tex.split())
    text = re.sub(rf"({_DECORATED})\s*(\\[A-Za-z]+|[A-Za-z])(?![A-Za-z])", r"\1{\2}", text)
    text = re.sub(r"\s*([_^{}()=,&])\s*", r"\1", text)
    return re.sub(r"([_^])\{(\\[A-Za-z]+|[A-Za-z0-9])\}", r"\1\2", text)


def defined_heads(tex: str) -> tuple[str, ...]:
    """The names (squeezed TeX, without arguments: `\\sigma` of `\\sigma(x) = …`) that
    the rows of `tex` start by setting equal to something."""
    heads: list[str] = []
    for row in _ROW_BREAK.split(tex):
        row = _squeezed(row).lstrip("&").strip()
        left, equals, _ = row.partition("=")
        if not equals or not left or left.endswith(("<", ">", "!", ":", "\\")):
            continue
        match = _HEAD.fullmatch(left.rstrip("&").strip())
        if match is None:
            continue
        name = match.group("name")
        command = re.match(r"\\[A-Za-z]+", name)
        if command is not None and command.group() in _NOT_NAMES:
            continue
        heads.append(name)
    return tuple(dict.fromkeys(heads))


def context_of(equations: Sequence[Equation], math: Sequence[tuple[Equation, tuple[str, ...]]]
               ) -> tuple[Equation, ...]:
    """The blocks of `math` (every math block of the sheet with its `defined_heads`, in
    document order) that a card of these `equations` may use: each before the card's
    last equation, not one of the card's own, the latest to set a name the card writes.
    In document order."""
    if not equations:
        return ()
    own = {id(equation) for equation in equations}
    last = max(equation.loc.line for equation in equations)
    written = "\n".join(_squeezed(equation.tex) for equation in equations)
    seen: set[str] = set()
    found: list[Equation] = []
    for block, heads in reversed(math):
        if block.loc.line >= last or id(block) in own or not heads:
            continue
        fresh = [head for head in heads if head not in seen and _writes(written, head)]
        seen.update(heads)
        if fresh:
            found.append(block)
    return tuple(sorted(found, key=lambda block: block.loc.line))


def _writes(text: str, name: str) -> bool:
    """Does `text` write the name (`\\alpha_t` in `\\sqrt{\\alpha_t}`, not in
    `\\alpha_{t-1}` nor `\\alphabet`)?"""
    before = r"(?<![A-Za-z\\])" if name[0].isalpha() else ""
    return re.search(before + re.escape(name) + r"(?![A-Za-z0-9_{])", text) is not None
