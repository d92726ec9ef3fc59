"""resources: where the package's own files and the project's JavaScript live.

The JavaScript parts (MathJax, mermaid, esbuild) are installed by `npm ci` into the
`node_modules` of the checkout the package runs from.
"""

from __future__ import annotations

import functools
import hashlib
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
