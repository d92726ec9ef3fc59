"""The typeset stage with the real node and MathJax: every seed formula, errors, Japanese
text, the cache, threads, and the result printed by the real Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from markdown_it.token import Token
from seeds import SEED_FILES

import builder.render.snapshot as snapshot_module
import builder.render.typeset as typeset_module
from builder.live import SheetPreview
from builder.marp import parse_file
from builder.model import BuildError
from builder.pdf import Browser, find_chromium
from builder.render.typeset import Typeset, Typesetter
from builder.resources import locate_javascript

SEEDS = SEED_FILES
TAG = re.compile(r"<[^>]+>")


def math_of(tokens: Sequence[Token]) -> Iterator[tuple[str, bool]]:
    for token in tokens:
        if token.type in ("math_inline", "math_block"):
            yield token.content, token.type == "math_block"
        if token.children:
            yield from math_of(token.children)


def seed_math(path: Path) -> list[tuple[str, bool]]:
    return [item for slide in parse_file(path).slides for item in math_of(slide.tokens)]


@pytest.fixture(scope="module")
def typesetter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Typesetter]:
    with Typesetter(cache_dir=tmp_path_factory.mktemp("math"), processes=1) as typesetter:
        yield typesetter


def text_of(result: Typeset) -> str:
    return TAG.sub("", result.html)


@pytest.mark.parametrize("seed", SEEDS, ids=[path.name[:3] for path in SEEDS])
def test_every_seed_formula_typesets(typesetter: Typesetter, seed: Path) -> None:
    items = seed_math(seed)
    assert items, "the seed has math"
    results = typesetter.typeset(items)
    assert len(results) == len(items)
    for (tex, _display), result in zip(items, results, strict=True):
        assert result.error is None, (tex, result.error)
        assert "<mjx-merror" not in result.html, tex
        assert "\\" not in text_of(result), tex  # no TeX left as text
        assert result.html.startswith('<mjx-container class="MathJax" jax="CHTML"')


def test_a_deck_split_over_two_processes_is_the_same(typesetter: Typesetter,
                                                     tmp_path: Path) -> None:
    items = seed_math(SEEDS[1])[:150]  # enough for two shares
    with Typesetter(cache_dir=tmp_path, processes=2) as split:
        assert split.typeset(items) == typesetter.typeset(items)
        assert split.node_started == 2 and split.node_calls == 1
        split.typeset([("a^2", False)])  # a small batch: one process is enough
        assert split.node_started == 2


def test_the_hard_cases_of_the_seeds_are_among_them() -> None:
    sources = "\n".join(tex for seed in SEEDS for tex, _display in seed_math(seed))
    for construct in ("\\large", "\\lfloor", "\\boxed", "\\textcolor", "\\begin{align",
                      "\\underbrace", "\\mathbb"):
        assert construct in sources
    assert re.search(r"\\text\{[^}]*[\u3040-\u30ff\u4e00-\u9fff]", sources)


def test_a_broken_formula_is_an_error_not_a_crash(typesetter: Typesetter) -> None:
    broken, undefined, fine = typesetter.typeset(
        [("\\frac{a", False), ("\\nosuchmacro{x}", True), ("a+b", False)])
    assert broken.error == "Missing close brace"
    assert "$\\frac{a$" in broken.html  # the TeX itself, shown
    assert 'class="sheets-math-error"' in broken.html
    assert undefined.error is not None and "\\nosuchmacro" in undefined.error
    assert 'display="true"' in undefined.html
    assert fine.error is None
    # The process survived: the next batch is typeset by the same node.
    assert typesetter.typeset([("c^2", False)])[0].error is None


def test_text_is_in_the_page_font_with_its_letters(typesetter: Typesetter) -> None:
    (result,) = typesetter.typeset([("V(s) \\quad \\text{状態価値関数 if } x", True)])
    assert result.error is None
    assert "状態価値関数 if" in result.html
    utext = re.search(r"<mjx-mtext[^>]*><mjx-utext([^>]*)>状態", result.html)
    assert utext is not None
    # No width guessed by the lite adaptor and no MathJax font: the browser sizes it.
    assert "width" not in utext.group(1) and "font-family" not in utext.group(1)


def test_each_formula_stands_alone(typesetter: Typesetter) -> None:
    # A result depends on its TeX only (it is cached by it): definitions and labels of
    # one formula do not leak into the next (a label twice would be an error).
    defining, using, declared, again = typesetter.typeset([
        ("\\newcommand{\\R}{\\mathbb{R}} \\DeclareMathOperator{\\sgn}{sgn} "
         "\\sgn x \\in \\R", False),
        ("\\R^n", False), ("\\sgn x", False),
        ("\\begin{align} a &= b \\label{one} \\end{align}", True)])
    assert defining.error is None
    assert using.error == "Undefined control sequence \\R"
    assert declared.error == "Undefined control sequence \\sgn"
    assert again.error is None
    with Typesetter(cache_dir=typesetter.cache_dir / "labels") as other:
        first, second = other.typeset([("x \\label{two} \\tag{1}", True),
                                       ("y \\label{two} \\tag{2}", True)])
    assert first.error is None and second.error is None


def test_display_and_inline_differ(typesetter: Typesetter) -> None:
    inline, display = typesetter.typeset([("\\sum_{i=1}^n i", False), ("\\sum_{i=1}^n i", True)])
    assert 'display="true"' not in inline.html
    assert re.search(r'<mjx-container class="MathJax" jax="CHTML"[^>]* display="true">',
                     display.html)
    # Display style: the big operator (Size2 font) with limits above and below.
    assert "TEX-S2" in display.html and "TEX-S2" not in inline.html


def test_results_keep_order_and_duplicates(typesetter: Typesetter) -> None:
    results = typesetter.typeset([("a", False), ("b", False), ("a", False), ("a", True)])
    assert results[0] == results[2] != results[1]
    assert results[3] != results[0]


def test_the_cache_spares_node(tmp_path: Path) -> None:
    items = [("e^{i\\pi} + 1 = 0", True), ("\\boxed{x}", False)]
    with Typesetter(cache_dir=tmp_path) as first:
        cold = first.typeset(items)
        assert first.node_calls == 1 and first.node_started == 1  # one round trip
        first.typeset(items)
        assert first.node_calls == 1  # memory
        css = first.stylesheet()
    assert len(list(tmp_path.glob("*.json"))) == 2
    with Typesetter(cache_dir=tmp_path) as second:
        assert second.typeset(items) == cold  # disk
        assert second.stylesheet() == css
        assert second.node_calls == 0 and second.node_started == 0
    # A damaged entry is a miss, not an error.
    for entry in tmp_path.glob("*.json"):
        entry.write_text("{")
    with Typesetter(cache_dir=tmp_path) as third:
        assert third.typeset(items) == cold
        assert third.node_calls == 1


def test_the_cache_dir_follows_sheets_cache_dir(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHEETS_CACHE_DIR", str(tmp_path / "c"))
    assert Typesetter().cache_dir == tmp_path / "c" / "math"
    monkeypatch.delenv("SHEETS_CACHE_DIR")
    (tmp_path / "notes" / "sheets").mkdir(parents=True)
    (tmp_path / "notes" / ".git").mkdir()
    monkeypatch.chdir(tmp_path / "notes" / "sheets")  # the repository's root, not the cwd
    assert Typesetter().cache_dir == tmp_path.resolve() / "notes" / ".cache" / "math"


def test_threads_share_one_typesetter(typesetter: Typesetter, tmp_path: Path) -> None:
    batches = [[(f"x_{{{n}}} + \\frac{{{n}}}{{{thread}}}", n % 2 == 0) for n in range(8)]
               for thread in range(4)]
    expected = [typesetter.typeset(batch) for batch in batches]  # one after the other
    got: dict[int, list[Typeset]] = {}
    with Typesetter(cache_dir=tmp_path) as shared:
        def work(index: int) -> None:
            got[index] = shared.typeset(batches[index])
        threads = [threading.Thread(target=work, args=(index,)) for index in range(len(batches))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert shared.node_calls == len(batches)
    assert [got[index] for index in range(len(batches))] == expected


def test_stylesheet_has_the_fonts_the_formulas_use(typesetter: Typesetter) -> None:
    (digits,) = typesetter.typeset([("1+2", False)])
    (italic,) = typesetter.typeset([("\\left( \\frac{x}{y} \\right)", True)])
    small = typesetter.stylesheet([digits.html])
    assert "font-family: MJXTEX;" in small and "data:font/woff;base64," in small
    assert "MJXTEX-I;" not in small.split("@font-face")[-1]
    assert "mjx-c.mjx-c32 {" in small and "mjx-c.mjx-c1D465.TEX-I {" not in small
    both = typesetter.stylesheet([digits.html, italic.html])
    assert "mjx-c.mjx-c1D465.TEX-I {" in both
    assert re.search(r"font-family: MJXTEX-I;\s*src: url\(\"data:font/woff;base64,", both)
    assert "SHEETS-" not in both  # no placeholder left
    everything = typesetter.stylesheet()  # all this typesetter returned so far
    assert "mjx-c.mjx-c1D465.TEX-I {" in everything
    assert "mjx-c.mjx-c32 {" in everything


def test_glyphs_are_text_in_their_elements(typesetter: Typesetter) -> None:
    """Each glyph is the text of its <mjx-c>, as MathJax 4 writes it, not the content of a
    ::before rule: a formula's letters are text of the page, and the glyph rules keep only
    the box (the stretchy delimiters' pieces, drawn by their context, keep theirs)."""
    (sum_,) = typesetter.typeset([("x + 1 < y \\& \\left( \\frac{a}{b} \\right)", True)])
    assert '<mjx-c class="mjx-c1D465 TEX-I">x</mjx-c>' in sum_.html
    assert '<mjx-c class="mjx-c28 TEX-S2">(</mjx-c>' in sum_.html  # a size variant's own
    assert text_of(sum_) == "x+1&lt;y&amp;(ab)"
    css = typesetter.stylesheet([sum_.html])
    assert "mjx-c.mjx-c3C {\n  padding: 0.54em 0.778em 0.04em 0;\n}" in css
    assert not re.search(r"^mjx-c\.mjx-c[0-9A-F]+(\.TEX-\w+)?::before", css, re.MULTILINE)
    assert "mjx-c[class] {\n  width: 0;\n}" in css
    (arrow,) = typesetter.typeset([("\\overrightarrow{AB}", False)])
    assert "<mjx-stretchy-h" in arrow.html and "<mjx-c></mjx-c>" in arrow.html
    assert 'mjx-stretchy-h.mjx-c2192 mjx-ext mjx-c::before {\n  content: "\\2212";' in (
        typesetter.stylesheet([arrow.html]))


def test_missing_node_is_a_build_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with Typesetter(cache_dir=tmp_path) as typesetter, pytest.raises(BuildError) as error:
        typesetter.typeset([("x", False)])
    assert error.value.loc is None and "run `make`" in error.value.message


def test_missing_mathjax_is_a_build_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "node_modules").mkdir()
    monkeypatch.setattr(typeset_module, "_JS", locate_javascript(tmp_path, tmp_path / "vendor"))
    with Typesetter(cache_dir=tmp_path) as typesetter, pytest.raises(BuildError) as error:
        typesetter.typeset([("x", False)])
    assert "npm ci" in error.value.message and "mathjax-full" in error.value.message


