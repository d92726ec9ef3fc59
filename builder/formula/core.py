"""compile: LaTeX as people write it in their notes → sympy → numpy (SPEC.md §1).

A display equation becomes relation chains (`A = B = C`, rows of `aligned`/`align`/`\\\\`),
each side a sympy expression or the reason it was refused. The reading is our own
tokenizer and recursive-descent parser that builds sympy directly: sympy's `parse_latex`
reads `\\text{softmax}` as a product of letters, `e^x` as a symbol `e` and `p(1-p)` as a
function call, and its antlr backend takes 2.5 s to import and ~90 ms per equation (24 s
for the seed notes), against a 2 s budget for `sheets check` on the whole deck.

The rule throughout: a wrong meaning is worse than no meaning. Where the LaTeX does not
say what it means (`a(b+c)`: a product or a function?), the card's declarations
(`<!-- let: f function -->`, README "Declarations") and how the card uses the name
elsewhere decide, and when they do not, the side is refused with a short reason that
`sheets check --coverage` groups.

sympy is imported on first use only; compiled equations are cached per (tex,
declarations) for the life of the process.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from builder.model import Card, Equation

__all__ = ["Chain", "CompiledEquation", "Declarations", "Formula", "NotNumeric", "NumericFunction", "Side",
           "compile_equation", "declarations_for", "formula", "numeric_function", "python_name"]

MAX_CHARACTERS = 4000
"""Longer equations are refused outright: nobody checks a page of algebra in one `$$`."""
MAX_DEPTH = 40
"""Groups nested deeper than this are refused (the parser recurses per level)."""


# --------------------------------------------------------------------------- results

@dataclass(frozen=True, slots=True)
class Side:
    """One side of a relation chain."""

    tex: str
    line: int
    """1-based sheet line where the side starts (rows of `aligned` have their own)."""
    expr: Any
    """The sympy expression, or None when refused."""
    reason: str | None
    """Why it was refused (short and groupable: "integral not supported")."""


@dataclass(frozen=True, slots=True)
class Chain:
    """`A = B \\approx C`: sides and the relations between them (`len(sides) - 1`)."""

    sides: tuple[Side, ...]
    relations: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CompiledEquation:
    equation: Equation
    chains: tuple[Chain, ...]
    reason: str | None
    """Why the whole equation was refused (then `chains` is empty)."""


class Refused(Exception):
    """Raised inside the parser; becomes a side's `reason`."""


# --------------------------------------------------------------------------- declarations

_KINDS = {"function": "functions", "functions": "functions", "scalar": "scalars",
          "scalars": "scalars", "matrix": "matrices", "matrices": "matrices",
          "vector": "matrices", "vectors": "matrices", "index": "indices",
          "indices": "indices"}


@dataclass(frozen=True, slots=True)
class Declarations:
    """What the LaTeX alone cannot say, from `<!-- let: … -->` and from the card's own use
    of its names. Names are Python names (`H_in`, `sigma`, `y_hat`)."""

    functions: frozenset[str] = frozenset()
    scalars: frozenset[str] = frozenset()
    matrices: frozenset[str] = frozenset()
    """Matrices and vectors: an expression using one is refused (checked as scalars it
    would commute)."""
    indices: frozenset[str] = frozenset()
    """Letters that index: `x_i`, and `x^t` for a declared `t`, take an array element."""
    applied: frozenset[str] = frozenset()
    """Context: names the card applies like functions (`p(x)`, `k(x, x')`)."""
    transposed: frozenset[str] = frozenset()
    """Context: upper-case names the card transposes (`X^T`): matrices."""
    defined: frozenset[str] = frozenset()
    """Context: functions the card defines (`\\sigma(z) = …`): not the sigmoid then."""
    steps: frozenset[str] = frozenset()
    """Context: letters of superscripts like `z^{t-1}` in the card: time steps."""
    plain: frozenset[str] = frozenset()
    """Context: names the card uses as values (`1 - p`)."""
    problems: tuple[str, ...] = ()
    """Declaration clauses that could not be read."""


def declarations_for(card: Card) -> Declarations:
    """The card's `let:` declarations plus what its equations show about each name."""
    found: dict[str, set[str]] = {kind: set() for kind in set(_KINDS.values())}
    problems: list[str] = []
    for body in card.declarations:
        for clause in re.split(r"[;\n]", body):
            words = clause.replace(",", " ").split()
            if not words:
                continue
            kind = _KINDS.get(words[-1].lower())
            if kind is None or len(words) < 2:
                problems.append(clause.strip())
                continue
            found[kind].update(python_name(word) for word in words[:-1])
    applied: set[str] = set()
    plain: set[str] = set()
    transposed: set[str] = set()
    steps: set[str] = set()
    defined: set[str] = set()
    for equation in card.equations:
        evidence = _evidence(equation.tex)
        applied |= evidence[0]
        plain |= evidence[1]
        defined |= evidence[2]
        try:
            tokens = _tokens(equation.tex)
        except Refused:
            continue
        transposed |= _transposed(tokens)
        steps |= _step_letters(tokens)
    return Declarations(functions=frozenset(found["functions"]),
                        scalars=frozenset(found["scalars"]),
                        matrices=frozenset(found["matrices"]),
                        indices=frozenset(found["indices"]),
                        applied=frozenset(applied), plain=frozenset(plain),
                        transposed=frozenset(transposed), steps=frozenset(steps),
                        defined=frozenset(defined),
                        problems=tuple(problems))


def python_name(tex: str) -> str:
    """`\\sigma` → `sigma`, `H_{in}` → `H_in`, `\\hat{y}` → `y_hat`: check.symbol_name."""
    from builder.check import symbol_name

    return symbol_name(tex)


# --------------------------------------------------------------------------- tokens

@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    """cmd, letter, num, op, text, word, space, rowsep, begin, end, dots, refuse."""
    value: str
    pos: int
    end: int


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_UNICODE = {"∥": "\\|", "−": "-", "×": "\\times ", "·": "\\cdot ", "⋅": "\\cdot ",
            "≤": "\\le ", "≥": "\\ge ", "≠": "\\ne ", "≈": "\\approx ", "∈": "\\in ",
            "∑": "\\sum ", "π": "\\pi ", "…": "...", "\u3000": " ", "（": "(", "）": ")",
            "\xa0": " "}

_TOKEN = re.compile(r"""
  (?P<begin>\\begin\s*\{(?P<benv>[A-Za-z*]+)\})
| (?P<end>\\end\s*\{(?P<eenv>[A-Za-z*]+)\})
| (?P<rowsep>\\\\(?:\s*\[[^\]\n]*\])?)
| (?P<cmd>\\(?:[A-Za-z]+\*?|.|\n))
| (?P<dots>\.\.+)
| (?P<num>\d+(?:\.\d+)?|\.\d+)
| (?P<letter>[A-Za-z])
| (?P<space>\s+)
| (?P<op>[-+*/=<>()\[\]{}^_,;:!'|&.~?@"`$%#])
| (?P<text>[^\x00-\x7f]+)
""", re.VERBOSE)


def _plain_tex(tex: str) -> str:
    """Unicode math written directly (`∥`, `×`, a full-width space) as LaTeX. Token
    positions refer to this text; it has the same lines as the original."""
    for char, replacement in _UNICODE.items():
        if char in tex:
            tex = tex.replace(char, replacement)
    return tex


def _tokenize(tex: str) -> list[_Token]:
    """Tokens of `_plain_tex(tex)` (which the caller must slice, not `tex`)."""
    tex = _plain_tex(tex)
    tokens: list[_Token] = []
    for match in _TOKEN.finditer(tex):
        kind = match.lastgroup or "op"
        if kind in ("benv", "eenv"):
            kind = "begin" if match.group("begin") else "end"
        value = match.group(0)
        if kind == "space":
            continue
        if kind == "begin":
            value = match.group("benv")
        elif kind == "end":
            value = match.group("eenv")
        elif kind == "cmd":
            value = value.rstrip("*") if value[1:].rstrip("*").isalpha() else value
        tokens.append(_Token(kind, value, match.start(), match.end()))
    return tokens


_DROP = _words(r"""\large \Large \LARGE \small \normalsize \huge \Huge \tiny \footnotesize
\scriptsize \displaystyle \textstyle \scriptstyle \scriptscriptstyle \left \right \middle \big
\Big \bigg \Bigg \bigl \bigr \Bigl \Bigr \biggl \biggr \Biggl \Biggr \bigm \Bigm \nonumber
\notag \limits \nolimits \, \; \: \! \> \  \allowbreak \strut""") | {"\\ ", "\\\n"}
_DROP_WITH_ARGUMENT = frozenset({"\\label", "\\tag", "\\vspace", "\\phantom", "\\color",
                                 "\\hphantom", "\\vphantom"})
_SPACES = frozenset({"\\quad", "\\qquad", "\\hspace", "\\hskip", "\\enspace"})
_UNWRAP = frozenset({"\\boxed", "\\mathbf", "\\boldsymbol", "\\bm", "\\mathit", "\\pmb",
                     "\\mathnormal", "\\underline", "\\bold"})
_WORDS = frozenset({"\\text", "\\mathrm", "\\operatorname", "\\textrm", "\\textbf",
                    "\\textit", "\\texttt", "\\mathsf", "\\mathtt", "\\textsf", "\\mbox",
                    "\\rm"})


def _tokens(tex: str) -> list[_Token]:
    """Tokens of an equation with presentation markup removed (positions refer to
    `_plain_tex(tex)`)."""
    return list(_cached_tokens(tex))


@functools.lru_cache(maxsize=4096)
def _cached_tokens(tex: str) -> tuple[_Token, ...]:
    return tuple(_normalise(_tokenize(tex), _plain_tex(tex)))


def _group_end(tokens: Sequence[_Token], start: int) -> int:
    """Index of the `}` closing the `{` at `start` (or `start` for a lone token)."""
    if start >= len(tokens) or tokens[start].value != "{" or tokens[start].kind != "op":
        return start
    depth = 0
    for index in range(start, len(tokens)):
        token = tokens[index]
        if token.kind == "op" and token.value == "{":
            depth += 1
        elif token.kind == "op" and token.value == "}":
            depth -= 1
            if depth == 0:
                return index
    raise Refused("unbalanced braces")


def _unwrapped(tokens: list[_Token], opening: int, start: int) -> list[_Token]:
    """The tokens with the group at `opening` replaced by its content, which keeps the
    source span of the command and braces (so a side's LaTeX is cut whole)."""
    close = _group_end(tokens, opening)
    inner = tokens[opening + 1:close]
    if inner:
        first, last = inner[0], inner[-1]
        inner[0] = _Token(first.kind, first.value, start, first.end)
        inner[-1] = _Token(last.kind, last.value, inner[-1].pos, tokens[close].end)
    return [*tokens[:opening], *inner, *tokens[close + 1:]]


def _normalise(tokens: list[_Token], tex: str) -> list[_Token]:
    """Drop what only changes how the formula looks (sizes, colours, spacing, boxes),
    turn `\\text{…}`-like groups into one `word` token, and spacing into `space`."""
    out: list[_Token] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        value = token.value
        if token.kind == "cmd":
            if value in _DROP:
                if value in ("\\left", "\\right", "\\middle") and index + 1 < len(tokens) \
                        and tokens[index + 1].value == ".":
                    index += 1  # \left. is an invisible delimiter
                index += 1
                continue
            if value in _DROP_WITH_ARGUMENT:
                index = _group_end(tokens, index + 1) + 1
                continue
            if value in _SPACES:
                if value in ("\\hspace", "\\hskip"):
                    index = _group_end(tokens, index + 1)
                out.append(_Token("space", "\\quad", token.pos, token.end))
                index += 1
                continue
            if value in ("\\textcolor", "\\colorbox"):
                index = _group_end(tokens, index + 1) + 1
                if index < len(tokens) and tokens[index].value == "{":
                    tokens = _unwrapped(tokens, index, token.pos)
                continue
            if value in _UNWRAP:
                index += 1
                if index < len(tokens) and tokens[index].value == "{":
                    tokens = _unwrapped(tokens, index, token.pos)
                continue
            if value in ("\\underbrace", "\\overbrace"):
                close = _group_end(tokens, index + 1)
                inner = tokens[index + 2:close] if close > index + 1 else tokens[index + 1:close + 1]
                after = close + 1
                if after < len(tokens) and tokens[after].value in ("_", "^"):
                    after = _group_end(tokens, after + 1) + 1
                tokens = [*tokens[:index], *inner, *tokens[after:]]
                continue
            if value in _WORDS:
                close = _group_end(tokens, index + 1)
                if close == index + 1:  # \rm x or \text x: one token
                    if close < len(tokens):
                        out.append(_Token("word", tokens[close].value, token.pos,
                                          tokens[close].end))
                    index = close + 1
                    continue
                words = tex[tokens[index + 1].end:tokens[close].pos]
                out.append(_Token("word", words, token.pos, tokens[close].end))
                index = close + 1
                continue
            if value in ("\\dots", "\\cdots", "\\ldots", "\\vdots", "\\ddots", "\\dotsc",
                         "\\dotsb"):
                out.append(_Token("dots", value, token.pos, token.end))
                index += 1
                continue
            if value == "\\cancel":
                out.append(_Token("refuse", "struck-out term (\\cancel)", token.pos, token.end))
                index += 1
                continue
        if token.kind == "op" and value == "~":
            index += 1
            continue
        out.append(token)
        index += 1
    return out


