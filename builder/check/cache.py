"""Card results kept on disk between runs (`.cache/check/`), keyed on everything that
decides them, found by the code rather than listed by hand.

A result depends on the card's content, on the code that checked it (every source file
of the `builder` package, and the versions of Python, sympy and numpy), and, for a card
with linked snippets, on the files those snippets read: the worker records which files
of the snippets folder each snippet's import loaded (its module and the helpers it
imported), and an entry is a hit only while each of them still has the digest it had
(as Sphinx's `env.note_dependency` makes a document depend on the files it read). A part
of the key that cannot be computed is a miss, never a silent hit.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from builder.atomic import write_text_atomically
from builder.model import Card, CardResult, CheckResult, Diagnostic, SourceLoc
from builder.replay import file_digest
from builder.resources import KeptReads, package_digest

__all__ = ["CheckCache", "code_key", "current_code_key", "file_digest", "is_storable",
           "library_versions"]

LIBRARIES = ("sympy", "numpy")
"""The libraries whose version can change a verdict (besides Python's)."""


def library_versions() -> dict[str, str]:
    """The versions of Python and of `LIBRARIES`, as installed (`not installed` for a
    missing one), found without importing the libraries."""
    return {"python": sys.version, **{name: _version(name) for name in LIBRARIES}}


def _version(name: str) -> str:
    """The installed version of the package `name`: read from the name of its
    `name-version.dist-info` folder beside it when there is exactly one (a directory
    listing, where importing importlib.metadata alone costs a warm check a sixth of its
    time), else from importlib.metadata."""
    with contextlib.suppress(ImportError, ValueError, OSError):
        spec = importlib.util.find_spec(name)
        if spec is None:
            return "not installed"
        for location in spec.submodule_search_locations or ():
            found = list(Path(location).parent.glob(f"{name}-*.dist-info"))
            if len(found) == 1:
                return found[0].name[len(name) + 1:-len(".dist-info")]
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def code_key(code: str, versions: Mapping[str, str]) -> str:
    """The code part of a cache key: `code` (a digest of the package's files, see
    `builder.resources.files_digest`) and the libraries' `versions`."""
    digest = hashlib.blake2b(digest_size=20)
    digest.update(repr((code, sorted(versions.items()))).encode())
    return digest.hexdigest()


@functools.cache
def current_code_key() -> str | None:
    """This process's `code_key`, computed once; None when a file of the package could
    not be read (then nothing is cached)."""
    try:
        return code_key(package_digest(), library_versions())
    except OSError:
        return None


def is_storable(result: CardResult) -> bool:
    """Whether a result may be kept for later runs: not when a snippet errored (a timeout
    may be the machine's load, not the snippet: run it again), nor when a snippet's result
    does not say which files it read."""
    return not any(check.kind == "snippet" and (check.status == "error" or not check.files_read)
                   for check in result.checks)


def _mover(card: Card, stored: Sequence[int], stored_path: str) -> Callable[[str], str]:
    """What puts a stored message at the card's lines now: the definitions of its
    context that a message names (`holds given … (notes.md:95)`), stored at the lines
    `stored` of the sheet `stored_path`, named where they are now (the key holds their
    texts, in order). The same card with the same context in another sheet shares the
    entry: its message names its own sheet (a new-user trial saw another file's)."""
    path = str(card.loc.path)
    now = {old: eq.loc.line for old, eq in zip(stored, card.context, strict=True)
           if old != eq.loc.line or stored_path != path}
    if not now:
        return lambda message: message
    pattern = re.compile(rf"\(({re.escape(stored_path)}):({'|'.join(map(str, now))})\)")
    return lambda message: pattern.sub(lambda found: f"({path}:{now[int(found[2])]})",
                                       message)


_ENTRIES: KeptReads[Any] = KeptReads(50000)
"""The entries read in this process (a daemon's second check of a sheet parses none
again): an entry is written for its key alone, and what may make it stale, the files its
snippets read, is looked at on every `get`."""


class CheckCache:
    """Card results on disk under `directory` (`.cache/check/`), one file per card.

    The key (`key`) is the card's content (not its position: lines are stored relative
    to the card, so an edit above it does not re-check it), the code key and the
    snippets folder; the entry also holds the digest of every file the card's snippets
    read, checked on each lookup (`get`). Written atomically; a damaged entry, or one
    whose files changed or cannot be read, is a miss. One instance serves one run: it
    takes the digest of each file once."""

    def __init__(self, directory: Path, *, code: str | None = None) -> None:
        """`code`: the code key (`code_key`); by default this process's."""
        self.directory = directory
        self._code = code if code is not None else current_code_key()
        self._digests: dict[str, str] = {}
        """The digest of each file an entry's snippets read, taken once per run: cards
        that link the same snippets look at the same files."""
        self._loaded_memo: dict[str, Any] | None = None
        self._used: dict[str, Any] = {}
        self._memo_changed = False

    def key(self, card: Card, snippets_dir: Path | None) -> str | None:
        """The card's key; None when the code key could not be computed."""
        if self._code is None:
            return None
        digest = hashlib.blake2b(digest_size=20)
        origin = card.loc.line
        # Lines relative to the card's (an edit above it does not check it again); its
        # context (the definitions above it that it uses) by their text alone: `get`
        # puts the lines a message names where those definitions are now.
        what = (card.title, [(eq.tex, eq.loc.line - origin) for eq in card.equations],
                card.checks, card.assume, card.nocheck, card.declarations, card.code,
                self._code, str(snippets_dir), [eq.tex for eq in card.context])
        digest.update(repr(what).encode())
        return digest.hexdigest()

    def get(self, key: str, card: Card) -> CardResult | None:
        """The result stored under `key`, placed at the card's lines, if every file it
        read is unchanged."""
        try:
            data = _ENTRIES.read(self.directory / f"{key}.json",
                                 lambda path: json.loads(path.read_text(encoding="utf-8")))
            for name, digest in data["files"].items():
                if name not in self._digests:
                    self._digests[name] = file_digest(Path(name))
                if self._digests[name] != digest:
                    return None
            moved = _mover(card, data["context"], str(data.get("path", card.loc.path)))
            checks = tuple(
                CheckResult(item["kind"], item["status"],
                            SourceLoc(card.loc.path, card.loc.line + item["offset"]),
                            moved(item["message"]),
                            tuple(Path(name) for name in item["files"]),
                            item.get("standard", ""),
                            tuple((mine, theirs) for mine, theirs in item.get("renaming", ())))
                for item in data["checks"])
            return CardResult(card, data["status"], moved(data["message"]), checks)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def put(self, key: str, result: CardResult) -> None:
        """Store `result`, with the digests of the files its checks read; not one that
        `is_storable` refuses."""
        if not is_storable(result):
            return
        snippets = [check for check in result.checks if check.kind == "snippet"]
        try:
            files = {str(path): file_digest(path)
                     for check in snippets for path in check.files_read}
        except OSError:
            return  # changed or gone already: the next run checks the card again
        data = {"status": result.status, "message": result.message, "files": files,
                "context": [eq.loc.line for eq in result.card.context],
                "path": str(result.card.loc.path),
                "checks": [{"kind": check.kind, "status": check.status,
                            "offset": check.loc.line - result.card.loc.line,
                            "message": check.message,
                            "files": [str(path) for path in check.files_read],
                            "standard": check.standard,
                            "renaming": [list(pair) for pair in check.renaming]}
                           for check in result.checks]}
        with contextlib.suppress(OSError):  # a cache that cannot be written only costs time
            path = self.directory / f"{key}.json"
            write_text_atomically(path, json.dumps(data))
            _ENTRIES.keep(path, data)
        self._digests.update(files)

    def diagnostics(self, card: Card, compute: Callable[[Card], Sequence[Diagnostic]]
                    ) -> tuple[Diagnostic, ...]:
        """`compute(card)`: what a stage says of a card besides its verdict (its `assume:`
        and `let:` warnings, its unbalanced delimiters), a function of the card's content
        alone, kept under the card's key with lines relative to the card, so that a warm
        run need not compile the card to say it again. Kept in one file for the whole
        folder (`DIAGNOSTICS`), read on first use and written by `flush`."""
        key = self.key(card, None)
        if key is None:
            return tuple(compute(card))
        name = f"{key}:{compute.__module__}.{compute.__qualname__}"
        memo = self._memo()
        origin = card.loc.line
        kept = memo.get(name)
        if kept is not None:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                found = tuple(Diagnostic(SourceLoc(card.loc.path, origin + offset), message,
                                         severity) for offset, message, severity in kept)
                self._used[name] = kept
                return found
        found = tuple(compute(card))
        self._used[name] = [(d.loc.line - origin, d.message, d.severity) for d in found]
        self._memo_changed = True
        return found

    DIAGNOSTICS = Path("diagnostics") / "memo.json"
    """Where, under the folder, `diagnostics` keeps what it computed."""
    KEPT_DIAGNOSTICS = 20000
    """How many cards' diagnostics the file keeps at most: past that, those of the last
    run's cards only (it does not grow with every edit for ever)."""

    def _memo(self) -> dict[str, Any]:
        if self._loaded_memo is None:
            try:
                loaded = json.loads((self.directory / self.DIAGNOSTICS).read_text(
                    encoding="utf-8"))
                self._loaded_memo = loaded if isinstance(loaded, dict) else {}
            except (OSError, ValueError):
                self._loaded_memo = {}
        return self._loaded_memo

    def flush(self) -> None:
        """Write what `diagnostics` computed in this run (nothing when all was known)."""
        if not self._memo_changed:
            return
        memo = {**self._memo(), **self._used}
        if len(memo) > self.KEPT_DIAGNOSTICS:
            memo = dict(self._used)
        with contextlib.suppress(OSError):  # a cache that cannot be written only costs time
            write_text_atomically(self.directory / self.DIAGNOSTICS,
                                  json.dumps(memo, ensure_ascii=False))
        self._loaded_memo, self._memo_changed = memo, False
