"""scaffold: `sheets init [DIR]` lays out a notes repository.

The files under `files/` (package data) are copied into DIR: `sheets/` with an example
sheet whose cards pass (one linked to a snippet), `snippets/` with that snippet, the
GitHub Actions workflow, the pytest configuration (`sheets_paths`, so that a plain
`pytest` collects the sheets), a `.gitignore` and a README. An existing file is never
overwritten: it is left as it is and reported as skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath

# Names that a package cannot carry as they are (a wheel's tools skip dot files).
_RENAMED = {"gitignore": ".gitignore", "github": ".github"}


@dataclass
class Layout:
    """What `lay_out` did: the files it wrote and those it left alone, relative to DIR."""

    written: list[PurePosixPath] = field(default_factory=list)
    skipped: list[PurePosixPath] = field(default_factory=list)


def template_files() -> dict[PurePosixPath, Traversable]:
    """Each file of a new notes repository, by its path in it."""
    found: dict[PurePosixPath, Traversable] = {}

    def walk(folder: Traversable, where: PurePosixPath) -> None:
        for entry in sorted(folder.iterdir(), key=lambda entry: entry.name):
            if entry.name == "__pycache__":
                continue
            path = where / _RENAMED.get(entry.name, entry.name)
            if entry.is_dir():
                walk(entry, path)
            else:
                found[path] = entry

    walk(resources.files(__name__) / "files", PurePosixPath())
    return found


def lay_out(directory: Path) -> Layout:
    """Write the notes repository's files into `directory` (made if need be), each only
    where no file is yet."""
    layout = Layout()
    for relative, source in template_files().items():
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with target.open("xb") as written:  # never over an existing file
                written.write(source.read_bytes())
        except FileExistsError:
            layout.skipped.append(relative)
            continue
        layout.written.append(relative)
    return layout


__all__ = ["Layout", "lay_out", "template_files"]
