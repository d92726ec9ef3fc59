"""The `sheets` command line (docs/format.md §2): build, check, preview.

Exit codes: 0 success; 1 built or checked with problems (failed cards, or warnings under
`--strict`); 2 bad input (the message names file and line). The CLI only calls stages;
it holds no stage logic. Stage modules are imported inside each command so that
`sheets --help` and `sheets check` do not pay for what they do not use.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from builder.atomic import write_text_atomically
from builder.model import BuildError, CardResult

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from builder.check import CheckCache
    from builder.marp import Deck
    from builder.model import Card, Diagnostic
    from builder.pdf import PdfPrinter
    from builder.render import RenderedDeck
    from builder.replay import ReplayCache

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_BAD_INPUT = 2


def command_parser() -> argparse.ArgumentParser:
    """The `sheets` command line: its subcommands and their options, each with its help
    and default (`sheets COMMAND --help`)."""
    from builder import __version__

    parser = argparse.ArgumentParser(
        prog="sheets",
        description="Checked formula sheets from Marp-dialect Markdown.",
    )
    parser.add_argument("--version", action="version", version=f"sheets {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    build = commands.add_parser(
        "build", help="build sheets into PDF or HTML",
        description="Build each sheet into DIR/<stem>.pdf or DIR/<stem>.html. Warnings go to "
        "stderr as `path:line: message`.")
    build.add_argument("sheets", nargs="+", type=Path, metavar="SHEET",
                       help="Markdown sheets to build (.md or .txt)")
    build.add_argument("--to", choices=("pdf", "html"), default="pdf",
                       help="what to write (default: pdf)")
    build.add_argument("-o", "--output", type=Path, default=Path("build"), metavar="DIR",
                       help="the folder to write into (default: build)")
    _theme_set_option(build)
    _layout_option(build)
    build.add_argument(
        "--strict", action="store_true",
        help="check the cards too, and exit 1 on an overflowing slide, a missing image or "
        "a failed card (default: off)",
    )

    check = commands.add_parser(
        "check", help="check every formula card",
        description="Check every formula card: each `=` step of a display equation at "
        "random points and with sympy, and the snippets linked by <!-- check: -->. "
        "Prints one `path:line: title: message` line per failing check, one line per card "
        "that passed with some steps not checked, then a summary.")
    check.add_argument("sheets", nargs="*", type=Path, metavar="SHEET",
                       help="Markdown sheets to check (default: sheets/*.md)")
    check.add_argument("--json", dest="json_out", metavar="FILE|-",
                       help="also write every card's result as JSON to FILE, or to stdout "
                       "with '-' (the text report then goes to stderr) (default: no JSON)")
    check.add_argument("--snippets", type=Path, metavar="DIR",
                       help="the snippets directory for <!-- check: module.function --> "
                       "(default: the nearest snippets/ beside the sheet or above it)")
    check.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                       help="per-card time limit for a snippet (default: 10)")
    check.add_argument("--coverage", action="store_true",
                       help="report how many display equations compiled, and why not, "
                       "with the first 3 places per reason (with --json: a 'coverage' key) "
                       "(default: off)")
    check.add_argument("-v", "--verbose", action="store_true",
                       help="list each step not checked under its card's line, and each "
                       "standard formula the library recognised (its entry and how the "
                       "symbols map); with --coverage, every place, not the first 3 "
                       "(default: off)")
    check.add_argument("-q", "--quiet", action="store_true",
                       help="do not print a line per card that could not be checked "
                       "(LaTeX syntax errors are still printed) (default: off)")

    preview = commands.add_parser(
        "preview", help="live-reload preview in the browser",
        description="Serve the sheet on 127.0.0.1 and rebuild it in the page whenever it "
        "(or a theme or snippet it uses) changes; Ctrl-C stops.")
    preview.add_argument("sheet", type=Path, metavar="SHEET", help="the Markdown sheet to show")
    preview.add_argument("--port", type=int, default=8765,
                         help="the local port to listen on (default: 8765)")
    preview.add_argument("--no-open", action="store_true",
                         help="do not open a browser tab (default: open one when there is "
                         "a display)")
    _theme_set_option(preview)
    _layout_option(preview)

    daemon = commands.add_parser(
        "daemon", help="keep the stages loaded for build and check",
        description="Run in the foreground with the stages loaded and MathJax and the "
        "snippet workers started: `sheets build` and `sheets check` (of this "
        "installation, by this user) hand their work to it, and after a one-card edit "
        "answer in a tenth of a second, not in half a second or more. What they print, "
        "write and exit with is the same. Ctrl-C stops it; so does a change to the code "
        "or to the installed libraries. `SHEETS_DAEMON=off` keeps a run to itself.")
    daemon.add_argument("--stop", action="store_true",
                        help="stop the daemon that is running (default: start one)")

    commands.add_parser(
        "doctor", help="say what is installed and what is missing",
        description="Print what sheets found (Python, the package, Node.js, MathJax and "
        "mermaid, Chromium, CJK fonts, the cache folders) and how to install what is "
        "missing; exit 1 when something a command needs is missing.")
    init = commands.add_parser(
        "init", help="lay out a notes repository",
        description="Lay out a notes repository in DIR: sheets/ with an example sheet, "
        "snippets/ with its check, a GitHub Actions workflow, the pytest configuration, "
        ".gitignore and a README. Existing files are never overwritten.")
    init.add_argument("directory", nargs="?", type=Path, default=Path("."), metavar="DIR",
                      help="where to lay it out (default: the current folder)")
    library = commands.add_parser(
        "library", help="list the standard formulas the checker knows",
        description="List the library's entries (link a card to one with "
        "<!-- check: std.NAME -->): a Markdown table, or JSON with each entry's names, "
        "symbols and forms.")
    library.add_argument("--json", action="store_true",
                         help="print JSON instead of the table (default: the table)")
    return parser


def _parsed(argv: list[str] | None) -> argparse.Namespace:
    """The command line read; an option the command does not have is said with that
    command's usage (`sheets check --frobnicate`), not the program's."""
    parser = command_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        commands = next(action for action in parser._actions
                        if isinstance(action, argparse._SubParsersAction))
        commands.choices[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _layout_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--as", dest="layout", choices=("document", "slides"), default=None,
        help="lay the sheets out as a document flowing over as many pages as it needs, "
        "or as slides, one page each (default: slides for a sheet whose front matter "
        "says `marp: true`, else a document; a front matter's `layout:` says it too)")


def _theme_set_option(command: argparse.ArgumentParser) -> None:
    """`--theme-set CSS`, once per file: one value per option, so that the sheets after
    it are never taken for more CSS (`--theme-set x.css ml.md`)."""
    command.add_argument(
        "--theme-set", action="append", type=Path, default=[], metavar="CSS",
        help="a Marp theme file (/* @theme name */) to use besides the built-in ones; "
        "give the option once per file (default: the built-in themes only)")


def run() -> NoReturn:
    """The `sheets` program (and `python -m builder`): `main`, then exit with its code.
    A reader that stops reading (`sheets library --json | head`) ends the program
    quietly, as it does `cat`: no traceback, exit status 141 (128 + SIGPIPE)."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # What is left in stdout's buffer can go nowhere: point it at /dev/null, so
        # that the interpreter's own flush at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
    # All is written and closed: the interpreter's shutdown need not search the objects of
    # a build for garbage cycles (~0.08 s of the ~0.1 s it took after a PDF build).
    gc.freeze()
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    args = _parsed(argv)
    try:
        if args.command == "build":
            return _build(args)
        if args.command == "check":
            return _check(args)
        if args.command == "daemon":
            return _daemon(args)
        if args.command == "doctor":
            return _doctor()
        if args.command == "init":
            return _init(args)
        if args.command == "library":
            return _library(args)
        return _preview(args)
    except BuildError as error:
        print(error, file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130


def _daemon(args: argparse.Namespace) -> int:
    """`sheets daemon`: serve `sheets build` and `sheets check` runs (builder/daemon/)
    until stopped; `--stop` stops the one running."""
    from builder.daemon import socket_path
    from builder.daemon.server import AlreadyRunning, serve, stop

    path = socket_path()
    if args.stop:
        if not stop(path):
            print("sheets daemon: none is running", file=sys.stderr)
            return EXIT_PROBLEMS
        print("sheets daemon: stopped", file=sys.stderr)
        return EXIT_OK
    from builder.check import keep_snippet_workers

    keep_snippet_workers()
    # What every run needs is imported now, not on the first run handed over.
    import builder.cards
    import builder.check.plan
    import builder.library
    import builder.render  # noqa: F401
    try:
        why = serve(path, main, _code_version_now)
    except AlreadyRunning:
        raise BuildError(None, f"sheets daemon: one is already running ({path}); "
                         "`sheets daemon --stop` stops it") from None
    except OSError as error:
        raise BuildError(None, f"sheets daemon: cannot listen on {path}: {error}") from None
    print(f"sheets daemon: {why}", file=sys.stderr)
    return EXIT_OK


def _code_version_now() -> str | None:
    """`code_state_now`, None when a file of it cannot be read."""
    from builder.resources import code_state_now

    try:
        return code_state_now()
    except OSError:
        return None


def _library(args: argparse.Namespace) -> int:
    """`sheets library`: the standard formulas `sheets check` recognises and links."""
    from builder.library import library_json, library_table

    if args.json:
        import json

        print(json.dumps(library_json(), ensure_ascii=False, indent=1))
    else:
        print(library_table())
    return EXIT_OK


def _build(args: argparse.Namespace) -> int:
    """`_build_sheets` with, for PDF, Chromium started first: it boots (about a second)
    while the stages are imported and the sheets parsed and rendered, and is stopped,
    with its processes and profile, however the build ends."""
    from builder.resources import cache_dir

    cache = cache_dir(args.sheets[0])
    replay = _build_replay(args, cache) if args.to == "html" and not args.strict else None
    if replay is not None and (said := replay.said()) is not None:
        return said
    with contextlib.ExitStack() as stack:
        printer = None
        if args.to == "pdf":
            from builder.pdf import PdfPrinter

            # Under --strict the checker forks, which it does only with no other thread
            # running: the printer then opens its first page when it needs it.
            printer = stack.enter_context(PdfPrinter(cache_dir=cache,
                                                     prepare_in_background=not args.strict))
        from builder.render.typeset import shared_typesetter

        # MathJax boots beside Chromium, on a first build
        shared_typesetter(cache_dir=cache / "math").warm_up()
        return _build_sheets(args, printer, cache, replay)


def _build_sheets(args: argparse.Namespace, printer: PdfPrinter | None, cache_dir: Path,
                  replay: _BuildReplay | None = None) -> int:
    """Write `DIR/<stem>.html` or `DIR/<stem>.pdf` per sheet (atomically). Warnings go to
    stderr as `path:line: message` (the parser's, annotations that reach no card,
    unbalanced delimiters, missing images, math errors, overflowing slides); with
    `--strict` the cards are checked too (failures printed like `sheets check` does, verdicts drawn
    as badges in the HTML) and any warning or failed card makes the exit status 1. A PDF whose pages
    are not one per slide is an error (exit 1) and is not written. Every sheet is parsed before
    anything is written: a bad sheet (exit 2) leaves all outputs as they were. Caches go
    under `cache_dir` (`builder.resources.cache_location`); an HTML build is kept in
    `replay` for the next run with the same inputs."""
    from builder.cards import annotation_warnings, find_cards
    from builder.check import CheckCache, check_cards, find_snippets_dir
    from builder.marp import sheet_layout
    from builder.render import load_themes, render_deck

    themes = load_themes(args.theme_set)
    decks: list[Deck] = [_read_sheet(sheet, cache_dir if args.to == "html" else None)
                         for sheet in args.sheets]
    outputs: dict[Path, Path] = {}
    for sheet in args.sheets:
        output = args.output / f"{sheet.stem}.{args.to}"
        if output in outputs:
            raise BuildError(None, f"{sheet} and {outputs[output]} would both be written "
                                   f"to {output}: rename one")
        outputs[output] = sheet
    problems = False

    def check(deck: Deck, cards: tuple[Card, ...]) -> tuple[CardResult, ...]:
        """The deck's card verdicts, through the same cache as `sheets check`."""
        if not cards:
            return ()
        return check_cards(cards, snippets_dir=find_snippets_dir(deck.path), timeout=10.0,
                           cache=CheckCache(cache_dir / "check"))

    def render(deck: Deck) -> tuple[RenderedDeck, _Report]:
        """The rendered deck, and what to report for it (the caller prints it: a PDF
        build renders the next sheet in a thread while it prints one)."""
        cards = find_cards(deck)
        results = check(deck, cards) if args.strict else None
        rendered = render_deck(deck, themes=themes, results=results,
                               cache_dir=cache_dir / "render", standalone=args.to == "html",
                               layout=sheet_layout(deck, args.layout))
        notes = CheckCache(cache_dir / "check")
        declared = _declared(cards, notes) if args.strict else []
        report = _Report([*deck.diagnostics, *annotation_warnings(deck), *declared,
                          *_delimiters(cards, notes), *rendered.diagnostics])
        notes.flush()
        if results:
            from builder.check import report_lines

            for result in results:  # every failing check, as `sheets check` prints them
                if result.status in ("fail", "error"):
                    report.failures.extend(report_lines(result))
        return rendered, report

    def say(report: _Report) -> None:
        nonlocal problems
        for line in report.lines():
            print(line, file=sys.stderr)
            if replay is not None:
                replay.events.append(("stderr", line))
            problems = True

    try:
        if args.to == "html":
            for deck, output in zip(decks, outputs, strict=True):
                rendered, report = render(deck)
                say(report)
                try:
                    write_text_atomically(output, rendered.document)
                except OSError as error:  # the old file, if any, is still there, whole
                    raise OSError(error.errno, error.strerror, str(output)) from error
                print(f"sheets build: wrote {output}", flush=True)
                if replay is not None:
                    replay.wrote(output, rendered.images)
            if replay is not None:
                replay.keep()
        else:
            assert printer is not None
            if _print_sheets(printer, decks, list(outputs), render, say,
                             in_threads=not args.strict):
                return EXIT_PROBLEMS
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        print(f"sheets build: cannot write: {where}{error.strerror or error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_PROBLEMS if problems and args.strict else EXIT_OK


def _build_replay(args: argparse.Namespace, cache: Path) -> _BuildReplay | None:
    """The replay of an HTML build (`builder.replay`): keyed on the sheets (as named, and
    their bytes), the theme files', the output folder and the render stage's
    `page_version`; None when a sheet or theme cannot be read (the build says why)."""
    import hashlib

    from builder.render.version import page_version
    from builder.replay import ReplayCache, inputs_key

    try:
        contents = [(str(path), hashlib.blake2b(path.read_bytes()).hexdigest())
                    for path in (*args.sheets, *args.theme_set)]
    except OSError:
        return None
    key = inputs_key("build", _options(args), contents, page_version())
    return _BuildReplay(ReplayCache(cache / "replay"), key)


@dataclass
class _BuildReplay:
    """An HTML build as `builder.replay` keeps it: what it printed, in order, and the
    digest of each page it wrote; replayed while every page is still there as written
    (and the images the pages inline are unchanged)."""

    cache: ReplayCache
    key: str
    events: list[tuple[str, str]] = field(default_factory=list)
    """(stream, line): what the build printed."""
    pages: list[tuple[str, str]] = field(default_factory=list)
    """(path, digest) of each page written."""
    images: set[Path] = field(default_factory=set)

    def wrote(self, output: Path, images: Iterable[str]) -> None:
        """Note a page written, and the image files it inlines."""
        from builder.replay import file_digest

        self.events.append(("stdout", f"sheets build: wrote {output}"))
        with contextlib.suppress(OSError):
            self.pages.append((str(output), file_digest(output)))
        self.images.update(map(Path, images))

    def keep(self) -> None:
        self.cache.put(self.key, {"events": self.events, "pages": self.pages}, self.images)

    def said(self) -> int | None:
        """Print what the kept build printed, if it is kept and its pages are as it wrote
        them; its exit status, else None."""
        from builder.replay import file_digest

        kept = self.cache.get(self.key)
        if kept is None:
            return None
        try:
            if not all(file_digest(Path(page)) == digest for page, digest in kept["pages"]):
                return None
            events = [(str(stream), str(line)) for stream, line in kept["events"]]
        except (OSError, ValueError, TypeError):
            return None
        for stream, line in events:
            print(line, file=sys.stderr if stream == "stderr" else sys.stdout,
                  flush=stream == "stdout")
        return EXIT_OK


def _print_sheets(printer: PdfPrinter, decks: Sequence[Deck], outputs: Sequence[Path],
                  render: Callable[[Deck], tuple[RenderedDeck, _Report]],
                  say: Callable[[_Report], None], *, in_threads: bool) -> int:
    """Print each deck to its output with one browser, in order. `in_threads`: the next
    sheet is rendered in a thread while Chromium prints one (the main thread only waits
    for it then): building the 8 sheets of sheets/ from an empty cache takes 4.3-4.6 s
    instead of 5.8-5.9. Not under --strict (the checker forks, which it does only with
    no other thread running). Each sheet's warnings are printed before its PDF is.
    Returns how many PDFs were not written (their pages were not one per slide: an
    error in the report, and the last good PDF kept)."""
    from concurrent.futures import Future, ThreadPoolExecutor

    from builder.pdf import PdfJob, job_for_deck
    from builder.render.typeset import shared_typesetter

    def job(index: int) -> tuple[PdfJob, _Report]:
        rendered, report = render(decks[index])
        if index == len(decks) - 1:
            # Every formula is typeset: node's ~100 MB go before Chromium's last print.
            shared_typesetter().close()
        return job_for_deck(decks[index], rendered.document, outputs[index],
                            rendered.slides, flowing=rendered.layout == "document"), report

    with ThreadPoolExecutor(1, thread_name_prefix="sheets-render") as pool:
        def start(index: int) -> Future[tuple[PdfJob, _Report]]:
            if in_threads:
                return pool.submit(job, index)
            done: Future[tuple[PdfJob, _Report]] = Future()
            done.set_result(job(index))
            return done

        if decks:  # (the printer is told only while it prints nothing: it is not shared)
            printer.expect(decks[0], outputs[0])
        coming = start(0) if decks else None
        unwritten = 0
        for index in range(len(decks)):
            assert coming is not None
            current, report = coming.result()
            last = index == len(decks) - 1
            coming = None if last else start(index + 1)
            result = printer.build(current, last=last)
            report.diagnostics.extend(result.diagnostics)
            say(report)  # before the 'wrote' line, all of the sheet's in line order
            if not result.written:
                unwritten += 1
                continue
            pages = "1 page" if result.pages == 1 else f"{result.pages} pages"
            print(f"sheets build: wrote {result.output} ({pages})", flush=True)
        return unwritten


def _check(args: argparse.Namespace) -> int:
    """Check every card; exit 0 when none failed or errored, 1 when some did, 2 on bad
    input. A sheet that cannot be read is reported at its place and the others are still
    checked (exit 2 at the end); with `--json` the document then has an `errors` list, so
    that a CI script always has a document to read. Results are cached under `check/` in
    the cache folder (`builder.resources.cache_location`: `$SHEETS_CACHE_DIR`, else the notes
    repository's `.cache/`, else the user's); sympy is loaded only when some card is not in
    the cache. A run whose inputs are all as in an earlier one (the sheets' bytes, the
    options, the code, the snippets' files it read) says what that one said
    (`builder.replay`, under `replay/`)."""
    import os

    from builder.replay import ReplayCache
    from builder.resources import cache_dir

    sheets: list[Path] = list(args.sheets) or sorted(Path("sheets").glob("*.md"))
    if not sheets:
        raise BuildError(None, "sheets check: no sheets given and none in sheets/*.md")
    if args.snippets is not None and not args.snippets.is_dir():
        raise BuildError(None, f"--snippets {args.snippets}: not a directory")
    cache = cache_dir(sheets[0])
    replays = ReplayCache(cache / "replay")
    github = os.environ.get("GITHUB_ACTIONS") == "true"
    key = _check_key(args, sheets, github)
    said = replays.get(key) if key is not None else None
    if said is not None:
        return _say_checked(args, str(said["report"]), said["json"], int(said["code"]))
    report, document, results, errors = _checked(args, sheets, cache, github=github)
    code = _say_checked(args, report, document, EXIT_BAD_INPUT if errors else EXIT_OK)
    if code == EXIT_BAD_INPUT:
        return code
    failed = any(result.status in ("fail", "error") for result in results)
    code = EXIT_PROBLEMS if failed else EXIT_OK
    from builder.check import is_storable

    if key is not None and all(map(is_storable, results)):
        replays.put(key, {"report": report, "json": document, "code": code},
                    {path for result in results for check in result.checks
                     for path in check.files_read})
    return code


def _check_key(args: argparse.Namespace, sheets: Sequence[Path], github: bool) -> str | None:
    """What decides a `sheets check` run before it reads a card: the sheets (as named, and
    their bytes), the snippets folder of each, the options, GitHub's annotations and the
    code (`current_code_key`). None when a sheet cannot be read (the run says why)."""
    import hashlib

    from builder.check import current_code_key, find_snippets_dir
    from builder.replay import inputs_key

    code = current_code_key()
    if code is None:
        return None
    try:
        contents = [(str(sheet), hashlib.blake2b(sheet.read_bytes()).hexdigest(),
                     str(args.snippets if args.snippets is not None
                         else find_snippets_dir(sheet)))
                    for sheet in sheets]
    except OSError:
        return None
    return inputs_key("check", code, contents, _options(args), github)


def _options(args: argparse.Namespace) -> list[tuple[str, str]]:
    """Every option of the command line, for a replay's key: an option added later
    changes the key without anyone remembering to add it here."""
    return sorted((name, repr(value)) for name, value in vars(args).items()
                  if not callable(value))


def _checked(args: argparse.Namespace, sheets: Sequence[Path], cache_root: Path, *,
             github: bool) -> tuple[str, str | None, list[CardResult], list[Path]]:
    """Check the sheets' cards: what to report (the per-card lines and the summary), the
    `--json` document, the results, and the sheets that could not be read (each reported
    on stderr as it was found)."""
    import json

    from builder.cards import annotation_warnings, find_cards
    from builder.check import (
        CheckCache,
        check_cards,
        find_snippets_dir,
        github_annotations,
        in_part_lines,
        library_lines,
        report_lines,
        results_json,
        summary_line,
        unchecked_lines,
    )

    cache = CheckCache(cache_root / "check")
    cards_by_snippets: dict[Path | None, list[Card]] = {}
    order: list[Card] = []
    notes: list[str] = []  # each sheet's warnings, in line order
    errors: list[tuple[Path, BuildError]] = []
    for sheet in sheets:
        try:
            deck = _read_sheet(sheet, cache_root)
        except BuildError as error:  # reported now, on stderr; the others still checked
            errors.append((sheet, error))
            print(error, file=sys.stderr)
            continue
        found = find_cards(deck)
        # The parser's warnings too: an unclosed `$$` changes which math the cards hold.
        notes.extend(str(warning) for warning in _in_line_order(
            (*deck.diagnostics, *annotation_warnings(deck), *_declared(found, cache),
             *_delimiters(found, cache))))
        snippets_dir = args.snippets if args.snippets is not None else find_snippets_dir(sheet)
        cards_by_snippets.setdefault(snippets_dir, []).extend(found)
        order.extend(found)
    by_card: dict[int, CardResult] = {}
    for snippets_dir, cards in cards_by_snippets.items():
        for card, result in zip(cards, check_cards(cards, snippets_dir=snippets_dir,
                                                    timeout=args.timeout, cache=cache),
                                strict=True):
            by_card[id(card)] = result
    results = [by_card[id(card)] for card in order]
    cache.flush()

    lines = list(notes)  # the parser's warnings, and annotations that reach no card
    for result in results:  # one line per failing check: a card may hold several
        if result.status in ("fail", "error"):
            lines.extend(report_lines(result))
            if github:
                lines.extend(github_annotations(result))
        lines.extend(in_part_lines(result, verbose=args.verbose))  # a pass, not whole
        lines.extend(library_lines(result, verbose=args.verbose))  # near misses; -v: matches
        # what could not be checked (-v: also what checks nothing by design)
        lines.extend(unchecked_lines(result, quiet=args.quiet, verbose=args.verbose))
    summary = summary_line(results)
    if errors:
        summary += f"; {len(errors)} {'sheet' if len(errors) == 1 else 'sheets'} not read"
    lines.append(summary)
    found_coverage = None
    if args.coverage:
        from builder.check import COVERAGE_EXAMPLES, coverage, coverage_report

        found_coverage = coverage(order, results)
        lines.append(coverage_report(found_coverage,
                                     places=None if args.verbose else COVERAGE_EXAMPLES))
    document = None
    if args.json_out is not None:
        data = results_json(results)
        if errors:  # added keys: the contract's ones stay as they are
            data["errors"] = [_error_json(sheet, error) for sheet, error in errors]
        if found_coverage is not None:
            data["coverage"] = found_coverage.to_json()
        document = json.dumps(data, ensure_ascii=False, indent=1)
    return "".join(f"{line}\n" for line in lines), document, results, \
        [sheet for sheet, _ in errors]


def _say_checked(args: argparse.Namespace, report: str, document: str | None,
                 code: int) -> int:
    """Print a check's report (on stdout, or on stderr when the JSON goes there) and
    write its `--json` document; `code`, or 2 when the document cannot be written."""
    (sys.stdout if args.json_out != "-" else sys.stderr).write(report)
    if args.json_out is not None and document is not None:
        if args.json_out == "-":
            print(document)
        else:
            try:
                write_text_atomically(Path(args.json_out), document + "\n")
            except OSError as error:
                print(f"sheets check: cannot write {args.json_out}: "
                      f"{error.strerror or error}", file=sys.stderr)
                return EXIT_BAD_INPUT
    return code


SHEET_SUFFIXES = (".md", ".txt")


def _read_sheet(path: Path, cache: Path | None = None) -> Deck:
    """The parsed sheet at `path`; a file that is not a sheet (docs/format.md: `.md` or
    `.txt`) is bad input, not an empty sheet with nothing to check. With a `cache`
    folder, the last run's parse of the sheet is kept under `parse/` there and only what
    changed since is parsed again (`builder.marp.parse_kept`)."""
    from builder.marp import parse_file, parse_kept

    if path.suffix.lower() not in SHEET_SUFFIXES and not path.is_dir():
        raise BuildError(None, f"{path}: not a sheet (a sheet is a .md or .txt file)")
    return parse_file(path) if cache is None else parse_kept(path, cache / "parse")


def _declared(cards: Iterable[Card], cache: CheckCache) -> list[Diagnostic]:
    """The check stage's warnings about what cards declare (`assume:`, `let:`), through
    the check cache; only cards that declare something are looked at."""
    from builder.check import declaration_warnings

    return [warning for card in cards if card.assume or card.declarations
            for warning in cache.diagnostics(card, declaration_warnings)]


def _delimiters(cards: Iterable[Card], cache: CheckCache) -> list[Diagnostic]:
    """The formula stage's warnings about unbalanced delimiters, card by card, through
    the check cache (`CheckCache.diagnostics`)."""
    return [warning for card in cards for warning in cache.diagnostics(card, _card_delimiters)]


def _card_delimiters(card: Card) -> list[Diagnostic]:
    """`delimiter_warnings` of one card (what `CheckCache.diagnostics` keeps per card)."""
    from builder.formula import delimiter_warnings

    return delimiter_warnings((card,))


def _in_line_order(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """One sheet's diagnostics from several stages, in the order of their lines (stable:
    two on one line keep the order in which the stages found them)."""
    return sorted(diagnostics, key=lambda diagnostic: diagnostic.loc.line)


@dataclass
class _Report:
    """What a build says of one sheet: the stages' diagnostics, printed in line order
    as `path:line: warning: message`, then its failing cards under --strict."""

    diagnostics: list[Diagnostic]
    failures: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [*map(str, _in_line_order(self.diagnostics)), *self.failures]


def _error_json(sheet: Path, error: BuildError) -> dict[str, object]:
    """An input error as `--json` reports it: the sheet, the line when known, and what
    is wrong."""
    if error.loc is None:
        return {"file": str(sheet), "line": None, "message": error.message}
    return {"file": str(error.loc.path), "line": error.loc.line, "message": error.message}


def _doctor() -> int:
    """Print what was found and what is missing; 1 when something needed is missing."""
    from builder.doctor import examine, report

    text, code = report(examine())
    print(text)
    return code


def _init(args: argparse.Namespace) -> int:
    """Lay out a notes repository in `args.directory`; say what was written and which
    files were already there (left as they were)."""
    from builder.scaffold import lay_out

    directory: Path = args.directory
    if directory.exists() and not directory.is_dir():
        raise BuildError(None, f"sheets init: {directory} is not a folder")
    layout = lay_out(directory)
    for path in layout.written:
        print(f"sheets init: wrote {directory / path}")
    for path in layout.skipped:
        print(f"sheets init: skipped {directory / path} (already there)")
    print(f"sheets init: in {directory}, `sheets check` checks the sheets and `pytest` runs "
          "them as tests")
    return EXIT_OK


def _preview(args: argparse.Namespace) -> int:
    """Serve until stopped (Ctrl-C, SIGTERM or SIGHUP end it with 130, through `main`;
    the checker's process goes with it, even on SIGKILL). A sheet that does
    not build is shown as an error in the page, never ends the server; only a sheet that
    is not there at start, or a port that is taken, is bad input."""
    from builder.live import PreviewServer, SheetPreview, open_browser
    from builder.signals import stop_signals_as_interrupt

    sheet: Path = args.sheet
    if not sheet.is_file():
        raise BuildError(None, f"{sheet}: no such file")
    with stop_signals_as_interrupt():  # `kill` and a closed terminal stop it as Ctrl-C does
        rebuild = SheetPreview(sheet, theme_set=args.theme_set, layout=args.layout)
        try:
            server = PreviewServer(sheet, rebuild, port=args.port)
        except OSError as error:
            print(f"sheets preview: cannot listen on 127.0.0.1:{args.port}: "
                  f"{error.strerror}", file=sys.stderr)
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
