"""How the compile fixtures (tests/fixtures/compile.txt, corpus_meanings.txt) show what
the compiler made of an equation: each chain on a line, each side's sympy expression in a
canonical form (re-built with sympy's evaluation on, names that are not Python names
spelled out), `!reason` for a side refused."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import sympy
from sympy.core.function import AppliedUndef

import builder.formula as compiler
from builder.model import Card, Equation, SourceLoc

SHEET = Path("sheet.md")


def _alias(name: str) -> str:
    name = name.replace("#", "count_").replace("^", "__").replace("|", "bar")
    return re.sub(r"\W", "_", name.replace("'", "_prime"))


def _rebuilt(expr: Any) -> Any:
    """The expression re-built with sympy's evaluation on: a canonical form, so that the
    fixtures compare structure, not how the parser happened to nest it."""
    if not getattr(expr, "args", ()) or isinstance(expr, sympy.Symbol):
        return expr
    return expr.func(*[_rebuilt(arg) for arg in expr.args])


def _canonical(expr: Any) -> str:
    replacements = {symbol: sympy.Symbol(_alias(symbol.name), **symbol.assumptions0)
                    for symbol in expr.atoms(sympy.Symbol) if not symbol.name.isidentifier()
                    and symbol.name not in ("+", "-", "+-")}  # a Limit's direction
    expr = expr.xreplace(replacements)
    expr = expr.replace(
        lambda node: isinstance(node, AppliedUndef) and not node.func.__name__.isidentifier(),
        lambda node: sympy.Function(_alias(node.func.__name__))(*node.args))
    with sympy.evaluate(True):
        return str(_rebuilt(expr))


def compile_case(text: str) -> compiler.CompiledEquation:
    lets = tuple(re.findall(r"<!-- let: (.*?) -->", text))
    tex = re.sub(r"<!-- let: .*? -->\n?", "", text)
    equation = Equation(tex, SourceLoc(SHEET, 1))
    card = Card("t", (equation,), (), (), None, lets, (), SourceLoc(SHEET, 1), 0)
    return compiler.compile_equation(equation, compiler.declarations_for(card))


def shown(compiled: compiler.CompiledEquation) -> str:
    lines = [f"!{compiled.reason}"] if compiled.reason else []
    for chain in compiled.chains:
        parts: list[str] = []
        for number, side in enumerate(chain.sides):
            if number:
                parts.append(f"|{chain.relations[number - 1]}|")
            parts.append(_canonical(side.expr) if side.expr is not None else f"!{side.reason}")
        lines.append(" ".join(parts))
    return "\n".join(lines) + "\n"
