"""Issue 16, constraints: steps that hold only because a density integrates to 1 or a
scale is positive. Unsaid, such a step is `unchecked` with the declaration to write
(never a `fail`: the note takes the constraint for granted); declared with `assume:`,
it is checked under it, and a wrong step still fails. Through the checker as `sheets
check` runs it, on cards and sheets the tests write."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from builder.cards import find_cards
from builder.check import assume_problems, check_card, parse_domain
from builder.marp import parse_file
from builder.model import Card, CardResult, Equation, SourceLoc

ROOT = Path(__file__).resolve().parent.parent


def _check(tex: str, *, assume: tuple[str, ...] = ()) -> CardResult:
    path = Path("constraints.md")
    card = Card(title="t", equations=(Equation(tex, SourceLoc(path, 3)),), checks=(),
                assume=assume, nocheck=None, declarations=(), code=(),
                loc=SourceLoc(path, 1), slide=0)
    return check_card(card, snippets_dir=None, timeout=5)


def _messages(result: CardResult) -> list[str]:
    return [check.message for check in result.checks]


# ---------------------------------------------------------------- a density adds up to 1

@pytest.mark.parametrize(("tex", "condition", "declaration"), [
    (r"\int p(x) \, c \, dx = c", "∫ p(x) dx = 1", r"\int p(x) dx = 1"),
    (r"\int p(x) \log c \, dx = \log c", "∫ p(x) dx = 1", r"\int p(x) dx = 1"),
    (r"\int_{-\infty}^{\infty} p(x) \, dx = 1", "∫ p(x) dx = 1", r"\int p(x) dx = 1"),
    (r"\int q(z) \log p(x) \, dz = \log p(x)", "∫ q(z) dz = 1", r"\int q(z) dz = 1"),
    (r"\sum_x p(x) = 1", "Σ_x p(x) = 1", r"\sum_x p(x) = 1"),
    (r"\sum_x p(x) \log c = \log c", "Σ_x p(x) = 1", r"\sum_x p(x) = 1"),
    (r"\int p_\theta(x) \, c \, dx = c", r"∫ p_{\theta}(x) dx = 1",
     r"\int p_{\theta}(x) dx = 1"),
])
def test_a_step_that_needs_a_density_to_integrate_to_1_says_what_to_declare(
        tex: str, condition: str, declaration: str) -> None:
    result = _check(tex)
    assert result.status == "unchecked", result.checks
    assert f"holds if {condition}" in result.checks[0].message
    assert f"declare it with `<!-- assume: {declaration} -->`" in result.checks[0].message
    # the declaration it names is one assume: reads, and with it the step passes
    assert not assume_problems([declaration])
    declared = _check(tex, assume=(declaration,))
    assert declared.status == "pass", declared.checks
    assert f"given {condition}" in declared.checks[0].message


@pytest.mark.parametrize("tex", [
    r"\int p(x) \, c \, dx = 2 c",          # a wrong factor
    r"\int p(x) \log c \, dx = -\log c",    # a wrong sign
    r"\sum_x p(x) (a + b) = a",             # a term lost
])
def test_a_wrong_step_is_not_excused_by_the_density(tex: str) -> None:
    """Unsaid, the step cannot be evaluated (p is unknown) and no constraint makes it
    hold: no `holds if`. Declared, it fails, with the values under the constraint."""
    result = _check(tex)
    assert result.status == "unchecked"
    assert "holds if" not in result.checks[0].message
    declaration = r"\sum_x p(x) = 1" if "sum" in tex else r"\int p(x) dx = 1"
    declared = _check(tex, assume=(declaration,))
    assert declared.status == "fail", declared.checks
    assert declared.checks[0].message.startswith(f"step 1: {tex.split(' = ')[0]} ≠ ")


def test_what_does_not_add_up_to_1_is_not_taken_out() -> None:
    """Bounds (`\\int_0^1`), a second argument in x, or the density's variable in the
    rest of the body: the constraint says nothing about these, declared or not."""
    for tex in (r"\int_0^1 p(x) \, c \, dx = c", r"\int p(x, x) \, c \, dx = c",
                r"\int p(x) \, x \, dx = x"):
        assert "holds if" not in _check(tex).checks[0].message
        assert _check(tex, assume=(r"\int p(x) dx = 1",)).status == "unchecked", tex
    # another density than the one declared is not taken out either
    assert _check(r"\int q(x) \, c \, dx = c", assume=(r"\int p(x) dx = 1",)).status \
        == "unchecked"


def test_assume_reads_densities_by_their_python_name() -> None:
    assert parse_domain([r"\int p(x) dx = 1"]).densities == {"p"}
    assert parse_domain([r"\int_{-\infty}^{\infty} p(x \mid \theta) \, dx = 1"]).densities \
        == {"p"}
    assert parse_domain([r"\int q_{\phi}(z) \, \mathrm{d}z = 1"]).densities == {"q_phi"}
    assert parse_domain([r"\sum_x p(x) = 1"]).densities == {"p"}
    # a sum of a vector's entries is the simplex, not a density
    assert parse_domain([r"\sum_j y_j = 1"]).densities == frozenset()
    for unusable in (r"\int_0^1 p(x) dx = 1", r"\int p(x) dy = 1", r"\sum_k p(x) = 1"):
        assert parse_domain([unusable]).densities == frozenset()
        (problem,) = assume_problems([unusable])
        assert "not a constraint it can use" in problem


def test_the_declaration_to_write_is_latex_that_assume_reads_back() -> None:
    """A probability vector `\\hat{y}` is named as written, not by its Python name
    (`y_hat_j`, which `assume:` would read as another vector)."""
    result = _check(r"\sum_j \hat{y}_j \log c = \log c")
    assert result.status == "unchecked", result.checks
    assert (r"declare it with `<!-- assume: \sum_j \hat{y}_j = 1 -->`"
            in result.checks[0].message)
    assert _check(r"\sum_j \hat{y}_j \log c = \log c",
                  assume=(r"\sum_j \hat{y}_j = 1",)).status == "pass"
    result = _check(r"\sum_k \pi_k \log c = \log c")
    assert r"`<!-- assume: \sum_k \pi_k = 1 -->`" in result.checks[0].message


# ---------------------------------------------------------------- a positive scale

@pytest.mark.parametrize("tex", [r"\sqrt{\sigma^2} = \sigma", r"\log \sigma^2 = 2 \log \sigma",
                                 r"|\sigma| = \sigma", r"\sqrt{\sigma_k^2} = \sigma_k",
                                 r"\sqrt{2 \pi \sigma^2} = \sqrt{2 \pi} \sigma"])
def test_a_standard_deviation_is_positive(tex: str) -> None:
    assert _check(tex).status == "pass"


@pytest.mark.parametrize(("tex", "names"), [
    (r"|T| = T", "T"),
    (r"\sqrt{\eta^2} = \eta", r"\eta"),
    (r"\sqrt{\tau^2} = \tau", r"\tau"),
    (r"\sqrt{\lambda^2} = \lambda", r"\lambda"),
    (r"\sqrt{\alpha^2} = α", r"\alpha"),
    (r"\sqrt{\bar{\alpha}_t^2} = \bar{\alpha}_t", r"\bar{\alpha}_t"),
    (r"\sqrt{\eta^2 T^2} = \eta T", r"T, \eta"),
    (r"\sqrt{\eta^2} \, x = \eta x", r"\eta"),  # x takes every sign, and need not
])
def test_a_step_that_needs_a_conventionally_positive_name_positive_says_so(
        tex: str, names: str) -> None:
    result = _check(tex)
    assert result.status == "unchecked", result.checks
    assert result.checks[0].message == (
        f"step 1: holds if {names} > 0: declare it with `<!-- assume: {names} > 0 -->`")
    # the declaration, split at its commas as annotations are, makes it pass
    *first, last = names.split(", ")
    assert _check(tex, assume=(*first, f"{last} > 0")).status == "pass"


@pytest.mark.parametrize("tex", [
    r"\sqrt{\sigma^2} = -\sigma",        # wrong for every σ
    r"\sqrt{T^2} = -T",
    r"\log T^2 = \log 2 T",
    r"\sqrt{\eta^2 x^2} = \eta x",       # holds only if x > 0 too, and x is anything
    r"|x| = x",                          # an ordinary name takes every sign
    r"\sqrt{s^2} = s",
])
def test_a_real_mistake_still_fails(tex: str) -> None:
    result = _check(tex)
    assert result.status == "fail", result.checks


def test_a_declared_sign_is_respected() -> None:
    """A name `assume:` bounds is drawn from its bounds, convention or not: `T < 0`
    declared, `|T| = T` is wrong."""
    assert _check(r"|T| = T", assume=("T < 0",)).status == "fail"
    assert _check(r"\sqrt{\sigma^2} = \sigma", assume=(r"\sigma \in \mathbb{R}",)).status \
        == "fail"


# ---------------------------------------------------------------- the CLI

SHEET = r"""# Constraints

