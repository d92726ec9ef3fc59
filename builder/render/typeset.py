"""Math typesetting: TeX to MathJax CHTML, offline, the same HTML for the page and the PDF.

Persistent `node` processes run `builder/js/typeset.cjs` (MathJax 3 from the
repository's `node_modules/mathjax-full`, installed by `make` with `npm ci`; an installed
package runs the bundle of both it carries: `builder.resources.JAVASCRIPT`), started from
a snapshot of it with MathJax loaded (builder/render/snapshot.py), each answering one JSON line per
request. CHTML rather than SVG because its letters stay text: they can be
selected and searched in the HTML, and `pdftotext` finds them in the printed PDF.

Each formula stands alone: what one defines (`\\newcommand`, `\\DeclareMathOperator`,
labels) is gone in the next, so a result depends on its TeX only and can be cached by it
per (tex, display, MathJax version, typeset code) on disk under `math/` in the cache
folder (`builder.resources.cache_location`) and in memory, so a rebuild with unchanged
math never starts node. CHTML's CSS depends on which glyphs were used, and cached results
never passed through MathJax in this process; so the CSS for every glyph is fetched once
(cached on disk too) and `stylesheet()` keeps the rules and fonts the given (or all so
far) results use, with the fonts inlined as `data:` URLs: a single HTML file needs
nothing beside it.

A formula MathJax cannot typeset is that formula's error (`Typeset.error`), never the
build's: its TeX errors, an exception it throws (a stack overflow on deep nesting), a
formula too long to be worth trying (`MAX_LENGTH`), and one on which node runs past the
time limit, out of memory (`--max-old-space-size`) or dies otherwise; node is then
started anew for the formulas after it.
"""

from __future__ import annotations

import atexit
import base64
import collections
import contextlib
import functools
import hashlib
import html
import json
import os
import re
import select
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from builder.atomic import write_text_atomically
from builder.model import BuildError
from builder.render.snapshot import NODE_FLAGS, SNAPSHOT_DEATHS, discard_snapshot, snapshot
from builder.resources import JAVASCRIPT, JS, PROJECT, cache_location, find_node

_ROOT = PROJECT
_JS = JAVASCRIPT
_SCRIPT = JS / "typeset.cjs"
# Placeholders typeset.cjs writes (see there).
_FONT_URL = "SHEETS-MATHJAX-FONTS"

_CLASS_ATTRIBUTE = re.compile(r'class="([^"]*)"')
_CHAR_CLASS = re.compile(r"\bmjx-c[0-9A-F]+\b")
_VARIANT_CLASS = re.compile(r"\bTEX-[A-Z0-9]+\b")


@dataclass(frozen=True, slots=True)
class Glyphs:
    """What of MathJax's CSS some typeset HTML needs (`glyphs_of`)."""

    chars: frozenset[str]
    """Its character classes (`mjx-c41`)."""
    variants: frozenset[str]
    """Its font variants (`TEX-I`)."""
    stretchy: bool
    """Whether it has stretchy delimiters."""

    @staticmethod
    def union(all_glyphs: Iterable[Glyphs]) -> Glyphs:
        chars: set[str] = set()
        variants: set[str] = set()
        stretchy = False
        for glyphs in all_glyphs:
            chars.update(glyphs.chars)
            variants.update(glyphs.variants)
            stretchy = stretchy or glyphs.stretchy
        return Glyphs(frozenset(chars), frozenset(variants), stretchy)


def glyphs_of(fragment: str) -> Glyphs:
    """The glyphs of the formulas in `fragment` (typeset HTML): what `stylesheet` covers
    for it. A slide's are kept with its HTML (`builder.render.cache`), so that a page of
    slides from the cache is not read through again for them."""
    chars: set[str] = set()
    variants: set[str] = set()
    for classes in _CLASS_ATTRIBUTE.findall(fragment):
        chars.update(_CHAR_CLASS.findall(classes))
        variants.update(_VARIANT_CLASS.findall(classes))
    return Glyphs(frozenset(chars), frozenset(variants), "<mjx-stretchy" in fragment)


