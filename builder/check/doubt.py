"""Doubts about a failing step: readings under which a `fail` would be a false alarm.

A step that fails at random points is reported as a mistake only when nothing suggests
that the note meant something the numbers cannot see. Notes written by others hold
steps that are true under a constraint the prose states (a one-hot label, an orthogonal
matrix), or that use a notation the compiler reads as plain numbers (a vector beside its
own elements, Kronecker's delta), or that are equations to solve rather than identities.
For each, `doubt` says why the step is not checked instead (issue 16: a false alarm costs
more than an unchecked card).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace

import sympy

from builder.check.domain import DEFAULT_INTERVAL, SCALE_INTERVAL, Domain
from builder.formula import latex_name

__all__ = ["doubt"]

Compare = Callable[[sympy.Expr, sympy.Expr, Domain], bool]
"""Do two sides agree (numerically, over the given domain)?"""


def doubt(lhs: sympy.Expr, rhs: sympy.Expr, domain: Domain, agree: Compare) -> str | None:
    """Why a step that failed at random points may still be what the note meant, or
    None when the failure stands. `agree` re-compares two rewritten sides."""
    for reason in (_vector_and_its_elements(lhs, rhs), _kronecker_delta(lhs, rhs),
                   _index_after_its_sum(lhs, rhs), _equation_to_solve(lhs, rhs),
                   _update_in_place(lhs, rhs)):
        if reason:
            return reason
    summed = _sums_to_one(lhs, rhs)
    if summed is not None and not domain.constrained(summed[0]):
        # (declared: the numbers were drawn so, and the step fails as it stands)
        name, index, new_lhs, new_rhs = summed
        if agree(new_lhs, new_rhs, domain):
            entry = f"{latex_name(name)}_{index}"  # (`\\hat{y}_j` for the array `y_hat`)
            return (f"holds if Σ_{index} {entry} = 1 (a one-hot or probability "
                    f"vector): declare it with `<!-- assume: \\sum_{index} {entry} = 1 -->`")
    unit = _unit_vectors(lhs, rhs)
    if unit is not None:
        name, new_lhs, new_rhs = unit
        if agree(new_lhs, new_rhs, domain):
            return (f"holds if ⟨{name}, {name}⟩ = 1 ({name} a unit vector): vectors are "
                    "not checked")
    orthogonal = _without_orthogonal_pairs(lhs, rhs)
    if orthogonal is not None:
        name, new_lhs, new_rhs = orthogonal
        if agree(new_lhs, new_rhs, domain):
            return f"holds if {name}^T {name} = I ({name} orthogonal); matrices are not checked"
    return _positive_by_convention(lhs, rhs, domain, agree)


def _vector_and_its_elements(lhs: sympy.Expr, rhs: sympy.Expr) -> str | None:
    """`\\mathbf{x}^T \\mathbf{y} = \\sum_i x_i y_i`: `x` is a vector and `x_i` its
    element, but the compiler reads `x` as a number beside an array `x`."""
    arrays = {base.label.name for side in (lhs, rhs) for base in side.atoms(sympy.IndexedBase)}
    plain = (_plain_names(lhs) | _plain_names(rhs)) - _bound_names(lhs) - _bound_names(rhs)
    shared = sorted(plain & arrays)
    if shared:
        name = shared[0]
        return (f"{name} is a vector and {name}_i its element, read as a number and an "
                "array: not checked")
    return None


def _plain_names(expr: sympy.Basic) -> set[str]:
    """Names of the symbols used as numbers: not an array's name, not an index."""
    if isinstance(expr, sympy.Indexed):
        return set()
    if isinstance(expr, sympy.Symbol):
        return {expr.name}
    return set().union(*(_plain_names(arg) for arg in expr.args))


def _kronecker_delta(lhs: sympy.Expr, rhs: sympy.Expr) -> str | None:
    """`\\delta_{ij}` is Kronecker's delta (0 unless i = j), not a number."""
    for symbol in lhs.atoms(sympy.Symbol) | rhs.atoms(sympy.Symbol):
        base, _, script = symbol.name.partition("_")
        if base == "delta" and len(script) == 2 and script.isalpha():
            return f"δ_{script} read as a number (Kronecker's delta?): not checked"
    return None


def _bound_names(expr: sympy.Expr) -> set[str]:
    names: set[str] = set()
    for node in expr.atoms(sympy.Sum, sympy.Product):
        names |= {limit[0].name for limit in node.limits}
    return names


