"""An equation's tokens → rows → statements → relation chains of sides."""

from __future__ import annotations

import re
from dataclasses import dataclass

from builder.formula.tokens import (
    Refused,
    Token,
    depth_map,
    group_end,
    is_break,
    is_relation,
    top_level,
)
from builder.formula.vocabulary import ALIGN_ENVS, EXPLICIT_PRODUCTS, GREEK, PROSE, RELATIONS


@dataclass(slots=True)
class RawChain:
    sides: list[list[Token]]
    relations: list[str]


def _rows(tokens: list[Token]) -> list[list[Token]]:
    """Top-level rows: `\\\\` outside nested environments, with align-like environments
    dissolved into their rows."""
    rows: list[list[Token]] = [[]]
    depth = 0  # inside cases/matrix/array: their rows are theirs
    brace = 0
    for token in tokens:
        if token.kind == "begin":
            if token.value in ALIGN_ENVS and depth == 0:
                rows.append([])
                continue
            depth += 1
        elif token.kind == "end":
            if token.value in ALIGN_ENVS and depth == 0:
                rows.append([])
                continue
            depth -= 1
        elif token.kind == "op" and token.value == "{":
            brace += 1
        elif token.kind == "op" and token.value == "}":
            brace -= 1
        if token.kind == "rowsep" and depth == 0 and brace == 0:
            rows.append([])
            continue
        rows[-1].append(token)
    return [row for row in rows if row]








def _cells(row: list[Token]) -> list[Token]:
    """Drop the `&` columns before the one that holds the left side (labels such as
    `正解率&& accuracy(X) &= …`), then the `&` themselves."""
    depths = depth_map(row)
    cells: list[list[Token]] = [[]]
    for token, depth in zip(row, depths, strict=True):
        if token.kind == "op" and token.value == "&" and depth == 0:
            cells.append([])
        else:
            cells[-1].append(token)
    if len(cells) == 1:
        return cells[0]
    first_relation = next((number for number, cell in enumerate(cells)
                           if any(is_relation(t) for t in top_level(cell))), None)
    if first_relation is None:
        return [token for cell in cells for token in cell]
    relation_cell = cells[first_relation]
    top = top_level(relation_cell)
    if top and is_relation(top[0]) and relation_cell[0] is top[0]:
        lhs = next((number for number in range(first_relation - 1, -1, -1) if cells[number]),
                   None)
        start = lhs if lhs is not None else first_relation
    else:
        start = first_relation
    kept = cells[start:]
    if start > 0 and not any(cells[:start]):
        kept = cells
    return [token for cell in kept for token in cell]


def _is_prose(token: Token) -> bool:
    if token.kind == "text":
        return True
    if token.kind == "word":
        text = token.value.strip().replace("\\_", "_")
        return not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", text) or text in PROSE
    return False


def _is_annotation(piece: list[Token]) -> bool:
    """`(i = 1, …, n)`, `(1)`, `(\\because …)`, `\\text{where } …`: not part of the
    formula."""
    if not piece:
        return True
    if _is_prose(piece[0]) and piece[0].value.strip().endswith((":", "：")) and \
            any(is_relation(t) for t in top_level(piece)):
        return False  # `\text{SVD: } A = U \Sigma V^\top`: a label, then the formula
    if _named_in_words(piece):
        return False  # `\\text{output image size} = …`: a quantity named in words
    if _is_prose(piece[0]) or piece[0].value in ("\\because", "\\therefore", "\\forall"):
        return True  # `\\quad \\forall z \\in \\mathbb{R}^n`: for which values, not a claim
    if _is_range(piece):
        return True
    if piece[0].value == "(" and piece[-1].value == ")":
        depth = 0
        for position, token in enumerate(piece):
            if token.value == "(":
                depth += 1
            elif token.value == ")":
                depth -= 1
                if depth == 0 and position != len(piece) - 1:
                    return False
        inner = piece[1:-1]
        if len(inner) == 1 and inner[0].kind in ("num", "letter"):
            return True
        return any(is_relation(t) or _is_prose(t) or t.kind == "dots" or
                   t.value in ("\\because", "\\therefore") for t in inner)
    return False


def _is_range(piece: list[Token]) -> bool:
    """`\\ell = 1, \\ldots, L-1`, `i = 1, 2, \\dots, n`: the values an index runs
    through, said beside a formula; not an equation."""
    top = top_level(piece)
    if len(top) < 3 or top[1].value != "=" or not (
            top[0].kind == "letter" or (top[0].kind == "cmd" and top[0].value[1:] in GREEK)):
        return False
    values = top[2:]
    commas = [t for t in values if t.kind == "op" and t.value == ","]
    return len(commas) >= 2 and any(t.kind == "dots" for t in values) and \
        not any(is_relation(t) for t in values)


