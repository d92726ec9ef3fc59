"""The builder's side of `sheets preview`: the `rebuild(path) -> Update` the server calls.

The server (builder/serve.py) knows nothing of stages; this glue calls them. Every call
parses the sheet again where it changed since the last call (`builder.marp.reparse`),
and renders only the slides whose rendering inputs changed since the last call: a cache
maps each slide's key (its Markdown source, its resolved directives, its position) to
its HTML, and is emptied when anything deck-wide changes (front matter, global style,
theme files), since that may restyle every slide.
Math inside unchanged slides is therefore never typeset again.

Checks run later, in the server's checks thread (`Update.checks`), so they never delay
the redraw, and in a process of their own: sympy holds the GIL for seconds at a time,
and the next redraw must not wait for it. Their results are cached per card, keyed by
the card and by the contents of the snippet modules it links: editing a snippet
re-checks only the cards that use it.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import hashlib
import multiprocessing
import signal
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from dataclasses import field as dataclass_field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from builder.check import find_snippets_dir
from builder.live.server import Badge, Notice, Update
from builder.marp import NOT_SLIDE_LOOK
from builder.model import BuildError, Card, Diagnostic

if TYPE_CHECKING:
    from builder.marp import Deck, Layout, Slide
    from builder.render import PageMath
    from builder.runner import SnippetPool


@dataclass(frozen=True, slots=True)
class _Rendered:
    deck_key: str
    head: str
    slides: Mapping[str, str]
    math: PageMath
    """The page's math so far: `head` covers the math of every slide in `slides`."""
    notes: Mapping[str, tuple[tuple[int, str], ...]] = dataclass_field(default_factory=dict)
    """Each rendered slide's warnings (a missing image), by slide key, as (line from the
    slide's first line, message): a slide drawn from the cache still reports them."""


def _fingerprint(paths: Iterable[Path]) -> str:
    """Contents, not times: an editor that rewrites a file unchanged changes nothing."""
    digest = hashlib.blake2b(digest_size=16)
    for path in sorted(paths):
        digest.update(str(path).encode() + b"\0")
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"\1missing")
    return digest.hexdigest()


_NOT_DECK_STYLE = frozenset({"slides", "diagnostics", "directive_locs"})


def _fields_key(value: Any, skip: frozenset[str]) -> str:
    # repr, not hash: some fields (markdown-it tokens) are unhashable, and the repr of
    # the plain values is what decides the rendering.
    return repr(tuple((f.name, getattr(value, f.name)) for f in fields(value)
                      if f.name not in skip))


def _slide_at(slides: Sequence[Slide], line: int) -> Slide | None:
    """The slide holding `line` (the last one starting at or before it)."""
    found = None
    for slide in slides:
        if slide.loc.line > line:
            break
        found = slide
    return found if found is not None else (slides[0] if slides else None)


def _card_what(card: Card) -> str:
    """What is checked of a card. Not the lines: an edit above a card moves it without
    changing what is checked."""
    return repr((card.title, tuple(equation.tex for equation in card.equations),
                 card.checks, card.assume, card.nocheck, card.declarations, card.code,
                 tuple(equation.tex for equation in card.context)))


@functools.cache
def _snippet_pool() -> SnippetPool:
    """The checker process's snippet pool, started at its first linked snippet and kept
    warm for the next saves (its workers die with the process)."""
    from builder.runner import SnippetPool

    return SnippetPool()


def _check_cards(cards: Sequence[Card], snippets_dir: Path | None, timeout: float) -> Any:
    from builder.check import check_cards

    linked = any(card.checks and card.nocheck is None for card in cards)
    return check_cards(cards, snippets_dir=snippets_dir, timeout=timeout,
                       pool=_snippet_pool() if linked else None)


def _checker_started(lifeline: Connection) -> None:
    """The checker's process yields the CPU to the server: a check still running for
    the last save (sympy, seconds of CPU) must not slow the redraw of the next one.
    It ignores Ctrl-C and SIGHUP, which the terminal sends to the whole process group:
    stopping it is the server's job (`close`), and a checker interrupted mid-check would
    hand its KeyboardInterrupt to the server's checks thread, which printed a traceback.
    It exits when `lifeline` reaches its end: only the server holds the other end, so
    that happens when the server is gone, however it went (SIGKILL too)."""
    import os

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    with contextlib.suppress(OSError):  # not allowed here: checks just compete as equals
        os.nice(10)
    threading.Thread(target=_exit_with_parent, args=(lifeline,), name="lifeline",
                     daemon=True).start()


