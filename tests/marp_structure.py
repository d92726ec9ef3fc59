"""Print the slide structure of an HTML file made by Marp CLI, one line per slide (with
`--body`: each slide's normalized HTML, see `normalize_body`):
`<n>: class=… paginate=… page=… header=… footer=… math=D/I heading=…` (D/I: display
and inline MathJax elements; heading: the slide's first heading) (the format of
tests/fixtures/seed001_structure.txt, which tests/test_parse.py compares with our parser).

How the fixture was made (Marp CLI 4.x, marp-core 4.4.0, outside the repo):
    cd /tmp/marp && PUPPETEER_SKIP_DOWNLOAD=1 npm install @marp-team/marp-cli
    printf '/* @theme portrait_A4_note */\\nsection{width:595px;height:842px}\\n' > t.css
    CHROME_PATH=/usr/bin/chromium npx marp --theme-set t.css -o deck.html deck.md
    python3 tests/marp_structure.py deck.html > tests/fixtures/seed001_structure.txt
    python3 tests/marp_structure.py --body deck.html > tests/fixtures/seed001_body.txt
(the same for every seed: tests/fixtures/seed<NNN>_structure.txt and _body.txt)
"""

from __future__ import annotations

import re
import sys
from html import unescape
from html.parser import HTMLParser


class _Sections(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.slides: list[dict[str, str]] = []
        self.counts: list[dict[str, int]] = []  # MathJax elements per slide
        self._depth = 0  # nesting depth inside the current slide's <section>
        self._field: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if self._depth:
            if tag == "mjx-container":
                key = "display" if values.get("display") == "true" else "inline"
                self.counts[-1][key] += 1
            if tag == "section":
                self._depth += 1
            elif tag in ("header", "footer") and self._depth == 1:
                self._field = tag
                self.slides[-1][tag] = ""
            elif tag in ("h1", "h2", "h3", "h4", "h5", "h6") and "heading" not in self.slides[-1]:
                self._field = tag
                self.slides[-1]["heading"] = ""
            return
        # Slides have an id; the extra sections of advanced backgrounds do not.
        if tag == "section" and "id" in values:
            self._depth = 1
            self.counts.append({"display": 0, "inline": 0})
            self.slides.append({
                "class": values.get("class", ""),
                "paginate": "true" if "data-marpit-pagination" in values else "false",
                "page": values.get("data-marpit-pagination", "-"),
            })

    def handle_endtag(self, tag: str) -> None:
        if not self._depth:
            return
        if self._field == tag:
            self._field = None
        elif tag == "section":
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._field:
            key = "heading" if self._field.startswith("h") and self._field != "header" \
                else self._field
            self.slides[-1][key] += data


def structure_lines(html: str) -> list[str]:
    parser = _Sections()
    parser.feed(html)
    return [
        f"{number}: class={slide['class'] or '-'} paginate={slide['paginate']} "
        f"page={slide['page']} header={slide.get('header', '').strip() or '-'} "
        f"footer={slide.get('footer', '').strip() or '-'} "
        f"math={counts['display']}/{counts['inline']} "
        f"heading={' '.join(slide.get('heading', '').split()) or '-'}"
        for number, (slide, counts) in enumerate(zip(parser.slides, parser.counts,
                                                     strict=True), 1)
    ]


# Attributes Marp puts on every slide for global directives or its own machinery.
_NOT_LOCAL = ("data-theme", "data-style", "data-heading-divider", "data-lang", "data-size",
              "data-math", "data-marpit-")


def directive_lines(html: str) -> list[str]:
    """`<n>: data-x=value …` per slide: the local directives Marp wrote as attributes."""
    lines = []
    for number, chunk in enumerate(html.split('<section id="')[1:], 1):
        attributes = re.findall(r'(data-[\w-]+)="([^"]*)"', chunk.split(">", 1)[0])
        kept = sorted(f"{name}={unescape(value)}" for name, value in attributes
                      if not name.startswith(_NOT_LOCAL))
        lines.append(f"{number}: {' '.join(kept)}".rstrip())
    return lines


def normalize_body(html: str) -> str:
    """A slide's inner HTML reduced to its element structure and text, on one line:
    header/footer, attributes, image tags, code contents and MathJax output are replaced
    by markers (`<MATHB/>` display, `<MATH/>` inline, `<IMG/>`, `<PRE/>`), so that Marp's
    HTML and markdown-it's rendering of our tokens can be compared."""
    html = re.sub(r"<header>.*?</header>|<footer>.*?</footer>", "", html, flags=re.DOTALL)
    html = re.sub(r'<mjx-container[^>]*display="true"[^>]*>.*?</mjx-container>', "<MATHB/>",
                  html, flags=re.DOTALL)
    html = re.sub(r"<mjx-container.*?</mjx-container>", "<MATH/>", html, flags=re.DOTALL)
    html = re.sub(r'\s+(id|data-[\w-]+|style|lang|is|class)="[^"]*"', "", html)
    html = re.sub(r"\s+data-auto-scaling", "", html)
    html = re.sub(r"<img[^>]*>", "<IMG/>", html)
    html = re.sub(r"<pre>.*?</pre>", "<PRE/>", html, flags=re.DOTALL)
    html = html.replace("<p><MATHB/></p>", "<MATHB/>")
    return re.sub(r"\s+", " ", html).replace("> <", "><").strip()


def body_lines(html: str) -> list[str]:
    """`<n>: <normalized body>` for every slide of Marp CLI's HTML."""
    bodies = [chunk.split(">", 1)[1].rsplit("</section>", 1)[0]
              for chunk in html.split('<section id="')[1:]]
    return [f"{number}: {normalize_body(body)}" for number, body in enumerate(bodies, 1)]


if __name__ == "__main__":
    with open(sys.argv[-1], encoding="utf-8") as file:
        marp_html = file.read()
    lines = body_lines(marp_html) if "--body" in sys.argv else structure_lines(marp_html)
    print("\n".join(lines))