## Entropy of a constant

$$
\int p(x) \log c \, dx = \log c
$$

## Declared
<!-- assume: \int q(z) \, dz = 1, x \in \mathbb{R} -->

$$
\log p(x) = \int q(z) \log p(x) \, dz
$$

## Declared, wrong
<!-- assume: \int p(x) dx = 1 -->

$$
\int p(x) \, c \, dx = 2 c
$$

## Temperature

$$
\sqrt{T^2} = T
$$

## Scale

$$
\sqrt{\sigma^2} = -\sigma
$$
"""


def test_the_thin_space_of_a_declared_integral_does_not_split_assume(tmp_path: Path) -> None:
    """`assume:` parts are separated by commas; `\\,` in `\\int q(z) \\, dz = 1` is a
    space."""
    (tmp_path / "constraints.md").write_text(SHEET, encoding="utf-8")
    (card,) = [card for card in find_cards(parse_file(tmp_path / "constraints.md"))
               if card.title == "Declared"]
    assert card.assume == (r"\int q(z) \, dz = 1", r"x \in \mathbb{R}")
    assert parse_domain(card.assume).densities == {"q"}


def test_sheets_check_reports_each_constraint_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "constraints.md").write_text(SHEET, encoding="utf-8")
    environment = {**os.environ, "PYTHONPATH": str(ROOT),
                   "SHEETS_CACHE_DIR": str(tmp_path / "cache")}
    environment.pop("GITHUB_ACTIONS", None)
    run = subprocess.run([sys.executable, "-m", "builder", "check", "constraints.md"],
                         cwd=tmp_path, check=False, capture_output=True, text=True,
                         env=environment, timeout=300)
    assert run.returncode == 1, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == (
        "constraints.md:6: unchecked: Entropy of a constant: step 1: holds if ∫ p(x) dx = 1 "
        r"(a density): declare it with `<!-- assume: \int p(x) dx = 1 -->`")
    assert re.fullmatch(r"constraints\.md:20: Declared, wrong: step 1: \\int p\(x\) \\, c "
                        r"\\, dx ≠ 2 c at c=(\S+) \(\1 vs \S+\)", lines[1]), lines[1]
    assert lines[2] == ("constraints.md:26: unchecked: Temperature: step 1: holds if T > 0: "
                        "declare it with `<!-- assume: T > 0 -->`")
    assert re.fullmatch(r"constraints\.md:32: Scale: step 1: \\sqrt\{\\sigma\^2\} ≠ -\\sigma "
                        r"at sigma=(\S+) \(\1 vs -\1\)", lines[3]), lines[3]
    assert lines[4:] == ["1 passed (0 in part), 2 failed, 0 errors, 2 unchecked"]
