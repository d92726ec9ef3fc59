"""The live-reload preview server: watch, debounce, rebuild, push (STYLE.md §6).

The server knows nothing of builders. It is handed `rebuild(path) -> Update`, a callable
that turns the sheet into a page head and one HTML fragment per slide; it watches the
files that callable names, calls it after saves settle, and pushes to each open page only
the slides whose HTML changed. The page (`builder/js/preview.js`) patches those `<section>`
nodes in place, so the others stay the same DOM objects and the reader keeps their place.

Threads, after mkdocs' livereload server:
- watchdog's observer thread only sets a flag under `_changed` (a Condition);
- the build loop (the thread that calls `serve_forever`) waits for a quiet period after
  the last event, then calls `rebuild` and publishes the new state;
- one thread per open page streams server-sent events: it waits on `_published` until
  the state it last sent is no longer current, then sends the difference. A burst of
  saves therefore coalesces: a slow page gets the latest state, never a queue of them;
- one checks thread runs `Update.checks` (slow: sympy, snippet processes) after the
  render has been pushed, and publishes card badges as a second push. Only the newest
  request is kept, so checks never pile up behind a burst of saves.

The server library is the standard library's `http.server` (ThreadingHTTPServer): server-
sent events are a plain HTTP response that stays open, so neither a WebSocket library nor
an async framework is needed, and watchdog's threads fit a threaded server.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import os
import secrets
import sys
import threading
import time
import traceback
import webbrowser
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, unquote, urlsplit

from watchdog.events import (
    DirDeletedEvent,
    DirModifiedEvent,
    FileClosedNoWriteEvent,
    FileCreatedEvent,
    FileModifiedEvent,
    FileOpenedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch

from builder.render import content_security_policy

BadgeStatus = Literal["pass", "fail", "error", "unchecked"]


def _not_the_stop_race(record: logging.LogRecord) -> bool:
    """watchdog (7.x) logs an ERROR when its inotify thread reads one last event while
    the observer stops (at Ctrl-C): harmless, but printed under the user's prompt."""
    return "called when the thread is inactive" not in record.getMessage()


logging.getLogger("watchdog.observers.inotify").addFilter(_not_the_stop_race)

EVENTS_PATH = "/_sheets/events"
SCRIPT_PATH = "/_sheets/preview.js"
SCRIPTS_PREFIX = "/_sheets/scripts/"


@dataclass(frozen=True, slots=True)
class Badge:
    """One card's check result, drawn by the page next to the card's heading."""

    slide: int
    """0-based index of the slide the card is on."""
    title: str
    """The card's heading text (the page finds the heading by it); empty when untitled."""
    line: int
    """The card's line in the sheet, shown in the tooltip."""
    status: BadgeStatus
    message: str
    """Shown on hover; empty for a pass."""
    label: str = ""
    """What the badge reads when not its status (`pass 2/5`: a pass in part)."""


@dataclass(frozen=True, slots=True)
class Notice:
    """A warning about the sheet (a misspelt annotation, an unclosed `$$`, a missing
    image), listed in the page's summary, which jumps to its slide."""

    slide: int
    """0-based index of the slide it concerns."""
    line: int
    message: str


@dataclass(frozen=True, slots=True)
class Update:
    """What one rebuild produced: the whole page, as head markup and slide fragments.

    It always carries every slide; the server finds which ones changed by comparing
    strings, so the caller decides what to re-render and the server what to send.
    """

    head: str = ""
    """Markup for the page's `<head>` (theme CSS in `<style>` elements)."""
    slides: tuple[str, ...] = ()
    """One `<section>…</section>` fragment per slide, in order."""
    title: str = ""
    error: str | None = None
    """`path:line: message` when the sheet could not be built: the page keeps the last
    good render under an overlay, and `head`/`slides` are ignored."""
    watch: frozenset[Path] = frozenset()
    """Files and directories whose change calls for a rebuild (themes, images,
    `snippets/`), besides the sheet itself. A directory is watched recursively."""
    scripts: tuple[Path, ...] = ()
    """Local script files the page loads once each, after its slides (the diagram
    library when a slide has a diagram). Served at `/_sheets/scripts/<file name>`, and
    no other file by that path."""
    warnings: tuple[Notice, ...] = ()
    """The sheet's warnings, in line order, for the page's summary."""
    checks: Callable[[], tuple[Badge, ...]] | None = field(default=None, compare=False)
    """Run after this update has been pushed, in the background; its badges are pushed
    when it returns unless a newer rebuild has happened since."""


