"""What a parse knows beyond its tokens: the card's declarations and the names it saw."""

from __future__ import annotations

from dataclasses import dataclass, field

from builder.formula.tokens import Macro


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
    operators: frozenset[str] = frozenset()
    """Context: names the card writes with an expression as subscript (`\\text{H}_{\\log
    p}`): operators on their subscript, so any subscripted use of them is refused."""
    macros: tuple[Macro, ...] = ()
    """Context: the macros the card's equations define (`\\newcommand{\\R}{\\mathbb{R}}`
    in a `$$` block of its own), read in each of its equations."""
    problems: tuple[str, ...] = ()
    """Declaration clauses that could not be read."""


@dataclass(slots=True)
class NameUse:
    """One name as a side uses it: whether its subscript is compound (`m_{t+1}`) or all
    index letters, which makes its base an array."""

    base: str
    letters: frozenset[str]
    compound: bool
    all_indices: bool
    subscripted: bool = True


@dataclass(slots=True)
class ParseContext:
    """What one equation's parse knows beyond its tokens."""

    declarations: Declarations
    indexed_bases: frozenset[str] = frozenset()
    free_index: frozenset[str] = frozenset()
    steps: frozenset[str] = frozenset()
    """Letters in superscripts like `z^{t-1}`: time steps, which makes `x^t` ambiguous."""
    labels: bool = False
    """Superscripts such as `g_j^{cx}` in the equation: `g_j^w` is a label, not a power."""
    matrices: bool = False
    """An equation of matrices: every name is non-commutative (its products keep their
    order; which names are scalars the notes do not say)."""
    bare: frozenset[str] = frozenset()
    """Names this equation itself uses as values (`h` of `4h(h + d)`), which makes even
    `f`, `g` applied to an expression a product here."""
    sigma_names: frozenset[str] = frozenset()
    """Subscripts of `\\Sigma` that the equation writes with nothing after it to sum
    (`\\Sigma_r \\in …`, `(\\mu_q, \\Sigma_q)`), or in bold: there `\\Sigma_r` is a
    name (a matrix) everywhere, not a summation sign."""
    pairs: bool = False
    """The chain being read writes inner products as pairs, `(v_i, v_j) = \\delta_{ij}`
    (`pairs.py`): `(a, b)` is ⟨a, b⟩ there, not refused as a tuple or interval."""
    uses: list[NameUse] = field(default_factory=list)
