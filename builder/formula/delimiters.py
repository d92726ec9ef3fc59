"""Unbalanced delimiters that MathJax typesets without complaint: a `)`, `]` or `\\}`
one too many or too few, a `\\left` without its `\\right`. The formula then reads as
written, a typo the reader sees and nothing reports, and the row it is on cannot be
trusted to say what was meant: `sheets build` and `sheets check` warn at the row's own
line, and the checker leaves the row's steps unchecked (builder/check/plan.py).

Works on tokens alone (no sympy), so that `sheets build` can call it cheaply.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from builder.formula.tokens import Refused, Token, group_end, plain_tex, tokenize
from builder.model import Card, Diagnostic, Equation, SourceLoc

__all__ = ["brace_error_offset", "delimiter_problems", "delimiter_warnings"]

_OPENING = {"(": ")", "[": "]"}
_CLOSING = frozenset(_OPENING.values())
_TEXT = frozenset({"\\text", "\\mathrm", "\\operatorname", "\\textrm", "\\textbf",
                   "\\textit", "\\texttt", "\\mathsf", "\\mathtt", "\\textsf", "\\mbox"})
"""Commands whose group is words, where a `(` is prose (`\\text{(see 1)}`)."""


@dataclass(slots=True)
class _Open:
    """A delimiter still open: `(`, `[`, `\\{`, or `\\left` with its delimiter."""

    value: str
    line: int
    comma: bool = False
    """A comma directly inside: `[0, 1)` is a half-open interval, not a typo."""


def delimiter_problems(equation: Equation) -> tuple[Diagnostic, ...]:
    """A warning per unbalanced delimiter of the equation, at the line of the row it is
    on: a closing one with nothing open to close (`\\mathbb{E}[(X-\\mathbb{E}[X])^2)]`),
    an opening one never closed, a `\\left` without `\\right` or the reverse. `(` and
    `[` close each other's group when it holds a comma (`[0, 1)`, `(a, b]`); a `(` may
    close on a later row (`( a + b \\\\ + c )`)."""
    tex = plain_tex(equation.tex)
    tokens = tokenize(equation.tex)

    def line_of(token: Token) -> int:
        return equation.loc.line + tex.count("\n", 0, token.pos)

    found: list[tuple[int, str]] = []
    stack: list[_Open] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        value = token.value
        index += 1
        if token.kind == "cmd" and value in _TEXT and index < len(tokens) \
                and tokens[index].value == "{":
            try:
                index = group_end(tokens, index) + 1
            except Refused:  # unbalanced braces: the compiler says so
                return ()
            continue
        if token.kind == "cmd" and value in ("\\left", "\\right"):
            delimiter = tokens[index].value if index < len(tokens) else ""
            index += 1
            if value == "\\left":
                stack.append(_Open(f"\\left{delimiter}", line_of(token)))
                continue
            lefts = [number for number, item in enumerate(stack)
                     if item.value.startswith("\\left")]
            if not lefts:
                found.append((line_of(token), f"'\\right{delimiter}' without '\\left'"))
                continue
            for item in stack[lefts[-1] + 1:]:
                found.append((item.line, _not_closed(item.value)))
            del stack[lefts[-1]:]
        elif (token.kind == "op" and value in _OPENING) or \
                (token.kind == "cmd" and value == "\\{"):
            stack.append(_Open(value, line_of(token)))
        elif token.kind == "op" and value == ",":
            if stack:
                stack[-1].comma = True
        elif token.kind == "op" and value in _CLOSING:
            top = stack[-1] if stack else None
            if top is not None and top.value in _OPENING and (
                    _OPENING[top.value] == value or top.comma):
                stack.pop()
            else:
                found.append((line_of(token), f"one '{value}' too many"))
        elif token.kind == "cmd" and value == "\\}":
            if stack and stack[-1].value == "\\{":
                stack.pop()
            else:
                found.append((line_of(token), "one '\\}' too many"))
    found.extend((item.line, _not_closed(item.value)) for item in stack)
    return tuple(Diagnostic(SourceLoc(equation.loc.path, line),
                            f"unbalanced delimiters: {message} (typeset as written; "
                            f"the row is not checked)")
                 for line, message in sorted(found, key=lambda item: item[0]))


def _not_closed(value: str) -> str:
    if value.startswith("\\left"):
        return f"'{value}' without '\\right'"
    return f"'{value}' never closed"


def delimiter_warnings(cards: Iterable[Card]) -> list[Diagnostic]:
    """`delimiter_problems` of every display equation of the cards, in order."""
    return [problem for card in cards for equation in card.equations
            for problem in delimiter_problems(equation)]


def brace_error_offset(tex: str) -> int:
    """How many lines into `tex` the brace is that unbalances it: the first `}` that
    closes nothing, else the last `{` never closed (0 when they balance). `sheets check`
    and `sheets build` both put "unbalanced braces" there: at the row of an `aligned`
    block that has it, not at the opening `$$`."""
    text = plain_tex(tex)
    opened: list[Token] = []
    for token in tokenize(tex):
        if token.kind != "op" or token.value not in "{}":
            continue
        if token.value == "{":
            opened.append(token)
        elif opened:
            opened.pop()
        else:
            return text.count("\n", 0, token.pos)
    return text.count("\n", 0, opened[-1].pos) if opened else 0