# --------------------------------------------------------------------------- vocabulary

_GREEK = _words("""alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta
iota kappa lambda mu nu xi omicron pi varpi rho varrho sigma varsigma tau upsilon phi varphi
chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega ell""")

_WORD_NAMES = _words("""TP TN FP FN FPR TPR AP mAP IoU Dice BLEU BP PE Var Cov KL JS BC
MSE MAE RMSE pos softmax Softmax sigmoid ReLU relu tanh loss val accuracy precision
recall""")
"""Runs of italic letters that name one thing (`TP`, `Var`) rather than a product."""

_PROSE = frozenset({"if", "where", "otherwise", "for", "and", "or", "with", "when", "s.t.",
                    "such that", "for all", "else", "then"})

_CONVENTIONAL_FUNCTIONS = frozenset({"f", "g", "h", "sigma"})
"""Names read as functions when applied to an expression (`g(Wx + b)`) unless the card
uses them as values too."""

_RELATIONS = {"=": "=", "\\approx": "\\approx", "\\simeq": "\\approx", "\\le": "\\le",
              "\\leq": "\\le", "\\ge": "\\ge", "\\geq": "\\ge", "<": "<", ">": ">",
              "\\lt": "<", "\\gt": ">", "\\ne": "\\ne", "\\neq": "\\ne",
              "\\propto": "\\propto", "\\equiv": "\\equiv", "\\cong": "\\approx",
              "\\leftarrow": "\\leftarrow", "\\gets": "\\leftarrow", "\\in": "\\in",
              "\\notin": "\\notin", "\\subset": "\\subset", "\\subseteq": "\\subseteq",
              "\\mapsto": "\\mapsto", "\\coloneqq": "=", "\\triangleq": "=",
              "\\sim": "\\sim", "\\ll": "\\ll", "\\gg": "\\gg", "\\leqslant": "\\le",
              "\\geqslant": "\\ge"}
_BREAKS = frozenset({"\\Rightarrow", "\\rightarrow", "\\to", "\\Leftarrow", "\\implies",
                     "\\iff", "\\Leftrightarrow", "\\longrightarrow", "\\Longrightarrow",
                     "\\xrightarrow", "\\therefore", "\\because", "\\impliedby",
                     "\\leftrightarrow"})

_TRANSPOSE = frozenset({"T", "\\top", "\\intercal", "\\mathsf{T}"})

_ALIGN_ENVS = frozenset({"aligned", "align", "align*", "gathered", "gather", "gather*",
                         "split", "eqnarray", "eqnarray*", "alignat", "alignat*",
                         "flalign", "flalign*", "multline", "multline*", "equation",
                         "equation*", "alignedat"})
_MATRIX_ENVS = frozenset({"matrix", "bmatrix", "pmatrix", "vmatrix", "Vmatrix", "Bmatrix",
                          "smallmatrix"})


def _known_function(name: str) -> Callable[..., Any] | None:
    """sympy's meaning of a named function (`\\tanh`, `\\text{ReLU}`), or None."""
    import sympy

    def sigmoid(x: Any) -> Any:
        return 1 / (1 + sympy.exp(-x))

    def relu(x: Any) -> Any:
        return sympy.Max(0, x)

    table: dict[str, Callable[..., Any]] = {
        "sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan, "cot": sympy.cot,
        "sec": sympy.sec, "csc": sympy.csc, "sinh": sympy.sinh, "cosh": sympy.cosh,
        "tanh": sympy.tanh, "coth": sympy.coth, "arcsin": sympy.asin,
        "arccos": sympy.acos, "arctan": sympy.atan, "exp": sympy.exp, "log": sympy.log,
        "ln": sympy.log, "sqrt": sympy.sqrt, "max": sympy.Max, "min": sympy.Min,
        "sigmoid": sigmoid, "ReLU": relu, "relu": relu, "Relu": relu,
        "sgn": sympy.sign, "sign": sympy.sign, "abs": sympy.Abs,
    }
    return table.get(name)


_WORD_FUNCTIONS = frozenset({"sin", "cos", "tan", "tanh", "sinh", "cosh", "exp", "log",
                            "ln", "sigmoid", "ReLU", "relu", "Relu", "max", "min", "sgn",
                            "sign", "arcsin", "arccos", "arctan"})
"""Functions written as words (`\\text{sigmoid}`, `\\mathrm{ReLU}`, `\\text{tanh}`)."""

_FUNCTION_COMMANDS = frozenset({"\\sin", "\\cos", "\\tan", "\\cot", "\\sec", "\\csc",
                                "\\sinh", "\\cosh", "\\tanh", "\\coth", "\\arcsin",
                                "\\arccos", "\\arctan", "\\exp", "\\log", "\\ln",
                                "\\max", "\\min", "\\lg"})


# --------------------------------------------------------------------------- context

@dataclass(slots=True)
class _NameUse:
    base: str
    letters: frozenset[str]
    compound: bool
    all_indices: bool
    subscripted: bool = True


@dataclass(slots=True)
class _Context:
    """What one equation's parse knows beyond its tokens."""

    declarations: Declarations
    indexed_bases: frozenset[str] = frozenset()
    free_index: frozenset[str] = frozenset()
    steps: frozenset[str] = frozenset()
    labels: bool = False
    """Superscripts such as `g_j^{cx}` in the equation: `g_j^w` is a label, not a power."""
    matrices: bool = False
    """An equation of matrices: every name is non-commutative (its products keep their
    order; which names are scalars the notes do not say)."""
    """Letters in superscripts like `z^{t-1}`: time steps, which makes `x^t` ambiguous."""
    uses: list[_NameUse] = field(default_factory=list)


def _conditional_marker() -> Any:
    import sympy

    return sympy.Symbol("|")


class _Transpose:
    """`X^T`: the transpose of a matrix, non-commutative; of a number, the number."""

    _class: Any = None

    @classmethod
    def get(cls) -> Any:
        if cls._class is None:
            import sympy

            class transpose(sympy.Function):  # type: ignore[misc]
                nargs = 1
                is_commutative = False

                @classmethod
                def eval(cls, a: Any) -> Any:
                    if a.is_number:
                        return a
                    if isinstance(a, cls):
                        return a.args[0]
                    return None

                def _sympystr(self, printer: Any) -> str:
                    return f"{printer._print(self.args[0])}^T"

            cls._class = transpose
        return cls._class


class _Inner:
    """`w^T x`: the inner product of two vectors, a scalar (np.dot in formulas)."""

    _class: Any = None

    @classmethod
    def get(cls) -> Any:
        if cls._class is None:
            import sympy

            class Inner(sympy.Function):  # type: ignore[misc]
                """Inner product; at scalar points (a check's samples) the product."""

                nargs = 2
                is_commutative = True

                @classmethod
                def eval(cls, a: Any, b: Any) -> Any:
                    if a.is_number and b.is_number:
                        return a * b
                    return None

                def _sympystr(self, printer: Any) -> str:
                    return f"{printer._print(self.args[0])}^T {printer._print(self.args[1])}"

            cls._class = Inner
        return cls._class


# --------------------------------------------------------------------------- parser

_STOP = frozenset({"+", "-", "=", "<", ">", ",", ";", ")", "]", "}", "|", "&", "/", "*",
                   ":", "!"})
_EXPLICIT_PRODUCTS = frozenset({"\\cdot", "\\times", "*", "\\odot", "\\ast", "\\bullet"})


