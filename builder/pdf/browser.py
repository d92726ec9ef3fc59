"""Headless Chromium, driven over the DevTools protocol on a pipe.

Chromium's `--remote-debugging-pipe` reads protocol messages from fd 3 and writes to fd 4,
each a JSON object ended by a NUL byte. Talking to it directly costs one small class and
no dependency, and starts faster than Playwright (which first starts its own Node.js
driver, then Chromium); see bench/pdf.py and the commit that added this module.

The browser runs in its own session (process group) with a fresh temporary profile, so
that closing it can take every helper process with it and remove the profile, whether
the build ends normally, with an error, or with Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from builder.model import BuildError


def install_hint(platform: str | None = None, os_release: str | None = None) -> str:
    """What to say when no Chromium is found: the command that installs it (and the CJK
    fonts sheets are set in) on this platform, and `CHROME_PATH`. `platform` is
    `sys.platform`; `os_release` the text of /etc/os-release (read when None), which
    tells Debian, Ubuntu and Fedora apart."""
    platform = sys.platform if platform is None else platform
    if platform == "darwin":
        command = "brew install --cask chromium"
        where = " (e.g. /Applications/Chromium.app/Contents/MacOS/Chromium)"
    elif platform == "win32":
        command = "winget install --id Hibbiki.Chromium"
        where = " (e.g. C:\\Program Files\\Chromium\\Application\\chrome.exe)"
    else:
        command = _linux_install_command(_os_release() if os_release is None else os_release)
        where = ""
    return (f"no Chromium found: install it with `{command}`, or set CHROME_PATH to a "
            f"Chrome or Chromium executable{where}")


def _os_release() -> str:
    try:
        return Path("/etc/os-release").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


LINUX_INSTALL_COMMANDS = {
    "debian": "sudo apt-get install chromium fonts-noto-cjk",
    "ubuntu": "sudo apt-get install chromium-browser fonts-noto-cjk",
    "fedora": "sudo dnf install chromium google-noto-sans-cjk-fonts",
}
"""The command that installs Chromium and CJK fonts, by /etc/os-release `ID`."""


def _linux_install_command(os_release: str) -> str:
    """The command for the distribution `os_release` names (its `ID`, else the first of its
    `ID_LIKE` that we know); the Debian one, with Fedora's beside it, when none is known."""
    fields = dict(line.split("=", 1) for line in os_release.splitlines() if "=" in line)
    names = [fields.get("ID", "").strip('"'), *fields.get("ID_LIKE", "").strip('"').split()]
    for name in names:
        if name in LINUX_INSTALL_COMMANDS:
            return LINUX_INSTALL_COMMANDS[name]
        if name in ("rhel", "centos"):
            return LINUX_INSTALL_COMMANDS["fedora"]
    return f"{LINUX_INSTALL_COMMANDS['debian']}` (Fedora: `{LINUX_INSTALL_COMMANDS['fedora']}"


# PREAMBLE: headless, root needs --no-sandbox, and nothing may reach the network.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-breakpad",
    "--disable-dev-shm-usage",
    "--mute-audio",
    "--hide-scrollbars",
    # Local sheets reference images beside them; the page is a file:// URL.
    "--allow-file-access-from-files",
)

Json = dict[str, Any]
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


class BrowserError(RuntimeError):
    """Chromium died, timed out or answered with a protocol error (our bug or the
    machine's, never the user's: it is not a BuildError)."""


def find_chromium(environ: Mapping[str, str] | None = None) -> Path:
    """The Chromium to drive: `CHROME_PATH`, else the first of `_PREFERRED` on PATH:
    Chromium's headless shell (Debian's `chromium-headless-shell`) before the full
    browser (`chromium`).

    The headless shell is the same Chromium built for automation only (no browser UI;
    Puppeteer's `headless: 'shell'`): it prints the same pages with much less CPU time
    than the full browser in headless mode (bench/pdf.py measures both), so it comes
    first when both are installed."""
    env = os.environ if environ is None else environ
    configured = env.get("CHROME_PATH")
    if configured:
        path = Path(configured)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise BuildError(None, f"CHROME_PATH={configured} is not an executable; {install_hint()}")
    search_path = env.get("PATH", os.defpath)
    for name in _PREFERRED:
        found = shutil.which(name, path=search_path)
        if found:
            return Path(found)
    raise BuildError(None, install_hint())


