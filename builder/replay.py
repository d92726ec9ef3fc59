"""replay: what a command printed and wrote, kept with every input it read, so that a run
whose inputs are all unchanged says and writes the same again without doing the work
(a warm `sheets check` or `sheets build --to html` of a sheet that did not change).

The caller names the inputs it knows before working in the key (the command and its
options, the sheets' bytes, the code's version) and, once it has worked, the files the
work turned out to read (a snippet and its helpers, an image); an entry is a hit only
while each of those files still has the digest it had (as `builder.check.cache` does for
one card). A key that cannot be computed, or an entry that cannot be read, is a miss.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from builder.atomic import write_text_atomically

__all__ = ["ReplayCache", "file_digest", "inputs_key"]


def file_digest(path: Path) -> str:
    """A digest of the file's bytes; OSError when it cannot be read."""
    return hashlib.blake2b(path.read_bytes(), digest_size=20).hexdigest()


def _file_state(path: Path) -> str:
    """`file_digest`, or "missing" for a file that is not there (a missing image is an
    input too: the run warned about it); OSError when it cannot be read."""
    try:
        return file_digest(path)
    except FileNotFoundError:
        return "missing"


def inputs_key(*parts: object) -> str:
    """The key of a run from what decides it (`repr`-able values: strings, paths,
    numbers, tuples of them)."""
    return hashlib.blake2b(repr(parts).encode(), digest_size=20).hexdigest()


class ReplayCache:
    """Runs by key under `directory` (`.cache/replay/`), one JSON file each: the
    caller's `payload` and the digests of the files the run read."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def get(self, key: str) -> dict[str, Any] | None:
        """The payload stored under `key` if every file it read is unchanged."""
        try:
            data = json.loads((self.directory / f"{key}.json").read_text(encoding="utf-8"))
            for name, digest in data["files"].items():
                if _file_state(Path(name)) != digest:
                    return None
            payload = data["payload"]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        return payload if isinstance(payload, dict) else None

    def put(self, key: str, payload: Mapping[str, Any], files: Iterable[Path]) -> None:
        """Store `payload` with the digests of `files`, read now (as `CheckCache.put`
        reads a snippet's); a file that cannot be read stores nothing."""
        try:
            digests = {str(path.absolute()): _file_state(path) for path in files}
        except OSError:
            return
        with contextlib.suppress(OSError):  # a cache that cannot be written only costs time
            write_text_atomically(self.directory / f"{key}.json", json.dumps(
                {"payload": dict(payload), "files": digests}, ensure_ascii=False))
