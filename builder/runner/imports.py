"""Which files of a snippets folder a snippet read: its module and every local module it
imported, directly or through another, so that a cached result can depend on them (as
Sphinx's `env.note_dependency` makes a document depend on the files it includes).

Runs in the worker process only. Two records, because neither sees everything:
- every `import` statement executed by a module of a watched folder, through a wrapper
  of `builtins.__import__`: it sees a helper that is already loaded (another snippet
  imported it first), which no look at `sys.modules` can tell apart;
- the modules of the folder that appeared in `sys.modules` while a snippet was imported
  and called (`importlib.import_module`, and loaders that bypass the statement).
A snippet's files are then everything reachable from its module.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib.util
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType

__all__ = ["ImportRecorder"]


def _module_file(module: object) -> str | None:
    name = getattr(module, "__file__", None)
    return name if isinstance(name, str) else None


class ImportRecorder:
    """The import graph among the files of the watched snippets folders."""

    def __init__(self) -> None:
        self._folders: set[str] = set()  # each ends with os.sep
        self._edges: dict[str, set[str]] = {}  # a file → the folder's files it imported
        self._original = builtins.__import__

    def install(self) -> None:
        """Record `import` statements from now on (in this process, for good)."""
        if builtins.__import__ is self._original:
            builtins.__import__ = self._import

    def watch(self, folder: Path) -> None:
        self._folders.add(str(folder) + os.sep)

    def forget(self, folder: Path) -> None:
        """Drop what is known of `folder`'s files (they are about to be imported afresh)."""
        prefix = str(folder) + os.sep
        for name in [name for name in self._edges if name.startswith(prefix)]:
            del self._edges[name]

    @contextlib.contextmanager
    def loading(self, origin: Path) -> Iterator[None]:
        """Count the modules of `origin`'s folder that appear while this block runs as
        imported by `origin`."""
        before = self._loaded()
        try:
            yield
        finally:
            folder = self._folder_of(str(origin))
            if folder is not None:
                new = {name for name in self._loaded() - before if name.startswith(folder)}
                self._edges.setdefault(str(origin), set()).update(new)

    def files_read(self, origin: Path) -> tuple[Path, ...]:
        """`origin` and every file of its folder reachable from it, sorted."""
        seen = {str(origin)}
        waiting = [str(origin)]
        while waiting:
            for name in self._edges.get(waiting.pop(), ()):
                if name not in seen:
                    seen.add(name)
                    waiting.append(name)
        return tuple(sorted(Path(name) for name in seen))

    # ---------------------------------------------------------------- internals

    def _folder_of(self, name: str) -> str | None:
        return next((folder for folder in self._folders if name.startswith(folder)), None)

    def _loaded(self) -> set[str]:
        return {name for module in list(sys.modules.values())
                if (name := _module_file(module)) is not None}

    def _import(self, name: str, globals: Mapping[str, object] | None = None,
                locals: Mapping[str, object] | None = None,
                fromlist: Sequence[str] | None = (), level: int = 0) -> ModuleType:
        module = self._original(name, globals, locals, fromlist, level)
        importer = globals.get("__file__") if globals else None
        if isinstance(importer, str) and (folder := self._folder_of(importer)):
            with contextlib.suppress(Exception):  # recording must never break an import
                self._note(importer, folder, module, name, globals, fromlist, level)
        return module

    def _note(self, importer: str, folder: str, module: ModuleType, name: str,
              globals: Mapping[str, object] | None, fromlist: Sequence[str] | None,
              level: int) -> None:
        absolute = name
        if level:
            package = (globals or {}).get("__package__")
            absolute = importlib.util.resolve_name("." * level + name,
                                                   package if isinstance(package, str) else "")
        names = [absolute]
        parts = absolute.split(".")
        names += [".".join(parts[:count]) for count in range(1, len(parts))]
        names += [f"{absolute}.{item}" for item in fromlist or ()]
        found = {_module_file(sys.modules.get(item)) for item in names}
        found.add(_module_file(module))
        edges = self._edges.setdefault(importer, set())
        edges.update(file for file in found if file is not None and file.startswith(folder)
                     and file != importer)
