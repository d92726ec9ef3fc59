"""`(a, b)`: a pair, an interval, or the inner product of linear-algebra texts?

Read alone, a bracketed pair says nothing of what it is (`\\mathbf{x} = (x_1, x_2)`, a
vector by its components; `(0, 1)`, an interval; `(\\theta, \\phi) \\leftarrow …`, two
updates), so it is refused. A relation chain shows it is a number, hence the inner
product `(u, v) = u^T v`, when the chain sets it equal to the sum of products of its own
entries' elements (`(x, y) = \\sum_{i=1}^N x_i y_i`, the definition), or, in an equation
of matrices, orders it (`(Av_i, Av_i) \\geq 0`) or sets it equal to a number or to
Kronecker's delta (`(v_i, v_j) = \\delta_{ij}`, `(u_i, Av_j) = 0`): no pair of vectors is
any of these."""

from __future__ import annotations

from builder.formula.tokens import Token, group_start, top_level
from builder.formula.vocabulary import GREEK

__all__ = ["pairs_are_inner_products"]

_ORDERS = frozenset({"\\le", "\\ge", "<", ">"})


def _pairs(side: list[Token]) -> list[list[Token]]:
    """The top-level `(a, b)` of a side that are not a function's arguments."""
    found: list[list[Token]] = []
    depth = 0
    start = 0
    for index, token in enumerate(side):
        if token.kind == "op" and token.value in "([":
            if depth == 0:
                start = index
            depth += 1
        elif token.kind == "op" and token.value in ")]":
            depth -= 1
            if depth == 0 and token.value == ")" and side[start].value == "(":
                applied = start > 0 and _names_before(side, start - 1)
                inner = side[start + 1:index]
                commas = [t for t in top_level(inner) if t.kind == "op" and t.value == ","]
                if not applied and len(commas) == 1:
                    found.append(inner)
    return found


def _names_before(side: list[Token], position: int) -> bool:
    """Does the token at `position` end a name (`f`, `\\phi`, `f_{k}`, `\\text{KL}`), so
    that a `(` after it holds arguments? A `}` ends a name when it closes a script;
    closing `\\frac{1}{2}` or `\\sqrt{…}`, it ends a factor."""
    token = side[position]
    if token.kind in ("letter", "word") or (token.kind == "cmd" and token.value[1:] in GREEK):
        return True
    if token.kind == "cmd" and token.value in ("\\right", "\\left"):
        return False
    if token.kind == "op" and token.value == "}":
        opening = group_start(side, position)
        if opening is not None:
            return opening > 0 and side[opening - 1].value in ("_", "^")
    return token.kind == "op" and token.value == "'"


def _scalar_side(side: list[Token]) -> bool:
    """A number, or a product holding Kronecker's delta (`\\sqrt{\\xi_j} \\delta_{ij}`)."""
    if len(side) == 1 and side[0].kind == "num":
        return True
    return any(token.kind == "cmd" and token.value == "\\delta" and index + 1 < len(side)
               and side[index + 1].value == "_" for index, token in enumerate(side))


def _sum_of_entries(pair: list[Token], side: list[Token]) -> bool:
    """`(x, y)` beside `\\sum_{i=1}^N x_i y_i`: a sum of the two entries' elements."""
    entries = [[t for t in part if t.kind != "space"] for part in _split(pair)]
    if not side or side[0].value != "\\sum" or any(
            len(entry) != 1 or entry[0].kind != "letter" for entry in entries):
        return False
    names = {entry[0].value for entry in entries}
    subscripted = {token.value for index, token in enumerate(side[:-1])
                   if token.kind == "letter" and side[index + 1].value == "_"}
    return names <= subscripted


def _split(pair: list[Token]) -> list[list[Token]]:
    depth = 0
    parts: list[list[Token]] = [[]]
    for token in pair:
        if token.kind == "op" and token.value in "([{":
            depth += 1
        elif token.kind == "op" and token.value in ")]}":
            depth -= 1
        if depth == 0 and token.kind == "op" and token.value == ",":
            parts.append([])
        else:
            parts[-1].append(token)
    return parts


def pairs_are_inner_products(sides: list[list[Token]], relations: list[str],
                             matrices: bool) -> bool:
    """Whether the chain's bracketed pairs are inner products (see the module's text)."""
    pairs = [(number, pair) for number, side in enumerate(sides) for pair in _pairs(side)]
    if not pairs or any(not part or any(t.kind == "dots" for t in part)
                        for _, pair in pairs for part in _split(pair)):
        return False
    if any(relation not in ("=", *_ORDERS) for relation in relations):
        return False
    others = [side for number, side in enumerate(sides)
              if not any(place == number for place, _ in pairs)]
    if any(_sum_of_entries(pair, side) for _, pair in pairs for side in others):
        return True
    if not matrices:
        return False
    return any(relation in _ORDERS for relation in relations) or \
        any(_scalar_side(side) for side in others)