def _named_in_words(piece: list[Token]) -> bool:
    """`\\text{output image size} = …`, `\\text{総コスト} \\propto …`: words right before
    a relation are the left side's name (not a label, which ends in a colon, nor `where`)."""
    if len(piece) < 3 or not _is_prose(piece[0]) or not is_relation(piece[1]):
        return False
    words = piece[0].value.strip()
    return bool(words) and words not in PROSE and not words.endswith((":", "："))


def _strip_prose(piece: list[Token]) -> list[Token]:
    """Prose labels at the ends of a piece (`\\text{状態価値関数：}V(s) = …`)."""
    if _named_in_words(piece):
        return piece
    while piece and _is_prose(piece[0]):
        piece = piece[1:]
    while piece and (_is_prose(piece[-1]) or (piece[-1].kind == "op" and piece[-1].value in
                                              ".,;?")):
        piece = piece[:-1]
    return piece


def _ends_open(piece: list[Token]) -> bool:
    last = piece[-1]
    return is_relation(last) or (last.kind == "op" and last.value in "+-*/,") or (
        last.kind == "cmd" and last.value in EXPLICIT_PRODUCTS)


def _starts_open(piece: list[Token]) -> bool:
    first = piece[0]
    return is_relation(first) or (first.kind == "op" and first.value in "+*/") or (
        first.kind == "cmd" and first.value in EXPLICIT_PRODUCTS)


def _is_statement(piece: list[Token]) -> bool:
    """`a = b`, `x \\le 1`: a left side, then a top-level relation."""
    if not piece or is_relation(piece[0]):
        return False
    return any(is_relation(token) for token in top_level(piece))


def _statement_commas(row: list[Token]) -> set[int]:
    """Positions of the top-level commas that separate statements (`a = 1, b = 2`,
    `\\hat{m}_t = …, \\quad \\hat{v}_t = …`): a comma whose every part up to the next
    `\\quad` or comma is itself a statement. A list of values (`H(X), H(Y) \\le …`,
    `w = 28, \\frac{1}{28}`) is left whole, to be refused."""
    depths = depth_map(row)
    cuts = [index for index, (token, depth) in enumerate(zip(row, depths, strict=True))
            if depth == 0 and (token.kind == "space" or is_break(token) or
                               (token.kind == "op" and token.value == ","))]
    commas: set[int] = set()
    for number, cut in enumerate(cuts):
        if row[cut].value != ",":
            continue
        start = cuts[number - 1] + 1 if number else 0
        end = next((later for later in cuts[number + 1:] if row[later].kind != "space"),
                   len(row))
        after = [token for token in row[cut + 1:end] if token.kind != "space"]
        if _is_statement(row[start:cut]) and _is_statement(after):
            commas.add(cut)
    return commas


def _pieces(row: list[Token]) -> list[tuple[list[Token], bool]]:
    """A row cut at top-level `\\quad`, arrows and commas between statements into
    statements; (tokens, continues) where `continues` says the piece came after an arrow
    (a new chain)."""
    depths = depth_map(row)
    commas = _statement_commas(row)
    pieces: list[list[Token]] = [[]]
    broken: list[bool] = [False]
    for index, (token, depth) in enumerate(zip(row, depths, strict=True)):
        if index in commas:
            pieces.append([])
            broken.append(True)
            continue
        if depth == 0 and token.kind == "word" and token.value.strip() in PROSE:
            # `a = 1 \\text{ and } b = 2`: two statements; `\\text{ where } …`, `if`,
            # `for`: a condition, which starts an annotation (dropped below)
            pieces.append([] if token.value.strip() == "and" else [token])
            broken.append(False)
            continue
        if depth == 0 and token.value == ";" and index + 1 < len(row) and \
                row[index + 1].value == "\\forall":
            pieces.append([])  # `…; \\forall t \\in \\mathbb{N}`: for which t (dropped)
            broken.append(False)
            continue
        if depth == 0 and (token.kind == "space" or is_break(token)):
            pieces.append([])
            broken.append(is_break(token))
            if token.value in ("\\because", "\\therefore"):
                pieces[-1].append(token)
            if token.value == "\\xrightarrow":
                pieces[-1].append(Token("skipgroup", "", token.pos, token.end))
            continue
        pieces[-1].append(token)
    cleaned: list[list[Token]] = []
    for piece in pieces:
        if piece and piece[0].kind == "skipgroup":
            piece = piece[1:]
            if piece and piece[0].value == "[":  # \xrightarrow[t \to \infty]{}: its label
                closing = next((position for position, (token, depth) in enumerate(
                    zip(piece, depth_map(piece), strict=True))
                    if depth == 0 and token.value == "]"), None)
                piece = piece[closing + 1:] if closing is not None else []
            if piece and piece[0].value == "{":
                try:
                    piece = piece[group_end(piece, 0) + 1:]
                except Refused:
                    piece = []
        cleaned.append(piece)
    merged: list[tuple[list[Token], bool]] = []
    for piece, after_break in zip(cleaned, broken, strict=True):
        if not piece:
            continue
        if merged and merged[-1][0][-1].value == "," and all(t.kind == "dots" for t in piece):
            continue  # `…, \\quad \\ldots`: and so on, after a list of statements
        if merged and not after_break and _is_optimum(merged[-1][0]):
            # `\min_{x} \quad f(x) + g(x)`: the operator and its objective
            merged[-1] = (merged[-1][0] + piece, merged[-1][1])
            continue
        if merged and not after_break and (
                _ends_open(merged[-1][0]) or _starts_open(piece)) and \
                not (piece and is_relation(piece[0]) and any(
                    is_relation(t) for t in top_level(merged[-1][0]))
                     and not _ends_open(merged[-1][0])):
            merged[-1] = (merged[-1][0] + piece, merged[-1][1])
            continue
        if _is_annotation(piece):
            continue
        merged.append((piece, after_break))
    return [(_strip_prose(piece), after) for piece, after in merged if _strip_prose(piece)]


