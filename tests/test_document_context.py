"""Issue 16: a definition earlier in the sheet (`\\alpha_t = 1 - \\beta_t` in a
paragraph, `z = Wx + b` in an earlier card) is known to later cards: a step that holds
only given it passes, naming it; a name redefined later, or one whose definition does
not make the step hold, never turns a step into a failure. Through sheets the tests
write, parsed and checked as `sheets check` does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from builder.cards import defined_heads, find_cards
from builder.check import check_cards
from builder.marp import parse_file
from builder.model import CardResult

# The step of GabrieleLozupone/DiffusionModels-Theory2Code 01-ddpm.md:226 (tests/corpus/
# SOURCES.md) that holds only given the inline definition of its line 95.
DDPM_STEP = (r"\frac{1}{\sqrt{\alpha_t}}\left(x_t - \frac{\beta_t}{\sqrt{1-\bar{\alpha}_t}}"
             r"\epsilon\right) = \frac{1}{\sqrt{\alpha_t}}\left(x_t - \frac{1-\alpha_t}"
             r"{\sqrt{1-\bar{\alpha}_t}}\epsilon\right)")


def _results(tmp_path: Path, text: str) -> dict[str, CardResult]:
    sheet = tmp_path / "notes.md"
    sheet.write_text(text, encoding="utf-8")
    cards = find_cards(parse_file(sheet))
    results = check_cards(cards, snippets_dir=None, timeout=5, processes=1)
    return {result.card.title: result for result in results}


def test_an_inline_definition_above_lets_a_later_step_pass_naming_it(tmp_path: Path) -> None:
    results = _results(tmp_path, "# Forward\n\nLet $\\alpha_t = 1-\\beta_t$. Then:\n\n"
                       "$$q = \\alpha_t$$\n\n# Mean\n\n$$\n" + DDPM_STEP + "\n$$\n")
    mean = results["Mean"]
    assert mean.status == "pass", mean.checks
    assert mean.checks[0].message == (
        f"step 1: holds given \\alpha_t = 1-\\beta_t ({tmp_path / 'notes.md'}:3)")


def test_a_display_definition_in_an_earlier_card_counts_too(tmp_path: Path) -> None:
    results = _results(tmp_path, "# Affine\n\n$$\nz = Wx + b\n$$\n\n"
                       "# Shifted\n\n$$\nz - b = Wx\n$$\n\n"
                       "# Logistic\n\n$$\n\\sigma(x) = \\frac{1}{1 + e^{-x}}\n$$\n\n"
                       "# Unit\n\n$$\nf(x) = x^2 + 1\n$$\n\n"
                       "# Even\n\n$$\nf(a) + f(-a) = 2a^2 + 2\n$$\n")
    shifted = results["Shifted"]
    assert shifted.status == "pass"
    assert "holds given z = Wx + b" in shifted.checks[0].message
    assert f"{tmp_path / 'notes.md'}:4)" in shifted.checks[0].message
    # a function: unknown in this card, its values come from the definition
    even = results["Even"]
    assert even.status == "pass", even.checks
    assert "holds given f(x) = x^2 + 1" in even.checks[0].message


def test_without_the_definition_the_step_still_fails(tmp_path: Path) -> None:
    results = _results(tmp_path, "# Mean\n\n$$\n" + DDPM_STEP + "\n$$\n")
    assert results["Mean"].status == "fail"


def test_a_definition_below_the_step_is_not_used(tmp_path: Path) -> None:
    results = _results(tmp_path, "# Mean\n\n$$\n" + DDPM_STEP + "\n$$\n\n"
                       "# Later\n\nLet $\\alpha_t = 1-\\beta_t$.\n\n$$q = \\alpha_t$$\n")
    assert results["Mean"].status == "fail"


def test_the_latest_definition_wins_and_a_wrong_step_keeps_failing(tmp_path: Path) -> None:
    # alpha_t redefined in another sense between the first definition and the step: the
    # step is judged under the latest, which does not make it hold
    results = _results(tmp_path, "# First\n\nLet $\\alpha_t = 1-\\beta_t$.\n\n$$q = 1$$\n\n"
                       "# Again\n\nNow $\\alpha_t = 2\\beta_t$.\n\n$$r = 1$$\n\n"
                       "# Mean\n\n$$\n" + DDPM_STEP + "\n$$\n")
    assert results["Mean"].status == "fail"
    # a step wrong even given the definition fails as before
    wrong = DDPM_STEP.replace(r"\frac{1-\alpha_t}", r"\frac{1+\alpha_t}")
    results = _results(tmp_path, "# First\n\nLet $\\alpha_t = 1-\\beta_t$.\n\n$$q = 1$$\n\n"
                       "# Mean\n\n$$\n" + wrong + "\n$$\n")
    assert results["Mean"].status == "fail"


def test_a_value_is_not_a_definition(tmp_path: Path) -> None:
    # `\eta = 0.1` in a worked example must not make a general step hold
    results = _results(tmp_path, "# Example\n\n$$\n\\eta = 0.1\n$$\n\n"
                       "# Rule\n\n$$\n\\eta^2 = \\eta / 10\n$$\n")
    assert results["Rule"].status == "fail"


def test_a_substitution_explained_by_an_earlier_definition_is_checked(tmp_path: Path) -> None:
    results = _results(tmp_path, "# Def\n\n$$\n\\alpha = 1 - \\beta\n$$\n\n"
                       "# Use\n\n$$\n\\frac{1}{1 - \\beta} = \\frac{1}{\\alpha}\n$$\n\n"
                       "# Unexplained\n\n$$\n\\frac{1}{1 - \\gamma} = \\frac{1}{\\delta}\n$$\n")
    assert results["Use"].status == "pass"
    assert results["Unexplained"].checks[0].message == "step 1: substitution, not checked"


@pytest.mark.parametrize(("tex", "heads"), [
    (r"\alpha_t = 1-\beta_t", (r"\alpha_t",)),
    (r"\bar\alpha_t = \prod_{i=1}^{t} \alpha_i", (r"\bar{\alpha}_t",)),
    (r"\sigma(x) = \frac{1}{1+e^{-x}}", (r"\sigma",)),
    ("\\begin{aligned} a &= b \\\\ &= c \\\\ H_{out} &= 3 \\end{aligned}", ("a", "H_{out}")),
    (r"\log p(x) = \sum_i \log p(x_i)", ()),
    (r"x \le 3", ()),
])
def test_the_names_a_block_defines_are_read_from_its_rows(tex: str,
                                                          heads: tuple[str, ...]) -> None:
    assert defined_heads(tex) == heads


def test_a_card_carries_only_the_latest_definition_of_each_name_it_writes(
        tmp_path: Path) -> None:
    sheet = tmp_path / "notes.md"
    sheet.write_text("# A\n\n$$\ny = 1 + x\n$$\n\n$z = 3$ and $y = 2x$.\n\n"
                     "# B\n\n$$\ny^2 = 4x^2\n$$\n", encoding="utf-8")
    card = find_cards(parse_file(sheet))[-1]
    assert [(block.tex, block.loc.line) for block in card.context] == [("y = 2x", 7)]


def test_a_name_differentiated_by_what_its_definition_lacks_is_another_quantity(
        tmp_path: Path) -> None:
    # ml-lecture-03-part1.md (fumishiki/zenn): the loss of a softmax section, then a
    # transformer's loss differentiated by its attention weights: not the same L
    results = _results(tmp_path, "# Loss\n\n$$\n\\mathcal{L} = -\\sum_i y_i \\log s_i\n$$\n\n"
                       "# Attention\n\n$$\n\\frac{\\partial \\mathcal{L}}{\\partial V} = "
                       "A^\\top \\frac{\\partial \\mathcal{L}}{\\partial O}\n$$\n")
    assert results["Attention"].status == "unchecked", results["Attention"].checks
    assert "holds given" not in results["Attention"].checks[0].message


def test_an_inner_time_limit_ends_when_the_outer_one_does() -> None:
    # a step tried with definitions is bounded as a whole, though each comparison inside
    # sets a longer bound of its own
    import time

    from builder.check.limits import OutOfTime, time_limit

    started = time.monotonic()
    with pytest.raises(OutOfTime), time_limit(0.3), time_limit(30.0):
        while time.monotonic() - started < 20.0:
            pass
    assert time.monotonic() - started < 10.0


def test_a_letter_that_counts_steps_is_not_the_quantity_of_its_name(tmp_path: Path) -> None:
    # seed 004:1165 and :1223: `t = x + y` in a chain-rule exercise, then `t` as the time
    # step of BPTT's update (`W^{t+1}`); and within one line, a definition counts for the
    # chains after it
    results = _results(tmp_path, "# Chain\n\n$$\\begin{aligned} z &= t \\cdot 2 \\\\ "
                       "t &= x + y \\\\ \\frac{\\partial z}{\\partial x} &= 2t = 2(x + y) "
                       "\\end{aligned}$$\n\n# Update\n\n$$W_{(out)}^{t+1} = W_{(out)}^{t+1} - "
                       "\\varepsilon \\frac{\\partial E}{\\partial W_{(out)}} = W_{(out)}^t - "
                       "\\varepsilon \\delta^{out,t} [z^t]^T$$\n")
    chain = results["Chain"]
    assert chain.checks[-1].status == "pass", chain.checks
    assert "holds given t = x + y" in chain.checks[-1].message
    assert not any("holds given" in check.message for check in results["Update"].checks)


def test_a_derivative_of_a_quantity_still_unknown_does_not_pass_for_nothing(
        tmp_path: Path) -> None:
    # kmotohas/rabbit-challenge-reports 03_dnn.md:19 and :240: with u put in, both sides'
    # derivatives of the unknown E would count as 0; and u^t is the time step's u
    results = _results(tmp_path, "# Layer\n\n$$\nu=\\mathbf{wx}+\\mathbf{b}\n$$\n\n"
                       "# BPTT\n\n$$\nu^t=W_{(in)}x^t+Wz^{t-1}+b\n$$\n\n"
                       "$$\n\\frac{\\partial E}{\\partial b}=\\frac{\\partial E}"
                       "{\\partial u^t}\\frac{\\partial u^t}{\\partial b}=\\delta^t\n$$\n\n"
                       "# Softmax\n\n$$\n\\mathbf{s} = \\text{softmax}(\\mathbf{z})\n$$\n\n"
                       "# Chain\n\n$$\n\\frac{\\partial L}{\\partial z_j} = \\sum_i "
                       "\\frac{\\partial L}{\\partial s_i} \\frac{\\partial s_i}{\\partial z_j}"
                       "\n$$\n")
    for title in ("BPTT", "Chain"):
        assert not any("holds given" in check.message for check in results[title].checks), \
            results[title].checks


def test_an_edit_above_moves_a_cached_verdict_with_the_definition_it_names(
        tmp_path: Path) -> None:
    """The cache keys a card's context by the definitions' texts: lines added above the
    card, or between a definition and the card, are no reason to check it again, and
    the message served from the cache names the definition where it is now."""
    from builder.check import CheckCache

    sheet = tmp_path / "notes.md"
    text = ("# Forward\n\nLet $\\alpha_t = 1-\\beta_t$. Then:\n\n$$q = \\alpha_t$$\n\n"
            "# Mean\n\n$$\n" + DDPM_STEP + "\n$$\n")
    cache = CheckCache(tmp_path / "cache")

    def mean(text: str) -> CardResult:
        sheet.write_text(text, encoding="utf-8")
        cards = find_cards(parse_file(sheet))
        results = check_cards(cards, snippets_dir=None, timeout=5, cache=cache, processes=1)
        return next(result for result in results if result.card.title == "Mean")

    first = mean(text)
    assert first.checks[0].message.endswith(f"({sheet}:3)")
    entries = set((tmp_path / "cache").glob("*.json"))
    moved = mean("# Notes\n\nTwo lines above.\n\n" + text)
    assert set((tmp_path / "cache").glob("*.json")) == entries  # served from the cache
    assert moved.status == "pass"
    assert moved.checks[0].message == first.checks[0].message.replace(
        f"({sheet}:3)", f"({sheet}:7)")
    assert moved.checks[0].loc.line == first.checks[0].loc.line + 4
    # Lines added between the definition and the card: the card is the same card.
    between = mean(("# Notes\n\nTwo lines above.\n\n" + text).replace(
        "# Mean", "Two more lines,\n\nbetween.\n\n# Mean"))
    assert set((tmp_path / "cache").glob("*.json")) == entries
    assert between.checks[0].message == moved.checks[0].message
    assert between.checks[0].loc.line == moved.checks[0].loc.line + 4


def test_a_card_that_defines_a_name_first_does_not_depend_on_its_earlier_definitions(
        tmp_path: Path) -> None:
    # the same card in another sheet is then the same card (tests/test_isolation.py: its
    # check is served from the cache)
    sheet = tmp_path / "notes.md"
    sheet.write_text("# A\n\n$$\ny = 1 + x\n$$\n\n# B\n\n$$\ny = 3x\n$$\n\n$$\ny^2 = 9x^2\n$$\n",
                     encoding="utf-8")
    assert find_cards(parse_file(sheet))[-1].context == ()


def test_a_kept_result_names_the_definition_in_its_own_sheet(tmp_path: Path) -> None:
    """Two sheets with the same card and the same definition above it share a kept
    result; each message names its own sheet's line (a trial saw `(act.md:37)` in
    sd.md's report)."""
    from builder.check import CheckCache

    cache = CheckCache(tmp_path / "cache")
    messages = []
    for name, above in (("a.md", ""), ("b.md", "some text\n\n")):
        sheet = tmp_path / name
        sheet.write_text(f"# T\n\n{above}Let $y = 2x$.\n\n## S\n\n$$\ny + y = 4x\n$$\n",
                         encoding="utf-8")
        (result,) = check_cards(find_cards(parse_file(sheet)), snippets_dir=None,
                                timeout=5.0, cache=cache, processes=1)
        messages.append(result.checks[0].message)
    assert messages[0].endswith(f"({tmp_path / 'a.md'}:3)"), messages
    assert messages[1].endswith(f"({tmp_path / 'b.md'}:5)"), messages


