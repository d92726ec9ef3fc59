"""The preview server (builder/serve.py) in a real headless Chromium.

The server is tested on its own with a small `rebuild` written here (it knows nothing of
builders, so any callable that returns an `Update` will do); `tests/test_preview.py`
drives it with the real builder on the seed deck. Nothing here sleeps: every wait is on
a condition in the page (Playwright's `wait_for_function`) with a timeout.
"""

from __future__ import annotations

import html
import http.client
import os
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from builder.live import Badge, PreviewServer, Update

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
WAIT_MS = 15_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


def split_rebuild(path: Path) -> Update:
    """A stand-in builder: a slide per `---` block, the text shown verbatim, a badge on
    every slide whose text says `claim:`, and an error for a front matter that says
    `broken`."""
    text = path.read_text(encoding="utf-8")  # FileNotFoundError is a bug here: see below
    front, _, body = text.partition("\n---\n")
    if "broken" in front:
        line = front[: front.index("broken")].count("\n") + 1
        return Update(error=f"{path}:{line}: front matter is broken")
    slides = tuple(
        f'<section style="height:400px;overflow:hidden"><h2>slide {index}</h2>'
        f"<pre>{html.escape(part)}</pre></section>"
        for index, part in enumerate(body.split("\n---\n"))
    )

    def checks() -> tuple[Badge, ...]:
        return tuple(
            Badge(index, f"slide {index}", 1, "fail", "claims are false")
            for index, part in enumerate(body.split("\n---\n")) if "claim:" in part
        )

    return Update(head="<style>section{background:#fff;width:600px}</style>",
                  slides=slides, title=path.name, checks=checks)


class Preview:
    """A running server and one page showing it."""

    def __init__(self, server: PreviewServer, page: Page) -> None:
        self.server = server
        self.page = page

    def wait(self, expression: str, arg: object = None) -> None:
        self.page.wait_for_function(expression, arg=arg, timeout=WAIT_MS)

    def wait_version_after(self, version: int) -> None:
        self.wait("v => window.sheetsPreview && window.sheetsPreview.version > v", version)

    def version(self) -> int:
        return int(self.page.evaluate("window.sheetsPreview.version"))


def start(sheet: Path, rebuild: Callable[[Path], Update]) -> PreviewServer:
    server = PreviewServer(sheet, rebuild, port=0)
    server.start()
    threading.Thread(target=server.run_build_loop, daemon=True).start()
    return server


@pytest.fixture
def sheet(tmp_path: Path) -> Path:
    path = tmp_path / "deck.md"
    slides = "\n---\n".join(f"text of slide {i}" for i in range(40))
    path.write_text(f"title: test\n---\n{slides}", encoding="utf-8")
    return path


@pytest.fixture
def preview(browser: Browser, sheet: Path) -> Iterator[Preview]:
    server = start(sheet, split_rebuild)
    page = browser.new_page(viewport={"width": 800, "height": 600})
    page.goto(server.url)
    result = Preview(server, page)
    result.wait("() => window.sheetsPreview && window.sheetsPreview.slides.length === 40")
    yield result
    page.close()
    server.shutdown()


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_edit_replaces_only_the_changed_slide_and_keeps_the_scroll(
    preview: Preview, sheet: Path
) -> None:
    page = preview.page
    page.evaluate("""() => {
        window.firstSlide = sheetsPreview.slides[0];
        window.thirtiethSlide = sheetsPreview.slides[29];
        sheetsPreview.slides[20].scrollIntoView();
    }""")
    scroll = page.evaluate("window.scrollY")
    assert scroll > 0
    replace_in(sheet, "text of slide 29", "edited slide 29")
    preview.wait("() => sheetsPreview.slides[29].textContent.includes('edited slide 29')")
    assert page.evaluate("sheetsPreview.slides[0] === window.firstSlide")
    assert page.evaluate("sheetsPreview.slides[29] !== window.thirtiethSlide")
    assert page.evaluate("window.scrollY") == scroll
    assert page.evaluate("document.querySelectorAll('#sheets-slides > section').length") == 40


