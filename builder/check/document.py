"""What the sheet defines before a step, and the step checked given it (issue 16).

Notes define a quantity once (`\\alpha_t = 1 - \\beta_t`, `z = Wx + b`, `\\sigma(x) =
…`) and use it in later cards: `\\frac{\\beta_t}{…} = \\frac{1 - \\alpha_t}{…}` holds
only given that definition. Such a step, when it fails or cannot be evaluated as it
stands, is compared again with the definitions put in, and passes naming the ones it
needed (`given \\alpha_t = 1-\\beta_t (path:95)`).

Precision first: a definition only ever turns a step into a pass, never into a failure
(a name the note redefined in another sense can then cost a check, never a false
alarm). For each name the latest definition before the step is the one used: a name
redefined further down is never read in its old sense, nor one redefined in between in
its first. A value (`\\eta = 0.1`, an example's number) is not taken as a definition.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from builder.check.compare import StepVerdict, compare_sides, numbers_agree
from builder.check.domain import Domain
from builder.check.limits import OutOfTime, time_limit
from builder.formula import CompiledEquation
from builder.model import SourceLoc

if TYPE_CHECKING:
    import sympy

__all__ = ["Definition", "definitions_in", "given", "used_names", "visible"]

_DEFINES = frozenset({"=", "\\coloneqq", "\\triangleq", "\\equiv"})
_QUOTED = 60
"""Characters of a definition a message quotes; its place says where the rest is."""
_SECONDS = 0.5
"""How long a step may be tried with definitions, all told."""
_ROUNDS = 3
"""Definitions put in one after the other at most this many times (`\\bar\\alpha_t` in
terms of `\\alpha_i`, `\\alpha_t` in terms of `\\beta_t`)."""


@dataclass(frozen=True, slots=True)
class Definition:
    """One quantity or function the sheet defines: `name = body`, or `name(params) =
    body`."""

    name: str
    """The Python name (`alpha_t`, `sigma`), as the steps' expressions name it."""
    tex: str
    """How the sheet writes it, `\\alpha_t = 1-\\beta_t`: what a message quotes."""
    loc: SourceLoc
    place: tuple[int, int]
    """(line, chain): where it is made, `chain` counting the relation chains of its
    equation, so that `z = 2t, \\; t = x + y, \\; … = 2t = 2(x + y)` on one line defines t
    before the last chain uses it."""
    params: tuple[Any, ...] | None
    """A function's parameters (sympy symbols); None for a quantity."""
    body: Any
    """The sympy expression it stands for."""

    def __str__(self) -> str:
        tex = " ".join(self.tex.split())
        shown = tex if len(tex) <= _QUOTED else tex[:_QUOTED - 1].rstrip() + "…"
        return f"{shown} ({self.loc})"


def definitions_in(compiled: CompiledEquation) -> list[Definition]:
    """The definitions an equation makes: each chain that starts `name = body` with a
    body that does not use the name and is not a plain number."""
    import sympy
    from sympy.core.function import AppliedUndef

    found: list[Definition] = []
    for number, chain in enumerate(compiled.chains):
        if not chain.relations or chain.relations[0].strip() not in _DEFINES:
            continue
        left, right = chain.sides[0], chain.sides[1]
        if not isinstance(left.expr, sympy.Basic) or not isinstance(right.expr, sympy.Expr):
            continue
        head, body = left.expr, right.expr
        params: tuple[Any, ...] | None = None
        if isinstance(head, AppliedUndef):
            if not all(isinstance(arg, sympy.Symbol) for arg in head.args) \
                    or len(set(head.args)) != len(head.args):
                continue
            name, params = str(head.func), tuple(head.args)
        elif isinstance(head, sympy.Symbol):
            name = head.name
        elif isinstance(head, sympy.Indexed) and _flat_name(head) is not None:
            name = str(_flat_name(head))
        else:
            continue
        with contextlib.suppress(Exception):
            body = _flat(body, frozenset())
            if not isinstance(body, sympy.Expr) or body.is_number:
                continue  # a value: an example's number, not what the name means
            if name in _names(body):
                continue  # a recurrence (`m = \beta m + …`), not a definition
            if len(name) == 1 and isinstance(body, sympy.Symbol):
                continue  # `i = j`, `J = A`: a case of a condition, a letter renamed
            text = f"{left.tex} {chain.relations[0].strip()} {right.tex}"
            found.append(Definition(name, text, SourceLoc(compiled.equation.loc.path,
                                                          left.line),
                                    (left.line, number), params, body))
    return found


