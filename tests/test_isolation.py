"""isolation: one card's snippet never changes what another card's snippet sees, in one
run (`sheets check`, `pytest sheets/`, the preview after an edit) or through the cache.

The sheet's first cards each change something interpreter-wide (a builtin, `sys.path`,
the working directory, the environment, a numpy attribute, the warnings filters,
numpy's error state, the random generators, `sys.modules`, a helper module's global);
its last card's snippet fails, naming each change it can see. Every card links a
snippet, so all of them run in one worker, one after another, as the checks of a sheet
do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from builder.live import SheetPreview
from builder.model import Card, SourceLoc
from builder.runner import SnippetPool

ROOT = Path(__file__).resolve().parent.parent

LEAKS = {
    "a builtin": "builtins.abs = lambda x: 0",
    "sys.path": 'sys.path.insert(0, "/sheets-leaked-path")',
    "the working directory": 'os.chdir("/")',
    "the environment": 'os.environ["SHEETS_LEAKED"] = "1"',
    "a numpy attribute": "np.exp = lambda x: 0",
    "the warnings filters": 'warnings.simplefilter("error")',
    "numpy's error state": 'np.seterr(all="raise")',
    "the random generators": "random.seed(42); np.random.seed(42)",
    "sys.modules": 'sys.modules["json"] = types.ModuleType("json")',
    "a helper's global": "helper.VALUE = 0",
}

LEAKING_SNIPPETS = "import builtins, os, random, sys, types, warnings\n\n" \
    "import numpy as np\n\nimport helper\n" + "".join(
        f"\n\ndef leak_{number}(card):\n    {code}\n"
        for number, code in enumerate(LEAKS.values()))

PROBE = '''\
import os
import random
import sys
import warnings

import numpy as np

import helper


def _warning_is_not_an_error():
    with warnings.catch_warnings(record=True):
        warnings.warn("a probe", UserWarning)
    return True


SEEN = {
    "a builtin": lambda: abs(-3) == 3,
    "sys.path": lambda: "/sheets-leaked-path" not in sys.path,
    "the working directory": lambda: os.getcwd() != "/",
    "the environment": lambda: "SHEETS_LEAKED" not in os.environ,
    "a numpy attribute": lambda: np.exp(0) == 1,
    "the warnings filters": _warning_is_not_an_error,
    "numpy's error state": lambda: np.geterr() == {
        "divide": "warn", "over": "warn", "under": "ignore", "invalid": "warn"},
    "the random generators": lambda: random.random() != random.Random(42).random()
        and np.random.random() != np.random.RandomState(42).random_sample(),
    "sys.modules": lambda: __import__("json").dumps([1]) == "[1]",
    "a helper's global": lambda: helper.VALUE == 1,
}


def nothing_leaked(card):
    leaked = []
    for what, unchanged in SEEN.items():
        try:
            if not unchanged():
                leaked.append(what)
        except Exception as error:
            leaked.append(f"{what} ({type(error).__name__})")
    assert not leaked, "changed by another card: " + ", ".join(leaked)
'''

PROBE_CARD = "## Nothing leaked\n\n<!-- check: probe.nothing_leaked -->\n\n$$ y = 2x $$\n"


def leaking_cards() -> str:
    """The cards that change something. Their equation shares no name with the probe's,
    so that no definition of theirs is part of the probe's context (and cache key)."""
    return "".join(f"## Changes {what}\n\n<!-- check: leaks.leak_{number} -->\n\n"
                   "$$ z = 3w $$\n\n---\n\n" for number, what in enumerate(LEAKS))


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    """A notes project: `sheets/leaky.md` (the leaking cards, then the probe) and its
    snippets."""
    (tmp_path / "sheets").mkdir()
    (tmp_path / "sheets" / "leaky.md").write_text(leaking_cards() + PROBE_CARD)
    snippets = tmp_path / "snippets"
    snippets.mkdir()
    (snippets / "leaks.py").write_text(LEAKING_SNIPPETS)
    (snippets / "probe.py").write_text(PROBE)
    (snippets / "helper.py").write_text("VALUE = 1\n")
    return tmp_path