def test_chromium_draws_it_and_pdftotext_reads_it(typesetter: Typesetter,
                                                  tmp_path: Path) -> None:
    items = [*seed_math(SEEDS[1])[:40], ("\\text{状態価値関数} = \\rho_1", True)]
    results = typesetter.typeset(items)
    body = "".join(f"<div>{result.html}</div>" if display else f"<p>{result.html}</p>"
                   for (_tex, display), result in zip(items, results, strict=True))
    page = tmp_path / "math.html"
    page.write_text(
        '<!DOCTYPE html><html lang="ja"><head><meta charset="utf-8"><style>'
        'body { font-family: "Noto Sans CJK JP", sans-serif; width: 700px; }\n'
        f"{typesetter.stylesheet(result.html for result in results)}</style></head>"
        f"<body>{body}</body></html>", encoding="utf-8")
    with Browser(find_chromium()) as browser, browser.tab(800, 1100) as tab:
        tab.open(page.as_uri())
        state = tab.evaluate("""document.fonts.ready.then(() => ({
            formulas: document.querySelectorAll('mjx-container').length,
            errors: document.querySelectorAll('mjx-merror').length,
            failed: [...document.fonts].filter(f => f.status === 'error').map(f => f.family),
            loaded: [...document.fonts].filter(f => f.status === 'loaded').map(f => f.family),
            text: getComputedStyle([...document.querySelectorAll('mjx-utext')]
                .find(e => e.textContent.includes('状態'))).fontFamily,
        }))""")
        pdf = tab.print_pdf(794, 1123)
    assert state["formulas"] == len(items) and state["errors"] == 0
    assert state["failed"] == [] and "MJXTEX-I" in state["loaded"]
    assert "Noto Sans CJK JP" in state["text"]
    (tmp_path / "math.pdf").write_bytes(pdf)
    pdftotext = shutil.which("pdftotext")
    assert pdftotext is not None
    text = subprocess.run([pdftotext, str(tmp_path / "math.pdf"), "-"], check=True,
                          capture_output=True, text=True).stdout
    assert "状態価値関数" in text and "ρ" in text and "det" in text