def _exit_with_parent(lifeline: Connection) -> None:
    """A pipe rather than Linux's PR_SET_PDEATHSIG: that signal follows the *thread*
    that started the process (the checks thread here, or any caller of `checks()`),
    not the server's process; and a pipe works on every POSIX system."""
    import os

    try:
        while True:
            lifeline.recv_bytes()  # the server never sends: this waits for the end
    except (EOFError, OSError):
        pass
    # Not sys.exit: the main thread may be deep in a check; the snippet worker it
    # started dies with this process (builder/worker.py).
    os._exit(0)


@contextmanager
def _hangup_blocked() -> Iterator[None]:
    """SIGHUP blocked in this thread, and so in the processes started meanwhile (a
    blocked signal stays blocked across fork and exec). A closed terminal sends SIGHUP
    to the whole process group: the server stops on it (cli.py), but multiprocessing's
    resource tracker ignores only SIGINT and SIGTERM, and died of it before the server
    was done with it ("resource_tracker: process died unexpectedly", a traceback).
    The server's own thread is untouched: a signal blocked here goes to another one."""
    if not hasattr(signal, "pthread_sigmask") or not hasattr(signal, "SIGHUP"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class _CheckProcess:
    """`check_cards` in one long-lived child process (started on first use; restarted
    if a check takes it down)."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        # Our end, and the child's (kept until close: the child is started lazily, at
        # the first check, and it is then that its end is handed over).
        self._lifeline: tuple[Connection, Connection] | None = None
        self._closed = False
        self._starting = threading.Lock()
        """Held while the pool is made and given a check: `close` then finds its process
        started, to end it (else it waited for the whole check the process was given)."""

    def run(self, cards: Sequence[Card], snippets_dir: Path | None, timeout: float) -> Any:
        with _hangup_blocked(), self._starting:
            if self._closed:  # (the server is stopping: it drops what this raises)
                raise RuntimeError("the checker is closed")
            if self._pool is None:
                # spawn: forking a process that runs server threads could copy a held lock.
                context = multiprocessing.get_context("spawn")
                self._close_lifeline()
                child_end, our_end = context.Pipe(duplex=False)
                self._lifeline = (our_end, child_end)
                self._pool = ProcessPoolExecutor(
                    max_workers=1, mp_context=context,
                    initializer=_checker_started, initargs=(child_end,))
            # The first submit starts the checker's process (and multiprocessing's
            # resource tracker with the pool's queues, above).
            future = self._pool.submit(_check_cards, tuple(cards), snippets_dir, timeout)
        try:
            return future.result()
        except BrokenProcessPool:
            broken, self._pool = self._pool, None
            if broken is not None:  # (not already taken by `close`)
                broken.shutdown(wait=True)  # its manager thread: see `close`
            raise

    def close(self) -> None:
        # (The checks thread forgets a broken pool on its own: take ours first.)
        with self._starting:
            pool, self._pool, self._closed = self._pool, None, True
        if pool is not None:
            # A check under way would hold the exit up for its whole length: end it.
            processes = list((getattr(pool, "_processes", None) or {}).values())
            for process in processes:
                process.terminate()
            for process in processes:
                process.join(5)
                if process.exitcode is None:
                    process.kill()
                    process.join()
            # With its process gone, the pool's manager thread ends at once: wait for it.
            # Left running, it could close its wake-up pipe while the interpreter's exit
            # hook writes to it (an "Exception ignored ... Bad file descriptor" on stderr,
            # a race in Python 3.11's concurrent.futures).
            pool.shutdown(wait=True, cancel_futures=True)
        self._close_lifeline()

    def _close_lifeline(self) -> None:
        if self._lifeline is not None:
            for end in self._lifeline:
                end.close()
            self._lifeline = None


class SheetPreview:
    """`rebuild(path) -> Update` for one sheet; keeps the caches between calls."""

    def __init__(
        self,
        sheet: Path,
        *,
        theme_set: Sequence[Path] = (),
        snippets_dir: Path | None = None,
        timeout: float = 10.0,
        layout: Layout | None = None,
    ) -> None:
        self.sheet = sheet
        self.layout = layout
        """`sheets preview --as`: slides or a document, whatever the sheet says."""
        self.theme_set = tuple(path.absolute() for path in theme_set)
        self.snippets_dir = snippets_dir or find_snippets_dir(sheet)
        self.timeout = timeout
        self._rendered: _Rendered | None = None
        self._deck: Deck | None = None
        """The last deck parsed: the next save is parsed again only where it changed."""
        self._slide_keys: dict[int, tuple[Slide, str]] = {}
        """The last deck's slides' cache keys, by the slide's id: `reparse` hands on the
        slides an edit did not reach as they were, and their keys need not be made again."""
        self._results: dict[str, Any] = {}  # card key -> CardResult
        self._slide_cards: dict[int, tuple[Slide, list[tuple[Card, str]]]] = {}
        """The cards of the slides the last check saw, by the slide's id (`_cards`)."""
        self._results_lock = threading.Lock()  # the checks thread and the build loop
        self._checker = _CheckProcess()
        self.rendered_slides = 0
        """How many slides have been rendered in all (tests check the cache with it)."""
        self.checked_cards = 0
        """How many cards have been sent to the checker in all."""

    def close(self) -> None:
        self._checker.close()

    def _watch(self, extra: Iterable[Path] = ()) -> frozenset[Path]:
        paths = {*self.theme_set, *extra}
        if self.snippets_dir is not None:
            paths.add(self.snippets_dir.absolute())
        return frozenset(paths)

    def __call__(self, path: Path) -> Update:
        from builder.marp import document_parts, read_sheet, reparse, sheet_layout
        from builder.render import MERMAID_JS, PageMath, load_themes, render_deck

        try:
            previous = self._deck if self._deck is not None and self._deck.path == path \
                else None
            text = read_sheet(path)
            deck = self._deck = reparse(previous, text, path)
            themes = load_themes(self.theme_set)
        except BuildError as error:
            return Update(error=str(error), watch=self._watch())
        except FileNotFoundError:
            return Update(error=f"{path}: the sheet is missing (deleted or being replaced)",
                          watch=self._watch())
        except (OSError, UnicodeDecodeError) as error:
            return Update(error=f"{path}: {error}", watch=self._watch())

        layout = sheet_layout(deck, self.layout)
        deck_key = _fields_key(deck, _NOT_DECK_STYLE) + _fingerprint(self.theme_set) + layout
        # A document is shown in parts, so that a save redraws the part it changed.
        shown = document_parts(deck, text) if layout == "document" else deck
        cache = self._rendered
        if cache is None or cache.deck_key != deck_key:
            cache = _Rendered(deck_key, "", {}, PageMath())
        keys = self._keys(shown.slides)
        missing = [slide for slide, key in zip(shown.slides, keys, strict=True)
                   if key not in cache.slides]
        head = cache.head
        slides = dict(cache.slides)
        notes = dict(cache.notes)
        if missing or not head:
            try:
                # (The page's title, in a document's CSS, is the sheet's, not that of
                # the first slide rendered: else the head would change with each save.)
                rendered = render_deck(replace(shown, slides=tuple(missing),
                                               title=deck.title or path.name), themes=themes,
                                       page_math=cache.math, layout=layout)
            except BuildError as error:
                return Update(error=str(error), watch=self._watch())
            self.rendered_slides += len(missing)
            head = rendered.head
            for slide, html in zip(missing, rendered.slides, strict=True):
                slides[keys[slide.index]] = html
                notes[keys[slide.index]] = tuple(
                    (diagnostic.loc.line - slide.loc.line, diagnostic.message)
                    for diagnostic in rendered.diagnostics
                    if _slide_at(shown.slides, diagnostic.loc.line) is slide)
        # Keep only what the deck now has, so the cache does not grow with every edit.
        self._rendered = _Rendered(deck_key, head, {key: slides[key] for key in keys},
                                   cache.math, {key: notes.get(key, ()) for key in keys})
        ordered = tuple(slides[key] for key in keys)
        return Update(
            head=f"<style>{head}</style>",
            slides=ordered,
            title=deck.title or path.name,
            watch=self._watch(self._images(deck)),
            # The same diagram library `sheets build` inlines (3.5 MB: only when needed);
            # the page runs it on each patched slide that has a diagram.
            scripts=(MERMAID_JS,) if any(slide.has_diagram for slide in deck.slides) else (),
            warnings=self._warnings(deck, shown, keys, notes),
            checks=lambda: self._check(deck, shown),
        )

    def _warnings(self, deck: Deck, shown: Deck, keys: Sequence[str],
                  notes: Mapping[str, tuple[tuple[int, str], ...]]) -> tuple[Notice, ...]:
        """The sheet's warnings for the page's summary: the parser's (an unclosed `$$`,
        a misspelt directive), the annotations' (a misspelt key, one that reaches no
        card) and the rendered slides' (a missing image), in line order, each with the
        slide of `shown` (the deck, or a document's parts: `keys` are theirs) it is on."""
        from builder.cards import annotation_warnings

        found: list[Diagnostic] = [*deck.diagnostics, *annotation_warnings(deck)]
        for slide, key in zip(shown.slides, keys, strict=True):
            found.extend(Diagnostic(replace(slide.loc, line=slide.loc.line + offset), message)
                         for offset, message in notes.get(key, ()))
        found.sort(key=lambda diagnostic: diagnostic.loc.line)
        notices = []
        for diagnostic in found:
            holder = _slide_at(shown.slides, diagnostic.loc.line)
            notices.append(Notice(holder.index if holder is not None else 0,
                                  diagnostic.loc.line, diagnostic.message))
        return tuple(dict.fromkeys(notices))

    def _keys(self, slides: Sequence[Slide]) -> list[str]:
        """Each slide's key in the rendered cache (`NOT_SLIDE_LOOK`)."""
        known = self._slide_keys
        keys: list[str] = []
        for slide in slides:
            kept = known.get(id(slide))
            keys.append(kept[1] if kept is not None and kept[0] is slide
                        else _fields_key(slide, NOT_SLIDE_LOOK))
        self._slide_keys = {id(slide): (slide, key)
                            for slide, key in zip(slides, keys, strict=True)}
        return keys

    def _images(self, deck: Any) -> set[Path]:
        """Local image files the slides use (a missing one too: creating it redraws)."""
        images: set[Path] = set()
        base = Path(deck.path).absolute().parent
        for slide in deck.slides:
            sources = [background.src for background in getattr(slide, "backgrounds", ())
                       if getattr(background, "src", None)]
            sources.extend(slide.images)
            for source in sources:
                if "://" not in source and not source.startswith(("data:", "/")):
                    images.add(base / unquote(source.split("#")[0].split("?")[0]))
        return images

    def _card_key(self, card: Card, what: str, digests: dict[str, str]) -> str:
        """`what` (`_card_what`) and the contents of the snippet modules the card links;
        `digests` keeps each module's for the rest of one check."""
        if self.snippets_dir is None:
            return what
        modules = sorted({target.rsplit(".", 1)[0] for target in card.checks})
        for module in modules:
            if module not in digests:
                digests[module] = _fingerprint(
                    [self.snippets_dir / f"{module.replace('.', '/')}.py"])
        return what + "".join(digests[module] for module in modules)

    def _cards(self, deck: Deck) -> list[tuple[Card, str]]:
        """The deck's cards, each with its `_card_what`. A slide's cards depend on the
        slide (and the definitions above it, `Card.context`, looked for in the whole
        deck): those of the slides the last check saw (the same objects: `reparse` hands
        on the slides an edit did not reach) are not looked for again, so a definition
        edited above an unchanged slide reaches its cards at their next edit."""
        from builder.cards import find_cards

        slides = deck.slides
        known = self._slide_cards
        new = [slide for slide in slides
               if (kept := known.get(id(slide))) is None or kept[0] is not slide]
        found: dict[int, list[tuple[Card, str]]] = {slide.index: [] for slide in new}
        if new:
            for card in find_cards(deck, slides={slide.index for slide in new}):
                found[card.slide].append((card, _card_what(card)))
        cards: list[tuple[Card, str]] = []
        remembered: dict[int, tuple[Slide, list[tuple[Card, str]]]] = {}
        for slide in slides:
            kept = known.get(id(slide))
            these = kept[1] if kept is not None and kept[0] is slide else found[slide.index]
            remembered[id(slide)] = (slide, these)
            cards.extend(these)
        self._slide_cards = remembered
        return cards

    def _check(self, deck: Any, shown: Any) -> tuple[Badge, ...]:
        """The badges of `deck`'s cards, each on the slide of `shown` (the deck, or the
        parts of a document) that holds the card's line."""
        found = self._cards(deck)
        cards = [card for card, _ in found]
        digests: dict[str, str] = {}
        keys = [self._card_key(card, what, digests) for card, what in found]
        with self._results_lock:
            todo = [card for card, key in zip(cards, keys, strict=True)
                    if key not in self._results]
        if todo:
            self.checked_cards += len(todo)
            fresh = self._checker.run(todo, self.snippets_dir, self.timeout)
            with self._results_lock:
                for result in fresh:
                    key = self._card_key(result.card, _card_what(result.card), digests)
                    self._results[key] = result
        with self._results_lock:
            # Forget cards that are gone, so edits do not pile up results.
            self._results = {key: self._results[key] for key in keys if key in self._results}
            results = [self._results.get(key) for key in keys]
        from builder.check import badge_label, badge_message

        starts = [slide.loc.line for slide in shown.slides]

        def slide_of(card: Card) -> int:
            if shown is deck:
                return card.slide
            return max(bisect.bisect_right(starts, card.loc.line) - 1, 0)

        return tuple(
            Badge(slide=slide_of(card), title=card.title, line=card.loc.line,
                  status=result.status, message=badge_message(result),
                  label=badge_label(result))
            for card, result in zip(cards, results, strict=True) if result is not None
        )
