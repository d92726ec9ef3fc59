"""What an equation's tokens show about its names, before any parse."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from builder.formula.context import Declarations
from builder.formula.tokens import (
    Refused,
    Token,
    group_end,
    group_start,
    is_relation,
    is_single_name,
    read_tokens,
    script_label,
    top_level,
)
from builder.formula.vocabulary import GREEK, MATRIX_ENVS, TRANSPOSE


@dataclass(frozen=True, slots=True)
class NameEvidence:
    """Names keyed as the compiler keys them (`p`, `H_in`)."""

    applied: frozenset[str] = frozenset()
    """Names applied to arguments (`p(x | C)`, `k(x, x')`)."""
    plain: frozenset[str] = frozenset()
    """Names used as values (`1 - p`)."""
    defined: frozenset[str] = frozenset()
    """Functions the equation defines as `f(x) = …` at a row's start."""
    operators: frozenset[str] = frozenset()
    """Bases written with an expression as subscript (`\\text{H}_{\\log p(x)}`, a Hessian
    of what the subscript says): operators on their subscript, so that `\\text{H}_1` is
    the Hessian of 1, not a name."""


_SUBSCRIPT_OPERATIONS = frozenset({"\\log", "\\ln", "\\exp", "\\int", "\\sum", "\\prod",
                                   "\\frac", "\\nabla", "\\partial", "\\sin", "\\cos"})
"""Commands that make a subscript an expression rather than a label or an index."""


_DECORATIONS = {"\\hat": "hat", "\\bar": "bar", "\\tilde": "tilde", "\\vec": "vec",
                "\\mathcal": "cal", "\\mathscr": "scr", "\\mathfrak": "frak"}
"""Decorations whose name the compiler keys as `p_vec` (`\\vec{p}`, `\\mathcal{L}` as
`L_cal`: a loss applied to `\\theta` is applied to `\\theta + d` too)."""


def _expression_subscript(tokens: Sequence[Token]) -> bool:
    """`{\\log p(x)}`, `{p(x \\vert \\theta)}`, `{\\int p \\, dx}`: a subscript that
    computes something (a function applied, an operation), not `{t-1}` or `{KL}`."""
    for index, token in enumerate(tokens):
        if token.kind == "cmd" and token.value in _SUBSCRIPT_OPERATIONS:
            return True
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if token.kind in ("letter", "word") and following is not None and \
                following.kind == "op" and following.value in "([" and \
                following.pos == token.end:
            return True
    return False


