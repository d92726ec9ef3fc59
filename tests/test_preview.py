"""`sheets preview` end to end: the real builder (builder/preview.py) behind the server, on a
copy of the seed deck, in a real headless Chromium. No sleeps: every wait is a condition
in the page with a timeout."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from raw_html_cases import CASES, case_params, three_slides
from seeds import SEED_DECK

from builder.live import PreviewServer, SheetPreview
from builder.marp import parse_file

SEED = SEED_DECK
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def sheet(tmp_path: Path) -> Path:
    path = tmp_path / "deck.md"
    shutil.copyfile(SEED, path)  # copyfile: the copy must not inherit the seed's read-only mode
    return path


@pytest.fixture
def page(browser: Browser, sheet: Path) -> Iterator[tuple[Page, PreviewServer, SheetPreview]]:
    rebuild = SheetPreview(sheet)
    server = PreviewServer(sheet, rebuild, port=0)
    server.start()
    threading.Thread(target=server.run_build_loop, daemon=True).start()
    page = browser.new_page(viewport={"width": 1000, "height": 1200})
    page.goto(server.url)
    count = len(parse_file(sheet).slides)
    page.wait_for_function("n => window.sheetsPreview && sheetsPreview.slides.length === n",
                           arg=count, timeout=WAIT_MS)
    yield page, server, rebuild
    page.close()
    server.shutdown()


def slide_line(sheet: Path, index: int) -> str:
    """A line of text that only slide `index` has (its first heading)."""
    slide = parse_file(sheet).slides[index]
    heading = next(line for line in slide.source.splitlines() if line.startswith("#"))
    assert sheet.read_text(encoding="utf-8").count(heading) == 1
    return heading


def test_editing_slide_30_redraws_only_it(
    page: tuple[Page, PreviewServer, SheetPreview], sheet: Path
) -> None:
    view, _, rebuild = page
    view.evaluate("""() => {
        window.firstSlide = sheetsPreview.slides[0];
        sheetsPreview.slides[10].scrollIntoView();
    }""")
    scroll = view.evaluate("window.scrollY")
    assert scroll > 0
    rendered = rebuild.rendered_slides
    heading = slide_line(sheet, 29)
    text = sheet.read_text(encoding="utf-8")
    sheet.write_text(text.replace(heading, heading + " zebraword", 1), encoding="utf-8")
    view.wait_for_function("() => sheetsPreview.slides[29].textContent.includes('zebraword')",
                           timeout=WAIT_MS)
    assert view.evaluate("sheetsPreview.slides[0] === window.firstSlide")
    assert view.evaluate("window.scrollY") == scroll
    assert rebuild.rendered_slides - rendered == 1


def test_the_diagram_is_drawn_on_load_and_after_an_edit_of_its_slide(
    page: tuple[Page, PreviewServer, SheetPreview], sheet: Path
) -> None:
    view, _, rebuild = page
    index = next(slide.index for slide in parse_file(sheet).slides
                 if '<div class="mermaid">' in slide.source)
    view.wait_for_function("i => sheetsPreview.slides[i].querySelector('.mermaid svg')",
                           arg=index, timeout=WAIT_MS)
    assert "A task" in view.evaluate(
        "i => sheetsPreview.slides[i].querySelector('.mermaid svg').textContent", index)
    view.evaluate("() => { window.firstSlide = sheetsPreview.slides[0]; }")
    rendered = rebuild.rendered_slides
    text = sheet.read_text(encoding="utf-8")
    assert text.count("A task") == 1
    sheet.write_text(text.replace("A task", "A zebratask"), encoding="utf-8")
    # Drawn again: the new <svg> says the new word (mermaid's output, not the source text).
    view.wait_for_function(
        "i => sheetsPreview.slides[i].querySelector('.mermaid svg')?.textContent"
        ".includes('A zebratask')", arg=index, timeout=WAIT_MS)
    assert rebuild.rendered_slides - rendered == 1
    assert view.evaluate("sheetsPreview.slides[0] === window.firstSlide")
    # The library was loaded once, from this server (the sheet's own CDN import is text).
    assert view.evaluate("document.querySelectorAll('script[src*=mermaid]').length") == 1
    assert view.evaluate("document.querySelector('script[src*=mermaid]').src").startswith(
        "http://127.0.0.1:")


def test_broken_front_matter_shows_where_and_the_fix_clears_it(
    page: tuple[Page, PreviewServer, SheetPreview], sheet: Path
) -> None:
    view, _, _ = page
    text = sheet.read_text(encoding="utf-8")
    sheet.write_text(text.replace("paginate: true", "paginate: [true", 1), encoding="utf-8")
    view.wait_for_function("() => !document.getElementById('sheets-overlay').hidden",
                           timeout=WAIT_MS)
    message = view.inner_text("#sheets-overlay")
    assert re.match(rf"{re.escape(str(sheet))}:\d+: ", message), message
    # The last good render is still there under the overlay.
    assert view.evaluate("sheetsPreview.slides.length") == len(parse_file(SEED).slides)
    sheet.write_text(text, encoding="utf-8")
    view.wait_for_function("() => document.getElementById('sheets-overlay').hidden",
                           timeout=WAIT_MS)


def test_cli_prints_the_url_and_serves_the_page(sheet: Path) -> None:
    # (-X faulthandler: a child that does not stop is asked where its threads are.)
    child = subprocess.Popen(
        [sys.executable, "-X", "faulthandler", "-m", "builder", "preview", str(sheet),
         "--port", "0", "--no-open"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, line
        import http.client

        connection = http.client.HTTPConnection("127.0.0.1", int(match[1]), timeout=30)
        connection.request("GET", "/")
        response = connection.getresponse()
        assert response.status == 200
        assert b"sheets-slides" in response.read()
    finally:
        child.terminate()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGABRT)
            _, stderr = child.communicate(timeout=30)
            raise AssertionError(f"the preview did not stop:\n{stderr}") from None


def test_cli_rejects_a_missing_sheet(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "builder", "preview", str(tmp_path / "nope.md"), "--no-open"],
        check=False, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "nope.md" in result.stderr


SNIPPET_SHEET = """\
---
marp: true
---