# MathJax writes one rule per block: `selector {`, declarations, `}` alone on a line.
# (Braces inside are glyphs: `content: "{"`.)
_RULE = re.compile(r"^([^\n]+?) \{\n(.*?)^\}$", re.MULTILINE | re.DOTALL)
_FONT_FACE = re.compile(r'font-family:\s*(MJX[A-Z0-9-]+);\s*src:\s*url\("' + _FONT_URL
                        + r'/([^"]+)"\)')
# A cold batch goes to up to two node processes (one per _SHARE formulas), dealt out in
# chunks of _CHUNK that each takes as it finishes one: neither waits for the other, and
# one on a busy core just takes fewer. The second costs ~100 MB and ~0.5 s of CPU (its own
# start-up and JIT). `render_deck` of seed 001 (232 formulas) cold, node started before
# parsing as `sheets build` does, 8 interleaved runs each on a quiet 2-core machine:
# 1.70 s (one process, the batch in one piece) -> 1.29 s (median).
_SHARE = 60
_CHUNK = 8


def _default_processes() -> int:
    return 2 if (os.cpu_count() or 1) >= 2 else 1


MAX_LENGTH = 5000
"""The longest formula (in characters) sent to MathJax; a longer one is an error at once.
MathJax's time grows faster than the length (a sum of a few thousand terms takes it
seconds), and a formula of a few hundred characters already fills a slide: the longest
of the seeds has 687."""

TIME_LIMIT = 10.0
"""Seconds node may spend on one formula (the default of `Typesetter(time_limit=)`); past
it, node is stopped and the formula is an error."""

# Seconds a node process may take to start (from typeset.cjs without a snapshot on a busy
# machine, a second or two).
_START_LIMIT = 60.0


# Stretchy delimiters draw from these fonts whatever their variant (MathJax's own rule).
_STRETCHY_FONTS = ("MJXTEX-S1", "MJXTEX-S4", "MJXTEX-A")

# Text in \text{} takes the page's font (Noto CJK for Japanese), as MathJax's
# mtextInheritFont does in a browser: MathJax sets its own font on the whole formula, so
# it moves to the glyphs instead, below the variant classes (:where() weighs nothing).
_SHEETS_CSS = """
mjx-container[jax="CHTML"] mjx-math.MJX-TEX { font-family: inherit; }
:where(mjx-container[jax="CHTML"]) mjx-c { font-family: MJXZERO, MJXTEX; }
mjx-container[jax="CHTML"] mjx-merror.sheets-math-error {
  font-family: monospace; line-height: normal; white-space: pre-wrap; padding: 0 .2em;
  outline: 1px solid red;
}
"""


@dataclass(frozen=True, slots=True)
class Typeset:
    """One typeset formula."""

    html: str
    """An `<mjx-container>` element; on an error, the TeX itself, visibly marked."""
    error: str | None
    """Why the formula could not be typeset, or None: MathJax's TeX error (`Missing close
    brace`), a link it may not have (`\\href{javascript:…}`: only http:, https:, mailto:
    and relative links are kept), or another failure of MathJax on it (see the module's
    docstring)."""


def _default_cache_dir() -> Path:
    return cache_location().path / "math"


@functools.cache
def code_version() -> str:
    """What decides a result besides its TeX: the MathJax release and this stage's code
    (render.py's slide cache builds on it too)."""
    digest = hashlib.blake2b(digest_size=12)
    for path in (_JS.version_file, _SCRIPT, Path(__file__)):
        with contextlib.suppress(OSError):
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _too_long(key: tuple[str, bool]) -> Typeset | None:
    """The error of a formula over `MAX_LENGTH` characters (None for any other)."""
    tex, display = key
    if len(tex) <= MAX_LENGTH:
        return None
    message = (f"formula too long to typeset ({len(tex):,} characters; MathJax is given "
               f"formulas of up to {MAX_LENGTH:,})")
    return Typeset(_error_html(tex, display, message), message)


# An error box shows this many characters of the TeX at most, wrapped anywhere: a formula
# MathJax failed on may be thousands of characters without a space, and its box must not
# overflow the slide (a second warning about the same formula).
_ERROR_SHOWN = 300


