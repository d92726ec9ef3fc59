"""A card's declarations: its `<!-- let: … -->` clauses (`let: f function`, `let: W, X
matrices`) with the Python names of what they name, plus what its equations show about
each name (applied like a function, used as a value, transposed, a time step)."""

from __future__ import annotations

import re

from builder.formula.context import Declarations
from builder.formula.evidence import name_evidence, step_letters, transposed_names
from builder.formula.names import python_name
from builder.formula.tokens import Refused, macro_definitions, read_tokens
from builder.model import Card

_KINDS = {"function": "functions", "functions": "functions", "scalar": "scalars",
          "scalars": "scalars", "matrix": "matrices", "matrices": "matrices",
          "vector": "matrices", "vectors": "matrices", "index": "indices",
          "indices": "indices"}
"""The kinds a `let:` clause may end with (singular or plural) → `Declarations` field."""
LET_KINDS = tuple(_KINDS)
"""The words a `let:` clause may end with: `let: W x vector`."""


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
    operators: set[str] = set()
    macros = tuple(macro for equation in card.equations
                   for macro in macro_definitions(equation.tex))
    for equation in card.equations:
        evidence = name_evidence(equation.tex)
        applied |= evidence.applied
        plain |= evidence.plain
        defined |= evidence.defined
        operators |= evidence.operators
        try:
            tokens = read_tokens(equation.tex, macros)
        except Refused:
            continue
        transposed |= transposed_names(tokens)
        steps |= step_letters(tokens)
    return Declarations(functions=frozenset(found["functions"]),
                        scalars=frozenset(found["scalars"]),
                        matrices=frozenset(found["matrices"]),
                        indices=frozenset(found["indices"]),
                        applied=frozenset(applied), plain=frozenset(plain),
                        transposed=frozenset(transposed), steps=frozenset(steps),
                        defined=frozenset(defined), operators=frozenset(operators), macros=macros,
                        problems=tuple(problems))
