"""Commands: the readers of the LaTeX commands that are not names or calculus of
their own (`\\sqrt`, `\\det`, `\\binom`, `\\langle a, b \\rangle`, `\\Sigma_i`,
`\\arg\\min`…), each called by `Parser.command` with the command's token at the
cursor (parser.py's `_COMMANDS` says which reads which)."""

from __future__ import annotations

from typing import Any

from builder.formula.functions import InnerProduct
from builder.formula.reader import Reader
from builder.formula.tokens import Refused, Token, group_end, script_label, split_top, top_level


class CommandReader(Reader):
    """LaTeX commands, one method each."""

    def fraction_command(self, token: Token) -> Any:
        self.index += 1
        return self.fraction()

    def square_root(self, token: Token) -> Any:
        """`\\sqrt{x}`, `\\sqrt[3]{x}`; `\\surd` (`√` typed) reads the same and also takes
        a parenthesised radicand whole, as `√(x + 1)` is read in plain text."""
        self.index += 1
        degree = None
        if token.value == "\\surd" and self.at("("):
            self.index += 1
            inner, _ = self.until_closer("(", ")")
            return self.postfix(self.sympy.sqrt(self.sub(inner)))
        if token.value == "\\sqrt" and self.at("["):
            self.index += 1
            inner, _ = self.until_closer("[", "]")
            degree = self.sub(inner)
        radicand = self.sub(self.group())
        return self.postfix(self.sympy.root(radicand, degree) if degree is not None
                            else self.sympy.sqrt(radicand))

    def sum_or_product(self, token: Token) -> Any:
        self.index += 1
        return self.big_operator("prod" if token.value == "\\prod" else "sum")

    def capital_sigma(self, token: Token) -> Any:
        """`\\Sigma_{i}`: a sum; `\\Sigma` alone or numbered (`\\Sigma_1`, `\\Sigma _ {2}`):
        a name (a covariance), as no sum runs over a number; so is a bold one
        (`\\boldsymbol{\\Sigma}_q`, a matrix) and one the equation writes with nothing
        after it to sum (`\\mathcal{N}(\\mu_q, \\Sigma_q)`, `\\Sigma_r \\in \\mathbb{R}^{r
        \\times r}`: `ParseContext.sigma_names`)."""
        if self.peek_value(1) == "_" and not token.bold:
            end = group_end(self.tokens, self.index + 2)
            script = self.tokens[self.index + 2:end + 1]
            following = self.tokens[end + 1] if end + 1 < len(self.tokens) else None
            applied = following is not None and following.value == "(" and \
                not any(t.value == "=" for t in script)  # \Sigma_\theta(x_t, t): a covariance
            named = script_label(script) in self.context.sigma_names
            if not applied and not named and \
                    not all(t.kind == "num" or t.value in "{}" for t in script):
                return self.sum_or_product(token)
        return self.name_factor()

    def function_command(self, token: Token) -> Any:
        self.index += 1
        return self.function(token.value[1:])

    def determinant(self, token: Token) -> Any:
        """`\\det(A)`, `\\det A`, `\\det \\frac{\\partial f}{\\partial z}` (of one factor);
        `\\det |A|` and `\\det A B` (of A, or of AB?) are refused."""
        self.index += 1
        if not self.at("(", "["):
            if self.at("|") or not self.starts_factor():
                raise Refused("\\det without parentheses")
            matrix = self.run(single=True)
            if self.starts_factor() and not self.at("|"):
                raise Refused("\\det A B: of A, or of AB?")
            return self.sympy.Function("det")(matrix)
        opener = self.next()
        inner, _ = self.until_closer(opener.value, ")" if opener.value == "(" else "]")
        return self.postfix(self.sympy.Function("det")(self.sub(inner)))

    def binomial(self, token: Token) -> Any:
        self.index += 1
        top = self.sub(self.group())
        bottom = self.sub(self.group())
        return self.postfix(self.sympy.binomial(top, bottom))

    def braces(self, token: Token) -> Any:
        """`\\{…\\}` around an expression: grouping; around a list: a set (refused)."""
        self.index += 1
        inner, _ = self.until_closer("\\{", "\\}")
        if any(t.kind == "op" and t.value == "," for t in top_level(inner)):
            raise Refused("set expression")
        return self.postfix(self.sub(inner))

    def angle_brackets(self, token: Token) -> Any:
        """`\\langle a, b \\rangle`: the inner product of a and b (a scalar; at the
        numbers a check samples, their product). One argument (an average) or a bra-ket
        is refused."""
        self.index += 1
        start = self.index
        depth = 0
        while self.index < len(self.tokens):
            current = self.tokens[self.index]
            if current.kind == "cmd" and current.value == "\\langle":
                depth += 1
            elif current.kind == "cmd" and current.value == "\\rangle":
                if depth == 0:
                    break
                depth -= 1
            self.index += 1
        else:
            raise Refused("unbalanced \\langle")
        inner = self.tokens[start:self.index]
        self.index += 1
        parts = split_top(inner, {","})
        if len(parts) != 2 or not all(parts) or any(
                t.value in ("|", "\\mid", "\\vert") for t in top_level(inner)):
            raise Refused("⟨…⟩ that is not an inner product ⟨a, b⟩")
        return self.postfix(InnerProduct.get()(self.sub(parts[0]), self.sub(parts[1])))

    def limit_command(self, token: Token) -> Any:
        self.index += 1
        return self.limit()

    def optimum(self, token: Token) -> Any:
        """`\\arg\\min_x`, `\\argmax`, `\\sup_{y}`, `\\inf_{u}`: operators over what follows,
        read as `\\max_{a}` is (docs/format.md): unknown functions of their operand."""
        self.index += 1
        name = token.value[1:]
        if name == "arg":
            following = self.peek()
            if following is None or following.value not in ("\\min", "\\max"):
                raise Refused("\\arg without \\min or \\max")
            self.index += 1
            name = "arg" + following.value[1:]
        return self.function(name, self.index - 2 if name.startswith("arg") and
                             token.value == "\\arg" else self.index - 1)

    def infinity(self, token: Token) -> Any:
        self.index += 1
        return self.postfix(self.sympy.oo)

    def blackboard_command(self, token: Token) -> Any:
        return self.blackboard()

    def norm_command(self, token: Token) -> Any:
        return self.norm()

    def integral_command(self, token: Token) -> Any:
        self.index += 1
        return self.integral({"\\int": 1, "\\iint": 2, "\\iiint": 3}[token.value])

    def name_command(self, token: Token) -> Any:
        """A Greek letter or a decorated name (`\\hat{y}`)."""
        return self.name_factor()