## Square

<!-- check: algebra.square -->

$$ y = x^2 $$

## Double

<!-- check: geometry.double -->

$$ y = 2x $$
"""


def test_a_snippet_edit_rechecks_only_the_cards_linked_to_it(tmp_path: Path) -> None:
    sheet = tmp_path / "sheet.md"
    sheet.write_text(SNIPPET_SHEET, encoding="utf-8")
    snippets = tmp_path / "snippets"
    snippets.mkdir()
    (snippets / "algebra.py").write_text(
        "def square(card):\n    assert card.eq(x=3) == 9\n", encoding="utf-8")
    (snippets / "geometry.py").write_text(
        "def double(card):\n    assert card.eq(x=3) == 6\n", encoding="utf-8")
    rebuild = SheetPreview(sheet)
    try:
        update = rebuild(sheet)
        assert update.error is None and update.checks is not None
        assert snippets in update.watch
        first = {badge.title: badge.status for badge in update.checks()}
        assert first == {"Square": "pass", "Double": "pass"}
        assert rebuild.checked_cards == 2

        (snippets / "geometry.py").write_text(
            "def double(card):\n    assert card.eq(x=3) == 7, 'not seven'\n", encoding="utf-8")
        update = rebuild(sheet)
        assert update.checks is not None
        badges = {badge.title: badge for badge in update.checks()}
        assert badges["Double"].status == "fail"
        assert "not seven" in badges["Double"].message
        assert badges["Square"].status == "pass"
        assert rebuild.checked_cards == 3  # Square came from the cache
    finally:
        rebuild.close()


def _alive(pid: int) -> bool:
    """Whether `pid` is a process that has not ended (a zombie has)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _session(sid: int) -> list[str]:
    """The processes of session `sid` that have not ended, as `pid (name)`, from /proc
    (the name is in parentheses and may hold spaces: the fields follow the last one)."""
    found = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            stat = stat_file.read_text()
        except OSError:  # ended in between
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(stat[: stat.rindex(")") + 1])
    return found