def visible(definitions: Sequence[Definition], place: tuple[int, int], names: Iterable[str]
            ) -> tuple[Definition, ...]:
    """The definitions a step at `place` (its line, and its chain in its equation) using
    `names` may be given: for each name, and for each name those use in turn, the
    latest definition above it (on an earlier line, or in an earlier chain of the step's
    own line)."""
    latest: dict[str, Definition] = {}
    for definition in definitions:  # in document order: the latest wins
        if definition.place < place:
            latest[definition.name] = definition
    chosen: dict[str, Definition] = {}
    wanted = set(names)
    for _ in range(_ROUNDS):
        fresh = {name: latest[name] for name in wanted
                 if name in latest and name not in chosen}
        if not fresh:
            break
        chosen.update(fresh)
        wanted = {name for definition in fresh.values() for name in _names(definition.body)}
    return tuple(sorted(chosen.values(), key=lambda definition: definition.loc.line))


def used_names(*exprs: sympy.Basic) -> set[str]:
    """The names a definition could stand for in these expressions: symbols, elements
    (`alpha_t` for `alpha[t]`) and unknown functions."""
    names: set[str] = set()
    for expr in exprs:
        names |= _names(expr)
    return names


def given(lhs: sympy.Expr, rhs: sympy.Expr, definitions: Sequence[Definition],
          domain: Domain, seed: int) -> StepVerdict | None:
    """The step's pass given some of `definitions`, named in the message, or None when
    it does not hold given them. One at a time first, by numbers (`\\alpha_t = 1 -
    \\beta_t` alone is what most steps need, and putting in every definition can bury a
    step: `x_t` inside an unknown function's argument); then all together, by numbers or
    a proof, keeping those the numbers show it cannot do without. Bounded in time: what
    was found by then stands."""
    definitions = _same_sense(lhs, rhs, definitions)
    if not definitions:
        return None
    needed: list[Definition] = []
    try:
        with time_limit(_SECONDS):
            for definition in definitions:
                sides = _with(lhs, rhs, [definition])
                if sides is not None and numbers_agree(sides[0], sides[1], domain, seed):
                    return _given_message([definition])
            sides = _with(lhs, rhs, definitions)
            if sides is None or compare_sides(sides[0], sides[1], domain,
                                              seed=seed).status != "pass":
                return None
            needed = [definition for definition in definitions
                      if definition.name in sides[2]]
            for definition in list(needed):  # each one the numbers can do without goes
                fewer = [other for other in needed if other is not definition]
                smaller = _with(lhs, rhs, fewer)
                if smaller is not None and numbers_agree(smaller[0], smaller[1], domain,
                                                         seed):
                    needed = fewer
    except OutOfTime:
        pass
    except Exception:
        return None
    return _given_message(needed) if needed else None


def _same_sense(lhs: sympy.Expr, rhs: sympy.Expr, definitions: Sequence[Definition]
                ) -> list[Definition]:
    """The definitions not contradicted by how the step uses their names: a step that
    differentiates a name by a variable its definition does not depend on (`\\partial
    \\mathcal{L} / \\partial V` after `\\mathcal{L} = -\\sum_i y_i \\log s_i`) means
    another quantity of that name (a later section's loss); put in, every such
    derivative would be 0 and the step would hold for nothing."""
    import sympy

    foreign: set[str] = set()
    for side in (lhs, rhs):
        for derivative in side.atoms(sympy.Derivative):
            inside = _names(derivative.expr)
            variables = set()
            for variable in derivative.variables:
                variables |= _names(variable) | {str(item.base.label) for item in
                                                 variable.atoms(sympy.Indexed)}
            for definition in definitions:
                if definition.name not in inside:
                    continue
                body = _names(definition.body) | {str(item.base.label) for item in
                                                  definition.body.atoms(sympy.Indexed)}
                if not variables & body:
                    foreign.add(definition.name)
    return [definition for definition in definitions if definition.name not in foreign]


def _given_message(needed: Sequence[Definition]) -> StepVerdict:
    return StepVerdict("pass", f"holds given {'; '.join(map(str, needed))}")


def _with(lhs: sympy.Expr, rhs: sympy.Expr, definitions: Sequence[Definition]
          ) -> tuple[sympy.Expr, sympy.Expr, set[str]] | None:
    """The sides with the definitions put in (and those the definitions use in turn),
    and the names put in; None when none of them is used."""
    table = {definition.name: definition for definition in definitions}
    used: set[str] = set()
    for _ in range(_ROUNDS):
        lhs, rhs, round_used = _put_in((lhs, rhs), table)
        if not round_used:
            break
        used |= set(round_used)
    return (lhs, rhs, used) if used else None


