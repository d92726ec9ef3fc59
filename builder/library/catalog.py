"""The library's entries: package data written as sheets (`entries/*.md`), one card per
entry. A card's display equations are the entry's forms (the first is the standard
formula, the others accepted variants), its `check:` runs the independent numpy
implementation (`entries/snippets/reference.py`) so that the library is checked as any
sheet is, and its YAML block names the entry:

```yaml
id: conv_output_size          # linked as <!-- check: std.conv_output_size -->
en: convolution output size
names: [出力サイズ, output size]   # what titles and text call it (the card's title too)
title_only: false             # true: recognised only where a title or the text names it
fixed_names: false            # true: its own names fix their roles (S stride, P padding)
exact_names: false            # true: names mean their role (TP, FP; t and y of a cross-entropy):
                              # a card's FN for FP fails; a name the entry also gives
                              # another symbol (an alias) pins nothing
mistakes: true                # false: a card is only ever matched, never failed
arguments: []                 # the symbols its left side names in order: [p, q] of D(p‖q)
forms: [conv_output_size, conv_output_size_exact: without the floor]
symbols:                      # role | domain (domains.py) | names notes give it
  H: input size | int 5..40 | h, H_in, W
```
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builder.library.domains import ValueDomain, parse_value_domain
from builder.library.mistakes import Mistake, mistakes
from builder.library.shapes import Shape, shape_of
from builder.model import STD_PREFIX, BuildError, Card, SourceLoc

__all__ = ["ENTRIES_DIR", "STD_PREFIX", "Entry", "Form", "SymbolSpec", "entries",
           "entry_named", "load_entries", "normalized_text"]

ENTRIES_DIR = Path(__file__).resolve().parent / "entries"
"""`<!-- check: std.NAME -->` links a card to the library's entry NAME."""


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """One symbol of an entry: what it stands for, its values, the names notes give it."""

    name: str
    role: str
    domain: ValueDomain
    aliases: tuple[str, ...]


@dataclass(slots=True)
class Form:
    """One way of writing the entry's formula (the standard one first, then variants)."""

    implementation: str
    """The name of its independent implementation in `entries/snippets/reference.py`."""
    description: str
    """`standard`, or what the variant differs in (`without the floor`)."""
    tex: str
    """The right-hand side's LaTeX, as the entry's card writes it."""
    shape: Shape
    _mistakes: list[tuple[Mistake, Shape]] | None = None

    @property
    def mistakes(self) -> list[tuple[Mistake, Shape]]:
        """The form's typical mistakes and their shapes (a mistake may drop a symbol:
        `1 - \beta` for `1 - \beta^t`), made on first use."""
        if self._mistakes is None:
            found = []
            for mistake in mistakes(self.shape.expr):
                shape = shape_of(mistake.expr, normalized=True)
                if shape is not None:
                    found.append((mistake, shape))
            self._mistakes = found
        return self._mistakes


@dataclass(slots=True)
class Entry:
    id: str
    title: str
    """The entry card's heading (Japanese)."""
    en: str
    names: tuple[str, ...]
    symbols: dict[str, SymbolSpec]
    forms: list[Form]
    loc: SourceLoc
    keys: tuple[str, ...] = field(default=())
    """`names` and the title as `normalized_text` gives them, for matching titles."""
    title_only: bool = False
    """Recognised only where a title or text names it: a form shared by many formulas
    (a moving average is Adam's moment, RMSProp's average and GRU's state alike)."""
    mistakes: bool = True
    """Whether a card that is one of its mistakes fails; False for a form so plain that
    its "mistakes" are other formulas' right forms (`L - \\epsilon H` is entropy
    regularisation, not L1 regularisation with a sign wrong)."""
    exact_names: bool = False
    """Its symbols' names are what they mean (`TP`, `FP`): a card using them must use
    them so, and `FN` for `FP` is a mistake however well the form matches."""
    fixed_names: bool = False
    """Its symbols' own names fix their roles in every note (`S` the stride, `P` the
    padding; `\\alpha` and `\\gamma` of Q-learning): a card using them is held to
    them, and `S` for `P` is a swap, not a renaming. A name the entry also gives another
    symbol (an alias) fixes nothing."""
    updates: str | None = None
    """The symbol its formula updates (`v` of `v' = \\alpha v - \\eta g`), None for a
    formula of other quantities (`E = -\\sum_k t_k \\log y_k`)."""
    arguments: tuple[str, ...] = ()
    """The symbols a card's left side names in order, when it names them (`p` and `q`
    of `D_{KL}(p \\| q)`): held to them, so the divergence the other way round is no
    renaming of it."""

    @property
    def std(self) -> str:
        return f"{STD_PREFIX}{self.id}"


def normalized_text(text: str) -> str:
    """Text as titles are matched: NFKC, lower case, without spaces, punctuation and
    LaTeX's `$` (`Cross-Entropy（交差）` → `crossentropy交差`)."""
    text = unicodedata.normalize("NFKC", text).lower()
    return re.sub(r"[\s\-_・･,.:;!?()\[\]{}$'\"`*#/|~]+", "", text)


