"""A matrix written with an ellipsis: `\\begin{bmatrix} x_{11} & \\cdots & x_{1n} \\\\
\\vdots & \\ddots & \\vdots \\\\ x_{m1} & \\cdots & x_{mn} \\end{bmatrix}` is the m×n
matrix whose element (i, j) is x_{ij}; `\\begin{bmatrix} v_1 \\\\ \\vdots \\\\ v_n
\\end{bmatrix}` is the vector of the v_i.

The written cells say what the dots stand for only when they all follow one pattern:
the last cell (`x_{mn}`) with its row letter (`m`) and its column letter (`n`) replaced
by each written cell's row and column numbers (`x_{12}` in row 1, column 2). This
module finds that pattern from the tokens alone; the reader reads its element."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from builder.formula.tokens import Refused, Token

ELLIPSIS = "matrix with an ellipsis (…)"
DUMMIES = "ijklpqrsuv"
"""Letters for the element's row and column: the first two the cells do not use."""


@dataclass(frozen=True, slots=True)
class Axis:
    """How one direction (rows or columns) of the matrix runs: from `first` (the number
    of the first written row, 0 or 1) to the letter `last` (`m` of `x_{mn}`)."""

    first: int
    last: str
    dummy: str
    """The letter that stands for the running number in `element`."""


@dataclass(frozen=True, slots=True)
class Pattern:
    """The element of a matrix written with an ellipsis."""

    element: list[Token]
    """The last cell's tokens, its running letters replaced by the dummies."""
    rows: Axis | None
    """None where no row runs (a row vector, `[x_1 \\cdots x_n]`); `columns` is None
    for a column vector."""
    columns: Axis | None


def _dotted(cell: Sequence[Token]) -> bool:
    return len(cell) == 1 and cell[0].kind == "dots"


def _spelled(cell: Sequence[Token]) -> list[tuple[str, str, int]]:
    """(kind, value, token number) per character of a number, per token otherwise: so
    that `x_{11}` lines up with `x_{mn}` character for character."""
    out: list[tuple[str, str, int]] = []
    for number, token in enumerate(cell):
        if token.kind == "space":
            continue
        if token.kind == "num" and token.value.isdigit():
            out.extend(("num", digit, number) for digit in token.value)
        else:
            out.append((token.kind, token.value, number))
    return out


def _runs(rows: Sequence[Sequence[Sequence[Token]]], across: bool) -> tuple[int, ...] | None:
    """The written lines (rows, or columns when `across`) in order, when the dots stand
    in the one line before the last (`\\vdots` rows, `\\cdots` columns); None when no
    line is dots; refused when the dots are elsewhere."""
    count = len(rows[0]) if across else len(rows)
    lines = [[row[number] for row in rows] if across else list(rows[number])
             for number in range(count)]
    dotted = [number for number, line in enumerate(lines)
              if all(_dotted(cell) or not cell for cell in line)]
    if not dotted:
        return None
    if dotted != [count - 2] or count < 3:
        raise Refused(ELLIPSIS)
    return tuple(number for number in range(count) if number != count - 2)


def element_pattern(rows: Sequence[Sequence[Sequence[Token]]]) -> Pattern:
    """The pattern of a matrix's cells (rows of cells of tokens), or Refused when the
    written cells do not follow one (`\\mathrm{diag}(\\sigma_1, \\dots)` inside, blank
    cells of a diagonal, dots anywhere but before the last row or column)."""
    if not rows or len({len(row) for row in rows}) != 1:
        raise Refused(ELLIPSIS)
    row_lines = _runs(rows, across=False) or tuple(range(len(rows)))
    column_lines = _runs(rows, across=True) or tuple(range(len(rows[0])))
    running_rows = len(row_lines) < len(rows)
    running_columns = len(column_lines) < len(rows[0])
    if (running_rows and len(column_lines) > 1 and not running_columns) or \
            (running_columns and len(row_lines) > 1 and not running_rows):
        raise Refused(ELLIPSIS)  # a fixed number of columns beside running rows
    for number, row in enumerate(rows):  # the dots cells only where lines are dots
        for column, cell in enumerate(row):
            shown = number in row_lines and column in column_lines
            if shown == (not cell or _dotted(cell)):
                raise Refused(ELLIPSIS)
    last = _spelled(rows[row_lines[-1]][column_lines[-1]])
    used = {token.value for row in rows for cell in row for token in cell
            if token.kind == "letter"}
    dummies = [letter for letter in DUMMIES if letter not in used]
    if len(dummies) < 2:
        raise Refused(ELLIPSIS)
    row_axis, row_places = _axis(last, rows[row_lines[0]][column_lines[-1]], dummies[0]) \
        if running_rows else (None, set())
    column_axis, column_places = _axis(last, rows[row_lines[-1]][column_lines[0]],
                                       dummies[1]) if running_columns else (None, set())
    if row_places & column_places:
        raise Refused(ELLIPSIS)
    for place, row_number in enumerate(row_lines):
        row_value = str(row_axis.first + place) if row_axis and place < len(row_lines) - 1 \
            else None
        for column_place, column_number in enumerate(column_lines):
            column_value = str(column_axis.first + column_place) \
                if column_axis and column_place < len(column_lines) - 1 else None
            expected = [(kind, value) for kind, value, _ in last]
            for index in range(len(last)):
                if row_value is not None and index in row_places:
                    expected[index] = ("num", row_value)
                if column_value is not None and index in column_places:
                    expected[index] = ("num", column_value)
            cell_seen = [(kind, value) for kind, value, _ in
                         _spelled(rows[row_number][column_number])]
            if cell_seen != expected:
                raise Refused(ELLIPSIS)
    cell = rows[row_lines[-1]][column_lines[-1]]
    replaced = {last[index][2]: axis.dummy for axis, places in
                ((row_axis, row_places), (column_axis, column_places)) if axis
                for index in places}
    element = [Token("letter", replaced[number], token.pos, token.end)
               if number in replaced else token for number, token in enumerate(cell)]
    return Pattern(element, row_axis, column_axis)


def _axis(last: list[tuple[str, str, int]], first: Sequence[Token],
          dummy: str) -> tuple[Axis, set[int]]:
    """How a direction runs, from the last cell and the first cell along it (`x_{1n}`
    against `x_{mn}`): the places where they differ hold the running letter in the last
    cell and the first number (0 or 1) in the first."""
    written = _spelled(first)
    if len(written) != len(last):
        raise Refused(ELLIPSIS)
    places = {index for index, (mine, theirs) in enumerate(zip(last, written, strict=True))
              if mine[:2] != theirs[:2]}
    letters = {last[index][1] for index in places}
    numbers = {written[index][1] for index in places}
    if not places or len(letters) != 1 or len(numbers) != 1 or \
            any(last[index][0] != "letter" or written[index][0] != "num"
                for index in places) or numbers - {"0", "1"}:
        raise Refused(ELLIPSIS)
    return Axis(int(numbers.pop()), letters.pop(), dummy), places
