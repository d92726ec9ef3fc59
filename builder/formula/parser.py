"""The parser: one side's tokens → a sympy expression, or `Refused`.

`Parser` is the grammar (sums, products, factors) and the table of LaTeX commands, put
together with the parts that read names, calculus and operators."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from builder.formula.functions import arithmetic
from builder.formula.parser_applications import ApplicationReader
from builder.formula.parser_calculus import CalculusReader
from builder.formula.parser_commands import CommandReader
from builder.formula.parser_derivatives import DerivativeReader
from builder.formula.parser_environments import EnvironmentReader
from builder.formula.parser_names import NameReader
from builder.formula.parser_operators import OperatorReader
from builder.formula.tokens import (
    Refused,
    Token,
    group_end,
    top_level,
    unexpected,
)
from builder.formula.vocabulary import (
    BREAKS,
    EXPLICIT_PRODUCTS,
    FUNCTION_COMMANDS,
    GREEK,
    PROSE,
    RELATIONS,
)

_REFUSED_COMMANDS = {
    "\\oint": "contour integral",
"\\cap": "set expression (∩, ∪)",
    "\\cup": "set expression (∩, ∪)",
    "\\circ": "composition (∘)",
    "\\underset": "argmax/argmin or \\underset", "\\overset": "\\overset",
    "\\arg": "\\arg without \\min or \\max", "\\oplus": "⊕",
    "\\emptyset": "set expression", "\\forall": "quantifier",
    "\\exists": "quantifier", "\\neg": "logic", "\\land": "logic", "\\lor": "logic",
    "\\choose": "\\choose", "\\operatornamewithlimits": "argmax/argmin or \\underset",
    "\\mid": "conditional (|) outside a function", "\\setminus": "set expression",
}
"""Commands the parser knows and refuses, with the reason a side then gives."""

_DECORATIONS = ("\\hat", "\\bar", "\\tilde", "\\widehat", "\\widetilde", "\\overline",
                "\\vec", "\\dot", "\\ddot", "\\check", "\\breve", "\\mathcal", "\\mathscr",
                "\\mathfrak")


class Parser(NameReader, ApplicationReader, CommandReader, DerivativeReader, CalculusReader,
             OperatorReader, EnvironmentReader):
    """One side's tokens → a sympy expression, or `Refused`."""

    def whole(self) -> Any:
        if not self.tokens:
            raise Refused("empty expression")
        if not self.depth and len(self.tokens) == 1 and self.tokens[0].kind in ("word", "text"):
            # a side that is words alone, `\text{output image size}` of `… = \frac{…}{s}`
            # (chains.py keeps such a side only before a relation): a quantity so named
            words = " ".join(self.tokens[0].value.replace("\\_", "_").split())
            if words and words not in PROSE and not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*",
                                                                  words):
                return self.sympy.Symbol(words)
        expr = self.expr()
        if self.peek() is not None:
            token = self.peek()
            assert token is not None
            raise Refused(unexpected(token))
        return expr

    # ----------------------------------------------------------------- grammar
    def expr(self) -> Any:
        if self.at("\\pm", "\\mp"):
            raise Refused("± (two values)")
        spans = [(self.index, False)]
        terms = [self.term()]
        dots: int | None = None
        while True:
            if self.at("+") and self.peek_value(1) is not None and \
                    self.tokens[self.index + 1].kind == "dots" and dots is None:
                # `x_1 + \dots + x_n`: the terms the dots stand for
                self.index += 2
                if not self.at("+"):
                    raise Refused("ellipsis (…)")
                dots = len(terms)
            if self.at("+"):
                self.index += 1
                spans.append((self.index, False))
                terms.append(self.term())
            elif self.at("-"):
                self.index += 1
                spans.append((self.index, True))
                terms.append(-self.term())
            elif self.at("\\pm", "\\mp"):
                raise Refused("± (two values)")
            else:
                break
        if dots is not None:
            terms = self.elided_sum(terms, spans, dots)
        if len(terms) == 1:
            return terms[0]
        arithmetic(terms)
        return self.sympy.Add(*terms)

    def elided_sum(self, terms: list[Any], spans: list[tuple[int, bool]], dots: int
                   ) -> list[Any]:
        """`\\theta_0 + \\theta_1 x + \\cdots + \\theta_n x^n`: the last term is the general
        one, in a letter that the terms before the dots give at consecutive whole
        numbers; they become one sum over that letter, `\\sum_{k=0}^{n} \\theta_k x^k`.
        Refused when no letter makes every written term an instance of the last."""
        sympy = self.sympy
        if dots != len(terms) - 1 or dots < 1:
            raise Refused("ellipsis (…)")
        start, negative = spans[-1]
        end = self.index
        letters = {t.value for t in self.tokens[start:end] if t.kind == "letter"}
        for name in sorted(letters):
            variable = sympy.Symbol(name)
            scope = self.scope | {name}
            try:
                general = self.sub(self.tokens[start:end], scope)
            except Refused:
                continue
            general = -general if negative else general
            written = terms[:dots]
            with sympy.evaluate(True):
                for first in (0, 1):
                    # expand, not simplify: each term is a polynomial-like instance of
                    # the general one, and a form expand cannot match is refused.
                    if all(sympy.expand(_numbered(general.xreplace(
                            {variable: sympy.Integer(first + number)})) - _numbered(term)) == 0
                           for number, term in enumerate(written)):
                        index = sympy.Symbol(f"{name}_index")
                        body = general.xreplace({variable: index})
                        return [sympy.Sum(body, (index, first, variable))]
        raise Refused("ellipsis (…): the terms it stands for are not clear")

    def term(self) -> Any:
        negative = False
        while self.at("-", "+"):
            negative ^= self.next().value == "-"
        value = self.run()
        while True:
            if self.at("\\odot") and self.context.matrices:
                # among matrices, A ⊙ B is the elementwise product, not the matrix
                # product AB their non-commutative names would give
                self.index += 1
                value = self.sympy.Function("hadamard", commutative=False)(value, self.run())
            elif self.at(*EXPLICIT_PRODUCTS):
                self.index += 1
                while self.at("-", "+"):
                    negative ^= self.next().value == "-"
                value = value * self.run()
            elif self.at("\\otimes"):
                value = self.kronecker(value)
            elif self.at("/", "\\div"):
                self.index += 1
                denominator = self.run(single=True)
                if self.starts_factor():
                    raise Refused("a/bc: is bc the denominator? use \\frac")
                value = value / denominator
            else:
                break
        return -value if negative else value


    def kronecker(self, left: Any) -> Any:
        """`B^\\top \\otimes A` among matrices (capital names): their Kronecker product,
        the unknown function `kron` (it keeps its operands' order). Elsewhere ⊗ may be an
        outer product of vectors or a tensor product of spaces: refused."""
        if not self.context.matrices:
            raise Refused("tensor product (⊗)")
        self.index += 1
        right = self.run()
        for operand in (left, right):
            names = [str(symbol) for symbol in getattr(operand, "free_symbols", ())]
            if not names or not all(name[:1].isupper() for name in names):
                # u ⊗ v of vectors: the outer product u v^T, or the Kronecker product?
                raise Refused("tensor product (⊗) of vectors")
        return self.sympy.Function("kron", commutative=False)(left, right)

    def run(self, *, single: bool = False, function_argument: bool = False) -> Any:
        """Implicit multiplication: `2ab\\sin x`. A big operator (sum, derivative) takes
        the rest of the term as its operand."""
        factors: list[Any] = []
        while self.starts_factor():
            token = self.peek()
            assert token is not None
            if token.kind == "op" and token.value == "|" and factors and \
                    self.peek_value(1) != "|":
                break  # the closing bar of |x| or a conditional: the caller's
            if function_argument and factors and token.kind == "cmd" and (
                    token.value in FUNCTION_COMMANDS or token.value in (
                        "\\sum", "\\prod", "\\int", "\\iint", "\\iiint")):
                break  # \sin x \cos x; \log \frac{a}{b} \int p(u) du
            factor = self.factor(factors)
            factors.append(factor)
            if single:
                break
            previous = self.tokens[self.index - 1]
            if function_argument and previous.kind == "op" and previous.value in ")]":
                break  # \log p(x) q(x): the argument is p(x)
        if not factors:
            token = self.peek()
            raise Refused(unexpected(token) if token else "incomplete formula")
        if len(factors) == 1:
            return factors[0]
        arithmetic(factors)
        return self.sympy.Mul(*factors)

    # ----------------------------------------------------------------- factors
    def factor(self, before: list[Any]) -> Any:
        token = self.peek()
        assert token is not None
        kind, value = token.kind, token.value
        if kind == "refuse":
            raise Refused(value)
        if kind == "dots":
            raise Refused("ellipsis (…)")
        if kind == "text":
            raise Refused(f"text in formula ({value})")
        if kind == "begin":
            return self.postfix(self.environment(value))
        if kind == "num":
            self.index += 1
            number = self.sympy.Rational(value) if "." in value else self.sympy.Integer(value)
            if self.at("\\%"):
                self.index += 1
                number = number / 100  # 72.9\%
            return self.postfix(number)
        if kind == "op":
            if value in "([":
                return self.postfix(self.bracket(), element=True)
            if value == "{":
                close = group_end(self.tokens, self.index)
                inner = self.tokens[self.index + 1:close]
                if any(t.kind == "op" and t.value in "+-=" for t in top_level(inner)) and (
                        before or (close + 1 < len(self.tokens)
                                   and self.starts_factor_at(close + 1))):
                    raise Refused("braces around a sum (display grouping is ambiguous)")
                self.index = close + 1
                return self.postfix(self.sub(inner))
            if value == "|":
                if self.peek_value(1) == "|":
                    return self.norm()
                return self.postfix(self.absolute())
            if value == "'":
                raise Refused("prime without a name")
            raise Refused(unexpected(token))
        if kind == "cmd":
            return self.command(token)
        if kind in ("letter", "word"):
            return self.name_factor()
        raise Refused(unexpected(token))

    # ----------------------------------------------------------------- commands
    def command(self, token: Token) -> Any:
        """A LaTeX command at the cursor, read by its handler in `_COMMANDS`."""
        handler = _COMMANDS.get(token.value)
        if handler is not None:
            return handler(self, token)
        value = token.value
        if value in _REFUSED_COMMANDS:
            raise Refused(_REFUSED_COMMANDS[value])
        if value in BREAKS or value in RELATIONS:
            raise Refused(f"relation {value} inside an expression")
        raise Refused(f"unknown macro {value}")


