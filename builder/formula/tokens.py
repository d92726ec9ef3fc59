"""LaTeX → tokens: the tokenizer, the normalisation that drops presentation markup, and
the helpers that look at token lists (groups, depth, top-level splits, script labels)."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from builder.formula.vocabulary import BREAKS, GREEK, RELATIONS, word_set

MAX_DEPTH = 40
"""Groups nested deeper than this are refused (the parser recurses per level)."""


class Refused(Exception):
    """Raised inside the parser; becomes a side's `reason`."""


@dataclass(frozen=True, slots=True)
class Token:
    """One token of an equation's LaTeX."""

    kind: str
    """cmd, letter, num, op, text, word, space, rowsep, begin, end, dots, refuse."""
    value: str
    pos: int
    """Where it starts in `plain_tex(tex)`."""
    end: int
    spaced: bool = False
    """Whitespace right before it in the source (`w_i (y_i - x_i)`, not `g_i(x)`)."""
    bold: bool = False
    """Set in bold (`\\mathbf{W}`, `\\boldsymbol{\\Sigma}`): a bold capital is a matrix."""


GREEK_UNICODE = {
    **dict(zip("αβγδεζηθικλμνξπρστυφχψω",
               ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota",
                "kappa", "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon",
                "phi", "chi", "psi", "omega"], strict=True)),
    **dict(zip("ΓΔΘΛΞΠΣΥΦΨΩ",
               ["Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi",
                "Psi", "Omega"], strict=True)),
    "ϵ": "epsilon", "ϑ": "vartheta", "ϕ": "phi", "µ": "mu"}
"""Greek letters typed as Unicode → the LaTeX command's name. The letter a keyboard gives
(`ε`, `φ`, U+03B5 and U+03C6) names what `\\epsilon` and `\\phi` name, as do their symbol
forms (`ϵ`, `ϕ`), so a card may mix the spellings; `µ` (the micro sign) is `\\mu`. `Σ` is
the letter `\\Sigma`, not `∑`."""

UNICODE = {"∥": "\\|", "−": "-", "×": "\\times ", "·": "\\cdot ", "⋅": "\\cdot ",
           "≤": "\\le ", "≥": "\\ge ", "≠": "\\ne ", "≈": "\\approx ", "∈": "\\in ",
           "∉": "\\notin ", "∝": "\\propto ", "≡": "\\equiv ", "→": "\\to ",
           "⇒": "\\Rightarrow ", "∑": "\\sum ", "∏": "\\prod ", "∫": "\\int ",
           "∂": "\\partial ", "∇": "\\nabla ", "√": "\\surd ", "∞": "\\infty ",
           "±": "\\pm ", "∓": "\\mp ", "⊤": "\\top ", "…": "...", "⋯": "\\cdots ",
           "\u3000": " ", "（": "(", "）": ")", "\xa0": " ",
           **{letter: f"\\{name} " for letter, name in GREEK_UNICODE.items()},
           **{chr(0x1D434 + number): letter for number, letter in enumerate(
               "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")}, "\u210e": "h"}
"""Unicode math written directly → the LaTeX it stands for (trailing spaces end a command:
`αx` is `\\alpha x`); mathematical italic letters (`𝑥`, pasted from a word processor) are
the letters. `√` is `\\surd`, which reads as `\\sqrt` and also takes `√(x + 1)`
whole."""

