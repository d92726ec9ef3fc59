"""compile: LaTeX → sympy on hand-checked fixtures (tests/fixtures/compile.txt), coverage
of the seed notes, formulas evaluated with numpy (`card.eq`), and input that must be
refused quickly rather than crash or hang."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy
from fixture_file import FixtureCase, fixture_params
from formula_readings import compile_case, shown
from seeds import SEEDS
from sympy.core.function import AppliedUndef

import builder.formula as compiler
from builder.cards import find_cards
from builder.check import coverage_report
from builder.check import relation_chains as _chains
from builder.marp import parse_file, parse_text
from builder.model import Card, Equation, SourceLoc

FIXTURES = Path(__file__).parent / "fixtures"
SHEET = Path("sheet.md")


@pytest.mark.parametrize("case", [*fixture_params(FIXTURES / "compile.txt"),
                                  *fixture_params(FIXTURES / "compile_notation.txt")])
def test_fixture(case: FixtureCase) -> None:
    compiled = compile_case(case.input.removesuffix("\n"))
    assert shown(compiled) == case.expected


def test_the_fixtures_are_mostly_real_seed_equations() -> None:
    from fixture_file import read_fixture_file

    cases = read_fixture_file(FIXTURES / "compile.txt")
    compiled = [case for case in cases if not case.expected.startswith("!")]
    assert len(compiled) >= 60
    assert sum(case.title.startswith("seed ") for case in cases) > len(cases) / 2


# ---------------------------------------------------------------- the seed notes

def _seed_equations() -> list[tuple[Card, Equation]]:
    return [(card, equation) for path in sorted(SEEDS.glob("*.txt"))
            for card in find_cards(parse_file(path)) for equation in card.equations]


def test_most_seed_equations_compile() -> None:
    counts = [sum(len(card.equations) for card in find_cards(parse_file(path)))
              for path in sorted(SEEDS.glob("*.txt"))]
    assert counts == [91, 84, 4, 49, 44]
    compiled = 0
    for card, equation in _seed_equations():
        result = compiler.compile_equation(equation, compiler.declarations_for(card))
        refused = [side for sides, _ in _chains(result) for side in sides if side.expr is None]
        if not refused and not (result.reason and not result.chains):
            compiled += 1
    assert compiled / sum(counts) >= 0.80, f"{compiled} of {sum(counts)}"


def test_the_coverage_report_groups_the_reasons() -> None:
    cards = find_cards(parse_file(next(SEEDS.glob("001_*.txt"))))
    report = coverage_report(cards).splitlines()
    match = re.fullmatch(r"coverage: (\d+) of 84 display equations compiled \((\d+) %\)",
                         report[0])
    assert match and int(match.group(2)) >= 80
    counts = [int(line.split()[0]) for line in report[1:]]
    assert sum(counts) == 84 - int(match.group(1))
    assert counts == sorted(counts, reverse=True)
    reasons = [line.split(None, 1)[1] for line in report[1:]]
    assert len(reasons) == len(set(reasons))
    assert all(len(reason) < 70 for reason in reasons)


def test_side_lines_follow_the_rows() -> None:
    tex = "\n\\begin{aligned}\n(x-1)(x+1) &= x^2 + x - x - 1 \\\\\n&= x^2 - 1\n\\end{aligned}\n"
    compiled = compiler.compile_equation(Equation(tex, SourceLoc(SHEET, 40)))
    (chain,) = compiled.chains
    assert [side.line for side in chain.sides] == [42, 42, 43]
    assert [side.tex for side in chain.sides] == ["(x-1)(x+1)", "x^2 + x - x - 1", "x^2 - 1"]
    assert chain.relations == ("=", "=")


def test_let_declarations_in_a_sheet() -> None:
    deck = parse_text("## Card\n<!-- let: a function; X, W matrix -->\n$$a(b+c) = XW$$\n",
                      SHEET)
    (card,) = find_cards(deck)
    declarations = compiler.declarations_for(card)
    assert declarations.functions == {"a"} and declarations.matrices == {"X", "W"}
    (chain,) = compiler.compile_equation(card.equations[0], declarations).chains
    left, right = (side.expr for side in chain.sides)
    assert isinstance(left, AppliedUndef)
    assert right is not None
    assert right.args == (sympy.Symbol("X", commutative=False),
                          sympy.Symbol("W", commutative=False))
    bad = compiler.declarations_for(Card("t", (), (), (), None, ("f functoin",), (),
                                         SourceLoc(SHEET, 1), 0))
    assert bad.problems == ("f functoin",)



def _card_reads(*texes: str) -> str:
    """How the card of these equations reads its first one's right side (`!reason` when
    refused): the other equations are the context that decides `h(…)`."""
    equations = tuple(Equation(tex, SourceLoc(SHEET, number + 1))
                      for number, tex in enumerate(texes))
    card = Card("t", equations, (), (), None, (), (), SourceLoc(SHEET, 1), 0)
    (chain,) = compiler.compile_equation(equations[0],
                                         compiler.declarations_for(card)).chains
    side = chain.sides[-1]
    return str(side.expr) if side.expr is not None else f"!{side.reason}"


_UNDECIDED = "!f(…): function or product? declare it (let: f function)"


@pytest.mark.parametrize(("texes", "reading"), [
    # h is as often a size as a function: a bare use anywhere in the card decides
    (("y = h(x + 1)", "h = 2"), "h*(x + 1)"),
    (("y = h(x + 1)",), "h(x + 1)"),
    # applied to a name and used bare: the card says both, so it is refused
    (("y = h(x + 1)", "z = h(x)", "h = 2"), _UNDECIDED),
    # f and g are functions unless the same equation uses them bare
    (("y = g(x + 1)", "g = 9.8"), _UNDECIDED),
    (("y = f(x + 1) + f",), "f*(x + 1) + f"),
    (("y = g(x + 1)",), "g(x + 1)"),
    # the sigmoid stays the sigmoid, whatever else the card does with sigma
    ((r"y = \sigma(z + 1)", r"x = \mu + \sigma"), "1/(1 + exp(-(z + 1)))"),
])
def test_a_bare_use_in_the_card_decides_function_or_product(texes: tuple[str, ...],
                                                            reading: str) -> None:
    assert _card_reads(*texes) == reading


def test_the_lstm_card_and_a_unicode_card_pass_sheets_check(tmp_path: Path) -> None:
    cards = {"LSTM parameters": r"N = 4\left(h(h + d) + h\right) = 4h^2 + 4hd + 4h",
             "LSTM parameters, short": "N = 4h(h+d) = 4h^2 + 4hd",
             "LSTM parameters, wrong": r"N = 4\left(h(h + d) + h\right) = 4h^2 + 4hd",
             "alpha": "y = (α+1)^2 = α^2+2α+1",
             "alpha, wrong": "y = (α+1)^2 = α^2+α+1",
             "h alone": "y = h(x)",
             "Japanese": r"y = \text{日本語} + 1"}
    sheet = tmp_path / "sheet.md"
    sheet.write_text("---\nmarp: true\nmath: mathjax\n---\n\n# Issue 15\n\n" + "".join(
        f"## {title}\n$${tex}$$\n\n" for title, tex in cards.items()), encoding="utf-8")
    environment = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
                   "SHEETS_CACHE_DIR": str(tmp_path / "cache")}
    environment.pop("GITHUB_ACTIONS", None)
    run = subprocess.run([sys.executable, "-m", "builder", "check", str(sheet), "--json", "-"],
                         cwd=tmp_path, check=False, capture_output=True, text=True,
                         env=environment, timeout=120)
    found = {card["title"]: card for card in json.loads(run.stdout)["cards"]}
    assert {title: card["status"] for title, card in found.items()} == {
        "LSTM parameters": "pass", "LSTM parameters, short": "pass",
        "LSTM parameters, wrong": "fail", "alpha": "pass", "alpha, wrong": "fail",
        "h alone": "unchecked", "Japanese": "unchecked"}, run.stderr
    (failure,) = found["alpha, wrong"]["checks"]
    assert "(α+1)^2 ≠ α^2+α+1 at alpha=" in failure["message"]  # quotes the note


# ---------------------------------------------------------------- formulas (card.eq)

def _formula(tex: str) -> compiler.Formula:
    return compiler.formula(Equation(tex, SourceLoc(SHEET, 7)))


def test_softmax_over_an_array() -> None:
    eq = _formula(r"y_k = \frac{e^{a_k}}{\sum_i e^{a_i}}")
    assert eq.symbols == ("a",)
    assert (eq.lhs, eq.rhs) == ("y_k", r"\frac{e^{a_k}}{\sum_i e^{a_i}}")
    a = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(eq(a=a), np.exp(a) / np.exp(a).sum())


def test_missing_or_unknown_names_raise_type_error_listing_the_symbols() -> None:
    eq = _formula(r"H_{out} = \left\lfloor \frac{H_{in} + 2P - F}{S} \right\rfloor + 1")
    assert eq.symbols == ("F", "H_in", "P", "S")
    assert eq(H_in=28, P=1, F=3, S=2) == 14
    with pytest.raises(TypeError, match=r"missing S.*takes F, H_in, P, S"):
        eq(H_in=28, P=1, F=3)
    with pytest.raises(TypeError, match=r"unknown H"):
        eq(H_in=28, P=1, F=3, S=2, H=1)


def test_formulas_vectorise_over_plain_arrays_and_sums() -> None:
    sigmoid = _formula(r"\sigma(z) = \frac{1}{1 + e^{-z}}")
    np.testing.assert_allclose(sigmoid(z=np.array([0.0, 2.0])), 1 / (1 + np.exp([0.0, -2.0])))
    loss = _formula(r"E = -\frac{1}{N} \sum_n \sum_k t_{nk} \log y_{nk}")
    t = np.array([[0.0, 1.0], [1.0, 0.0]])
    y = np.array([[0.2, 0.8], [0.6, 0.4]])
    assert loss(N=2, t=t, y=y) == pytest.approx(-(np.log(0.8) + np.log(0.6)) / 2)
    mean = _formula(r"\hat{\mu} = \frac{1}{n} \sum_{i=1}^{n} x_i")
    assert mean(n=3, x=np.array([1.0, 2.0, 6.0])) == pytest.approx(3.0)
    tanh = _formula(r"\tanh(z) = \frac{e^z - e^{-z}}{e^z + e^{-z}}")
    assert tanh(z=0.5) == pytest.approx(np.tanh(0.5))
    relu = _formula(r"f(x) = \max(0, x)")
    np.testing.assert_array_equal(relu(x=np.array([-1.0, 2.0])), [0.0, 2.0])


def test_a_derivative_on_the_left_gives_its_free_index_as_the_output_axis() -> None:
    grad = _formula(r"\frac{\partial E}{\partial a_k} = y_k - t_k")
    assert (grad.symbols, grad.free_index) == (("t", "y"), "k")
    np.testing.assert_allclose(grad(y=np.array([0.2, 0.8]), t=np.array([0.0, 1.0])),
                               [0.2, -0.2])
    step = compiler.formula(Equation(r"\frac{\partial h_t}{\partial h_{t-1}} = W_{hh} (1 - h_t^2)",
                                     SourceLoc(SHEET, 7)),
                            compiler.Declarations(scalars=frozenset({"W_hh"})))
    assert (step.symbols, step.free_index) == (("W_hh", "h"), "t")
    np.testing.assert_allclose(step(W_hh=2.0, h=np.array([0.5, 0.0])), [1.5, 2.0])


def test_complex_values_stay_complex() -> None:
    det = _formula(r"\det(A) = \prod_i \lambda_i")
    assert det.symbols == ("lambda",)  # the product's index is bound, not an argument
    assert det(**{"lambda": np.array([1 + 1j, 1 - 1j])}) == pytest.approx(2)
    assert det(**{"lambda": np.array([1j, 1j])}) == pytest.approx(-1)
    square = _formula(r"g = \exp(x)^2")
    np.testing.assert_allclose(square(x=np.array([1j * np.pi / 2])), [-1])


def test_an_index_given_as_an_array_gives_one_value_per_index() -> None:
    conv = _formula(r"y_i = \sum_{m=0}^{F-1} x_{i+m} w_m + b")
    x, w = np.array([1.0, 2.0, 3.0, 4.0, 5.0]), np.array([1.0, -1.0, 2.0])
    expected = np.correlate(x, w, mode="valid") + 0.5
    assert conv(x=x, w=w, b=0.5, F=3, i=1) == pytest.approx(expected[0])  # 1-based
    np.testing.assert_allclose(conv(x=x, w=w, b=0.5, F=3, i=np.arange(1, 4)), expected)
    rebuilt = _formula(r"a_{ij} = \sum_k q_{ik} \lambda_k q_{jk}")
    q, lam = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([1.0, 10.0])
    np.testing.assert_allclose(
        rebuilt(q=q, **{"lambda": lam}, i=np.arange(1, 3)[:, None], j=np.arange(1, 3)[None, :]),
        (q * lam) @ q.T)
    with pytest.raises(TypeError, match="whole numbers"):
        conv(x=x, w=w, b=0.5, F=3, i=np.array([1.5, 2.0]))


def test_a_formula_that_does_not_compile_says_why() -> None:
    with pytest.raises(ValueError, match="ellipsis"):
        _formula(r"y_i = \frac{e^{x_i}}{e^{a} + \dots + e^{b}}")


# ---------------------------------------------------------------- malformed input

def test_huge_and_deep_input_is_refused_with_a_reason() -> None:
    long = " + ".join(f"x_{{{index}}}" for index in range(2000))
    assert compiler.compile_equation(Equation(long, SourceLoc(SHEET, 1))).reason \
        == f"too long to check ({len(long)} characters)"
    deep = "(" * 1500 + "x" + ")" * 1500
    assert compiler.compile_equation(Equation(deep, SourceLoc(SHEET, 1))).reason \
        == "nested too deeply"
    fractions = r"\frac{1}{" * 60 + "x" + "}" * 60
    assert compiler.compile_equation(Equation(fractions, SourceLoc(SHEET, 1))).reason \
        == "nested too deeply"
    assert compiler.compile_equation(Equation("}{x", SourceLoc(SHEET, 1))).reason \
        == "unbalanced braces"


def test_random_token_soup_never_crashes() -> None:
    pieces = [r"\frac", "{", "}", "(", ")", "[", "]", "|", "^", "_", "=", "+", "-", "x", "y",
              "2", r"\sum", r"\int", r"\left(", r"\right)", r"\\", "&", r"\begin{aligned}",
              r"\end{aligned}", r"\sqrt", r"\hat", r"\text{a b}", "'", r"\log", "e", "d",
              r"\partial", r"\quad", ",", r"\mathbb{E}", r"\cdot", r"\lfloor", r"\rfloor"]
    rng = random.Random(4)
    for _ in range(400):
        tex = " ".join(rng.choice(pieces) for _ in range(rng.randint(1, 25)))
        compiled = compiler.compile_equation(Equation(tex, SourceLoc(SHEET, 1)))
        for chain in compiled.chains:
            for side in chain.sides:
                assert (side.expr is None) != (side.reason is None), tex
                assert not (side.reason or "").startswith("internal error"), (tex, side.reason)


# ---------------------------------------------------------------- numeric_function (check)

def test_numeric_function_agrees_with_sympy_and_unrolls_sums() -> None:
    x, n, i = sympy.symbols("x n i")
    a = sympy.IndexedBase("a")
    exprs = [sympy.Sum(a[i] * x**i, (i, 1, n)) / sympy.sqrt(x) + sympy.log(x),
             sympy.Product(1 + a[i], (i, 2, n)) * sympy.exp(-x) + sympy.Max(x, 0.3),
             sympy.tanh(x) ** 2 - sympy.Abs(x - 2) + sympy.factorial(n) / sympy.pi,
             sympy.Derivative(sympy.sin(x) ** 2, x),
             sympy.Sum(sympy.binomial(n, i) * x**i * (1 - x) ** (n - i) * i, (i, 0, n))]
    entries = {f"a[{k}]": 0.1 * k + 0.05 for k in range(-3, 8)}
    for expr in exprs:
        fast = compiler.numeric_function(expr)
        for point in ({"x": 0.7, "n": 4.0}, {"x": 1.9, "n": 3.0}):
            value = fast(point, lambda key, label: entries[key])
            exact = expr.doit().subs({x: point["x"], n: int(point["n"])}).doit()
            exact = exact.subs({a[k]: v for k, v in ((int(key[2:-1]), v)
                                                     for key, v in entries.items())})
            assert value == pytest.approx(complex(exact.evalf(30)), rel=1e-12)
    # Karr's convention, as sympy: a sum from 3 to 0 is minus the sum from 1 to 2
    backwards = compiler.numeric_function(sympy.Sum(a[i], (i, 3, n)))
    assert backwards({"n": 0.0}, lambda key, label: entries[key]) == pytest.approx(-0.4)


def test_numeric_function_skips_points_outside_the_meaning_and_refuses_the_unknown() -> None:
    x, y = sympy.symbols("x y")
    def unused(key: str, label: str) -> float:
        raise AssertionError(f"no array is read here ({label}[{key}])")

    assert compiler.numeric_function(sympy.log(x))({"x": -0.5}, unused) is None
    assert compiler.numeric_function(sympy.sqrt(x) * y)({"x": -0.5, "y": 1.0}, unused) is None
    assert compiler.numeric_function(1 / x)({"x": 0.0}, unused) is None
    assert compiler.numeric_function(x ** -1)({"x": -2.0}, unused) == pytest.approx(-0.5)
    with pytest.raises(compiler.NotNumeric):
        compiler.numeric_function(sympy.Function("f")(x))
    with pytest.raises(compiler.NotNumeric):
        compiler.numeric_function(sympy.Integral(x, (x, 0, y)))