@functools.lru_cache(maxsize=4096)
def name_evidence(tex: str) -> NameEvidence:
    """What one equation's tokens show about its names: how the card reads `p(…)`."""
    try:
        tokens = read_tokens(tex)
    except Refused:
        return NameEvidence()
    applied: set[str] = set()
    plain: set[str] = set()
    defined: set[str] = set()
    operators: set[str] = set()
    index = 0
    while index < len(tokens):
        token = tokens[index]
        is_name = token.kind == "letter" or (token.kind == "cmd" and token.value[1:] in GREEK)
        if token.kind == "word" and token.value.strip().isalpha() and \
                index + 2 < len(tokens) and tokens[index + 1].value == "_" and \
                tokens[index + 2].value == "{":
            try:
                end = group_end(tokens, index + 2)
            except Refused:
                break
            if _expression_subscript(tokens[index + 3:end]):
                operators.add(token.value.strip())
        decoration = _DECORATIONS.get(token.value) if token.kind == "cmd" else None
        if decoration is not None and index + 3 < len(tokens) and \
                tokens[index + 1].value == "{" and tokens[index + 3].value == "}" and \
                tokens[index + 2].kind == "letter":
            key = f"{tokens[index + 2].value}_{decoration}"  # \vec{p}(t): p_vec applied
            after = index + 4
        elif not is_name:
            index += 1
            continue
        else:
            key = token.value.lstrip("\\")
            after = index + 1
        if after + 1 < len(tokens) and tokens[after].value == "_":
            try:
                end = group_end(tokens, after + 1)
            except Refused:
                break
            if _expression_subscript(tokens[after + 2:end]) and key != "E":
                operators.add(key)
            key = f"{key}_{script_label(tokens[after + 1:end + 1])}"
            after = end + 1
        primed = after < len(tokens) and tokens[after].value == "'"
        while after < len(tokens) and tokens[after].value == "'":
            after += 1
        following = tokens[after] if after < len(tokens) else None
        if following is not None and following.kind == "op" and following.value == "(":
            depth = 0
            inner: list[Token] = []
            for position in range(after, len(tokens)):
                current = tokens[position]
                if current.kind == "op" and current.value in "([":
                    depth += 1
                elif current.kind == "op" and current.value in ")]":
                    depth -= 1
                    if depth == 0:
                        break
                if position > after:
                    inner.append(current)
            if any(t.value in (",", ";", "|", "\\mid") for t in top_level(inner)) or \
                    is_single_name(inner):
                applied.add(key)
            previous = tokens[index - 1] if index else None
            closing = after + len(inner) + 1
            if not primed and (previous is None or previous.kind in ("rowsep", "begin") or
                               previous.value == "&") and closing + 1 < len(tokens) and \
                    tokens[closing + 1].value == "=" and _bare_arguments(inner):
                defined.add(key)
        elif following is None or following.value != "^":
            previous = tokens[index - 1] if index else None
            argument = previous is not None and previous.value in ("(", ",") and \
                following is not None and following.value in (")", ",")
            if (previous is None or previous.value not in ("d", "\\partial")) and \
                    not argument:
                plain.add(key)
        index = after if after > index else index + 1
    return NameEvidence(frozenset(applied), frozenset(plain), frozenset(defined),
                        frozenset(operators))


def _bare_arguments(inner: Sequence[Token]) -> bool:
    """`x`, `x, y`, `x; \\theta`, `x_{t-1}`: the arguments of a function being defined.
    A row that applies a function to anything else (`\\sigma(-x) = …`, `f(2) = …`) uses
    it: it does not say what the function is."""
    parts: list[list[Token]] = [[]]
    depth = 0
    for token in inner:
        if token.value in ("(", "[", "{"):
            depth += 1
        elif token.value in (")", "]", "}"):
            depth -= 1
        if depth == 0 and token.value in (",", ";", "|", "\\mid"):
            parts.append([])
        else:
            parts[-1].append(token)
    try:
        return all(is_single_name(part) for part in parts)
    except Refused:
        return False


# --------------------------------------------------------------------------- rows and chains


def transposed_names(tokens: Sequence[Token]) -> set[str]:
    """Upper-case names followed by `^T` (`X^T`, `W^{\\top}`)."""
    names = set()
    for index in range(1, len(tokens) - 1):
        if tokens[index].value != "^":
            continue
        after = tokens[index + 1]
        if after.value == "{" and index + 3 < len(tokens) and tokens[index + 3].value == "}":
            after = tokens[index + 2]
        before = tokens[index - 1]
        if after.value in TRANSPOSE and before.kind == "letter" and before.value.isupper():
            names.add(before.value)
    return names


def _transposable(tokens: Sequence[Token], position: int) -> bool:
    """Can the token at `position` end something transposed? Not the `{…}` of a sum's
    bounds (`\\sum_{t=1}^T`)."""
    token = tokens[position]
    if token.kind == "letter" or (token.kind == "cmd" and token.value[1:] in GREEK) or \
            token.value in (")", "]", "\\}"):
        return True
    if token.value != "}":
        return False
    opening = group_start(tokens, position)
    if opening is None:
        return False
    before = tokens[opening - 1] if opening else None
    owner = tokens[opening - 2] if opening > 1 else None
    return not (before is not None and before.value == "_" and owner is not None
                and owner.value in ("\\sum", "\\prod", "\\int", "\\Sigma"))