@dataclass(frozen=True, slots=True)
class _State:
    """What the pages should show now; replaced whole, never mutated."""

    version: int
    """Counts rebuilds."""
    serial: int
    """Counts every change (a badge push too): the event id a reconnecting page sends."""
    head: str
    slides: tuple[str, ...]
    title: str
    error: str | None
    badges: tuple[Badge, ...]
    scripts: tuple[Path, ...]
    warnings: tuple[Notice, ...] = ()


Rebuild = Callable[[Path], Update]


class PreviewServer(ThreadingHTTPServer):
    """Serves one sheet's preview on 127.0.0.1; `serve()` runs until `shutdown()`."""

    daemon_threads = True
    # A page whose connection died is noticed at the next write; a comment line every
    # few seconds makes that happen even when nothing changes.
    keepalive_seconds = 10.0

    def __init__(
        self,
        sheet: Path,
        rebuild: Rebuild,
        *,
        port: int = 0,
        quiet_seconds: float = 0.01,
        max_delay_seconds: float = 0.5,
    ) -> None:
        self.sheet = sheet.absolute()
        self.named = sheet
        """The sheet as the command line named it: what messages call it (`sheets check`
        says `notes.md:3:`, so does the preview), the working folder never changing."""
        self.root = self.sheet.parent.resolve()
        self.rebuild = rebuild
        self.quiet_seconds = quiet_seconds
        self.max_delay_seconds = max_delay_seconds
        super().__init__(("127.0.0.1", port), _Handler)
        self.port: int = self.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self.allowed_hosts = {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}

        self._changed = threading.Condition()  # guards _dirty, _stopping
        self._dirty = False
        self._stopping = False
        self._published = threading.Condition()  # guards _state
        self._state = _State(0, 0, "", (), "", None, (), ())
        self._checks = threading.Condition()  # guards _pending_checks
        self._pending_checks: tuple[int, Callable[[], tuple[Badge, ...]]] | None = None
        self._instance = secrets.token_hex(4)
        self.rebuilds = 0
        """How many times `rebuild` has been called (for tests and logs)."""

        self._observer: BaseObserver = Observer(timeout=0.1)  # how soon stop() is seen
        self._watches: dict[tuple[Path, bool], ObservedWatch] = {}
        self._watched_files: frozenset[Path] = frozenset()
        self._watched_dirs: frozenset[Path] = frozenset()
        self._http_thread: threading.Thread | None = None
        self._checks_thread: threading.Thread | None = None

    # -- running -------------------------------------------------------------------

    def start(self) -> None:
        """Build once, then start watching, serving and checking in background threads.
        The build loop runs in the thread that calls `run_build_loop()` (see `serve`)."""
        self._observer.start()
        self._build_and_publish()
        # serve_forever notices `shutdown()` only between polls.
        self._http_thread = threading.Thread(
            target=self.serve_forever, args=(0.05,), name="preview-http", daemon=True
        )
        self._http_thread.start()
        self._checks_thread = threading.Thread(
            target=self._checks_loop, name="preview-checks", daemon=True
        )
        self._checks_thread.start()

    def serve(self) -> None:
        """Start, then rebuild on every settled change until `shutdown()`."""
        self.start()
        self.run_build_loop()

    def run_build_loop(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._dirty or self._stopping)
                if self._stopping:
                    return
                # Editors write several events per save (and a burst of saves is many
                # more): wait until none has come for `quiet_seconds`, but not longer
                # than `max_delay_seconds`, so that typing with autosave still shows.
                deadline = time.monotonic() + self.max_delay_seconds
                while True:
                    self._dirty = False
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._changed.wait(timeout=min(self.quiet_seconds, remaining))
                    if not self._dirty:
                        break
            self._build_and_publish()

    def shutdown(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        with self._published:
            self._published.notify_all()
        with self._checks:
            self._checks.notify_all()
        self._observer.stop()
        if self._http_thread is not None and self._http_thread.is_alive():
            super().shutdown()
            self._http_thread.join()
        if self._observer.is_alive():
            self._observer.join()
        self.server_close()

    def wait_for_change(self, shown: _State | None, *, timeout: float) -> _State | None:
        """The current state once it is not `shown` (None after `timeout`, or when
        stopping)."""
        with self._published:
            self._published.wait_for(lambda: self._state is not shown or self._stopping,
                                     timeout=timeout)
            if self._state is shown or self._stopping:
                return None
            return self._state

    def event_id(self, state: _State) -> str:
        # A page reconnecting to a restarted server must not be told it is up to date.
        return f"{self._instance}.{state.serial}"

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def serving(self) -> bool:
        """Whether the thread that answers HTTP requests (`start`) is running."""
        return self._http_thread is not None and self._http_thread.is_alive()

    def state(self) -> _State:
        with self._published:
            return self._state

    # -- building ------------------------------------------------------------------

    def _build_and_publish(self) -> None:
        self.rebuilds += 1
        try:
            update = self.rebuild(self.named)
        except Exception as error:
            traceback.print_exc(file=sys.stderr)
            update = Update(error=f"internal error: {type(error).__name__}: {error}")
        self._watch(update.watch | {self.sheet})
        with self._published:
            old = self._state
            if update.error is not None:
                new = _State(old.version + 1, old.serial + 1, old.head, old.slides,
                             old.title, update.error, old.badges, old.scripts, old.warnings)
            else:
                new = _State(old.version + 1, old.serial + 1, update.head, update.slides,
                             update.title, None, old.badges, update.scripts,
                             update.warnings)
            self._state = new
            self._published.notify_all()
        if update.error is not None:
            print(update.error, file=sys.stderr, flush=True)
        if update.checks is not None:
            with self._checks:
                self._pending_checks = (new.version, update.checks)
                self._checks.notify_all()

    def _checks_loop(self) -> None:
        while True:
            with self._checks:
                self._checks.wait_for(lambda: self._pending_checks is not None
                                      or self._stopping)
                if self._stopping:
                    return
                assert self._pending_checks is not None
                version, run_checks = self._pending_checks
                self._pending_checks = None
            try:
                badges = run_checks()
            except Exception:
                if self._stopping:  # the checker was stopped with the server: no news
                    return
                traceback.print_exc(file=sys.stderr)
                continue
            with self._published:
                # Slides may have moved since: badges for an older build are dropped.
                # A failed build keeps the last good slides, so its badges still fit.
                if self._state.version == version:
                    old = self._state
                    self._state = _State(old.version, old.serial + 1, old.head,
                                         old.slides, old.title, old.error, badges,
                                         old.scripts, old.warnings)
                    self._published.notify_all()

    # -- watching ------------------------------------------------------------------

    def _watch(self, paths: Iterable[Path]) -> None:
        """Watch each file through its directory (an editor that saves by renaming
        replaces the file, and a watch on the file itself would be lost with it), and
        each directory recursively."""
        files: set[Path] = set()
        dirs: set[Path] = set()
        wanted: set[tuple[Path, bool]] = set()
        for path in paths:
            path = path.absolute()
            if path.is_dir():
                dirs.add(path)
                wanted.add((path, True))
            else:
                files.add(path)
                if path.parent.is_dir():
                    wanted.add((path.parent, False))
        self._watched_files = frozenset(files)
        self._watched_dirs = frozenset(dirs)
        for key in set(self._watches) - wanted:
            self._observer.unschedule(self._watches.pop(key))
        handler = _ChangeHandler(self)
        for key in wanted - set(self._watches):
            directory, recursive = key
            try:
                self._watches[key] = self._observer.schedule(handler, str(directory),
                                                             recursive=recursive)
            except OSError as error:  # vanished in between, or out of inotify watches
                print(f"{directory}: not watched: {error}", file=sys.stderr)

    def _is_relevant(self, path: str | bytes) -> bool:
        candidate = Path(os.fsdecode(path))
        if candidate in self._watched_files:
            return True
        return any(candidate.is_relative_to(directory) for directory in self._watched_dirs)

    def _on_event(self, event: FileSystemEvent) -> None:
        # Reading a file (our own rebuild does) must not trigger a rebuild, and on Linux
        # a write is followed by a close event, so the close stands for the whole write
        # (as mkdocs does): then the first event we act on already sees the full file.
        if isinstance(event, FileOpenedEvent | FileClosedNoWriteEvent | DirModifiedEvent):
            return
        if isinstance(event, FileModifiedEvent | FileCreatedEvent) and _inotify(self._observer):
            # Creating a file opens it, so its close event follows too: acting on the
            # creation would read it empty.
            return
        if isinstance(event, DirDeletedEvent) and not self._is_relevant(event.src_path):
            return
        if not (self._is_relevant(event.src_path)
                or (event.dest_path and self._is_relevant(event.dest_path))):
            return
        with self._changed:
            self._dirty = True
            self._changed.notify_all()

    # -- serving files -------------------------------------------------------------

    def resolve_file(self, url_path: str) -> Path | None:
        """The file under the sheet's directory that `url_path` names, or None.

        Percent-decoding comes first, then the joined path is resolved (following
        symlinks) and must still lie under the root: `..` segments in any spelling and
        symlinks that point out of the directory all end up outside and get a 404.
        """
        decoded = unquote(url_path, errors="strict")
        if "\x00" in decoded or "\\" in decoded:
            return None
        relative = decoded.lstrip("/")
        try:
            candidate = (self.root / relative).resolve(strict=True)
        except (OSError, RuntimeError):  # missing, or a symlink loop
            return None
        if not candidate.is_relative_to(self.root) or not candidate.is_file():
            return None
        return candidate


def _inotify(observer: BaseObserver) -> bool:
    return type(observer).__name__ == "InotifyObserver"


class _ChangeHandler(FileSystemEventHandler):
    def __init__(self, server: PreviewServer) -> None:
        self.server = server

    def on_any_event(self, event: FileSystemEvent) -> None:
        self.server._on_event(event)


_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="data:,">
<style id="sheets-preview-chrome">{chrome}</style>
<script src="{script}" defer></script>
</head><body>
<div id="sheets-slides" class="marpit"></div>
<div id="sheets-overlay" hidden><pre></pre></div>
<details id="sheets-summary" hidden><summary></summary><ol></ol></details>
</body></html>
"""

_CHROME_CSS = """
html { overflow-anchor: none; }
body { margin: 0; background: #777; }
#sheets-slides { padding: 1px 0; }
#sheets-slides > * { margin: 16px auto; contain: layout paint; }
#sheets-overlay { position: fixed; left: 0; right: 0; top: 0; z-index: 2147483647;
  background: rgba(160, 0, 0, 0.92); color: #fff; font: 14px/1.4 monospace;
  padding: 12px 16px; box-shadow: 0 2px 8px rgba(0,0,0,.5); }
#sheets-overlay[hidden] { display: none; }
#sheets-overlay pre { margin: 0; white-space: pre-wrap; }
.sheets-badge { display: inline-block; margin-left: .5em; padding: 0 .45em;
  border-radius: .6em; font: bold 12px/1.6 sans-serif; color: #fff; vertical-align: middle;
  cursor: help; }
.sheets-badge-pass { background: #2e7d32; }
.sheets-badge-fail { background: #c62828; }
.sheets-badge-error { background: #6a1b9a; }
.sheets-badge-unchecked { background: #757575; }
.sheets-badge-stack { position: absolute; top: 4px; right: 4px; z-index: 10; }
#sheets-summary { position: fixed; right: 12px; bottom: 12px; z-index: 2147483646;
  max-width: min(40em, 90vw); max-height: 60vh; overflow: auto; background: #fff;
  color: #222; font: 13px/1.5 sans-serif; border-radius: 6px; padding: 4px 10px;
  box-shadow: 0 2px 8px rgba(0,0,0,.4); }
#sheets-summary[hidden] { display: none; }
#sheets-summary summary { cursor: pointer; font-weight: bold; }
#sheets-summary ol { margin: 4px 0; padding-left: 1.5em; }
#sheets-summary li { cursor: pointer; }
#sheets-summary li:hover { text-decoration: underline; }
#sheets-summary .sheets-summary-fail, #sheets-summary .sheets-summary-error { color: #c62828; }
#sheets-summary .sheets-summary-warning { color: #8a5a00; }
.sheets-jumped { outline: 4px solid #f9a825; }
"""


# Scripts come from the server alone (the preview's script, the diagram library): no
# inline script, no event handler, no eval, whatever a sheet slips into a slide.
PREVIEW_CSP = content_security_policy(["'self'"])
"""The Content-Security-Policy header of every preview response."""


def _page(title: str) -> bytes:
    from html import escape

    return _PAGE.format(
        title=escape(title or "sheets preview"), chrome=_CHROME_CSS, script=SCRIPT_PATH
    ).encode()


def _script() -> bytes:
    # fitting.js (render.py's auto-scaling) first: preview.js calls it on patched slides.
    scripts = resources.files("builder") / "js"
    return (scripts / "fitting.js").read_bytes() + b"\n" + (scripts / "preview.js").read_bytes()


def _delta(sent: _State | None, now: _State) -> dict[str, Any]:
    """The message that brings a page showing `sent` to `now`."""
    message: dict[str, Any] = {"version": now.version, "count": len(now.slides),
                               "error": now.error}
    if sent is None or sent.head != now.head:
        message["head"] = now.head
    if sent is None or sent.title != now.title:
        message["title"] = now.title
    if sent is None or sent.scripts != now.scripts:
        message["scripts"] = [SCRIPTS_PREFIX + quote(path.name) for path in now.scripts]
    old = sent.slides if sent is not None else ()
    message["slides"] = {
        str(index): html
        for index, html in enumerate(now.slides)
        if index >= len(old) or old[index] != html
    }
    if sent is None or sent.badges != now.badges:
        message["badges"] = [
            {"slide": b.slide, "title": b.title, "line": b.line, "status": b.status,
             "message": b.message, "label": b.label or b.status}
            for b in now.badges
        ]
    if sent is None or sent.warnings != now.warnings:
        message["warnings"] = [{"slide": w.slide, "line": w.line, "message": w.message}
                               for w in now.warnings]
    return message


class _Handler(BaseHTTPRequestHandler):
    server: PreviewServer
    # Each push is one small write; Nagle's algorithm would hold it back for an ACK.
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a request log would drown the error lines the user is waiting for

    def do_GET(self) -> None:
        if self.headers.get("Host") not in self.server.allowed_hosts:
            # Another host name resolving to us (DNS rebinding) must not read the files.
            self._send_error(HTTPStatus.FORBIDDEN)
            return
        path = urlsplit(self.path).path
        if path == "/":
            self._send(HTTPStatus.OK, "text/html; charset=utf-8",
                       _page(self.server.state().title))
        elif path == SCRIPT_PATH:
            self._send(HTTPStatus.OK, "text/javascript; charset=utf-8", _script())
        elif path == EVENTS_PATH:
            self._events()
        elif path.startswith(SCRIPTS_PREFIX):
            self._script_file(unquote(path.removeprefix(SCRIPTS_PREFIX)))
        else:
            self._file(path)

    def _send(self, status: HTTPStatus, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Security-Policy", PREVIEW_CSP)
        self.end_headers()
        self.wfile.write(body)

    def _send_error(self, status: HTTPStatus) -> None:
        self._send(status, "text/plain; charset=utf-8", f"{status.value} {status.phrase}\n"
                   .encode())

    def _file(self, path: str) -> None:
        try:
            file = self.server.resolve_file(path)
        except UnicodeDecodeError:
            file = None
        if file is None:
            self._send_error(HTTPStatus.NOT_FOUND)
            return
        try:
            body = file.read_bytes()
        except OSError:
            self._send_error(HTTPStatus.NOT_FOUND)
            return
        content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        self._send(HTTPStatus.OK, content_type, body)

    def _script_file(self, name: str) -> None:
        """One of the scripts the current state names (outside the sheet's directory:
        node_modules), by its file name."""
        scripts = {path.name: path for path in self.server.state().scripts}
        try:
            body = scripts[name].read_bytes()
        except (KeyError, OSError):
            self._send_error(HTTPStatus.NOT_FOUND)
            return
        self._send(HTTPStatus.OK, "text/javascript; charset=utf-8", body)

    def _same_origin(self) -> bool:
        """The push channel is for the preview page only. A browser sends `Origin` on
        cross-origin requests (and `Sec-Fetch-Site` on all of them); a same-origin
        EventSource may send neither, which is fine: the Host check already ran."""
        origin = self.headers.get("Origin")
        if origin is not None and origin not in {f"http://{h}" for h in
                                                 self.server.allowed_hosts}:
            return False
        site = self.headers.get("Sec-Fetch-Site")
        return site is None or site in {"same-origin", "none"}

    def _events(self) -> None:
        if not self._same_origin():
            self._send_error(HTTPStatus.FORBIDDEN)
            return
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Security-Policy", PREVIEW_CSP)
        self.end_headers()
        server = self.server
        sent: _State | None = None
        last_id = self.headers.get("Last-Event-ID")
        current = server.state()
        if last_id is not None and last_id == server.event_id(current):
            sent = current  # a reconnecting page that already shows the current state
        try:
            self.wfile.write(b"retry: 500\n\n")
            while not server.stopping:
                now = server.wait_for_change(sent, timeout=server.keepalive_seconds)
                if now is None:
                    self.wfile.write(b": keepalive\n\n")
                    continue
                data = json.dumps(_delta(sent, now), separators=(",", ":"))
                self.wfile.write(f"id: {server.event_id(now)}\nevent: update\ndata: {data}\n\n"
                                 .encode())
                sent = now
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            return


def display_available() -> bool:
    """Whether a browser window could appear: on Linux (and other X11/Wayland systems)
    only with DISPLAY or WAYLAND_DISPLAY set; macOS and Windows always have a desktop."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def open_browser(url: str) -> None:
    if display_available():
        webbrowser.open(url)
