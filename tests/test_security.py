"""A sheet cannot run script in its reader's browser (issue 21): every place a sheet's
text reaches the page goes through Marp's allowlist, math links keep only safe
protocols, and the page carries a Content-Security-Policy that would stop what slipped
through. The hostile sheets are opened in Chromium, the HTML file and the preview, and
every element is clicked."""

from __future__ import annotations

import base64
import hashlib
import http.client
import re
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from browser_probe import probe_page
from seeds import SEED_DECK

from builder.cli import main
from builder.live import PreviewServer, SheetPreview
from builder.pdf import Browser, find_chromium


def build_html(sheet: Path, capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    """The sheet's HTML file and the warnings the build printed."""
    out = sheet.parent / "out"
    assert main(["build", str(sheet), "--to", "html", "-o", str(out)]) == 0
    return (out / f"{sheet.stem}.html").read_text(encoding="utf-8"), capsys.readouterr().err


def write(tmp_path: Path, text: str, name: str = "sheet.md") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


class _Page(HTMLParser):
    """What of a page could run script: its script elements' text, event-handler
    attributes, script URLs, elements that load or run other documents."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[str] = []
        self.csp: str | None = None
        self.risky: list[str] = []
        self._script: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "meta" and values.get("http-equiv", "").lower() == "content-security-policy":
            self.csp = values["content"]
        elif tag == "meta" and "http-equiv" in values:
            self.risky.append(f"<meta http-equiv={values['http-equiv']}>")
        if tag in ("iframe", "object", "embed", "base", "form", "frame", "applet", "link"):
            self.risky.append(f"<{tag}>")
        if tag == "script":
            if "src" in values:
                self.risky.append(f"<script src={values['src']}>")
            self._script = []
        for name, value in values.items():
            plain = re.sub(r"[\x00-\x20]", "", value).lower()
            if name.startswith("on") or name == "srcdoc" or (
                    name in ("href", "src", "action", "formaction", "xlink:href", "data",
                             "poster", "background")
                    and plain.startswith(("javascript:", "vbscript:", "data:text"))):
                self.risky.append(f"<{tag} {name}={value!r}>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.scripts.append("".join(self._script))
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script.append(data)


def script_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def assert_inert(html_text: str) -> _Page:
    """Only the page's own scripts (each one named by its hash in the policy), no markup
    that runs script."""
    page = _Page()
    page.feed(html_text)
    assert page.csp is not None
    script_src = re.search(r"script-src ([^;]*)", page.csp)
    assert script_src is not None
    allowed = set(script_src.group(1).split())
    assert {script_hash(script) for script in page.scripts} == allowed
    assert page.risky == []
    return page


# -- the two directive cases and the math link of the issue ------------------------------

HOSTILE_DIRECTIVES = """---
marp: true
footer: "<script>alert(1)</script>"
---

<!-- _header: '<img src=x onerror=alert(2)>' -->

# Hi
"""


def test_header_and_footer_go_through_the_allowlist(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    html_text, _ = build_html(write(tmp_path, HOSTILE_DIRECTIVES), capsys)
    assert "<footer>&lt;script&gt;alert(1)&lt;/script&gt;</footer>" in html_text
    assert '<header><img src="x" /></header>' in html_text
    assert_inert(html_text)


MATH_LINKS = r"""---
marp: true
---

# Links

$$\href{javascript:alert(3)}{x}$$

$\href{https://example.com/a?b=1&c=2}{y}$ and $\href{mailto:a@example.com}{m}$
and $\href{notes.html#top}{r}$

$\href{ JaVaScRiPt:alert(4)}{z}$ $\href{data:text/html,<b>x</b>}{d}$
$\href{vbscript:msgbox(1)}{v}$ $\href{javascript&colon;alert(5)}{e}$

$\href{x" onclick="alert(6)}{q}$ $\style{color:red" onmouseover="alert(7)}{s}$
"""


def test_math_links_keep_only_safe_protocols(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    html_text, warnings = build_html(write(tmp_path, MATH_LINKS), capsys)
    assert 'href="https://example.com/a?b=1&amp;c=2"' in html_text
    assert 'href="mailto:a@example.com"' in html_text
    assert 'href="notes.html#top"' in html_text
    # A relative link, `&colon;` being text here, not a character reference.
    assert 'href="javascript&amp;colon;alert(5)"' in html_text
    for removed, line in (("javascript:alert(3)", 7), (" JaVaScRiPt:alert(4)", 12),
                          ("data:text/html,<b>x</b>", 12), ("vbscript:msgbox(1)", 13)):
        assert (f"sheet.md:{line}: warning: math error: link removed from the formula: "
                f'"{removed}" (only http:, https:, mailto: and relative links are kept)'
                in warnings)
    # The formula is shown as its TeX, marked as an error, the warning its tooltip.
    assert not re.search(r"href=\"[^\"]*alert\((3|4)", html_text)
    assert_inert(html_text)


# -- every place a sheet's text reaches the page -----------------------------------------

PLACES = {
    "footer": '<!-- footer: "<script>alert(1)</script><svg onload=alert(1)>" -->\n',
    "header": "<!-- header: '<img src=x onerror=alert(2)>"
              "<a href=\"javascript:alert(1)\">a</a>' -->\n",
    "header markdown link": "<!-- _header: '[a](javascript:alert(1)) "
                            "![b](javascript:alert(1))' -->\n",
    "class": '<!-- _class: \'x" onmouseover="alert(1)\' -->\n',
    "color": "<!-- _color: 'red\" onmouseover=\"alert(1)' -->\n",
    "color breaking out of its declaration":
        "<!-- _color: 'red;background:url(https://evil.example/x)' -->\n",
    "backgroundColor": "<!-- _backgroundColor: '\"><script>alert(1)</script>' -->\n",
    "backgroundImage": "<!-- _backgroundImage: 'url(javascript:alert(1))' -->\n",
    "backgroundImage quote": "<!-- _backgroundImage: 'url(\"x\"onerror=\"alert(1)\")' -->\n",
    "backgroundSize": "<!-- _backgroundSize: 'expression(alert(1))' -->\n",
    "paginate": "<!-- _paginate: '\"><script>alert(1)</script>' -->\n",
    "image alt": '![x" onerror="alert(1)](missing.png)\n',
    "image src": '![a](javascript:alert(1)) ![b](x" onerror="alert(1))\n',
    "background image": "![bg](javascript:alert(1)) ![bg](\"onerror=alert(1))\n",
    "link": "[a](javascript:alert(1)) [b](JaVaScRiPt:alert(1)) [c](&#106;avascript:alert(1))\n",
    "raw html": ('<script>alert(1)</script><iframe srcdoc="<script>alert(1)</script>">'
                 '</iframe><object data="javascript:alert(1)"></object>'
                 '<svg onload=alert(1)><a href="jav&#x09;ascript:alert(1)">x</a>'
                 '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">'
                 '<img src=x onerror=alert(1)><IMG """><SCRIPT>alert(1)</SCRIPT>">'
                 '<div style="background:url(javascript:alert(1))">s</div>'
                 '<base href="javascript:alert(1)//"><form action="javascript:alert(1)">'
                 '<button>b</button></form><a href="data:text/html;base64,PHNjcmlwdD4=">d</a>'
                 '<details open ontoggle=alert(1)>t</details>\n'),
    "scoped style": "<style scoped>\n</style><script>alert(1)</script>\n</style>\n",
    "global style": "<style>\n</style><script>alert(1)</script>\n</style>\n",
    "heading": "## <img src=x onerror=alert(1)> heading\n",
    "code fence language": '```"><script>alert(1)</script>\nx\n```\n',
    "mermaid": ("```mermaid\n%%{init: {'securityLevel': 'loose'}}%%\nflowchart LR\n"
                "  A[\"<img src=x onerror=alert(1)>\"] --> B\n"
                "  click A call alert(1)\n  click B \"javascript:alert(1)\"\n```\n"),
    "math": r"$\href{javascript:alert(1)}{x}$ $\text{<script>alert(1)</script>}$" "\n",
}

METADATA = """---
marp: true
title: "</title><script>alert(1)</script>"
author: '"><script>alert(1)</script>'
description: "<img src=x onerror=alert(1)>"
lang: '"><script>alert(1)</script>'
---

"""


def hostile_sheet() -> str:
    """Every place, one slide each, under hostile metadata."""
    return METADATA + "\n---\n\n".join(f"# {place}\n\n{text}" for place, text in PLACES.items())


@pytest.mark.parametrize("place", sorted(PLACES))
def test_every_place_goes_through_the_sanitizer(
        place: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    html_text, _ = build_html(write(tmp_path, f"{METADATA}# {place}\n\n{PLACES[place]}"),
                              capsys)
    assert_inert(html_text)
    assert "<title>&lt;/title&gt;&lt;script&gt;" in html_text


def test_the_policy_names_exactly_the_page_scripts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The seed deck (diagrams, auto-scaled math): its scripts are all named by hash; no
    inline event handler, no eval, nothing fetched from elsewhere."""
    html_text, _ = build_html(write(tmp_path, SEED_DECK.read_text(encoding="utf-8")), capsys)
    page = assert_inert(html_text)
    assert page.csp is not None
    assert len(page.scripts) == 5  # fonts, mermaid, its start, auto-scaling, viewer
    assert "unsafe-eval" not in page.csp
    assert "script-src 'sha256-" in page.csp
    assert "'unsafe-inline'" not in page.csp.split("script-src")[1].split(";")[0]
    assert "img-src 'self' data:;" in page.csp and "font-src 'self' data:;" in page.csp


# -- the preview --------------------------------------------------------------------------

@pytest.fixture
def preview(tmp_path: Path) -> Iterator[PreviewServer]:
    sheet = write(tmp_path, hostile_sheet(), "deck.md")
    server = PreviewServer(sheet, SheetPreview(sheet), port=0)
    server.start()
    threading.Thread(target=server.run_build_loop, daemon=True).start()
    yield server
    server.shutdown()


def test_every_preview_response_carries_the_policy(preview: PreviewServer) -> None:
    host, port = preview.url.removeprefix("http://").rstrip("/").split(":")
    for path in ("/", "/__sheets__/preview.js", "/deck.md", "/missing.png",
                 "/__sheets__/scripts/none.js", "/__sheets__/events"):
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.request("GET", path)
        response = connection.getresponse()
        policy = response.getheader("Content-Security-Policy") or ""
        connection.close()
        assert "script-src 'self';" in policy, path
        assert "default-src 'none'" in policy, path


# -- in Chromium --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser(find_chromium()) as started:
        yield started


def test_the_seed_deck_works_under_its_policy(
        browser: Browser, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Navigation, MathJax's fonts and the diagrams, with no violation of the policy;
    mermaid runs at its `strict` security level."""
    html_text, _ = build_html(write(tmp_path, SEED_DECK.read_text(encoding="utf-8")), capsys)
    assert "Content-Security-Policy" in html_text
    probe = probe_page(browser, (tmp_path / "out" / "sheet.html").as_uri(), ready="""
        await window.sheetsReady; await document.fonts.ready;
        return {
          diagrams: document.querySelectorAll("div.mermaid svg").length,
          fonts: [...document.fonts].filter((face) => face.status === "loaded").length,
          failed: [...document.fonts].filter((face) => face.status === "error").length,
          security: mermaid.mermaidAPI.getConfig().securityLevel,
          shown: document.querySelectorAll("div.marpit > section").length,
        };""")
    assert probe.violations == []
    assert probe.harmful() == []
    ready = probe.ready
    assert isinstance(ready, dict)
    assert ready["diagrams"] >= 1 and ready["fonts"] > 0 and ready["failed"] == 0
    assert ready["security"] == "strict"


# In both, the policy reports (and blocks) one inline handler: mermaid's DOMPurify
# parsing the diagram's hostile label; the handler never reaches the page.
def test_a_hostile_sheet_runs_nothing_in_the_html_file(
        browser: Browser, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    html_text, _ = build_html(write(tmp_path, hostile_sheet(), "deck.md"), capsys)
    assert_inert(html_text)
    probe = probe_page(browser, (tmp_path / "out" / "deck.html").as_uri(),
                       ready="await window.sheetsReady; return true;")
    assert probe.harmful() == []


def test_a_hostile_sheet_runs_nothing_in_the_preview(
        browser: Browser, preview: PreviewServer) -> None:
    slides = len(PLACES)
    probe = probe_page(browser, preview.url, ready=f"""
        while (!(window.sheetsPreview && sheetsPreview.slides.length === {slides}
                 && sheetsPreview.diagramRuns > 0)) {{
          await new Promise((done) => requestAnimationFrame(done));
        }}
        return true;""")
    assert probe.harmful() == []


def test_badge_messages_and_card_titles_are_text(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A snippet's assertion message, and a card's heading, reach the page (the badge and
    its hover text under --strict) as text only."""
    (tmp_path / "snippets").mkdir()
    (tmp_path / "snippets" / "evil.py").write_text(
        "def fails(card):\n"
        "    assert False, '<img src=x onerror=alert(1)><script>alert(2)</script>'\n",
        encoding="utf-8")
    sheet = write(tmp_path, "---\nmarp: true\n---\n\n"
                  "## <svg onload=alert(3)> card\n<!-- check: evil.fails -->\n\n$$x = 1$$\n")
    out = tmp_path / "out"
    assert main(["build", str(sheet), "--to", "html", "-o", str(out), "--strict"]) == 1
    html_text = (out / "sheet.html").read_text(encoding="utf-8")
    assert_inert(html_text)
    assert "&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(2)&lt;/script&gt;" \
        in html_text
    assert "sheets-badge" in html_text
    capsys.readouterr()
