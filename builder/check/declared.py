"""What a card declares that the checker cannot use: `assume:` parts it cannot read, and
`assume:` or `let:` names that none of the card's equations has (a typo, or a name
written differently from the formula: `\\Delta x` there, `dx` here). Either would
otherwise be dropped without a word, and the card checked on a domain its author did
not mean."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from builder.model import Card, Diagnostic, SourceLoc

if TYPE_CHECKING:
    import sympy

    from builder.formula import Declarations

__all__ = ["declaration_warnings"]


def declaration_warnings(card: Card) -> tuple[Diagnostic, ...]:
    """`path:line: warning`s for the card's `assume:` and `let:` annotations, each at the
    line of the annotation concerned (the card's heading when that is not known). sympy
    and the compiler are loaded here, not on import: a warm `sheets check` takes these
    from its cache and need not load them at all."""
    from builder.check.domain import assume_problems, parse_domain
    from builder.formula import declarations_for

    warnings: list[Diagnostic] = []
    assume_at = _loc(card, "assume")
    for problem in assume_problems(card.assume):
        warnings.append(Diagnostic(assume_at, f"assume: {problem}; this part is ignored"))
    if card.nocheck is not None:
        return tuple(warnings)
    declarations = declarations_for(card)
    warnings.extend(Diagnostic(_loc(card, "let"), f"let: `{clause}` is ignored: "
                                                  f"{_let_problem(clause)}")
                    for clause in declarations.problems)
    known = _card_names(card, declarations)
    if known is None:  # some side did not compile: its names cannot be known
        return tuple(warnings)
    unknown = sorted(set(parse_domain(card.assume).intervals) - known)
    if unknown:
        warnings.append(Diagnostic(assume_at, f"assume: {_listed(unknown)} "
                                              f"{_in_no_equation(unknown, known)}"))
    declared = (declarations.functions | declarations.scalars | declarations.matrices
                | declarations.indices)
    unknown = sorted(declared - known)
    if unknown:
        warnings.append(Diagnostic(_loc(card, "let"), f"let: {_listed(unknown)} "
                                                      f"{_in_no_equation(unknown, known)}"))
    return tuple(warnings)


def _loc(card: Card, key: str) -> SourceLoc:
    line = next((line for found, line in card.annotation_lines if found == key),
                card.loc.line)
    return SourceLoc(card.loc.path, line)


def _let_problem(clause: str) -> str:
    """What is wrong with a `let:` clause the compiler could not use (`D scalr`)."""
    import difflib

    from builder.formula import LET_KINDS

    words = clause.replace(",", " ").split()
    kinds = "function, scalar, vector, matrix or index"
    if len(words) < 2:
        return f"write the names, then their kind ({kinds}): `let: W x vector`"
    close = difflib.get_close_matches(words[-1].lower(), LET_KINDS, n=1, cutoff=0.6)
    hint = f"; did you mean `{close[0]}`?" if close else ""
    return f"`{words[-1]}` is not a kind ({kinds}){hint}"


def _listed(names: list[str]) -> str:
    return ", ".join(f"`{name}`" for name in names)


def _in_no_equation(names: list[str], known: set[str]) -> str:
    """The end of the message: the names the card's equations do have, as Python names,
    so that the author sees how to write it (`\\Delta x` reads as `Delta_x`)."""
    verb = "is" if len(names) == 1 else "are"
    shown = sorted(known)[:8]
    more = ", …" if len(known) > len(shown) else ""
    return (f"{verb} in none of this card's equations (they name "
            f"{', '.join(shown)}{more}); ignored")


def _card_names(card: Card, declarations: Declarations) -> set[str] | None:
    """Every name the card's equations use, as the compiler names them; None when a side
    could not be compiled (then its names are unknown, and a warning could be wrong)."""
    from builder.formula import compile_equation

    names: set[str] = set()
    for equation in card.equations:
        compiled = compile_equation(equation, declarations)
        if compiled.reason is not None:
            return None
        for chain in compiled.chains:
            for side in chain.sides:
                if side.expr is None:
                    return None
                names.update(_names(side.expr))
    return names


def _names(expr: sympy.Basic) -> Iterator[str]:
    import sympy
    from sympy.core.function import AppliedUndef

    for node in sympy.preorder_traversal(expr):
        if isinstance(node, sympy.Symbol | sympy.MatrixSymbol):
            yield str(node.name)
        elif isinstance(node, sympy.Indexed):
            yield str(node.base.label)
        elif isinstance(node, AppliedUndef):
            yield str(node.func.__name__)
