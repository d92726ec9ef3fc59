"""Excerpts of the held-out corpus (tests/corpus/SOURCES.md): each false alarm it gave,
now a step the checker does not call a mistake, and each real mistake it found, still
caught. Every excerpt names its source file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.check import check_card
from builder.formula import compile_equation, declarations_for
from builder.model import Card, Equation, SourceLoc


def _check(tex: str) -> tuple[str, list[str]]:
    path = Path("excerpt.md")
    card = Card(title="t", equations=(Equation(tex, SourceLoc(path, 2)),), checks=(),
                assume=(), nocheck=None, declarations=(), code=(), loc=SourceLoc(path, 1),
                slide=0)
    result = check_card(card, snippets_dir=None, timeout=5)
    return result.status, [check.message for check in result.checks]


FALSE_ALARMS = [
    # issue 16 (bold vectors read as numbers beside their elements x_i)
    (r"\mathbf{x}^T \mathbf{y} = \sum_i x_i y_i", "x is a vector"),
    # d2l-ai/d2l-ja chapter_linear-networks/softmax-regression.md:121 (y one-hot)
    (r"\sum_{j=1}^q y_j \log \sum_{k=1}^q \exp(o_k) - \sum_{j=1}^q y_j o_j"
     r" = \log \sum_{k=1}^q \exp(o_k) - \sum_{j=1}^q y_j o_j",
     r"holds if Σ_j y_j = 1"),
    # fumishiki/zenn articles/ml-lecture-03-part1.md:464 (U orthogonal, from the SVD)
    (r"X^\top X = V \Sigma^\top U^\top U \Sigma V^\top = V \Sigma^2 V^\top",
     "holds if U^T U = I"),
    # fumishiki/zenn articles/ml-lecture-03-part1.md:826 (y one-hot; a sum skipping j)
    (r"s_j \sum_{i \neq j} y_i = s_j (1 - y_j)", r"holds if Σ_i y_i = 1"),
    # yonesuke/yonesuke.github.io docs/posts/posts/svd/index.md:38 (Kronecker's delta)
    (r"\frac{\xi_{j}\delta_{ij}}{\sqrt{\xi_{i}\xi_{j}}}=\delta_{ij}", "Kronecker"),
    # kaityo256/zenn-content articles/boltzmann_machine2.md:209 (an estimate to solve for)
    (r"w_b \equiv \exp(b_b) = \frac{56}{35}", "an equation in"),
    # d2l-ai/d2l-ja chapter_appendix-mathematics-for-deep-learning/information-theory.md:511
    (r"\log \prod_{i=1}^n \pi_i^{y_i} (1 - \pi_i)^{1 - y_i}"
     r" = \sum_{i=1}^n y_i \log(\pi_i) + (1 - y_i) \log (1 - \pi_i)",
     "does the sum go on"),
]


@pytest.mark.parametrize(("tex", "reason"), FALSE_ALARMS)
def test_a_false_alarm_of_the_corpus_is_unchecked_with_its_reason(tex: str,
                                                                  reason: str) -> None:
    status, messages = _check(tex)
    assert status == "unchecked", messages
    assert any(reason in message for message in messages), messages


@pytest.mark.parametrize(("tex", "reason"), [
    # yonesuke/yonesuke.github.io docs/posts/posts/svd/index.md:30 (v_i of unit length)
    (r"\xi_{i}=(v_{i},\xi_{i}v_{i})=(v_{i},A^{\mathsf{T}}Av_{i})=(Av_{i},Av_{i})\geq0",
     "step 1: holds if ⟨v_i, v_i⟩ = 1 (v_i a unit vector)"),
    # yonesuke/yonesuke.github.io docs/posts/posts/svd/index.md:54 (A^T A v_j = 0 there)
    (r"(Av_{j},Av_{j})=(v_{j},A^{\mathsf{T}}Av_{j})=(v_{j},0)=0", "step 2: an equation in"),
])
def test_a_step_between_inner_products_written_as_pairs_that_holds_in_context_is_no_fail(
        tex: str, reason: str) -> None:
    status, messages = _check(tex)
    assert status == "pass", messages  # the steps that hold for any vectors
    assert any(message.startswith(reason) for message in messages), messages


def test_a_wrong_step_between_inner_products_written_as_pairs_still_fails() -> None:
    # the svd note's notation (v, w) for ⟨v, w⟩, with a factor 2 too many
    status, messages = _check(r"(Av, Av) = 2 (v, A^{\mathsf{T}}Av) \geq 0")
    assert status == "fail", messages


def test_sech_written_as_a_word_is_the_function() -> None:
    # issue 16: \textrm{sech} was read as a symbol named sech
    assert _check(r"\textrm{sech}^2 x = \cfrac{1}{\cosh^2 x}")[0] == "pass"
    assert _check(r"\operatorname{sech} x = \frac{1}{\cosh x}")[0] == "pass"
    assert _check(r"\textrm{sech}^2 x = \cfrac{2}{\cosh^2 x}")[0] == "fail"
    assert _check(r"\mathrm{tanh}^{-1} x = x")[0] == "unchecked"


def test_a_hessian_named_with_text_is_an_operator_on_its_subscript() -> None:
    # wiseodd/wiseodd.github.io src/content/post/fisher-information.mdx:68 and :84: the
    # card writes \text{H}_{\log p(x \vert \theta)}, the Hessian of its subscript, so
    # \text{H}_{1} is the Hessian of 1 (zero), not a name H_1: `H_1 - F = -F` is true
    path = Path("excerpt.md")
    equations = (
        Equation(r"\text{H}_{\log p(x \vert \theta)} = \text{J} \left( \frac{\nabla p(x "
                 r"\vert \theta)}{p(x \vert \theta)} \right)", SourceLoc(path, 2)),
        Equation(r"\text{H}_{1} - \text{F} = -\text{F}", SourceLoc(path, 4)))
    card = Card(title="t", equations=equations, checks=(), assume=(), nocheck=None,
                declarations=(), code=(), loc=SourceLoc(path, 1), slide=0)
    result = check_card(card, snippets_dir=None, timeout=5)
    assert result.status == "unchecked"
    assert any("applies H to its subscript" in check.message for check in result.checks)
    # alone, with nothing saying what H is, H_1 is a name as \Sigma_1 is
    assert _check(r"\text{H}_{1} - \text{F} = -\text{F}")[0] == "fail"


REAL_MISTAKES = [
    # kaityo256/zenn-content articles/boltzmann_machine2.md:64 (P' lost a factor p)
    r"P'(p) = 4(1-p)^3 - 12(1-p)^2 = 4(1-p)^2(1 - 4p)",
    # kaityo256/zenn-content articles/least_squares_method.md:114 (the square is lost)
    r"\sum_i^N \left(a - \frac{y_i}{x_i} \right) = N a^2 - 2 a \sum_i^N\frac{y_i}{x_i}"
    r" + \sum_i^N \left(\frac{y_i}{x_i}\right)^2",
    # yanfenglee/dl_demo README.md:8 (tanh z = 2 sigmoid(2z) - 1)
    r"t=tanh(z) = \frac{e^z-e^{-z}}{e^z+e^{-z}}=2*sigmoid(z)-1",
]


@pytest.mark.parametrize("tex", REAL_MISTAKES)
def test_a_real_mistake_of_the_corpus_still_fails(tex: str) -> None:
    assert _check(tex)[0] == "fail"


def test_macros_defined_in_a_block_of_their_own_are_read_in_the_cards_equations() -> None:
    # ryuichiueda/slides_marp prob_robotics_2024/lesson4.md:17 defines \V in a $$ block
    # of its own; the card's other equations use it
    path = Path("excerpt.md")
    equations = (Equation(r"\newcommand{\V}[1]{\boldsymbol{#1}}", SourceLoc(path, 2)),
                 Equation(r"\V{x}^T \V{x} = \sum_i x_i^2 + 1", SourceLoc(path, 4)),
                 Equation(r"\DeclareMathOperator{\sgm}{sigmoid} \sgm(z) = "
                          r"\frac{1}{1 + e^{-z}}", SourceLoc(path, 6)))
    card = Card(title="t", equations=equations, checks=(), assume=(), nocheck=None,
                declarations=(), code=(), loc=SourceLoc(path, 1), slide=0)
    declarations = declarations_for(card)
    definitions, vectors, sigmoid = (compile_equation(equation, declarations)
                                     for equation in equations)
    assert definitions.reason is None and not definitions.chains  # nothing to check
    assert str(vectors.chains[0].sides[0].expr) == "x^T x"
    named, written = (side.expr for side in sigmoid.chains[0].sides)
    assert named == written  # \sgm is the sigmoid
    assert check_card(card, snippets_dir=None, timeout=5).status != "fail"


def test_an_evaluation_bar_evaluates_its_group_there() -> None:
    # wiseodd/wiseodd.github.io src/content/post/natural-gradient.mdx:103 writes
    # \left. \nabla_{\theta'} … \right\vert_{\theta' = \theta}
    assert _check(r"\left. \frac{d}{dx} x^3 \right|_{x=1} = 3")[0] == "pass"
    assert _check(r"\left. \frac{d}{dx} x^3 \right\vert_{x = 1} = 2")[0] == "fail"
