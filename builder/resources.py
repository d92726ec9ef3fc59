"""resources: where the package's own files and the project's JavaScript live.

The JavaScript parts (MathJax, mermaid, esbuild) are installed by `npm ci` into the
`node_modules` of the checkout the package runs from.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
"""The `builder` package's directory."""
PROJECT = PACKAGE.parent
"""The checkout holding the package, `package.json` and `node_modules`."""
NODE_MODULES = PROJECT / "node_modules"
JS = PACKAGE / "js"