# In order on PATH: the headless shell (Debian's, then Chrome for Testing's), then a
# full Chromium or Chrome.
_PREFERRED = ("chromium-headless-shell", "chrome-headless-shell", "chromium",
              "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


class Browser:
    """One headless Chromium. Use as a context manager; `tab()` opens a page."""

    def __init__(self, executable: Path, *, timeout: float = 60.0) -> None:
        self.executable = executable
        self.timeout = timeout
        self.profile = Path(tempfile.mkdtemp(prefix="sheets-chromium-"))
        self._next_id = 0
        self._buffer = b""
        self._events: deque[Json] = deque()
        self._replies: dict[int, Json] = {}
        self._methods: dict[int, str] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._to_browser = -1
        self._from_browser = -1
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        _become_subreaper()
        # Two pipes, moved onto fds 3 and 4 in the child, where Chromium expects them.
        child_reads, parent_writes = os.pipe()
        parent_reads, child_writes = os.pipe()

        def move_pipes_to_3_and_4() -> None:  # runs in the child between fork and exec
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
            # Duplicate both first so that dup2 onto 3 cannot clobber the other pipe end.
            reads, writes = os.dup(child_reads), os.dup(child_writes)
            os.dup2(reads, 3)
            os.dup2(writes, 4)

        command = [
            str(self.executable),
            *CHROMIUM_FLAGS,
            "--remote-debugging-pipe",
            f"--user-data-dir={self.profile}",
            "about:blank",
        ]
        # Ctrl-C or SIGTERM during Popen would lose the child's pid (and leak Chromium):
        # hold them until the pid is stored; the handler then runs and we clean up.
        signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(3, 4),
                preexec_fn=move_pipes_to_3_and_4,
                # Its own session: Ctrl-C in the terminal reaches only us, and we stop
                # Chromium in order; killpg then reaches every helper it forked.
                start_new_session=True,
            )
            self._to_browser, self._from_browser = parent_writes, parent_reads
        except BaseException:
            os.close(parent_writes)
            os.close(parent_reads)
            raise
        finally:
            os.close(child_reads)
            os.close(child_writes)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)

    def fileno(self) -> int:
        """The pipe Chromium writes to (for `select`: readable when it has written)."""
        return self._from_browser

    @property
    def pid(self) -> int | None:
        """The browser process; also the id of its process group."""
        return self._process.pid if self._process is not None else None

    # -- the protocol -------------------------------------------------------------------

    def call(self, method: str, params: Json | None = None, *, session: str | None = None,
             timeout: float | None = None) -> Json:
        """Send one command and wait for its answer (events that arrive meanwhile are kept
        for `wait_for`)."""
        return self.receive(self.send(method, params, session=session), timeout=timeout)

    def send(self, method: str, params: Json | None = None, *,
             session: str | None = None) -> int:
        """Send a command without waiting; `receive` its answer later (commands to
        different tabs then run in parallel, one renderer process each)."""
        self._next_id += 1
        message: Json = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self._methods[self._next_id] = method
        data = json.dumps(message).encode() + b"\0"
        try:
            while data:
                data = data[os.write(self._to_browser, data):]
        except OSError as error:
            raise BrowserError(f"Chromium is gone ({error})") from error
        return self._next_id

    def receive(self, command: int, *, timeout: float | None = None) -> Json:
        """The answer to a command sent with `send`."""
        method = self._methods.pop(command, "?")
        deadline = time.monotonic() + (timeout or self.timeout)
        while command not in self._replies:
            message = self._read(deadline, method)
            if "id" in message:
                self._replies[message["id"]] = message
            elif "method" in message:
                self._events.append(message)
        reply = self._replies.pop(command)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error'].get('message', reply)}")
        result: Json = reply.get("result", {})
        return result

    def answered(self, command: int) -> bool:
        """Whether the answer to a command sent with `send` has come (what Chromium has
        sent so far is read, without waiting for more)."""
        import select

        while command not in self._replies:
            if b"\0" not in self._buffer:
                ready, _, _ = select.select([self._from_browser], [], [], 0)
                chunk = os.read(self._from_browser, 1 << 20) if ready else b""
                if not chunk:  # nothing yet (or Chromium is gone: `receive` says so)
                    return False
                self._buffer += chunk
                continue
            message, _, self._buffer = self._buffer.partition(b"\0")
            parsed: Json = json.loads(message)
            if "id" in parsed:
                self._replies[parsed["id"]] = parsed
            elif "method" in parsed:
                self._events.append(parsed)
        return True

    def wait_for(self, event: str, *, session: str | None = None,
                 timeout: float | None = None) -> Json:
        """Wait for an event (one that already arrived counts)."""
        for queued in list(self._events):
            if queued["method"] == event and queued.get("sessionId") == session:
                self._events.remove(queued)
                return queued
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            message = self._read(deadline, event)
            if message.get("method") == event and message.get("sessionId") == session:
                return message
            if "id" in message:
                self._replies[message["id"]] = message
            elif "method" in message:
                self._events.append(message)

    def _read(self, deadline: float, waiting_for: str) -> Json:
        import select

        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrowserError(f"Chromium did not answer {waiting_for} in time")
            ready, _, _ = select.select([self._from_browser], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise BrowserError(f"Chromium exited while we waited for {waiting_for}")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        parsed: Json = json.loads(message)
        return parsed

    # -- pages --------------------------------------------------------------------------

    def open_tab(self, width: int, height: int, *, blank: bool = False,
                 isolated: bool = False, media: str | None = None) -> Tab:
        """A fresh page with a `width`×`height` CSS-pixel viewport (with `blank`, the
        about:blank page Chromium opened as it started, whose renderer is up sooner;
        with `isolated`, a page in a browser context of its own, which Chromium gives a
        renderer process of its own: pages of the same site otherwise share one, and
        load and print one after the other; `media`: the CSS media type to emulate);
        `Tab.close()` it.

        Returns once the page exists; its set-up is sent but not waited for (its new
        renderer takes a while to start): the tab's next use takes the replies first, so
        pages opened one after the other start their renderers side by side."""
        target = context = None
        if blank:
            target = next((info["targetId"] for info in self.call("Target.getTargets")[
                "targetInfos"] if info["type"] == "page" and info["url"] == "about:blank"
                and not info.get("attached")), None)
        if target is None:
            params: Json = {"url": "about:blank"}
            if isolated:
                context = self.call("Target.createBrowserContext")["browserContextId"]
                params["browserContextId"] = context
            try:
                target = self.call("Target.createTarget", params)["targetId"]
            except BaseException:
                self.dispose_context(context)
                raise
        try:
            attached = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})
            tab = Tab(self, attached["sessionId"], target, context)
            tab.pending.append(tab.send("Page.enable"))
            tab.pending.append(tab.send("Emulation.setDeviceMetricsOverride", {
                "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False,
            }))
            if media is not None:
                tab.pending.append(tab.send("Emulation.setEmulatedMedia", {"media": media}))
        except BaseException:
            self.close_target(target)
            self.dispose_context(context)
            raise
        return tab

    @contextmanager
    def tab(self, width: int, height: int) -> Iterator[Tab]:
        """`open_tab` for a `with` block: the page is closed afterwards."""
        tab = self.open_tab(width, height)
        try:
            yield tab
        finally:
            tab.close()

    def close_target(self, target: str) -> None:
        """Close a page, unless Chromium is gone already."""
        if self._process is not None and self._process.poll() is None:
            with contextlib.suppress(BrowserError):
                self.call("Target.closeTarget", {"targetId": target}, timeout=5)

    def dispose_context(self, context: str | None) -> None:
        if context is not None and self._process is not None and self._process.poll() is None:
            with contextlib.suppress(BrowserError):
                self.call("Target.disposeBrowserContext", {"browserContextId": context},
                          timeout=5)

    # -- shutting down ------------------------------------------------------------------

    def close(self) -> None:
        """Stop Chromium and every process it started, and delete the profile. Ctrl-C
        and SIGTERM are held until that is done (a fraction of a second): one arriving
        halfway would leave the profile, and helpers nobody reaps. They take effect when
        `close` returns."""
        held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        interrupted: KeyboardInterrupt | None = None
        try:
            while True:
                try:
                    self._close()
                    break
                except KeyboardInterrupt as error:  # delivered just before the block
                    interrupted = error
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
        if interrupted is not None:
            raise interrupted

    def kill(self) -> None:
        """Kill Chromium's processes now and nothing else: a thread blocked reading from
        it then sees the pipe end and stops. `close()` still has to follow."""
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._process.pid, signal.SIGKILL)

    def _close(self) -> None:
        process = self._process
        if process is not None:
            # No polite Browser.close first: it only saves a profile we delete, and
            # costs a third of a second more. Helpers (zygote, renderers) share the
            # session: take down the whole group, even when the browser is already gone.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            reap_group(process.pid)
            _wait_until_group_is_gone(process.pid)
        for fd in (self._to_browser, self._from_browser):
            if fd >= 0:
                with contextlib.suppress(OSError):  # closed by an interrupted close
                    os.close(fd)
        self._to_browser = self._from_browser = -1
        self._process = None
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