class _Parser:
    """One side's tokens → a sympy expression, or `Refused`."""

    def __init__(self, tokens: Sequence[_Token], context: _Context,
                 scope: frozenset[str] = frozenset(), depth: int = 0) -> None:
        import sympy

        self.sympy = sympy
        self.tokens = list(tokens)
        self.index = 0
        self.context = context
        self.scope = scope  # index letters bound here (sums) or free (the lhs index)
        self.depth = depth

    # ----------------------------------------------------------------- plumbing
    def peek(self, offset: int = 0) -> _Token | None:
        position = self.index + offset
        return self.tokens[position] if position < len(self.tokens) else None

    def next(self) -> _Token:
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

    def group(self) -> list[_Token]:
        """The tokens of a `{…}` argument, or the single next token."""
        token = self.next()
        if token.kind == "op" and token.value == "{":
            close = _group_end(self.tokens, self.index - 1)
            inner = self.tokens[self.index:close]
            self.index = close + 1
            return inner
        if token.kind == "op" and token.value in "}^_&":
            raise Refused("incomplete formula")
        return [token]

    def sub(self, tokens: Sequence[_Token], scope: frozenset[str] | None = None) -> Any:
        if self.depth > MAX_DEPTH:
            raise Refused("nested too deeply")
        parser = _Parser(tokens, self.context, self.scope if scope is None else scope,
                         self.depth + 1)
        return parser.whole()

    def whole(self) -> Any:
        if not self.tokens:
            raise Refused("empty expression")
        expr = self.expr()
        if self.peek() is not None:
            token = self.peek()
            assert token is not None
            raise Refused(_unexpected(token))
        return expr

    # ----------------------------------------------------------------- grammar
    def expr(self) -> Any:
        if self.at("\\pm", "\\mp"):
            raise Refused("± (two values)")
        terms = [self.term()]
        while True:
            if self.at("+"):
                self.index += 1
                terms.append(self.term())
            elif self.at("-"):
                self.index += 1
                terms.append(-self.term())
            elif self.at("\\pm", "\\mp"):
                raise Refused("± (two values)")
            else:
                break
        if len(terms) == 1:
            return terms[0]
        _arithmetic(terms)
        return self.sympy.Add(*terms)

    def term(self) -> Any:
        negative = False
        while self.at("-", "+"):
            negative ^= self.next().value == "-"
        value = self.run()
        while True:
            if self.at(*_EXPLICIT_PRODUCTS):
                self.index += 1
                while self.at("-", "+"):
                    negative ^= self.next().value == "-"
                value = value * self.run()
            elif self.at("/", "\\div"):
                self.index += 1
                denominator = self.run(single=True)
                if self.starts_factor():
                    raise Refused("a/bc: is bc the denominator? use \\frac")
                value = value / denominator
            else:
                break
        return -value if negative else value

    def starts_factor(self) -> bool:
        token = self.peek()
        if token is None:
            return False
        if token.kind == "op":
            return token.value in "([{'" or token.value == "|"
        if token.kind == "cmd":
            return token.value not in _EXPLICIT_PRODUCTS and token.value not in _RELATIONS \
                and token.value not in _BREAKS and token.value not in (
                    "\\div", "\\pm", "\\mp", "\\}", "\\rfloor", "\\rceil")
        return token.kind in ("letter", "num", "word", "dots", "refuse", "begin", "text")

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
                    token.value in _FUNCTION_COMMANDS or token.value in ("\\sum", "\\prod")):
                break  # \sin x \cos x
            factor = self.factor(factors)
            factors.append(factor)
            if single:
                break
            previous = self.tokens[self.index - 1]
            if function_argument and previous.kind == "op" and previous.value in ")]":
                break  # \log p(x) q(x): the argument is p(x)
        if not factors:
            token = self.peek()
            raise Refused(_unexpected(token) if token else "incomplete formula")
        if len(factors) == 1:
            return factors[0]
        _arithmetic(factors)
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
            raise Refused("text in formula")
        if kind == "begin":
            return self.postfix(self.environment(value))
        if kind == "num":
            self.index += 1
            number = self.sympy.Rational(value) if "." in value else self.sympy.Integer(value)
            return self.postfix(number)
        if kind == "op":
            if value in "([":
                return self.postfix(self.bracket())
            if value == "{":
                close = _group_end(self.tokens, self.index)
                inner = self.tokens[self.index + 1:close]
                if any(t.kind == "op" and t.value in "+-=" for t in _top_level(inner)) and (
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
            raise Refused(_unexpected(token))
        if kind == "cmd":
            return self.command(token)
        if kind in ("letter", "word"):
            return self.name_factor()
        raise Refused(_unexpected(token))

    def starts_factor_at(self, position: int) -> bool:
        saved = self.index
        self.index = position
        try:
            return self.starts_factor()
        finally:
            self.index = saved

    def bracket(self) -> Any:
        opener = self.next()
        closer = ")" if opener.value == "(" else "]"
        inner, _ = self.until_closer(opener.value, closer)
        if any(t.kind in ("op", "cmd") and t.value in _RELATIONS for t in _top_level(inner)):
            raise Refused("relation inside brackets")
        if any(t.kind == "op" and t.value in (",", ";") for t in _top_level(inner)):
            raise Refused("tuple or interval in brackets")
        return self.sub(inner)

    def until_closer(self, opener: str, closer: str) -> tuple[list[_Token], int]:
        """Tokens up to the bracket closing the one just read; moves past it."""
        depth = 1
        start = self.index
        while self.index < len(self.tokens):
            token = self.tokens[self.index]
            if token.kind == "op" and token.value in "([" or token.kind == "cmd" and token.value == "\\{":
                depth += 1
            elif token.kind == "op" and token.value in ")]" or token.kind == "cmd" and token.value == "\\}":
                depth -= 1
            elif token.kind == "op" and token.value == "{":
                self.index = _group_end(self.tokens, self.index)
            if depth == 0:
                inner = self.tokens[start:self.index]
                self.index += 1
                return inner, self.index - 1
            self.index += 1
        raise Refused("unbalanced parentheses")

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
                return self.sympy.Abs(self.sub(inner))
            self.index += 1
        raise Refused("unbalanced |")

    # ----------------------------------------------------------------- commands
    def command(self, token: _Token) -> Any:
        sympy = self.sympy
        value = token.value
        if value in ("\\frac", "\\dfrac", "\\tfrac", "\\cfrac"):
            self.index += 1
            return self.fraction()
        if value == "\\sqrt":
            self.index += 1
            degree = None
            if self.at("["):
                self.index += 1
                inner, _ = self.until_closer("[", "]")
                degree = self.sub(inner)
            radicand = self.sub(self.group())
            return self.postfix(sympy.root(radicand, degree) if degree is not None
                                else sympy.sqrt(radicand))
        if value in ("\\sum", "\\prod") or (value == "\\Sigma" and self.peek_value(1) == "_"):
            self.index += 1
            return self.big_operator("prod" if value == "\\prod" else "sum")
        if value in _FUNCTION_COMMANDS:
            self.index += 1
            return self.function(value[1:])
        if value == "\\det":
            self.index += 1
            if not self.at("(", "["):
                raise Refused("\\det without parentheses")
            opener = self.next()
            inner, _ = self.until_closer(opener.value, ")" if opener.value == "(" else "]")
            return self.postfix(sympy.Function("det")(self.sub(inner)))
        if value in ("\\lfloor", "\\lceil"):
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
        if value == "\\binom":
            self.index += 1
            top = self.sub(self.group())
            bottom = self.sub(self.group())
            return self.postfix(sympy.binomial(top, bottom))
        if value == "\\{":
            self.index += 1
            inner, _ = self.until_closer("\\{", "\\}")
            if any(t.kind == "op" and t.value == "," for t in _top_level(inner)):
                raise Refused("set expression")
            return self.postfix(self.sub(inner))
        if value == "\\infty":
            self.index += 1
            return self.postfix(sympy.oo)
        if value == "\\mathbb":
            return self.blackboard()
        if value in ("\\|", "\\Vert"):
            return self.norm()
        if value in ("\\int", "\\iint", "\\iiint"):
            self.index += 1
            return self.integral({"\\int": 1, "\\iint": 2, "\\iiint": 3}[value])
        if value == "\\nabla":
            self.index += 1
            if not self.at("_"):
                raise Refused("gradient (\\nabla) without a variable")
            self.index += 1
            variable = self.sub(self.group())
            if not isinstance(variable, (sympy.Symbol, sympy.Indexed)):
                raise Refused("derivative with respect to an expression")
            return sympy.Derivative(self.operand(), variable)
        if value[1:] in _GREEK:
            return self.name_factor()
        if value in ("\\hat", "\\bar", "\\tilde", "\\widehat", "\\widetilde", "\\overline",
                     "\\vec", "\\dot", "\\ddot", "\\check", "\\breve"):
            return self.name_factor()
        reasons = {
            "\\oint": "contour integral", "\\partial": "partial derivative notation",
            "\\lim": "limit not supported", "\\cap": "set expression (∩, ∪)",
            "\\cup": "set expression (∩, ∪)",
            "\\circ": "composition (∘)",
            "\\underset": "argmax/argmin or \\underset", "\\overset": "\\overset",
            "\\arg": "argmax/argmin or \\underset", "\\argmax": "argmax/argmin or \\underset",
            "\\argmin": "argmax/argmin or \\underset", "\\sup": "sup/inf",
            "\\inf": "sup/inf", "\\otimes": "tensor product (⊗)", "\\oplus": "⊕",
            "\\emptyset": "set expression", "\\forall": "quantifier",
            "\\exists": "quantifier", "\\neg": "logic", "\\land": "logic", "\\lor": "logic",
            "\\choose": "\\choose", "\\operatornamewithlimits": "argmax/argmin or \\underset",
            "\\mid": "conditional (|) outside a function", "\\setminus": "set expression",
        }
        if value in reasons:
            raise Refused(reasons[value])
        if value in _BREAKS or value in _RELATIONS:
            raise Refused(f"relation {value} inside an expression")
        raise Refused(f"unknown macro {value}")

    def peek_value(self, offset: int) -> str | None:
        token = self.peek(offset)
        return token.value if token is not None else None

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

    def derivative(self, numerator: list[_Token], denominator: list[_Token]) -> Any:
        """`\\frac{d}{dx} f`, `\\frac{dJ}{da}`, `\\frac{\\partial L}{\\partial W}`,
        `\\frac{d^2 y}{dx^2}`; None when the fraction is not a derivative."""
        sympy = self.sympy

        def is_d(token: _Token) -> bool:
            return (token.kind == "letter" and token.value == "d") or (
                token.kind == "cmd" and token.value == "\\partial")

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
        if rest:
            operand = self.sub(rest)
        else:
            operand = self.operand()  # the operator form applies to the rest of the term
        return sympy.Derivative(operand, *variables)

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

    def derivative_variables(self, tokens: list[_Token]) -> list[tuple[Any, int]]:
        """`dx`, `\\partial \\theta_t`, `dx^2`, `\\partial x \\partial y`."""
        pieces: list[list[_Token]] = []
        for token in tokens:
            if (token.kind == "letter" and token.value == "d" and (not pieces or pieces[-1])) \
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

    def big_operator(self, kind: str) -> Any:
        sympy = self.sympy
        lower: list[_Token] | None = None
        upper: list[_Token] | None = None
        for _ in range(2):
            if self.at("_") and lower is None:
                self.index += 1
                lower = self.group()
            elif self.at("^") and upper is None:
                self.index += 1
                upper = self.group()
        if lower is None:
            raise Refused(f"{kind} without an index")
        top = _top_level(lower)
        if any(t.kind == "cmd" and t.value in ("\\in", "\\subset") for t in top):
            raise Refused(f"{kind} over a set")
        if any(t.kind == "op" and t.value == "," for t in top):
            if upper is not None or any(t.value == "=" for t in lower):
                raise Refused(f"{kind} over several variables with bounds")
            names = []
            for part in _split_top(lower, {","}):
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
        equals = [position for position, t in enumerate(lower) if t.value == "="]
        variable_tokens = lower[:equals[0]] if equals else lower
        if not variable_tokens or variable_tokens[0].kind not in ("letter", "cmd") or \
                (variable_tokens[0].kind == "cmd" and variable_tokens[0].value[1:] not in _GREEK):
            raise Refused(f"{kind} index is not a letter")
        if len(variable_tokens) != 1 and not (
                len(variable_tokens) == 2 and variable_tokens[1].value == "'"):
            raise Refused(f"{kind} index is not a letter")
        variable_name = variable_tokens[0].value.lstrip("\\") + (
            "_prime" if len(variable_tokens) == 2 else "")
        variable = sympy.Symbol(variable_name)
        if equals:
            low = self.sub(lower[equals[0] + 1:])
        else:
            low = sympy.Integer(1)
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
            return operator(body, (variable, low, high))

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
        if text not in sets:
            raise Refused("set (\\mathbb)")
        if not self.at("^"):
            return sets[text]
        self.index += 1
        shape = _split_top(self.group(), {"\\times"})
        from sympy.matrices.expressions.sets import MatrixSet

        dimensions = [self.sub(part) for part in shape]
        if len(dimensions) == 1:
            dimensions.append(sympy.Integer(1))
        if len(dimensions) != 2:
            raise Refused("set (\\mathbb) of more than two dimensions")
        return MatrixSet(dimensions[0], dimensions[1], sets[text])

    def environment(self, name: str) -> Any:
        """`cases` (a Piecewise) and matrices of numbers or names."""
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
            body = body[_group_end(body, 0) + 1:]
        rows: list[list[list[_Token]]] = [[[]]]
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
        if name in _MATRIX_ENVS:
            if not rows or len({len(row) for row in rows}) != 1:
                raise Refused("matrix/vector expression")
            if any(t.kind == "dots" for row in rows for cell in row for t in cell):
                raise Refused("matrix with an ellipsis (…)")
            return sympy.ImmutableMatrix([[self.sub(cell) for cell in row] for row in rows])
        if name == "cases":
            pieces = []
            for row in rows:
                if len(row) != 2:
                    raise Refused("cases row without a condition")
                value, condition = row
                pieces.append((self.sub(value), self.condition(condition)))
            return sympy.Piecewise(*pieces)
        raise Refused(f"{name} layout")

    def condition(self, tokens: list[_Token]) -> Any:
        """`\\text{if } z < 0`, `z \\geq 0`, `\\text{otherwise}`: a case's condition."""
        words = [t for t in tokens if t.kind == "word"]
        rest = [t for t in tokens if t.kind != "word" and not (
            t.kind == "op" and t.value in ",.")]
        if not rest and len(words) == 1 and words[0].value.strip() in ("otherwise", "else"):
            return True
        if any(w.value.strip() not in ("if", "for", "when", "") for w in words):
            raise Refused("text in formula")
        result = self.relation_or_expression(rest)
        if not isinstance(result, self.sympy.core.relational.Relational):
            raise Refused("case condition is not a comparison")
        return result

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
            name = f"norm_{_label(self.group())}"
        return self.postfix(sympy.Function(name)(self.sub(inner)))

    def integral(self, count: int) -> Any:
        """`\\int_a^b f(x) dx`, `\\iint g dx dt`, `\\int_x f dx` (over x's domain)."""
        sympy = self.sympy
        lower: list[_Token] | None = None
        upper: list[_Token] | None = None
        for _ in range(2):
            if self.at("_") and lower is None:
                self.index += 1
                lower = self.group()
            elif self.at("^") and upper is None:
                self.index += 1
                upper = self.group()
        # the body runs to the differentials `dx dt` that end the term
        start = self.index
        depth = 0
        position = start
        while position < len(self.tokens):
            token = self.tokens[position]
            if token.kind == "op" and token.value in "([{" or (
                    token.kind == "cmd" and token.value in ("\\{", "\\left")):
                depth += 1
            elif token.kind == "op" and token.value in ")]}" or (
                    token.kind == "cmd" and token.value == "\\}"):
                depth -= 1
                if depth < 0:
                    break
            elif depth == 0 and token.kind == "letter" and token.value == "d" and \
                    position > start and self.differentials(position, count) is not None:
                break
            elif depth == 0 and (_is_relation(token) or (
                    token.kind == "op" and token.value in "+-" and position > start)):
                raise Refused("integral without its dx")
            position += 1
        found = self.differentials(position, count) if position < len(self.tokens) else None
        if found is None:
            raise Refused("integral without its dx")
        variables, end = found
        body = self.sub(self.tokens[start:position])
        self.index = end
        if count > 1 and (lower or upper):
            raise Refused("multiple integral with bounds")
        limits: list[Any] = []
        for variable in variables:
            if upper is not None and lower is not None:
                limits.append((variable, self.sub(lower), self.sub(upper)))
            elif lower is not None and (len(lower) != 1 or lower[0].value.lstrip("\\") !=
                                        str(variable)):
                raise Refused("integral over a set")
            else:
                limits.append((variable,))
        return sympy.Integral(body, *limits)

    def differentials(self, position: int, count: int) -> tuple[list[Any], int] | None:
        """`dx dt` at `position`: the variables and where they end."""
        variables = []
        for _ in range(count):
            if position + 1 >= len(self.tokens):
                return None
            d, name = self.tokens[position], self.tokens[position + 1]
            if d.kind != "letter" or d.value != "d" or not (
                    name.kind == "letter" or (name.kind == "cmd" and name.value[1:] in _GREEK)):
                return None
            variables.append(self.sympy.Symbol(name.value.lstrip("\\")))
            position += 2
        following = self.tokens[position] if position < len(self.tokens) else None
        if following is not None and not (
                (following.kind == "op" and following.value in "+-)]}") or
                _is_relation(following) or (following.kind == "cmd" and following.value in (
                    "\\}", "\\right"))):
            return None
        return variables, position

    def expectation(self, subscript: list[_Token] | None = None) -> Any:
        """`\\mathbb{E}[X]`, `E_{z \\sim q}[…]`, `\\mathbb{E}[G_t | S_t = s]`: an expectation
        the notes do not define further, as the unknown function `E`."""
        name = "E"
        if subscript is None and self.at("_"):
            self.index += 1
            subscript = self.group()
        if subscript:
            name = f"E_{_label(subscript)}"
        if not self.at("[", "("):
            raise Refused("expectation without brackets")
        opener = self.next()
        inner, _ = self.until_closer(opener.value, ")" if opener.value == "(" else "]")
        arguments = self.arguments(inner)
        return self.postfix(self.sympy.Function(name)(*arguments))

    def arguments(self, inner: list[_Token]) -> list[Any]:
        """`x | C`, `y = 1 | x`, `s, a`: a function's arguments; a condition's bar is the
        marker symbol `|`, a relation (`y = 1`) a sympy relational."""
        arguments: list[Any] = []
        pieces = _split_top(inner, {",", ";", "|", "\\mid", "\\|"}, keep=True)
        for number, piece in enumerate(pieces):
            if isinstance(piece, str):
                if piece not in (",", ";") and not (arguments and str(arguments[-1]) == "|"):
                    arguments.append(_conditional_marker())  # p(x|C); p||q: one marker
                continue
            if not piece:
                if 0 < number < len(pieces) - 1 and pieces[number - 1] in ("|", "\\|"):
                    continue
                raise Refused("empty function argument")
            arguments.append(self.relation_or_expression(piece))
        return arguments

    def relation_or_expression(self, tokens: list[_Token]) -> Any:
        sympy = self.sympy
        depths = _depth_map(tokens)
        cuts = [index for index, (token, depth) in enumerate(zip(tokens, depths, strict=True))
                if depth == 0 and _is_relation(token)]
        if not cuts:
            return self.sub(tokens)
        if len(cuts) > 1:
            raise Refused("several relations inside function arguments")
        relation = _RELATIONS.get(tokens[cuts[0]].value, tokens[cuts[0]].value)
        build = {"=": sympy.Eq, "<": sympy.Lt, ">": sympy.Gt, "\\le": sympy.Le,
                 "\\ge": sympy.Ge, "\\ne": sympy.Ne}.get(relation)
        if build is None:
            raise Refused(f"relation {relation} inside function arguments")
        left, right = tokens[:cuts[0]], tokens[cuts[0] + 1:]
        if not left or not right:
            raise Refused("incomplete relation")
        return build(self.sub(left), self.sub(right), evaluate=False)

    def function(self, name: str) -> Any:
        """`\\log x`, `\\exp(…)`, `\\sin^2 x`, `\\log_2 p`, `\\max(0, x)`."""
        sympy = self.sympy
        base = None
        power = None
        if name in ("max", "min") and self.at("_"):
            # \max_{a'} Q(s, a'): an operator the notes do not define further
            self.index += 1
            over = self.group()
            body = self.term()
            return sympy.Function(f"{name}_{_label(over)}")(body)
        for _ in range(2):
            if self.at("_") and base is None:
                self.index += 1
                base = self.sub(self.group())
            elif self.at("^") and power is None:
                self.index += 1
                power = self.sub(self.group())
        if name in ("max", "min"):
            if not self.at("(", "["):
                raise Refused("min/max over a set")
            opener = self.next()
            inner, _ = self.until_closer(opener.value, ")" if opener.value == "(" else "]")
            arguments = [self.sub(part) for part in _split_top(inner, {","})]
            result = (sympy.Max if name == "max" else sympy.Min)(*arguments)
        else:
            opener_used = self.at("(", "[") or self.at("\\{")
            if opener_used:
                opener = self.next()
                closer = {"(": ")", "[": "]", "\\{": "\\}"}[opener.value]
                inner, _ = self.until_closer(opener.value, closer)
                if any(t.kind == "op" and t.value == "," for t in _top_level(inner)):
                    raise Refused(f"\\{name} of several arguments")
                argument = self.sub(inner)
            else:
                argument = self.run(function_argument=True)
            if name == "lg":
                raise Refused("\\lg (log base unclear)")
            known = _known_function(name)
            if known is None:
                raise Refused(f"unknown function {name}")
            result = known(argument) if base is None or name not in ("log",) else \
                sympy.log(argument, base)
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

    # ----------------------------------------------------------------- names
    def name_factor(self) -> Any:
        """A name (`x`, `H_{in}`, `\\hat{y}`, `\\text{softmax}`) with its scripts, applied
        to arguments when it is a function."""
        sympy = self.sympy
        token = self.peek()
        assert token is not None
        if token.kind == "letter" and token.value == "e" and self.peek_value(1) == "^":
            self.index += 2
            return sympy.exp(self.sub(self.group()))
        if token.kind == "letter" and token.value == "E" and (
                self.peek_value(1) == "[" or (self.peek_value(1) == "_" and self.bracket_after())):
            self.index += 1
            return self.expectation()
        base, is_word = self.read_base()
        if is_word and base in _WORD_FUNCTIONS and not self.at("_", "^", "'"):
            return self.function(base)
        subscript: list[_Token] | None = None
        superscript: list[_Token] | None = None
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
        if superscript and len(superscript) == 1 and superscript[0].value == "\\prime":
            primes += 1
            superscript = None
        if base in ("pi",) and subscript is None and superscript is None and primes == 0 \
                and not self.at("("):
            return sympy.pi
        label = ""
        transpose = False
        power = None
        step: list[_Token] | None = None
        if superscript is not None:
            text = "".join(t.value for t in superscript)
            if text in _TRANSPOSE or text == "\\top":
                transpose = True
            elif superscript[0].value == "(" and superscript[-1].value == ")":
                label = "__" + _label(superscript[1:-1])
            elif any(t.value == "," for t in superscript) or text in ("*", "-", "+", "\\star",
                                                                          "\\ast", "\\dagger"):
                label = "__" + _label(superscript)
            elif len(superscript) > 1 and all(t.kind == "letter" for t in superscript):
                label = "__" + _label(superscript)  # x^{cx}, \delta^{out}: a label
            elif self.context.labels and len(superscript) == 1 and \
                    superscript[0].kind == "letter" and subscript is not None and \
                    superscript[0].value not in self.context.steps | \
                    self.context.declarations.indices:
                label = "__" + _label(superscript)  # g_j^w beside g_j^{cx}: labels too
            elif len(superscript) == 1 and superscript[0].kind == "letter" and \
                    superscript[0].value in self.scope and subscript is not None:
                # s^n_t in a sum over n: an element, not a power
                subscript = [*subscript, _Token("op", ",", 0, 0), superscript[0]]
            else:
                letters = {t.value for t in superscript if t.kind == "letter"}
                declared = self.context.declarations
                if letters and letters <= declared.indices:
                    step = superscript
                elif letters & self.context.steps and not letters & declared.scalars:
                    # x^t next to z^{t-1}: time steps (declare `t scalar` for powers)
                    step = superscript
                else:
                    power = superscript
        name = base + ("_prime" * primes if primes else "")
        key = base if subscript is None else f"{base}_{_label(subscript)}"
        if primes:
            key += "_prime" * primes
        # application: f(x), p(x|C), V^\pi(s), \text{softmax}(z)
        if self.at("(") or (is_word and self.at("[")):
            applied = self.application(key, base, is_word, power is not None or bool(label),
                                       primes)
            if applied is not None:
                function_name = key + label + ("^" + _label(power) if power else "")
                result = applied(function_name)
                if self.at("_"):
                    self.index += 1
                    result = sympy.Function(result.func.__name__)(
                        *result.args, self.sub(self.group()))
                if self.at("^"):
                    self.index += 1
                    result = result ** self.sub(self.group())
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
            text = token.value.strip()
            if not text or not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", text) or text in _PROSE:
                raise Refused("text in formula")
            return text, len(text) > 1
        if token.kind == "cmd" and token.value[1:] in _GREEK:
            name = token.value[1:]
            following = self.peek()
            if name == "Delta" and following is not None and following.kind == "letter" \
                    and not self.at_script(1):
                return f"Delta_{self.next().value}", True  # Δx: one quantity
            return name, False
        if token.kind == "cmd":
            decoration = {"\\hat": "hat", "\\widehat": "hat", "\\bar": "bar",
                          "\\overline": "bar", "\\tilde": "tilde", "\\widetilde": "tilde",
                          "\\vec": "vec", "\\dot": "dot", "\\ddot": "ddot",
                          "\\check": "check", "\\breve": "breve"}.get(token.value)
            if decoration is None:
                raise Refused(f"unexpected {token.value}")
            inner = self.group()
            parser = _Parser(inner, self.context, self.scope, self.depth + 1)
            if not inner:
                raise Refused("empty decoration")
            base, word = parser.read_base()
            if parser.peek() is not None:
                raise Refused("decoration over an expression")
            return f"{base}_{decoration}", word
        # a run of italic letters
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
            if run in _WORD_NAMES or len(run) >= 4 or (len(run) >= 3 and followed):
                if not followed and run not in _WORD_NAMES:
                    raise Refused(f"text in formula ({run})")  # [query key]
                self.index += len(run) - 1
                return run, True
        return token.value, False

    def bracket_after(self) -> bool:
        """After `E_{…}`, is there a `[`? (`E_{\\pi}[…]` is an expectation)."""
        end = _group_end(self.tokens, self.index + 2)
        return end + 1 < len(self.tokens) and self.tokens[end + 1].value == "["

    def at_script(self, offset: int) -> bool:
        token = self.peek(offset)
        return token is not None and token.kind == "op" and token.value in "_^"

    def application(self, key: str, base: str, is_word: bool, scripted: bool,
                    primes: int) -> Callable[[str], Any] | None:
        """A builder of the applied function when `name(` applies it; None when the
        parenthesis multiplies."""
        sympy = self.sympy
        declarations = self.context.declarations
        start = self.index
        opener = self.next()
        inner, _ = self.until_closer(opener.value, ")" if opener.value == "(" else "]")
        known = _known_function(base) if is_word and not scripted else None
        if base == "sigma" and not scripted and key == "sigma" + "_prime" * primes and \
                "sigma" not in declarations.defined and "sigma" not in declarations.functions:
            known = _known_function("sigmoid")  # σ(z): the logistic function
        if base == "E" and is_word is False and opener.value == "[":
            known = None
        parts = _split_top(inner, {",", ";"})
        conditional = _split_top(inner, {"|", "\\mid"})
        multi = len(parts) > 1 or len(conditional) > 1 or any(
            t.kind == "cmd" and t.value in ("\\|",) for t in _top_level(inner))
        if known is not None:
            if len(parts) > 1 and base not in ("max", "min"):
                raise Refused(f"{base} of several arguments")
            values = [self.sub(part) for part in parts]
            if primes:
                if len(values) != 1 or not isinstance(values[0], sympy.Symbol):
                    raise Refused("derivative of a function at an expression")
                return lambda _name: sympy.Derivative(known(values[0]), (values[0], primes))
            return lambda _name: known(*values)
        relation = any(t.kind in ("op", "cmd") and t.value in _RELATIONS and t.value != "\\sim"
                       for t in _top_level(inner))
        single = _is_single_name(inner)
        if key in declarations.functions or base in declarations.functions or is_word:
            decision = True
        elif key in declarations.scalars or base in declarations.scalars or \
                key in declarations.matrices:
            decision = False
        elif multi or relation or single:
            decision = True
        else:
            applied = key in declarations.applied or base in _CONVENTIONAL_FUNCTIONS
            plain = key in declarations.plain
            if applied and not plain:
                decision = True
            elif plain and not applied:
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

    def symbol(self, name: str, base: str, subscript: list[_Token] | None) -> Any:
        sympy = self.sympy
        declarations = self.context.declarations
        if subscript is None:
            self.context.uses.append(_NameUse(base, frozenset(), False, False, False))
            # an index (`i` of `\\prod_i \\lambda_i`) is a number even among matrices, and
            # must be the very symbol the sum or product binds
            index = name in self.scope | self.context.free_index | declarations.indices
            return (sympy.Symbol(name, commutative=False)
                    if self.context.matrices and not index else sympy.Symbol(name))
        letters = frozenset(t.value.lstrip("\\") for t in subscript
                            if t.kind == "letter" or (t.kind == "cmd" and t.value[1:] in _GREEK))
        compound = any(t.kind == "op" and t.value in "+-," for t in subscript)
        scope = self.scope | self.context.free_index | declarations.indices
        all_indices = bool(letters & scope)
        self.context.uses.append(_NameUse(base, letters, compound, all_indices))
        if base in self.context.indexed_bases or compound or all_indices:
            return sympy.Indexed(sympy.IndexedBase(base, commutative=not self.context.matrices),
                                 *self.indices(subscript))
        full = f"{name.split('__')[0]}_{_label(subscript)}" + (
            "__" + name.split("__", 1)[1] if "__" in name else "")
        return sympy.Symbol(full, commutative=False) if self.context.matrices else \
            sympy.Symbol(full)

    def indices(self, subscript: list[_Token]) -> list[Any]:
        tokens = subscript
        if tokens and tokens[0].value == "(" and tokens[-1].value == ")":
            tokens = tokens[1:-1]
        parts = _split_top(tokens, {","})
        if len(parts) == 1 and all(t.kind in ("letter", "num") for t in tokens) and \
                len(tokens) > 1 and all(t.kind == "letter" or len(t.value) == 1
                                        for t in tokens):
            parts = [[token] for token in tokens]  # x_{ij}
        return [self.sub(part) for part in parts]

    def transpose(self, symbol: Any) -> Any:
        """`w^T x` between two single-letter vectors is their inner product, a scalar;
        in an equation of matrices (`X^T`, `\\det`, declared ones) a transpose."""
        sympy = self.sympy
        if self.context.matrices:
            return self.postfix(_Transpose.get()(symbol))
        following = self.peek()
        if isinstance(symbol, sympy.Symbol) and len(symbol.name) == 1 and \
                symbol.name.islower() and following is not None and \
                following.kind == "letter" and following.value.islower():
            self.index += 1
            other = sympy.Symbol(following.value)
            if self.at("_", "^", "("):
                raise Refused("matrix/vector expression")
            return _Inner.get()(symbol, other)
        raise Refused("matrix/vector expression")

    def postfix(self, expr: Any, *, allow_scripts: bool = True) -> Any:
        """Scripts and factorials after a factor: `(a+b)^2`, `n!`."""
        sympy = self.sympy
        while True:
            if allow_scripts and self.at("^"):
                self.index += 1
                exponent_tokens = self.group()
                text = "".join(t.value for t in exponent_tokens)
                if text in _TRANSPOSE:
                    if not self.context.matrices:
                        raise Refused("matrix/vector expression")
                    expr = _Transpose.get()(expr)
                    continue
                expr = expr ** self.sub(exponent_tokens)
            elif allow_scripts and self.at("_"):
                raise Refused("subscript on an expression")
            elif self.at("!"):
                self.index += 1
                expr = sympy.factorial(expr)
            else:
                return expr


def _arithmetic(operands: Sequence[Any]) -> None:
    """Sums and products of numbers only: not of sets (`\\mathbb{R}`), conditions or
    matrices written out (`\\begin{bmatrix}`)."""
    import sympy

    for operand in operands:
        if not isinstance(operand, sympy.Expr):
            kind = "matrix/vector expression" if getattr(operand, "is_Matrix", False) \
                else "a set or condition in arithmetic"
            raise Refused(kind)


def _unexpected(token: _Token | None) -> str:
    if token is None:
        return "incomplete formula"
    if token.kind == "cmd" and token.value in _RELATIONS:
        return f"relation {token.value} inside an expression"
    if token.kind == "cmd":
        return f"unexpected {token.value}"
    return f"unexpected '{token.value}'"


def _label(tokens: Sequence[_Token]) -> str:
    """Subscript or superscript tokens as a Python-name part: `{in}` → `in`,
    `{\\theta}` → `theta`, `{(in)}` → `in`, `{out,t}` → `out_t`, `{a'}` → `a_prime`,
    `{(\\tilde{h})}` → `h_tilde`."""
    parts: list[str] = []
    decoration: str | None = None
    for token in tokens:
        if token.kind == "cmd" and token.value in ("\\hat", "\\tilde", "\\bar"):
            decoration = token.value[1:]
            continue
        if token.kind in ("letter", "num"):
            parts.append(token.value)
        elif token.kind == "word":
            parts.append(re.sub(r"\W+", "", token.value))
        elif token.kind == "cmd" and token.value[1:] in _GREEK:
            parts.append(("_" if parts else "") + token.value[1:] + "_")
        elif token.kind == "op" and token.value in ",_":
            parts.append("_")
        elif token.kind == "op" and token.value == "'":
            parts.append("_prime")
        elif token.kind == "op" and token.value in "(){}":
            continue
        elif token.kind == "op" and token.value in "+-":
            parts.append({"+": "p", "-": "m"}[token.value])
        elif token.kind == "cmd":
            parts.append(f"_{token.value[1:]}_")  # r \\geq s → r_geq_s
        else:
            parts.append(re.sub(r"\W+", "", token.value))
        if decoration is not None and token.kind != "op":
            parts.append(f"_{decoration}")
            decoration = None
    text = "".join(parts)
    return re.sub(r"_+", "_", text).strip("_")


def _top_level(tokens: Sequence[_Token]) -> list[_Token]:
    """Tokens at bracket depth 0."""
    out: list[_Token] = []
    depth = 0
    for token in tokens:
        if token.kind == "op" and token.value in "([{" or token.kind == "cmd" and token.value in ("\\{", "\\lfloor", "\\lceil"):
            depth += 1
        elif token.kind == "op" and token.value in ")]}" or token.kind == "cmd" and token.value in ("\\}", "\\rfloor", "\\rceil"):
            depth -= 1
        elif token.kind == "begin":
            depth += 1
        elif token.kind == "end":
            depth -= 1
        elif depth == 0:
            out.append(token)
    return out


def _split_top(tokens: Sequence[_Token], separators: set[str], *, keep: bool = False
               ) -> list[Any]:
    """Split at depth-0 separators (`,` in `f(x, y)`); with `keep`, the separators are
    kept between the parts as strings."""
    parts: list[Any] = [[]]
    depth = 0
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.kind == "op" and token.value in "([{" or (
                token.kind == "cmd" and token.value in ("\\{", "\\lfloor", "\\lceil")):
            depth += 1
        elif token.kind == "op" and token.value in ")]}" or (
                token.kind == "cmd" and token.value in ("\\}", "\\rfloor", "\\rceil")):
            depth -= 1
        if depth == 0 and token.kind in ("op", "cmd") and token.value in separators:
            if keep:
                parts.append(token.value)
            parts.append([])
        else:
            parts[-1].append(token)
        index += 1
    return parts


def _is_single_name(tokens: Sequence[_Token]) -> bool:
    """`x`, `\\mu`, `x_i`, `s'`, `\\hat{y}`, `x_{t-1}`: one name, no operator."""
    if not tokens:
        return False
    first = tokens[0]
    rest: Sequence[_Token]
    if first.kind == "letter" or (first.kind == "cmd" and first.value[1:] in _GREEK) or \
            first.kind == "word":
        rest = tokens[1:]
    elif first.kind == "cmd" and first.value in ("\\hat", "\\bar", "\\tilde", "\\vec"):
        end = _group_end(tokens, 1)
        rest = tokens[end + 1:]
    else:
        return False
    while rest and rest[0].value == "'":
        rest = rest[1:]
    if rest and rest[0].value in ("_", "^"):
        end = _group_end(rest, 1)
        rest = rest[end + 1:]
    while rest and rest[0].value == "'":
        rest = rest[1:]
    return not rest


# --------------------------------------------------------------------------- evidence

@functools.lru_cache(maxsize=4096)
def _evidence(tex: str) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(names applied to arguments, names used as values, functions the equation defines
    as `f(x) = …` at a row's start) in one equation's tokens: how the card reads `p(…)`."""
    try:
        tokens = _tokens(tex)
    except Refused:
        return frozenset(), frozenset(), frozenset()
    applied: set[str] = set()
    plain: set[str] = set()
    defined: set[str] = set()
    index = 0
    while index < len(tokens):
        token = tokens[index]
        is_name = token.kind == "letter" or (token.kind == "cmd" and token.value[1:] in _GREEK)
        if not is_name:
            index += 1
            continue
        key = token.value.lstrip("\\")
        after = index + 1
        if after + 1 < len(tokens) and tokens[after].value == "_":
            try:
                end = _group_end(tokens, after + 1)
            except Refused:
                return frozenset(applied), frozenset(plain), frozenset(defined)
            key = f"{key}_{_label(tokens[after + 1:end + 1])}"
            after = end + 1
        primed = after < len(tokens) and tokens[after].value == "'"
        while after < len(tokens) and tokens[after].value == "'":
            after += 1
        following = tokens[after] if after < len(tokens) else None
        if following is not None and following.kind == "op" and following.value == "(":
            depth = 0
            inner: list[_Token] = []
            for position in range(after, len(tokens)):
                current = tokens[position]
                if current.kind == "op" and current.value in "([":
                    depth += 1
                elif current.kind == "op" and current.value in ")]":
                    depth -= 1
                    if depth == 0:
                        break
                if position > after:
                    inner.append(current)
            if any(t.value in (",", ";", "|", "\\mid") for t in _top_level(inner)) or \
                    _is_single_name(inner):
                applied.add(key)
            previous = tokens[index - 1] if index else None
            closing = after + len(inner) + 1
            if not primed and (previous is None or previous.kind in ("rowsep", "begin") or
                               previous.value == "&") and closing + 1 < len(tokens) and \
                    tokens[closing + 1].value == "=":
                defined.add(key)
        elif following is None or following.value != "^":
            previous = tokens[index - 1] if index else None
            argument = previous is not None and previous.value in ("(", ",") and \
                following is not None and following.value in (")", ",")
            if (previous is None or previous.value not in ("d", "\\partial")) and \
                    not argument:
                plain.add(key)
        index = after if after > index else index + 1
    return frozenset(applied), frozenset(plain), frozenset(defined)


# --------------------------------------------------------------------------- rows and chains

@dataclass(slots=True)
class _RawChain:
    sides: list[list[_Token]]
    relations: list[str]


def _rows(tokens: list[_Token]) -> list[list[_Token]]:
    """Top-level rows: `\\\\` outside nested environments, with align-like environments
    dissolved into their rows."""
    rows: list[list[_Token]] = [[]]
    depth = 0  # inside cases/matrix/array: their rows are theirs
    brace = 0
    for token in tokens:
        if token.kind == "begin":
            if token.value in _ALIGN_ENVS and depth == 0:
                rows.append([])
                continue
            depth += 1
        elif token.kind == "end":
            if token.value in _ALIGN_ENVS and depth == 0:
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


def _is_relation(token: _Token) -> bool:
    return (token.kind == "op" and token.value in ("=", "<", ">")) or (
        token.kind == "cmd" and token.value in _RELATIONS)


def _is_break(token: _Token) -> bool:
    return (token.kind == "cmd" and token.value in _BREAKS) or (
        token.kind == "op" and token.value == ":")


def _depth_map(tokens: Sequence[_Token]) -> list[int]:
    depths: list[int] = []
    depth = 0
    for token in tokens:
        opening = (token.kind == "op" and token.value in "([{") or (
            token.kind == "cmd" and token.value in ("\\{", "\\lfloor", "\\lceil")) or \
            token.kind == "begin"
        closing = (token.kind == "op" and token.value in ")]}") or (
            token.kind == "cmd" and token.value in ("\\}", "\\rfloor", "\\rceil")) or \
            token.kind == "end"
        if closing:
            depth -= 1
        depths.append(depth)
        if opening:
            depth += 1
    return depths


def _cells(row: list[_Token]) -> list[_Token]:
    """Drop the `&` columns before the one that holds the left side (labels such as
    `正解率&& accuracy(X) &= …`), then the `&` themselves."""
    depths = _depth_map(row)
    cells: list[list[_Token]] = [[]]
    for token, depth in zip(row, depths, strict=True):
        if token.kind == "op" and token.value == "&" and depth == 0:
            cells.append([])
        else:
            cells[-1].append(token)
    if len(cells) == 1:
        return cells[0]
    first_relation = next((number for number, cell in enumerate(cells)
                           if any(_is_relation(t) for t in _top_level(cell))), None)
    if first_relation is None:
        return [token for cell in cells for token in cell]
    relation_cell = cells[first_relation]
    top = _top_level(relation_cell)
    if top and _is_relation(top[0]) and relation_cell[0] is top[0]:
        lhs = next((number for number in range(first_relation - 1, -1, -1) if cells[number]),
                   None)
        start = lhs if lhs is not None else first_relation
    else:
        start = first_relation
    kept = cells[start:]
    if start > 0 and not any(cells[:start]):
        kept = cells
    return [token for cell in kept for token in cell]


def _is_prose(token: _Token) -> bool:
    if token.kind == "text":
        return True
    if token.kind == "word":
        text = token.value.strip()
        return not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", text) or text in _PROSE
    return False


def _is_annotation(piece: list[_Token]) -> bool:
    """`(i = 1, …, n)`, `(1)`, `(\\because …)`, `\\text{where } …`: not part of the
    formula."""
    if not piece:
        return True
    if _is_prose(piece[0]) or piece[0].value in ("\\because", "\\therefore"):
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
        return any(_is_relation(t) or _is_prose(t) or t.kind == "dots" or
                   t.value in ("\\because", "\\therefore") for t in inner)
    return False


def _strip_prose(piece: list[_Token]) -> list[_Token]:
    """Prose labels at the ends of a piece (`\\text{状態価値関数：}V(s) = …`)."""
    while piece and _is_prose(piece[0]):
        piece = piece[1:]
    while piece and (_is_prose(piece[-1]) or (piece[-1].kind == "op" and piece[-1].value in
                                              ".,;?")):
        piece = piece[:-1]
    return piece


def _ends_open(piece: list[_Token]) -> bool:
    last = piece[-1]
    return _is_relation(last) or (last.kind == "op" and last.value in "+-*/,") or (
        last.kind == "cmd" and last.value in _EXPLICIT_PRODUCTS)


def _starts_open(piece: list[_Token]) -> bool:
    first = piece[0]
    return _is_relation(first) or (first.kind == "op" and first.value in "+*/") or (
        first.kind == "cmd" and first.value in _EXPLICIT_PRODUCTS)


def _pieces(row: list[_Token]) -> list[tuple[list[_Token], bool]]:
    """A row cut at top-level `\\quad` and arrows into statements; (tokens, continues)
    where `continues` says the piece came after an arrow (a new chain)."""
    depths = _depth_map(row)
    pieces: list[list[_Token]] = [[]]
    broken: list[bool] = [False]
    for token, depth in zip(row, depths, strict=True):
        if depth == 0 and (token.kind == "space" or _is_break(token)):
            pieces.append([])
            broken.append(_is_break(token))
            if token.value in ("\\because", "\\therefore"):
                pieces[-1].append(token)
            if token.value == "\\xrightarrow":
                pieces[-1].append(_Token("skipgroup", "", token.pos, token.end))
            continue
        pieces[-1].append(token)
    cleaned: list[list[_Token]] = []
    for piece in pieces:
        if piece and piece[0].kind == "skipgroup":
            piece = piece[1:]
            if piece and piece[0].value == "{":
                try:
                    piece = piece[_group_end(piece, 0) + 1:]
                except Refused:
                    piece = []
        cleaned.append(piece)
    merged: list[tuple[list[_Token], bool]] = []
    for piece, after_break in zip(cleaned, broken, strict=True):
        if not piece:
            continue
        if merged and not after_break and (
                _ends_open(merged[-1][0]) or _starts_open(piece)) and \
                not (piece and _is_relation(piece[0]) and any(
                    _is_relation(t) for t in _top_level(merged[-1][0]))
                     and not _ends_open(merged[-1][0])):
            merged[-1] = (merged[-1][0] + piece, merged[-1][1])
            continue
        if _is_annotation(piece):
            continue
        merged.append((piece, after_break))
    return [(_strip_prose(piece), after) for piece, after in merged if _strip_prose(piece)]


def _chains(tokens: list[_Token]) -> list[_RawChain]:
    chains: list[_RawChain] = []
    rows = _rows(tokens)
    pending: list[_Token] = []
    for number, row in enumerate(rows):
        row = _cells(row)
        while len(row) > 1 and row[0].kind == "op" and row[0].value == "{" and \
                _group_end(row, 0) == len(row) - 1:
            row = row[1:-1]  # {D = …}: braces around everything show nothing
        if not row:
            continue
        # `a + \\ + b`: a row that ends or starts with an operator continues the side
        if pending:
            row = pending + row
            pending = []
        if number + 1 < len(rows) and row and (
                (row[-1].kind == "op" and row[-1].value in "+*") or
                (row[-1].kind == "cmd" and row[-1].value in _EXPLICIT_PRODUCTS) or
                (rows[number + 1] and _cells(rows[number + 1])[:1] and
                 _cells(rows[number + 1])[0].value in ("+",) and
                 len(_cells(rows[number + 1])) == 1)):
            pending = row
            continue
        for piece, after_break in _pieces(row):
            depths = _depth_map(piece)
            sides: list[list[_Token]] = [[]]
            relations: list[str] = []
            for token, depth in zip(piece, depths, strict=True):
                if depth == 0 and _is_relation(token):
                    relations.append(_RELATIONS.get(token.value, token.value))
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
            chains.append(_RawChain(sides, relations))
    if pending:
        chains.append(_RawChain([pending], []))
    # a trailing relation with nothing after it (`g(z) = \sigma(z) \leftarrow 何故`)
    for chain in chains:
        while len(chain.sides) > 1 and not chain.sides[-1]:
            chain.sides.pop()
            chain.relations.pop()
    return [chain for chain in chains if any(chain.sides)]


# --------------------------------------------------------------------------- compiling

@dataclass(frozen=True, slots=True)
class _RelativeSide:
    tex: str
    offset: int
    """Lines below the equation's first line."""
    expr: Any
    reason: str | None


def compile_equation(equation: Equation, declarations: Declarations | None = None
                     ) -> CompiledEquation:
    """The equation's relation chains, each side compiled or refused with a reason."""
    declarations = declarations if declarations is not None else Declarations()
    evidence = _evidence(equation.tex)
    declarations = Declarations(
        functions=declarations.functions, scalars=declarations.scalars,
        matrices=declarations.matrices, indices=declarations.indices,
        applied=declarations.applied | evidence[0], plain=declarations.plain | evidence[1],
        transposed=declarations.transposed, steps=declarations.steps,
        defined=declarations.defined | evidence[2],
        problems=declarations.problems)
    chains, reason = _compile_cached(equation.tex, declarations)
    line = equation.loc.line
    return CompiledEquation(
        equation,
        tuple(Chain(tuple(Side(side.tex, line + side.offset, side.expr, side.reason)
                          for side in sides), relations) for sides, relations in chains),
        reason)


@functools.lru_cache(maxsize=2048)
def _compile_cached(tex: str, declarations: Declarations
                    ) -> tuple[tuple[tuple[tuple[_RelativeSide, ...], tuple[str, ...]], ...],
                               str | None]:
    if len(tex) > MAX_CHARACTERS:
        return (), f"too long to check ({len(tex)} characters)"
    try:
        tokens = _tokens(tex)
        depth = max(_depth_map(tokens), default=0)
        if depth > MAX_DEPTH:
            return (), "nested too deeply"
        balance = 0
        for token in tokens:
            if token.kind == "op" and token.value in "{}":
                balance += 1 if token.value == "{" else -1
                if balance < 0:
                    break
        if balance:
            return (), "unbalanced braces"
        raw_chains = _chains(tokens)
    except Refused as refusal:
        return (), str(refusal)
    except RecursionError:
        return (), "nested too deeply"
    if not raw_chains:
        return (), "no formula (text only)"
    import sympy

    # Unevaluated: sympy's constructors otherwise simplify as they build (most of the
    # compile time), and a side should read as written (`x^2 + x - x - 1`).
    with sympy.evaluate(False):
        return _compile_chains(_plain_tex(tex), tokens, raw_chains, declarations)


def _compile_chains(tex: str, tokens: list[_Token], raw_chains: list[_RawChain],
                    declarations: Declarations
                    ) -> tuple[tuple[tuple[tuple[_RelativeSide, ...], tuple[str, ...]], ...],
                               str | None]:
    steps = _step_letters(tokens) | declarations.steps
    matrices = _is_matrix_equation(tokens, declarations)
    labels = any(token.value == "^" and index + 3 < len(tokens) and
                 tokens[index + 1].value == "{" and tokens[index + 2].kind == "letter" and
                 tokens[index + 3].kind == "letter" and
                 tokens[index + 3].pos == tokens[index + 2].end
                 for index, token in enumerate(tokens))
    # Pass 1: which bases are indexed (a compound subscript `m_{t+1}`, or a summation
    # index `x_i` anywhere in the equation) and each chain's free index (`y_k = …a_k…`).
    context = _Context(declarations, steps=steps, matrices=matrices, labels=labels)
    heads: list[str | None] = []
    chain_letters: list[set[str]] = []
    first: dict[int, tuple[Any, str | None, list[_NameUse]]] = {}
    for chain in raw_chains:
        letters: set[str] = set()
        head = None
        for number, side in enumerate(chain.sides):
            before = len(context.uses)
            expr, reason = _try_parse(side, context)
            uses = context.uses[before:]
            first[id(side)] = (expr, reason, uses)
            if number == 0:
                head = _head_index(side)
            else:
                for use in uses:
                    if not use.compound:
                        letters |= use.letters
        heads.append(head)
        chain_letters.append(letters)
    indexed = frozenset(use.base for use in context.uses if use.compound or use.all_indices)
    compiled: list[tuple[tuple[_RelativeSide, ...], tuple[str, ...]]] = []
    for chain, head, letters in zip(raw_chains, heads, chain_letters, strict=True):
        free = frozenset({head}) if head is not None and head in letters else frozenset()
        chain_context = _Context(declarations, indexed_bases=indexed, free_index=free,
                                 steps=steps, matrices=matrices, labels=labels)
        if free:
            # the free index's bases are arrays too (`y_k`, `a_k`)
            bases = set(indexed)
            probe = _Context(declarations, free_index=free, steps=steps, matrices=matrices,
                             labels=labels)
            for side in chain.sides:
                _try_parse(side, probe)
            bases |= {use.base for use in probe.uses if use.all_indices}
            chain_context = _Context(declarations, indexed_bases=frozenset(bases),
                                     free_index=free, steps=steps, matrices=matrices,
                                     labels=labels)
        sides: list[_RelativeSide] = []
        for side in chain.sides:
            expr, reason, uses = first[id(side)]
            # parse again only if knowing the indexed names changes how this side reads
            # (sympy's constructors are most of the compile time)
            if free or any((use.base in indexed) != (use.compound or use.all_indices)
                           for use in uses if use.subscripted):
                expr, reason = _try_parse(side, chain_context)
            side_tex = tex[side[0].pos:side[-1].end].strip() if side else ""
            offset = tex[:side[0].pos].count("\n") if side else 0
            sides.append(_RelativeSide(side_tex, offset, expr, reason))
        compiled.append((tuple(sides), tuple(chain.relations)))
    return tuple(compiled), None


def _transposed(tokens: Sequence[_Token]) -> set[str]:
    """Upper-case names followed by `^T` (`X^T`, `W^{\\top}`)."""
    names = set()
    for index in range(1, len(tokens) - 1):
        if tokens[index].value != "^":
            continue
        after = tokens[index + 1]
        if after.value == "{" and index + 3 < len(tokens) and tokens[index + 3].value == "}":
            after = tokens[index + 2]
        before = tokens[index - 1]
        if after.value in _TRANSPOSE and before.kind == "letter" and before.value.isupper():
            names.add(before.value)
    return names


def _transposable(tokens: Sequence[_Token], position: int) -> bool:
    """Can the token at `position` end something transposed? Not the `{…}` of a sum's
    bounds (`\\sum_{t=1}^T`)."""
    token = tokens[position]
    if token.kind == "letter" or (token.kind == "cmd" and token.value[1:] in _GREEK) or \
            token.value in (")", "]", "\\}"):
        return True
    if token.value != "}":
        return False
    depth = 0
    for index in range(position, -1, -1):
        if tokens[index].value == "}":
            depth += 1
        elif tokens[index].value == "{":
            depth -= 1
            if depth == 0:
                before = tokens[index - 1] if index else None
                owner = tokens[index - 2] if index > 1 else None
                return not (before is not None and before.value == "_" and owner is not None
                            and owner.value in ("\\sum", "\\prod", "\\int", "\\Sigma"))
    return False


def _is_matrix_equation(tokens: Sequence[_Token], declarations: Declarations) -> bool:
    """Matrices in play: a transpose (other than `w^T x`), `\\det`, a name declared a
    matrix, or one the card transposes elsewhere."""
    for index, token in enumerate(tokens):
        if token.kind == "cmd" and token.value == "\\det":
            return True
        if token.kind == "letter" and (token.value in declarations.matrices or
                                       token.value in declarations.transposed):
            return True
        if token.kind == "cmd" and token.value[1:] in declarations.matrices:
            return True
        if token.value != "^" or index + 1 >= len(tokens):
            continue
        after = tokens[index + 1]
        if after.value == "{" and index + 3 < len(tokens) and tokens[index + 3].value == "}":
            after = tokens[index + 2]
        if after.value not in _TRANSPOSE:
            continue
        before = tokens[index - 1] if index else None
        if before is None or not _transposable(tokens, index - 1):
            continue
        following = tokens[index + (4 if tokens[index + 1].value == "{" else 2)] \
            if index + (4 if tokens[index + 1].value == "{" else 2) < len(tokens) else None
        inner_product = before is not None and before.kind == "letter" and \
            before.value.islower() and following is not None and \
            following.kind == "letter" and following.value.islower()
        if not inner_product:
            return True
    return False


def _step_letters(tokens: Sequence[_Token]) -> frozenset[str]:
    """Letters of superscripts such as `z^{t-1}` on a name: time steps."""
    letters: set[str] = set()
    for index in range(1, len(tokens) - 2):
        before, caret = tokens[index - 1], tokens[index]
        if caret.kind != "op" or caret.value != "^" or tokens[index + 1].value != "{":
            continue
        if not ((before.kind == "letter" and before.value != "e") or
                (before.kind == "cmd" and before.value[1:] in _GREEK) or
                (before.value == "}" and _transposable(tokens, index - 1))):
            continue  # not a name's superscript: (1-p)^{1-x}, e^{x-1}, \sum_{i=1}^{n-1}
        try:
            end = _group_end(tokens, index + 1)
        except Refused:
            break
        inner = tokens[index + 2:end]
        if any(t.kind == "op" and t.value in "+-" for t in inner):
            letters |= {t.value for t in inner if t.kind == "letter"}
    return frozenset(letters)


def _try_parse(tokens: list[_Token], context: _Context) -> tuple[Any, str | None]:
    if not tokens:
        return None, "empty side"
    try:
        return _Parser(tokens, context).whole(), None
    except Refused as refusal:
        return None, str(refusal)
    except RecursionError:
        return None, "nested too deeply"
    except (TypeError, ValueError, ZeroDivisionError, AttributeError) as error:
        # sympy refusing a construction (a Sum over a non-symbol, …)
        return None, f"cannot build: {type(error).__name__}"
    except Exception as error:  # noqa: BLE001 - our bug; one side must not stop the sheet
        return None, f"internal error: {type(error).__name__}: {error}"


def _head_index(tokens: list[_Token]) -> str | None:
    """The single-letter subscript of a left side that is one name (`y_k`,
    `\\text{softmax}(z)_i`, `\\hat{y}_k`), or of the numerator, else the denominator, of
    a derivative (`\\frac{\\partial E}{\\partial a_k}`, `\\frac{\\partial h_t}{\\partial
    h_{t-1}}`): the output axis either way."""
    if len(tokens) > 2 and tokens[0].value in ("\\frac", "\\dfrac", "\\tfrac") and \
            tokens[1].value == "{":
        middle = _group_end(tokens, 1)
        if middle + 2 < len(tokens) and tokens[middle + 1].value == "{" and \
                _group_end(tokens, middle + 1) == len(tokens) - 1:
            for part in (tokens[2:middle], tokens[middle + 2:-1]):
                if part and part[0].value in ("\\partial", "d") and len(part) > 1:
                    head = _head_index(part[1:])
                    if head is not None:
                        return head
            return None
    if len(tokens) >= 3 and tokens[-2].value == "_" and tokens[-1].kind == "letter":
        return tokens[-1].value
    if len(tokens) >= 5 and tokens[-4].value == "_" and tokens[-3].value == "{" and \
            tokens[-2].kind == "letter" and tokens[-1].value == "}":
        return tokens[-2].value
    return None


# --------------------------------------------------------------------------- formulas

@dataclass(frozen=True, slots=True)
class Formula:
    """SPEC.md's `card.eq`: an equation's right-hand side (after its last `=`) as a numpy
    function of its symbols."""

    lhs: str
    """LaTeX of the side before the last `=` ("" when the equation has none)."""
    rhs: str
    expr: Any
    """The sympy expression of the right-hand side."""
    symbols: tuple[str, ...]
    """The names `__call__` accepts (Python names, sorted); indexed ones take 1-D arrays."""
    free_index: str | None
    """The left side's free index (`k` in `y_k = …`): the output axis."""
    line: int

    def __call__(self, **values: Any) -> Any:
        missing = [name for name in self.symbols if name not in values]
        unknown = [name for name in values if name not in self.symbols]
        if missing or unknown:
            problems = []
            if missing:
                problems.append(f"missing {', '.join(missing)}")
            if unknown:
                problems.append(f"unknown {', '.join(unknown)}")
            raise TypeError(f"{'; '.join(problems)}: the equation at line {self.line} "
                            f"takes {', '.join(self.symbols) or 'no names'}")
        return _evaluate_formula(self, values)

    def __repr__(self) -> str:
        return f"<Formula {self.lhs} = {self.rhs}>" if self.lhs else f"<Formula {self.rhs}>"


def formula(equation: Equation, declarations: Declarations | None = None) -> Formula:
    """The equation as a `Formula`, or ValueError saying why it does not compile."""
    compiled = compile_equation(equation, declarations)
    if compiled.reason:
        raise ValueError(compiled.reason)
    chosen: tuple[Chain, int] | None = None
    for chain in compiled.chains:
        for position, relation in enumerate(chain.relations):
            if relation == "=":
                chosen = (chain, position + 1)
    if chosen is None:
        if len(compiled.chains) != 1 or len(compiled.chains[0].sides) != 1:
            raise ValueError("no `=` and more than one expression")
        chosen = (compiled.chains[0], 0)
    chain, position = chosen
    rhs = chain.sides[position]
    lhs = chain.sides[position - 1] if position > 0 else None
    if rhs.expr is None:
        raise ValueError(rhs.reason or "the right-hand side does not compile")
    free_index = None
    if lhs is not None:
        head = _head_index(_tokens(lhs.tex)) if lhs.tex else None
        if head is not None and head in {str(i) for item in _indexed(rhs.expr)
                                         for i in item.indices}:
            free_index = head
    symbols = _arguments(rhs.expr, free_index)
    return Formula(lhs.tex if lhs is not None else "", rhs.tex, rhs.expr, symbols,
                   free_index, rhs.line)


def _indexed(expr: Any) -> set[Any]:
    import sympy

    return set(expr.atoms(sympy.Indexed))


def _arguments(expr: Any, free_index: str | None) -> tuple[str, ...]:
    import sympy

    names: set[str] = set()
    bases = {item.base.label for item in expr.atoms(sympy.Indexed)}
    for symbol in expr.free_symbols:
        if symbol in bases or str(symbol).startswith("#") or str(symbol) == free_index \
                or str(symbol) == "|":
            continue
        if isinstance(symbol, sympy.Symbol):
            names.add(str(symbol))
    names |= {str(base) for base in bases}
    return tuple(sorted(names))


def _numeric(value: Any) -> Any:
    """An array of floats, or of complex numbers when complex ones are given: never a
    silent cast that drops the imaginary part."""
    import numpy as np

    array = np.asarray(value)
    if array.dtype.kind == "c":
        return array
    return array.astype(float) if array.dtype.kind in "biuf" else np.asarray(value, dtype=float)


def _index_names(formula_: Formula) -> set[str]:
    """Arguments that say where to look (`i` of `x_{i+m}`, the `F` of `\\sum_{m=0}^{F-1}`):
    one number each per evaluation."""
    import sympy

    names: set[str] = set()
    for item in formula_.expr.atoms(sympy.Indexed):
        for index in item.indices:
            names |= {str(symbol) for symbol in index.free_symbols}
    for node in formula_.expr.atoms(sympy.Sum, sympy.Product):
        for limit in node.limits:
            for bound in limit[1:]:
                names |= {str(symbol) for symbol in bound.free_symbols}
    return names & set(formula_.symbols)


def _evaluate_formula(formula_: Formula, values: Mapping[str, Any]) -> Any:
    import numpy as np

    looped = sorted(name for name in _index_names(formula_)
                    if np.ndim(values[name]) > 0)
    if not looped:
        return _evaluate_once(formula_, values)
    # `y_i = \\sum_m x_{i+m} w_m` with an array of i: one evaluation per value of i (an
    # index picks elements, so it cannot simply broadcast), results stacked in its shape.
    try:
        grids = np.broadcast_arrays(*(np.asarray(values[name]) for name in looped))
    except ValueError as error:
        raise TypeError(f"the index arrays {', '.join(looped)} do not broadcast: "
                        f"{error}") from None
    if any(grid.dtype.kind not in "biu" and not np.all(np.mod(grid, 1) == 0)
           for grid in grids):
        raise TypeError(f"{', '.join(looped)}: an index takes whole numbers")
    results = []
    for position in np.ndindex(grids[0].shape):
        scalar = dict(values)
        scalar.update({name: int(grid[position]) for name, grid in zip(looped, grids,
                                                                         strict=True)})
        results.append(np.asarray(_evaluate_once(formula_, scalar)))
    stacked = np.stack(results) if results else np.empty((0,))
    return stacked.reshape(grids[0].shape + stacked.shape[1:])


def _evaluate_once(formula_: Formula, values: Mapping[str, Any]) -> Any:
    import numpy as np
    import sympy

    expr = formula_.expr
    indices: list[str] = []
    if formula_.free_index:
        indices.append(formula_.free_index)
    for node in sympy.preorder_traversal(expr):
        if isinstance(node, (sympy.Sum, sympy.Product)):
            for limit in node.limits:
                if str(limit[0]) not in indices:
                    indices.append(str(limit[0]))
    arrays = {name: _numeric(value) for name, value in values.items()}
    evaluator = _NumpyEvaluator(arrays, indices)
    # Each index has an axis of its own, in `indices` order (the free index first); sums
    # keep theirs at length 1, so they are squeezed away at the end.
    if formula_.free_index:
        length = evaluator.length_of(expr, formula_.free_index)
        evaluator.bind(formula_.free_index, 1, length)
    result = _numeric(evaluator.value(expr))
    if indices:
        shape = [1] * len(indices)
        if formula_.free_index:
            shape[0] = length
        result = np.broadcast_to(result, np.broadcast_shapes(result.shape, tuple(shape)))
        reduced = tuple(range(1 if formula_.free_index else 0, len(indices)))
        result = result.squeeze(axis=reduced) if reduced else result
    if result.ndim == 0:
        return complex(result) if result.dtype.kind == "c" else float(result)
    return result


class _NumpyEvaluator:
    """A sympy expression evaluated with numpy: each index (the free one, each sum's)
    gets an axis of its own, so sums and products are array reductions."""

    def __init__(self, values: Mapping[str, Any], indices: Sequence[str]) -> None:
        self.values = values
        self.indices = list(indices)
        self.bound: dict[str, tuple[Any, int]] = {}  # index → (array on its axis, offset)

    def axis_array(self, name: str, low: int, high: int) -> Any:
        import numpy as np

        shape = [1] * len(self.indices)
        axis = self.indices.index(name)
        shape[axis] = max(high - low + 1, 0)
        return np.arange(low, high + 1).reshape(shape)

    def bind(self, name: str, low: int, high: int) -> None:
        self.bound[name] = (self.axis_array(name, low, high), low)

    def length_of(self, expr: Any, index: str) -> int:
        """How far an index without bounds runs: the length of the arrays it indexes."""
        import sympy

        for item in expr.atoms(sympy.Indexed):
            for position, value in enumerate(item.indices):
                if str(value) == index:
                    array = self.values.get(str(item.base.label))
                    if array is not None and getattr(array, "ndim", 0) > position:
                        return int(array.shape[position])
        raise ValueError(f"cannot tell how far {index} runs: no array is indexed by it")

    def value(self, expr: Any) -> Any:
        import numpy as np
        import sympy
        from sympy.core.function import AppliedUndef

        if expr.is_Number:
            return float(expr)
        if expr is sympy.pi:
            return np.pi
        if expr is sympy.E:
            return np.e
        if isinstance(expr, sympy.Symbol):
            name = str(expr)
            if name in self.bound:
                return self.bound[name][0]
            return self.values[name]
        if isinstance(expr, sympy.Indexed):
            array = self.values[str(expr.base.label)]
            positions = []
            for index in expr.indices:
                offset = self.bound[str(index)][1] if str(index) in self.bound else 1
                positions.append(np.asarray(self.value(index)).astype(int) - offset)
            return array[tuple(positions)]
        if isinstance(expr, sympy.Add):
            return sum((self.value(arg) for arg in expr.args[1:]), self.value(expr.args[0]))
        if isinstance(expr, sympy.Mul):
            result = self.value(expr.args[0])
            for arg in expr.args[1:]:
                result = result * self.value(arg)
            return result
        if isinstance(expr, sympy.Pow):
            base, exponent = self.value(expr.base), self.value(expr.exp)
            return np.power(_numeric(base), exponent)
        if isinstance(expr, (sympy.Sum, sympy.Product)):
            body = expr.function
            result = None
            (index, low, high), *rest = expr.limits
            name = str(index)
            low_value = int(self.value(low))
            if str(high).startswith("#"):
                high_value = self.length_of(body, name) + low_value - 1
            else:
                high_value = int(self.value(high))
            saved = self.bound.get(name)
            self.bind(name, low_value, high_value)
            try:
                inner = body if not rest else type(expr)(body, *rest)
                values = _numeric(self.value(inner))
                axis = self.indices.index(name)
                full_shape = list(np.broadcast_shapes(values.shape,
                                                      self.bound[name][0].shape))
                values = np.broadcast_to(values, full_shape)
                if isinstance(expr, sympy.Sum):
                    result = values.sum(axis=axis, keepdims=True)
                else:
                    result = values.prod(axis=axis, keepdims=True)
            finally:
                if saved is None:
                    self.bound.pop(name, None)
                else:
                    self.bound[name] = saved
            return result
        functions: dict[Any, Callable[..., Any]] = {
            sympy.exp: np.exp, sympy.log: np.log, sympy.sin: np.sin, sympy.cos: np.cos,
            sympy.tan: np.tan, sympy.tanh: np.tanh, sympy.sinh: np.sinh,
            sympy.cosh: np.cosh, sympy.Abs: np.abs, sympy.floor: np.floor,
            sympy.ceiling: np.ceil, sympy.sign: np.sign, sympy.asin: np.arcsin,
            sympy.acos: np.arccos, sympy.atan: np.arctan,
        }
        if expr.func in functions:
            return functions[expr.func](*(self.value(arg) for arg in expr.args))
        if isinstance(expr, sympy.Max):
            return functools.reduce(np.maximum, (self.value(arg) for arg in expr.args))
        if isinstance(expr, sympy.Min):
            return functools.reduce(np.minimum, (self.value(arg) for arg in expr.args))
        if isinstance(expr, sympy.factorial):
            from math import gamma

            return np.vectorize(lambda n: gamma(n + 1))(self.value(expr.args[0]))
        if expr.func is _Inner.get():
            return np.dot(self.value(expr.args[0]), self.value(expr.args[1]))
        if isinstance(expr, AppliedUndef) and str(expr.func) == "sigma" and len(expr.args) == 1:
            return 1 / (1 + np.exp(-_numeric(self.value(expr.args[0]))))
        if isinstance(expr, AppliedUndef):
            raise ValueError(f"{expr.func}(…) is not defined in this equation")  # noqa: TRY004
        if isinstance(expr, sympy.Derivative):
            raise ValueError("a derivative of an unknown quantity has no value")  # noqa: TRY004
        raise ValueError(f"cannot evaluate {type(expr).__name__}")




# --------------------------------------------------------------------------- fast numbers

class _Outside(Exception):
    """The point is outside where the notes mean the expression (a log of a negative
    number, a pole): no value there."""


_MAX_TERMS = 10_000
"""Sums longer than this (per evaluation) are left to sympy."""


class NotNumeric(Exception):
    """An expression (or a value at one point) that plain complex arithmetic cannot
    compute; the checker then evaluates it with sympy."""


@dataclass(frozen=True, slots=True)
class NumericFunction:
    """A sympy expression as plain Python complex arithmetic (`cmath`), for `sheets
    check`'s random points: ~1000x faster than sympy's `xreplace(…).evalf()`, which was
    most of a cold check. Sums and products are unrolled for the whole bounds of each
    point. Calling it gives the value, None outside where the notes mean it (the same
    skips as check.py's `_real_guards`: a log of a number that is not positive, a root
    or non-whole power of a negative one; a pole; an overflow), or raises `NotNumeric`
    for what it cannot evaluate (the caller falls back to sympy)."""

    expr: Any
    """The expression evaluated (derivatives of known functions worked out)."""
    run: Callable[[dict[str, complex], Callable[[str, str], float]], complex]

    def __call__(self, point: Mapping[str, float],
                 indexed: Callable[[str, str], float]) -> complex | None:
        """`point`: {name: value}; `indexed(key, label)`: the value of the entry `key`
        (`x[2]`, as sympy prints it) of the array named `label`."""
        import cmath

        env = {name: complex(value) for name, value in point.items()}
        try:
            value = self.run(env, indexed)
        except (_Outside, ZeroDivisionError, OverflowError, ValueError):
            return None
        if not (cmath.isfinite(value)):
            return None
        return value


def numeric_function(expr: Any) -> NumericFunction:
    """The expression as a `NumericFunction` (cached per expression); `NotNumeric`
    when it uses something without a plain numeric meaning (an unknown function, an
    integral, an infinite sum)."""
    try:
        return _numeric_function_cached(expr)
    except TypeError as error:  # unhashable
        raise NotNumeric(str(error)) from None


@functools.lru_cache(maxsize=4096)
def _numeric_function_cached(expr: Any) -> NumericFunction:
    import sympy

    if expr.has(sympy.Derivative):
        try:
            expr = expr.replace(lambda node: isinstance(node, sympy.Derivative),
                                lambda node: node.doit())
        except Exception as error:  # noqa: BLE001 - sympy's many kinds; then sympy's path
            raise NotNumeric(f"derivative: {error}") from None
    return NumericFunction(expr, _numeric_builder(expr))


def _whole(value: complex) -> int:
    if value.imag != 0 or not float(value.real).is_integer():
        raise NotNumeric("a bound or index that is not a whole number")
    return int(value.real)


def _real(value: complex) -> float:
    if abs(value.imag) > 1e-12 * max(1.0, abs(value.real)):
        raise _Outside
    return value.real


def _numeric_builder(expr: Any) -> Callable[..., complex]:
    """`expr` as a closure `(env, indexed) -> complex`."""
    import cmath
    import math

    import sympy

    if expr.is_Number:
        if expr.is_infinite or expr is sympy.nan or expr.is_finite is False:
            raise NotNumeric("an infinite number")
        constant = complex(expr)
        return lambda env, indexed: constant
    if expr is sympy.pi or expr is sympy.E or expr is sympy.I or expr is sympy.EulerGamma:
        constant = complex(expr.evalf(20))
        return lambda env, indexed: constant
    if isinstance(expr, sympy.Symbol):
        name = expr.name

        def symbol(env: dict[str, complex], indexed: Callable[[str, str], float]) -> complex:
            try:
                return env[name]
            except KeyError:
                raise NotNumeric(f"no value for {name}") from None
        return symbol
    if isinstance(expr, sympy.Indexed):
        label = str(expr.base.label)
        positions = [_numeric_builder(index) for index in expr.indices]
        static = str(expr) if not any(index.free_symbols for index in expr.indices) else None

        def element(env: dict[str, complex], indexed: Callable[[str, str], float]) -> complex:
            if static is not None:
                return complex(indexed(static, label))
            key = f"{label}[{', '.join(str(_whole(p(env, indexed))) for p in positions)}]"
            return complex(indexed(key, label))
        return element
    if isinstance(expr, sympy.Add):
        terms = [_numeric_builder(arg) for arg in expr.args]
        return lambda env, indexed: sum((term(env, indexed) for term in terms), 0j)
    if isinstance(expr, sympy.Mul):
        factors = [_numeric_builder(arg) for arg in expr.args]

        def product(env: dict[str, complex], indexed: Callable[[str, str], float]) -> complex:
            result = 1 + 0j
            for factor in factors:
                result *= factor(env, indexed)
            return result
        return product
    if isinstance(expr, sympy.Pow):
        base, exponent = _numeric_builder(expr.base), _numeric_builder(expr.exp)
        guarded = not expr.base.is_number

        def power(env: dict[str, complex], indexed: Callable[[str, str], float]) -> complex:
            b, e = base(env, indexed), exponent(env, indexed)
            whole = e.imag == 0 and float(e.real).is_integer()
            if guarded and not whole and (abs(b.imag) > 1e-12 or b.real < 0):
                raise _Outside  # a root of a negative number: not what the notes mean
            if whole and b.imag == 0:
                if b.real == 0 and e.real < 0:
                    raise _Outside  # a pole
                return complex(b.real ** int(e.real))
            if b == 0:
                if e.real > 0:
                    return 0j
                raise _Outside
            return complex(b ** e)
        return power
    if isinstance(expr, (sympy.Sum, sympy.Product)):
        body = _numeric_builder(expr.function)
        limits = [(str(limit[0]), _numeric_builder(limit[1]), _numeric_builder(limit[2]))
                  for limit in expr.limits]
        is_sum = isinstance(expr, sympy.Sum)

        def reduce(env: dict[str, complex], indexed: Callable[[str, str], float],
                   level: int) -> complex:
            if level < 0:
                return body(env, indexed)
            name, low_of, high_of = limits[level]
            low, high = _whole(low_of(env, indexed)), _whole(high_of(env, indexed))
            # Karr's convention, as sympy: a sum from a to b < a is minus the sum from
            # b + 1 to a - 1 (a product: its reciprocal)
            invert = high < low - 1
            start, stop = (high + 1, low - 1) if invert else (low, high)
            if stop - start + 1 > _MAX_TERMS:
                raise NotNumeric("a long sum")
            saved = env.get(name)
            result = 0j if is_sum else 1 + 0j
            try:
                for value in range(start, stop + 1):
                    env[name] = complex(value)
                    term = reduce(env, indexed, level - 1)
                    result = result + term if is_sum else result * term
            finally:
                if saved is None:
                    env.pop(name, None)
                else:
                    env[name] = saved
            if invert:
                result = -result if is_sum else 1 / result
            return result

        outermost = len(limits) - 1
        return lambda env, indexed: reduce(env, indexed, outermost)
    if isinstance(expr, sympy.log) and len(expr.args) == 1:
        argument = _numeric_builder(expr.args[0])

        def logarithm(env: dict[str, complex], indexed: Callable[[str, str], float]) -> complex:
            value = argument(env, indexed)
            if abs(value.imag) > 1e-12 or value.real <= 0:
                raise _Outside
            return complex(math.log(value.real))
        return logarithm
    plain: dict[Any, Callable[[complex], complex]] = {
        sympy.exp: cmath.exp, sympy.sin: cmath.sin, sympy.cos: cmath.cos,
        sympy.tan: cmath.tan, sympy.tanh: cmath.tanh, sympy.sinh: cmath.sinh,
        sympy.cosh: cmath.cosh, sympy.asin: cmath.asin, sympy.acos: cmath.acos,
        sympy.atan: cmath.atan, sympy.Abs: lambda z: complex(abs(z)),
        sympy.floor: lambda z: complex(math.floor(_real(z))),
        sympy.ceiling: lambda z: complex(math.ceil(_real(z))),
        sympy.sign: lambda z: complex((_real(z) > 0) - (_real(z) < 0)),
        sympy.factorial: lambda z: complex(math.gamma(_real(z) + 1)),
    }
    if expr.func in plain and len(expr.args) == 1:
        function, argument = plain[expr.func], _numeric_builder(expr.args[0])
        return lambda env, indexed: function(argument(env, indexed))
    if expr.func is _Inner.get():  # `w^T x` at scalar points: the product, as sympy's
        left, right = (_numeric_builder(arg) for arg in expr.args)
        return lambda env, indexed: left(env, indexed) * right(env, indexed)
    if isinstance(expr, sympy.binomial) and len(expr.args) == 2:
        top_of, bottom_of = (_numeric_builder(arg) for arg in expr.args)

        def binomial(env: dict[str, complex], indexed: Callable[[str, str], float]) -> complex:
            top, bottom = _real(top_of(env, indexed)), _real(bottom_of(env, indexed))
            if top.is_integer() and bottom.is_integer() and top >= 0:
                return complex(math.comb(int(top), int(bottom)) if bottom >= 0 else 0)
            if top.is_integer() or bottom.is_integer():
                raise NotNumeric("a binomial of a negative whole number")
            return complex(math.gamma(top + 1) / (math.gamma(bottom + 1)
                                                  * math.gamma(top - bottom + 1)))
        return binomial
    if isinstance(expr, (sympy.Max, sympy.Min)):
        arguments = [_numeric_builder(arg) for arg in expr.args]
        choose = max if isinstance(expr, sympy.Max) else min
        return lambda env, indexed: complex(choose(_real(a(env, indexed)) for a in arguments))
    raise NotNumeric(f"no plain numeric meaning: {type(expr).__name__}")
