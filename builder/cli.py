"""The `sheets` command line (SPEC.md §2): build, check, preview.

Exit codes: 0 success; 1 built or checked with problems (failed cards, or warnings under
`--strict`); 2 bad input (the message names file and line). The CLI only calls stages;
it holds no stage logic. Stage modules are imported inside each command so that
`sheets --help` and `sheets check` do not pay for what they do not use.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from builder.model import BuildError

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_BAD_INPUT = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sheets",
        description="Checked formula sheets from Marp-dialect Markdown.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    build = commands.add_parser("build", help="build sheets into PDF or HTML")
    build.add_argument("sheets", nargs="+", type=Path, metavar="SHEET")
    build.add_argument("--to", choices=("pdf", "html"), default="pdf")
    build.add_argument("-o", "--output", type=Path, default=Path("build"), metavar="DIR")
    build.add_argument("--theme-set", nargs="+", type=Path, default=[], metavar="CSS")
    build.add_argument(
        "--strict", action="store_true",
        help="exit 1 on an overflowing slide, a missing image or a failed card",
    )

    check = commands.add_parser("check", help="check every formula card")
    check.add_argument("sheets", nargs="*", type=Path, metavar="SHEET")
    check.add_argument("--json", dest="json_out", metavar="FILE|-")
    check.add_argument("--snippets", type=Path, metavar="DIR")
    check.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                       help="per-card time limit for a snippet (default 10)")
    check.add_argument("--coverage", action="store_true",
                       help="report how many display equations compiled, and why not")

    preview = commands.add_parser("preview", help="live-reload preview in the browser")
    preview.add_argument("sheet", type=Path, metavar="SHEET")
    preview.add_argument("--port", type=int, default=8765)
    preview.add_argument("--no-open", action="store_true")
    preview.add_argument("--theme-set", nargs="+", type=Path, default=[], metavar="CSS")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "build":
            return _build(args)
        if args.command == "check":
            return _check(args)
        return _preview(args)
    except BuildError as error:
        print(error, file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130


def _build(args: argparse.Namespace) -> int:
    print("sheets build: not implemented yet (issue 3)", file=sys.stderr)
    return EXIT_BAD_INPUT


def _check(args: argparse.Namespace) -> int:
    print("sheets check: not implemented yet (issue 4)", file=sys.stderr)
    return EXIT_BAD_INPUT


def _preview(args: argparse.Namespace) -> int:
    """Serve until stopped (Ctrl-C ends it with 130, through `main`). A sheet that does
    not build is shown as an error in the page, never ends the server; only a sheet that
    is not there at start, or a port that is taken, is bad input."""
    from builder.preview import SheetPreview
    from builder.serve import PreviewServer, open_browser

    sheet: Path = args.sheet
    if not sheet.is_file():
        raise BuildError(None, f"{sheet}: no such file")
    rebuild = SheetPreview(sheet, theme_set=args.theme_set)
    try:
        server = PreviewServer(sheet, rebuild, port=args.port)
    except OSError as error:
        print(f"sheets preview: cannot listen on 127.0.0.1:{args.port}: {error.strerror}",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"sheets preview: {sheet} on {server.url}", flush=True)
    if not args.no_open:
        open_browser(server.url)  # does nothing without a display
    try:
        server.serve()
    finally:
        server.shutdown()
        rebuild.close()
    return EXIT_OK
