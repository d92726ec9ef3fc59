"""A card's derivation plan: its equations compiled, each `=` between two compiled sides
that claims something made a `Step` to compare, and the rest `Skipped` with the reason
why it cannot be checked, in the order the card gives them.

Making the plan (compiling) and comparing its steps are separate so that both can be
shared out among processes (builder/check/parallel.py); `finish` puts the verdicts back
into the card's checks and reasons, as a serial check gives them. Every `=` of the card
but a definition is one of its checks, the skipped ones `unchecked`, so that a verdict
says how much of the card it covers (`CardResult.checked` of `CardResult.steps`).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from builder.check.compare import TOO_LONG, StepVerdict, compare_sides, is_claim
from builder.check.document import Definition, definitions_in, given, used_names, visible
from builder.check.domain import Domain, parse_domain
from builder.check.limits import OutOfTime, time_limit
from builder.formula import (
    TEXT_ONLY,
    CompiledEquation,
    Side,
    brace_error_offset,
    compile_equation,
    declarations_for,
    delimiter_problems,
)
from builder.model import Card, CheckResult, SourceLoc

__all__ = ["Derivation", "Skipped", "Step", "derivation_checks", "derivation_plan", "finish",
           "internal_error", "relation_chains"]

_EQUALS = frozenset({"=", "==", "\\eq"})


@dataclass(frozen=True, slots=True)
class Derivation:
    """What checking a card's derivation came to: a check per claim, and why the parts
    that could not be checked were not (`line 12: integral not supported`), in order."""

    checks: tuple[CheckResult, ...] = ()
    reasons: tuple[str, ...] = ()
    library: tuple[CheckResult, ...] | None = None
    """The library's checks of the card (builder/library/), when worked out with the
    derivation (in a child, whose compiled equations they reuse); None: not yet."""


@dataclass(frozen=True, slots=True)
class Step:
    """A claim of a card still to be compared (`compare_sides`)."""

    loc: SourceLoc
    label: str
    """`step 2`: the relation's place in its chain, counted from 1."""
    left: Side
    right: Side
    domain: Domain
    seed: int
    definitions: tuple[Definition, ...] = ()
    """What the sheet defines above the step that its sides use (builder/check/
    document.py): tried when the step does not hold, or cannot be evaluated, as it
    stands."""
    kind: str | None = None
    """None for a claim; `substitution` for a step the card does not explain, which only
    its `definitions` can check."""

    def verdict(self) -> StepVerdict:
        if self.kind is None:
            verdict = compare_sides(self.left.expr, self.right.expr, self.domain,
                                    seed=self.seed)
            if verdict.status == "pass" or verdict.message == TOO_LONG:
                return verdict  # (too long as it stands: longer still with more put in)
        else:
            verdict = StepVerdict("unchecked", f"{self.kind}, not checked")
        return given(self.left.expr, self.right.expr, self.definitions, self.domain,
                     self.seed) or verdict


@dataclass(frozen=True, slots=True)
class Skipped:
    """A part of a card's derivation that is not compared: a substitution (the card does
    not say what makes its sides equal), an `=` with a side that did not compile or on a
    row whose delimiters do not balance, or a whole equation that did not compile. A
    definition is no part of it: it names a quantity, and there is nothing to check."""

    loc: SourceLoc
    message: str
    """The unchecked check's message: `step 1: unexpected ']'`."""
    reason: str | None = None
    """The card's reason (`line 63: unexpected ']'`), which an `unchecked` card reports;
    None for a substitution (nothing in it went wrong)."""
    step: bool = True
    """False for an equation of words only: there was no step to check."""


def relation_chains(compiled: CompiledEquation
                    ) -> list[tuple[tuple[Side, ...], tuple[str, ...]]]:
    """The compiled equation's relation chains as (sides, relations between them)."""
    return [(chain.sides, chain.relations) for chain in compiled.chains]


