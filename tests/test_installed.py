"""sheets as users install it: the wheel built from this checkout, installed with its
dependencies in a fresh virtual environment, run in an empty folder with the checkout out
of reach (no PYTHONPATH, no node_modules beside the package): a PDF with math and a
diagram, a check, and a notes repository from `sheets init` whose `sheets check` and
`pytest` pass."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

NOTE = """\
---
marp: true
---

# A note

Euler: $e^{i\\pi} + 1 = 0$

$$
\\int_0^1 x^2 \\, dx = \\frac{1}{3}
$$

---

# A diagram

```mermaid
graph LR
  A --> B
```
"""


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None,
         timeout: float = 300) -> subprocess.CompletedProcess[str]:
    ran = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=timeout, check=False, stdin=subprocess.DEVNULL)
    assert ran.returncode == 0, f"{' '.join(command)} in {cwd}:\n{ran.stdout}\n{ran.stderr}"
    return ran


def _user_environment(venv: Path, cache: Path) -> dict[str, str]:
    """This process's environment as a user's shell would have it with only the venv
    activated: no PYTHONPATH or other venv, no PATH entry inside the checkout or this
    test's own environment, and the user's cache directory in `cache`."""
    env = {name: value for name, value in os.environ.items()
           if name not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "SHEETS_CACHE_DIR"}
           and not name.startswith("PYTEST_")}
    outside = [entry for entry in env.get("PATH", os.defpath).split(os.pathsep)
               if entry and not Path(entry).resolve().is_relative_to(ROOT)
               and not Path(entry).resolve().is_relative_to(Path(sys.prefix).resolve())]
    env["PATH"] = os.pathsep.join([str(venv / "bin"), *outside])
    env["VIRTUAL_ENV"] = str(venv)
    env["XDG_CACHE_HOME"] = str(cache)
    return env


def _source_copy(destination: Path) -> Path:
    """The checkout's tracked files, with its node_modules linked in (the wheel's build
    step bundles from there): pip builds in the tree it is given, and the checkout's own
    `build/` is where sheets writes PDFs, not where a wheel's build leftovers belong."""
    listed = _run(["git", "ls-files", "-z"], cwd=ROOT).stdout.split("\0")
    for name in filter(None, listed):
        source, target = ROOT / name, destination / name
        if source.is_file() and not source.is_symlink():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    (destination / "node_modules").symlink_to(ROOT / "node_modules")
    return destination


def test_the_wheel_installs_and_works_away_from_the_checkout(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    source = _source_copy(tmp_path / "source")
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels),
          str(source)], cwd=tmp_path)
    (wheel,) = wheels.glob("sheets_formula-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert {"builder/vendor/mathjax/typeset.js", "builder/vendor/mermaid/mermaid.min.js",
            "builder/vendor/mermaid/mermaid.esm.min.mjs"} <= names
    assert wheel.stat().st_size < 15 << 20

    venv = tmp_path / "venv"
    env = _user_environment(venv, tmp_path / "user-cache")
    _run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path, env=env)
    _run(["python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
          str(wheel)], cwd=tmp_path, env=env, timeout=600)

    home = tmp_path / "notes"  # an empty folder, no repository around it
    home.mkdir()
    where = _run(["python", "-c", "import builder; print(builder.__file__)"], home, env)
    assert Path(where.stdout.strip()).is_relative_to(venv)

    (home / "note.md").write_text(NOTE, encoding="utf-8")
    _run(["sheets", "build", "note.md", "--to", "pdf", "-o", "out"], home, env)
    pdf = home / "out" / "note.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                          check=False).stdout
    assert "Euler" in text and "dx" in text  # the math, as text
    assert "A" in text.split("A diagram", 1)[1]  # the diagram's labels: mermaid drew it
    _run(["sheets", "check", "note.md"], home, env)
    _run(["sheets", "init", "repo"], home, env)
    _run(["sheets", "check"], home / "repo", env)
    _run(["pytest", "-q", "-p", "no:cacheprovider"], home / "repo", env)
    assert not (home / ".cache").exists()  # the caches went to the user's cache folder
    assert list((tmp_path / "user-cache" / "sheets" / "snapshots").glob("*.blob"))