def _error_html(tex: str, display: bool, message: str) -> str:
    """The TeX as written (its start, if long), red-outlined, MathJax's message as its
    tooltip."""
    if len(tex) > _ERROR_SHOWN:
        tex = tex[:_ERROR_SHOWN] + " …"
    shown = html.escape(f"$${tex}$$" if display else f"${tex}$")
    attributes = ' display="true"' if display else ""
    return (f'<mjx-container class="MathJax" jax="CHTML"{attributes}>'
            f'<mjx-merror class="sheets-math-error" style="overflow-wrap: anywhere;" '
            f'title="{html.escape(message)}">{shown}</mjx-merror></mjx-container>')




class _SnapshotFailed(RuntimeError):
    """A node process started from a snapshot died of it before its first reply."""


class _Died(RuntimeError):
    """A node process died (or was stopped) while typesetting a formula: the message says
    how, as that formula's error."""


class _MathJax:
    """One node process running typeset.cjs (from its snapshot where there is one): a
    request line in, a reply line out."""

    def __init__(self, *, time_limit: float = TIME_LIMIT) -> None:
        self.time_limit = time_limit
        node = find_node()
        if node is None:
            raise BuildError(None, "math needs Node.js (`node` is not on PATH): install it "
                                   "(Node 18 or later; or `pip install sheets-formula[node]`)"
                                   f", then run `make` in {_ROOT} if it is a checkout")
        if not _JS.installed:
            raise BuildError(None, f"MathJax is not installed ({_JS.version_file.parent} "
                                   f"is missing): {_JS.how_to_install()}")
        self.snapshot = snapshot(node)
        self._started = False
        """Whether node said it is ready: a death after that is a formula's."""
        start = ["--snapshot-blob", str(self.snapshot)] if self.snapshot \
            else [str(_JS.typeset_script)]
        # A file, not a pipe: node never blocks on a full stderr nobody reads.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self._process = subprocess.Popen([node, *NODE_FLAGS, *start],
                                         stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=self._stderr,
                                         cwd=_ROOT)
        # Replies read from the pipe itself, so that a wait for one can end (`_read_line`).
        assert self._process.stdout is not None
        self._stdout = self._process.stdout.fileno()
        self._readable = select.poll()
        self._readable.register(self._stdout, select.POLLIN)
        self._pending = bytearray()
        self._scanned = 0
        self._timed_out = False

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def send(self, request: dict[str, Any]) -> None:
        assert self._process.stdin is not None
        # A dead process shows as an empty reply in receive().
        with contextlib.suppress(OSError):
            self._process.stdin.write(json.dumps(request).encode() + b"\n")
            self._process.stdin.flush()

    def receive(self) -> dict[str, Any]:
        """The next reply. Raises `_Died` if node dies or runs past the time limit before
        it comes (once started: a failure to start is RuntimeError, `_SnapshotFailed`
        when the snapshot was to blame)."""
        if not self._started:
            line = self._read_line(_START_LIMIT)
            if not line:
                output = self._output()
                if self.snapshot is not None and self._exit_code() in SNAPSHOT_DEATHS:
                    discard_snapshot(self.snapshot)
                    raise _SnapshotFailed(f"node died starting from {self.snapshot}: {output}")
                raise RuntimeError(f"the MathJax process ({_SCRIPT.name}) did not start: "
                                   f"{output or self._death()}")
            self._started = True
        line = self._read_line(self.time_limit)
        if not line:
            raise _Died(self._death())
        reply: dict[str, Any] = json.loads(line)
        if "fatal" in reply:
            raise RuntimeError(f"{_SCRIPT.name} failed: {reply['fatal']}")
        return reply

    def _read_line(self, limit: float) -> bytes:
        """The next line node writes, or b"" if it ends first (stopped here after `limit`
        seconds without one)."""
        deadline = time.monotonic() + limit
        while (end := self._pending.find(b"\n", self._scanned)) < 0:
            self._scanned = len(self._pending)
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._readable.poll(max(1, int(remaining * 1000))):
                self._timed_out = True
                self._process.kill()
                return b""
            chunk = os.read(self._stdout, 1 << 20)
            if not chunk:
                return b""
            self._pending += chunk
        line = bytes(self._pending[:end])
        del self._pending[:end + 1]
        self._scanned = 0
        return line

    def _output(self) -> str:
        """The end of what node wrote to stderr."""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-2000:].strip()

    def _death(self) -> str:
        """What became of node, as the error of the formula it was on."""
        code = self._exit_code()
        output = self._output()
        if self._timed_out:
            return (f"MathJax took longer than {self.time_limit:g} s on this formula "
                    "and was stopped")
        if "out of memory" in output.lower():  # V8's several wordings of it
            return "MathJax ran out of memory on this formula"
        if code is not None and code < 0:
            cause = f"node was killed by signal {-code}"
            with contextlib.suppress(ValueError):
                cause = f"node was killed by {signal.Signals(-code).name}"
        else:
            last = output.splitlines()[-1] if output else ""
            cause = f"node exited with code {code}" + (f": {last}" if last else "")
        return f"typesetting this formula crashed MathJax ({cause})"

    def _exit_code(self) -> int | None:
        # node has closed its output: it is ending, but V8 writing out why it ran out of
        # memory can take seconds on a busy machine, and the reason is in what it writes.
        try:
            return self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            return None

    def end_input(self) -> None:
        """Tell node to finish: typeset.cjs ends at the end of its input."""
        with contextlib.suppress(OSError):
            assert self._process.stdin is not None
            self._process.stdin.close()

    def close(self) -> None:
        process = self._process
        self.end_input()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        assert process.stdout is not None
        process.stdout.close()
        self._stderr.close()