def is_matrix_equation(tokens: Sequence[Token], declarations: Declarations) -> bool:
    """Matrices in play: a transpose (other than `w^T x`), `\\det`, a name declared a
    matrix, or one the card transposes elsewhere."""
    for index, token in enumerate(tokens):
        if token.kind == "cmd" and token.value == "\\det":
            return True
        if token.kind == "letter" and token.value.isupper() and index + 2 < len(tokens) \
                and tokens[index + 1].value == "=" and tokens[index + 2].kind == "begin" \
                and tokens[index + 2].value in MATRIX_ENVS:
            return True  # A = \begin{bmatrix}…: A is a matrix
        if token.bold and ((token.kind == "letter" and token.value.isupper()) or (
                token.kind == "cmd" and token.value[1:2].isupper() and
                token.value[1:] in GREEK)):
            return True  # \mathbf{W}, \boldsymbol{\Sigma}: a matrix
        if token.kind == "letter" and (token.value in declarations.matrices or
                                       token.value in declarations.transposed):
            return True
        if token.kind == "cmd" and token.value[1:] in declarations.matrices:
            return True
        if token.value != "^" or index + 1 >= len(tokens):
            continue
        after = tokens[index + 1]
        if after.value == "{" and index + 3 < len(tokens) and tokens[index + 3].value == "}":
            after = tokens[index + 2]
        if after.value not in TRANSPOSE:
            continue
        before = tokens[index - 1] if index else None
        if before is None or not _transposable(tokens, index - 1):
            continue
        following = tokens[index + (4 if tokens[index + 1].value == "{" else 2)] \
            if index + (4 if tokens[index + 1].value == "{" else 2) < len(tokens) else None
        inner_product = before is not None and before.kind == "letter" and \
            before.value.islower() and following is not None and \
            following.kind == "letter" and following.value.islower()
        if not inner_product:
            return True
    return False


def step_letters(tokens: Sequence[Token]) -> frozenset[str]:
    """Letters of superscripts such as `z^{t-1}` on a name: time steps."""
    letters: set[str] = set()
    for index in range(1, len(tokens) - 2):
        before, caret = tokens[index - 1], tokens[index]
        if caret.kind != "op" or caret.value != "^" or tokens[index + 1].value != "{":
            continue
        if not ((before.kind == "letter" and before.value != "e") or
                (before.kind == "cmd" and before.value[1:] in GREEK) or
                (before.value == "}" and _transposable(tokens, index - 1))):
            continue  # not a name's superscript: (1-p)^{1-x}, e^{x-1}, \sum_{i=1}^{n-1}
        try:
            end = group_end(tokens, index + 1)
        except Refused:
            break
        inner = tokens[index + 2:end]
        if len(inner) == 3 and inner[0].kind == "letter" and inner[1].kind == "op" and \
                inner[1].value in "+-" and inner[2].kind == "num":
            letters.add(inner[0].value)  # z^{t-1}, not N^{-\alpha_N}
    return frozenset(letters)


def sigma_names(tokens: Sequence[Token]) -> frozenset[str]:
    """Subscript labels of the `\\Sigma_x` an equation writes bold, or with nothing after
    it that a sum could sum (a closing bracket, a comma, a relation, the end): names."""
    found: set[str] = set()
    for index, token in enumerate(tokens):
        if token.kind != "cmd" or token.value != "\\Sigma" or index + 2 >= len(tokens) or \
                tokens[index + 1].value != "_":
            continue
        try:
            end = group_end(tokens, index + 2)
        except Refused:
            continue
        following = tokens[end + 1] if end + 1 < len(tokens) else None
        if token.bold or following is None or following.value in (")", "]", ",", "&") or \
                following.kind in ("rowsep", "space") or is_relation(following):
            found.add(script_label(tokens[index + 2:end + 1]))
    return frozenset(found)
