"""compile_equation: an equation's relation chains, each side compiled or refused.

The reading is our own tokenizer and recursive-descent parser that builds sympy directly:
sympy's `parse_latex` reads `\\text{softmax}` as a product of letters, `e^x` as a symbol
`e` and `p(1-p)` as a function call, and its antlr backend is slow to import and to run.

The rule throughout: a wrong meaning is worse than no meaning. Where the LaTeX does not
say what it means (`a(b+c)`: a product or a function?), the card's declarations
(`<!-- let: f function -->`, docs/format.md) and how the card uses the name elsewhere
decide, and when they do not, the side is refused with a short reason that
`sheets check --coverage` groups.

sympy is imported on first use only; compiled equations are cached per (tex,
declarations) for the life of the process."""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Any

from builder.formula.chains import RawChain, split_chains
from builder.formula.context import Declarations, NameUse, ParseContext
from builder.formula.evidence import (
    is_matrix_equation,
    name_evidence,
    sigma_names,
    step_letters,
)
from builder.formula.pairs import pairs_are_inner_products
from builder.formula.parser import Parser
from builder.formula.results import TEXT_ONLY, Chain, CompiledEquation, Side
from builder.formula.tokens import (
    MAX_DEPTH,
    Refused,
    Token,
    depth_map,
    group_end,
    plain_tex,
    read_tokens,
    source_text,
)
from builder.model import Equation

MAX_CHARACTERS = 4000
"""Longer equations are refused outright: nobody checks a page of algebra in one `$$`."""


@dataclass(frozen=True, slots=True)
class _RelativeSide:
    """A side as cached: its line relative to the equation's, which may move."""

    tex: str
    offset: int
    """Lines below the equation's first line."""
    expr: Any
    reason: str | None


@dataclass(frozen=True, slots=True)
class _RelativeChain:
    sides: tuple[_RelativeSide, ...]
    relations: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Compiled:
    """What the cache keeps per (tex, declarations)."""

    chains: tuple[_RelativeChain, ...]
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class _FirstParse:
    """A side's first reading, before the equation's indexed names are known."""

    expr: Any
    reason: str | None
    uses: list[NameUse]


def compile_equation(equation: Equation, declarations: Declarations | None = None
                     ) -> CompiledEquation:
    """The equation's relation chains, each side compiled or refused with a reason."""
    declarations = declarations if declarations is not None else Declarations()
    evidence = name_evidence(equation.tex)
    declarations = Declarations(
        functions=declarations.functions, scalars=declarations.scalars,
        matrices=declarations.matrices, indices=declarations.indices,
        applied=declarations.applied | evidence.applied,
        plain=declarations.plain | evidence.plain,
        transposed=declarations.transposed, steps=declarations.steps,
        defined=declarations.defined | evidence.defined,
        operators=declarations.operators | evidence.operators,
        macros=declarations.macros, problems=declarations.problems)
    compiled = _compile_cached(equation.tex, declarations)
    line = equation.loc.line
    return CompiledEquation(
        equation,
        tuple(Chain(tuple(Side(side.tex, line + side.offset, side.expr, side.reason)
                          for side in chain.sides), chain.relations)
              for chain in compiled.chains),
        compiled.reason)


@functools.lru_cache(maxsize=2048)
def _compile_cached(tex: str, declarations: Declarations) -> _Compiled:
    if len(tex) > MAX_CHARACTERS:
        return _Compiled((), f"too long to check ({len(tex)} characters)")
    try:
        tokens = read_tokens(tex, declarations.macros)
        depth = max(depth_map(tokens), default=0)
        if depth > MAX_DEPTH:
            return _Compiled((), "nested too deeply")
        balance = 0
        for token in tokens:
            if token.kind == "op" and token.value in "{}":
                balance += 1 if token.value == "{" else -1
                if balance < 0:
                    break
        if balance:
            return _Compiled((), "unbalanced braces")
        raw_chains = split_chains(tokens)
    except Refused as refusal:
        return _Compiled((), str(refusal))
    except RecursionError:
        return _Compiled((), "nested too deeply")
    if not raw_chains:
        if not tokens and tex.strip():
            # macro definitions only, or a tombstone (`\qed`): read, nothing to check
            return _Compiled(())
        return _Compiled((), TEXT_ONLY)
    import sympy

    # Unevaluated: sympy's constructors otherwise simplify as they build (most of the
    # compile time), and a side should read as written (`x^2 + x - x - 1`).
    with sympy.evaluate(False):
        return _compile_chains(tex, tokens, raw_chains, declarations)