def test_a_dead_node_is_replaced(tmp_path: Path) -> None:
    with Typesetter(cache_dir=tmp_path) as typesetter:
        typesetter.typeset([("a", False)])
        for worker in typesetter._workers:
            worker._process.kill()
            worker._process.wait()
        assert typesetter.typeset([("b", False)])[0].error is None
        assert typesetter.node_started == 2


def nested_fractions(depth: int) -> str:
    tex = "1"
    for _ in range(depth):
        tex = f"\\frac{{1}}{{{tex}}}"
    return tex


def matrix(size: int) -> str:
    rows = ("&".join(str(row * column) for column in range(size)) for row in range(size))
    return "\\begin{pmatrix}" + "\\\\".join(rows) + "\\end{pmatrix}"


# Hostile formulas, and what each gives: an error containing the text, or None (typeset).
HOSTILE: list[tuple[str, str, str | None]] = [
    ("300 nested \\frac", nested_fractions(300), "nested too deeply for MathJax"),
    ("2,000 nested braces", "{" * 2000 + "x" + "}" * 2000, "nested too deeply for MathJax"),
    ("700 nested \\sqrt", "\\sqrt{" * 700 + "x" + "}" * 700, "nested too deeply for MathJax"),
    ("10,000 characters", ("a+" * 5000)[:10000], "formula too long to typeset (10,000 char"),
    ("5,000 terms", "+".join(f"x_{{{i}}}" for i in range(5000)), "formula too long"),
    ("100x100 matrix", matrix(100), "formula too long"),
    ("30x30 matrix", matrix(30), None),
    ("unbalanced open", "\\frac{1}{2", "Missing close brace"),
    ("unbalanced close", "}x{", "Extra close brace or missing open brace"),
    ("unknown macro", "\\nosuchmacro{x}", "Undefined control sequence \\nosuchmacro"),
    ("\\def loop", "\\def\\a{\\a}\\a", "maximum macro substitution count exceeded"),
    ("\\def doubling", "\\def\\a{\\a\\a}\\a", "maximum macro substitution count"),
    ("\\def growing", "\\def\\a#1{\\a{#1#1}}\\a{x}", "internal buffer size exceeded"),
    ("\\newcommand loop", "\\newcommand{\\b}{\\b}\\b", "maximum macro substitution"),
]


