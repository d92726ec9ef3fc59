"""Names: `x`, `H_{in}`, `\\hat{y}`, `\\text{softmax}` with their scripts, applied to
arguments when they are functions."""

from __future__ import annotations

import re
from typing import Any

from builder.formula.context import NameUse
from builder.formula.reader import Reader
from builder.formula.tokens import (
    Refused,
    Token,
    script_label,
    split_top,
)
from builder.formula.vocabulary import (
    GREEK,
    OPTIMA,
    PROSE,
    RELATIONS,
    TRANSPOSE,
    WORD_FUNCTIONS,
    WORD_NAMES,
)


class NameReader(Reader):
    """Names and symbols: how a name in the notes becomes a sympy symbol."""

    # ----------------------------------------------------------------- names
    def name_factor(self) -> Any:
        """A name (`x`, `H_{in}`, `\\hat{y}`, `\\text{softmax}`) with its scripts, applied
        to arguments when it is a function."""
        sympy = self.sympy
        token = self.peek()
        assert token is not None
        if token.kind in ("letter", "word") and token.value == "e" and \
                self.peek_value(1) == "^":  # e^x, and upright as ISO writes it (\text{e}^x)
            self.index += 2
            return sympy.exp(self.sub(self.group()))
        if token.kind == "word" and token.value.strip() == "e":
            # `\mathrm{e}^{-x}`: an upright e is Euler's number, never a variable
            self.index += 1
            if self.at("^"):
                self.index += 1
                return sympy.exp(self.sub(self.group()))
            return sympy.E
        if token.kind == "letter" and token.value == "E" and (
                self.peek_value(1) == "[" or (self.peek_value(1) == "_" and self.bracket_after())):
            self.index += 1
            return self.expectation()
        start = self.index
        base, is_word = self.read_base()
        if is_word and base in OPTIMA and self.at("_"):
            return self.function(base, start)  # \mathrm{argmax}_{v}, \mathop{\text{arg min}}_d
        if is_word and base in WORD_FUNCTIONS and not self.at("_", "^", "'"):
            return self.function(base)
        if is_word and base in WORD_FUNCTIONS and self.at("^"):
            # `\textrm{sech}^2 x`: the square of sech x, as for `\cosh^2 x`; any other
            # superscript (`^{-1}`: the inverse?) is not guessed.
            self.index += 1
            exponent = self.group()
            if len(exponent) != 1 or not exponent[0].value.isdigit():
                raise Refused("superscript on a function written as a word")
            return self.function(base) ** int(exponent[0].value)
        subscript: list[Token] | None = None
        superscript: list[Token] | None = None
        primes = 0
        for _ in range(3):
            if self.at("_") and subscript is None:
                self.index += 1
                subscript = self.group()
            elif self.at("'"):
                while self.at("'"):
                    self.index += 1
                    primes += 1
            elif self.at("^") and superscript is None:
                self.index += 1
                superscript = self.group()
        if subscript is not None and base in self.context.declarations.operators:
            # `\text{H}_{\log p(x)}` elsewhere: H is an operator on its subscript (a
            # Hessian), so `\text{H}_1` is not a name; what it gives is not guessed
            raise Refused(f"{base}_{{…}} applies {base} to its subscript: not read")
        if superscript and len(superscript) == 1 and superscript[0].value == "\\prime":
            primes += 1
            superscript = None
        if base in ("pi",) and subscript is None and superscript is None and primes == 0 \
                and not self.at("("):
            return sympy.pi
        label = ""
        transpose = False
        power = None
        step: list[Token] | None = None
        if superscript is not None:
            text = "".join(t.value for t in superscript)
            if text in TRANSPOSE or text == "\\top":
                transpose = True
            elif superscript[0].value == "(" and superscript[-1].value == ")":
                label = "__" + script_label(superscript[1:-1])
            elif any(t.value == "," for t in superscript) or text in ("*", "-", "+", "\\star",
                                                                          "\\ast", "\\dagger"):
                label = "__" + script_label(superscript)
            elif len(superscript) > 1 and all(t.kind == "letter" for t in superscript):
                label = "__" + script_label(superscript)  # x^{cx}, \delta^{out}: a label
            elif self.context.labels and len(superscript) == 1 and \
                    superscript[0].kind == "letter" and subscript is not None and \
                    superscript[0].value not in self.context.steps | \
                    self.context.declarations.indices:
                label = "__" + script_label(superscript)  # g_j^w beside g_j^{cx}: labels too
            elif len(superscript) == 1 and superscript[0].kind == "letter" and \
                    superscript[0].value in self.scope and subscript is not None:
                # s^n_t in a sum over n: an element, not a power
                subscript = [*subscript, Token("op", ",", 0, 0), superscript[0]]
            else:
                letters = {t.value for t in superscript if t.kind == "letter"}
                declared = self.context.declarations
                if letters and letters <= declared.indices:
                    step = superscript
                elif letters & self.context.steps and not letters & declared.scalars:
                    # x^t next to z^{t-1}: time steps (declare `t scalar` for powers)
                    step = superscript
                elif len(superscript) == 1 and superscript[0].kind == "letter" and \
                        superscript[0].value.isupper() and len(base) == 1 and \
                        base.isupper():
                    # W^O, W^Q beside W^K: the output projection, or a power of W?
                    raise Refused(f"{base}^{superscript[0].value}: a power or a label?")
                else:
                    power = superscript
        name = base + ("_prime" * primes if primes else "")
        key = base if subscript is None else f"{base}_{script_label(subscript)}"
        if primes:
            key += "_prime" * primes
        # application: f(x), p(x|C), V^\pi(s), \text{softmax}(z)
        if self.at("(") or (self.at("[") and (is_word or self.bracket_holds_arguments())):
            applied = self.application(key, base, is_word, power is not None or bool(label),
                                       primes)
            if applied is not None:
                raised = self.sub(power) if power and all(
                    t.kind in ("num", "op") or t.value == "\\frac" for t in power) else None
                if raised is not None and raised.is_number:
                    # \mu^2(X) is \mu(X) squared; f^{-1}(x) an inverse or a reciprocal
                    if raised == -1:
                        raise Refused(f"{base}^{{-1}}(…): inverse or reciprocal?")
                    power = None
                function_name = key + label + ("^" + script_label(power) if power else "")
                result = applied(function_name)
                if subscript is not None and self.runs_over_index(subscript) and \
                        isinstance(result, sympy.core.function.AppliedUndef):
                    # g_i(x) in a sum over i: one function per i, g(x, i), as f(x)_i is
                    # f(x, i); a function named g_i would not change with i
                    family = base + label + ("^" + script_label(power) if power else "")
                    result = sympy.Function(family, commutative=result.is_commutative
                                            is not False)(*result.args,
                                                          *self.indices(subscript))
                if power is None and raised is not None:
                    result = result ** raised
                if self.at("_"):
                    self.index += 1
                    result = sympy.Function(result.func.__name__)(
                        *result.args, *self.indices(self.group()))
                if self.at("^"):
                    self.index += 1
                    superscript = self.group()
                    if "".join(t.value for t in superscript).strip() in TRANSPOSE:
                        return self.transpose_applied(result)  # \mu(X)^T
                    result = result ** self.sub(superscript)
                return result
        # `t'_k`: the primed name is a name of its own (`t_prime`), not `t`
        symbol = self.symbol(name + label, base + "_prime" * primes + label, subscript)
        if step is not None:
            time = self.sub(step)
            symbol = sympy.Indexed(symbol.base, *symbol.indices, time) \
                if isinstance(symbol, sympy.Indexed) else \
                sympy.Indexed(sympy.IndexedBase(str(symbol),
                                                commutative=not self.context.matrices), time)
        if transpose:
            return self.transpose(symbol)
        if power is not None:
            symbol = symbol ** self.sub(power)
        return self.postfix(symbol, allow_scripts=False)

    def read_base(self) -> tuple[str, bool]:
        """The name's base and whether it is a word (multi-letter, upright)."""
        token = self.next()
        if token.kind == "word":
            text = token.value.strip().replace("\\_", "_")  # \text{rel\_err}
            if text.replace(" ", "").replace("\\,", "") in ("argmin", "argmax"):
                text = text.replace(" ", "").replace("\\,", "")  # \text{arg min}
            if not text or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", text) or text in PROSE:
                raise Refused("text in formula")
            return text, len(text) > 1
        if token.kind == "cmd" and token.value[1:] in GREEK:
            name = token.value[1:]
            following = self.peek()
            if name == "Delta" and following is not None and following.kind == "letter" \
                    and not self.at_script(1):
                return f"Delta_{self.next().value}", True  # Δx: one quantity
            if name == "Delta" and self.peek_value(0) == "{" and self.peek_value(2) == "}":
                letter = self.peek(1)
                if letter is not None and letter.kind == "letter" and not self.at_script(3):
                    self.index += 3
                    return f"Delta_{letter.value}", True  # Δ{x}: as Δx
            return name, False
        if token.kind == "cmd":
            decoration = {"\\hat": "hat", "\\widehat": "hat", "\\bar": "bar",
                          "\\overline": "bar", "\\tilde": "tilde", "\\widetilde": "tilde",
                          "\\vec": "vec", "\\dot": "dot", "\\ddot": "ddot",
                          "\\check": "check", "\\breve": "breve", "\\mathcal": "cal",
                          "\\mathscr": "scr", "\\mathfrak": "frak"}.get(token.value)
            if decoration is None:
                raise Refused(f"unexpected {token.value}")
            inner = self.group()
            parser = type(self)(inner, self.context, self.scope, self.depth + 1)
            if not inner:
                raise Refused("empty decoration")
            base, word = parser.read_base()
            if parser.peek() is not None:
                raise Refused("decoration over an expression")
            return f"{base}_{decoration}", word
        # a run of italic letters, from its first letter only (`ABC` is not `A` times a
        # word `BC`)
        before = self.tokens[self.index - 2] if self.index >= 2 else None
        if before is not None and before.kind == "letter" and before.end == token.pos:
            return token.value, False
        letters = [token.value]
        position = self.index
        end = token.end
        while position < len(self.tokens) and self.tokens[position].kind == "letter" and \
                self.tokens[position].pos == end:  # `query key` is two runs
            letters.append(self.tokens[position].value)
            end = self.tokens[position].end
            position += 1
        run = "".join(letters)
        after = self.tokens[position] if position < len(self.tokens) else None
        if len(run) == 1 and after is not None and after.kind == "num" and \
                after.pos == token.end and "." not in after.value:
            if not run.isupper():
                raise Refused(f"{run}{after.value}: a name or a product?")
            self.index += 1
            return run + after.value, False  # F1, L2: a name
        if run in OPTIMA | WORD_FUNCTIONS and len(run) >= 3 and after is not None and \
                after.kind == "op" and after.value == "_":
            if run not in OPTIMA:
                raise Refused(f"text in formula ({run})")
            self.index += len(run) - 1
            return run, True  # min_{\theta} without a backslash
        hyphen = self.tokens[position + 1] if after is not None and after.value == "-" and \
            after.pos == end and position + 1 < len(self.tokens) else None
        if hyphen is not None and after is not None and hyphen.kind == "letter" and \
                hyphen.pos == after.end:
            rest = position + 1
            tail: list[str] = []
            while rest < len(self.tokens) and self.tokens[rest].kind == "letter" and \
                    (not tail or self.tokens[rest].pos == self.tokens[rest - 1].end):
                tail.append(self.tokens[rest].value)
                rest += 1
            if len(tail) >= 3:  # F-measure
                self.index = rest
                return f"{run}_{''.join(tail)}", True
        if len(run) > 1:
            followed = after is not None and after.kind == "op" and after.value in "(["
            if run in WORD_FUNCTIONS and len(run) >= 3 and after is not None and \
                    after.kind == "op" and after.value == "^":
                followed = True  # `cosh^2 x` written without a backslash
            if run in WORD_NAMES or len(run) >= 4 or (len(run) >= 3 and followed):
                if not followed and run not in WORD_NAMES:
                    raise Refused(f"text in formula ({run})")  # [query key]
                self.index += len(run) - 1
                return run, True
        return token.value, False

    def runs_over_index(self, subscript: list[Token]) -> bool:
        """Whether a subscript names an index that runs here (`i` of `g_i(x)` inside
        `\\sum_i`, the free index of `y_k = …`), not a label (`p_\\theta`)."""
        letters = {t.value.lstrip("\\") for t in subscript
                   if t.kind == "letter" or (t.kind == "cmd" and t.value[1:] in GREEK)}
        running = self.scope | self.context.free_index | self.context.declarations.indices
        return bool(letters & running)

    def symbol(self, name: str, base: str, subscript: list[Token] | None) -> Any:
        sympy = self.sympy
        declarations = self.context.declarations
        if subscript is None:
            self.context.uses.append(NameUse(base, frozenset(), False, False, False))
            # an index (`i` of `\\prod_i \\lambda_i`) is a number even among matrices, and
            # must be the very symbol the sum or product binds
            index = name in self.scope | self.context.free_index | declarations.indices
            return (sympy.Symbol(name, commutative=False)
                    if self.context.matrices and not index else sympy.Symbol(name))
        letters = frozenset(t.value.lstrip("\\") for t in subscript
                            if t.kind == "letter" or (t.kind == "cmd" and t.value[1:] in GREEK))
        compound = any(t.kind == "op" and t.value in "+-," for t in subscript)
        scope = self.scope | self.context.free_index | declarations.indices
        all_indices = bool(letters & scope)
        self.context.uses.append(NameUse(base, letters, compound, all_indices))
        prefix = {"<": "lt", "\\le": "le"}.get(
            RELATIONS.get(subscript[0].value, subscript[0].value)) if subscript else None
        if prefix is not None and len(subscript) > 1:
            # x_{\leq t}, x_{<i}: the elements up to t, a quantity for each t (x_le[t])
            return sympy.Indexed(sympy.IndexedBase(f"{base}_{prefix}",
                                                   commutative=not self.context.matrices),
                                 self.sub(subscript[1:]))
        if any(t.kind == "op" and t.value == ":" for t in subscript):
            # x_{1:T}: the whole sequence, a quantity of its own beside its elements x_t
            return sympy.Symbol(f"{base}_{script_label(subscript)}",
                                commutative=not self.context.matrices)
        if base in self.context.indexed_bases or compound or all_indices:
            return sympy.Indexed(sympy.IndexedBase(base, commutative=not self.context.matrices),
                                 *self.indices(subscript))
        full = f"{name.split('__')[0]}_{script_label(subscript)}" + (
            "__" + name.split("__", 1)[1] if "__" in name else "")
        return sympy.Symbol(full, commutative=False) if self.context.matrices else \
            sympy.Symbol(full)

    def indices(self, subscript: list[Token]) -> list[Any]:
        tokens = subscript
        if tokens and tokens[0].value == "(" and tokens[-1].value == ")":
            tokens = tokens[1:-1]
        parts = split_top(tokens, {","})
        if len(parts) == 1 and all(t.kind in ("letter", "num") for t in tokens) and \
                len(tokens) > 1 and all(t.kind == "letter" or len(t.value) == 1
                                        for t in tokens):
            parts = [[token] for token in tokens]  # x_{ij}
        return [self.sub(part) for part in parts]
