"""What decides the render stage's output besides the sheet, its themes and its images:
the package's code, MathJax's release and the libraries'. A module of its own, importing
neither markdown-it nor node, so that a warm `sheets build` can ask it before anything
else (`builder.replay`)."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import importlib.util
from pathlib import Path

from builder.resources import JAVASCRIPT, package_digest

__all__ = ["code_version", "file_state", "page_version"]

_LIBRARIES = ("markdown_it", "pygments", "jinja2", "tinycss2", "mdit_py_plugins",
              "html5lib")


def file_state(path: Path) -> str:
    """A file's modification time and size, or "missing": what says it has changed."""
    try:
        stat = path.stat()
    except OSError:
        return "missing"
    return f"{stat.st_mtime_ns}:{stat.st_size}"


@functools.cache
def code_version() -> str:
    """What decides a slide's HTML besides the sheet: the package's own files (this code,
    the parser's, the templates, themes and scripts: `package_digest`), MathJax's release
    (its version file) and the libraries' (by their installed files)."""
    digest = hashlib.blake2b(package_digest().encode(), digest_size=16)
    with contextlib.suppress(OSError):
        digest.update(JAVASCRIPT.version_file.read_bytes())
    for library in _LIBRARIES:
        with contextlib.suppress(ImportError, ValueError, AttributeError):
            spec = importlib.util.find_spec(library)
            if spec is not None and spec.origin:
                digest.update(f"{spec.origin}\0{file_state(Path(spec.origin))}".encode())
    return digest.hexdigest()


@functools.cache
def page_version() -> str:
    """`code_version` and the state of every file of the JavaScript parts a page may
    inline (MathJax's fonts, mermaid): what decides a whole page besides its sheet,
    themes and images."""
    digest = hashlib.blake2b(code_version().encode(), digest_size=16)
    for part in dataclasses.fields(JAVASCRIPT):
        value = getattr(JAVASCRIPT, part.name)
        if isinstance(value, Path):
            digest.update(f"{value}\0{file_state(value)}".encode())
    return digest.hexdigest()