def test_hostile_formulas_are_their_own_errors(typesetter: Typesetter, tmp_path: Path) -> None:
    """Each hostile formula is typeset or is its own error, in one batch over two node
    processes, and every seed formula dealt after it comes out as it does alone."""
    normal = list(dict.fromkeys(seed_math(SEEDS[0])))[:80]
    expected = typesetter.typeset(normal)
    batch: list[tuple[str, bool]] = []
    for index, (_name, tex, _error) in enumerate(HOSTILE):
        batch += [(tex, index % 2 == 0), *normal[index * 5:index * 5 + 5]]
    batch += normal
    with Typesetter(cache_dir=tmp_path, processes=2) as fresh:
        results = dict(zip(batch, fresh.typeset(batch), strict=True))
        assert fresh.node_started == 2  # neither died
    for index, (name, tex, error) in enumerate(HOSTILE):
        result = results[(tex, index % 2 == 0)]
        if error is None:
            assert result.error is None, name
            assert "<mjx-merror" not in result.html, name
        else:
            assert result.error is not None and error in result.error, (name, result.error)
            assert "<mjx-merror" in result.html, name
    assert [results[item] for item in normal] == expected


def test_a_formula_past_the_time_limit_is_stopped(tmp_path: Path) -> None:
    """Node runs past the time limit on one formula (a sum of 2,500 terms takes it
    seconds): it is stopped, that formula is the error, and a new node typesets the rest."""
    slow = "a+" * 2500
    with Typesetter(cache_dir=tmp_path, processes=1, time_limit=0.5) as typesetter:
        before, stopped, after, last = typesetter.typeset(
            [("x^2", False), (slow, True), ("\\frac{1}{2}", False), ("y", True)])
        assert stopped.error == "MathJax took longer than 0.5 s on this formula and was stopped"
        assert 'class="sheets-math-error"' in stopped.html
        assert before.error is None and after.error is None and last.error is None
        assert "mjx-mfrac" in after.html
        assert typesetter.node_started == 2
    # Not cached on disk: the next build (on a quieter machine, say) tries again.
    with Typesetter(cache_dir=tmp_path, processes=1, time_limit=0.5) as again:
        assert again.typeset([("x^2", False)])[0] == before
        assert again.node_started == 0


