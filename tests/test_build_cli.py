"""`sheets build` through the real command line (docs/format.md §2): HTML with Marp CLI's slides,
the seed deck as 67 A4 PDF pages, warnings at `path:line`, `--strict`, bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from marp_structure import structure_lines
from seeds import SEED_DECK

FIXTURES = Path(__file__).parent / "fixtures"
SEED = SEED_DECK


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache (typeset math, PDF pages) for the builds of this module."""
    return tmp_path_factory.mktemp("cache")


def sheets(*args: str, cwd: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHEETS_CACHE_DIR": str(cache)}
    return subprocess.run([sys.executable, "-m", "builder", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def test_html_of_the_seed_deck_has_marps_67_slides(tmp_path: Path, cache_dir: Path) -> None:
    result = sheets("build", str(SEED), "--to", "html", "-o", "out", cwd=tmp_path,
                    cache=cache_dir)
    assert result.returncode == 0, result.stderr
    output = tmp_path / "out" / f"{SEED.stem}.html"
    expected = (FIXTURES / "seed001_structure.txt").read_text(encoding="utf-8").splitlines()
    assert structure_lines(output.read_text(encoding="utf-8")) == expected
    assert sorted(p.name for p in output.parent.iterdir()) == [output.name]  # no temp file
    umask = os.umask(0o022)
    os.umask(umask)
    assert output.stat().st_mode & 0o777 == 0o666 & ~umask  # as any new file, not private
    # The seed's images are not beside it: each is reported at its line.
    assert f"{SEED}:263: warning: image not found: 1699445836.webp\n" in result.stderr
    assert "Traceback" not in result.stderr


SHEET_WITH_PROBLEMS = """\
---
marp: true
paginate: true
---

# Fits

text

---

## Too long

{lines}

---

## Picture

![w:200px](nope.png)
"""


def test_pdf_warns_at_the_lines_and_strict_exits_1(tmp_path: Path, cache_dir: Path) -> None:
    sheet = tmp_path / "problems.md"
    sheet.write_text(SHEET_WITH_PROBLEMS.format(lines="\n\n".join(["a line"] * 60)),
                     encoding="utf-8")
    relaxed = sheets("build", str(sheet), "-o", "out", cwd=tmp_path, cache=cache_dir)
    assert relaxed.returncode == 0, relaxed.stderr
    lines = relaxed.stderr.splitlines()
    picture_line = SHEET_WITH_PROBLEMS.splitlines().index("![w:200px](nope.png)") + 1 + 59 * 2
    assert f"{sheet}:{picture_line}: warning: image not found: nope.png" in lines
    assert any(line.startswith(f"{sheet}:12: warning: slide 2 overflows its page by ")
               for line in lines), lines
    assert relaxed.stdout == f"sheets build: wrote {Path('out') / 'problems.pdf'} (3 pages)\n"

    strict = sheets("build", str(sheet), "-o", "out", "--strict", cwd=tmp_path,
                    cache=cache_dir)
    assert strict.returncode == 1
    assert strict.stderr == relaxed.stderr


def test_html_strict_exits_1_on_a_missing_image(tmp_path: Path, cache_dir: Path) -> None:
    sheet = tmp_path / "pictures.md"
    sheet.write_text("# Pictures\n\n![](gone.png)\n", encoding="utf-8")
    relaxed = sheets("build", str(sheet), "--to", "html", "-o", "out", cwd=tmp_path,
                     cache=cache_dir)
    strict = sheets("build", str(sheet), "--to", "html", "-o", "out", "--strict",
                    cwd=tmp_path, cache=cache_dir)
    assert (relaxed.returncode, strict.returncode) == (0, 1)
    assert strict.stderr == f"{sheet}:3: warning: image not found: gone.png\n"
    assert "image not found: gone.png" in (tmp_path / "out" / "pictures.html").read_text(
        encoding="utf-8")


def test_strict_checks_the_cards(tmp_path: Path, cache_dir: Path) -> None:
    """Only `--strict` runs the checker: a wrong step is printed like `sheets check`
    prints it, exits 1, and its card gets a fail badge in the HTML."""
    sheet = tmp_path / "algebra.md"
    sheet.write_text("# Algebra\n\n## Square\n\n$$ (x+1)^2 = x^2 + 1 $$\n", encoding="utf-8")
    relaxed = sheets("build", str(sheet), "--to", "html", "-o", "out", cwd=tmp_path,
                     cache=cache_dir)
    assert (relaxed.returncode, relaxed.stderr) == (0, "")
    assert 'class="sheets-badge' not in (tmp_path / "out" / "algebra.html").read_text(
        encoding="utf-8")
    strict = sheets("build", str(sheet), "--to", "html", "-o", "out", "--strict",
                    cwd=tmp_path, cache=cache_dir)
    assert strict.returncode == 1
    assert strict.stderr.startswith(f"{sheet}:5: Square: ")
    page = (tmp_path / "out" / "algebra.html").read_text(encoding="utf-8")
    assert 'Square<span class="sheets-badge sheets-badge-fail"' in page


def test_strict_prints_every_failing_check_of_a_card(tmp_path: Path, cache_dir: Path) -> None:
    """A wrong step and a missing snippet module in one card: both lines, as `sheets check`
    prints them."""
    sheet = tmp_path / "algebra.md"
    sheet.write_text("# Algebra\n\n## Square\n<!-- check: nomodule.f -->\n\n"
                     "$$ (x+1)^2 = x^2 + 1 $$\n", encoding="utf-8")
    (tmp_path / "snippets").mkdir()
    strict = sheets("build", str(sheet), "--to", "html", "-o", "out", "--strict",
                    cwd=tmp_path, cache=cache_dir)
    check = sheets("check", str(sheet), cwd=tmp_path, cache=cache_dir)
    assert strict.returncode == check.returncode == 1
    failing = [line for line in strict.stderr.splitlines() if ": Square: " in line]
    assert len(failing) == 2
    assert failing[0].startswith(f"{sheet}:6: Square: step 1: ")
    assert "nomodule" in failing[1]
    assert failing == [line for line in check.stdout.splitlines() + check.stderr.splitlines()
                       if ": Square: " in line]


def test_seed_deck_pdf_is_67_a4_pages(tmp_path: Path, cache_dir: Path) -> None:
    result = sheets("build", str(SEED), "-o", "out", cwd=tmp_path, cache=cache_dir)
    assert result.returncode == 0, result.stderr
    pdf = tmp_path / "out" / f"{SEED.stem}.pdf"
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True,
                          check=True).stdout
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    assert fields["Pages"].strip() == "67"
    assert "(A4)" in fields["Page size"]
    assert fields["Title"].strip() == "E資格範囲数式まとめ"
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "固有方程式" in text
    assert "overflows" not in result.stderr
    # The seed's gantt chart is drawn (its labels, not its source, are on the page).
    assert "A Gantt Diagram" in text and "dateFormat" not in text


DIAGRAMS = """---
marp: true
---

# One

```mermaid
graph TD; A[Alpha] --> B[Beta]
```

---

# Two

plain text

---

# Three

```mermaid
graph LR; C[Gamma] --> D[{word}]
```
"""


def test_diagrams_are_drawn_in_a_build_and_a_rebuild(tmp_path: Path, cache_dir: Path) -> None:
    sheet = tmp_path / "diagrams.md"
    pdf = tmp_path / "out" / "diagrams.pdf"
    words = []
    for word in ("Delta", "Epsilon"):  # the second build reprints slide 3 only
        sheet.write_text(DIAGRAMS.format(word=word), encoding="utf-8")
        result = sheets("build", str(sheet), "-o", "out", cwd=tmp_path, cache=cache_dir)
        assert result.returncode == 0, result.stderr
        pages = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                               check=True).stdout.split("\f")
        words.append([sorted(set(page.split()) & {"Alpha", "Beta", "Gamma", "Delta",
                                                   "Epsilon", "graph"}) for page in pages[:3]])
    assert words == [[["Alpha", "Beta"], [], ["Delta", "Gamma"]],
                     [["Alpha", "Beta"], [], ["Epsilon", "Gamma"]]]


@pytest.mark.parametrize(("args", "message"), [
    (["nope.md"], "nope.md: no such file"),
    (["bad.md"], "bad.md:3: malformed front matter"),
    (["a.md", "--theme-set", "plain.css"], "plain.css:1: not a Marp theme"),
    (["a.md", "sub/a.md"], "would both be written to"),
], ids=["missing", "front-matter", "not-a-theme", "same-stem"])
def test_bad_input_exits_2_without_traceback(tmp_path: Path, cache_dir: Path,
                                             args: list[str], message: str) -> None:
    (tmp_path / "bad.md").write_text("---\ntheme: a\nstyle: [x\n---\n# A\n", encoding="utf-8")
    (tmp_path / "a.md").write_text("# A\n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.md").write_text("# B\n", encoding="utf-8")
    (tmp_path / "plain.css").write_text("section { color: red }\n", encoding="utf-8")
    result = sheets("build", *args, "--to", "html", "-o", "out", cwd=tmp_path, cache=cache_dir)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()  # nothing written when any sheet is bad


def test_a_diagram_mermaid_cannot_read_is_a_warning(tmp_path: Path, cache_dir: Path) -> None:
    sheet = tmp_path / "bad.md"
    sheet.write_text("---\nmarp: true\n---\n\n# Fine\n\ntext\n\n---\n\n# Broken\n\n"
                     "```mermaid\ngraph TD; A[Alpha] -->\n  not mermaid {{{\n```\n",
                     encoding="utf-8")
    relaxed = sheets("build", str(sheet), "-o", "out", cwd=tmp_path, cache=cache_dir)
    assert relaxed.returncode == 0, relaxed.stderr
    assert relaxed.stderr.splitlines() == [
        (f"{sheet}:11: warning: slide 2: a diagram with a mermaid syntax error (drawn as mermaid's "
         "error picture)")]
    strict = sheets("build", str(sheet), "-o", "out", "--strict", cwd=tmp_path,
                    cache=cache_dir)
    assert strict.returncode == 1 and strict.stderr == relaxed.stderr


def test_each_sheets_warnings_come_before_its_pdf(tmp_path: Path, cache_dir: Path) -> None:
    """Three sheets in one run (the next is rendered while one prints): in the merged
    output each sheet's warning comes just before its own 'wrote' line."""
    names = ("a", "b", "c")
    for name in names:
        (tmp_path / f"{name}.md").write_text(
            f"---\nmarp: true\n---\n\n# {name.upper()}\n\n![x](missing-{name}.png)\n\n---\n\n"
            f"# {name.upper()} 2\n\ntext {name}\n", encoding="utf-8")
    env = {**os.environ, "SHEETS_CACHE_DIR": str(cache_dir)}
    result = subprocess.run([sys.executable, "-m", "builder", "build", "a.md", "b.md", "c.md",
                             "-o", "out"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines() == [
        line for name in names for line in (
            f"{name}.md:7: warning: image not found: missing-{name}.png",
            f"sheets build: wrote out/{name}.pdf (2 pages)")]
    for name in names:
        text = subprocess.run(["pdftotext", str(tmp_path / "out" / f"{name}.pdf"), "-"],
                              capture_output=True, text=True, check=True).stdout
        assert f"text {name}" in text