def run(*args: str, cwd: Path, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    environment.pop("GITHUB_ACTIONS", None)
    environment.pop("SHEETS_LEAKED", None)
    return subprocess.run([sys.executable, *args], cwd=cwd, check=False,
                          capture_output=True, text=True, env=environment, timeout=300)


def statuses(notes: Path, *sheets: str, cache: Path) -> dict[str, str]:
    """`sheets check --json -`: each card's title → its status."""
    done = run("-m", "builder", "check", "--json", "-", *sheets, cwd=notes,
               env={"SHEETS_CACHE_DIR": str(cache)})
    assert done.returncode in (0, 1), done.stderr
    return {card["title"]: card["status"] + (f": {card['message']}" if card["message"] else "")
            for card in json.loads(done.stdout)["cards"]}


def test_a_snippet_call_does_not_change_the_next_one_in_the_pool(notes: Path) -> None:
    card = Card("probe", (), (), (), None, (), (), SourceLoc(Path("leaky.md"), 1), 0)
    snippets = notes / "snippets"
    with SnippetPool() as pool:
        workers = pool.pids
        for number in range(len(LEAKS)):
            assert pool.run(card, f"leaks.leak_{number}", snippets).status == "pass"
        result = pool.run(card, "probe.nothing_leaked", snippets)
        assert (result.status, result.message) == ("pass", "probe.nothing_leaked: passed")
        assert pool.pids == workers  # the same worker ran every call
        assert os.environ.get("SHEETS_LEAKED") is None


def test_the_last_card_passes_in_sheets_check(notes: Path) -> None:
    found = statuses(notes, "sheets/leaky.md", cache=notes / "cache")
    assert found["Nothing leaked"] == "pass"
    assert set(found.values()) == {"pass"}
    done = run("-m", "builder", "check", "sheets/leaky.md", cwd=notes,
               env={"SHEETS_CACHE_DIR": str(notes / "other-cache")})
    assert done.returncode == 0, done.stdout + done.stderr
    summary = done.stdout.splitlines()[-1]
    assert summary.startswith(f"{len(LEAKS) + 1} passed"), summary
    assert summary.endswith("0 failed, 0 errors, 0 unchecked"), summary


def test_no_wrong_result_is_cached(notes: Path) -> None:
    """The leaking cards and the probe in one run, then the probe alone with the same
    cache, in the same folder: its entry is found (same card, same snippets) and says
    pass."""
    cache = notes / "cache"
    statuses(notes, "sheets/leaky.md", cache=cache)
    entries = set((cache / "check").glob("*.json"))
    assert len(entries) == len(LEAKS) + 1
    (notes / "sheets" / "alone.md").write_text(PROBE_CARD)
    assert statuses(notes, "sheets/alone.md", cache=cache) == {"Nothing leaked": "pass"}
    assert set((cache / "check").glob("*.json")) == entries  # served from the cache


def test_the_last_card_passes_under_pytest(notes: Path) -> None:
    done = run("-m", "pytest", "sheets/", "-p", "no:cacheprovider", "-q", cwd=notes)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(LEAKS) + 1} passed" in done.stdout


def test_the_last_card_passes_in_the_preview_after_an_edit(notes: Path) -> None:
    sheet = notes / "sheets" / "leaky.md"
    sheet.write_text(PROBE_CARD)
    rebuild = SheetPreview(sheet)
    try:
        update = rebuild(sheet)
        assert update.checks is not None
        assert [(badge.title, badge.status) for badge in update.checks()] == [
            ("Nothing leaked", "pass")]
        # The edit: the leaking cards come first, and the probe is checked again after
        # them (its title changed), in the same check.
        retitled = PROBE_CARD.replace("## Nothing leaked", "## Nothing leaked at all")
        sheet.write_text(leaking_cards() + retitled)
        update = rebuild(sheet)
        assert update.checks is not None
        badges = {badge.title: badge for badge in update.checks()}
        probe = badges["Nothing leaked at all"]
        assert probe.status == "pass", probe.message
        assert {badge.status for badge in badges.values()} == {"pass"}
        assert rebuild.checked_cards == len(LEAKS) + 2
    finally:
        rebuild.close()
