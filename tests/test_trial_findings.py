"""Issue 16: what a new user's trial found (a missed mistake, unreadable reports), and
steps that hold under a constraint the note states (a one-hot label): each through the
checker as `sheets check` runs it, on small cards and sheets the tests write."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from builder.check import check_card, coverage, coverage_report, parse_domain
from builder.formula import name_evidence
from builder.model import Card, CardResult, Equation, SourceLoc

ROOT = Path(__file__).resolve().parent.parent


def _card(*tex: str, assume: tuple[str, ...] = ()) -> Card:
    path = Path("trial.md")
    return Card(title="t", equations=tuple(Equation(text, SourceLoc(path, 3 + 4 * number))
                                           for number, text in enumerate(tex)),
                checks=(), assume=assume, nocheck=None, declarations=(), code=(),
                loc=SourceLoc(path, 1), slide=0)


def _check(*tex: str, assume: tuple[str, ...] = ()) -> CardResult:
    return check_card(_card(*tex, assume=assume), snippets_dir=None, timeout=5)


def _sheets(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT),
                   "SHEETS_CACHE_DIR": str(cwd / "cache")}
    environment.pop("GITHUB_ACTIONS", None)
    return subprocess.run([sys.executable, "-m", "builder", "check", *args], cwd=cwd,
                          check=False, capture_output=True, text=True, env=environment,
                          timeout=120)


# ---------------------------------------------------------------- σ(…) used, not defined

def test_a_row_that_applies_sigma_to_an_expression_does_not_define_it() -> None:
    assert name_evidence(r"\sigma(-x) = \frac{1}{1+e^{x}}").defined == frozenset()
    assert name_evidence(r"f(2) = 4").defined == frozenset()
    # a definition names its variables: those stay definitions
    assert name_evidence(r"\sigma(x) = \frac{1}{1+e^{-x}}").defined == {"sigma"}
    assert name_evidence(r"f(x_{t-1}, y) = 0").defined == {"f"}


def test_the_wrong_last_step_after_sigma_of_minus_x_fails() -> None:
    result = _check(r"\sigma(-x) = \frac{1}{1+e^{x}} = 1 + \sigma(x)")
    assert result.status == "fail", result.checks
    assert [check.status for check in result.checks] == ["pass", "fail"]
    assert result.checks[1].message.startswith(r"step 2: \frac{1}{1+e^{x}} ≠ 1 + \sigma(x)")
    # reversed, it was always caught; and the right identity passes
    assert _check(r"1 + \sigma(x) = \frac{1}{1+e^{x}} = \sigma(-x)").status == "fail"
    assert _check(r"\sigma(-x) = \frac{1}{1+e^{x}} = 1 - \sigma(x)").status == "pass"


# ---------------------------------------------------------------- constraints

ONE_HOT_STEP = (r"\sum_j y_j \log \sum_k \exp(o_k) - \sum_j y_j o_j"
                r" = \log \sum_k \exp(o_k) - \sum_j y_j o_j")


def test_a_step_true_for_a_one_hot_label_is_unchecked_with_the_declaration_to_write() -> None:
    result = _check(ONE_HOT_STEP)
    assert result.status == "unchecked"
    assert ("holds if Σ_j y_j = 1 (a one-hot or probability vector): declare it with "
            r"`<!-- assume: \sum_j y_j = 1 -->`") in result.checks[0].message


def test_assume_sums_to_one_samples_on_the_simplex_and_the_step_passes() -> None:
    assert _check(ONE_HOT_STEP, assume=(r"\sum_j y_j = 1",)).status == "pass"
    assert _check(ONE_HOT_STEP, assume=("y one-hot",)).status == "pass"
    # under the constraint a wrong step still fails, and the label is named with its
    # entries (which add up to 1)
    wrong = _check(r"\sum_j y_j o_j = \sum_j o_j", assume=(r"\sum_j y_j = 1",))
    assert wrong.status == "fail", wrong.checks
    entries = re.search(r"y=\[([^\]]*)\]", wrong.checks[0].message)
    assert entries is not None, wrong.checks[0].message
    assert abs(sum(float(value) for value in entries.group(1).split(", ")) - 1) < 0.02
    one_hot = _check(r"\sum_j y_j o_j = \sum_j o_j", assume=("y one-hot",))
    assert one_hot.status == "fail"
    found = re.search(r"y=\[([^\]]*)\]", one_hot.checks[0].message)
    assert found is not None and sorted(set(found.group(1).split(", "))) in (["0", "1"], ["1"])


def test_assume_reads_constraints_by_the_vectors_python_name() -> None:
    assert parse_domain([r"\sum_{k=1}^K \pi_k = 1"]).simplex == {"pi"}
    assert parse_domain([r"\sum_j \hat{y}_j = 1"]).simplex == {"y_hat"}
    assert parse_domain([r"\mathbf{t} \text{ one-hot}"]).one_hot == {"t"}
    assert parse_domain([r"\sum_j x_j + 1 = 1"]).simplex == frozenset()


# ---------------------------------------------------------------- a sum that ignores its index

def test_a_sum_whose_body_does_not_use_its_index_is_a_likely_mistake_at_its_line() -> None:
    result = _check(r"y_k = \frac{\exp(a_k)}{\sum_i \exp(a_k)}")
    assert result.status == "unchecked"
    assert [(check.loc.line, check.message) for check in result.checks] == [
        (3, r"equation: likely mistake: the sum over i does not use i "
            r"(in \frac{\exp(a_k)}{\sum_i \exp(a_k)})")]
    # a sum with its bounds given may add up a constant; the right softmax is no mistake
    assert _check(r"\sum_{i=1}^{n} c = n c").status == "pass"
    assert _check(r"y_k = \frac{\exp(a_k)}{\sum_i \exp(a_i)}").checks == ()


# ---------------------------------------------------------------- counterexamples

def test_a_counterexample_shows_indices_as_whole_numbers_and_the_arrays() -> None:
    result = _check(r"\frac{\exp(a_k)}{\sum_{i=1}^{n} \exp(a_i)}"
                    r" = \frac{\exp(a_k)}{\sum_{i=1}^{n} \exp(a_k)}")
    assert result.status == "fail"
    message = result.checks[0].message
    where = re.search(r" at (.*) \(", message)
    assert where is not None, message
    values = where.group(1)
    assert re.search(r"\bk=\d+(,|$)", values), values  # an index, a whole number
    assert re.search(r"\bn=\d+(,|$)", values), values
    assert re.search(r"\ba(=\[|_\d+=)", values), values  # the array the sides used
    assert "#" not in values


def test_a_sum_without_bounds_shows_how_far_its_index_ran() -> None:
    result = _check(r"\sum_i a_i k = \sum_i a_i + k")
    message = result.checks[0].message
    assert re.search(r" at i=1\.\.(\d), k=[-\d.]+, a=\[([-\d.]+, ){0,9}[-\d.]+\] \(", message), \
        message


# ---------------------------------------------------------------- the text report

def test_the_report_says_which_cards_could_not_be_checked(tmp_path: Path) -> None:
    sheet = tmp_path / "trial.md"
    sheet.write_text("# Macro\n\n$$\n\\foo{x} = x\n$$\n\n"
                     "# Syntax\n\n$$\n\\frac{1}{2 x^2 = x\n$$\n\n"
                     "# Definition\n\n$$\ny = 2x\n$$\n\n"
                     "# Skipped\n\n<!-- nocheck: later -->\n\n$$\nx = 2\n$$\n",
                     encoding="utf-8")
    run = _sheets("trial.md", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        r"trial.md:4: unchecked: Macro: step 1: unknown macro \foo",
        "trial.md:10: unchecked: Syntax: LaTeX error: unbalanced braces",
        "0 passed (0 in part), 0 failed, 0 errors, 4 unchecked"]
    quiet = _sheets("-q", "trial.md", cwd=tmp_path)
    assert quiet.stdout.splitlines() == [
        "trial.md:10: unchecked: Syntax: LaTeX error: unbalanced braces",
        "0 passed (0 in part), 0 failed, 0 errors, 4 unchecked"]
    # -v says which the other two are: they check nothing by design.
    verbose = _sheets("-v", "trial.md", cwd=tmp_path)
    assert verbose.stdout.splitlines() == [
        r"trial.md:4: unchecked: Macro: step 1: unknown macro \foo",
        "trial.md:10: unchecked: Syntax: LaTeX error: unbalanced braces",
        "trial.md:13: unchecked: Definition: nothing to check (definitions only)",
        "trial.md:19: unchecked: Skipped: nocheck: later",
        "0 passed (0 in part), 0 failed, 0 errors, 4 unchecked"]


def test_coverage_is_not_100_percent_when_a_step_could_not_be_evaluated() -> None:
    card = _card(r"x = 2", ONE_HOT_STEP)
    result = check_card(card, snippets_dir=None, timeout=5)
    found = coverage([card], [result])
    assert (found.total, found.compiled, found.evaluated) == (2, 2, 1)
    report = coverage_report(found)
    assert "100 %" not in report
    assert report.splitlines()[0] == ("coverage: 2 of 2 display equations compiled, 1 of "
                                      "them with every step evaluated (50 %)")
    assert found.to_json()["unevaluated"][0]["locations"] == [{"file": "trial.md", "line": 7}]


def test_a_capital_sigma_with_a_subscript_is_no_sum_to_warn_about() -> None:
    # GabrieleLozupone/DiffusionModels-Theory2Code 02-ddim.md:105: a covariance
    result = _check(r"p(y) = \mathcal{N}(y | A\mu_x + b, \Sigma_y + A\Sigma_x A^T)")
    assert not any("likely mistake" in check.message for check in result.checks)


def test_an_index_written_in_a_name_the_compiler_reads_whole_is_a_use() -> None:
    # fumishiki/zenn articles/ml-lecture-03-part1.md:1095: \partial \hat{x}_j uses j
    result = _check(r"g_i = \frac{1}{d}\sum_j \frac{\partial \mathcal{L}}{\partial \hat{x}_j}")
    assert not any("likely mistake" in check.message for check in result.checks)
    # fyap898/w25 03-training-models.md:82: the sums over m add up x_i: a slip
    result = _check(r"\theta_1 = \frac{\mu_y \sum_{m}x_i - \sum_m x_i y_i}"
                    r"{\mu_x\sum_m x_i - \sum_m x_i^2}")
    assert any("likely mistake: the sum over m does not use m" in check.message
               for check in result.checks), result.checks


def test_an_annotation_without_its_colon_or_with_a_misspelt_kind_is_said(
        tmp_path: Path) -> None:
    """A second new-user trial: `assume x > 0` (no colon) was ignored without a word, and
    the card failed; `let: D scalr` too. A note that merely starts with the word is not
    taken for one."""
    sheet = tmp_path / "trial.md"
    sheet.write_text("# Root\n<!-- assume x > 0 -->\n\n$$\n\\sqrt{x^2} = x\n$$\n\n"
                     "# Size\n<!-- let: D scalr -->\n\n$$\nO = a + D (F - 1)\n$$\n\n"
                     "# Later\n<!-- check this later -->\n\n$$\ny = 2x\n$$\n\n"
                     "# Two links\n<!-- check: std.sigmoid std.tanh -->\n\n$$\n"
                     "y = \\frac{1}{1 + e^{-x}}\n$$\n", encoding="utf-8")
    run = _sheets("trial.md", cwd=tmp_path)
    warnings = [line for line in run.stdout.splitlines() if ": warning: " in line]
    assert warnings == [
        "trial.md:2: warning: `assume …` is not an annotation (no colon), ignored; did you "
        "mean `assume: …`?",
        "trial.md:9: warning: let: `D scalr` is ignored: `scalr` is not a kind (function, "
        "scalar, vector, matrix or index); did you mean `scalar`?"], run.stdout
    assert "trial.md:22: Two links: std.sigmoid std.tanh: one link per name, separated by " \
        "commas (`check: std.sigmoid, std.tanh`)" in run.stdout


def test_a_title_that_names_a_standard_formula_not_found_says_so(tmp_path: Path) -> None:
    """Third new-user finding: `## 割引報酬和` over a wrong discounted return was
    'nothing to check (definitions only)' and silent; the title names a standard
    formula the card does not have. A title that merely contains such a name (joint
    entropy, mixed precision) does not name it."""
    sheet = tmp_path / "trial.md"
    sheet.write_text("# 割引報酬和\n\n$$\nG_t = r_{t+1} + \\gamma r_{t+2} + \\gamma r_{t+3}\n$$\n\n"
                     "# Mixed Precision Training\n\n$$\ns = 2^{k} m\n$$\n", encoding="utf-8")
    run = _sheets("trial.md", cwd=tmp_path)
    assert run.stdout.splitlines() == [
        "trial.md:1: unchecked: 割引報酬和: the title names the standard discounted return "
        "(three steps) (std.discounted_return), and no formula here is it or one of its "
        "typical mistakes: link it (`check: std.discounted_return`) to have the card held "
        "to it",
        "0 passed (0 in part), 0 failed, 0 errors, 2 unchecked"]


def test_right_formulas_a_precision_trial_saw_failed_are_not(tmp_path: Path) -> None:
    """A precision trial's false alarms: a linked card written in another right form, a
    momentum card that states the parameter update beside the velocity, and an update
    written with `=` as code writes it. The wrong ones beside them still fail."""
    sheet = tmp_path / "trial.md"
    sheet.write_text(
        "# Sigmoid derivative\n<!-- check: std.sigmoid_derivative -->\n\n$$\n"
        "\\sigma'(x) = \\sigma(x)(1 - \\sigma(x))\n$$\n\n"
        "# Momentum (moving average)\n\n$$\nv_t = \\beta v_{t-1} + (1 - \\beta) g_t, "
        "\\quad \\theta_t = \\theta_{t-1} - \\eta v_t\n$$\n\n"
        "# Momentum in place\n\n$$\nW = W - \\alpha v\n$$\n\n"
        "# KL divergence\n\n$$\nD(p \\| q) = \\sum_x p_x \\log \\frac{p_x}{q_x}, \\quad "
        "D(p \\| q) = \\sum_x p_x \\log \\frac{q_x}{p_x}\n$$\n", encoding="utf-8")
    run = _sheets("trial.md", cwd=tmp_path)
    fails = [line for line in run.stdout.splitlines()
             if ": " in line and "unchecked" not in line and "passed (" not in line
             and ": pass (" not in line]
    assert len(fails) == 1 and fails[0].startswith("trial.md:23: KL divergence: not the "
                                                   "standard Kullback-Leibler"), run.stdout
    assert "trial.md:17: unchecked: Momentum in place: step 1: an update written with `=` " \
        "(W on both sides)" in run.stdout


def test_a_formula_with_two_roles_exchanged_is_no_renaming_of_the_standard(
        tmp_path: Path) -> None:
    """A precision trial's false passes: each wrong card below passed as its entry's
    formula under a renaming that exchanged two roles the names fix (Adam's β₁ and β₂,
    m̂ and v̂ at a time step, the Gaussian's μ and σ), or that read the divergence's
    arguments the other way round. Each now fails, saying what was exchanged; the right
    card beside it, in the same notation, still passes."""
    cards = {
        "Adam の1次モーメント": (r"m_t = \beta_2 m_{t-1} + (1 - \beta_2) g_t",
                                r"m_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t",
                                r"\beta_2 where the standard has \beta_1"),
        "Adam の2次モーメント": (r"v_t = \beta_1 v_{t-1} + (1 - \beta_1) g_t^2",
                                r"v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2",
                                r"\beta_1 where the standard has \beta_2"),
        "Adam のパラメータ更新": (
            r"\theta_{t+1} = \theta_t - \eta \frac{\hat{v}_t}{\sqrt{\hat{m}_t} + \epsilon}",
            r"\theta_{t+1} = \theta_t - \eta \frac{\hat{m}_t}{\sqrt{\hat{v}_t} + \epsilon}",
            r"\hat{m}_t and \hat{v}_t swapped"),
        "正規分布": (
            r"f(x) = \frac{1}{\sqrt{2\pi\mu^2}} \exp\left(-\frac{(x-\sigma)^2}{2\mu^2}\right)",
            r"f(x) = \frac{1}{\sqrt{2\pi\sigma^2}} \exp\left(-\frac{(x-\mu)^2}{2\sigma^2}\right)",
            r"\mu and \sigma swapped"),
        "KL ダイバージェンス": (r"D_{KL}(P \| Q) = \sum_x Q(x) \log \frac{Q(x)}{P(x)}",
                              r"D_{KL}(Q \| P) = \sum_x Q(x) \log \frac{Q(x)}{P(x)}",
                              "P and Q swapped"),
        "交差エントロピー": (r"H(p, q) = -\sum_x q(x) \log p(x)",
                           r"H(p, q) = -\sum_x p(x) \log q(x)", "p and q swapped"),
    }
    sheet = tmp_path / "trial.md"
    sheet.write_text("".join(f"# {title}\n\n$$\n{wrong}\n$$\n\n# {title}（正）\n\n$$\n{right}"
                             f"\n$$\n\n" for title, (wrong, right, _) in cards.items()),
                     encoding="utf-8")
    run = _sheets("trial.md", "-v", cwd=tmp_path)
    verdicts = {match[1]: match[2] for match in re.finditer(
        r"^trial\.md:\d+: ([^:\n]+): (.*)$", run.stdout, re.MULTILINE)}
    for title, (_, _, what) in cards.items():
        assert verdicts[title].startswith("not the standard"), (title, verdicts[title])
        assert f"): {what}. The standard is" in verdicts[title], verdicts[title]
        assert verdicts[f"{title}（正）"].startswith("matches the standard"), title
    assert run.stdout.endswith(f"{len(cards)} passed (0 in part), {len(cards)} failed, "
                               "0 errors, 0 unchecked\n"), run.stdout


def test_the_lstm_gates_at_a_time_step_are_held_to_their_names(tmp_path: Path) -> None:
    """`f_t` and `i_t` exchanged passed as the LSTM cell renamed (the gates written at a
    time step were names of their own); the entry makes no mistakes of its form, so the
    card is unchecked, not a pass."""
    sheet = tmp_path / "trial.md"
    sheet.write_text(
        "# LSTM のセル\n\n$$\nc_t = f_t \\odot c_{t-1} + i_t \\odot \\tilde{c}_t\n$$\n\n"
        "# LSTM のセル（誤）\n\n$$\nc_t = i_t \\odot c_{t-1} + f_t \\odot \\tilde{c}_t\n$$\n",
        encoding="utf-8")
    run = _sheets("trial.md", "-v", cwd=tmp_path)
    assert "trial.md:4: LSTM のセル: matches the standard LSTM cell update" in run.stdout
    assert "LSTM のセル（誤）: matches" not in run.stdout, run.stdout
    assert run.stdout.endswith("1 passed (0 in part), 0 failed, 0 errors, 1 unchecked\n")


def test_a_recurrence_defines_its_step_and_an_update_is_no_other_formula(
        tmp_path: Path) -> None:
    """Noise a precision trial reported: a moving average written at a time step read as
    a substitution ("step 1: substitution, not checked"), and an update written with `=`
    was called a near miss of label smoothing (v for its K). A recurrence defines its
    step; an update is only ever compared with formulas that update the same quantity.
    A claim about the whole sequence is still a claim."""
    sheet = tmp_path / "trial.md"
    sheet.write_text(
        "# Moving average\n\n$$\nm_t = \\beta m_{t-1} + (1 - \\beta) g_t\n$$\n\n"
        "# Backward\n\n$$\n\\delta_t = W^T \\delta_{t+1} \\odot f'(a_t)\n$$\n\n"
        "# In place\n\n$$\nv = \\beta v + (1 - \\beta) g^2\n$$\n\n"
        "# A sum\n\n$$\nS_n = S_{n-1} + n = \\frac{n(n+1)}{2} + S_{n-1} - \\frac{n(n-1)}{2}\n$$\n",
        encoding="utf-8")
    run = _sheets("trial.md", "-v", cwd=tmp_path)
    assert "trial.md:1: unchecked: Moving average: nothing to check (definitions only)" \
        in run.stdout, run.stdout
    assert "trial.md:7: unchecked: Backward: nothing to check (definitions only)" \
        in run.stdout, run.stdout
    assert "substitution" not in run.stdout and "near miss" not in run.stdout, run.stdout
    assert "trial.md:16: unchecked: In place: step 1: an update written with `=`" \
        in run.stdout
    # the steps after the recurrence's first `=` are still compared
    assert run.stdout.endswith("1 passed (0 in part), 0 failed, 0 errors, 3 unchecked\n"), \
        run.stdout


def test_titles_name_an_entry_by_its_words_and_a_family_name_is_no_renaming(
        tmp_path: Path) -> None:
    """A second new-user trial: `# Adam first moment` named nothing (the titles were
    matched with their spaces taken out, and `adamfirstmoment` hid the word Adam), so a
    β₂ there was unchecked; `# Adam update (m v swapped)` then passed as AdaGrad's update;
    the LSTM cell passed with the output gate `o_t` for its input gate; `# Normal density`
    named no entry. `Adam-like` still names nothing: something like Adam is not Adam."""
    sheet = tmp_path / "trial.md"
    cards = [("Adam first moment", r"m_t = \beta_2 m_{t-1} + (1 - \beta_2) g_t"),
             ("Adam update (m v swapped)",
              r"\theta_t = \theta_{t-1} - \eta \frac{\hat{v}_t}{\sqrt{\hat{m}_t} + \epsilon}"),
             ("LSTM cell (o gate)", r"c_t = f_t \odot c_{t-1} + o_t \odot \tilde{c}_t"),
             ("Normal density", r"f(x) = \frac{1}{\sqrt{2\pi\sigma^2}} "
                                r"\exp\left(\frac{(x-\mu)^2}{2\sigma^2}\right)"),
             ("Adam-like", r"w = v - \alpha \frac{m}{u + \epsilon}")]
    sheet.write_text("".join(f"# {title}\n\n$$\n{tex}\n$$\n\nSome words.\n\n"
                             for title, tex in cards), encoding="utf-8")
    run = _sheets("trial.md", "-v", cwd=tmp_path)
    lines = run.stdout.splitlines()

    def said(title: str) -> str:
        return next(line for line in lines if f": {title}: " in line)

    assert r"\beta_2 where the standard has \beta_1" in said("Adam first moment")
    assert r"not the standard Adam's parameter update (Adam のパラメータ更新): " \
        r"\hat{m}_{t} and \hat{v}_{t} swapped" in said("Adam update (m v swapped)")
    assert "unchecked" in said("LSTM cell (o gate)")
    assert "not the standard normal (Gaussian) density" in said("Normal density")
    assert "near miss" in said("Adam-like") and ": warning: " in said("Adam-like")
    assert run.stdout.endswith("0 passed (0 in part), 3 failed, 0 errors, 2 unchecked\n"), \
        run.stdout


def test_of_the_mistakes_a_card_could_be_the_one_that_keeps_its_names_is_said(
        tmp_path: Path) -> None:
    """A second new-user trial: `v \\leftarrow v - \\eta g` under a momentum title failed
    as "a flipped sign" under a renaming of η to α, g to v and v to g. Of the mistakes a
    card could be, the one whose renaming keeps the most names is the one said."""
    sheet = tmp_path / "trial.md"
    sheet.write_text("# Momentum (no alpha)\n\n$$\nv \\leftarrow v - \\eta g\n$$\n",
                     encoding="utf-8")
    run = _sheets("trial.md", cwd=tmp_path)
    assert run.stdout.startswith(
        "trial.md:4: Momentum (no alpha): not the standard momentum's velocity update "
        "(モーメンタムの速度): a missing factor \\alpha. The standard is \\alpha v - \\eta g "
        "(std.momentum_velocity, in the same symbols)\n"), run.stdout
