"""The parser's plumbing: a cursor over one side's tokens, and the few grammar entry
points the parser's parts call in one another.

The parser is one class put together from parts by concern (`parser.py` the grammar,
`parser_names.py`, `parser_derivatives.py`, `parser_calculus.py`,
`parser_operators.py`, `parser_environments.py`); each part is a
`Reader`, so it sees the cursor, and calls the other parts through the methods declared
here."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

from builder.formula.context import ParseContext
from builder.formula.functions import Transposed
from builder.formula.tokens import MAX_DEPTH, Refused, Token, group_end, split_top
from builder.formula.vocabulary import BREAKS, EXPLICIT_PRODUCTS, RELATIONS, TRANSPOSE


class Reader(ABC):
    """A cursor over one side's tokens (`Parser` is the whole reader)."""

    def __init__(self, tokens: Sequence[Token], context: ParseContext,
                 scope: frozenset[str] = frozenset(), depth: int = 0) -> None:
        import sympy

        self.sympy = sympy
        self.tokens = list(tokens)
        self.index = 0
        self.context = context
        self.scope = scope  # index letters bound here (sums) or free (the lhs index)
        self.depth = depth

    # ----------------------------------------------------------------- plumbing
    def peek(self, offset: int = 0) -> Token | None:
        position = self.index + offset
        return self.tokens[position] if position < len(self.tokens) else None

    def next(self) -> Token:
        token = self.peek()
        if token is None:
            raise Refused("incomplete formula")
        self.index += 1
        return token

    def at(self, *values: str) -> bool:
        token = self.peek()
        return token is not None and token.value in values and token.kind in ("op", "cmd")

    def expect(self, value: str) -> None:
        token = self.peek()
        if token is None or token.value != value:
            raise Refused(f"expected {value}")
        self.index += 1

    def group(self) -> list[Token]:
        """The tokens of a `{…}` argument, or the single next token."""
        token = self.next()
        if token.kind == "op" and token.value == "{":
            close = group_end(self.tokens, self.index - 1)
            inner = self.tokens[self.index:close]
            self.index = close + 1
            return inner
        if token.kind == "op" and token.value in "}^_&":
            raise Refused("incomplete formula")
        return [token]

    def sub(self, tokens: Sequence[Token], scope: frozenset[str] | None = None) -> Any:
        if self.depth > MAX_DEPTH:
            raise Refused("nested too deeply")
        parser = type(self)(tokens, self.context, self.scope if scope is None else scope,
                            self.depth + 1)
        return parser.whole()


    def starts_factor(self) -> bool:
        token = self.peek()
        if token is None:
            return False
        if token.kind == "op":
            return token.value in "([{'" or token.value == "|"
        if token.kind == "cmd":
            return token.value not in EXPLICIT_PRODUCTS and token.value not in RELATIONS \
                and token.value not in BREAKS and token.value not in (
                    "\\div", "\\pm", "\\mp", "\\}", "\\rfloor", "\\rceil", "\\otimes")
        return token.kind in ("letter", "num", "word", "dots", "refuse", "begin", "text")


    def starts_factor_at(self, position: int) -> bool:
        saved = self.index
        self.index = position
        try:
            return self.starts_factor()
        finally:
            self.index = saved


    def until_closer(self, opener: str, closer: str) -> tuple[list[Token], int]:
        """Tokens up to the bracket closing the one just read; moves past it."""
        depth = 1
        start = self.index
        while self.index < len(self.tokens):
            token = self.tokens[self.index]
            if ((token.kind == "op" and token.value in "([")
                    or (token.kind == "cmd" and token.value == "\\{")):
                depth += 1
            elif ((token.kind == "op" and token.value in ")]")
                  or (token.kind == "cmd" and token.value == "\\}")):
                depth -= 1
            elif token.kind == "op" and token.value == "{":
                self.index = group_end(self.tokens, self.index)
            if depth == 0:
                inner = self.tokens[start:self.index]
                self.index += 1
                return inner, self.index - 1
            self.index += 1
        raise Refused("unbalanced parentheses")


    def peek_value(self, offset: int) -> str | None:
        token = self.peek(offset)
        return token.value if token is not None else None


    def at_script(self, offset: int) -> bool:
        token = self.peek(offset)
        return token is not None and token.kind == "op" and token.value in "_^"


    def postfix(self, expr: Any, *, allow_scripts: bool = True, element: bool = False
                ) -> Any:
        """Scripts and factorials after a factor: `(a+b)^2`, `n!`. With `element`, a
        subscript after brackets takes an element: `(AB)_{ik}` is the entry (i, k) of AB,
        the unknown function `element(AB, i, k)` (what an entry of a product is, the
        notes say elsewhere), and `\\mathbb{E}[g^2]_t` is `E(g^2, t)`, as `f(x)_i` is."""
        sympy = self.sympy
        while True:
            if element and allow_scripts and self.at("_"):
                self.index += 1
                indices = self.indices(self.group())
                from sympy.core.function import AppliedUndef

                if isinstance(expr, AppliedUndef):
                    expr = sympy.Function(expr.func.__name__)(*expr.args, *indices)
                else:
                    expr = sympy.Function("element")(expr, *indices)
                continue
            if allow_scripts and self.at("^"):
                self.index += 1
                exponent_tokens = self.group()
                text = "".join(t.value for t in exponent_tokens)
                if text in TRANSPOSE:
                    if not self.context.matrices:
                        raise Refused("matrix/vector expression")
                    expr = Transposed.get()(expr)
                    continue
                expr = expr ** self.sub(exponent_tokens)
            elif allow_scripts and self.at("_"):
                raise Refused("subscript on an expression")
            elif self.at("!"):
                self.index += 1
                expr = sympy.factorial(expr)
            elif self.at("\\evaluatedat") and self.peek_value(1) == "_":
                # \left. f(x) \right|_{x=0}: the group evaluated there
                self.index += 2
                place = split_top(self.group(), {"="})
                if len(place) != 2 or not place[0] or not place[1]:
                    raise Refused("evaluation bar without `variable = value`")
                variable = self.sub(place[0])
                if not isinstance(variable, sympy.Symbol):
                    raise Refused("evaluation bar at an expression")
                expr = sympy.Subs(expr, variable, self.sub(place[1]))
            else:
                return expr

    # ----------------------------------------------------------------- the parts' seams
    @abstractmethod
    def whole(self) -> Any:
        """All the tokens as one expression (`parser.py`)."""

    @abstractmethod
    def term(self) -> Any:
        """A product or quotient, up to the next `+`/`-` (`parser.py`)."""

    @abstractmethod
    def run(self, *, single: bool = False, function_argument: bool = False) -> Any:
        """Factors multiplied implicitly (`parser.py`)."""

    @abstractmethod
    def arguments(self, inner: list[Token]) -> list[Any]:
        """A function's arguments (`parser_operators.py`)."""

    @abstractmethod
    def relation_or_expression(self, tokens: list[Token]) -> Any:
        """An argument or a condition: an expression, or one relation between two
        (`parser_operators.py`)."""

    @abstractmethod
    def environment(self, name: str, *, delimited: bool = False) -> Any:
        """`cases` and matrices (`parser_environments.py`)."""

    @abstractmethod
    def function(self, name: str, start: int | None = None) -> Any:
        """A named function applied, its name starting at token `start`
        (`parser_operators.py`)."""

    @abstractmethod
    def expectation(self, subscript: list[Token] | None = None) -> Any:
        """`\\mathbb{E}[…]` (`parser_calculus.py`)."""

    @abstractmethod
    def transpose(self, symbol: Any) -> Any:
        """`X^T`, or `w^T x` between two vectors (`parser_environments.py`)."""

    @abstractmethod
    def transpose_applied(self, value: Any) -> Any:
        """`\\mu(X)^T` (`parser_environments.py`)."""

    @abstractmethod
    def indices(self, subscript: list[Token]) -> list[Any]:
        """A subscript's indices: `{ij}`, `{i,j}`, `{t-1}` (`parser_names.py`)."""

    @abstractmethod
    def name_factor(self) -> Any:
        """A name with its scripts, applied when it is a function (`parser_names.py`)."""

    @abstractmethod
    def application(self, key: str, base: str, is_word: bool, scripted: bool,
                    primes: int) -> Callable[[str], Any] | None:
        """The applied function's builder when `name(` applies it, None when the bracket
        multiplies (`parser_applications.py`)."""

    @abstractmethod
    def bracket_holds_arguments(self) -> bool:
        """Whether the `[` after a name holds an argument list (`parser_applications.py`)."""

    @abstractmethod
    def fraction(self) -> Any:
        """`\\frac{a}{b}`, a derivative when it is one (`parser_derivatives.py`)."""

    @abstractmethod
    def big_operator(self, kind: str) -> Any:
        """`\\sum` or `\\prod` with its limits and body (`parser_calculus.py`)."""

    @abstractmethod
    def limit(self) -> Any:
        """`\\lim_{x \\to a}` (`parser_calculus.py`)."""

    @abstractmethod
    def blackboard(self) -> Any:
        """`\\mathbb{E}[…]`, `\\mathbb{R}` (`parser_calculus.py`)."""

    @abstractmethod
    def integral(self, count: int) -> Any:
        """`\\int`, `\\iint`, `\\iiint` (`parser_calculus.py`)."""

    @abstractmethod
    def norm(self) -> Any:
        """`\\|x\\|` (`parser_operators.py`)."""

    @abstractmethod
    def bracket_after(self) -> bool:
        """Whether a `[` follows `E_{…}` (`parser_applications.py`)."""
