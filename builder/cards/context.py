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
from collections.abc import Mapping, Sequence
from functools import lru_cache

from builder.model import Equation

__all__ = ["context_of", "defined_heads", "definition_index"]

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


_LOOSE_DECORATION = re.compile(rf"({_DECORATED})\s*(\\[A-Za-z]+|[A-Za-z])(?![A-Za-z])")
_SPACED_PUNCTUATION = re.compile(r"\s*([_^{}()=,&])\s*")
_BRACED_SCRIPT = re.compile(r"([_^])\{(\\[A-Za-z]+|[A-Za-z0-9])\}")
_COMMAND = re.compile(r"\\[A-Za-z]+")


@lru_cache(maxsize=1 << 15)
def _squeezed(tex: str) -> str:
    """The TeX with the spellings of one name made one: `\\bar\\alpha` as `\\bar{\\alpha}`,
    `x_{t}` as `x_t`, no spaces around scripts, braces and brackets. (Kept per text: a
    sheet's blocks are read here once for the index, and again for each card.)"""
    text = " ".join(tex.split())
    text = _LOOSE_DECORATION.sub(lambda found: f"{found[1]}{{{found[2]}}}", text)
    text = _SPACED_PUNCTUATION.sub(lambda found: found[1], text)
    return _BRACED_SCRIPT.sub(lambda found: found[1] + found[2], text)


@lru_cache(maxsize=1 << 15)
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
        command = _COMMAND.match(name)
        if command is not None and command.group() in _NOT_NAMES:
            continue
        heads.append(name)
    return tuple(dict.fromkeys(heads))


def definition_index(math: Sequence[Equation]) -> dict[str, list[Equation]]:
    """Every math block of a sheet (in document order) under each name it defines
    (`defined_heads`), each list in document order."""
    index: dict[str, list[Equation]] = {}
    for block in math:
        for head in defined_heads(block.tex):
            index.setdefault(head, []).append(block)
    return index


def context_of(equations: Sequence[Equation], index: Mapping[str, list[Equation]]
               ) -> tuple[Equation, ...]:
    """The blocks a card of these `equations` may use (`index`: `definition_index` of
    its sheet): for each name the card writes, the latest block before the card's last
    equation that defines it, not one of the card's own. In document order."""
    if not equations or not index:
        return ()
    own = {id(equation) for equation in equations}
    last = max(equation.loc.line for equation in equations)
    # what the card's first equation defines, it defines for all its steps
    shadowed = set(defined_heads(equations[0].tex))
    found: dict[int, Equation] = {}
    # (names in sorted order, not a set's: two definitions on one line must come in the
    # same order in every process, for the context is part of the card's cache key)
    for name in sorted(_written(equations) - shadowed):
        for block in reversed(index.get(name, ())):
            if block.loc.line < last and id(block) not in own:
                found[id(block)] = block
                break
    return tuple(sorted(found.values(), key=lambda block: block.loc.line))


_NAME = re.compile(rf"{_DECORATED}\{{[^{{}}]*\}}|\\[A-Za-z]+|[A-Za-z]")
_SCRIPT = re.compile(r"_(?:\{[^{}]*\}|\\[A-Za-z]+|[A-Za-z0-9])|\^(?:\{[^{}]*\}|[A-Za-z0-9])|'")


def _written(equations: Sequence[Equation]) -> set[str]:
    """Every name the equations write, as `defined_heads` spells them, with each run of
    its scripts (`\\alpha`, `\\alpha_t`, `\\alpha_t^2` from `\\alpha_t^2`)."""
    return set().union(*(_written_in(equation.tex) for equation in equations))


@lru_cache(maxsize=1 << 15)
def _written_in(tex: str) -> frozenset[str]:
    names: set[str] = set()
    text = _squeezed(tex)
    for match in _NAME.finditer(text):
        name = match.group()
        names.add(name)
        position = match.end()
        while (script := _SCRIPT.match(text, position)) is not None:
            name += script.group()
            names.add(name)
            position = script.end()
    return frozenset(names)
