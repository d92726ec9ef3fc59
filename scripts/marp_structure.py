#!/usr/bin/env python3
"""Print the slide structure of an HTML file made by Marp CLI, one line per slide:
`<n>: class=… paginate=… page=… header=… footer=… math=D/I heading=…` (D/I: display
and inline MathJax elements; heading: the slide's first heading) (the format of
tests/fixtures/seed001_structure.txt, which tests/test_parse.py compares with our parser).

How the fixture was made (Marp CLI 4.x, marp-core 4.4.0, outside the repo):
    cd /tmp/marp && PUPPETEER_SKIP_DOWNLOAD=1 npm install @marp-team/marp-cli
    printf '/* @theme portrait_A4_note */\\nsection{width:595px;height:842px}\\n' > t.css
    CHROME_PATH=/usr/bin/chromium npx marp --theme-set t.css -o deck.html deck.md
    python3 scripts/marp_structure.py deck.html > tests/fixtures/seed001_structure.txt
(the same for every seed: tests/fixtures/seed<NNN>_structure.txt)
"""

from __future__ import annotations

import sys
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


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as file:
        print("\n".join(structure_lines(file.read())))