def _wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    """Poll `condition` for up to `seconds` (a bounded loop; each round yields briefly)."""
    deadline = time.monotonic() + seconds
    pause = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            return False
        pause.wait(0.01)
    return True


@pytest.mark.parametrize(("signum", "whole_group"), [
    (signal.SIGINT, True),    # Ctrl-C: the terminal signals the whole foreground group
    (signal.SIGTERM, False),  # `kill PID`
    (signal.SIGHUP, True),    # the terminal closed
    (signal.SIGKILL, False),  # `kill -9 PID`: no cleanup in the preview can run
], ids=["ctrl-c", "sigterm", "sighup", "sigkill"])
def test_stopping_during_a_check_leaves_no_process_behind(
    tmp_path: Path, signum: signal.Signals, whole_group: bool
) -> None:
    sheet = tmp_path / "sheet.md"
    sheet.write_text(SNIPPET_SHEET.split("## Double")[0], encoding="utf-8")
    (tmp_path / "snippets").mkdir()
    started = tmp_path / "check-started"
    # The check under way when the signal comes: it would run for a minute. It notes
    # the pid of the snippet worker, which runs in a session of its own.
    (tmp_path / "snippets" / "algebra.py").write_text(
        "import os, pathlib, time\n"
        "def square(card):\n"
        f"    pathlib.Path({str(started) + '.tmp'!r}).write_text(str(os.getpid()))\n"
        f"    os.replace({str(started) + '.tmp'!r}, {str(started)!r})\n"
        "    time.sleep(60)\n",
        encoding="utf-8")
    child = subprocess.Popen(
        [sys.executable, "-m", "builder", "preview", str(sheet), "--port", "0", "--no-open"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        assert _wait_until(lambda: started.exists() or child.poll() is not None, 60)
        assert started.exists(), "the check never started"
        snippet_worker = int(started.read_text())
        assert _alive(snippet_worker)
        # The preview, multiprocessing's resource tracker and the checker at least.
        assert len(_session(child.pid)) >= 3, _session(child.pid)
        if whole_group:
            os.killpg(child.pid, signum)
        else:
            os.kill(child.pid, signum)
        _, errors = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    if signum == signal.SIGKILL:
        assert child.returncode == -signal.SIGKILL
    else:
        assert child.returncode == 130, errors
        assert errors == "", errors
    # The checker, its snippet worker and the resource tracker go too (at once or, after
    # SIGKILL, once they notice; then reaped by init).
    assert _wait_until(lambda: not _session(child.pid), 15), \
        f"processes of the preview outlived it: {_session(child.pid)}"
    assert _wait_until(lambda: not _alive(snippet_worker), 15), "the snippet worker outlived it"


def test_a_thousand_saves_in_two_seconds_end_on_the_last_one(
    page: tuple[Page, PreviewServer, SheetPreview], sheet: Path
) -> None:
    view, server, rebuild = page
    heading = slide_line(sheet, 29)
    text = sheet.read_text(encoding="utf-8")
    start = time.monotonic()
    for count in range(1000):
        sheet.write_text(text.replace(heading, f"{heading} save{count}x", 1), encoding="utf-8")
        while time.monotonic() < start + (count + 1) * 0.002:  # paced: 1000 saves in 2 s
            pass
    view.wait_for_function("() => sheetsPreview.slides[29]?.textContent.includes('save999x')",
                           timeout=WAIT_MS)
    assert view.evaluate("sheetsPreview.error") is None
    assert view.evaluate("sheetsPreview.slides.length") == len(parse_file(sheet).slides)
    # Coalesced, not queued; and the render cache holds the current slides only.
    assert server.rebuilds < 500
    assert server.serving
    assert len(rebuild._rendered.slides) <= len(parse_file(sheet).slides)  # type: ignore[union-attr]


@pytest.mark.parametrize("name", case_params())
def test_raw_html_in_one_slide_leaves_each_slide_one_section_of_the_page(
        browser: Browser, tmp_path: Path, name: str) -> None:
    """Issue 23's three-slide decks (tests/test_raw_html.py) in the preview's page."""
    sheet = tmp_path / f"{name}.md"
    sheet.write_text(three_slides(CASES[name]), encoding="utf-8")
    rebuild = SheetPreview(sheet)
    server = PreviewServer(sheet, rebuild, port=0)
    server.start()
    threading.Thread(target=server.run_build_loop, daemon=True).start()
    view = browser.new_page()
    try:
        view.goto(server.url)
        view.wait_for_function("() => window.sheetsPreview && sheetsPreview.version > 0",
                               timeout=WAIT_MS)
        headings = view.evaluate("""() => [...document.querySelectorAll(
            '#sheets-slides > *')].map((slide) => slide.tagName + ' ' +
            [...slide.querySelectorAll('h1')].map((h) => h.textContent).join(','))""")
        assert headings == ["SECTION One", "SECTION Two", "SECTION Three"]
    finally:
        view.close()
        server.shutdown()
        rebuild.close()


SUMMARY_SHEET = """---
marp: true
headingDivider: 2
---

## 出力サイズ

$$ O = \\frac{H + 2P + F}{S} + 1 $$

## ソフトマックス関数
<!-- chek: std.softmax -->

$$ y_k = \\frac{e^{a_k}}{\\sum_i e^{a_i}} $$

## 図

![](missing.png)

## Notes

$$ x = 1 $$
"""


def test_the_summary_counts_verdicts_lists_problems_and_jumps_to_them(
        browser: Browser, tmp_path: Path) -> None:
    """The library's verdicts (a wrong conv output size, a right softmax) and the sheet's
    warnings (a misspelt annotation, a missing image) are summed up in the corner; the
    failing card's badge says on hover which standard formula it is not."""
    path = tmp_path / "notes.md"
    path.write_text(SUMMARY_SHEET, encoding="utf-8")
    server = PreviewServer(path, SheetPreview(path), port=0)
    server.start()
    threading.Thread(target=server.run_build_loop, daemon=True).start()
    view = browser.new_page(viewport={"width": 1000, "height": 800})
    try:
        view.goto(server.url)
        view.wait_for_function("() => window.sheetsPreview && sheetsPreview.summary && "
                               "sheetsPreview.summary.counts.fail === 1", timeout=WAIT_MS)
        summary = view.evaluate("sheetsPreview.summary")
        assert summary["counts"]["pass"] == 1 and summary["warnings"] == 2
        heading = view.locator("#sheets-summary summary").inner_text()
        assert heading.startswith("1 pass · 1 fail") and heading.endswith("2 warnings")
        badge = view.locator(".sheets-badge-fail").first
        assert "convolution output size" in (badge.get_attribute("title") or "")
        passed = view.locator(".sheets-badge-pass").first
        assert "matches the standard softmax" in (passed.get_attribute("title") or "")
        view.locator("#sheets-summary summary").click()
        items = view.locator("#sheets-summary li")
        texts = [items.nth(index).inner_text() for index in range(items.count())]
        assert [text.split(": ")[1] for text in texts] == ["fail", "warning", "warning"]
        assert "chek" in texts[1] and "missing.png" in texts[2]
        items.nth(2).click()
        view.wait_for_function("() => sheetsPreview.jumped === 2", timeout=WAIT_MS)
        assert view.evaluate("sheetsPreview.slides[2].classList.contains('sheets-jumped')")
    finally:
        view.close()
        server.shutdown()