class _Deal:
    """A batch dealt out in chunks to node processes, each taking the next chunk when it
    has one left in flight (so node starts on it while the reply to the other travels to
    Python and is written to the cache). A process that dies on a formula makes that
    formula's error and is replaced; the formulas it still had go back to the queue."""

    def __init__(self, keys: list[tuple[str, bool]],
                 done: Callable[[tuple[str, bool], dict[str, Any]], Typeset],
                 start: Callable[[], _MathJax]) -> None:
        self.keys = keys
        self.results: list[Typeset | None] = [None] * len(keys)
        self.error: BaseException | None = None
        self.started = 0
        """Processes started in place of one that died."""
        self._done = done
        self._start = start
        self._lock = threading.Lock()
        self._queue = collections.deque(range(len(keys)))

    def _take(self) -> list[int] | None:
        with self._lock:
            if self.error is not None or not self._queue:
                return None
            return [self._queue.popleft() for _ in range(min(_CHUNK, len(self._queue)))]

    def work(self, worker: _MathJax) -> _MathJax:
        """Typeset chunks with `worker` until none is left; the process running at the end
        (`worker`, or the one that replaced it)."""
        in_flight: collections.deque[collections.deque[int]] = collections.deque()
        try:
            while True:
                while len(in_flight) < 2 and (chunk := self._take()) is not None:
                    worker.send({"items": [self.keys[index] for index in chunk]})
                    in_flight.append(collections.deque(chunk))
                if not in_flight:
                    return worker
                try:
                    reply = worker.receive()
                except _Died as death:
                    worker = self._replace(worker, in_flight, str(death))
                    continue
                index = in_flight[0].popleft()
                self.results[index] = self._done(self.keys[index], reply)
                if not in_flight[0]:
                    in_flight.popleft()
        except BaseException as error:
            with self._lock:
                self.error = self.error or error
            return worker

    def _replace(self, worker: _MathJax, in_flight: collections.deque[collections.deque[int]],
                 message: str) -> _MathJax:
        """Node died on the first formula it had not answered (it takes them in order):
        that one's error is how; the rest go back to the front of the queue, for a new
        process. The error is not cached on disk: the next build tries again."""
        index = in_flight[0].popleft()
        tex, display = self.keys[index]
        self.results[index] = Typeset(_error_html(tex, display, message), message)
        with self._lock:
            self._queue.extendleft(reversed([index for chunk in in_flight for index in chunk]))
        in_flight.clear()
        worker.close()
        replacement = self._start()
        with self._lock:
            self.started += 1
        return replacement


