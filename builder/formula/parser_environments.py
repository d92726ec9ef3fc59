"""Environments: `cases` (a Piecewise, its conditions and the remarks beside them) and
matrices of numbers or names; transposes (`X^T`, and `w^T x` between two vectors)."""

from __future__ import annotations

from typing import Any

from builder.formula.functions import InnerProduct, Transposed
from builder.formula.matrix_pattern import element_pattern
from builder.formula.reader import Reader
from builder.formula.tokens import Refused, Token, depth_map, group_end, is_relation
from builder.formula.vocabulary import MATRIX_ENVS, RELATIONS


class EnvironmentReader(Reader):
    """`\\begin{cases}…`, `\\begin{bmatrix}…`: environments inside a side; transposes."""

    def environment(self, name: str, *, delimited: bool = False) -> Any:
        """`cases` (a Piecewise) and matrices of numbers or names; an `array` the caller
        found `delimited` by brackets is a matrix too. A `vmatrix` is the determinant of
        its matrix."""
        sympy = self.sympy
        start = self.index
        depth = 0
        for index in range(start, len(self.tokens)):
            token = self.tokens[index]
            if token.kind == "begin":
                depth += 1
            elif token.kind == "end":
                depth -= 1
                if depth == 0:
                    break
        else:
            raise Refused(f"unclosed {name}")
        body = self.tokens[start + 1:index]
        self.index = index + 1
        if body and body[0].kind == "op" and body[0].value == "{" and name in ("array",):
            body = body[group_end(body, 0) + 1:]
        rows: list[list[list[Token]]] = [[[]]]
        nested = 0
        for token in body:
            if token.kind == "begin":
                nested += 1
            elif token.kind == "end":
                nested -= 1
            if nested == 0 and token.kind == "rowsep":
                rows.append([[]])
            elif nested == 0 and token.kind == "op" and token.value == "&":
                rows[-1].append([])
            else:
                rows[-1][-1].append(token)
        rows = [row for row in rows if any(row)]
        if name == "Vmatrix":
            raise Refused("norm of a matrix written out (Vmatrix)")
        if name in MATRIX_ENVS or (name == "array" and delimited):
            if not rows or len({len(row) for row in rows}) != 1:
                raise Refused("matrix/vector expression")
            if any(t.kind == "dots" for row in rows for cell in row for t in cell):
                matrix = self.patterned_matrix(rows)
            else:
                matrix = sympy.ImmutableMatrix([[self.sub(cell) for cell in row]
                                                for row in rows])
            if name == "vmatrix":
                if not isinstance(matrix, sympy.ImmutableMatrix) or \
                        matrix.shape[0] != matrix.shape[1] or matrix.shape[0] > 4:
                    raise Refused("determinant of a matrix written out (vmatrix)")
                with sympy.evaluate(True):
                    return matrix.det()
            return matrix
        if name in ("cases", "dcases", "rcases"):
            pieces = []
            for row in rows:
                if len(row) != 2:
                    raise Refused("cases row without a condition")
                value, condition = row
                pieces.append((self.sub(_without_remark(value)), self.condition(condition)))
            return sympy.Piecewise(*pieces)
        raise Refused(f"{name} layout")

    def patterned_matrix(self, rows: list[list[list[Token]]]) -> Any:
        """A matrix written with an ellipsis whose cells follow one pattern (`x_{11}`,
        …, `x_{mn}`): sympy's FunctionMatrix of its element, numbered from 0 as sympy
        numbers them (`x[i + 1, j + 1]` where the note starts at 1)."""
        sympy = self.sympy
        pattern = element_pattern(rows)
        if any((t.kind == "letter" and t.value.isupper()) or t.bold for t in pattern.element):
            # `a_{11}B`: B may be a matrix, the whole a block matrix (A ⊗ B)
            raise Refused("matrix with an ellipsis (…) of blocks?")
        dummies = [axis.dummy if axis else letter for axis, letter in
                   ((pattern.rows, "i"), (pattern.columns, "j"))]
        element = self.sub(pattern.element, scope=self.scope | set(dummies))
        symbols = [sympy.Symbol(letter) for letter in dummies]
        sizes = []
        for axis, symbol in zip((pattern.rows, pattern.columns), symbols, strict=True):
            if axis is None:
                sizes.append(sympy.Integer(1))
                continue
            last = sympy.Symbol(axis.last, integer=True, nonnegative=True)
            sizes.append(last + 1 - axis.first)
            if axis.first:
                element = element.xreplace({symbol: symbol + axis.first})
        function = sympy.Lambda(tuple(symbols), element)
        with sympy.evaluate(True):  # sizes `n`, not `n + 1 - 1`, which sympy can check
            return sympy.FunctionMatrix(*[size.doit() for size in sizes], function)

    def condition(self, tokens: list[Token]) -> Any:
        """`\\text{if } z < 0`, `z \\geq 0`, `\\text{otherwise}`: a case's condition."""
        def prose(token: Token) -> bool:
            return token.kind == "text" or (token.kind == "word" and not token.value.isascii())

        if tokens and tokens[-1].value == ")" and any(prose(t) for t in tokens):
            opening = max(position for position, t in enumerate(tokens) if t.value == "(")
            if any(prose(t) for t in tokens[opening:]):
                tokens = tokens[:opening]  # `x < 0 (\alpha は固定値)`: a remark after it
        words = [t for t in tokens if t.kind == "word"]
        rest = [t for t in tokens if t.kind != "word" and not (
            t.kind == "op" and t.value in ",.;")]
        if len(rest) > 2 and rest[0].value == "(" and rest[-1].value == ")" and \
                group_end([Token("op", "{", 0, 0), *rest[1:-1], Token("op", "}", 0, 0)],
                          0) == len(rest) - 1:
            rest = rest[1:-1]  # `(x \geq 0)`: the condition in parentheses
        if not rest and len(words) == 1 and words[0].value.strip() in ("otherwise", "else"):
            return True
        if any(w.value.strip() not in ("if", "for", "when", "") for w in words):
            raise Refused("text in formula")
        between = self.between(rest)
        if between is not None:
            return between
        result = self.relation_or_expression(rest)
        if not isinstance(result, self.sympy.core.relational.Relational):
            raise Refused("case condition is not a comparison")
        return result

    def between(self, tokens: list[Token]) -> Any:
        """`-1 < x < 1`, `0 \\le t \\le T`: a condition that bounds a value on both
        sides (both bounds the same way), the two comparisons together; None otherwise."""
        sympy = self.sympy
        depths = depth_map(tokens)
        cuts = [index for index, (token, depth) in enumerate(zip(tokens, depths, strict=True))
                if depth == 0 and is_relation(token)]
        if len(cuts) != 2:
            return None
        kinds = [RELATIONS.get(tokens[cut].value, tokens[cut].value) for cut in cuts]
        build = {"<": sympy.Lt, "\\le": sympy.Le}
        if any(kind not in build for kind in kinds):
            return None
        parts = [tokens[:cuts[0]], tokens[cuts[0] + 1:cuts[1]], tokens[cuts[1] + 1:]]
        if not all(parts):
            return None
        low, middle, high = (self.sub(part) for part in parts)
        return sympy.And(build[kinds[0]](low, middle, evaluate=False),
                         build[kinds[1]](middle, high, evaluate=False))

    def transpose_applied(self, value: Any) -> Any:
        """`\\mu(X)^T`: a transpose among matrices; refused elsewhere (a vector the
        equation reads as a number)."""
        if not self.context.matrices:
            raise Refused("matrix/vector expression")
        return self.postfix(Transposed.get()(value))

    def transpose(self, symbol: Any) -> Any:
        """`w^T x` between two single-letter vectors is their inner product, a scalar;
        in an equation of matrices (`X^T`, `\\det`, declared ones) a transpose."""
        sympy = self.sympy
        if self.context.matrices:
            return self.postfix(Transposed.get()(symbol))
        following = self.peek()
        if isinstance(symbol, sympy.Symbol) and len(symbol.name) == 1 and \
                symbol.name.islower() and following is not None and \
                following.kind == "letter" and following.value.islower():
            if following.bold and self.peek_value(1) == "_" and \
                    self.peek_value(2) not in ("^", "("):
                # `\\boldsymbol{w}^\\top \\boldsymbol{x}_i`: w with the i-th vector x_i
                other = self.name_factor()
                if not isinstance(other, (sympy.Symbol, sympy.Indexed)) or self.at("^", "("):
                    raise Refused("matrix/vector expression")
                return InnerProduct.get()(symbol, other)
            self.index += 1
            other = sympy.Symbol(following.value)
            if self.at("_", "^", "("):
                raise Refused("matrix/vector expression")
            return InnerProduct.get()(symbol, other)
        raise Refused("matrix/vector expression")


def _without_remark(cell: list[Token]) -> list[Token]:
    """`\\frac{1}{2} x^2 \\quad (y=0)`: a case's value, then a remark in parentheses
    after a space (where the minimum is reached): the value alone."""
    spaces = [index for index, token in enumerate(cell) if token.kind == "space"]
    if not spaces:
        return cell
    after = [token for token in cell[spaces[0]:] if token.kind != "space"]
    if len(after) > 2 and after[0].value == "(" and after[-1].value == ")" and \
            group_end([Token("op", "{", 0, 0), *after[1:-1], Token("op", "}", 0, 0)],
                      0) == len(after) - 1:
        return cell[:spaces[0]]
    return cell
