"""resources: where the package's own files and the project's JavaScript live, and a digest
of the package's files for cache keys.

The JavaScript parts (MathJax, mermaid, esbuild) are installed by `npm ci` into the
`node_modules` of the checkout the package runs from.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
"""The `builder` package's directory."""
PROJECT = PACKAGE.parent
"""The checkout holding the package, `package.json` and `node_modules`."""
NODE_MODULES = PROJECT / "node_modules"
JS = PACKAGE / "js"

PACKAGE_SUFFIXES = (".py", ".css", ".j2", ".js", ".cjs")
"""The kinds of file the package is made of: its code, themes, templates and scripts."""


def tree_digest(root: Path, suffixes: Iterable[str] = PACKAGE_SUFFIXES) -> str:
    """A digest of every file under `root` whose name ends with one of `suffixes`: their
    paths relative to `root` and their contents, so that an edited, added, removed or
    renamed file changes it. Found by walking the tree (bytecode caches left out), never
    from a list kept by hand. OSError when a file cannot be read: a cache keyed on a
    digest that cannot be computed must miss, not hit."""
    wanted = tuple(suffixes)
    found: list[Path] = []
    for folder, folders, files in os.walk(root):
        folders[:] = [name for name in folders if name != "__pycache__"]
        found += [Path(folder, name) for name in files if name.endswith(wanted)]
    digest = hashlib.blake2b(digest_size=20)
    for path in sorted(found):
        content = path.read_bytes()
        name = path.relative_to(root).as_posix().encode()
        digest.update(len(name).to_bytes(4, "big") + name)
        digest.update(len(content).to_bytes(8, "big") + content)
    return digest.hexdigest()


@functools.cache
def package_digest(suffixes: tuple[str, ...] = PACKAGE_SUFFIXES) -> str:
    """`tree_digest` of the `builder` package, computed once per process: the code part
    of a cache key (the check cache takes `.py` only; the slide cache every kind)."""
    return tree_digest(PACKAGE, suffixes)
