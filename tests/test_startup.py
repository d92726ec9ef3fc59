"""What a command loads before it works: a warm `sheets check` on a sheet whose cards are
all kept must not pay for the checker it does not run (issue 22: a one-card edit of a
long sheet checked in a fifth of a second)."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import builder.check

ROOT = Path(__file__).resolve().parents[1]


def test_every_public_name_of_the_check_stage_is_its_modules() -> None:
    loaded = _loaded_after(
        "from builder.check import COVERAGE_EXAMPLES, coverage\n"
        "assert callable(coverage), coverage  # not the module of that name")
    assert "builder.check.coverage" in loaded
    for name in builder.check.__all__:
        home = importlib.import_module(builder.check._HOMES[name])
        assert getattr(builder.check, name) is getattr(home, name), name


def _loaded_after(code: str) -> set[str]:
    """The `builder.*` modules and libraries a fresh interpreter has loaded after `code`."""
    probe = (f"{code}\nimport sys\n"
             "print('\\n'.join(name for name in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, cwd=ROOT)
    return set(done.stdout.split())


def test_the_report_and_cache_do_not_load_the_checker() -> None:
    loaded = _loaded_after(
        "from builder.check import CheckCache, check_cards, report_lines, summary_line, "
        "unchecked_lines, library_lines, in_part_lines")
    for heavy in ("builder.check.compare", "builder.check.plan", "builder.check.parallel",
                  "builder.formula", "builder.library", "sympy", "numpy"):
        assert heavy not in loaded, heavy


def test_a_check_with_every_card_kept_loads_no_formula_stage(tmp_path: Path) -> None:
    sheet = tmp_path / "sheet.md"
    sheet.write_text("## Square\n\n$$\n(a + b)^2 = a^2 + 2ab + b^2\n$$\n", encoding="utf-8")
    code = ("from pathlib import Path\n"
            "from builder.cards import find_cards\n"
            "from builder.check import CheckCache, check_cards\n"
            "from builder.marp import parse_file\n"
            f"cards = find_cards(parse_file(Path({str(sheet)!r})))\n"
            f"cache = CheckCache(Path({str(tmp_path / 'cache')!r}))\n"
            "(result,) = check_cards(cards, snippets_dir=None, timeout=5, cache=cache,"
            " processes=1)\n"
            "assert result.status == 'pass', result\n")
    first = _loaded_after(code)
    assert "builder.check.compare" in first  # the first run checks the card
    again = _loaded_after(code)  # the second finds it kept
    assert not {"builder.check.compare", "builder.formula", "sympy"} & again


def test_trying_for_a_daemon_costs_a_run_nothing_when_none_listens(tmp_path: Path) -> None:
    """`python -m builder` asks the daemon first; with none listening, that is one look
    at a path: no socket module, no JSON, no stage."""
    loaded = _loaded_after(
        "import os\n"
        f"os.environ['XDG_RUNTIME_DIR'] = {str(tmp_path)!r}\n"
        "from builder.daemon.client import handed_off\n"
        "assert handed_off(['check', 'x.md']) is None\n")
    assert not {"socket", "json", "builder.cli", "builder.marp"} & loaded, \
        {"socket", "json", "builder.cli", "builder.marp"} & loaded
