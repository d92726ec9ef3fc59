"""Fractions and derivatives: `\\frac{dy}{dx}`, `\\frac{\\partial^2 f}{\\partial x^2}`,
`\\nabla_w L`, `\\partial_x f`, `y'`."""

from __future__ import annotations

from typing import Any

from builder.formula.parser_calculus import is_differential_d
from builder.formula.reader import Reader
from builder.formula.tokens import (
    Refused,
    Token,
)
from builder.formula.vocabulary import GREEK, known_function


class DerivativeReader(Reader):
    """Fractions, derivatives and gradients."""

    def fraction(self) -> Any:
        numerator = self.group()
        denominator = self.group()
        derivative = self.derivative(numerator, denominator)
        if derivative is not None:
            return derivative
        top, bottom = self.sub(numerator), self.sub(denominator)
        sympy = self.sympy
        if isinstance(top, sympy.Integer) and isinstance(bottom, sympy.Integer) and bottom:
            return self.postfix(sympy.Rational(top, bottom))  # \frac{1}{2}: a number
        if top == 1:
            return self.postfix(sympy.Pow(bottom, -1))
        return self.postfix(top / bottom)

    def derivative(self, numerator: list[Token], denominator: list[Token]) -> Any:
        """`\\frac{d}{dx} f`, `\\frac{dJ}{da}`, `\\frac{\\partial L}{\\partial W}`,
        `\\frac{d^2 y}{dx^2}`; None when the fraction is not a derivative."""
        sympy = self.sympy

        def is_d(token: Token) -> bool:
            return is_differential_d(token) or (
                token.kind == "cmd" and token.value == "\\partial")

        if numerator and denominator and numerator[0].value == "\\partial" and \
                not is_d(denominator[0]):
            raise Refused("\\frac{\\partial y}{h}: no ∂ under the line")
        if not numerator or not denominator or not is_d(numerator[0]) or \
                not is_d(denominator[0]):
            return None
        if numerator[0].kind == "letter" and len(numerator) > 1 and \
                numerator[1].value == "_":
            return None  # d_k is a name
        rest = numerator[1:]
        order = 1
        if rest and rest[0].value == "^":
            if len(rest) < 2:
                raise Refused("incomplete formula")
            exponent = rest[1] if rest[1].value != "{" else (rest[2] if len(rest) > 2 else None)
            if exponent is None or exponent.kind != "num":
                raise Refused("derivative of unknown order")
            order = int(exponent.value)
            rest = rest[2:] if rest[1].value != "{" else rest[4:]
        variables = self.derivative_variables(denominator)
        if sum(count for _, count in variables) != order:
            raise Refused("derivative orders do not match")
        named = known_function(rest[0].value.strip()) \
            if len(rest) == 1 and rest[0].kind == "word" else None
        if named is not None and len(variables) == 1:
            # `\frac{d\text{ReLU}}{dz}`: the function's derivative at its variable
            variable, count = variables[0]
            return sympy.Derivative(named(variable), (variable, count))
        # the operator form (no `rest`) applies to the rest of the term
        operand = self.sub(rest) if rest else self.operand()
        return sympy.Derivative(operand, *variables)

    def gradient(self, token: Token) -> Any:
        """`\\nabla_\\theta J`: the derivative of the rest of the term; `\\nabla_\\theta^2
        J` (or `\\nabla^2_\\theta J`, the Hessian) its second derivative."""
        sympy = self.sympy
        self.index += 1
        order = 1
        if self.at("^") and self.peek_value(2) == "_":
            self.index += 1
            order = self.derivative_order(self.group())
        if not self.at("_"):
            return self.gradient_name()
        self.index += 1
        variable = self.sub(self.group())
        if not isinstance(variable, (sympy.Symbol, sympy.Indexed)):
            raise Refused("derivative with respect to an expression")
        if self.at("^") and order == 1:
            self.index += 1
            order = self.derivative_order(self.group())
        return sympy.Derivative(self.operand(), (variable, order))

    def derivative_order(self, exponent: list[Token]) -> int:
        """The 2 of `\\nabla^2_\\theta`: a whole number, or refused."""
        if len(exponent) != 1 or exponent[0].kind != "num" or not exponent[0].value.isdigit():
            raise Refused("derivative of unknown order")
        return int(exponent[0].value)

    def partial(self, token: Token) -> Any:
        """`\\partial_{o_j} l(y, \\hat{y})`: the partial derivative of the rest of the term
        with respect to the subscript. A `\\partial` without one says neither (`0 \\in
        \\partial f(x)` is a subdifferential, a set; `\\frac{\\partial y}{h}` lacks
        the ∂ under the line)."""
        sympy = self.sympy
        self.index += 1
        if not self.at("_"):
            raise Refused("∂ without a variable (∂f: a subdifferential?)")
        self.index += 1
        variable = self.sub(self.group())
        if not isinstance(variable, (sympy.Symbol, sympy.Indexed)):
            raise Refused("derivative with respect to an expression")
        if self.at("^"):
            raise Refused("partial derivative notation (∂_x^n)")
        return sympy.Derivative(self.operand(), variable)

    def gradient_name(self) -> Any:
        """`\\nabla E`, `\\nabla f(x)`: the gradient of a name, with respect to what the note
        does not say, read as a quantity (`nabla_E`) or a function (`nabla_f(x)`) of its
        own. Anything else (`\\nabla \\log p`, `\\nabla^2 f`) is refused."""
        sympy = self.sympy
        following = self.peek()
        if following is None or not (following.kind == "letter" or (
                following.kind == "cmd" and following.value[1:] in GREEK)):
            raise Refused("gradient (\\nabla) without a variable")
        operand = self.name_factor()
        if isinstance(operand, sympy.Symbol):
            return sympy.Symbol(f"nabla_{operand.name}",
                                commutative=operand.is_commutative is not False)
        if isinstance(operand, sympy.core.function.AppliedUndef):
            return sympy.Function(f"nabla_{operand.func.__name__}")(*operand.args)
        raise Refused("gradient (\\nabla) without a variable")

    def operand(self) -> Any:
        """What `\\frac{d}{dx}` or `\\nabla_\\theta` applies to: the rest of the term, unless
        that is a product of function values (`\\nabla \\log \\pi(a) Q(s, a)`: which?)."""
        operand = self.term()
        if isinstance(operand, self.sympy.Mul):
            applied = [factor for factor in operand.args
                       if isinstance(factor, self.sympy.Function) or (
                           isinstance(factor, self.sympy.Pow) and
                           isinstance(factor.base, self.sympy.Function))]
            if len(applied) >= 2:
                raise Refused("derivative of a product: of which factors?")
        return operand

    def derivative_variables(self, tokens: list[Token]) -> list[tuple[Any, int]]:
        """`dx`, `\\partial \\theta_t`, `dx^2`, `\\partial x \\partial y`."""
        pieces: list[list[Token]] = []
        for token in tokens:
            if (is_differential_d(token) and (not pieces or pieces[-1])) \
                    or (token.kind == "cmd" and token.value == "\\partial"):
                pieces.append([])
            elif pieces:
                pieces[-1].append(token)
            else:
                raise Refused("derivative with respect to an expression")
        variables: list[tuple[Any, int]] = []
        for piece in pieces:
            count = 1
            if len(piece) >= 2 and piece[-2].value == "^" and piece[-1].kind == "num":
                count = int(piece[-1].value)
                piece = piece[:-2]
            elif len(piece) >= 4 and piece[-4].value == "^" and piece[-3].value == "{" \
                    and piece[-2].kind == "num" and piece[-1].value == "}":
                count = int(piece[-2].value)
                piece = piece[:-4]
            if not piece:
                raise Refused("derivative with respect to an expression")
            variable = self.sub(piece)
            if not isinstance(variable, (self.sympy.Symbol, self.sympy.Indexed)):
                raise Refused("derivative with respect to an expression")
            variables.append((variable, count))
        if not variables:
            raise Refused("derivative with respect to an expression")
        return variables
