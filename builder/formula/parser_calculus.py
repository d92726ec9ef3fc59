"""Sums and products, limits, integrals, expectations (fractions and derivatives:
`parser_derivatives.py`)."""

from __future__ import annotations

from typing import Any

from builder.formula.reader import Reader
from builder.formula.tokens import (
    Refused,
    Token,
    group_end,
    is_relation,
    script_label,
    split_top,
    top_level,
)
from builder.formula.vocabulary import GREEK, RELATIONS


class CalculusReader(Reader):
    """Sums and products, limits, integrals, expectations."""

    def limits(self) -> tuple[list[Token] | None, list[Token] | None]:
        """The `_{…}` and `^{…}` after a sum, product or integral, in either order."""
        lower: list[Token] | None = None
        upper: list[Token] | None = None
        for _ in range(2):
            if self.at("_") and lower is None:
                self.index += 1
                lower = self.group()
            elif self.at("^") and upper is None:
                self.index += 1
                upper = self.group()
        return lower, upper

    def big_operator(self, kind: str) -> Any:
        sympy = self.sympy
        lower, upper = self.limits()
        if lower is None:
            raise Refused(f"{kind} without an index")
        top = top_level(lower)
        if any(t.kind == "cmd" and t.value in ("\\in", "\\subset") for t in top):
            raise Refused(f"{kind} over a set")
        if any(t.kind == "op" and t.value == "," for t in top):
            if upper is not None or any(t.value == "=" for t in lower):
                raise Refused(f"{kind} over several variables with bounds")
            names = []
            for part in split_top(lower, {","}):
                if not part or part[0].kind not in ("letter", "cmd") or len(part) > 2 or (
                        len(part) == 2 and part[1].value != "'"):
                    raise Refused(f"{kind} index is not a letter")
                names.append(part[0].value.lstrip("\\") + ("_prime" if len(part) == 2 else ""))
            saved = self.scope
            self.scope = self.scope | set(names)
            try:
                body = self.term()
            finally:
                self.scope = saved
            operator = sympy.Sum if kind == "sum" else sympy.Product
            limits = [(sympy.Symbol(name), 1,
                       sympy.Symbol(f"#{name}", integer=True, positive=True))
                      for name in reversed(names)]
            with sympy.evaluate(True):  # unevaluated, Sum wraps its body in 1*(…)
                return operator(body, *limits)
        values = _value_range(upper)
        if values is not None and not any(t.value == "=" for t in lower):
            # \sum_{v_a}^{0,1}: v_a runs over the values 0 and 1
            return self.sum_over_values(kind, lower, values)
        lower, excluded = _without_excluded(lower)
        if excluded is not None and kind != "sum":
            raise Refused("product over all indices but one (k ≠ i)")
        equals = [position for position, t in enumerate(lower) if t.value == "="]
        variable_tokens = lower[:equals[0]] if equals else lower
        if not variable_tokens or variable_tokens[0].kind not in ("letter", "cmd") or \
                (variable_tokens[0].kind == "cmd" and variable_tokens[0].value[1:] not in GREEK):
            raise Refused(f"{kind} index is not a letter")
        if len(variable_tokens) != 1 and not (
                len(variable_tokens) == 2 and variable_tokens[1].value == "'"):
            raise Refused(f"{kind} index is not a letter")
        variable_name = variable_tokens[0].value.lstrip("\\") + (
            "_prime" if len(variable_tokens) == 2 else "")
        variable = sympy.Symbol(variable_name)
        low = self.sub(lower[equals[0] + 1:]) if equals else sympy.Integer(1)
        if upper is not None:
            high = self.sub(upper)
        elif equals:
            raise Refused(f"{kind} with a lower bound and no upper bound")
        else:
            high = sympy.Symbol(f"#{variable_name}", integer=True, positive=True)
        saved = self.scope
        self.scope = self.scope | {variable_name}
        try:
            body = self.term()
        finally:
            self.scope = saved
        operator = sympy.Sum if kind == "sum" else sympy.Product
        with sympy.evaluate(True):  # unevaluated, Sum wraps its body in 1*(…)
            whole = operator(body, (variable, low, high))
        if excluded is None:
            return whole
        # \sum_{k \neq i} y_k a_i: every term but the i-th, the whole sum less that term
        # (exact for any i in the range, as the note means; the i-th term's entries are
        # the very entries `y_i` the rest of the side uses)
        return whole - body.xreplace({variable: self.sub(excluded)})

    def sum_over_values(self, kind: str, lower: list[Token], values: tuple[int, int]
                        ) -> Any:
        """`\\sum_{v_a}^{0,1} e^{v_a b_a}`: the body at each of the values, as a sum over a
        range of whole numbers; the variable is a name (`v_a`) bound there."""
        sympy = self.sympy
        saved = self.context.uses[:]
        variable = self.sub(lower)
        self.context.uses[:] = saved
        if not isinstance(variable, sympy.Symbol) or kind != "sum":
            raise Refused(f"{kind} index is not a letter")
        body = self.term()
        with sympy.evaluate(True):
            return sympy.Sum(body, (variable, values[0], values[1]))

    def limit(self) -> Any:
        """`\\lim_{t \\to \\infty} \\bar{\\alpha}_t`: the limit of the rest of the term, its
        variable an index there (`\\bar{\\alpha}_t` is the sequence's element)."""
        sympy = self.sympy
        if not self.at("_"):
            raise Refused("limit without its variable")
        self.index += 1
        below = self.group()
        arrows = [position for position, t in enumerate(below)
                  if t.kind == "cmd" and t.value in ("\\to", "\\rightarrow")]
        if len(arrows) != 1 or arrows[0] != 1 or not (
                below[0].kind == "letter" or (below[0].kind == "cmd" and
                                             below[0].value[1:] in GREEK)):
            raise Refused("limit of a variable that is not a letter")
        name = below[0].value.lstrip("\\")
        target = self.sub(below[2:])
        saved = self.scope
        self.scope = self.scope | {name}
        try:
            body = self.term()
        finally:
            self.scope = saved
        variable = sympy.Symbol(name)
        if target.is_infinite:
            return sympy.Limit(body, variable, target)
        return sympy.Limit(body, variable, target, "+-")

    def blackboard(self) -> Any:
        """`\\mathbb{E}[…]`, and the number sets `\\mathbb{R}^{n \\times m}`."""
        sympy = self.sympy
        self.index += 1
        letter = self.group()
        text = "".join(t.value for t in letter)
        if text == "E":
            return self.expectation()
        if text.startswith("E") and len(letter) > 2 and letter[1].value == "_":
            return self.expectation(letter[2:] if letter[2].value != "{" else letter[3:-1])
        sets = {"R": sympy.S.Reals, "N": sympy.S.Naturals, "Z": sympy.S.Integers,
                "Q": sympy.S.Rationals, "C": sympy.S.Complexes}
        if text == "D" and self.at("_"):
            # \mathbb{D}_{KL}(q \| p): a divergence, named as D_{KL} is
            self.index -= 1
            self.tokens[self.index] = Token("letter", "D", self.tokens[self.index].pos,
                                            self.tokens[self.index].end)
            return self.name_factor()
        if text not in sets:
            raise Refused("set (\\mathbb)")
        if not self.at("^"):
            return sets[text]
        self.index += 1
        shape = split_top(self.group(), {"\\times"})
        from sympy.matrices.expressions.sets import MatrixSet

        dimensions = [self.sub(part) for part in shape]
        # sizes are whole numbers, also where the equation's names are matrices
        dimensions = [dimension.xreplace({symbol: sympy.Symbol(symbol.name, integer=True,
                                                               nonnegative=True)
                                          for symbol in dimension.free_symbols})
                      for dimension in dimensions]
        if len(dimensions) == 1:
            dimensions.append(sympy.Integer(1))
        if len(dimensions) != 2:
            raise Refused("set (\\mathbb) of more than two dimensions")
        return MatrixSet(dimensions[0], dimensions[1], sets[text])


    def integral(self, count: int) -> Any:
        """`\\int_a^b f(x) dx`, `\\iint g dx dt`, `\\int_x f dx` (over x's domain)."""
        sympy = self.sympy
        lower, upper = self.limits()
        over = self.whole_domains(lower) if upper is None and count == 1 else None
        if over is not None:
            # `\\int_{x, y} f \\,dx \\,dy`, `\\int_x \\int_y f \\,dx \\,dy`: over all x and y
            count, lower = len(over), None
        # the body runs to the differentials `dx dt` that end the term
        start = self.index
        depth = 0
        position = start
        while position < len(self.tokens):
            token = self.tokens[position]
            if (token.kind == "op" and token.value in "([{") or (
                    token.kind == "cmd" and token.value in ("\\{", "\\left")):
                depth += 1
            elif (token.kind == "op" and token.value in ")]}") or (
                    token.kind == "cmd" and token.value == "\\}"):
                depth -= 1
                if depth < 0:
                    break
            elif depth == 0 and is_differential_d(token) and \
                    position > start and self.differentials(position, count) is not None:
                break
            elif depth == 0 and (is_relation(token) or (
                    token.kind == "op" and token.value in "+-" and position > start)):
                raise Refused("integral without its dx")
            position += 1
        found = self.differentials(position, count) if position < len(self.tokens) else None
        if found is None:
            raise Refused("integral without its dx")
        variables, end = found
        if over is not None and sorted(map(str, variables)) != sorted(over):
            raise Refused("integral over a set")
        body = self.sub(self.tokens[start:position])
        self.index = end
        if count > 1 and (lower or upper):
            raise Refused("multiple integral with bounds")
        limits: list[Any] = []
        for variable in variables:
            if upper is not None and lower is not None:
                limits.append((variable, self.sub(lower), self.sub(upper)))
            elif lower is not None and self.real_line(lower):
                limits.append((variable, -sympy.oo, sympy.oo))  # \int_{\mathbb{R}}
            elif lower is not None and self.real_line(lower[:_power_at(lower)]):
                raise Refused("integral over ℝ^N (of a vector variable)")
            elif lower is not None and (len(lower) != 1 or
                                        lower[0].value.lstrip("\\") != str(variable)):
                raise Refused("integral over a set")
            else:
                limits.append((variable,))
        return sympy.Integral(body, *limits)

    @staticmethod
    def real_line(lower: list[Token]) -> bool:
        """`\\int_{\\mathbb{R}} f(x) \\,dx`: over the whole real line. (Over ℝ^N the
        variable is a vector, which an integral here does not take.)"""
        parts = [t for t in lower if not (t.kind == "op" and t.value in "{}")]
        return [(t.kind, t.value) for t in parts] == [("cmd", "\\mathbb"), ("letter", "R")]

    def whole_domains(self, lower: list[Token] | None) -> list[str] | None:
        """The variables of an integral whose subscripts name only its variables: the
        list `x, y` of `\\int_{x, y}`, and the letters of integrals that follow it with a
        letter each (`\\int_x \\int_y`), which are read here with it; None otherwise
        (`\\int_x f\\,dx` alone keeps its one variable)."""
        if lower is None:
            return None
        parts = split_top(lower, {","})
        if not all(len(part) == 1 and part[0].kind == "letter" for part in parts):
            return None
        letters = [part[0].value for part in parts]
        while self.at("\\int") and self.peek_value(1) == "_":
            following = self.tokens[self.index + 2]
            if following.kind != "letter" or self.peek_value(3) == "^":
                break
            letters.append(following.value)
            self.index += 3
        if len(set(letters)) != len(letters):
            raise Refused("integral over the same variable twice")
        return letters if len(letters) > 1 else None

    def differentials(self, position: int, count: int) -> tuple[list[Any], int] | None:
        """`dx dt` at `position`: the variables and where they end."""
        variables = []
        for _ in range(count):
            if position + 1 >= len(self.tokens):
                return None
            d, name = self.tokens[position], self.tokens[position + 1]
            if not is_differential_d(d) or not (
                    name.kind == "letter" or (name.kind == "cmd" and name.value[1:] in GREEK)):
                return None
            if position + 2 < len(self.tokens) and self.tokens[position + 2].value == "_":
                # dw_{1}: the variable as the body names it (w_1), a name, not an element
                script = position + 3
                if script >= len(self.tokens):
                    return None
                end = group_end(self.tokens, script) if self.tokens[script].value == "{" \
                    else script
                variable = self.sub(self.tokens[position + 1:end + 1])
                if not isinstance(variable, self.sympy.Symbol):
                    return None
                variables.append(variable)
                position = end + 1
                continue
            variables.append(self.sympy.Symbol(name.value.lstrip("\\")))
            position += 2
        following = self.tokens[position] if position < len(self.tokens) else None
        if following is not None and not (
                (following.kind == "op" and following.value in "+-)]}") or
                is_relation(following) or (following.kind == "cmd" and following.value in (
                    "\\}", "\\right"))):
            return None
        return variables, position

    def expectation(self, subscript: list[Token] | None = None) -> Any:
        """`\\mathbb{E}[X]`, `E_{z \\sim q}[…]`, `\\mathbb{E}[G_t | S_t = s]`: an expectation
        the notes do not define further, as the unknown function `E`."""
        name = "E"
        if subscript is None and self.at("_"):
            self.index += 1
            subscript = self.group()
        if subscript:
            name = f"E_{script_label(subscript)}"
        if not self.at("[", "("):
            raise Refused("expectation without brackets")
        opener = self.next()
        inner, _ = self.until_closer(opener.value, ")" if opener.value == "(" else "]")
        arguments = [self.sub(inner)] if _bars_are_norms(inner) else self.arguments(inner)
        return self.postfix(self.sympy.Function(name)(*arguments), element=True)


