"""check: derivation steps, domains, definitions, the cache, and `sheets check` itself
(through the real command line, on sheets the tests write and on
tests/fixtures/derivations.md)."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sympy
from seeds import SEED_FILES

from builder.check import (
    CardResult,
    CheckCache,
    CheckResult,
    Domain,
    StepVerdict,
    compare_sides,
    is_claim,
    parse_domain,
)
from builder.model import Card, Equation, SourceLoc

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "derivations.md"

x, y, z, p, a, b = sympy.symbols("x y z p a b")


# ---------------------------------------------------------------- one step

def test_a_sign_mistake_fails_with_both_sides_and_a_point() -> None:
    wrong = (sympy.exp(-z) - sympy.exp(z)) / (sympy.exp(-z) + sympy.exp(z))
    verdict = compare_sides(sympy.tanh(z), wrong, Domain())
    assert verdict.status == "fail"
    match = re.fullmatch(r"tanh\(z\) ≠ (.+) at z=(-?[\d.]+) \((-?[\d.]+) vs (-?[\d.]+)\)",
                         verdict.message)
    assert match, verdict.message
    assert "e^-z" in match.group(1)
    point = float(match.group(2))
    assert float(match.group(3)) == pytest.approx(float(sympy.tanh(point)), abs=1e-3)
    assert float(match.group(4)) == pytest.approx(-float(match.group(3)))


def test_a_correct_identity_passes_and_is_proved() -> None:
    verdict = compare_sides((x + 1) ** 2, x**2 + 2 * x + 1, Domain())
    assert (verdict.status, verdict.message) == ("pass", "proved")


def test_floating_point_noise_is_not_a_difference() -> None:
    # 0.1 + 0.2 is not 0.3 in binary; the tolerance knows.
    verdict = compare_sides(sympy.Float(0.1) * x + sympy.Float(0.2) * x, sympy.Float(0.3) * x,
                            Domain())
    assert verdict.status == "pass"


def test_the_domain_decides() -> None:
    # sqrt(x^2) = x holds for x > 0 and not for every real x: undeclared symbols take
    # every sign (README "Declarations"), so it fails unless `assume:` says x > 0.
    for wrong in (sympy.sqrt(x**2), sympy.Abs(x), sympy.Max(0, x)):
        verdict = compare_sides(wrong, x, Domain())
        assert verdict.status == "fail", (wrong, verdict)
        assert re.search(r"at x=-[\d.]+", verdict.message)
        assert compare_sides(wrong, x, parse_domain(["x > 0"])).status == "pass"
    assert compare_sides(sympy.sqrt(x**2), sympy.Abs(x), Domain()).status == "pass"
    real = parse_domain(["x \\in \\mathbb{R}"])
    verdict = compare_sides(sympy.sqrt(x**2), x, real)
    assert verdict.status == "fail"
    assert re.search(r"at x=-[\d.]+", verdict.message)


def test_undeclared_symbols_are_sampled_over_both_signs_near_zero_and_far() -> None:
    # x^3 = x holds at 0 and ±1 only.
    assert compare_sides(x**3, x, Domain()).status == "fail"
    # 1 + x + x^2/2 = e^x is close near 0 and far from it for larger |x|.
    assert compare_sides(1 + x + x**2 / 2, sympy.exp(x), Domain()).status == "fail"


def test_log_and_roots_fall_back_to_positive_points_and_prove_nothing_more() -> None:
    # Undefined for most real points: compared where they are defined (x, y > 0).
    for lhs, rhs in ((sympy.log(x * y), sympy.log(x) + sympy.log(y)),
                     (sympy.sqrt(x) * sympy.sqrt(y), sympy.sqrt(x * y)),
                     (sympy.log(x**2), 2 * sympy.log(x)),
                     (-p * sympy.log(p) - (1 - p) * sympy.log(1 - p),
                      -sympy.log(p**p * (1 - p) ** (1 - p)))):
        assert compare_sides(lhs, rhs, Domain()).status == "pass", (lhs, rhs)
    assert compare_sides(sympy.log(x * y), sympy.log(x) - sympy.log(y),
                         Domain()).status == "fail"


def test_sigma_is_a_standard_deviation_unless_assume_says_otherwise() -> None:
    sigma = sympy.Symbol("sigma")
    gauss = (1 / sympy.sqrt(2 * sympy.pi * sigma**2), 1 / (sigma * sympy.sqrt(2 * sympy.pi)))
    assert compare_sides(*gauss, Domain()).status == "pass"
    assert compare_sides(*gauss, parse_domain(["-1 < sigma < 1"])).status == "fail"
    assert compare_sides(sympy.sqrt(x**2 * sigma**2), x * sigma, Domain()).status == "fail"


def test_log_of_a_probability_stays_real_under_assume() -> None:
    domain = parse_domain(["0 < p < 1"])
    assert compare_sides(sympy.log(p / (1 - p)), sympy.log(p) - sympy.log(1 - p),
                         domain).status == "pass"
    assert compare_sides(sympy.log(p / (1 - p)), sympy.log(p) + sympy.log(1 - p),
                         domain).status == "fail"


def test_points_where_a_side_is_complex_or_infinite_give_no_verdict() -> None:
    # log(x - 50) is complex on the whole default domain: no point is usable.
    verdict = compare_sides(sympy.log(x - 50) * 0 + 1 / (x - x), x, Domain())
    assert verdict.status == "unchecked"
    verdict = compare_sides(sympy.log(x - 50), sympy.log(x - 50) + 1, Domain())
    assert verdict.status == "unchecked"


def test_a_derivative_of_an_unknown_quantity_is_unchecked() -> None:
    J, v = sympy.symbols("J v")
    verdict = compare_sides(sympy.Integer(3),
                            sympy.Derivative(J, v) * sympy.Derivative(v, a), Domain())
    assert verdict.status == "unchecked"


def test_an_integral_without_bounds_is_over_the_domain_and_not_evaluated() -> None:
    # `\int e^{-a x^2} dx = \sqrt{\pi / a}` in a note means over all x: evaluated as an
    # antiderivative (sympy's reading) it would be a false alarm
    gaussian = sympy.exp(-a * x ** 2)
    verdict = compare_sides(sympy.Integral(gaussian, x), sympy.sqrt(sympy.pi / a),
                            parse_domain(["a > 0"]))
    assert verdict.status == "unchecked"
    assert "without bounds" in verdict.message
    # the same integral written two ways holds over any domain: a proof still passes it
    assert compare_sides(sympy.Integral(x * (y + 1), x), sympy.Integral(x * y + x, x),
                         Domain()).status == "pass"
    over_the_line = sympy.Integral(gaussian, (x, -sympy.oo, sympy.oo))
    assert compare_sides(over_the_line, sympy.sqrt(sympy.pi / a),
                         parse_domain(["a > 0"])).status == "pass"
    assert compare_sides(over_the_line, sympy.sqrt(sympy.pi / (2 * a)),
                         parse_domain(["a > 0"])).status == "fail"


def test_a_value_at_a_point_is_not_an_identity() -> None:
    # `g'(z) = 1` written under "z = 0": one side a number, the other varies.
    verdict = compare_sides(1 - sympy.tanh(z) ** 2, sympy.Integer(1), Domain())
    assert verdict.status == "unchecked"
    assert compare_sides(sympy.Rational(1, 2) * (1 - sympy.Rational(1, 2)),
                         sympy.Float(0.25), Domain()).status == "pass"


def test_sums_with_symbolic_bounds_are_sampled_with_whole_numbers() -> None:
    i, n = sympy.symbols("i n", integer=True)
    term = sympy.Indexed("a", i)
    split = sympy.Sum(term, (i, 1, n - 1)) + sympy.Indexed("a", n)
    assert compare_sides(sympy.Sum(term, (i, 1, n)), split, Domain()).status == "pass"
    assert compare_sides(sympy.Sum(term, (i, 1, n)), sympy.Sum(term, (i, 1, n - 1)),
                         Domain()).status == "fail"


def test_hyperbolic_functions_are_proved_through_exponentials() -> None:
    exponential = (sympy.exp(z) - sympy.exp(-z)) / (sympy.exp(z) + sympy.exp(-z))
    assert compare_sides(sympy.tanh(z), exponential, Domain()) \
        == compare_sides(sympy.tanh(z), exponential, Domain()) == StepVerdict("pass", "proved")
    assert compare_sides(2 * sympy.sin(x) * sympy.cos(x), sympy.sin(2 * x),
                         Domain()).message == "proved"
    assert compare_sides(sympy.tanh(z), -exponential, Domain()).status == "fail"


def test_sums_and_products_are_proved_term_by_term_and_a_wrong_one_still_fails() -> None:
    # The negative log-likelihood of a Gaussian, as seed 001 derives it.
    i, n = sympy.symbols("i n", integer=True)
    mu = sympy.Symbol("mu")
    u = sympy.Indexed("x", i) - mu
    c = 1 / sympy.sqrt(2 * sympy.pi)
    factor = c * sympy.exp(-u**2 / 2)
    chain = [-sympy.log(sympy.Product(factor, (i, 1, n))),
             -sympy.Sum(sympy.log(factor), (i, 1, n)),
             -sympy.Sum(sympy.log(c) - u**2 / 2, (i, 1, n)),
             -n * sympy.log(c) + sympy.Sum(u**2, (i, 1, n)) / 2]
    for left, right in itertools.pairwise(chain):
        assert compare_sides(left, right, Domain()) == StepVerdict("pass", "proved")
    wrong = -n * sympy.log(c) - sympy.Sum(u**2, (i, 1, n)) / 2  # the seed's sign slip
    assert compare_sides(chain[2], wrong, Domain()).status == "fail"
    # A constant summand is a product with the count; polynomial ones have closed forms.
    split = n * mu - sympy.Sum(sympy.Indexed("x", i), (i, 1, n))
    assert compare_sides(sympy.Sum(mu - sympy.Indexed("x", i), (i, 1, n)), split,
                         Domain()).message == "proved"
    assert compare_sides(sympy.Sum(mu + sympy.Indexed("x", i), (i, 1, n)), split,
                         Domain()).status == "fail"
    assert compare_sides(sympy.Sum(i, (i, 1, n)), n * (n + 1) / 2, Domain()).message \
        == "proved"
    # Few terms (numeric bounds) are written out: the mean of a Bernoulli variable.
    bernoulli = sympy.Sum(x * p**x * (1 - p) ** (1 - x), (x, 0, 1))
    assert compare_sides(bernoulli, p, parse_domain(["0 < p < 1"])).message == "proved"
    assert compare_sides(bernoulli, 1 - p, parse_domain(["0 < p < 1"])).status == "fail"


def test_a_proof_form_sympy_cannot_make_is_skipped_not_the_others(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import builder.check.compare

    i, n = sympy.symbols("i n", integer=True)
    total = sympy.Sum(sympy.Indexed("a", i), (i, 1, n))
    # Only cancel() proves this one; the sums' own form, tried before it, raises.
    lhs, rhs = total / (x + 1) + x * total / (x + 1), total

    def broken(expr: sympy.Expr, *, force_logs: bool) -> sympy.Expr:
        raise TypeError("sympy on odd input")

    # Patched where `compare_sides` looks it up.
    monkeypatch.setattr(builder.check.compare, "split_sums", broken)
    assert compare_sides(lhs, rhs, Domain()) == StepVerdict("pass", "proved")


def test_unknown_functions_pass_only_by_proof() -> None:
    f = sympy.Function("f")
    assert compare_sides(f(x) + 1, 1 + f(x), Domain()).status == "pass"
    assert compare_sides(f(x) * (x + 1), x * f(x) + f(x), Domain()) \
        == StepVerdict("pass", "proved")
    assert compare_sides(f(x) + 1, 2 + f(x), Domain()).status == "unchecked"
    # Bayes' rule holds for probabilities, not for any function p: no proof, no verdict.
    q = sympy.Function("p")
    bayes = compare_sides(q(z, x), q(z) * q(x, z) / q(x), Domain())
    assert bayes == StepVerdict("unchecked", "cannot evaluate the sides at points of the domain")
    assert compare_sides(f(x - y), sympy.Integer(0), Domain()) == bayes  # `det(λI - A) = 0`
    # No numbers anywhere is no reason to assume x > 0 in the proof.
    assert compare_sides(f(sympy.sqrt(x**2)), f(x), Domain()).status == "unchecked"


@pytest.mark.parametrize(("lhs", "rhs", "expected"), [
    (sympy.Symbol("y"), x + 1, "definition"),                      # y = …
    (sympy.Function("f")(x), x**2, "definition"),                  # f(x) = …
    (sympy.Symbol("H_out"), sympy.Symbol("H_in") + 1, "definition"),
    (x + 1, sympy.Symbol("y"), "definition"),                      # … = a
    (sympy.Symbol("q") + 1, x + 2, "substitution"),                # each side has its own
    (x + 1, x + 2, None),                                          # a claim
    (sympy.tanh(z), sympy.exp(z), None),                           # tanh is not a name
    (x, x + 0 * y + 1, None),                                      # x on both sides
])
def test_definitions_and_substitutions_are_not_claims(
        lhs: sympy.Expr, rhs: sympy.Expr, expected: str | None) -> None:
    assert is_claim(lhs, rhs) == expected


def test_assume_is_read_in_latex_or_python_names() -> None:
    domain = parse_domain(["0 < p < 1", "x > 0", "n \\in \\mathbb{N}", "\\sigma \\ge 2",
                           "H_{in} > 0", "\\hat{y} \\in (0, 1)", "a", "b < -1"])
    assert (domain.intervals["p"].low, domain.intervals["p"].high) == (0, 1)
    assert domain.intervals["x"].low == 0
    assert domain.intervals["n"].integer
    assert domain.intervals["sigma"].low == 2
    assert domain.intervals["H_in"].low == 0
    assert domain.intervals["y_hat"].high == 1
    assert domain.intervals["a"].high == -1  # `a, b < -1`


# ---------------------------------------------------------------- cache

def _card(path: Path, line: int, tex: str = "x = 1") -> Card:
    return Card(title="t", equations=(Equation(tex, SourceLoc(path, line + 1)),), checks=(),
                assume=(), nocheck=None, declarations=(), code=(), loc=SourceLoc(path, line),
                slide=0)


def test_the_cache_follows_a_card_that_moved(tmp_path: Path) -> None:
    cache = CheckCache(tmp_path / "cache")
    card = _card(tmp_path / "s.md", 10)
    key = cache.key(card, None)
    assert key is not None
    result = CardResult(card, "fail", "step 1: …",
                        (CheckResult("derivation", "fail", SourceLoc(card.loc.path, 12), "m"),))
    cache.put(key, result)
    moved = _card(tmp_path / "s.md", 20)
    assert cache.key(moved, None) == key  # an edit above a card does not re-check it
    again = cache.get(key, moved)
    assert again is not None
    assert (again.status, again.checks[0].loc.line) == ("fail", 22)
    assert cache.key(_card(tmp_path / "s.md", 10, "x = 2"), None) != key
    (tmp_path / "cache" / f"{key}.json").write_text("{broken")
    assert cache.get(key, card) is None


def test_the_code_key_is_every_module_of_the_package_found_by_walking_it(
        tmp_path: Path) -> None:
    from builder.resources import files_digest

    package = tmp_path / "builder"
    _write(package / "__init__.py", "")
    _write(package / "check" / "compare.py", "A = 1\n")
    _write(package / "check" / "__pycache__" / "compare.cpython-312.pyc", "bytecode")
    first = files_digest(package)
    assert files_digest(package) == first
    (package / "check" / "compare.py").rename(package / "check" / "comparing.py")
    renamed = files_digest(package)
    assert renamed != first  # a renamed module does not drop out of the key
    _write(package / "check" / "cache.py", "")
    added = files_digest(package)
    assert added not in (first, renamed)
    _write(package / "check" / "cache.py", "B = 2\n")
    edited = files_digest(package)
    assert edited != added
    _write(package / "check" / "__pycache__" / "cache.cpython-312.pyc", "other")
    assert files_digest(package) == edited  # bytecode is not the code
    # The standard library's entries are sheets: data that decides verdicts.
    _write(package / "library" / "entries" / "losses.md", "## MSE\n")
    with_entry = files_digest(package)
    assert with_entry != edited
    _write(package / "library" / "entries" / "losses.md", "## MSE, edited\n")
    assert files_digest(package) != with_entry


def test_the_code_key_changes_with_python_sympy_and_numpy(tmp_path: Path) -> None:
    from builder.check import code_key, library_versions
    from builder.resources import PACKAGE, files_digest

    versions = library_versions()
    assert set(versions) == {"python", "sympy", "numpy"}
    assert versions["sympy"] == sympy.__version__
    key = code_key("digest", versions)
    for name in versions:
        assert code_key("digest", {**versions, name: "0.0"}) != key, name
    assert code_key("other digest", versions) != key
    # The cache takes both parts by default: the package's modules, walked, and the
    # versions installed.
    card = _card(tmp_path / "s.md", 10)
    here = code_key(files_digest(PACKAGE), versions)
    assert CheckCache(tmp_path).key(card, None) == CheckCache(tmp_path, code=here).key(card, None)
    assert CheckCache(tmp_path, code="x").key(card, None) \
        != CheckCache(tmp_path, code="y").key(card, None)


# ---------------------------------------------------------------- the command

def _sheets(*args: str, cwd: Path, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    environment.pop("GITHUB_ACTIONS", None) if env is None else None
    return subprocess.run([sys.executable, "-m", "builder", "check", *args],
                          cwd=cwd, check=False,
                          capture_output=True, text=True, env=environment, timeout=120)


def _expectations(path: Path) -> dict[int, tuple[str, int | None]]:
    """Card heading line → (expected status, expected line of the failing step)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    expected: dict[int, tuple[str, int | None]] = {}
    heading = 0
    for number, text in enumerate(lines, start=1):
        if text.startswith("## "):
            heading = number
        match = re.fullmatch(r"<!-- expect: (pass|unchecked|fail at row (\d+)) -->", text)
        if match:
            if match.group(2) is None:
                expected[heading] = (match.group(1), None)
                continue
            opening = next(index for index in range(number, len(lines))
                           if lines[index].startswith("$$")) + 1
            expected[heading] = ("fail", opening + int(match.group(2)) - 1)
    return expected


