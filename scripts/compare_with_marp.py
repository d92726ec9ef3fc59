#!/usr/bin/env python3
"""Build sheets with the real Marp CLI and with our parser, and compare slide by slide:
structure (classes, pagination, page numbers, header, footer, equations, first heading),
the local directives Marp writes as data-* attributes, and contents (elements and text;
see tests/marp_structure.py). Prints the differences and
exits 1 if there are any.

    cd /tmp/marp && PUPPETEER_SKIP_DOWNLOAD=1 npm install @marp-team/marp-cli   # once
    .venv/bin/python scripts/compare_with_marp.py --marp /tmp/marp SHEET...
    .venv/bin/python scripts/compare_with_marp.py --fixtures tests/fixtures/parse.md

Marp CLI is not a dependency of the project (it is what we compare with), so this is a
tool for checking by hand, not a test. Sheets with `![bg]` images skip the content
comparison (Marp draws those as extra `<section>`s). Known, wanted differences in the
parse fixtures: the error cases (Marp builds them silently), and headings inside a list or
a quote under headingDivider (Marp leaves the cut tags open; we close them, as the browser
does).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fixture_file import read_fixture_file
from marp_structure import body_lines, directive_lines, normalize_body, structure_lines
from test_parse import render_for_comparison, structure_line

from builder.marp.parse import parse_file
from builder.model import BuildError


def marp_html(sheets: list[Path], marp_dir: Path, work: Path) -> dict[Path, str]:
    """Marp CLI's HTML for each sheet (any theme name is given a stub theme)."""
    theme = work / "theme.css"
    theme.write_text("/* @theme portrait_A4_note */\nsection{width:595px;height:842px}\n",
                     encoding="utf-8")
    inputs = work / "in"
    inputs.mkdir()
    names = {}
    for number, sheet in enumerate(sheets):
        name = f"s{number:04}"
        shutil.copy(sheet, inputs / f"{name}.md")
        names[sheet] = name
    env = {**os.environ, "CHROME_PATH": os.environ.get("CHROME_PATH", "/usr/bin/chromium")}
    subprocess.run(["npx", "marp", "--theme-set", str(theme), "-I", str(inputs),
                    "-o", str(work / "out")], cwd=marp_dir, env=env, check=True,
                   capture_output=True)
    return {sheet: (work / "out" / f"{name}.html").read_text(encoding="utf-8")
            for sheet, name in names.items()}


def compare(sheet: Path, html: str) -> list[str]:
    try:
        deck = parse_file(sheet)
    except BuildError as error:
        return [f"ours: {error} (Marp builds {len(structure_lines(html))} slides)"]
    differences = []
    ours = [structure_line(slide) for slide in deck.slides]
    theirs = structure_lines(html)
    if len(ours) != len(theirs):
        differences.append(f"{len(theirs)} slides in Marp, {len(ours)} here")
    differences += [f"marp {a}\n  ours {b}" for a, b in zip(theirs, ours, strict=False)
                    if a != b]
    ours = [f"{slide.index + 1}: " + " ".join(sorted(
        f"data-{_kebab(name)}={value}" for name, value in slide.directives.items()))
        for slide in deck.slides]
    differences += [f"marp {a}\n  ours {b}" for a, b in zip(directive_lines(html),
                                                             [o.rstrip() for o in ours],
                                                             strict=False) if a != b]
    if not any(background for slide in deck.slides for background in slide.backgrounds):
        ours = [f"{slide.index + 1}: {normalize_body(render_for_comparison(slide))}"
                for slide in deck.slides]
        differences += [f"marp {a}\n  ours {b}" for a, b in zip(body_lines(html), ours,
                                                                 strict=False) if a != b]
    return differences


def _kebab(name: str) -> str:
    return re.sub(r"[A-Z]", lambda match: "-" + match.group(0).lower(), name)


def fixture_sheets(fixture_file: Path, work: Path) -> dict[Path, str]:
    """Each case of a fixture file (tests/fixtures/parse.md) as a sheet of its own, with
    a name for it (`file:line title`)."""
    sheets = {}
    for case in read_fixture_file(fixture_file):
        sheet = work / f"case{case.line:05}.md"
        sheet.write_text(case.input, encoding="utf-8")
        sheets[sheet] = f"{fixture_file}:{case.line} {case.title}"
    return sheets


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sheets", nargs="*", type=Path)
    parser.add_argument("--fixtures", type=Path, metavar="FILE",
                        help="compare every case of a fixture file (tests/fixtures/parse.md)")
    parser.add_argument("--marp", type=Path, default=Path("/tmp/marp"),
                        help="directory where @marp-team/marp-cli is installed")
    args = parser.parse_args()
    failed = 0
    with tempfile.TemporaryDirectory() as work:
        names = {sheet: str(sheet) for sheet in args.sheets}
        if args.fixtures:
            (Path(work) / "cases").mkdir()
            names |= fixture_sheets(args.fixtures, Path(work) / "cases")
        htmls = marp_html(list(names), args.marp, Path(work))
        for sheet, html in htmls.items():
            differences = compare(sheet, html)
            print(f"{names[sheet]}: {'DIFFERENT' if differences else 'same as Marp CLI'}")
            for difference in differences:
                print(f"  {difference}")
            failed += bool(differences)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
