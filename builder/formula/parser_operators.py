"""Brackets (pairs that are inner products, functions added then applied), absolute
values, norms, relations in arguments, named functions."""

from __future__ import annotations

from typing import Any

from builder.formula.functions import InnerProduct, conditional_marker, ellipsis_marker
from builder.formula.reader import Reader
from builder.formula.tokens import (
    Refused,
    Token,
    depth_map,
    group_end,
    is_relation,
    script_label,
    split_top,
    top_level,
)
from builder.formula.vocabulary import OPTIMA, RELATIONS, known_function


class OperatorReader(Reader):
    """Brackets, bars and norms, arguments, named functions."""

    def bracket(self) -> Any:
        opener = self.next()
        closer = ")" if opener.value == "(" else "]"
        inner, _ = self.until_closer(opener.value, closer)
        if any(t.kind in ("op", "cmd") and t.value in RELATIONS for t in top_level(inner)):
            raise Refused("relation inside brackets")
        if self.context.pairs and opener.value == "(":
            parts = split_top(inner, {","})
            if len(parts) == 2 and all(parts):
                # `(v_i, v_j) = \delta_{ij}`: the chain shows an inner product (pairs.py)
                return InnerProduct.get()(self.sub(parts[0]), self.sub(parts[1]))
        if any(t.kind == "op" and t.value in (",", ";") for t in top_level(inner)):
            raise Refused("tuple or interval in brackets")
        if inner and inner[0].kind == "begin" and inner[0].value == "array":
            # `\left( \begin{array}{cc} 1 & 2 \\ 3 & 4 \end{array} \right)`: an array
            # in brackets is the matrix it lays out (an array alone is only layout)
            reader = type(self)(inner, self.context, self.scope, self.depth + 1)
            matrix = reader.environment("array", delimited=True)
            if reader.index == len(inner):
                return matrix
        if self.at("(") and self.bare_functions(inner):
            # (f^* + g^*)(x): a sum of functions applied, not a product
            return self.pointwise(inner)
        return self.sub(inner)

    def pointwise(self, inner: list[Token]) -> Any:
        """`(f^* + g^*)(x)`, the bracket's functions added then applied: each applied,
        `f^*(x) + g^*(x)`. Anything but a sum of function names (`(I * K)(i, j)`, a
        convolution) is refused."""
        opening = self.index
        self.next()
        _, closing = self.until_closer("(", ")")
        call = self.tokens[opening:closing + 1]
        terms = split_top(inner, {"+", "-"}, keep=True)
        total: Any = 0
        negative = False
        for term in terms:
            if isinstance(term, str):
                negative = term == "-"
                continue
            if not _function_name(term):
                raise Refused("functions combined, then applied: not read")
            applied = self.sub([*term, *call])
            total = total - applied if negative else total + applied
        return total

    def bare_functions(self, inner: list[Token]) -> bool:
        """Does `inner` name, without applying it, a function the card applies
        (`f^* + g^*` beside `f(z)`)?"""
        declared = self.context.declarations
        functions = declared.applied | declared.functions | declared.defined
        for position, token in enumerate(inner):
            if token.kind != "letter" or token.value not in functions:
                continue
            after = position + 1
            while after + 1 < len(inner) and inner[after].value in ("^", "_"):
                after = group_end(inner, after + 1) + 1
            if after >= len(inner) or inner[after].value != "(":
                return True
        return False


    def absolute(self) -> Any:
        self.next()
        start = self.index
        depth = 0
        while self.index < len(self.tokens):
            token = self.tokens[self.index]
            if token.kind == "op" and token.value in "([{":
                depth += 1
            elif token.kind == "op" and token.value in ")]}":
                depth -= 1
            elif token.kind == "op" and token.value == "|" and depth == 0:
                if self.index == start:
                    raise Refused("norm (‖…‖)")
                inner = self.tokens[start:self.index]
                self.index += 1
                if any(t.kind == "cmd" and t.value in ("\\cap", "\\cup") for t in inner):
                    raise Refused("set expression (∩, ∪)")
                value = self.sub(inner)
                if self.context.matrices and isinstance(value, self.sympy.Symbol) and \
                        value.name[:1].isupper():
                    return self.sympy.Function("det")(value)  # |\Sigma| of a matrix
                return self.sympy.Abs(value)
            self.index += 1
        raise Refused("unbalanced |")


    def floor_or_ceiling(self, token: Token) -> Any:
        """`\\lfloor x \\rfloor`, `\\lceil x \\rceil`."""
        sympy = self.sympy
        value = token.value
        self.index += 1
        closer = "\\rfloor" if value == "\\lfloor" else "\\rceil"
        start = self.index
        depth = 0
        while self.index < len(self.tokens):
            current = self.tokens[self.index]
            if current.kind == "cmd" and current.value == value:
                depth += 1
            elif current.kind == "cmd" and current.value == closer:
                if depth == 0:
                    break
                depth -= 1
            self.index += 1
        else:
            raise Refused(f"unbalanced {value}")
        inner = self.tokens[start:self.index]
        self.index += 1
        argument = self.sub(inner)
        return self.postfix(sympy.floor(argument) if value == "\\lfloor"
                            else sympy.ceiling(argument))

    def norm(self) -> Any:
        """`\\|w\\|_2^2`, `||x - x'||^2`: a norm, as the function `norm_2` (or `norm`)."""
        sympy = self.sympy
        opener = self.next()
        double = opener.kind == "op"
        if double:
            self.next()
        start = self.index
        depth = 0
        while self.index < len(self.tokens):
            token = self.tokens[self.index]
            if token.kind == "op" and token.value in "([{":
                depth += 1
            elif token.kind == "op" and token.value in ")]}":
                depth -= 1
            elif depth == 0 and ((double and token.kind == "op" and token.value == "|" and
                                  self.peek_value(1) == "|") or
                                 (not double and token.kind == "cmd" and
                                  token.value in ("\\|", "\\Vert"))):
                break
            self.index += 1
        else:
            raise Refused("unbalanced ‖")
        inner = self.tokens[start:self.index]
        self.index += 2 if double else 1
        if not inner:
            raise Refused("empty norm")
        name = "norm"
        if self.at("_"):
            self.index += 1
            name = f"norm_{script_label(self.group())}"
        return self.postfix(sympy.Function(name)(self.sub(inner)))


    def arguments(self, inner: list[Token]) -> list[Any]:
        """`x | C`, `y = 1 | x`, `s, a`: a function's arguments; a condition's bar is the
        marker symbol `|`, a relation (`y = 1`) a sympy relational."""
        arguments: list[Any] = []
        pieces = split_top(inner, {",", ";", "|", "\\mid", "\\|"}, keep=True)
        for number, piece in enumerate(pieces):
            if isinstance(piece, str):
                if piece not in (",", ";") and not (arguments and str(arguments[-1]) == "|"):
                    arguments.append(conditional_marker())  # p(x|C); p||q: one marker
                continue
            if not piece:
                if 0 < number < len(pieces) - 1 and pieces[number - 1] in ("|", "\\|"):
                    continue
                raise Refused("empty function argument")
            if len(piece) == 1 and piece[0].kind == "dots" and 0 < number < len(pieces) - 1:
                arguments.append(ellipsis_marker())  # q(z_1, \ldots, z_T)
                continue
            if len(piece) == 1 and piece[0].kind == "text":
                # P(A | 表), P(表): an event named in words (the coin shows heads), as
                # a function's argument
                arguments.append(self.sympy.Symbol(piece[0].value.strip()))
                continue
            arguments.append(self.relation_or_expression(piece))
        return arguments

    def relation_or_expression(self, tokens: list[Token]) -> Any:
        sympy = self.sympy
        depths = depth_map(tokens)
        cuts = [index for index, (token, depth) in enumerate(zip(tokens, depths, strict=True))
                if depth == 0 and is_relation(token)]
        if not cuts:
            return self.sub(tokens)
        if len(cuts) > 1:
            raise Refused("several relations inside function arguments")
        relation = RELATIONS.get(tokens[cuts[0]].value, tokens[cuts[0]].value)
        build = {"=": sympy.Eq, "<": sympy.Lt, ">": sympy.Gt, "\\le": sympy.Le,
                 "\\ge": sympy.Ge, "\\ne": sympy.Ne}.get(relation)
        if build is None:
            raise Refused(f"relation {relation} inside function arguments")
        left, right = tokens[:cuts[0]], tokens[cuts[0] + 1:]
        if not left or not right:
            raise Refused("incomplete relation")
        return build(self.sub(left), self.sub(right), evaluate=False)

    def function(self, name: str, start: int | None = None) -> Any:
        """`\\log x`, `\\exp(…)`, `\\sin^2 x`, `\\log_2 p`, `\\max(0, x)`."""
        sympy = self.sympy
        base = None
        power = None
        if name in OPTIMA and self.at("_"):
            # \max_{a'} Q(s, a'), \arg\min_x f(x): an operator the notes do not define
            # further, an unknown function of its operand
            begin = self.index - 1 if start is None else start
            first = all(t.kind == "op" and t.value in "+-"
                        for t in self.tokens[:begin]) and not self.depth
            self.index += 1
            over = self.group()
            bound = {t.value.lstrip("\\") for t in over[1:]
                     if t.kind in ("letter", "cmd")} & self.scope
            if bound and any(is_relation(t) and t.value != "\\in" for t in over):
                # \lim_{\epsilon \to 0} \arg\min_{\lVert d \rVert \leq \epsilon}: the
                # constraint would be part of the operator's name, hiding its ε
                raise Refused(f"{name} under a constraint on {sorted(bound)[0]}, bound "
                              "outside it")
            body = self.term()
            while first and self.at("+", "-"):
                # \min_\beta \frac{1}{2}||\beta||^2 + C \sum \xi_i: an objective starting
                # the side is minimised whole (terms without the variable give the same
                # value read either way)
                negative = self.next().value == "-"
                following = self.term()
                body = body - following if negative else body + following
            return sympy.Function(f"{name}_{script_label(over)}")(body)
        if name in OPTIMA and name not in ("max", "min"):
            if not self.at("(", "[", "\\{"):
                raise Refused(f"{name} without its variable")
            opener = self.next()
            closer = {"(": ")", "[": "]", "\\{": "\\}"}[opener.value]
            inner, _ = self.until_closer(opener.value, closer)
            return self.postfix(sympy.Function(name)(*self.arguments(inner)))
        primes = 0
        while self.at("'") and name not in ("max", "min"):
            self.index += 1
            primes += 1  # \tanh'(z): its derivative at z
        for _ in range(2):
            if self.at("_") and base is None:
                self.index += 1
                base = self.sub(self.group())
            elif self.at("^") and power is None:
                self.index += 1
                power = self.sub(self.group())
        if name == "exp" and power is not None and base is None and not primes and \
                not self.starts_factor():
            return sympy.exp(power)  # `\exp^{-x}`, nothing after it: e to the -x
        if name in ("max", "min"):
            if not self.at("(", "["):
                raise Refused("min/max over a set")
            opener = self.next()
            inner, _ = self.until_closer(opener.value, ")" if opener.value == "(" else "]")
            arguments = [self.sub(part) for part in split_top(inner, {","})]
            result = (sympy.Max if name == "max" else sympy.Min)(*arguments)
        else:
            opener_used = self.at("(", "[") or self.at("\\{")
            if opener_used:
                opener = self.next()
                closer = {"(": ")", "[": "]", "\\{": "\\}"}[opener.value]
                inner, _ = self.until_closer(opener.value, closer)
                if any(t.kind == "op" and t.value == "," for t in top_level(inner)):
                    raise Refused(f"\\{name} of several arguments")
                argument = self.sub(inner)
            else:
                argument = self.run(function_argument=True)
            if name == "lg":
                raise Refused("\\lg (log base unclear)")
            known = known_function(name)
            if known is None:
                raise Refused(f"unknown function {name}")
            result = known(argument) if base is None or name not in ("log",) else \
                sympy.log(argument, base)
            if primes:
                if not isinstance(argument, sympy.Symbol):
                    raise Refused("derivative of a function at an expression")
                result = sympy.Derivative(result, (argument, primes))
            if base is not None and name != "log":
                raise Refused(f"subscript on \\{name}")
            if power is None and opener_used and self.at("^"):
                # `\\tanh(x)^2`: a power of the value, like `\\tanh^2(x)`
                self.index += 1
                power = self.sub(self.group())
        if power is not None:
            if power == -1 and name not in ("max", "min"):
                raise Refused(f"\\{name}^{{-1}} (inverse or reciprocal?)")
            result = result ** power
        return self.postfix(result) if name in ("max", "min") else result


def _function_name(term: list[Token]) -> bool:
    """`f`, `f^*`, `g_{k}`: a letter and its scripts, nothing else."""
    if not term or term[0].kind != "letter":
        return False
    position = 1
    while position < len(term):
        if term[position].value not in ("^", "_") or position + 1 >= len(term):
            return False
        position = group_end(term, position + 1) + 1 if term[position + 1].value == "{" \
            else position + 2
    return True