def _put_in(sides: tuple[sympy.Expr, sympy.Expr], table: Mapping[str, Definition]
            ) -> tuple[sympy.Expr, sympy.Expr, dict[str, Definition]]:
    """Both sides with each defined quantity and application of a defined function
    replaced by what it stands for, and which definitions that took."""
    import sympy
    from sympy.core.function import AppliedUndef

    used: dict[str, Definition] = {}
    replaced: list[sympy.Expr] = []
    # A letter that indexes here (`W^{t+1}`, a sum's bound) counts steps: not the
    # quantity a definition of that letter (`t = x + y`) names.
    indices = {symbol for side in sides for symbol in _index_symbols(side)}
    for side in sides:
        mapping: dict[Any, Any] = {}
        for symbol in side.free_symbols:
            definition = table.get(str(symbol))
            if isinstance(symbol, sympy.Symbol) and definition is not None \
                    and definition.params is None and symbol not in indices:
                mapping[symbol] = definition.body
                used[definition.name] = definition
        for item in _free_elements(side, frozenset()):
            definition = table.get(str(_flat_name(item)))
            if definition is not None and definition.params is None:
                mapping[item] = definition.body
                used[definition.name] = definition
        for application in side.atoms(AppliedUndef):
            definition = table.get(str(application.func))
            if definition is not None and definition.params is not None \
                    and len(definition.params) == len(application.args):
                dummies = {param: sympy.Dummy() for param in definition.params}
                body = definition.body.xreplace(dummies)
                mapping[application] = body.xreplace(
                    dict(zip(dummies.values(), application.args, strict=True)))
                used[definition.name] = definition
        replaced.append(side.xreplace(mapping) if mapping else side)
    return replaced[0], replaced[1], used


def _index_symbols(expr: sympy.Basic) -> set[Any]:
    """The symbols that index in `expr`: in an element's position, in a sum's or a
    product's bounds, and a name with a letter for its superscript (`u^t`: the time
    step's u, not the `u` defined once)."""
    import sympy

    found: set[Any] = set()
    for item in expr.atoms(sympy.Indexed):
        for index in item.indices:
            found |= index.free_symbols
    for power in expr.atoms(sympy.Pow):  # `u^t`, `h^{(l)}`: a label, not a power
        if power.exp.free_symbols and isinstance(power.base, sympy.Symbol):
            found |= {power.base} | power.exp.free_symbols
    for node in expr.atoms(sympy.Sum, sympy.Product):
        for limit in node.limits:
            for bound in limit[1:]:
                found |= bound.free_symbols
    return found


def _flat_name(item: sympy.Indexed) -> str | None:
    """`alpha_t` for the element `alpha[t]` (as a step that reads `\\alpha_t` as one name
    calls it); None for an element at a computed position (`m[t - 1]`)."""
    import sympy

    if not all(isinstance(index, sympy.Symbol) for index in item.indices):
        return None
    return f"{item.base.label}_{''.join(str(index) for index in item.indices)}"


def _free_elements(expr: sympy.Basic, bound: frozenset[Any]) -> list[sympy.Indexed]:
    """The elements of `expr` at a free index (`a[k]`, not the `a[i]` of a sum over i)."""
    import sympy

    if isinstance(expr, sympy.Indexed):
        free = _flat_name(expr) is not None and not (set(expr.indices) & bound)
        return [expr] if free else []
    if isinstance(expr, sympy.Sum | sympy.Product):
        inner = bound | {limit[0] for limit in expr.limits}
        return _free_elements(expr.function, inner)
    found: list[sympy.Indexed] = []
    for arg in expr.args:
        found.extend(_free_elements(arg, bound))
    return found


def _flat(expr: sympy.Basic, bound: frozenset[Any]) -> sympy.Basic:
    """`expr` with its elements at a free index made names (`beta[t]` → `beta_t`): how a
    later step that does not index writes them."""
    import sympy

    elements = _free_elements(expr, bound)
    if not elements:
        return expr
    return expr.xreplace({item: sympy.Symbol(str(_flat_name(item))) for item in elements})


def _names(expr: sympy.Basic) -> set[str]:
    import sympy
    from sympy.core.function import AppliedUndef

    names = {symbol.name for symbol in expr.free_symbols if isinstance(symbol, sympy.Symbol)}
    names |= {str(_flat_name(item)) for item in _free_elements(expr, frozenset())}
    names |= {str(application.func) for application in expr.atoms(AppliedUndef)}
    return names
