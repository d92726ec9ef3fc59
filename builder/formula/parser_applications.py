"""Applications: whether a name followed by a bracket is applied to arguments there
(`f(x)`, `D_{KL}[q \\Vert p]`, `\\sigma(z)`) or multiplies what the bracket holds
(`w_i (y_i - x_i)^2`), and the function it then is."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from builder.formula.reader import Reader
from builder.formula.tokens import (
    Refused,
    group_end,
    is_single_name,
    split_top,
    top_level,
)
from builder.formula.vocabulary import (
    CONVENTIONAL_FUNCTIONS,
    GREEK,
    RELATIONS,
    SIZE_NAMES,
    known_function,
)


class ApplicationReader(Reader):
    """Whether a name is applied, as a function, to what follows it."""

    def bracket_holds_arguments(self) -> bool:
        """`D_{KL}[q \\Vert p]`, `J[y; \\eta]`: a `[` after a name holding a bar, a comma
        or a semicolon at its top level is an argument list (a product's factor would not
        hold one)."""
        saved = self.index
        try:
            self.index += 1
            inner, _ = self.until_closer("[", "]")
        except Refused:
            return False
        finally:
            self.index = saved
        return any(t.value in (",", ";", "|", "\\|", "\\mid") and t.kind in ("op", "cmd")
                   for t in top_level(inner))

    def bracket_after(self) -> bool:
        """After `E_{…}`, is there a `[`? (`E_{\\pi}[…]` is an expectation)."""
        end = group_end(self.tokens, self.index + 2)
        return end + 1 < len(self.tokens) and self.tokens[end + 1].value == "["


    def application(self, key: str, base: str, is_word: bool, scripted: bool,
                    primes: int) -> Callable[[str], Any] | None:
        """A builder of the applied function when `name(` applies it; None when the
        parenthesis multiplies."""
        sympy = self.sympy
        declarations = self.context.declarations
        start = self.index
        opener = self.next()
        inner, _ = self.until_closer(opener.value, ")" if opener.value == "(" else "]")
        known = known_function(base) if is_word and not scripted else None
        if base == "sigma" and not scripted and key == "sigma" + "_prime" * primes and \
                "sigma" not in declarations.defined and "sigma" not in declarations.functions:
            known = known_function("sigmoid")  # σ(z): the logistic function
        if base == "E" and is_word is False and opener.value == "[":
            known = None
        parts = split_top(inner, {",", ";"})
        conditional = split_top(inner, {"|", "\\mid"})
        multi = len(parts) > 1 or len(conditional) > 1 or any(
            t.kind == "cmd" and t.value in ("\\|",) for t in top_level(inner))
        if known is not None:
            if len(parts) > 1 and base not in ("max", "min"):
                raise Refused(f"{base} of several arguments")
            values = [self.sub(part) for part in parts]
            if primes:
                if len(values) != 1 or not isinstance(values[0], sympy.Symbol):
                    raise Refused("derivative of a function at an expression")
                return lambda _name: sympy.Derivative(known(values[0]), (values[0], primes))
            return lambda _name: known(*values)
        relation = any(t.kind in ("op", "cmd") and t.value in RELATIONS and t.value != "\\sim"
                       for t in top_level(inner))
        single = is_single_name(inner)
        if key in declarations.functions or base in declarations.functions or is_word:
            decision = True
        elif key in declarations.scalars or base in declarations.scalars or \
                key in declarations.matrices:
            decision = False
        elif multi or relation or single:
            decision = True
        else:
            plain = key in declarations.plain
            quantity = key in self.context.bare or (base in SIZE_NAMES and plain)
            applied = key in declarations.applied or (
                base in CONVENTIONAL_FUNCTIONS and not quantity)
            if applied and not plain:
                decision = True
            elif plain and not applied:
                decision = False
            elif opener.spaced and not applied and base not in CONVENTIONAL_FUNCTIONS \
                    and not primes and not is_word and (base.islower() and (
                        len(base) == 1 or base in GREEK)):
                # `w_i (y_i - x_i)^2`, `\eta (y_j - \hat{y}_j)`: a space before the
                # parenthesis, and nothing in the card applies the name: a product
                decision = False
            else:
                raise Refused("f(…): function or product? declare it (let: f function)")
        if not decision:
            self.index = start
            return None
        arguments = self.arguments(inner)
        if primes and len(arguments) == 1 and isinstance(arguments[0], sympy.Symbol):
            return lambda name: sympy.Derivative(
                sympy.Function(name.replace("_prime", ""))(arguments[0]),
                (arguments[0], primes))
        commutative = all(getattr(argument, "is_commutative", True) is not False
                          for argument in arguments)
        return lambda name: sympy.Function(name, commutative=commutative)(*arguments)