def test_the_derivation_sheet_every_mistake_fails_at_its_line(tmp_path: Path) -> None:
    expected = _expectations(FIXTURE)
    assert sum(status == "fail" for status, _ in expected.values()) >= 15
    assert sum(status == "pass" for status, _ in expected.values()) >= 15
    run = _sheets(str(FIXTURE), "--json", "-", cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    document = json.loads(run.stdout)
    by_line = {card["line"]: card for card in document["cards"]}
    assert set(by_line) == set(expected)
    problems = []
    for line, (status, fail_line) in expected.items():
        card = by_line[line]
        if card["status"] != status:
            problems.append(f"{line} {card['title']}: {card['status']} (expected {status}): "
                            f"{card['message']}")
        elif fail_line is not None:
            failing = [check["line"] for check in card["checks"] if check["status"] == "fail"]
            if failing != [fail_line]:
                problems.append(f"{line} {card['title']}: failing lines {failing}, "
                                f"expected [{fail_line}]")
    assert not problems, "\n".join(problems)
    # The per-card lines and the summary went to stderr, at the failing step's line.
    for line, (status, fail_line) in expected.items():
        if status == "fail":
            assert f"{FIXTURE}:{fail_line}: {by_line[line]['title']}: step" in run.stderr
    counts = document["summary"]
    assert run.stderr.strip().splitlines()[-1] == (
        f"{counts['pass']} passed ({document['in_part']} in part), {counts['fail']} failed, "
        f"{counts['error']} errors, {counts['unchecked']} unchecked")


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """# Algebra

## Square
$$(a+b)^2 = a^2 + 2ab + b^2$$

## Skipped
<!-- nocheck: shown for its shape only -->
$$(a+b)^2 = a^2 + b^2$$
"""

BAD = GOOD + """
## Wrong square
$$(a+b)^2 =
a^2 + b^2$$
"""


def test_exit_codes_and_the_default_sheets(tmp_path: Path) -> None:
    _write(tmp_path / "sheets" / "good.md", GOOD)
    run = _sheets(cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "1 passed (0 in part), 0 failed, 0 errors, 1 unchecked"

    _write(tmp_path / "sheets" / "bad.md", BAD)
    run = _sheets(cwd=tmp_path)
    assert run.returncode == 1
    assert run.stdout.splitlines() == [
        "sheets/bad.md:12: Wrong square: step 1: (a+b)^2 ≠ a^2 + b^2 at "
        + run.stdout.split(" at ", 1)[1].splitlines()[0],
        "2 passed (0 in part), 1 failed, 0 errors, 2 unchecked",
    ]
    assert _sheets(str(tmp_path / "missing.md"), cwd=tmp_path).returncode == 2
    assert _sheets(cwd=tmp_path / "sheets").returncode == 2  # no sheets/*.md there


def test_every_failing_check_of_a_card_is_a_line_in_the_sheets_latex(tmp_path: Path) -> None:
    _write(tmp_path / "snippets" / "props.py", "def ok(card):\n    pass\n")
    _write(tmp_path / "notes.md", (
        "# Notes\n\n## tanh\n<!-- check: nomodule.f, props.ok -->\n"
        "$$ g(z) = \\tanh(z) = \\frac{e^{-z} - e^z}{e^{-z} + e^z} $$\n"
        "$$ (a+b)^2 = a^2 + b^2 $$\n"))
    run = _sheets("notes.md", cwd=tmp_path, env={"SHEETS_CACHE_DIR": str(tmp_path / "c")})
    assert run.returncode == 1
    lines = run.stdout.splitlines()
    assert len(lines) == 4, run.stdout
    tanh = re.fullmatch(r"notes\.md:5: tanh: step 2: \\tanh\(z\) ≠ "
                        r"\\frac\{e\^\{-z\} - e\^z\}\{e\^\{-z\} \+ e\^z\} "
                        r"at z=(-?[\d.]+) \((-?[\d.]+) vs (-?[\d.]+)\)", lines[0])
    assert tanh, lines[0]
    assert float(tanh.group(2)) == pytest.approx(float(sympy.tanh(float(tanh.group(1)))),
                                                 abs=1e-3)
    assert lines[1].startswith("notes.md:6: tanh: step 1: (a+b)^2 ≠ a^2 + b^2 at a=")
    assert lines[2].startswith("notes.md:3: tanh: nomodule.f: ")
    assert lines[3] == "0 passed (0 in part), 0 failed, 1 error, 0 unchecked"


def test_a_change_to_a_helper_module_a_snippet_imports_checks_the_card_again(
        tmp_path: Path) -> None:
    # Two snippet modules use one helper, which reads a constant from another module;
    # the worker loads the helper once, for the first snippet.
    _write(tmp_path / "snippets" / "constants.py", "FACTOR = 2\n")
    _write(tmp_path / "snippets" / "helper.py",
           "from constants import FACTOR\n\ndef expected(x):\n    return FACTOR * x\n")
    for name in ("first", "second"):
        _write(tmp_path / "snippets" / f"{name}.py",
               "import helper\n\ndef check(card):\n"
               "    assert card.eq(x=1.5) == helper.expected(1.5)\n")
    _write(tmp_path / "sheets" / "s.md",
           "# T\n\n## One\n<!-- check: first.check -->\n$$ y = 2x $$\n\n"
           "## Two\n<!-- check: second.check -->\n$$ y = 2x $$\n")
    env = {"SHEETS_CACHE_DIR": str(tmp_path / "cache")}

    def statuses() -> list[str]:
        run = _sheets("--json", "-", "sheets/s.md", cwd=tmp_path, env=env)
        return [card["status"] for card in json.loads(run.stdout)["cards"]]

    assert statuses() == ["pass", "pass"]
    assert len(list((tmp_path / "cache" / "check").glob("*.json"))) == 2
    assert statuses() == ["pass", "pass"]  # from the cache
    _write(tmp_path / "snippets" / "constants.py", "FACTOR = 3\n")
    assert statuses() == ["fail", "fail"]
    _write(tmp_path / "snippets" / "constants.py", "FACTOR = 2\n")
    _write(tmp_path / "snippets" / "helper.py", "def expected(x):\n    return x\n")
    assert statuses() == ["fail", "fail"]
    _write(tmp_path / "snippets" / "helper.py", "def expected(x):\n    return 2 * x\n")
    assert statuses() == ["pass", "pass"]


def test_an_equation_a_snippet_needs_that_does_not_compile_is_the_sheets_error(
        tmp_path: Path) -> None:
    _write(tmp_path / "snippets" / "la.py", "def uses(card):\n    y = card.eq(x=1.0)\n"
                                            "    assert y == 2\n")
    _write(tmp_path / "sheets" / "d.md", "# T\n\n## Half\n<!-- check: la.uses -->\n"
                                         "$$ y = \\frac{x}{2 $$\n")
    run = _sheets("sheets/d.md", cwd=tmp_path, env={"SHEETS_CACHE_DIR": str(tmp_path / "c")})
    assert run.returncode == 1
    assert run.stdout.splitlines()[0] == (
        "sheets/d.md:5: Half: la.uses: the equation does not compile: unbalanced braces "
        "(used by snippets/la.py:2)")


def test_coverage_lists_where_each_reason_happened(tmp_path: Path) -> None:
    _write(tmp_path / "notes.md", "# Notes\n\n## Roots\n"
           + "".join(f"$$ x_{n} = a \\pm {n} $$\n\n" for n in range(4))      # lines 4-10
           + "## Ok\n$$ (a+b)^2 = a^2 + 2ab + b^2 $$\n")
    env = {"SHEETS_CACHE_DIR": str(tmp_path / "c")}
    run = _sheets("--coverage", "notes.md", cwd=tmp_path, env=env)
    lines = run.stdout.splitlines()
    start = lines.index("coverage: 1 of 5 display equations compiled (20 %)")
    reason = lines[start + 1].split(None, 1)
    assert reason[0] == "4" and "±" in reason[1], lines
    assert [line.strip() for line in lines[start + 2:]] == [
        "notes.md:4", "notes.md:6", "notes.md:8", "… 1 more (--verbose lists all)"]
    run = _sheets("--coverage", "-v", "notes.md", cwd=tmp_path, env=env)
    assert run.stdout.splitlines()[-1].strip() == "notes.md:10"
    run = _sheets("--coverage", "--json", "-", "notes.md", cwd=tmp_path, env=env)
    document = json.loads(run.stdout)
    assert set(document) == {"cards", "summary", "in_part", "coverage"}
    assert document["coverage"]["total"] == 5 and document["coverage"]["compiled"] == 1
    (entry,) = document["coverage"]["reasons"]
    assert entry["count"] == 4
    assert entry["locations"] == [{"file": "notes.md", "line": line} for line in (4, 6, 8, 10)]
    # Without --coverage the document is docs/format.md §2's, unchanged.
    run = _sheets("--json", "-", "notes.md", cwd=tmp_path, env=env)
    assert set(json.loads(run.stdout)) == {"cards", "summary", "in_part"}


def test_check_help_describes_its_arguments(tmp_path: Path) -> None:
    run = _sheets("--help", cwd=tmp_path)
    assert run.returncode == 0
    text = " ".join(run.stdout.split())
    for words in ("SHEET Markdown sheets to check (default: sheets/*.md)",
                  "--json FILE|- also write every card's result as JSON",
                  "--snippets DIR the snippets directory",
                  "-v, --verbose list each step not checked under its card's line",
                  "with --coverage, every place"):
        assert words in text, text


def test_json_shape_to_a_file(tmp_path: Path) -> None:
    sheet = _write(tmp_path / "bad.md", BAD)
    run = _sheets(str(sheet), "--json", str(tmp_path / "out" / "r.json"), cwd=tmp_path)
    assert run.returncode == 1
    document = json.loads((tmp_path / "out" / "r.json").read_text())
    assert set(document) == {"cards", "summary", "in_part"}
    assert document["summary"] == {"pass": 1, "fail": 1, "error": 0, "unchecked": 1}
    cards = document["cards"]
    assert [(c["line"], c["title"], c["status"]) for c in cards] == [
        (3, "Square", "pass"), (6, "Skipped", "unchecked"), (10, "Wrong square", "fail")]
    for card in cards:
        assert set(card) == {"file", "line", "title", "status", "message", "checked", "steps",
                             "checks"}
        assert card["file"] == str(sheet)
        for check in card["checks"]:
            assert set(check) == {"kind", "status", "line", "message"}
            assert check["kind"] == "derivation"
    assert cards[1]["message"] == "nocheck: shown for its shape only"
    assert cards[2]["checks"][0]["line"] == 12  # the right-hand side's line
    assert "summary" not in run.stdout or "failed" in run.stdout


def test_github_annotations(tmp_path: Path) -> None:
    sheet = _write(tmp_path / "bad.md", BAD)
    run = _sheets(str(sheet), cwd=tmp_path, env={"GITHUB_ACTIONS": "true"})
    annotations = [line for line in run.stdout.splitlines() if line.startswith("::error")]
    assert len(annotations) == 1
    assert annotations[0].startswith(f"::error file={sheet},line=12,title=Wrong square::step 1:")


def test_a_warm_cache_gives_the_same_results(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()  # a notes repository: its cache is at its root
    sheet = _write(tmp_path / "bad.md", BAD)
    cold = _sheets(str(sheet), "--json", "-", cwd=tmp_path)
    assert list((tmp_path / ".cache" / "check").glob("*.json"))
    warm = _sheets(str(sheet), "--json", "-", cwd=tmp_path)
    assert cold.stdout == warm.stdout and cold.returncode == warm.returncode == 1
    # Lines above the cards move them; the cached results move with them.
    sheet.write_text("\n\n" + BAD, encoding="utf-8")
    moved = json.loads(_sheets(str(sheet), "--json", "-", cwd=tmp_path).stdout)
    assert moved["cards"][2]["checks"][0]["line"] == 14


# ---------------------------------------------------------------- cards, checked directly

def _card_of(*texs: str, nocheck: str | None = None, checks: tuple[str, ...] = (),
             assume: tuple[str, ...] = ()) -> Card:
    path = Path("s.md")
    equations = tuple(Equation(tex, SourceLoc(path, 10 * (index + 1)))
                      for index, tex in enumerate(texs))
    return Card(title="T", equations=equations, checks=checks, assume=assume,
                nocheck=nocheck, declarations=(), code=(), loc=SourceLoc(path, 5), slide=0)


def test_a_chain_claims_each_step_and_fails_at_the_wrong_rows_line() -> None:
    from builder.check import check_cards

    # y = … is a definition; (x+1)^2 = x^2+2x+1 holds; the last row is wrong.
    card = _card_of("y = (x+1)^2 = x^2+2x+1\n= x^2+1")
    (result,) = check_cards([card], snippets_dir=None, timeout=1)
    assert [(c.status, c.loc.line) for c in result.checks] == [("pass", 10), ("fail", 11)]
    assert result.status == "fail"
    assert result.loc.line == 11
    # The sides as the sheet writes them.
    assert result.message.startswith("step 3: x^2+2x+1 ≠ x^2+1 at x=")


def test_card_status_is_the_worst_check_or_unchecked_with_a_reason(tmp_path: Path) -> None:
    from builder.check import check_cards

    definitions = _card_of("y = x + 1", "f(x) = x^2")
    unreadable = _card_of("x^2 = x \\cdot", "z = 2")
    skipped = _card_of("x = x + 1", nocheck="a loose statement")
    snippet = _card_of("x + 1 = 1 + x", checks=("mod.fn",))
    results = check_cards([definitions, unreadable, skipped, snippet], snippets_dir=None,
                          timeout=1)
    assert [r.status for r in results] == ["unchecked", "unchecked", "unchecked", "error"]
    assert results[0].message == "nothing to check (definitions only)"
    assert results[1].message == "line 10: incomplete formula"
    assert results[2].message == "nocheck: a loose statement"
    assert results[3].checks[0].status == "pass"  # the step passed, the snippet could not run
    assert "no snippets/ directory" in results[3].message


def test_snippets_are_found_like_conftest_and_their_failures_fail_the_card(
        tmp_path: Path) -> None:
    _write(tmp_path / "notes" / "snippets" / "props.py", (
        "def ok(card):\n"
        "    assert card.title == 'Linked'\n"
        "\n"
        "def wrong(card):\n"
        "    assert 1 + 1 == 3, 'arithmetic is off'\n"))
    sheet = _write(tmp_path / "notes" / "deep" / "s.md", (
        "## Linked\n"
        "<!-- check: props.ok -->\n"
        "<!-- nocheck: only the snippet matters -->\n"
        "$$x = 1$$\n"
        "\n"
        "## Linked too\n"
        "<!-- check: props.wrong -->\n"
        "$$y = 2$$\n"))
    run = _sheets(str(sheet), "--json", "-", cwd=tmp_path)
    document = json.loads(run.stdout)
    statuses = [(card["title"], card["status"]) for card in document["cards"]]
    # nocheck skips everything in its card, snippets included.
    assert statuses == [("Linked", "unchecked"), ("Linked too", "fail")], run.stderr
    assert "arithmetic is off" in document["cards"][1]["message"]
    assert run.returncode == 1
    assert f"{sheet}:6: Linked too: " in run.stderr


# ---------------------------------------------------------------- in parallel



def _deck(paths: list[Path]) -> list[tuple[Path | None, list[Card]]]:
    """The cards of `paths`, grouped by their snippets/ as `sheets check` groups them."""
    from builder.cards import find_cards
    from builder.check import find_snippets_dir
    from builder.marp import parse_file

    groups: dict[Path | None, list[Card]] = {}
    for path in paths:
        groups.setdefault(find_snippets_dir(path), []).extend(find_cards(parse_file(path)))
    return list(groups.items())


def _comparable(results: tuple[CardResult, ...]) -> str:
    """The `--json` document, except how a passing step passed: `proved` or `equal at 6
    points` depends on whether a time-bounded proof finished, which is the machine's
    load, serially as in parallel."""
    from builder.check import results_json

    document = results_json(results)
    for card in document["cards"]:
        for check in card["checks"]:
            if check["status"] == "pass":
                check["message"] = check["message"].split(":")[0]
        if card["status"] == "pass":
            card["message"] = ""
    return json.dumps(document, ensure_ascii=False, indent=1)


def test_parallel_checking_gives_the_serial_results_for_the_seeds_and_sheets() -> None:
    from builder.check import check_cards

    paths = SEED_FILES + sorted((ROOT / "sheets").glob("*.md"))
    assert len(SEED_FILES) == 5 and len(paths) >= 6
    statuses = set()
    for snippets_dir, cards in _deck(paths):
        serial = check_cards(cards, snippets_dir=snippets_dir, timeout=60, processes=1)
        parallel = check_cards(cards, snippets_dir=snippets_dir, timeout=60, processes=2)
        assert [result.card for result in parallel] == list(cards)
        assert _comparable(parallel) == _comparable(serial)
        statuses |= {result.status for result in serial}
    assert statuses == {"pass", "fail", "unchecked"}


def test_a_child_that_dies_or_raises_costs_its_card_not_the_run(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import signal

    import builder.check.plan
    from builder.check import Step, check_cards, derivation_plan

    [(_, cards)] = _deck([FIXTURE])
    serial = check_cards(cards, snippets_dir=None, timeout=60, processes=1)
    steps = [(index, item) for index, card in enumerate(cards)
             if card.nocheck is None
             for item in derivation_plan(card) if isinstance(item, Step)]
    killed, raising = steps[0], steps[-1]
    assert killed[0] != raising[0]

    def fragile(lhs: sympy.Expr, rhs: sympy.Expr, domain: Domain, *, seed: int = 0
                ) -> StepVerdict:
        if seed == killed[1].seed:
            os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer would
        if seed == raising[1].seed:
            raise RuntimeError("a bug in a step")
        return compare_sides(lhs, rhs, domain, seed=seed)

    # Patched where a step looks it up (`Step.verdict`), before the children fork.
    monkeypatch.setattr(builder.check.plan, "compare_sides", fragile)
    parallel = check_cards(cards, snippets_dir=None, timeout=60, processes=2)
    assert len(parallel) == len(cards)
    dead = parallel[killed[0]]
    assert dead.status == "error"
    assert "not checked: the process checking this card ended (signal 9)" in dead.message
    assert dead.loc == killed[1].loc
    broken = parallel[raising[0]]
    assert broken.status == "unchecked"
    assert broken.message == "internal error while checking: RuntimeError: a bug in a step"
    others = [index for index in range(len(cards)) if index not in (killed[0], raising[0])]
    assert _comparable(tuple(parallel[i] for i in others)) \
        == _comparable(tuple(serial[i] for i in others))


def test_a_child_that_dies_compiling_a_card_costs_that_card(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import signal

    import builder.check.parallel
    from builder.check import Skipped, Step, check_cards, derivation_plan

    [(_, cards)] = _deck([FIXTURE])
    serial = check_cards(cards, snippets_dir=None, timeout=60, processes=1)
    victim = next(index for index, card in enumerate(cards)
                  if card.nocheck is None and card.equations and index > 0)
    parent = os.getpid()

    def fragile(card: Card) -> list[Step | Skipped]:
        if card is cards[victim] and os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return derivation_plan(card)

    # Patched where a child looks it up, before the children fork.
    monkeypatch.setattr(builder.check.parallel, "derivation_plan", fragile)
    parallel = check_cards(cards, snippets_dir=None, timeout=60, processes=2)
    dead = parallel[victim]
    assert (dead.status, dead.loc) == ("error", cards[victim].loc)
    assert dead.message == "not checked: the process checking this card ended (signal 9)"
    others = [index for index in range(len(cards)) if index != victim]
    assert _comparable(tuple(parallel[i] for i in others)) \
        == _comparable(tuple(serial[i] for i in others))


def test_few_cards_are_checked_without_forking(monkeypatch: pytest.MonkeyPatch) -> None:
    from builder.check import PARALLEL_CARDS, check_cards

    [(_, cards)] = _deck([FIXTURE])

    def no_fork() -> int:
        raise AssertionError("forked for a few cards")

    monkeypatch.setattr(os, "fork", no_fork)
    few = cards[:PARALLEL_CARDS - 1]
    results = check_cards(few, snippets_dir=None, timeout=60, processes=2)
    assert [result.card for result in results] == few
    assert any(result.status == "fail" for result in results)


def test_check_prints_the_parsers_warnings_before_the_summary(tmp_path: Path) -> None:
    sheet = tmp_path / "unclosed.md"
    sheet.write_text("---\nmarp: true\n---\n\n# Card\n\n$$\nx = 1\n\nText after.\n",
                     encoding="utf-8")
    run = _sheets(str(sheet), cwd=tmp_path)
    assert run.returncode == 0, run.stderr  # a warning, not a failed card
    first, unchecked, summary = run.stdout.splitlines()
    assert first.startswith(f"{sheet}:7: ") and "never closed" in first
    # the math that ran on into the text: a card that could not be checked, said so
    assert unchecked == f"{sheet}:8: unchecked: Card: step 1: text in formula (Text)"
    assert summary == "0 passed (0 in part), 0 failed, 0 errors, 1 unchecked"