_KEYS = """
import sys
import os
from pathlib import Path
from builder.cards import find_cards
from builder.check import CheckCache
from builder.marp import parse_file
cache = CheckCache(Path(sys.argv[2]), code="code")
for card in find_cards(parse_file(Path(sys.argv[1]))):
    print(card.loc.line, cache.key(card, None))
"""


def test_a_cards_cache_key_is_the_same_in_every_process(tmp_path: Path) -> None:
    """Two definitions on one line (`$\\beta_1 = 0.9$, $\\beta_2 = 0.999$`) came in the
    order of a set of strings, which Python's hash seed changes from one process to the
    next: the card's key changed, and every run checked it again (issue 22's warm check
    after an edit took a second, not a quarter)."""
    import subprocess
    import sys

    sheet = tmp_path / "notes.md"
    sheet.write_text("# Adam\n\nWith $\\beta_1 = 0.9$, $\\beta_2 = 0.999$, $m_0 = 0$:\n\n"
                     "$$\nm_t = \\beta_1 m_{t-1} + (1 - \\beta_1) g_t\n$$\n\n$$\n"
                     "v_t = \\beta_2 v_{t-1} + (1 - \\beta_2) g_t^2\n$$\n", encoding="utf-8")
    keys = {subprocess.run([sys.executable, "-c", _KEYS, str(sheet), str(tmp_path / "c")],
                           env={**os.environ, "PYTHONHASHSEED": str(seed)}, check=True,
                           capture_output=True, text=True).stdout
            for seed in range(1, 7)}
    assert len(keys) == 1, keys
    assert keys.pop().count("\n") == 1
