"""setup.py: the metadata is in pyproject.toml; this adds the build step that makes the
JavaScript a wheel carries.

A wheel or sdist built from a checkout (`npm ci` done: node and node_modules are there)
gets `builder/vendor/` (git-ignored package data): MathJax and builder/js/typeset.cjs as
one esbuild bundle (builder/js/snapshot.cjs makes it, the same bundle as the start-up
snapshot's), MathJax's CHTML fonts, and mermaid's browser build and ES module build (with
its chunks), each with its licence. `builder.resources` takes these when the package has
no node_modules beside it. A wheel built from an sdist finds them made already. An
editable install (`make`'s) makes nothing: it runs from the checkout's node_modules.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

ROOT = Path(__file__).resolve().parent
NODE_MODULES = ROOT / "node_modules"
VENDOR = ROOT / "builder" / "vendor"
PACKAGES = ("mathjax-full", "mermaid")
"""The npm packages whose files the wheel carries (their versions go in the manifest)."""
INPUTS = (ROOT / "builder" / "js" / "typeset.cjs", ROOT / "builder" / "js" / "snapshot.cjs",
          Path(__file__).resolve())


def _inputs_digest(versions: dict[str, str]) -> str:
    digest = hashlib.blake2b(json.dumps(versions, sort_keys=True).encode(), digest_size=16)
    for path in INPUTS:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def vendor_javascript() -> None:
    """Fill `builder/vendor/` from node_modules, unless it is up to date (by the npm
    packages' versions and the scripts that bundle them); without node_modules, keep what
    an sdist brought, or stop: a wheel without its JavaScript cannot typeset."""
    manifest = VENDOR / "manifest.json"
    if not (NODE_MODULES / "mathjax-full" / "package.json").is_file():
        if manifest.is_file():
            return
        raise SystemExit(f"{NODE_MODULES} has no MathJax, and builder/vendor/ is not made: "
                         "run `npm ci` in the checkout before building the wheel")
    versions = {name: json.loads((NODE_MODULES / name / "package.json").read_text(
        encoding="utf-8"))["version"] for name in PACKAGES}
    inputs = _inputs_digest(versions)
    try:
        if json.loads(manifest.read_text(encoding="utf-8")).get("inputs") == inputs:
            return
    except (OSError, ValueError):
        pass
    node = shutil.which("node")
    if node is None:
        raise SystemExit("building the wheel bundles MathJax with node: `node` is not on PATH")
    work = VENDOR.with_name("vendor.partial")
    shutil.rmtree(work, ignore_errors=True)
    (work / "mathjax" / "fonts").mkdir(parents=True)
    subprocess.run([node, str(ROOT / "builder" / "js" / "snapshot.cjs"), "--bundle",
                    str(work / "mathjax" / "typeset.js")], cwd=ROOT, check=True)
    mathjax = NODE_MODULES / "mathjax-full"
    for font in (mathjax / "es5" / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"):
        shutil.copy2(font, work / "mathjax" / "fonts" / font.name)
    shutil.copy2(mathjax / "LICENSE", work / "mathjax" / "LICENSE")
    dist = NODE_MODULES / "mermaid" / "dist"
    (work / "mermaid").mkdir()
    for name in ("mermaid.min.js", "mermaid.esm.min.mjs"):
        shutil.copy2(dist / name, work / "mermaid" / name)
    shutil.copytree(dist / "chunks" / "mermaid.esm.min",
                    work / "mermaid" / "chunks" / "mermaid.esm.min",
                    ignore=shutil.ignore_patterns("*.map"))
    shutil.copy2(NODE_MODULES / "mermaid" / "LICENSE", work / "mermaid" / "LICENSE")
    (work / "manifest.json").write_text(
        json.dumps({"versions": versions, "inputs": inputs}, indent=2) + "\n",
        encoding="utf-8")
    shutil.rmtree(VENDOR, ignore_errors=True)
    work.rename(VENDOR)


class BuildPyWithJavaScript(build_py):
    """build_py that first makes `builder/vendor/` (not for an editable install)."""

    def run(self) -> None:
        if not getattr(self, "editable_mode", False):
            vendor_javascript()
        super().run()


class SdistWithJavaScript(sdist):
    """sdist that first makes `builder/vendor/`, so that the sdist carries it (a wheel
    built from the sdist has no node_modules)."""

    def run(self) -> None:
        vendor_javascript()
        super().run()


setup(cmdclass={"build_py": BuildPyWithJavaScript, "sdist": SdistWithJavaScript})