def _numbered(expr: Any) -> Any:
    """`x[1]` as the name `x_1`, so that a term written with a number as subscript (a
    name) compares with the general term's element."""
    import sympy

    return expr.replace(
        lambda node: isinstance(node, sympy.Indexed) and all(
            index.is_Integer for index in node.indices),
        lambda node: sympy.Symbol(f"{node.base.label}_" + "".join(
            str(index) for index in node.indices)))


_Handler = Callable[[Parser, Token], Any]

_COMMANDS: Mapping[str, _Handler] = {
    **dict.fromkeys(("\\frac", "\\dfrac", "\\tfrac", "\\cfrac"), Parser.fraction_command),
    **dict.fromkeys((f"\\{name}" for name in GREEK), Parser.name_command),
    **dict.fromkeys(_DECORATIONS, Parser.name_command),
    **dict.fromkeys(FUNCTION_COMMANDS, Parser.function_command),
    "\\sqrt": Parser.square_root, "\\surd": Parser.square_root,
    "\\sum": Parser.sum_or_product, "\\prod": Parser.sum_or_product,
    "\\Sigma": Parser.capital_sigma,
    "\\det": Parser.determinant,
    "\\lfloor": Parser.floor_or_ceiling, "\\lceil": Parser.floor_or_ceiling,
    "\\binom": Parser.binomial,
    "\\{": Parser.braces,
    "\\infty": Parser.infinity,
    "\\langle": Parser.angle_brackets,
    "\\mathbb": Parser.blackboard_command,
    "\\|": Parser.norm_command, "\\Vert": Parser.norm_command,
    **dict.fromkeys(("\\int", "\\iint", "\\iiint"), Parser.integral_command),
    "\\nabla": Parser.gradient, "\\partial": Parser.partial,
    "\\lim": Parser.limit_command,
    **dict.fromkeys(("\\arg", "\\argmax", "\\argmin", "\\sup", "\\inf"), Parser.optimum),
}
"""Each LaTeX command the parser reads, and the method that reads it (the token is at
the cursor when it is called)."""