def _index_after_its_sum(lhs: sympy.Expr, rhs: sympy.Expr) -> str | None:
    """`\\sum_i y_i \\log \\pi_i + (1 - y_i) \\log(1 - \\pi_i)`: the sum stops at `+`,
    yet the term after it uses the sum's index: the note means the sum to go on."""
    for side in (lhs, rhs):
        free = {symbol.name for symbol in side.free_symbols if isinstance(symbol, sympy.Symbol)}
        leaked = sorted(free & _bound_names(side))
        if leaked:
            return (f"a term after the sum over {leaked[0]} uses {leaked[0]}: does the sum go "
                    "on past the '+'? write parentheses: not checked")
    return None


def _equation_to_solve(lhs: sympy.Expr, rhs: sympy.Expr) -> str | None:
    """`\\exp(b_b) = \\frac{56}{35}`: a number on one side and unknowns on the other is
    an equation to solve (an estimate, a condition), not an identity. `⟨v_j, 0⟩` counts
    as the number 0 (`(v_j, A^T A v_j) = (v_j, 0)`: A^T A v_j = 0 for those j)."""
    for side, other in ((_inner_products_done(lhs), rhs), (_inner_products_done(rhs), lhs)):
        if not side.free_symbols and other.free_symbols:
            names = ", ".join(sorted(str(s) for s in other.free_symbols))
            return f"an equation in {names} (a value to solve for), not an identity: not checked"
    return None


def _update_in_place(lhs: sympy.Expr, rhs: sympy.Expr) -> str | None:
    """`v_{dW} = \\beta v_{dW} + (1 - \\beta) dW`, `W = W - \\alpha v_{dW}`: a name set
    to something made of itself is an update written as code writes it (`=` for `←`),
    not an equation that fails (a new-user trial saw Andrew Ng's momentum failed)."""
    terms = sympy.Add.make_args(rhs)
    if isinstance(lhs, sympy.Symbol | sympy.Indexed) and len(terms) > 1 \
            and any(term.has(lhs) for term in terms) \
            and not all(term.has(lhs) for term in terms):
        return (f"an update written with `=` ({_plain_name(lhs)} on both sides): write "
                f"`\\leftarrow` or number the steps to have it checked; not checked")
    return None


def _plain_name(expr: sympy.Symbol | sympy.Indexed) -> str:
    """A name as the sheet writes it (`latex_name`; `v_{t}` for the element `v[t]`)."""
    if isinstance(expr, sympy.Indexed):
        indices = ", ".join(map(str, expr.indices))
        return f"{latex_name(str(expr.base.label))}_{{{indices}}}"
    return latex_name(expr.name)


def _sums_to_one(lhs: sympy.Expr, rhs: sympy.Expr
                 ) -> tuple[str, str, sympy.Expr, sympy.Expr] | None:
    """The sides with every `\\sum_j y_j F` (F not using j) made `F`, as `Σ_j y_j = 1`
    allows; None when no such sum is there."""
    found: list[tuple[str, str]] = []
    # A bare `Σ_j y_j` only where the other side has no sum: on both sides it would make
    # any two sums of y agree (`Σ_1^n a_i = Σ_1^{n-1} a_i`); on one side it is the step
    # `s_j Σ_{i≠j} y_i = s_j (1 - y_j)` of a one-hot label.
    bare = not (lhs.has(sympy.Sum) and rhs.has(sympy.Sum))

    def rewrite(node: sympy.Basic) -> sympy.Basic:
        if not isinstance(node, sympy.Sum) or len(node.limits) != 1:
            return node
        index = node.limits[0][0]
        factors = sympy.Mul.make_args(node.function)
        weights = [f for f in factors if isinstance(f, sympy.Indexed) and f.indices == (index,)]
        rest = [f for f in factors if f not in weights]
        if len(weights) != 1 or (not rest and not bare) or \
                any(index in f.free_symbols for f in rest):
            return node
        found.append((weights[0].base.label.name, index.name))
        return sympy.Mul(*rest)

    new_lhs = lhs.replace(lambda n: isinstance(n, sympy.Sum), rewrite)
    new_rhs = rhs.replace(lambda n: isinstance(n, sympy.Sum), rewrite)
    if not found or len(set(found)) != 1:
        return None
    name, index = found[0]
    return name, index, new_lhs, new_rhs


def _without_orthogonal_pairs(lhs: sympy.Expr, rhs: sympy.Expr
                              ) -> tuple[str, sympy.Expr, sympy.Expr] | None:
    """The sides with each `U^T U` (or `U U^T`) of a matrix product dropped, as an
    orthogonal U allows; None when there is none."""
    names: list[str] = []

    def drop(node: sympy.Basic) -> sympy.Basic:
        if not isinstance(node, sympy.Mul):
            return node
        factors = list(node.args)
        kept: list[sympy.Basic] = []
        position = 0
        while position < len(factors):
            pair = factors[position:position + 2]
            if len(pair) == 2 and _transpose_pair(pair[0], pair[1]):
                names.append(str(pair[1] if pair[1].is_Symbol else pair[0]))
                position += 2
                continue
            kept.append(factors[position])
            position += 1
        return sympy.Mul(*kept) if len(kept) != len(factors) else node

    new_lhs = lhs.replace(lambda n: isinstance(n, sympy.Mul), drop)
    new_rhs = rhs.replace(lambda n: isinstance(n, sympy.Mul), drop)
    if not names:
        return None
    return names[0], new_lhs, new_rhs