def _step_seed(card: Card, left: Side, right: Side) -> int:
    digest = hashlib.blake2b(f"{card.title}\0{left.tex}\0{right.tex}".encode(),
                             digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _as_written(left: Side, right: Side, verdict: StepVerdict) -> str:
    """A failure in the sheet's own LaTeX, `\\frac{e^{-z}-e^z}{…} ≠ \\frac{…}{…} at z=0.7
    (-0.604 vs 0.604)`: the reader finds it in the source, where sympy's reading
    (`(-e^z + e^-z)/(e^z + e^-z)`) would have to be translated back. sympy's form only when
    the LaTeX of a side is not known."""
    left_tex, right_tex = " ".join(left.tex.split()), " ".join(right.tex.split())
    if verdict.status != "fail" or not verdict.values or not left_tex or not right_tex:
        return verdict.message
    at = f" at {verdict.where}" if verdict.where else ""
    return f"{left_tex} ≠ {right_tex}{at} ({verdict.values})"


def derivation_plan(card: Card) -> list[Step | Skipped]:
    """The card's claims to compare and, in order among them, the parts that cannot be
    checked (`Skipped`; definitions are left out): compiling is done here, comparing is
    left (`finish`). A step with a side on a row whose delimiters do not balance
    (`delimiter_problems`) is not compared: the row may not say what was meant."""
    declarations = declarations_for(card)
    domain = parse_domain(card.assume)
    plan: list[Step | Skipped] = []
    defined = _context_definitions(card)
    for equation in card.equations:
        try:
            with time_limit(5.0):
                compiled = compile_equation(equation, declarations)
        except OutOfTime:
            plan.append(_whole(equation.loc, "compiling took too long"))
            continue
        defined.extend(definitions_in(compiled))
        defined.sort(key=lambda definition: definition.place)
        malformed = {problem.loc.line: problem.message.split(" (", 1)[0]
                     for problem in delimiter_problems(equation)}
        plan.extend(_idle_sums(compiled))
        step = 0
        for chain, (sides, relations) in enumerate(relation_chains(compiled)):
            for left, relation, right in zip(sides, relations, sides[1:], strict=False):
                step += 1
                if relation.strip() not in _EQUALS:
                    continue
                loc = SourceLoc(equation.loc.path, right.line)
                label = f"step {step}"
                problem = malformed.get(left.line) or malformed.get(right.line)
                if problem is not None or left.expr is None or right.expr is None:
                    reason = problem or (left.reason if left.expr is None else right.reason)
                    why = reason or "not compiled"
                    plan.append(Skipped(loc, f"{label}: {why}", f"line {right.line}: {why}"))
                    continue
                kind = is_claim(left.expr, right.expr)
                if kind == "definition":  # names a quantity: nothing in it to check
                    continue
                names = used_names(left.expr, right.expr)
                if kind is not None:  # only what one side has and the other lacks can help
                    names = used_names(left.expr) ^ used_names(right.expr)
                given_here = visible(defined, (right.line, chain), names) if defined else ()
                if kind is not None and not given_here:  # through what the card does not say
                    plan.append(Skipped(loc, f"{label}: {kind}, not checked"))
                    continue
                plan.append(Step(loc, label, left, right, domain,
                                 _step_seed(card, left, right), given_here, kind))
        if compiled.reason and not compiled.chains:
            if compiled.reason == TEXT_ONLY:  # words only: no step in it
                plan.append(Skipped(equation.loc, "", f"line {equation.loc.line}: "
                                                      f"{compiled.reason}", step=False))
            elif compiled.reason == "unbalanced braces":  # at the row that has it
                plan.append(_whole(replace(equation.loc, line=equation.loc.line
                                           + brace_error_offset(equation.tex)),
                                   compiled.reason))
            else:
                plan.append(_whole(equation.loc, compiled.reason))
    return plan


LIKELY_MISTAKE = "likely mistake"
"""How the message of a step the checker believes wrong, but cannot prove so, starts."""


def _idle_sums(compiled: CompiledEquation) -> list[Skipped]:
    """A sum without bounds whose body does not use its index (`\\sum_i \\exp(a_k)`):
    it adds up copies of one term over a range nobody gave, which no note means (a
    slip of the index, `a_k` for `a_i`). Said once per side, at the side's line."""
    import sympy

    found: list[Skipped] = []
    for chain in compiled.chains:
        for side in chain.sides:
            if side.expr is None or not isinstance(side.expr, sympy.Basic) \
                    or not ("\\sum" in side.tex or "∑" in side.tex):
                continue  # (`\\Sigma_y` may be read as a sum; a covariance is meant)
            for node in side.expr.atoms(sympy.Sum):
                idle = [str(limit[0]) for limit in node.limits if len(limit) == 3
                        and str(limit[2]) == f"#{limit[0]}"
                        and limit[0] not in node.function.free_symbols
                        and not _scripted(side.tex, str(limit[0]))]
                if idle:
                    loc = SourceLoc(compiled.equation.loc.path, side.line)
                    why = (f"{LIKELY_MISTAKE}: the sum over {idle[0]} does not use "
                           f"{idle[0]} (in {' '.join(side.tex.split())})")
                    found.append(Skipped(loc, f"equation: {why}", f"line {side.line}: {why}"))
                    break
    return found


def _context_definitions(card: Card) -> list[Definition]:
    """What the math above the card defines (`Card.context`), each block compiled on its
    own (the card's `let:` is not theirs); a block that cannot be compiled defines
    nothing."""
    found: list[Definition] = []
    for block in card.context:
        with contextlib.suppress(OutOfTime), time_limit(2.0):
            found.extend(definitions_in(compile_equation(block)))
    return found


def _scripted(tex: str, index: str) -> bool:
    """Does the LaTeX write `index` in a subscript or superscript other than the sum's
    own (`\\partial \\hat{x}_j` read as one name still uses j)?"""
    own = re.compile(rf"(\\sum|∑)\s*_\s*(\{{\s*{index}\s*\}}|{index}(?![A-Za-z]))")
    rest = own.sub("", tex)
    return re.search(rf"[_^]\s*({index}(?![A-Za-z])|\{{[^{{}}]*(?<![A-Za-z\\]){index}"
                     rf"(?![A-Za-z])[^{{}}]*\}})", rest) is not None


def _whole(loc: SourceLoc, why: str) -> Skipped:
    """An equation none of whose steps could be told apart: one step, not checked."""
    return Skipped(loc, f"equation: {why}", f"line {loc.line}: {why}")


def finish(plan: Sequence[Step | Skipped], verdicts: Sequence[StepVerdict | CheckResult]
           ) -> Derivation:
    """The derivation from a plan and the verdicts of its steps, in order; a
    CheckResult in place of a verdict is taken as it is (a step whose process died).
    Each skipped step is an `unchecked` check, so that a card's checks list every step."""
    checks: list[CheckResult] = []
    reasons: list[str] = []
    found = iter(verdicts)
    for item in plan:
        if isinstance(item, Skipped):
            if item.reason is not None:
                reasons.append(item.reason)
            if item.step:
                checks.append(CheckResult("derivation", "unchecked", item.loc, item.message))
            continue
        verdict = next(found)
        if isinstance(verdict, CheckResult):
            checks.append(verdict)
            continue
        if verdict.status == "unchecked" and item.kind is None:  # (a substitution: none)
            reasons.append(f"line {item.right.line}: {item.label}: {verdict.message}")
        checks.append(CheckResult("derivation", verdict.status, item.loc,
                                  f"{item.label}: {_as_written(item.left, item.right, verdict)}"))
    return Derivation(tuple(checks), tuple(reasons))


def derivation_checks(card: Card) -> Derivation:
    """The card's derivation, checked here; our own bugs become a reason rather than a
    crash (one card must not stop the others)."""
    if not card.equations:
        return Derivation()
    try:
        plan = derivation_plan(card)
        return finish(plan, [item.verdict() for item in plan if isinstance(item, Step)])
    except Exception as error:
        return Derivation(reasons=(internal_error(error),))


def internal_error(error: Exception) -> str:
    """A card's reason when checking it raised (our bug, said as such)."""
    return f"internal error while checking: {type(error).__name__}: {error}"
