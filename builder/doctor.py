"""`sheets doctor`: what this machine has of what sheets needs, and what is missing.

Each `Finding` is one thing looked for (Python, the package, Node.js, MathJax and mermaid,
Chromium, CJK fonts, the cache folders): what was found, or why not and how to get it.
A missing thing that some command needs makes `sheets doctor` exit 1.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from builder import __version__
from builder.model import BuildError
from builder.pdf import find_chromium, install_hint
from builder.resources import (
    JAVASCRIPT,
    cache_location,
    find_node,
    user_cache_dir,
    vendored_versions,
)

NODE_MAJOR = 18
"""The oldest Node.js that runs the typesetter (and makes its start-up snapshot)."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing looked for: `found` says what and where, or None when it is missing;
    `advice` then says how to get it. `needed`: a command cannot do without it."""

    name: str
    found: str | None
    advice: str = ""
    needed: bool = True

    @property
    def missing(self) -> bool:
        return self.found is None

    def line(self) -> str:
        if self.found is not None:
            return f"ok       {self.name}: {self.found}"
        mark = "MISSING" if self.needed else "missing"
        return f"{mark:<8} {self.name}: {self.advice}"


def examine(environ: Mapping[str, str] | None = None,
            start: Path | None = None) -> list[Finding]:
    """Everything `sheets doctor` reports, in order. `environ` is looked at for PATH,
    CHROME_PATH and the cache variables (the process's own when None); `start` is the
    folder the caches are decided from (the working directory when None)."""
    env = os.environ if environ is None else environ
    return [
        Finding("Python", f"{sys.version.split()[0]} ({sys.executable})"),
        Finding("sheets", f"{__version__} ({Path(__file__).resolve().parent})"),
        _node(env),
        _javascript("MathJax", "mathjax-full", JAVASCRIPT.typeset_script
                    if JAVASCRIPT.vendored else JAVASCRIPT.version_file),
        _javascript("mermaid", "mermaid", JAVASCRIPT.mermaid_module),
        _chromium(env),
        _cjk_fonts(env),
        *_caches(env, start),
        _daemon(env),
    ]


def report(findings: list[Finding]) -> tuple[str, int]:
    """The text `sheets doctor` prints and its exit code: 1 when something needed is
    missing, else 0."""
    lines = [finding.line() for finding in findings]
    failed = [finding.name for finding in findings if finding.missing and finding.needed]
    if failed:
        lines.append(f"sheets doctor: missing {', '.join(failed)}")
        return "\n".join(lines), 1
    lines.append("sheets doctor: everything sheets needs is here")
    return "\n".join(lines), 0


def _version_of(command: list[str], env: Mapping[str, str]) -> str | None:
    """The first line `command` prints, or None when it cannot be run."""
    try:
        ran = subprocess.run(command, capture_output=True, text=True, timeout=20,
                             check=False, env=dict(env), stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = (ran.stdout or ran.stderr).strip().splitlines()
    return lines[0].strip() if ran.returncode == 0 and lines else None


def _node(env: Mapping[str, str]) -> Finding:
    node = find_node(env)
    advice = (f"install Node.js {NODE_MAJOR} or later (https://nodejs.org; Debian: "
              "`sudo apt-get install nodejs`, macOS: `brew install node`, Windows: "
              "`winget install OpenJS.NodeJS.LTS`; or `pip install sheets-formula[node]`): "
              "math is typeset by MathJax in node")
    if node is None:
        return Finding("node", None, "not on PATH; " + advice)
    version = _version_of([node, "--version"], env)
    major = re.match(r"v(\d+)\.", version or "")
    if major is None or int(major.group(1)) < NODE_MAJOR:
        return Finding("node", None, f"{node} is {version or 'not working'}; {advice}")
    return Finding("node", f"{version} ({node})")


def _javascript(name: str, package: str, needed: Path) -> Finding:
    """A JavaScript part, from the checkout's node_modules or vendored in the package
    (`builder.resources.JAVASCRIPT`), with its release."""
    if not needed.is_file():
        return Finding(name, None, f"{needed} is missing: {JAVASCRIPT.how_to_install()}")
    if JAVASCRIPT.vendored:
        version = vendored_versions().get(package, "version unknown")
        return Finding(name, f"{version} (carried by the package: {JAVASCRIPT.where})")
    return Finding(name, str(JAVASCRIPT.where / package))


def _chromium(env: Mapping[str, str]) -> Finding:
    try:
        chromium = find_chromium(env)
    except BuildError as error:
        return Finding("Chromium", None, f"{error.message} (PDF needs it)")
    version = _version_of([str(chromium), "--version"], env)
    return Finding("Chromium", f"{version or 'version unknown'} ({chromium})")


def _cjk_fonts(env: Mapping[str, str]) -> Finding:
    """Japanese fonts as fontconfig (which Chromium on Linux uses) lists them; not looked
    for where there is no fontconfig (macOS and Windows come with CJK fonts)."""
    fc_list = shutil.which("fc-list", path=env.get("PATH", os.defpath))
    if fc_list is None:
        return Finding("CJK fonts", "not looked for (no fc-list: the system's fonts)")
    families = _version_of([fc_list, ":lang=ja", "family"], env)
    if not families:
        hint = install_hint().split("`")
        command = hint[1] if len(hint) > 1 else "a Noto CJK font package"
        return Finding("CJK fonts", None, f"no Japanese font (fc-list :lang=ja): install "
                                          f"Noto CJK (`{command}`)")
    return Finding("CJK fonts", families.split(",")[0])


def _daemon(env: Mapping[str, str]) -> Finding:
    """Whether `sheets daemon` is running (nothing needs it: runs are faster with it)."""
    from builder.daemon import listening, socket_path

    path = socket_path(env)
    if listening(path):
        return Finding("daemon", f"listening on {path}: build and check runs go to it")
    return Finding("daemon", "none running (`sheets daemon` keeps the stages loaded, "
                             f"listening on {path})")


def _caches(env: Mapping[str, str], start: Path | None) -> list[Finding]:
    location = cache_location(start, env)
    return [Finding("cache", f"{location.path} ({location.why})"),
            Finding("snapshot cache",
                    f"{user_cache_dir(env) / 'snapshots'} (node's start-up snapshot)")]