def test_a_formula_node_runs_out_of_memory_on(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """With a heap too small for one formula, node dies on it (V8 aborts): that formula
    is the error, and a new node typesets the ones after it."""
    monkeypatch.setattr(typeset_module, "NODE_FLAGS", ("--no-opt", "--max-old-space-size=16"))
    monkeypatch.setattr(typeset_module, "snapshot", lambda node: None)  # other flags
    # A generous time limit: on a busy machine a small heap is slow to run out.
    with Typesetter(cache_dir=tmp_path, processes=1, time_limit=300) as typesetter:
        before, big, after = typesetter.typeset(
            [("x^2", False), ("a+" * 2500, True), ("\\sqrt{2}", False)])
        # V8 says why it aborts on stderr; on a busy machine it may abort before it can
        # (SIGABRT alone). Either way it is this formula's error, and node starts again.
        assert big.error in ("MathJax ran out of memory on this formula",
                             "typesetting this formula crashed MathJax "
                             "(node was killed by SIGABRT)"), big.error
        assert before.error is None and after.error is None and "mjx-msqrt" in after.html
        assert typesetter.node_started == 2


SHEET_WITH_A_DEEP_FORMULA = """\
---
marp: true
---

# First

$e^{i\\pi} + 1 = 0$ and $\\sqrt{2}$

---

# Deep

$$
{deep}
$$

---

# Last

$$
\\int_0^1 x^2 \\, dx = \\frac{1}{3}
$$
"""


def test_a_formula_mathjax_cannot_typeset_does_not_stop_the_build(tmp_path: Path) -> None:
    """One error line at the formula's line, its box in its place (short enough not to
    overflow the slide: no second warning), every other formula typeset."""
    sheet = tmp_path / "sheet.md"
    sheet.write_text(SHEET_WITH_A_DEEP_FORMULA.replace("{deep}", nested_fractions(300)),
                     encoding="utf-8")
    env = {**os.environ, "SHEETS_CACHE_DIR": str(tmp_path / "cache")}

    def build(*options: str) -> tuple[int, list[str]]:
        done = subprocess.run([sys.executable, "-m", "builder", "build", "sheet.md", "-o",
                               "out", *options], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120, check=False)
        assert "Traceback" not in done.stderr
        return done.returncode, [line for line in done.stderr.splitlines()
                                 if not line.startswith("sheets build: wrote")]

    deep = ("sheet.md:13: warning: math error: nested too deeply for MathJax "
            "(Maximum call stack size exceeded)")
    assert build("--to", "html") == (0, [deep])
    page = (tmp_path / "out" / "sheet.html").read_text(encoding="utf-8")
    assert page.count('class="sheets-math-error"') == 1
    assert page.count("<mjx-container") == 4  # the other three typeset
    assert "mjx-msqrt" in page and "mjx-mfrac" in page and "TEX-S2" in page  # display \int
    assert build("--to", "html", "--strict") == (1, [deep])
    assert build("--to", "pdf") == (0, [deep])
    pdftotext = shutil.which("pdftotext")
    assert pdftotext is not None
    text = subprocess.run([pdftotext, str(tmp_path / "out" / "sheet.pdf"), "-"], check=True,
                          capture_output=True, text=True).stdout
    assert text.count("\f") == 3 and "First" in text and "Last" in text


def test_the_preview_shows_it_in_its_place(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    sheet = tmp_path / "sheet.md"
    sheet.write_text(SHEET_WITH_A_DEEP_FORMULA.replace("{deep}", nested_fractions(300)),
                     encoding="utf-8")
    preview = SheetPreview(sheet)
    try:
        update = preview(sheet)
    finally:
        preview.close()
    assert update.error is None
    first, deep, last = update.slides
    assert 'class="sheets-math-error"' in deep and "nested too deeply" in deep
    assert "sheets-math-error" not in first + last and "mjx-mfrac" in last


def test_formulas_are_scaled_to_the_themes_x_height(typesetter: Typesetter) -> None:
    # Noto Sans CJK JP's x-height over MathJax TeX's, as matchFontHeight would find in a page.
    (result,) = typesetter.typeset([("x", False)])
    assert 'style="font-size: 122.9%;"' in result.html


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the snapshot of typeset.cjs for this node, built here."""
    home = tmp_path_factory.mktemp("xdg")  # snapshots go to the user's cache directory
    directory = home / "sheets" / "snapshots"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(home))
        patch.setattr(snapshot_module, "_snapshots", {})
        node = shutil.which("node")
        assert node is not None
        snapshot = snapshot_module.snapshot(node)
    assert snapshot is not None and snapshot.parent == directory
    return directory


def test_node_from_the_snapshot_answers_as_typeset_cjs_does(snapshots: Path) -> None:
    """MathJax loaded and warmed up before the snapshot was taken, and bundled from its
    TypeScript sources rather than the ES5 of mathjax-full/js: the same stylesheet and
    the same results (errors, and definitions that do not carry over, included) as
    typeset.cjs run afresh, for every formula of the seeds."""
    (snapshot,) = snapshots.glob("mathjax-*.blob")
    seeds = dict.fromkeys(item for seed in SEEDS for item in seed_math(seed))
    items = [*seeds, ("\\frac{1}{", False),
             ("\\newcommand{\\x}{y}\\x", True), ("\\x", False), ("\\text{状態}", False)]
    requests = (json.dumps({"stylesheet": True}) + "\n" + json.dumps({"items": items})
                + "\n").encode()
    node = shutil.which("node")
    assert node is not None

    def replies(*start: str) -> list[str]:
        done = subprocess.run([node, *snapshot_module.NODE_FLAGS, *start], input=requests,
                              capture_output=True, check=True, timeout=60)
        return done.stdout.decode().splitlines()

    from_snapshot = replies("--snapshot-blob", str(snapshot))
    assert from_snapshot == replies(str(typeset_module._SCRIPT))
    ready, css, *results = from_snapshot  # then one line per formula
    assert json.loads(ready) == {"ready": True} and "mjx-c" in json.loads(css)["css"]
    assert len(results) == len(items) > 400
    assert json.loads(results[0])["error"] is None
    assert json.loads(results[len(seeds)])["error"] == "Missing close brace"


def test_a_damaged_snapshot_is_put_aside(snapshots: Path, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Node crashes on a snapshot cut short: the batch is typeset by typeset.cjs all the
    same, and the snapshot is removed (the next process to need one builds it anew)."""
    (built,) = snapshots.glob("mathjax-*.blob")
    snapshot = tmp_path / "xdg" / "sheets" / "snapshots" / built.name
    snapshot.parent.mkdir(parents=True)
    snapshot.write_bytes(built.read_bytes()[:1_000_000])
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(snapshot_module, "_snapshots", {})
    with Typesetter(cache_dir=tmp_path / "math") as typesetter:
        (result,) = typesetter.typeset([("x^2", False)])
        assert result.error is None and "mjx-c1D465" in result.html
        assert typesetter.node_started == 2  # the one that crashed, then typeset.cjs
    assert not snapshot.exists()