_PR_SET_CHILD_SUBREAPER = 36


@functools.cache
def _become_subreaper() -> bool:
    """Make this process the reaper of Chromium's helpers (Linux): when the browser
    process dies, its zygotes and renderers are re-parented to us instead of to init, so
    that `close` can reap them at once. Under a slow or absent init (containers: PID 1
    is often not a real init) killed helpers otherwise linger as zombies for seconds, or
    for ever, and the group is not gone. Whether it worked; asked of the kernel once (it
    is an attribute of the process, which every browser shares)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):  # not Linux: init reaps them, as it should
        return False


def reap_group(group: int) -> None:
    """Reap the killed members of the process group `group` that were re-parented to us (see
    `_become_subreaper`). A member whose parent is still dying becomes our child before
    that parent can be reaped, so the loop ends only when none is left to us."""
    while True:
        try:
            pid, _ = os.waitpid(-group, 0)
        except ChildProcessError:
            return
        except InterruptedError:
            continue
        if pid == 0:
            return


def _wait_until_group_is_gone(group: int, timeout: float = 3.0) -> None:
    """Helpers orphaned by the kill are reaped by init; wait (briefly) until they are,
    so that nothing of this browser is left when the build returns."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.01)


class Tab:
    """One page of a `Browser` (a flattened DevTools session)."""

    def __init__(self, browser: Browser, session: str, target: str,
                 context: str | None = None) -> None:
        self.browser = browser
        self.session = session
        self.target = target
        self.context = context
        """Its own browser context (`open_tab(isolated=True)`), disposed with it."""
        self.pending: list[int] = []
        """Commands sent whose replies are still to be taken (`settle`)."""

    def settle(self) -> None:
        """Take the replies to the commands sent without waiting (a protocol error among
        them raises here)."""
        while self.pending:
            self.browser.receive(self.pending.pop(0))

    def close(self) -> None:
        self.browser.close_target(self.target)
        self.browser.dispose_context(self.context)

    def call(self, method: str, params: Json | None = None, *,
             timeout: float | None = None) -> Json:
        self.settle()
        return self.browser.call(method, params, session=self.session, timeout=timeout)

    def send(self, method: str, params: Json | None = None) -> int:
        return self.browser.send(method, params, session=self.session)

    def open(self, url: str) -> None:
        """Navigate and wait for the load event (images, stylesheets and fonts in CSS
        that the page uses have arrived, scripts have run)."""
        self.finish_open(self.start_open(url))

    def start_open(self, url: str) -> tuple[int, str]:
        """Start navigating; `finish_open` waits for it (other tabs can work meanwhile).
        The set-up is settled first: until Page.enable has been answered, the page's load
        event may be lost (a small page loads before the renderer enables it)."""
        self.settle()
        return self.send("Page.navigate", {"url": url}), url

    def finish_open(self, started: tuple[int, str]) -> None:
        self.settle()
        command, url = started
        result = self.browser.receive(command)
        if result.get("errorText"):
            raise BrowserError(f"cannot open {url}: {result['errorText']}")
        self.browser.wait_for("Page.loadEventFired", session=self.session)

    def evaluate(self, expression: str, *, timeout: float | None = None) -> Any:
        """The value of a JavaScript expression; promises are awaited."""
        reply = self.call("Runtime.evaluate", {
            "expression": expression, "awaitPromise": True, "returnByValue": True,
        }, timeout=timeout)
        if "exceptionDetails" in reply:
            details = reply["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"page script failed: {text}")
        return reply["result"].get("value")

    def print_pdf(self, width_px: float, height_px: float) -> bytes:
        """The page printed to PDF on paper of the given CSS-pixel size, no margins,
        backgrounds on."""
        reply = self.call("Page.printToPDF", {
            "paperWidth": width_px / 96,
            "paperHeight": height_px / 96,
            "marginTop": 0, "marginBottom": 0, "marginLeft": 0, "marginRight": 0,
            "printBackground": True,
            "preferCSSPageSize": False,
            "displayHeaderFooter": False,
        })
        return base64.b64decode(reply["data"])