def _compile_chains(tex: str, tokens: list[Token], raw_chains: list[RawChain],
                    declarations: Declarations) -> _Compiled:
    plain = plain_tex(tex)  # what token positions refer to
    steps = step_letters(tokens) | declarations.steps
    matrices = is_matrix_equation(tokens, declarations)
    labels = any(token.value == "^" and index + 3 < len(tokens) and
                 tokens[index + 1].value == "{" and tokens[index + 2].kind == "letter" and
                 tokens[index + 3].kind == "letter" and
                 tokens[index + 3].pos == tokens[index + 2].end
                 for index, token in enumerate(tokens))
    # Pass 1: which bases are indexed (a compound subscript `m_{t+1}`, or a summation
    # index `x_i` anywhere in the equation) and each chain's free index (`y_k = …a_k…`).
    bare = name_evidence(tex).plain
    context = ParseContext(declarations, steps=steps, matrices=matrices, labels=labels,
                           bare=bare, sigma_names=sigma_names(tokens))
    heads: list[str | None] = []
    chain_letters: list[set[str]] = []
    first: dict[int, _FirstParse] = {}
    pairs = [pairs_are_inner_products(chain.sides, chain.relations, matrices)
             for chain in raw_chains]
    for chain, inner in zip(raw_chains, pairs, strict=True):
        context.pairs = inner
        letters: set[str] = set()
        head = None
        for number, side in enumerate(chain.sides):
            before = len(context.uses)
            expr, reason = _try_parse(side, context)
            uses = context.uses[before:]
            first[id(side)] = _FirstParse(expr, reason, uses)
            if number == 0:
                head = head_index(side)
            else:
                for use in uses:
                    if not use.compound:
                        letters |= use.letters
        heads.append(head)
        chain_letters.append(letters)
    indexed = frozenset(use.base for use in context.uses if use.compound or use.all_indices)
    compiled: list[_RelativeChain] = []
    for chain, head, letters, inner in zip(raw_chains, heads, chain_letters, pairs,
                                           strict=True):
        free = frozenset({head}) if head is not None and head in letters else frozenset()
        chain_context = replace(context, indexed_bases=indexed, free_index=free,
                                pairs=inner, uses=[])
        if free:
            # the free index's bases are arrays too (`y_k`, `a_k`)
            bases = set(indexed)
            probe = replace(context, free_index=free, pairs=inner, uses=[])
            for side in chain.sides:
                _try_parse(side, probe)
            bases |= {use.base for use in probe.uses if use.all_indices}
            chain_context = replace(context, indexed_bases=frozenset(bases),
                                    free_index=free, pairs=inner, uses=[])
        sides: list[_RelativeSide] = []
        for side in chain.sides:
            reading = first[id(side)]
            expr, reason = reading.expr, reading.reason
            # parse again only if knowing the indexed names changes how this side reads
            # (sympy's constructors are most of the compile time)
            if free or any((use.base in indexed) != (use.compound or use.all_indices)
                           for use in reading.uses if use.subscripted):
                expr, reason = _try_parse(side, chain_context)
            side_tex = source_text(tex, side[0].pos, side[-1].end).strip() if side else ""
            offset = plain[:side[0].pos].count("\n") if side else 0
            sides.append(_RelativeSide(side_tex, offset, expr, reason))
        compiled.append(_RelativeChain(tuple(sides), tuple(chain.relations)))
    return _Compiled(_without_lengths(tuple(compiled)))


def _without_lengths(chains: tuple[_RelativeChain, ...]) -> tuple[_RelativeChain, ...]:
    """`\\frac{1}{|x|} \\sum_{i=1}^{|x|} \\log p(x_i | x_{<i})`: bars around the name of
    a sequence the equation indexes are its length, not an absolute value; such a side is
    refused rather than read as |x|."""
    import sympy

    sequences = {str(item.base.label) for chain in chains for side in chain.sides
                 if isinstance(side.expr, sympy.Basic)
                 for item in side.expr.atoms(sympy.Indexed)}
    if not sequences:
        return chains

    def measured(expr: Any) -> bool:
        return isinstance(expr, sympy.Basic) and any(
            isinstance(bars.args[0], sympy.Symbol) and bars.args[0].name in sequences
            for bars in expr.atoms(sympy.Abs))

    return tuple(_RelativeChain(tuple(
        _RelativeSide(side.tex, side.offset, None, "|x| of the sequence x: its length?")
        if measured(side.expr) else side for side in chain.sides), chain.relations)
        for chain in chains)


def _try_parse(tokens: list[Token], context: ParseContext) -> tuple[Any, str | None]:
    if not tokens:
        return None, "empty side"
    try:
        return Parser(tokens, context).whole(), None
    except Refused as refusal:
        return None, str(refusal)
    except RecursionError:
        return None, "nested too deeply"
    except (TypeError, ValueError, ZeroDivisionError, AttributeError) as error:
        # sympy refusing a construction (a Sum over a non-symbol, …)
        return None, f"cannot build: {type(error).__name__}"
    except Exception as error:
        return None, f"internal error: {type(error).__name__}: {error}"


def head_index(tokens: list[Token]) -> str | None:
    """The single-letter subscript of a left side that is one name (`y_k`,
    `\\text{softmax}(z)_i`, `\\hat{y}_k`), or of the numerator, else the denominator, of
    a derivative (`\\frac{\\partial E}{\\partial a_k}`, `\\frac{\\partial h_t}{\\partial
    h_{t-1}}`): the output axis either way."""
    if len(tokens) > 2 and tokens[0].value in ("\\frac", "\\dfrac", "\\tfrac") and \
            tokens[1].value == "{":
        middle = group_end(tokens, 1)
        if middle + 2 < len(tokens) and tokens[middle + 1].value == "{" and \
                group_end(tokens, middle + 1) == len(tokens) - 1:
            for part in (tokens[2:middle], tokens[middle + 2:-1]):
                if part and part[0].value in ("\\partial", "d") and len(part) > 1:
                    head = head_index(part[1:])
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