TOKEN_PATTERN = re.compile(r"""
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


_UNICODE_TABLE = str.maketrans(UNICODE)


def plain_tex(tex: str) -> str:
    """Unicode math written directly (`∥`, `×`, `α`, a full-width space) as LaTeX. Token
    positions refer to this text; it has the same lines as the original."""
    return tex if tex.isascii() else tex.translate(_UNICODE_TABLE)


def source_text(tex: str, start: int, end: int) -> str:
    """What `tex` wrote where `plain_tex(tex)[start:end]` is (`α` for `\\alpha `), so that
    a message quotes the note."""
    if tex.isascii():
        return tex[start:end]
    origin = _origins(tex)
    return tex[origin[start]:origin[end - 1] + 1] if end > start else ""


@functools.lru_cache(maxsize=256)
def _origins(tex: str) -> tuple[int, ...]:
    """For each character of `plain_tex(tex)`, the index in `tex` it came from."""
    origin: list[int] = []
    for index, char in enumerate(tex):
        origin.extend([index] * len(UNICODE.get(char, char)))
    return tuple(origin)


def tokenize(tex: str) -> list[Token]:
    """Tokens of `plain_tex(tex)` (which the caller must slice, not `tex`)."""
    tex = plain_tex(tex)
    tokens: list[Token] = []
    spaced = False
    for match in TOKEN_PATTERN.finditer(tex):
        kind = match.lastgroup or "op"
        if kind in ("benv", "eenv"):
            kind = "begin" if match.group("begin") else "end"
        value = match.group(0)
        if kind == "space":
            spaced = True
            continue
        if kind == "begin":
            value = match.group("benv")
        elif kind == "end":
            value = match.group("eenv")
        elif kind == "cmd":
            value = value.rstrip("*") if value[1:].rstrip("*").isalpha() else value
        tokens.append(Token(kind, value, match.start(), match.end(), spaced))
        spaced = False
    return tokens


DROP = word_set(r"""\large \Large \LARGE \small \normalsize \huge \Huge \tiny \footnotesize
\scriptsize \displaystyle \textstyle \scriptstyle \scriptscriptstyle \left \right \middle \big
\Big \bigg \Bigg \bigl \bigr \Bigl \Bigr \biggl \biggr \Biggl \Biggr \bigm \Bigm \nonumber
\notag \qed \limits \nolimits \, \; \: \! \> \  \allowbreak \strut""") | {"\\ ", "\\\n"}
DROP_WITH_ARGUMENT = frozenset({"\\label", "\\tag", "\\vspace", "\\phantom", "\\color",
                                 "\\hphantom", "\\vphantom"})
SPACES = frozenset({"\\quad", "\\qquad", "\\hspace", "\\hskip", "\\enspace"})
UNWRAP = frozenset({"\\boxed", "\\mathbf", "\\boldsymbol", "\\bm", "\\mathit", "\\pmb",
                     "\\mathnormal", "\\underline", "\\bold", "\\mathop", "\\mathrel",
                     "\\mathbin", "\\mathord", "\\mathopen", "\\mathclose",
                     "\\mathpunct"})
"""Commands whose group reads as its content: bold and italic faces, boxes, and the
spacing classes (`\\mathrel{|}` is a `|`)."""
BOLD = frozenset({"\\mathbf", "\\boldsymbol", "\\bm", "\\pmb", "\\bold"})
"""Bold faces: notes set vectors and matrices in bold."""
BARS = {"\\vert": "|", "\\lvert": "|", "\\rvert": "|", "\\Vert": "\\|", "\\lVert": "\\|",
        "\\rVert": "\\|"}
"""Spelled-out bars → the bar they typeset: `\\vert` is `|`, `\\Vert` is `\\|`."""
WORD_COMMANDS = frozenset({"\\text", "\\mathrm", "\\operatorname", "\\textrm", "\\textbf",
                    "\\textit", "\\texttt", "\\mathsf", "\\mathtt", "\\textsf", "\\mbox",
                    "\\rm"})


OPENING_COMMANDS = frozenset({"\\{", "\\lfloor", "\\lceil", "\\langle"})
CLOSING_COMMANDS = frozenset({"\\}", "\\rfloor", "\\rceil", "\\rangle"})
"""Commands that open and close a group: what is inside is not at the top level (the
comma of `\\langle v, x \\rangle` separates no statements)."""


Macro = tuple[str, int, str]
"""A macro the notes define: its command (`\\R`), how many arguments it takes, and the
LaTeX it stands for (`#1` where an argument goes)."""

_DEFINERS = frozenset({"\\newcommand", "\\renewcommand", "\\providecommand", "\\def",
                        "\\gdef", "\\DeclareMathOperator"})


def read_tokens(tex: str, macros: tuple[Macro, ...] = ()) -> list[Token]:
    """Tokens of an equation with presentation markup removed (positions refer to
    `plain_tex(tex)`); the macros it defines (`\\newcommand`, `\\def`, …), and those
    given, expanded, and its definitions dropped."""
    return list(_cached_tokens(tex, macros))


@functools.lru_cache(maxsize=4096)
def _cached_tokens(tex: str, macros: tuple[Macro, ...]) -> tuple[Token, ...]:
    plain = plain_tex(tex)
    tokens, defined = _definitions(tokenize(tex), plain)
    if macros or defined:
        tokens = _expanded(tokens, {name: (arity, body) for name, arity, body in
                                    (*macros, *defined)})
    return tuple(_combined_functions(_normalise(tokens, plain)))


def _combined_functions(tokens: list[Token]) -> list[Token]:
    """`(f \\mathrel{\\square} g)`: the function two functions make (their infimal
    convolution, which the note defines), one name `f_box_g` applied as any function
    is: `(f \\square g)(x)`, `(f \\square g)^*`. Anything else around `\\square` is left
    to be refused."""
    if not any(token.kind == "cmd" and token.value == "\\square" for token in tokens):
        return tokens
    out: list[Token] = []
    index = 0
    while index < len(tokens):
        window = tokens[index:index + 5]
        if len(window) == 5 and window[0].value == "(" and window[4].value == ")" and \
                window[2].kind == "cmd" and window[2].value == "\\square" and \
                window[1].kind == "letter" and window[3].kind == "letter":
            out.append(Token("word", f"{window[1].value}_box_{window[3].value}",
                             window[0].pos, window[4].end))
            index += 5
            continue
        out.append(tokens[index])
        index += 1
    return out


def macro_definitions(tex: str) -> tuple[Macro, ...]:
    """The macros an equation defines (`\\newcommand{\\R}{\\mathbb{R}}`,
    `\\def\\x#1{…}`, `\\DeclareMathOperator{\\argmax}{arg\\,max}`), so that a card's
    other equations read them too."""
    try:
        return tuple(_definitions(tokenize(tex), plain_tex(tex))[1])
    except Refused:
        return ()


def _definitions(tokens: list[Token], tex: str) -> tuple[list[Token], list[Macro]]:
    """The tokens without their macro definitions, and the definitions."""
    if not any(t.kind == "cmd" and t.value in _DEFINERS for t in tokens):
        return tokens, []
    kept: list[Token] = []
    found: list[Macro] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.kind != "cmd" or token.value not in _DEFINERS:
            kept.append(token)
            index += 1
            continue
        position = index + 1
        if position < len(tokens) and tokens[position].value == "*":
            position += 1  # \DeclareMathOperator*
        if position >= len(tokens):
            raise Refused("incomplete macro definition")
        if tokens[position].value == "{":  # \newcommand{\R}
            close = group_end(tokens, position)
            if close != position + 2 or tokens[position + 1].kind != "cmd":
                raise Refused("macro definition without a command to define")
            name = tokens[position + 1].value
            position = close + 1
        elif tokens[position].kind == "cmd":  # \newcommand\R, \def\R
            name = tokens[position].value
            position += 1
        else:
            raise Refused("macro definition without a command to define")
        arity = 0
        if position < len(tokens) and tokens[position].value == "[":
            close = position + 2
            if close >= len(tokens) or tokens[close].value != "]" or \
                    tokens[position + 1].kind != "num":
                raise Refused("macro definition with an unreadable argument count")
            arity = int(tokens[position + 1].value)
            position = close + 1
        while position + 1 < len(tokens) and tokens[position].value == "#" and \
                tokens[position + 1].kind == "num":
            arity = max(arity, int(tokens[position + 1].value))  # \def\f#1#2{…}
            position += 2
        if position >= len(tokens) or tokens[position].value != "{":
            raise Refused("macro definition without a body")
        close = group_end(tokens, position)
        body = tex[tokens[position].end:tokens[close].pos]
        if token.value == "\\DeclareMathOperator":
            body = "\\operatorname{" + body + "}"
        found.append((name, arity, body))
        index = close + 1
    return kept, found


def _expanded(tokens: list[Token], macros: dict[str, tuple[int, str]], depth: int = 0
              ) -> list[Token]:
    """The tokens with each use of a macro replaced by its body, its arguments put in;
    the body's tokens take the place (`pos`, `end`) of the whole use."""
    if depth > 8:
        raise Refused("macros nested too deeply")
    out: list[Token] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.kind != "cmd" or token.value not in macros:
            out.append(token)
            index += 1
            continue
        arity, body = macros[token.value]
        arguments: list[list[Token]] = []
        position = index + 1
        for _ in range(arity):
            if position >= len(tokens):
                raise Refused(f"{token.value} without its arguments")
            close = group_end(tokens, position)
            arguments.append(tokens[position + 1:close] if close > position
                             else [tokens[position]])
            position = close + 1
        end = tokens[position - 1].end
        replaced: list[Token] = []
        inner = tokenize(body)
        number = 0
        while number < len(inner):
            piece = inner[number]
            if piece.value == "#" and number + 1 < len(inner) and \
                    inner[number + 1].kind == "num":
                chosen = int(inner[number + 1].value)
                if not 1 <= chosen <= arity:
                    raise Refused(f"{token.value}: no argument #{chosen}")
                replaced.extend(Token(t.kind, t.value, token.pos, end)
                                for t in arguments[chosen - 1])
                number += 2
                continue
            replaced.append(Token(piece.kind, piece.value, token.pos, end, piece.spaced))
            number += 1
        out.extend(_expanded(replaced, macros, depth + 1))
        index = position
    return out


def group_start(tokens: Sequence[Token], end: int) -> int | None:
    """Index of the `{` opening the group the `}` at `end` closes (None if none does)."""
    depth = 0
    for index in range(end, -1, -1):
        if tokens[index].value == "}":
            depth += 1
        elif tokens[index].value == "{":
            depth -= 1
            if depth == 0:
                return index
    return None


def group_end(tokens: Sequence[Token], start: int) -> int:
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


def _unwrapped(tokens: list[Token], opening: int, start: int) -> list[Token]:
    """The tokens with the group at `opening` replaced by its content, which keeps the
    source span of the command and braces (so a side's LaTeX is cut whole)."""
    close = group_end(tokens, opening)
    inner = tokens[opening + 1:close]
    if inner:
        first, last = inner[0], inner[-1]
        inner[0] = Token(first.kind, first.value, start, first.end)
        inner[-1] = Token(last.kind, last.value, inner[-1].pos, tokens[close].end)
    return [*tokens[:opening], *inner, *tokens[close + 1:]]


def _evaluation_bars(tokens: list[Token]) -> list[Token]:
    """`\\left. f(x) \\right|_{x=0}`: the invisible `\\left.` opens a group and the bar
    that closes it evaluates the group at its subscript; the pair becomes `(`, `)` and
    the command `\\evaluatedat` before the subscript."""
    if not any(t.kind == "cmd" and t.value == "\\left" for t in tokens):
        return tokens
    tokens = list(tokens)
    for index, token in enumerate(tokens):
        if not (token.kind == "cmd" and token.value == "\\left" and index + 1 < len(tokens)
                and tokens[index + 1].value == "."):
            continue
        depth = 0
        for close in range(index + 1, len(tokens) - 2):
            current = tokens[close]
            if current.kind == "cmd" and current.value == "\\left":
                depth += 1
            elif current.kind == "cmd" and current.value == "\\right":
                if depth:
                    depth -= 1
                    continue
                bar = tokens[close + 1]
                if bar.value in ("|", "\\vert", "\\rvert", "\\big|") and \
                        tokens[close + 2].value == "_":
                    tokens[index] = Token("op", "(", token.pos, tokens[index + 1].end)
                    tokens[index + 1] = Token("space", "", token.pos, token.pos)
                    tokens[close] = Token("op", ")", current.pos, current.end)
                    tokens[close + 1] = Token("cmd", "\\evaluatedat", bar.pos, bar.end)
                break
    return [token for token in tokens if token.kind != "space"]


def _normalise(tokens: list[Token], tex: str) -> list[Token]:
    """Drop what only changes how the formula looks (sizes, colours, spacing, boxes),
    turn `\\text{…}`-like groups into one `word` token, and spacing into `space`."""
    tokens = _evaluation_bars(tokens)
    out: list[Token] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        value = token.value
        if token.kind == "cmd":
            if value in DROP:
                if value in ("\\left", "\\right", "\\middle") and index + 1 < len(tokens) \
                        and tokens[index + 1].value == ".":
                    index += 1  # \left. is an invisible delimiter
                index += 1
                if token.spaced and index < len(tokens):  # `w_j \left(`: spaced as `w_j (`
                    following = tokens[index]
                    tokens[index] = Token(following.kind, following.value, following.pos,
                                          following.end, True)
                continue
            if value in DROP_WITH_ARGUMENT:
                index = group_end(tokens, index + 1) + 1
                continue
            if value in SPACES:
                if value in ("\\hspace", "\\hskip"):
                    index = group_end(tokens, index + 1)
                out.append(Token("space", "\\quad", token.pos, token.end))
                index += 1
                continue
            if value in ("\\textcolor", "\\colorbox"):
                index = group_end(tokens, index + 1) + 1
                if index < len(tokens) and tokens[index].value == "{":
                    tokens = _unwrapped(tokens, index, token.pos)
                continue
            if value in UNWRAP:
                index += 1
                if index < len(tokens) and tokens[index].value == "{":
                    tokens = _unwrapped(tokens, index, token.pos)
                if value in BOLD and index < len(tokens):
                    face = tokens[index]
                    tokens[index] = Token(face.kind, face.value, face.pos, face.end,
                                          face.spaced, True)
                continue
            if value in ("\\underbrace", "\\overbrace"):
                close = group_end(tokens, index + 1)
                inner = (tokens[index + 2:close] if close > index + 1
                         else tokens[index + 1:close + 1])
                after = close + 1
                if after < len(tokens) and tokens[after].value in ("_", "^"):
                    after = group_end(tokens, after + 1) + 1
                tokens = [*tokens[:index], *inner, *tokens[after:]]
                continue
            if value in WORD_COMMANDS:
                close = group_end(tokens, index + 1)
                if close == index + 1:  # \rm x or \text x: one token
                    if close < len(tokens):
                        out.append(Token("word", tokens[close].value, token.pos,
                                          tokens[close].end))
                    index = close + 1
                    continue
                words = tex[tokens[index + 1].end:tokens[close].pos]
                if tokens[index + 1].pos == tokens[close].pos:  # from a macro's body
                    words = "".join(t.value for t in tokens[index + 2:close])
                out.append(Token("word", words, token.pos, tokens[close].end))
                index = close + 1
                continue
            if value in ("\\dots", "\\cdots", "\\ldots", "\\vdots", "\\ddots", "\\dotsc",
                         "\\dotsb"):
                out.append(Token("dots", value, token.pos, token.end))
                index += 1
                continue
            if value == "\\cancel":
                out.append(Token("refuse", "struck-out term (\\cancel)", token.pos, token.end))
                index += 1
                continue
        if token.kind == "cmd" and value in BARS:
            bar = BARS[value]
            out.append(Token("op" if bar == "|" else "cmd", bar, token.pos, token.end))
            index += 1
            continue
        if token.kind == "op" and value == "{" and index + 1 < len(tokens) and \
                tokens[index + 1].value == "}" and out and (
                    is_relation(out[-1]) or (index + 2 < len(tokens) and
                                             tokens[index + 2].value == "&")):
            index += 2  # `={}&`: an empty group that only spaces the relation
            continue
        if token.kind == "op" and value == ":" and index + 1 < len(tokens) and \
                tokens[index + 1].kind == "op" and tokens[index + 1].value == "=" and \
                tokens[index + 1].pos == token.end:
            out.append(Token("cmd", "\\gets", token.pos, tokens[index + 1].end,
                             token.spaced))
            index += 2  # `\theta := \theta - \eta g`: an assignment, not a claim
            continue
        if token.kind == "op" and value == "~":
            index += 1
            continue
        out.append(token)
        index += 1
    return out


def unexpected(token: Token | None) -> str:
    if token is None:
        return "incomplete formula"
    if token.kind == "cmd" and token.value in RELATIONS:
        return f"relation {token.value} inside an expression"
    if token.kind == "cmd":
        return f"unexpected {token.value}"
    return f"unexpected '{token.value}'"


_SCRIPT_OPERATORS = {"^": "_", "*": "_star_", ":": "_to_", "<": "_lt_", ">": "_gt_",
                     "=": "_eq_", "/": "_over_"}
"""Operators inside a subscript, spelled out in the name, so that `\\mathrm{prox}_{f^*}`
and `\\mathrm{prox}_{f}` stay two names."""


def script_label(tokens: Sequence[Token]) -> str:
    """Subscript or superscript tokens as a Python-name part: `{in}` → `in`,
    `{\\theta}` → `theta`, `{(in)}` → `in`, `{out,t}` → `out_t`, `{a'}` → `a_prime`,
    `{(\\tilde{h})}` → `h_tilde`."""
    parts: list[str] = []
    decoration: str | None = None
    if len(tokens) == 1 and tokens[0].value == "*":
        return ""  # x^*: the label of an optimum, named `x__` as before
    for token in tokens:
        if token.kind == "cmd" and token.value in ("\\hat", "\\tilde", "\\bar"):
            decoration = token.value[1:]
            continue
        if token.kind in ("letter", "num"):
            parts.append(token.value)
        elif token.kind == "word":
            parts.append(re.sub(r"\W+", "", token.value))
        elif token.kind == "cmd" and token.value[1:] in GREEK:
            parts.append(("_" if parts else "") + token.value[1:] + "_")
        elif token.kind == "op" and token.value in ",_":
            parts.append("_")
        elif token.kind == "op" and token.value == "'":
            parts.append("_prime")
        elif token.kind == "op" and token.value in "(){}":
            continue
        elif token.kind == "op" and token.value in "+-":
            parts.append({"+": "p", "-": "m"}[token.value])
        elif token.kind == "op" and token.value in _SCRIPT_OPERATORS:
            parts.append(_SCRIPT_OPERATORS[token.value])  # f^* → f_star, x_{1:T}
        elif token.kind == "cmd":
            parts.append(f"_{token.value[1:]}_")  # r \\geq s → r_geq_s
        else:
            parts.append(re.sub(r"\W+", "", token.value))
        if decoration is not None and token.kind != "op":
            parts.append(f"_{decoration}")
            decoration = None
    text = "".join(parts)
    return re.sub(r"_+", "_", text).strip("_")


def top_level(tokens: Sequence[Token]) -> list[Token]:
    """Tokens at bracket depth 0."""
    out: list[Token] = []
    depth = 0
    for token in tokens:
        if ((token.kind == "op" and token.value in "([{")
                or (token.kind == "cmd" and token.value in OPENING_COMMANDS)):
            depth += 1
        elif ((token.kind == "op" and token.value in ")]}")
              or (token.kind == "cmd" and token.value in CLOSING_COMMANDS)):
            depth -= 1
        elif token.kind == "begin":
            depth += 1
        elif token.kind == "end":
            depth -= 1
        elif depth == 0:
            out.append(token)
    return out


def split_top(tokens: Sequence[Token], separators: set[str], *, keep: bool = False
               ) -> list[Any]:
    """Split at depth-0 separators (`,` in `f(x, y)`); with `keep`, the separators are
    kept between the parts as strings."""
    parts: list[Any] = [[]]
    depth = 0
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if (token.kind == "op" and token.value in "([{") or (
                token.kind == "cmd" and token.value in OPENING_COMMANDS):
            depth += 1
        elif (token.kind == "op" and token.value in ")]}") or (
                token.kind == "cmd" and token.value in CLOSING_COMMANDS):
            depth -= 1
        if depth == 0 and token.kind in ("op", "cmd") and token.value in separators:
            if keep:
                parts.append(token.value)
            parts.append([])
        else:
            parts[-1].append(token)
        index += 1
    return parts


def is_single_name(tokens: Sequence[Token]) -> bool:
    """`x`, `\\mu`, `x_i`, `s'`, `\\hat{y}`, `x_{t-1}`: one name, no operator."""
    if not tokens:
        return False
    first = tokens[0]
    rest: Sequence[Token]
    if first.kind == "letter" or (first.kind == "cmd" and first.value[1:] in GREEK) or \
            first.kind == "word":
        rest = tokens[1:]
    elif first.kind == "cmd" and first.value in ("\\hat", "\\bar", "\\tilde", "\\vec",
                                                 "\\mathcal", "\\mathscr", "\\mathfrak"):
        end = group_end(tokens, 1)
        rest = tokens[end + 1:]
    else:
        return False
    while rest and rest[0].value == "'":
        rest = rest[1:]
    if rest and rest[0].value in ("_", "^"):
        end = group_end(rest, 1)
        rest = rest[end + 1:]
    while rest and rest[0].value == "'":
        rest = rest[1:]
    return not rest


# --------------------------------------------------------------------------- evidence


def is_relation(token: Token) -> bool:
    return (token.kind == "op" and token.value in ("=", "<", ">")) or (
        token.kind == "cmd" and token.value in RELATIONS)


def is_break(token: Token) -> bool:
    return (token.kind == "cmd" and token.value in BREAKS) or (
        token.kind == "op" and token.value == ":")


def depth_map(tokens: Sequence[Token]) -> list[int]:
    depths: list[int] = []
    depth = 0
    for token in tokens:
        opening = (token.kind == "op" and token.value in "([{") or (
            token.kind == "cmd" and token.value in OPENING_COMMANDS) or \
            token.kind == "begin"
        closing = (token.kind == "op" and token.value in ")]}") or (
            token.kind == "cmd" and token.value in CLOSING_COMMANDS) or \
            token.kind == "end"
        if closing:
            depth -= 1
        depths.append(depth)
        if opening:
            depth += 1
    return depths