def _is_optimum(piece: list[Token]) -> bool:
    """`\\min_{x}`, `\\max_v` alone: an operator whose objective follows a space."""
    if len(piece) < 3 or piece[0].kind != "cmd" or piece[0].value not in (
            "\\min", "\\max", "\\argmin", "\\argmax", "\\sup", "\\inf") or \
            piece[1].value != "_":
        return False
    try:
        return group_end(piece, 2) == len(piece) - 1
    except Refused:
        return False


def _refuse_ratio(row: list[Token]) -> None:
    """`56:35 = 1 : w`: a ratio on both sides of a relation, which no reading of `:` as a
    break (`\\text{loss}: L = …`) gets right."""
    top = top_level(row)
    colons = [index for index, token in enumerate(top)
              if token.kind == "op" and token.value == ":"]
    relations = [index for index, token in enumerate(top) if is_relation(token)]
    if colons and any(colons[0] < relation < colons[-1] for relation in relations):
        raise Refused("ratio (a : b)")


def split_chains(tokens: list[Token]) -> list[RawChain]:
    chains: list[RawChain] = []
    rows = _rows(tokens)
    pending: list[Token] = []
    elided = False
    for number, row in enumerate(rows):
        row = _cells(row)
        while len(row) > 1 and row[0].kind == "op" and row[0].value == "{" and \
                group_end(row, 0) == len(row) - 1:
            row = row[1:-1]  # {D = …}: braces around everything show nothing
        if not row:
            continue
        if all(token.kind in ("dots", "space") for token in row):
            # a `\vdots` row stands for rows like those around it and states nothing
            # itself; a row after it that starts with `=` does not continue the chain
            # before it (the rows between are not written: `=`, `≤`, or `≈`?)
            elided = True
            continue
        # `a + \\ + b`: a row that ends or starts with an operator continues the side
        if pending:
            row = pending + row
            pending = []
        if number + 1 < len(rows) and row and (
                (row[-1].kind == "op" and row[-1].value in "+*") or
                (row[-1].kind == "cmd" and row[-1].value in EXPLICIT_PRODUCTS) or
                (rows[number + 1] and _cells(rows[number + 1])[:1] and
                 _cells(rows[number + 1])[0].value in ("+",) and
                 len(_cells(rows[number + 1])) == 1)):
            pending = row
            continue
        _refuse_ratio(row)
        for piece, after_break in _pieces(row):
            after_break, elided = after_break or elided, False
            depths = depth_map(piece)
            sides: list[list[Token]] = [[]]
            relations: list[str] = []
            for token, depth in zip(piece, depths, strict=True):
                if depth == 0 and is_relation(token):
                    relations.append(RELATIONS.get(token.value, token.value))
                    sides.append([])
                else:
                    sides[-1].append(token)
            if not sides[0] and relations and chains and not after_break:
                chain = chains[-1]
                chain.sides.extend(sides[1:])
                chain.relations.extend(relations)
                continue
            if not sides[0] and relations:
                sides = sides[1:]
                relations = relations[1:]
            chains.append(RawChain(sides, relations))
    if pending:
        chains.append(RawChain([pending], []))
    # a trailing relation with nothing after it (`g(z) = \sigma(z) \leftarrow 何故`)
    for chain in chains:
        while len(chain.sides) > 1 and not chain.sides[-1]:
            chain.sides.pop()
            chain.relations.pop()
    return [chain for chain in chains if any(chain.sides)]


# --------------------------------------------------------------------------- compiling
