"""resources: where the package's own files and the project's JavaScript live.

The JavaScript parts (MathJax, mermaid, esbuild) are installed by `npm ci` into the
`node_modules` of the checkout the package runs from.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
"""The `builder` package's directory."""
PROJECT = PACKAGE.parent
"""The checkout holding the package, `package.json` and `node_modules`."""
NODE_MODULES = PROJECT / "node_modules"
JS = PACKAGE / "js"

SOURCE_SUFFIXES = (".py", ".css", ".j2", ".js", ".cjs")
"""The kinds of file whose contents decide what the package does."""


def files_digest(root: Path) -> str:
    """A digest of every source file under `root` (`SOURCE_SUFFIXES`): their paths
    relative to `root` and their contents, found by walking the tree, so that a file
    added, removed, renamed or edited changes it."""
    digest = hashlib.blake2b(digest_size=16)
    files = sorted(path for path in root.rglob("*")
                   if path.suffix in SOURCE_SUFFIXES and path.is_file()
                   and "__pycache__" not in path.relative_to(root).parts)
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.blake2b(path.read_bytes(), digest_size=16).digest())
    return digest.hexdigest()


@functools.cache
def package_digest() -> str:
    """`files_digest` of the package's own directory, once per process: part of every
    cache key that the code decides (a module renamed or added cannot drop out of it)."""
    return files_digest(PACKAGE)


REPOSITORY_MARKERS = (".git", "pyproject.toml")
"""What makes a folder a notes repository's root, for `cache_location`."""


@dataclass(frozen=True, slots=True)
class CacheLocation:
    """Where a run keeps its caches (`check/`, `math/`, `render/`, PDF pages) and why."""

    path: Path
    why: str
    """How it was chosen, in words (`sheets doctor` prints it)."""


def cache_location(start: Path | None = None,
                   environ: Mapping[str, str] | None = None) -> CacheLocation:
    """The cache folder: `$SHEETS_CACHE_DIR` when set; else `.cache/` at the root of the
    notes repository that holds `start` (a sheet or a folder; the working directory when
    None): the nearest folder at or above it with `.git` or `pyproject.toml`; else the
    user's cache directory, `$XDG_CACHE_HOME/sheets` or `~/.cache/sheets`. A command run
    in some other folder leaves no `.cache/` behind there."""
    env = os.environ if environ is None else environ
    configured = env.get("SHEETS_CACHE_DIR")
    if configured:
        return CacheLocation(Path(configured), "SHEETS_CACHE_DIR is set")
    root = repository_root(Path.cwd() if start is None else start)
    if root is not None:
        return CacheLocation(root / ".cache", f"the notes repository's root is {root}")
    return CacheLocation(user_cache_dir(env), "not inside a notes repository (no .git "
                         "or pyproject.toml above): the user's cache directory")


def cache_dir(start: Path | None = None) -> Path:
    """`cache_location(start).path`."""
    return cache_location(start).path


def repository_root(start: Path) -> Path | None:
    """The nearest folder at or above `start` (resolved; a file's folder) holding one of
    `REPOSITORY_MARKERS`, or None."""
    here = start.resolve()
    if not here.is_dir():
        here = here.parent
    for folder in (here, *here.parents):
        if any((folder / marker).exists() for marker in REPOSITORY_MARKERS):
            return folder
    return None


def user_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """`$XDG_CACHE_HOME/sheets`, else `~/.cache/sheets`: the caches of runs outside any
    notes repository, and what is made once per installation (the V8 snapshot)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".cache"
    return root / "sheets"
