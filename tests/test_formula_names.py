"""One LaTeX → Python name rule: `python_name` (used by `assume:` and `let:`) names a
symbol as the compiler names it inside an equation, so a declaration reaches it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from builder.check import parse_domain
from builder.formula import Declarations, compile_equation, declarations_for, python_name
from builder.model import Card, Equation, SourceLoc

ROOT = Path(__file__).resolve().parent.parent

# (fragment as written in an assumption, the name the compiler gives it)
NAMES = [
    ("\\Delta x", "Delta_x"),
    ("\\Delta{x}", "Delta_x"),
    ("\\hat{y}", "y_hat"),
    ("\\hat y", "y_hat"),
    ("H_{in}", "H_in"),
    ("\\mathrm{TP}", "TP"),
    ("\\sigma", "sigma"),
    ("\\theta_t", "theta_t"),
    ("x'", "x_prime"),
    ("h'", "h_prime"),
    ("α", "alpha"),  # Greek letters typed as Unicode are their commands
    ("σ", "sigma"),
    ("Δx", "Delta_x"),
    ("θ_t", "theta_t"),
    ("ϵ", "epsilon"),
]


def _free_names(tex: str) -> set[str]:
    """The names of the free symbols of every side of `tex` compiled as an equation."""
    compiled = compile_equation(Equation(tex, SourceLoc(Path("t.md"), 1)), Declarations())
    assert compiled.reason is None, compiled.reason
    names: set[str] = set()
    for chain in compiled.chains:
        for side in chain.sides:
            assert side.expr is not None, side.reason
            names |= {str(symbol) for symbol in side.expr.free_symbols}
    return names


@pytest.mark.parametrize(("fragment", "name"), NAMES)
def test_python_name_is_the_compilers_name(fragment: str, name: str) -> None:
    assert python_name(fragment) == name
    assert _free_names(f"{fragment} + 1 = 2") == {name}


@pytest.mark.parametrize("name", ["y_hat", "H_in", "sigma", "Delta_x", "TP", "x"])
def test_a_python_name_is_its_own_name(name: str) -> None:
    assert python_name(name) == name


@pytest.mark.parametrize("fragment", ["x + y", "2x", "", "\\frac{a}{b}"])
def test_what_is_not_one_symbol_is_not_a_name(fragment: str) -> None:
    assert not python_name(fragment).isidentifier()


def test_assume_reaches_the_equations_symbols() -> None:
    domain = parse_domain(["\\Delta x > 0", "\\hat y > 0", "0 < \\hat{p} < 1", "x' > 0"])
    assert set(domain.intervals) == {"Delta_x", "y_hat", "p_hat", "x_prime"}


def test_let_names_the_equations_symbols() -> None:
    card = Card(title="t", equations=(), checks=(), assume=(), nocheck=None,
                declarations=("\\hat{y} function; h' scalar",), code=(),
                loc=SourceLoc(Path("t.md"), 1), slide=0)
    declarations = declarations_for(card)
    assert declarations.functions == {"y_hat"}
    assert declarations.scalars == {"h_prime"}


@pytest.mark.parametrize(("assumption", "equation"), [
    ("\\Delta x > 0", "\\sqrt{(\\Delta x)^2} = \\Delta x"),
    ("\\hat{y} > 0", "\\sqrt{\\hat{y}^2} = \\hat{y}"),
    ("\\hat y > 0", "\\sqrt{\\hat{y}^2} = \\hat y"),
    # (not α: a step that holds for a positive α, a rate in most notes, is unchecked with
    # "holds if \\alpha > 0" rather than failed; tests/test_constraints.py)
    ("ξ > 0", "\\sqrt{\\xi^2} = ξ"),
])
def test_an_assumption_in_latex_takes_effect(tmp_path: Path, assumption: str,
                                             equation: str) -> None:
    sheet = tmp_path / "sheet.md"
    sheet.write_text(f"---\nmarp: true\nmath: mathjax\n---\n\n# Names\n\n## Root of a square\n"
                     f"<!-- assume: {assumption} -->\n$${equation}$$\n\n"
                     f"## Root of a square, nothing assumed\n$${equation}$$\n",
                     encoding="utf-8")
    environment = {**os.environ, "PYTHONPATH": str(ROOT),
                   "SHEETS_CACHE_DIR": str(tmp_path / "cache")}
    environment.pop("GITHUB_ACTIONS", None)
    run = subprocess.run([sys.executable, "-m", "builder", "check", str(sheet), "--json", "-"],
                         cwd=tmp_path, check=False, capture_output=True, text=True,
                         env=environment, timeout=120)
    statuses = {card["title"]: card["status"] for card in json.loads(run.stdout)["cards"]}
    assert statuses == {"Root of a square": "pass",
                        "Root of a square, nothing assumed": "fail"}, run.stderr