@functools.cache
def entries() -> tuple[Entry, ...]:
    """Every entry of the library shipped with the package, once per process: from the
    user's cache (`library/` in `~/.cache/sheets`, beside node's snapshot: it belongs to
    the installed package, not to a notes repository; keyed on the package's files and
    sympy's version, sealed with this user's key as every pickle the package keeps:
    `resources.sealed`) when it holds them, else read from `ENTRIES_DIR` (reading
    compiles every form) and kept there."""
    import pickle

    import sympy

    from builder.atomic import atomic_path
    from builder.resources import package_digest, sealed, unsealed, user_cache_dir

    key = hashlib.blake2b(f"{package_digest()}\0{sympy.__version__}".encode(),
                          digest_size=16).hexdigest()
    path = user_cache_dir() / "library" / f"entries-{key}.pickle"
    with contextlib.suppress(Exception):  # a cache that cannot be read is a miss
        data = unsealed(path.read_bytes())  # None: not this user's, or damaged
        found = pickle.loads(data) if data is not None else None
        if isinstance(found, tuple) and all(isinstance(item, Entry) for item in found):
            return found
    loaded = load_entries(ENTRIES_DIR)
    blob = sealed(pickle.dumps(loaded, protocol=pickle.HIGHEST_PROTOCOL))
    if blob is None:  # no key: nothing is kept
        return loaded
    with contextlib.suppress(Exception), atomic_path(path) as temporary:
        # a cache that cannot be written only costs time
        temporary.write_bytes(blob)
    for stale in path.parent.glob("entries-*.pickle"):  # another version's: never read
        if stale != path:
            stale.unlink(missing_ok=True)
    return loaded


def load_entries(directory: Path) -> tuple[Entry, ...]:
    """The entries of every `*.md` in `directory`, in file then card order;
    `BuildError` at the card's line when one is malformed."""
    from builder.cards import find_cards
    from builder.marp import parse_file

    found: list[Entry] = []
    for path in sorted(directory.glob("*.md")):
        for card in find_cards(parse_file(path)):
            found.append(_entry(card))
    seen: set[str] = set()
    for entry in found:
        if entry.id in seen:
            raise BuildError(entry.loc, f"entry {entry.id!r} defined twice")
        seen.add(entry.id)
    return tuple(found)


def _entry(card: Card) -> Entry:
    import yaml

    from builder.formula import compile_equation, declarations_for

    if not card.code:
        raise BuildError(card.loc, "a library card needs its ```yaml block")
    try:
        data = yaml.safe_load(card.code[-1])
    except yaml.YAMLError as error:
        raise BuildError(card.loc, f"the YAML block: {error}") from None
    if not isinstance(data, dict) or not {"id", "en", "forms", "symbols"} <= set(data):
        raise BuildError(card.loc, "the YAML block needs id, en, forms and symbols")
    symbols: dict[str, SymbolSpec] = {}
    for name, text in dict(data["symbols"]).items():
        parts = [part.strip() for part in str(text).split("|")]
        if len(parts) != 3:
            raise BuildError(card.loc, f"symbol {name}: write `role | domain | aliases`")
        try:
            domain = parse_value_domain(parts[1])
        except ValueError as error:
            raise BuildError(card.loc, f"symbol {name}: {error}") from None
        aliases = tuple(alias.strip() for alias in parts[2].split(",") if alias.strip())
        symbols[str(name)] = SymbolSpec(str(name), parts[0], domain, aliases)
    forms_data = list(data["forms"])
    if len(forms_data) != len(card.equations):
        raise BuildError(card.loc, f"{len(forms_data)} forms for {len(card.equations)} "
                                   f"display equations")
    forms: list[Form] = []
    updates: str | None = None
    for item, equation in zip(forms_data, card.equations, strict=True):
        implementation, description = (next(iter(item.items())) if isinstance(item, dict)
                                       else (item, "standard"))
        compiled = compile_equation(equation, declarations_for(card))
        sides = compiled.chains[-1].sides if compiled.chains else ()
        shape = shape_of(sides[-1].expr) if sides else None
        if not forms and len(sides) > 1:
            updates = updated_name(sides[0].expr, sides[-1].expr)
        if shape is None:
            raise BuildError(equation.loc, f"form {implementation}: "
                                           f"{compiled.reason or 'nothing to compare'}")
        unknown = {*shape.scalars, *(name for name, _ in shape.arrays)} - set(symbols)
        if unknown:
            raise BuildError(equation.loc, f"form {implementation}: symbols without a "
                                           f"role: {', '.join(sorted(unknown))}")
        written = " ".join(equation.tex.split("=", 1)[-1].split())
        forms.append(Form(str(implementation), str(description or "standard"), written,
                          shape))
    arguments = tuple(str(name) for name in data.get("arguments", ()))
    if set(arguments) - set(symbols):
        raise BuildError(card.loc, f"arguments: {', '.join(set(arguments) - set(symbols))}"
                                   f": not symbols of the entry")
    names = tuple(str(name) for name in data.get("names", ()))
    keys = tuple(dict.fromkeys(normalized_text(name)
                               for name in (card.title, str(data["en"]), *names)))
    return Entry(str(data["id"]), card.title, str(data["en"]), names, symbols, forms,
                 card.loc, keys, bool(data.get("title_only", False)),
                 bool(data.get("mistakes", True)), bool(data.get("exact_names", False)),
                 bool(data.get("fixed_names", False)), updates, arguments)


def updated_name(left: Any, right: Any) -> str | None:
    """The name a definition updates: its left side's (`v` of `v'`, `v_t`, `v[t]`, primes
    and steps taken off) when the right side has that name too; None otherwise."""
    import sympy

    if isinstance(left, sympy.Indexed):
        name = str(left.base.label)
    elif isinstance(left, sympy.Symbol):
        name = left.name
    else:
        return None
    used = _names_in(right)
    base = name if name in used else re.sub(r"(_prime|_\w+)$", "", name)
    return base if base in used else None


def _names_in(expr: Any) -> set[str]:
    import sympy

    return {symbol.name for symbol in expr.free_symbols if isinstance(symbol, sympy.Symbol)} \
        | {str(item.base.label) for item in expr.atoms(sympy.Indexed)}


def entry_named(std: str) -> Entry | None:
    """The entry `std.NAME` (or `NAME`) links to, if there is one."""
    name = std.removeprefix(STD_PREFIX)
    return next((entry for entry in entries() if entry.id == name), None)