def _power_at(tokens: list[Token]) -> int:
    """Where the superscript of `\\mathbb{R}^N` starts (the length when there is none)."""
    return next((index for index, token in enumerate(tokens)
                 if token.kind == "op" and token.value == "^"), len(tokens))


def _bars_are_norms(tokens: list[Token]) -> bool:
    """`\\mathbb{E}[\\|x - y\\|^2]`, `\\mathbb{E}[\\frac{1}{2} ||x - y||^2]`: bars that open
    the expectation's argument or come in pairs `||` delimit norms, not a condition."""
    top = top_level(tokens)
    if not top:
        return False
    if top[0].value in ("|", "\\|") and top[0] is tokens[0]:
        return True
    bars = [position for position, token in enumerate(tokens)
            if token.kind == "op" and token.value == "|" and token in top]
    if not bars or len(bars) % 2:
        return False
    return all(bars[number + 1] == bars[number] + 1 for number in range(0, len(bars), 2))


def _value_range(upper: list[Token] | None) -> tuple[int, int] | None:
    """`^{0,1}` over a sum (the values its variable takes, consecutive whole numbers):
    the first and the last; None for an upper bound."""
    if upper is None:
        return None
    parts = [t for t in upper if t.value not in "{}"]
    if len(parts) < 3 or any(t.kind != "num" for t in parts[::2]) or \
            any(t.value != "," for t in parts[1::2]):
        return None
    numbers = [int(t.value) for t in parts[::2] if t.value.isdigit()]
    if len(numbers) != len(parts[::2]) or numbers != list(range(numbers[0], numbers[-1] + 1)):
        return None
    return numbers[0], numbers[-1]


def _without_excluded(lower: list[Token]) -> tuple[list[Token], list[Token] | None]:
    """`k \\neq i` below a sum: the index `k` and the letter `i` it skips; the subscript
    as it is (and None) otherwise. Only a letter is skipped: `\\sum_{k \\neq 2i}` is
    not read."""
    cuts = [position for position, token in enumerate(lower)
            if token.kind in ("op", "cmd") and RELATIONS.get(token.value) == "\\ne"]
    if len(cuts) != 1:
        return lower, None
    excluded = lower[cuts[0] + 1:]
    if len(excluded) != 1 or not (excluded[0].kind == "letter" or (
            excluded[0].kind == "cmd" and excluded[0].value[1:] in GREEK)):
        raise Refused("sum index is not a letter")
    return lower[:cuts[0]], excluded


def is_differential_d(token: Token) -> bool:
    """The d of `dx`: italic, or upright as ISO writes it (`\\text{d}x`, `\\mathrm{d}x`)."""
    return token.value == "d" and token.kind in ("letter", "word")