def test_scroll_stays_on_the_slide_in_view_when_slides_above_grow(
    preview: Preview, sheet: Path
) -> None:
    page = preview.page
    page.evaluate("sheetsPreview.slides[20].scrollIntoView()")
    top = page.evaluate("sheetsPreview.slides[20].getBoundingClientRect().top")
    version = preview.version()
    replace_in(sheet, "text of slide 3", "text of slide 3\n" + "more\n" * 60)
    preview.wait_version_after(version)
    assert page.evaluate("sheetsPreview.slides[3].textContent.includes('more')")
    assert page.evaluate("sheetsPreview.slides[20].getBoundingClientRect().top") == top


def test_added_and_removed_slides(preview: Preview, sheet: Path) -> None:
    replace_in(sheet, "text of slide 39", "text of slide 39\n---\nslide forty")
    preview.wait("() => sheetsPreview.slides.length === 41")
    replace_in(sheet, "text of slide 39\n---\nslide forty", "last")
    preview.wait("() => sheetsPreview.slides.length === 40")
    assert preview.page.evaluate(
        "document.querySelectorAll('#sheets-slides > section').length") == 40


def test_broken_front_matter_shows_an_overlay_over_the_last_good_render(
    preview: Preview, sheet: Path
) -> None:
    page = preview.page
    replace_in(sheet, "title: test", "title: broken")
    preview.wait("() => !document.getElementById('sheets-overlay').hidden")
    assert page.inner_text("#sheets-overlay") == f"{sheet.absolute()}:1: front matter is broken"
    assert page.evaluate("sheetsPreview.slides.length") == 40
    assert "text of slide 5" in page.inner_text("#sheets-slides")
    replace_in(sheet, "title: broken", "title: fixed")
    preview.wait("() => document.getElementById('sheets-overlay').hidden")


def test_badges_arrive_after_the_render(preview: Preview, sheet: Path) -> None:
    page = preview.page
    badges = page.evaluate("sheetsPreview.badgeVersion")
    replace_in(sheet, "text of slide 7", "claim: 1 = 2")
    preview.wait("b => sheetsPreview.badgeVersion > b && "
                 "document.querySelectorAll('.sheets-badge').length === 1", badges)
    badge = page.locator(".sheets-badge")
    assert badge.get_attribute("data-status") == "fail"
    assert "claims are false" in (badge.get_attribute("title") or "")
    # The badge sits in slide 7's heading, and survives a redraw of another slide.
    assert page.evaluate("sheetsPreview.slides[7].querySelector('h2 .sheets-badge') !== null")
    version = preview.version()
    replace_in(sheet, "text of slide 8", "text of slide eight")
    preview.wait_version_after(version)
    assert page.evaluate("sheetsPreview.slides[7].querySelector('.sheets-badge') !== null")


def test_delete_recreate_rename_and_a_burst_of_saves(preview: Preview, sheet: Path) -> None:
    page = preview.page
    text = sheet.read_text(encoding="utf-8")

    sheet.unlink()
    preview.wait("() => !document.getElementById('sheets-overlay').hidden")
    assert "deck.md" in page.inner_text("#sheets-overlay")
    sheet.write_text(text.replace("text of slide 1\n", "recreated\n"), encoding="utf-8")
    preview.wait("() => document.getElementById('sheets-overlay').hidden && "
                 "sheetsPreview.slides[1]?.textContent.includes('recreated')")

    # As vim does: write a new file beside it, then rename it over the sheet.
    temporary = sheet.with_name("deck.md.swp~")
    temporary.write_text(text.replace("text of slide 2\n", "renamed\n"), encoding="utf-8")
    os.replace(temporary, sheet)
    preview.wait("() => sheetsPreview.slides[2]?.textContent.includes('renamed')")

    rebuilds = preview.server.rebuilds
    for count in range(1000):
        sheet.write_text(text.replace("text of slide 3\n", f"save {count}\n"),
                         encoding="utf-8")
    preview.wait("() => sheetsPreview.slides[3]?.textContent.includes('save 999')")
    # The saves were coalesced, not queued: far fewer rebuilds than saves.
    assert preview.server.rebuilds - rebuilds < 500
    assert page.evaluate("sheetsPreview.error") is None
    assert preview.server.serving