def _transpose_pair(first: sympy.Basic, second: sympy.Basic) -> bool:
    def transposed_of(node: sympy.Basic, symbol: sympy.Basic) -> bool:
        return (isinstance(node, sympy.Function) and type(node).__name__ == "transpose"
                and node.args == (symbol,))
    return bool((second.is_Symbol and transposed_of(first, second)) or
                (first.is_Symbol and transposed_of(second, first)))


_POSITIVE_BY_CONVENTION = re.compile(r"(?:T|tau|eta|lambda|alpha|beta|gamma)(?:_\w+)?")
"""Names that notes use for quantities that are positive almost always, but not always
enough to draw them so: a temperature or a horizon `T`, a time constant `\\tau`, a learning
rate `\\eta` or `\\alpha`, a weight or a rate `\\lambda`, `\\beta` and `\\gamma` (a discount,
a noise schedule, Adam's decay). `\\lambda` may be an eigenvalue and `\\alpha` an angle, so a
step that needs them positive is not passed: it is left unchecked with the declaration
to write. (`\\sigma`, a standard deviation in nearly every note, is drawn positive:
`domain.SCALE_INTERVAL`.)"""


def _positive_by_convention(lhs: sympy.Expr, rhs: sympy.Expr, domain: Domain,
                            agree: Compare) -> str | None:
    """`holds if T > 0: declare it with …` for a step that fails at points of every sign
    but holds when the names above that it uses are positive (`\\sqrt{T^2} = T`), naming
    only those it needs; None otherwise (`\\sqrt{T^2} = -T` fails whatever the sign)."""
    if domain.default is not DEFAULT_INTERVAL:
        return None  # (the positive fallback: every name was positive already)
    names = sorted({name for name in _sampled_names(lhs) | _sampled_names(rhs)
                    if _POSITIVE_BY_CONVENTION.fullmatch(name) and name not in domain.intervals})
    if not names or not agree(lhs, rhs, _positive(domain, names)):
        return None
    needed = list(names)
    for name in names:  # each one the step holds without goes
        fewer = [other for other in needed if other != name]
        if fewer and agree(lhs, rhs, _positive(domain, fewer)):
            needed = fewer
    written = ", ".join(latex_name(name) for name in needed)
    return f"holds if {written} > 0: declare it with `<!-- assume: {written} > 0 -->`"


def _sampled_names(expr: sympy.Expr) -> set[str]:
    """The names whose values are drawn: symbols, and arrays by their name (`beta` for
    `\\beta_t` inside a sum)."""
    names = {symbol.name for symbol in expr.free_symbols if isinstance(symbol, sympy.Symbol)}
    return names | {item.base.label.name for item in expr.atoms(sympy.Indexed)}


def _positive(domain: Domain, names: Sequence[str]) -> Domain:
    return replace(domain, intervals={**domain.intervals,
                                      **dict.fromkeys(names, SCALE_INTERVAL)})


def _is_inner(node: sympy.Basic) -> bool:
    return isinstance(node, sympy.Function) and type(node).__name__ == "Inner"


def _inner_products_done(expr: sympy.Expr) -> sympy.Expr:
    """The side with its inner products worked out where they can be (`⟨v, 0⟩ = 0`)."""
    with sympy.evaluate(True):
        return expr.replace(_is_inner, lambda node: node.func(*node.args))


def _unit_vectors(lhs: sympy.Expr, rhs: sympy.Expr
                  ) -> tuple[str, sympy.Expr, sympy.Expr] | None:
    """The sides with each vector of an inner product with itself (`⟨v_i, ξ_i v_i⟩`, a
    factor of both entries) made 1, as a unit vector allows at the scalar points a check
    samples; None when there is none."""
    vectors: list[sympy.Basic] = []
    for side in (lhs, rhs):
        for node in side.atoms(sympy.Function):
            if not _is_inner(node):
                continue
            first, second = (set(sympy.Mul.make_args(arg)) for arg in node.args)
            vectors += sorted((factor for factor in first & second
                               if isinstance(factor, (sympy.Symbol, sympy.Indexed))),
                              key=str)
    if not vectors:
        return None
    ones = {vector: sympy.Integer(1) for vector in vectors}
    first = vectors[0]
    name = f"{first.base.label}_" + "".join(str(index) for index in first.indices) \
        if isinstance(first, sympy.Indexed) else str(first)
    return name, lhs.xreplace(ones), rhs.xreplace(ones)
