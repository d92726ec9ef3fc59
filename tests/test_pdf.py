"""The pdf stage with the real Chromium: pages, size, metadata, outline, overflow,
missing images, atomic writes, and no processes or profiles left behind."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pikepdf
import pytest

from builder.model import BuildError, SourceLoc
from builder.pdf import (
    BrowserError,
    OutlineEntry,
    PdfJob,
    PdfMetadata,
    PdfPrinter,
    PdfResult,
    SlideMeasure,
    find_chromium,
)

ROOT = Path(__file__).resolve().parent.parent
A4_POINTS = (595.28, 841.89)


def deck_page(*bodies: str, head: str = "") -> str:
    """A page laid out as render.py lays out a deck: A4 sections in div.marpit."""
    sections = "".join(f"<section>{body}</section>" for body in bodies)
    return f"""<!DOCTYPE html><html lang="ja"><head><meta charset="utf-8"><title>t</title>
<style>
body {{ margin: 0; }}
section {{ width: 794px; height: 1123px; box-sizing: border-box; padding: 60px;
  overflow: hidden; position: relative; font-family: 'Noto Sans CJK JP', sans-serif;
  background: #fffbe8; break-after: page; }}
</style>{head}</head><body><div class="marpit">{sections}</div></body></html>"""


def job_for(document: str, output: Path, count: int, **fields: object) -> PdfJob:
    sheet = output.parent / "sheet.md"
    locs = tuple(SourceLoc(sheet, 1 + 10 * index) for index in range(count))
    return PdfJob(document=document, output=output, slide_locs=locs, **fields)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PdfResult, Path, int]]:
    """One PDF for the assertions below: 4 slides, one overflowing, one with a missing
    image; yields the result, the file and the browser's process group."""
    out = tmp_path_factory.mktemp("printed")
    document = deck_page(
        "<h1>固有方程式</h1><p>det(λI − A) = 0</p>",
        "<h2>Second</h2>" + "<p>line</p>" * 80,
        "<h3>Third</h3><img src='missing.png'>",
        "<p>untitled</p>",
    )
    job = job_for(
        document, out / "deck.pdf", 4,
        outline=(OutlineEntry("固有方程式", 1, 0), OutlineEntry("Second", 2, 1),
                 OutlineEntry("Third", 3, 2)),
        metadata=PdfMetadata(title="E資格 まとめ", author="Author A", subject="about",
                             lang="ja"),
        base_dir=out,
    )
    with PdfPrinter() as printer:
        assert printer.browser is not None
        group, profile = printer.browser.pid, printer.browser.profile
        result = printer.build(job)
    assert not profile.exists()
    yield result, out / "deck.pdf", group or 0


def test_one_a4_page_per_slide(printed: tuple[PdfResult, Path, int]) -> None:
    result, path, _ = printed
    with pikepdf.open(path) as pdf:
        assert result.pages == len(pdf.pages) == 4
        for page in pdf.pages:
            width, height = float(page.mediabox[2]), float(page.mediabox[3])
            assert abs(width - A4_POINTS[0]) < 2 and abs(height - A4_POINTS[1]) < 2


def test_metadata_and_nested_outline(printed: tuple[PdfResult, Path, int]) -> None:
    _, path, _ = printed
    with pikepdf.open(path) as pdf:
        assert str(pdf.docinfo["/Title"]) == "E資格 まとめ"
        assert str(pdf.docinfo["/Author"]) == "Author A"
        assert str(pdf.docinfo["/Subject"]) == "about"
        with pdf.open_outline() as outline:
            (top,) = outline.root
            assert top.title == "固有方程式"
            (second,) = top.children
            assert second.title == "Second"
            assert [item.title for item in second.children] == ["Third"]


def test_text_is_searchable(printed: tuple[PdfResult, Path, int]) -> None:
    _, path, _ = printed
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "固有方程式" in text


def test_overflow_and_missing_image_are_reported_at_the_slide(
        printed: tuple[PdfResult, Path, int]) -> None:
    result, path, _ = printed
    messages = [f"{d.loc}: {d.message}" for d in result.diagnostics]
    sheet = path.parent / "sheet.md"
    assert len(messages) == 2, messages
    assert messages[0].startswith(f"{sheet}:11: slide 2 overflows its page by ")
    assert int(messages[0].split(" by ")[1].split()[0]) > 100
    assert messages[1] == f"{sheet}:21: slide 3: image not found: missing.png"


def test_no_browser_process_or_temp_file_left(printed: tuple[PdfResult, Path, int]) -> None:
    _, path, group = printed
    with pytest.raises(ProcessLookupError):
        os.killpg(group, 0)
    assert sorted(p.name for p in path.parent.iterdir()) == ["deck.pdf"]


def _fake_executables(directory: Path, *names: str) -> None:
    for name in names:
        (directory / name).write_text("#!/bin/sh\n", encoding="utf-8")
        (directory / name).chmod(0o755)


def test_the_headless_shell_is_preferred_to_the_full_browser(tmp_path: Path) -> None:
    _fake_executables(tmp_path, "chromium", "chromium-headless-shell")
    assert find_chromium({"PATH": str(tmp_path)}) == tmp_path / "chromium-headless-shell"
    (tmp_path / "chromium-headless-shell").unlink()
    assert find_chromium({"PATH": str(tmp_path)}) == tmp_path / "chromium"
    _fake_executables(tmp_path, "mine")
    assert find_chromium({"PATH": str(tmp_path), "CHROME_PATH": str(tmp_path / "mine")}) == (
        tmp_path / "mine")


def test_missing_chromium_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(BuildError) as caught:
        find_chromium({"PATH": str(tmp_path), "CHROME_PATH": str(tmp_path / "nope")})
    assert "install" in str(caught.value) and "\n" not in str(caught.value)


# A build that never finishes on its own: the page's ready promise never resolves.
_HANGING_BUILD = """
import sys
from pathlib import Path
from builder.model import SourceLoc
from builder.pdf import PdfJob, PdfPrinter
out = Path(sys.argv[1])
document = sys.stdin.read()
with PdfPrinter() as printer:
    printer.build(PdfJob(document, out, (SourceLoc(out, 1),)))
"""


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_interrupted_build_leaves_old_pdf_and_nothing_running(
        tmp_path: Path, signum: int) -> None:
    output = tmp_path / "deck.pdf"
    old = b"%PDF-1.4 the previous build\n"
    output.write_bytes(old)
    document = deck_page("<h1>never printed</h1>",
                         head="<script>window.sheetsReady = new Promise(() => {});</script>")
    build = subprocess.Popen([sys.executable, "-c", _HANGING_BUILD, str(output)],
                             stdin=subprocess.PIPE, cwd=ROOT, text=True)
    assert build.stdin is not None
    build.stdin.write(document)
    build.stdin.close()
    # Wait until the build is mid-way: Chromium runs and the page is written into its
    # profile (from there on the build cannot finish by itself).
    deadline = time.monotonic() + 30
    browsers: list[int] = []
    profile = Path("/nonexistent")
    while time.monotonic() < deadline and build.poll() is None:
        browsers = browsers or _children_of(build.pid)
        if browsers:
            # Before its exec, the child's command line is still Python's.
            arguments = Path(f"/proc/{browsers[0]}/cmdline").read_bytes().decode().split("\0")
            profile = Path(next((argument.split("=", 1)[1] for argument in arguments
                                 if argument.startswith("--user-data-dir=")), "/nonexistent"))
            if (profile / "deck.html").exists():
                break
    assert (profile / "deck.html").exists(), "the build never got to printing"
    build.send_signal(signum)
    assert build.wait(timeout=30) != 0
    assert output.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deck.pdf"]
    with pytest.raises(ProcessLookupError):
        os.killpg(browsers[0], 0)
    assert not profile.exists()
    assert profile.parent == Path(tempfile.gettempdir())


def _page_texts(path: Path) -> list[str]:
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                          text=True, check=True).stdout
    return [page.strip() for page in text.split("\f")[:-1]]


def test_rebuild_prints_only_the_changed_slides(tmp_path: Path) -> None:
    bodies = [f"<h2>slide {number}</h2><p>text {number}</p>" for number in range(1, 6)]
    output = tmp_path / "out" / "deck.pdf"

    def build(slides: list[str], printer: PdfPrinter, title: str | None = "Deck") -> PdfResult:
        fragments = tuple(f"<section>{body}</section>" for body in slides)
        document = deck_page(*slides)
        outline = tuple(OutlineEntry(body.split("</h2>")[0][4:], 2, index)
                        for index, body in enumerate(slides))
        return printer.build(job_for(document, output, len(slides), slides=fragments,
                                     outline=outline, metadata=PdfMetadata(title=title)))

    def outline_and_title() -> tuple[list[str], str | None]:
        with pikepdf.open(output) as pdf, pdf.open_outline() as outline:
            title = pdf.docinfo.get("/Title")
            return [item.title for item in outline.root], None if title is None else str(title)

    with PdfPrinter(cache_dir=tmp_path / "cache") as printer:
        first = build(bodies, printer)
        assert first.printed == 5
        edited = [*bodies[:2], "<h2>slide 3</h2><p>edited, with a missing <img src='x.png'></p>",
                  *bodies[3:]]
        # Patched in place of the last build's page 3: its outline and title are replaced,
        # not added to, and a title no longer given is gone.
        second = build(edited, printer, title=None)
        assert (second.printed, second.pages) == (1, 5)
        assert [d.message for d in second.diagnostics] == ["slide 3: image not found: x.png"]
        assert second.diagnostics[0].loc.line == 21
        pages = _page_texts(output)
        assert "edited" in pages[2] and all("edited" not in pages[i] for i in (0, 1, 3, 4))
        assert [page.split()[:2] for page in pages] == [["slide", str(n)] for n in range(1, 6)]
        assert outline_and_title() == ([f"slide {n}" for n in range(1, 6)], None)
        # A slide removed: nothing to print, the pages close up.
        third = build(edited[:1] + edited[2:], printer)
        assert (third.printed, third.pages) == (0, 4)
        assert [page.split()[1] for page in _page_texts(output)] == ["1", "3", "4", "5"]
        assert third.diagnostics[0].loc.line == 11  # slide 3 is now the second slide
        assert outline_and_title() == (["slide 1", "slide 3", "slide 4", "slide 5"], "Deck")


def test_a_page_of_slides_without_diagrams_leaves_the_diagram_scripts_out() -> None:
    from builder.pdf.parts import page_of

    prefix = "<html><head><script>window.viewer = 1;</script></head><body><div>"
    suffix = ("</div><script data-diagrams>/* mermaid: 3.5 MB */</script>\n"
              "<script data-diagrams>window.sheetsReady = mermaid.run();</script>"
              "<script>keys(); /* waits for mermaid */</script></body></html>")
    plain = "<section><p>text</p></section>"
    diagram = '<section><div class="mermaid">graph TD; a-->b</div></section>'
    assert page_of(prefix, [plain], suffix) == (
        prefix + plain + "</div>\n<script>keys(); /* waits for mermaid */</script></body></html>")
    assert page_of(prefix, [plain, diagram], suffix) == prefix + plain + diagram + suffix
    linked = suffix.replace("<script data-diagrams>/* mermaid: 3.5 MB */",
                            '<script data-diagrams src="file:///mermaid.min.js">')
    assert page_of(prefix, [plain], linked) == page_of(prefix, [plain], suffix)
    kept = '<script data-diagramsx>1</script>'  # another element, not render.py's
    assert page_of(prefix, [plain], suffix + kept).endswith(kept)


def test_without_mermaids_module_build_the_diagrams_page_runs_the_inlined_library(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import builder.pdf.parts as parts_module

    prefix = "<html><head></head><body><div>"
    suffix = ("</div><script data-diagrams>/* mermaid: 3.5 MB */</script>\n"
              "<script data-diagrams>window.sheetsReady = mermaid.run();</script></body></html>")
    diagram = '<section><div class="mermaid">graph TD; a-->b</div></section>'
    fragments = ["<section><p>text</p></section>", diagram]
    document = prefix + "".join(fragments) + suffix
    drawn_apart = parts_module.pages_to_print(document, fragments, 1).diagrams
    assert drawn_apart is not None and 'type="module"' in drawn_apart
    monkeypatch.setattr(parts_module, "_MERMAID_MODULE", tmp_path / "missing.mjs")
    assert parts_module.pages_to_print(document, fragments, 1).diagrams == \
        prefix + diagram + suffix


def test_parts_join_in_order_whichever_were_read_in_while_the_last_printed() -> None:
    import io

    from builder.pdf.parts import joined, read_in

    def part(*widths: int) -> bytes:
        pdf = pikepdf.new()
        for width in widths:
            pdf.add_blank_page(page_size=(width, 100))
        data = io.BytesIO()
        pdf.save(data)
        return data.getvalue()

    for first, second in ((part(10, 20), part(30)), (read_in(part(10, 20)), read_in(part(30)))):
        with joined([first, second, part(40, 50)]) as pdf:
            assert [int(page.mediabox[2]) for page in pdf.pages] == [10, 20, 30, 40, 50]


def test_answered_reads_what_has_come_without_waiting() -> None:
    from builder.pdf import Browser

    with Browser(find_chromium()) as browser, browser.tab(200, 200) as tab:
        slow = tab.send("Runtime.evaluate", {
            "expression": "new Promise((done) => setTimeout(() => done(7), 400))",
            "awaitPromise": True, "returnByValue": True})
        assert not browser.answered(slow)  # the promise takes 0.4 s
        while not browser.answered(slow):  # reads what has come, never waits for more
            # Wake when Chromium writes again (the answer, or an event before it).
            readable, _, _ = select.select([browser.fileno()], [], [], 30)
            assert readable, "the answer never came"
        assert browser.receive(slow)["result"]["value"] == 7


def test_ctrl_c_while_closing_the_browser_still_cleans_up(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import builder.pdf.browser as browser_module
    from builder.pdf import Browser

    browser = Browser(find_chromium())
    group, profile = browser.pid, browser.profile
    assert group is not None and profile.exists()
    reap = browser_module.reap_group

    def reap_after_ctrl_c(group: int) -> None:  # Ctrl-C lands in the middle of close()
        # At the main thread, which blocks it while it closes: sent to the process, the
        # signal would go to another thread (one an earlier test left) and reach Python
        # whenever the main thread next looked, maybe after this test.
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
        reap(group)

    monkeypatch.setattr(browser_module, "reap_group", reap_after_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        browser.close()
    assert not profile.exists()
    with pytest.raises(ProcessLookupError):
        os.killpg(group, 0)


def test_every_job_is_printed_and_chromium_stops_after_the_last(tmp_path: Path) -> None:
    from builder.pdf import build_pdfs

    jobs = [job_for(deck_page(*[f"<p>deck {deck} slide {n}</p>" for n in range(count)]),
                    tmp_path / f"deck{deck}.pdf", count)
            for deck, count in ((1, 2), (2, 3))]
    with PdfPrinter() as printer:
        assert printer.browser is not None
        process = printer.browser._process
        results = list(build_pdfs(jobs, printer=printer))
        assert [(result.output.name, result.pages) for result in results] == [
            ("deck1.pdf", 2), ("deck2.pdf", 3)]
        assert process is not None and process.wait(timeout=5) == -signal.SIGKILL
        with pytest.raises(RuntimeError, match="last job"):
            printer.build(jobs[0])
    assert "deck 2 slide 2" in _page_texts(tmp_path / "deck2.pdf")[2]


def test_a_slide_pages_long_is_told_how_to_split_it(tmp_path: Path) -> None:
    from builder.pdf.measure import diagnostics

    job = job_for(deck_page("<p>a</p>", "<p>b</p>"), tmp_path / "deck.pdf", 2)
    found = diagnostics(job, [SlideMeasure(794, 1123, overflow_y=40, overflow_x=0),
                              SlideMeasure(794, 1123, overflow_y=3000, overflow_x=0)])
    assert [d.message for d in found] == [
        "slide 1 overflows its page by 40 px",
        ("slide 2 overflows its page by 3000 px: its content needs about 4 pages; split it "
         "with `---` or a `headingDivider` directive")]


def test_a_failed_job_leaves_the_next_one_a_working_page(tmp_path: Path) -> None:
    empty = job_for("<!DOCTYPE html><html><body><p>no slides</p></body></html>",
                    tmp_path / "empty.pdf", 0)
    deck = job_for(deck_page("<p>first</p>", "<p>second</p>"), tmp_path / "deck.pdf", 2)
    with PdfPrinter() as printer:
        first = printer.build(deck)
        with pytest.raises(BrowserError, match="no slides"):
            printer.build(empty)
        again = printer.build(deck)
    assert (first.pages, again.pages) == (2, 2)
    assert not (tmp_path / "empty.pdf").exists()
    assert [page.split() for page in _page_texts(tmp_path / "deck.pdf")[:2]] == [
        ["first"], ["second"]]


def test_slides_are_cut_into_runs_of_about_equal_html() -> None:
    from builder.pdf.parts import balanced

    fragments = [f"<section>{'x' * size}</section>" for size in (10, 500, 20, 480, 30, 30)]
    halves = balanced(fragments, 2)
    assert [len(half) for half in halves] == [3, 3]  # 530 and 540 x's
    assert [fragment for half in halves for fragment in half] == fragments
    assert balanced(fragments[:2], 4) == [[fragments[0]], [fragments[1]]]
    assert balanced(fragments, 1) == [fragments]


def test_a_page_with_in_page_links_or_counters_is_printed_whole() -> None:
    from builder.pdf.parts import splittable

    plain = ["<section><p>a</p></section>", "<section><p>b</p></section>"]
    assert splittable("<style>section { color: red }</style>", plain)
    assert not splittable("<style>section { counter-increment: n }</style>", plain)
    assert not splittable("", [*plain, '<section><a href="#2">to 2</a></section>'])


PARTED = """---
marp: true
title: Parted
---

{slides}
"""


def test_a_big_page_printed_in_parts_is_one_pdf_in_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three parts, each in its own renderer (forced: the deck is small): the pages come
    back in order, each diagram drawn on its own page, the outline on the right pages."""
    import builder.pdf.parts as parts_module
    import builder.pdf.printer as pdf_module
    from builder import cli

    slides = []
    for number in range(1, 8):
        body = f"# Title {number}\n\nword{number}"
        if number in (2, 6):
            body += f"\n\n```mermaid\ngraph TD; A[Node{number}a] --> B[Node{number}b]\n```"
        slides.append(body)
    sheet = tmp_path / "parted.md"
    sheet.write_text(PARTED.format(slides="\n\n---\n\n".join(slides)), encoding="utf-8")
    seen: list[int] = []
    pages_of = parts_module.pages_to_print

    def three_parts(document: str, fragments: list[str], parts: int) -> object:
        pages = pages_of(document, fragments, 3)
        seen.append(len(pages.parts))
        # The diagrams are drawn by a page of their own, with mermaid's ES module build.
        assert pages.diagrams is not None and "mermaid.esm.min.mjs" in pages.diagrams
        assert "<script data-diagrams" not in pages.diagrams
        # The page printed links the library render.py would inline in an HTML file.
        assert '<script data-diagrams src="file:///' in document and len(document) < 1_000_000
        return pages

    monkeypatch.setattr(pdf_module, "pages_to_print", three_parts)
    monkeypatch.setenv("SHEETS_CACHE_DIR", str(tmp_path / "cache"))
    assert cli.main(["build", str(sheet), "-o", str(tmp_path / "out")]) == 0
    assert seen == [3]
    output = tmp_path / "out" / "parted.pdf"
    texts = _page_texts(output)
    assert len(texts) == 7
    for number, text in enumerate(texts, start=1):
        words = set(text.split())
        assert f"word{number}" in words and f"{number}" in words
        nodes = {word for word in words if word.startswith("Node")}
        assert nodes == ({f"Node{number}a", f"Node{number}b"} if number in (2, 6) else set())
    with pikepdf.open(output) as pdf, pdf.open_outline() as outline:
        assert [(item.title, pdf.pages.index(_first(item.destination)))
                for item in outline.root] == [(f"Title {n}", n - 1) for n in range(1, 8)]


def test_a_part_the_drawn_diagrams_do_not_fit_draws_its_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the diagrams drawn aside cannot be put into a part (raw HTML the split
    misread), that part is loaded again with the diagram library and draws them itself."""
    import builder.pdf.parts as parts_module
    import builder.pdf.printer as pdf_module
    from builder import cli

    slides = [f"# Title {number}\n\nword{number}" + (
        f"\n\n```mermaid\ngraph TD; A[Node{number}a] --> B[Node{number}b]\n```"
        if number in (1, 4) else "") for number in range(1, 5)]
    sheet = tmp_path / "own.md"
    sheet.write_text(PARTED.format(slides="\n\n---\n\n".join(slides)), encoding="utf-8")
    pages_of = parts_module.pages_to_print
    monkeypatch.setattr(pdf_module, "pages_to_print",
                        lambda document, fragments, parts: pages_of(document, fragments, 2))
    monkeypatch.setattr(pdf_module, "_PUT_DIAGRAMS", "((drawn) => false)")
    monkeypatch.setenv("SHEETS_CACHE_DIR", str(tmp_path / "cache"))
    assert cli.main(["build", str(sheet), "-o", str(tmp_path / "out")]) == 0
    texts = [set(text.split()) for text in _page_texts(tmp_path / "out" / "own.pdf")]
    assert [{word for word in words if word.startswith("Node")} for words in texts] == [
        {"Node1a", "Node1b"}, set(), set(), {"Node4a", "Node4b"}]


def _build_that_must_not_hang(tmp_path: Path) -> BaseException | None:
    """Build a one-slide job (with a page cache, so the cache-key thread runs) in a
    thread given a minute; what it raised, if anything. Fails if it hangs."""
    import threading

    job = job_for(deck_page("<p>a</p>"), tmp_path / "deck.pdf", 1)
    raised: list[BaseException] = []

    def build() -> None:
        with PdfPrinter(cache_dir=tmp_path / "cache") as printer:
            try:
                printer.build(job)
            except BaseException as error:
                raised.append(error)

    worker = threading.Thread(target=build, daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "the build hung"
    assert not (tmp_path / "deck.pdf").exists()
    return raised[0] if raised else None


def test_a_print_that_fails_before_loading_raises_and_does_not_hang(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The thread that makes the cache keys waits for the pages to be loading: a print
    that fails before that must still let it go (it once waited forever)."""
    import builder.pdf.printer as pdf_module

    def broken(*args: object) -> object:
        raise RuntimeError("broken before loading")

    monkeypatch.setattr(pdf_module, "pages_to_print", broken)
    error = _build_that_must_not_hang(tmp_path)
    assert isinstance(error, RuntimeError) and str(error) == "broken before loading"


def test_ctrl_c_as_the_key_thread_starts_does_not_hang_the_build(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C landing just after the cache-key thread was handed its work (before the
    print began) once left that thread waiting for the pages forever, and the process
    with it, at exit."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import builder.pdf.printer as pdf_module

    class InterruptedAfterSubmit(ThreadPoolExecutor):
        def submit(self, *args: object, **kwargs: object) -> object:  # type: ignore[override]
            super().submit(*args, **kwargs)  # type: ignore[arg-type]
            raise KeyboardInterrupt

    monkeypatch.setattr(pdf_module, "ThreadPoolExecutor", InterruptedAfterSubmit)
    before = set(threading.enumerate())
    assert isinstance(_build_that_must_not_hang(tmp_path), KeyboardInterrupt)
    for thread in set(threading.enumerate()) - before:  # the key thread ends too
        thread.join(timeout=10)
        assert not thread.is_alive(), f"{thread.name} still waits"


def test_a_page_that_loses_slides_is_an_error_at_the_first_missing_one(tmp_path: Path) -> None:
    # A page not made by render (which closes each slide's HTML): slide 2's stray
    # </div> closes div.marpit, and slide 3 falls outside it, where nothing prints.
    document = deck_page("<h1>One</h1>", "<h1>Two</h1></div>", "<h1>Three</h1>")
    for number in (1, 2, 3):  # ids as render gives them
        document = document.replace("<section>", f"<section id='{number}'>", 1)
    out = tmp_path / "deck.pdf"
    out.write_bytes(b"the last good PDF")
    with PdfPrinter() as printer:
        result = printer.build(job_for(document, out, 3), last=True)
    assert not result.written
    (error,) = result.diagnostics
    assert error.severity == "error" and error.loc == SourceLoc(tmp_path / "sheet.md", 21)
    assert error.message.startswith("slide 3 is missing from the PDF (")
    assert out.read_bytes() == b"the last good PDF"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["deck.pdf"]


def _first(destination: object) -> pikepdf.Page:
    """The page an outline item's explicit destination (`[page /XYZ …]`) points at."""
    assert isinstance(destination, pikepdf.Array)
    return pikepdf.Page(destination[0])