class Typesetter:
    """MathJax in node, started on the first cache miss and stopped by `close()` (or
    the `with` block, or at exit). Safe to share between threads (one batch at a time).

    A large cold batch (a whole deck) is shared by `processes` node processes (MathJax
    is single-threaded; default 2 with 2 cores or more, else 1); a small one (the
    preview's edited slide) uses one."""

    def __init__(self, *, cache_dir: Path | None = None, processes: int | None = None,
                 time_limit: float = TIME_LIMIT) -> None:
        self.cache_dir = cache_dir if cache_dir is not None else _default_cache_dir()
        self.processes = max(1, processes if processes is not None else _default_processes())
        self.time_limit = time_limit
        """Seconds node may spend on one formula before it is stopped (the formula's error)."""
        self.node_calls = 0
        """Batches sent to node so far (a warm build sends none)."""
        self.node_started = 0
        """Node processes started so far."""
        self._version = code_version()
        self._lock = threading.RLock()
        self._workers: list[_MathJax] = []
        self._memory: dict[tuple[str, bool], Typeset] = {}
        self._used_chars: set[str] = set()
        self._used_variants: set[str] = set()
        self._stretchy = False
        self._full_css: str | None = None
        self._css_pending: _MathJax | None = None
        """The worker that owes the reply to a stylesheet request (sent by warm_up)."""
        self._fonts: dict[str, str] = {}
        # The last few stylesheets by what they cover: a render asks twice per deck,
        # and the preview on every save, mostly for the same glyphs.
        self._stylesheets: dict[tuple[frozenset[str], frozenset[str], bool], str] = {}

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            workers, self._workers = self._workers, []
            self._css_pending = None
            if workers:
                atexit.unregister(self.close)
            for worker in workers:  # all wind down at once (~30 ms each, a big heap to free)
                worker.end_input()
            for worker in workers:
                worker.close()

    def warm_up(self) -> None:
        """Start node (all `processes`) now when the disk cache holds no formula yet (a
        first build: every formula will need it), so that it boots (~0.15 s from its
        snapshot) while the caller imports and parses; a rebuild finds its formulas
        cached and never pays for node."""
        with contextlib.suppress(OSError), os.scandir(self.cache_dir) as entries:
            if any(entry.name.endswith(".json") for entry in entries):
                return
        with self._lock:
            worker = self._running(self.processes)[0]
            if self._full_css is None and not self._css_path().is_file():
                # Node makes the full CSS (~0.1 s) now, while it would wait for the batch.
                worker.send({"stylesheet": True})
                self._css_pending = worker

    # -- typesetting -------------------------------------------------------------------

    def typeset(self, items: Sequence[tuple[str, bool]]) -> list[Typeset]:
        """Typeset (tex, display) pairs; results in the same order. All cache misses go
        to node at once. A formula that cannot be typeset is an error result, never an
        exception (those are for node or MathJax missing, or node failing to start)."""
        with self._lock:
            found: dict[tuple[str, bool], Typeset] = {}
            missing: dict[tuple[str, bool], None] = {}
            for tex, display in items:
                key = (tex, bool(display))
                if key in found or key in missing:
                    continue
                result = self._memory.get(key) or _too_long(key) or self._read_cache(key)
                if result is None:
                    missing[key] = None
                else:
                    found[key] = result
            if missing:
                keys = list(missing)
                try:
                    results = self._typeset_in_node(keys)
                except _SnapshotFailed:  # once more, with node running typeset.cjs
                    results = self._typeset_in_node(keys)
                found.update(zip(keys, results, strict=True))
            for key, result in found.items():
                self._memory[key] = result
                self._note_classes(result.html)
            return [found[(tex, bool(display))] for tex, display in items]

    def _typeset_in_node(self, keys: list[tuple[str, bool]]) -> list[Typeset]:
        """Results for `keys`, in order, each written to the disk cache as it comes. A
        batch is dealt out in chunks to up to `processes` node processes (one per
        `_SHARE` formulas), each taking the next chunk as it finishes one: the first
        (started by warm_up) begins at once, another joins once it has booted, and one
        on a busy core just takes fewer chunks."""
        try:
            self._collect_css()  # its reply comes first
        except BaseException:
            self.close()
            raise
        workers = self._running(min(self.processes, -(-len(keys) // _SHARE)))
        self.node_calls += 1

        def done(key: tuple[str, bool], reply: dict[str, Any]) -> Typeset:
            result = self._result(key, reply)
            self._write_cache(key, result)
            return result

        deal = _Deal(keys, done, lambda: _MathJax(time_limit=self.time_limit))

        def work(slot: int) -> None:
            workers[slot] = deal.work(workers[slot])

        helpers = [threading.Thread(target=work, args=(slot,), daemon=True,
                                    name="sheets-mathjax") for slot in range(1, len(workers))]
        for helper in helpers:
            helper.start()
        try:
            work(0)
        finally:
            for helper in helpers:
                helper.join()
            self._workers[:len(workers)] = workers  # with those that replaced the dead
            self.node_started += deal.started
        if deal.error is not None:
            # One died or we were interrupted: the others' replies would be read as the
            # next batch's. Start afresh next time.
            self.close()
            raise deal.error
        return [result for result in deal.results if result is not None]

    def _running(self, count: int) -> list[_MathJax]:
        """`count` live node processes (a dead one is replaced)."""
        for index, worker in enumerate(self._workers):
            if not worker.alive:
                worker.close()
                self._workers[index] = _MathJax(time_limit=self.time_limit)
                self.node_started += 1
        while len(self._workers) < count:
            if not self._workers:
                atexit.register(self.close)
            self._workers.append(_MathJax(time_limit=self.time_limit))
            self.node_started += 1
        return self._workers[:count]

    @staticmethod
    def _result(key: tuple[str, bool], reply: dict[str, Any]) -> Typeset:
        error = reply.get("error")
        if error is None and reply.get("html"):
            return Typeset(reply["html"], None)
        message = str(error or "MathJax gave no output")
        return Typeset(_error_html(key[0], key[1], message), message)

    def _cache_path(self, key: tuple[str, bool]) -> Path:
        digest = hashlib.blake2b(repr((key, self._version)).encode(), digest_size=20)
        return self.cache_dir / f"{digest.hexdigest()}.json"

    def _read_cache(self, key: tuple[str, bool]) -> Typeset | None:
        try:
            data = json.loads(self._cache_path(key).read_text(encoding="utf-8"))
            return Typeset(str(data["html"]), data["error"])
        except (OSError, ValueError, KeyError, TypeError):
            return None  # absent or damaged: typeset again

    def _write_cache(self, key: tuple[str, bool], result: Typeset) -> None:
        # A read-only or full disk only costs speed.
        with contextlib.suppress(OSError):
            write_text_atomically(self._cache_path(key),
                              json.dumps({"html": result.html, "error": result.error}))

    # -- CSS -----------------------------------------------------------------------------

    def _note_classes(self, fragment: str) -> None:
        glyphs = glyphs_of(fragment)
        self._used_chars.update(glyphs.chars)
        self._used_variants.update(glyphs.variants)
        self._stretchy = self._stretchy or glyphs.stretchy

    def _css_path(self) -> Path:
        return self.cache_dir / f"chtml-{self._version}.css"

    def _collect_css(self) -> None:
        """Read the full CSS that warm_up asked for, if it is still owed."""
        worker, self._css_pending = self._css_pending, None
        if worker is not None and worker.alive:
            self._keep_full_css(str(worker.receive()["css"]))

    def _keep_full_css(self, css: str) -> None:
        self._full_css = css
        with contextlib.suppress(OSError):
            write_text_atomically(self._css_path(), css)

    def _all_css(self) -> str:
        """MathJax's CSS for every element and glyph (fonts still as placeholders)."""
        with contextlib.suppress(_SnapshotFailed):  # then asked for anew below
            self._collect_css()
        if self._full_css is None:
            try:
                self._full_css = self._css_path().read_text(encoding="utf-8")
            except OSError:
                try:
                    self._keep_full_css(self._css_from_node())
                except _SnapshotFailed:  # once more, with node running typeset.cjs
                    self._keep_full_css(self._css_from_node())
        assert self._full_css is not None
        return self._full_css

    def _css_from_node(self) -> str:
        (worker,) = self._running(1)
        worker.send({"stylesheet": True})
        try:
            return str(worker.receive()["css"])
        except BaseException:
            self.close()
            raise

    def _font_data_url(self, name: str) -> str:
        if name not in self._fonts:
            data = base64.b64encode((_JS.mathjax_fonts / name).read_bytes()).decode("ascii")
            self._fonts[name] = f"data:font/woff;base64,{data}"
        return self._fonts[name]

    def note(self, fragments: Iterable[str]) -> None:
        """Count the formulas in `fragments` (typeset HTML from elsewhere, e.g. a disk
        cache of whole slides) as returned by this typesetter: `stylesheet()` covers them."""
        with self._lock:
            for fragment in fragments:
                self._note_classes(fragment)

    def stylesheet(self, fragments: Iterable[str] | None = None) -> str:
        """The CSS for the formulas in `fragments` (typeset HTML), or for everything this
        typesetter has returned so far: the rules for the glyphs they use, the
        fonts those need as `data:` URLs, and sheets' own few rules."""
        if fragments is not None:
            return self.glyph_stylesheet(Glyphs.union(map(glyphs_of, fragments)))
        with self._lock:
            glyphs = Glyphs(frozenset(self._used_chars), frozenset(self._used_variants),
                            self._stretchy)
        return self.glyph_stylesheet(glyphs)

    def glyph_stylesheet(self, glyphs: Glyphs) -> str:
        """`stylesheet` of typeset HTML that uses `glyphs` (`glyphs_of`)."""
        with self._lock:
            chars, variants = set(glyphs.chars), set(glyphs.variants)
            stretchy = glyphs.stretchy
            key = (frozenset(chars), frozenset(variants), stretchy)
            if key in self._stylesheets:
                return self._stylesheets[key]
            # On disk too: a rebuild has the same glyphs, and this costs ~50 ms.
            digest = hashlib.blake2b(repr((sorted(chars), sorted(variants), stretchy,
                                           self._version)).encode(), digest_size=16)
            path = self.cache_dir / f"css-{digest.hexdigest()}.css"
            try:
                css = path.read_text(encoding="utf-8")
            except OSError:
                css = self._make_stylesheet(chars, variants, stretchy)
                with contextlib.suppress(OSError):
                    write_text_atomically(path, css)
            if len(self._stylesheets) >= 8:  # a few hundred KB each: keep the newest
                del self._stylesheets[next(iter(self._stylesheets))]
            self._stylesheets[key] = css
            return css

    def _make_stylesheet(self, chars: set[str], variants: set[str], stretchy: bool) -> str:
        with self._lock:
            full = self._all_css()
            fonts = {"MJXZERO", "MJXTEX", *(f"MJX{variant}" for variant in variants)}
            if stretchy:
                fonts.update(_STRETCHY_FONTS)
            kept: list[str] = []
            for match in _RULE.finditer(full):
                selector, body = match.group(1).strip(), match.group(2)
                if selector.startswith("@font-face"):
                    face = _FONT_FACE.search(body)
                    if face is None or face.group(1) not in fonts:
                        continue
                    url = self._font_data_url(face.group(2))
                    body = body.replace(f"{_FONT_URL}/{face.group(2)}", url)
                elif not (set(_CHAR_CLASS.findall(selector)) <= chars
                          and set(_VARIANT_CLASS.findall(selector)) <= variants):
                    continue
                kept.append(f"{selector} {{\n{body}}}")
            return "\n".join(kept) + "\n" + _SHEETS_CSS


_shared: Typesetter | None = None
_shared_lock = threading.Lock()


def shared_typesetter(*, cache_dir: Path | None = None) -> Typesetter:
    """The process-wide typesetter (one node process for every build in this process).
    `cache_dir` counts only in the call that makes it (`sheets build` makes it first, with
    the cache folder of the sheets it builds); else `math/` in `cache_location()`."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Typesetter(cache_dir=cache_dir)
        return _shared
