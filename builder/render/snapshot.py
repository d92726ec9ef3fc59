"""The start-up snapshot of MathJax's node process (builder/render/typeset.py): node
starts from a V8 snapshot of typeset.cjs with MathJax loaded and warmed up, ~0.15 s
instead of ~0.45 s, and then typesets a deck with a third less CPU. Made once per
installation, node binary and code version, in the user's cache directory; where it
cannot be made (an old node, a read-only node_modules) node runs typeset.cjs itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import signal
import subprocess
import threading
import time
from pathlib import Path

from builder.resources import JAVASCRIPT, JS, PROJECT, find_node, user_cache_dir

__all__ = ["NODE_FLAGS", "SNAPSHOT_DEATHS", "discard_snapshot", "prepare_snapshot",
           "snapshot"]

_SCRIPT = JS / "typeset.cjs"
_SNAPSHOT_SCRIPT = JS / "snapshot.cjs"
_ESBUILD = PROJECT / "node_modules" / "esbuild"


def _snapshot_dir() -> Path:
    """Where the start-up snapshots of typeset.cjs go, one per node binary and code
    version: made once per installation, so in the user's cache directory
    (`snapshots/` in `builder.resources.user_cache_dir`), never beside the package (an
    installed one may be read-only, and is shared)."""
    return user_cache_dir() / "snapshots"


# V8's optimising compiler off: for a deck's formulas (a few hundred small, varied
# calls) its background compiles cost more than they win back. typeset.mjs on seed 001's
# 232 formulas, 6 interleaved runs at load ~3: CPU 1.75 -> 1.29 s, wall 1.80 -> 1.49 s;
# five batches in one process (the preview's long life) 6.12 -> 5.73 s. `--no-opt` is
# the name Node 18 (Debian 12) and later all accept. And the heap bounded: a formula that
# needs more ends node (a whole deck takes ~100 MB), and is that formula's error.
MEMORY_LIMIT_MB = 512
NODE_FLAGS = ("--no-opt", f"--max-old-space-size={MEMORY_LIMIT_MB}")


_snapshots: dict[str, Path | None] = {}
_snapshots_lock = threading.Lock()


def snapshot(node: str) -> Path | None:
    """A start-up snapshot of typeset.cjs for `node` (snapshot.cjs): node starts from it
    with MathJax loaded and warmed up, ~0.15 s instead of ~0.45 s, and then typesets a
    deck with a third less CPU. Built by `make` at set-up (`prepare_snapshot`), else on
    first use (~1.5 s, once per installation and code version); None where it cannot be
    (an old node, a read-only node_modules): node then runs typeset.cjs itself."""
    with _snapshots_lock:
        if node not in _snapshots:
            _snapshots[node] = _make_snapshot(node)
        return _snapshots[node]


def prepare_snapshot() -> Path | None:
    """Build the start-up snapshot now, if it is not there (`make` does, at set-up, so
    that no build pays for it); the blob, or None where it cannot be made."""
    node = find_node()
    return snapshot(node) if node is not None else None


def _make_snapshot(node: str) -> Path | None:
    # Made of MathJax, the two scripts and esbuild (which bundles them); and a blob fits
    # one node binary and its flags only (another one crashes or refuses it).
    digest = hashlib.blake2b(repr(NODE_FLAGS).encode(), digest_size=12)
    try:
        binary = Path(node).resolve()
        state = binary.stat()
        digest.update(f"{binary}\0{state.st_size}\0{state.st_mtime_ns}".encode())
        parts = (JAVASCRIPT.version_file, JAVASCRIPT.typeset_script) if JAVASCRIPT.vendored \
            else (JAVASCRIPT.version_file, _ESBUILD / "package.json")
        for part in (*parts, _SCRIPT, _SNAPSHOT_SCRIPT):
            digest.update(part.read_bytes())
    except OSError:
        return None
    path = _snapshot_dir() / f"mathjax-{digest.hexdigest()}.blob"
    failed = path.with_suffix(".failed")
    if path.is_file():
        return path
    with contextlib.suppress(OSError):
        if failed.stat().st_mtime > time.time() - 24 * 3600:  # not again on every start
            return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        built = subprocess.run([node, *NODE_FLAGS, *JAVASCRIPT.snapshot_args, str(path)],
                               cwd=PROJECT, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               timeout=120, check=False)
        if built.returncode == 0 and path.is_file():
            _prune_snapshots()
            return path
        failed.write_bytes(built.stderr[-4000:])
    except (OSError, subprocess.SubprocessError):
        with contextlib.suppress(OSError):
            failed.touch()
    return None


def _prune_snapshots(keep: int = 4) -> None:
    """The newest few snapshots only (~11 MB each; other checkouts that share this
    node_modules, or other node binaries, may be using the others)."""
    with contextlib.suppress(OSError):
        blobs = sorted(_snapshot_dir().glob("mathjax-*.blob"),
                       key=lambda blob: blob.stat().st_mtime)
        for old in blobs[:-keep]:
            old.unlink(missing_ok=True)


def discard_snapshot(path: Path) -> None:
    """A snapshot node died on: typeset.cjs runs from now on, and the next process
    that needs one builds it anew."""
    with _snapshots_lock:
        for node, snapshot in _snapshots.items():
            if snapshot == path:
                _snapshots[node] = None
    path.unlink(missing_ok=True)


# How node ends on a snapshot it cannot use: it refuses one made by another node or with
# other flags (exit code 14), and crashes on a damaged one.
SNAPSHOT_DEATHS = (14, -signal.SIGSEGV, -signal.SIGBUS, -signal.SIGABRT, -signal.SIGILL,
                    -signal.SIGTRAP)