def test_a_bug_in_rebuild_is_shown_and_the_server_keeps_running(
    browser: Browser, sheet: Path
) -> None:
    def fragile(path: Path) -> Update:
        if "crash" in path.read_text(encoding="utf-8"):
            raise ZeroDivisionError("division by zero")
        return split_rebuild(path)

    server = start(sheet, fragile)
    page = browser.new_page()
    try:
        page.goto(server.url)
        page.wait_for_function("() => window.sheetsPreview && sheetsPreview.slides.length === 40",
                               timeout=WAIT_MS)
        replace_in(sheet, "text of slide 0", "crash")
        page.wait_for_function("() => !document.getElementById('sheets-overlay').hidden",
                               timeout=WAIT_MS)
        assert "ZeroDivisionError" in page.inner_text("#sheets-overlay")
        replace_in(sheet, "crash", "calm")
        page.wait_for_function(
            "() => document.getElementById('sheets-overlay').hidden && "
            "sheetsPreview.slides[0].textContent.includes('calm')", timeout=WAIT_MS)
    finally:
        page.close()
        server.shutdown()


# -- what the server hands out -------------------------------------------------------


def get(server: PreviewServer, path: str, headers: dict[str, str] | None = None) -> int:
    """The status of a GET sent exactly as written (http.client does not normalise)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
        for name, value in {"Host": f"127.0.0.1:{server.port}", **(headers or {})}.items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        if response.getheader("Content-Type") != "text/event-stream":
            response.read()
        return response.status
    finally:
        connection.close()


@pytest.fixture
def server(sheet: Path) -> Iterator[PreviewServer]:
    (sheet.parent / "img").mkdir()
    (sheet.parent / "img" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    server = start(sheet, split_rebuild)
    yield server
    server.shutdown()


@pytest.mark.parametrize("path", [
    "/../../etc/passwd",
    "/img/../../../etc/passwd",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
    "/img/..%2f..%2f..%2fetc/passwd",
    "/..%5c..%5cetc/passwd",
    "/%252e%252e/etc/passwd",
    "/%00/etc/passwd",
    "/%ff%fe",
    "/outside/passwd",
    "/passwd-link",
    "/img",
    "/missing.png",
])
def test_paths_outside_the_sheets_directory_are_not_found(
    server: PreviewServer, path: str
) -> None:
    (server.root / "outside").symlink_to("/etc")
    (server.root / "passwd-link").symlink_to("/etc/passwd")
    assert get(server, path) == 404


def test_files_under_the_sheets_directory_are_served(server: PreviewServer) -> None:
    assert get(server, "/img/a.png") == 200
    assert get(server, "/img/%61.png") == 200
    assert get(server, "/deck.md") == 200
    assert get(server, "/") == 200


def test_the_push_channel_takes_only_the_pages_own_origin(server: PreviewServer) -> None:
    own = f"http://127.0.0.1:{server.port}"
    assert get(server, "/_sheets/events", {"Origin": "http://evil.example"}) == 403
    assert get(server, "/_sheets/events", {"Origin": "null"}) == 403
    assert get(server, "/_sheets/events", {"Sec-Fetch-Site": "cross-site"}) == 403
    assert get(server, "/", {"Host": "evil.example"}) == 403
    assert get(server, "/_sheets/events", {"Origin": own, "Sec-Fetch-Site": "same-origin"}) \
        == 200


def test_a_page_from_another_origin_cannot_subscribe(
    browser: Browser, server: PreviewServer, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "index.md").write_text("x", encoding="utf-8")
    evil = start(other / "index.md", split_rebuild)
    page = browser.new_page()
    try:
        page.goto(evil.url)
        outcome = page.evaluate("""url => new Promise(resolve => {
            const source = new EventSource(url);
            source.addEventListener('update', () => { source.close(); resolve('update'); });
            source.onerror = () => { source.close(); resolve('refused'); };
        })""", server.url + "_sheets/events")
        assert outcome == "refused"
    finally:
        page.close()
        evil.shutdown()


def test_binds_loopback_only(server: PreviewServer) -> None:
    assert server.server_address[0] == "127.0.0.1"
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", server.url)



def test_no_browser_is_opened_without_a_display(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import webbrowser

    import builder.live.server as serve

    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda url, *args, **kwargs: opened.append(url))
    monkeypatch.setattr(sys, "platform", "linux")  # the module serve reads it from
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    serve.open_browser("http://127.0.0.1:1/")
    assert opened == []
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    serve.open_browser("http://127.0.0.1:1/")
    assert opened == ["http://127.0.0.1:1/"]


def test_the_page_asks_for_no_favicon(browser: Browser, sheet: Path) -> None:
    server = start(sheet, split_rebuild)
    page = browser.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    try:
        page.goto(server.url)
        page.wait_for_function("() => window.sheetsPreview && sheetsPreview.slides.length === 40",
                               timeout=WAIT_MS)
        assert requested, "the page's own requests were not seen"
        assert not [url for url in requested if "favicon" in url], requested
        # Headless Chromium asks for no favicon either way; a windowed browser asks for
        # /favicon.ico (a 404 in its console) unless the page names an icon of its own.
        assert page.evaluate("document.querySelector('link[rel~=icon]')?.href") == "data:,"
    finally:
        page.close()
        server.shutdown()


def test_update_scripts_are_loaded_once_and_no_other_file_by_their_path(
    browser: Browser, sheet: Path, tmp_path: Path
) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-scripts"
    outside.mkdir()
    script = outside / "counter.js"  # outside the sheet's directory, as node_modules is
    script.write_text("window.counterLoads = (window.counterLoads || 0) + 1;\n",
                      encoding="utf-8")
    (outside / "secret.js").write_text("secret\n", encoding="utf-8")

    def with_script(path: Path) -> Update:
        update = split_rebuild(path)
        return Update(head=update.head, slides=update.slides, title=update.title,
                      scripts=(script,))

    server = start(sheet, with_script)
    page = browser.new_page()
    try:
        page.goto(server.url)
        page.wait_for_function("() => window.counterLoads === 1", timeout=WAIT_MS)
        version = page.evaluate("sheetsPreview.version")
        replace_in(sheet, "text of slide 3", "edited slide 3")
        page.wait_for_function("v => sheetsPreview.version > v", arg=version, timeout=WAIT_MS)
        assert page.evaluate("window.counterLoads") == 1
        assert get(server, "/_sheets/scripts/counter.js") == 200
        assert get(server, "/_sheets/scripts/secret.js") == 404
        assert get(server, "/_sheets/scripts/..%2Fsecret.js") == 404
    finally:
        page.close()
        server.shutdown()


def test_the_sheet_is_built_and_named_as_the_command_line_named_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`sheets preview notes.md` says `notes.md:1: …`, as `sheets check notes.md` does
    (a new-user trial saw the preview print the absolute path)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.md").write_text("broken\n---\nslide\n", encoding="utf-8")
    named: list[Path] = []

    def rebuild(path: Path) -> Update:
        named.append(path)
        return split_rebuild(path)

    server = PreviewServer(Path("notes.md"), rebuild, port=0)
    try:
        server._build_and_publish()
        assert named == [Path("notes.md")]
        assert server.state().error == "notes.md:1: front matter is broken"
    finally:
        server.server_close()
