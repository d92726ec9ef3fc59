"""A card's verdicts from the library: checked against the entry it links
(`<!-- check: std.NAME -->`, with `<!-- map: h = H, f_h = F -->` to fix the renaming), or
recognised without any annotation.

Recognising is precision first (a false alarm is worse than an unchecked card):
- a formula equal to a standard one under a renaming of its symbols passes, "matches
  the standard …", whether the title names it or its form alone is recognised (a form
  with enough in it: a few symbols and operations);
- a formula that is one of an entry's typical mistakes fails at its line, with the
  standard formula and what differs, only when the card's title (or failing that, its
  text) names the entry;
- the same without a name to confirm it is a near miss: an `unchecked` check that says
  so (reported as a warning), never a fail;
- anything else is left as it was.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import os
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from builder.formula import compile_equation, declarations_for, latex_name, python_name
from builder.library.catalog import (
    STD_PREFIX,
    Entry,
    entries,
    entry_named,
    normalized_text,
    updated_name,
)
from builder.library.matching import Found, compare_with_entry
from builder.library.mistakes import Mistake
from builder.library.shapes import Shape, elementwise, shape_of
from builder.model import NEAR_MISS, Card, CheckResult, SourceLoc

__all__ = ["NEAR_MISS", "library_checks", "linked_entries", "prepare_library", "statements"]

_DEFINING = frozenset({"=", "\\leftarrow", "\\gets", ":=", "\\coloneqq", "\\equiv"})
_RECOGNISED_OPERATIONS = 4
"""A formula recognised by its form alone has at least this many operations and three
symbols, or half as many more operations (`x + y` equals too many things to be called
anything)."""
_MISTAKE_OPERATIONS = 2
"""A formula is failed as an entry's mistake only with at least this many operations."""


@dataclass(frozen=True, slots=True)
class Statement:
    """One formula a card states: the right-hand side of a definition (`y = …`,
    `θ ← …`) or a bare expression, with its line."""

    shape: Shape
    loc: SourceLoc
    tex: str
    left: str = ""
    """The left side it defines, as compiled (else as written); "" for a bare
    expression."""
    updated: str | None = None
    """The name it updates, when its right side has its left side's name too
    (`W = W - \\alpha v`: `W`)."""


def prepare_library() -> None:
    """Load the entries now (a checker about to fork its children calls it, so that
    they share them rather than each loading them)."""
    with contextlib.suppress(Exception):  # a broken library must not stop the checker
        entries()


def linked_entries(card: Card) -> list[str]:
    """The card's `check:` targets that name the library (`std.NAME`)."""
    return [target for target in card.checks if target.startswith(STD_PREFIX)]


def statements(card: Card, *, chains: bool = False) -> list[Statement]:
    """The formulas the card states, in order (a derivation's steps are the checker's;
    a chain of more than one `=` is not a statement of one formula, unless `chains`:
    then its first right-hand side, what its left side is defined as, is one)."""
    declarations = declarations_for(card)
    found: list[Statement] = []
    for equation in card.equations:
        try:
            compiled = compile_equation(equation, declarations)
        except Exception:  # our bug: the card stays as it was
            continue
        for chain in compiled.chains:
            sides = chain.sides
            defining = len(sides) > 1 and chain.relations[0].strip() in _DEFINING \
                and _names_a_quantity(sides[0].expr)
            if len(sides) == 1 or (defining and (len(sides) == 2 or chains)):
                side = sides[-1] if len(sides) < 3 else sides[1]
                shape = shape_of(side.expr)
                if shape is not None:
                    left = "" if len(sides) < 2 else str(sides[0].expr) \
                        if sides[0].expr is not None else "".join(sides[0].tex.split())
                    updated = updated_name(sides[0].expr, side.expr) if left else None
                    found.append(Statement(shape, SourceLoc(equation.loc.path, side.line),
                                           side.tex, left, updated))
    return found


def _names_a_quantity(left: Any) -> bool:
    """Whether a left side is what a definition defines: anything but a function applied
    to an expression, or something made of a function. `\\sigma(-x) = 1 - \\sigma(x)` and
    `\\tanh(-x) = -\\tanh(x)` state a property of the function, and their right sides are
    not its standard formula gone wrong (a new-user trial saw both fail as the sigmoid's
    and tanh's mistakes); `\\sigma(x)`, `y_k`, `OH` and `\\sigma'(x)` define."""
    import sympy

    functions = [node for node in sympy.preorder_traversal(left)
                 if isinstance(node, sympy.Function)]
    # (Parameters and conditions are arguments a definition has: N(x; μ, σ²), P(Y = t).)
    if any(isinstance(argument, sympy.Add | sympy.Mul)
           for function in functions for argument in function.args):
        return False
    return not functions or isinstance(left, sympy.Function | sympy.Derivative | sympy.Subs)


def library_checks(card: Card, *, recognise: bool, confirm: bool = False
                   ) -> tuple[CheckResult, ...]:
    """The library's checks of the card: one per `std.` entry it links, and, with
    `recognise` (the checker found nothing else to check), one per formula of the card
    the library recognises; with `confirm` (its derivation holds), a fail when its
    title names a standard formula that none of its formulas is and one of them is a
    typical mistake of (a chain derived consistently from a wrong definition). Our own
    bugs leave the card as it was."""
    linked = linked_entries(card)
    if not linked and not recognise and not confirm:
        return ()
    try:
        found = statements(card, chains=confirm and not recognise and not linked)
        if linked:
            return tuple(_linked(card, target, found) for target in linked)
        if not recognise:
            return tuple(_confirmed(card, found))
        return tuple(_recognised(card, found))
    except Exception as error:
        if linked:
            return tuple(CheckResult("library", "error", card.loc,
                                     f"{target}: internal error: {type(error).__name__}: "
                                     f"{error}") for target in linked)
        return ()


def _mapping(card: Card) -> dict[str, str]:
    """`map: h = H_in, f_h = F` → {card symbol: entry symbol}, Python names."""
    fixed: dict[str, str] = {}
    for text in card.mappings:
        for part in text.split(","):
            if "=" in part:
                mine, theirs = part.split("=", 1)
                fixed[python_name(mine)] = python_name(theirs)
    return fixed


def _suggestion(target: str) -> str:
    """`; did you mean `std.softmax`?` for a misspelt `std.softmx`, else nothing."""
    name = target.removeprefix(STD_PREFIX)
    close = difflib.get_close_matches(name, [entry.id for entry in entries()], n=1,
                                      cutoff=0.75)
    return f"; did you mean `{STD_PREFIX}{close[0]}`?" if close else ""


def _linked(card: Card, target: str, found: list[Statement]) -> CheckResult:
    entry = entry_named(target)
    if entry is None and len(target.split()) > 1:
        links = ", ".join(target.split())
        return CheckResult("library", "error", card.loc,
                           f"{target}: one link per name, separated by commas "
                           f"(`check: {links}`)")
    if entry is None:
        return CheckResult("library", "error", card.loc,
                           f"{target}: no such entry in the library{_suggestion(target)} "
                           f"(`sheets library` lists them)")
    fixed = _mapping(card)
    unknown = sorted(set(fixed.values()) - set(entry.symbols))
    if unknown:
        return CheckResult("library", "error", card.loc,
                           f"map: {', '.join(unknown)}: not a symbol of {entry.std} "
                           f"(it has {', '.join(entry.symbols)})")
    malformed = [part.strip() for text in card.mappings for part in text.split(",")
                 if part.strip() and "=" not in part]
    if malformed:
        return CheckResult("library", "error", card.loc,
                           f"map: {', '.join(malformed)}: write each as `card symbol = "
                           f"entry symbol` (`map: h = H, f_h = F`)")
    mine = {name for statement in found for name in statement.shape.scalars} | {
        name for statement in found for name, _ in statement.shape.arrays}
    strangers = sorted(set(fixed) - mine) if found else []
    if strangers:
        return CheckResult("library", "error", card.loc,
                           f"map: {', '.join(strangers)}: not a symbol of the card's "
                           f"formulas (they have {', '.join(sorted(mine)) or 'none'})")
    mistaken: tuple[Statement, Found] | None = None
    # (An element-wise formula is compared as the scalar one too, after them all.)
    scalar_forms = [replace(statement, shape=scalar) for statement in found
                    if (scalar := elementwise(statement.shape)) is not None]
    for statement in [*found, *scalar_forms]:
        result = compare_with_entry(statement.shape, entry, with_mistakes=True,
                                    fixed={**_pins(statement.shape, entry),
                                           **_argument_pins(statement.left, statement.shape,
                                                            entry), **fixed})
        if result is None:
            continue
        if result.mistake is None:
            return _pass(statement, result)
        if mistaken is None:
            mistaken = (statement, result)
    if mistaken is not None:
        return _fail(*mistaken)
    # Neither the standard formula nor one of its typical mistakes: another way of
    # writing it the library does not know (`σ(x)(1 - σ(x))`, a softmax shifted by c,
    # cases for ReLU) as often as a wrong one, so not a fail (a new-user trial found
    # eleven right formulas failed so).
    comparable = [statement for statement in found if any(
        form.shape.signature == statement.shape.signature for form in entry.forms)]
    if comparable:
        statement = comparable[0]
        return CheckResult("library", "unchecked", statement.loc,
                           f"{target}: {statement.tex.strip()} is not the standard "
                           f"{entry.en} under any renaming of its symbols{_mapped(fixed)}, "
                           f"nor one of its typical mistakes: not checked (the standard "
                           f"is {entry.forms[0].tex.strip()})", standard=entry.std)
    return CheckResult("library", "unchecked", card.loc,
                       f"{target}: no formula of the card has the symbols of the standard "
                       f"{entry.en}, {entry.forms[0].tex.strip()} "
                       f"({_describe_symbols(entry)}): not checked", standard=entry.std)


def _mapped(fixed: Mapping[str, str]) -> str:
    pairs = ", ".join(f"{_label(mine)} → {theirs}" for mine, theirs in fixed.items())
    return f" with {pairs}" if fixed else ""


def _arrows(pairs: Iterable[tuple[str, str]]) -> str:
    """`with h → H, f → F`: the symbols the card names otherwise than the entry (one it
    names the same is no news: a trial found `F → F` listed)."""
    renamed = [f"{_label(mine)} → {theirs}" for mine, theirs in pairs
               if _label(mine) != theirs]
    return f"with {', '.join(renamed)}" if renamed else "in the same symbols"


def _written(name: str) -> str:
    """A card's symbol as the sheet writes it, for saying what differs: `\\hat{m}_t`,
    `\\hat{m}_{t}` for the element `m_hat[t]` (not `m_{hat t}`)."""
    element = re.fullmatch(r"(\w+)\[(.+)\]", name)
    if element:
        return f"{latex_name(element.group(1))}_{{{element.group(2)}}}"
    return latex_name(_label(name))


def _label(name: str) -> str:
    """A card's symbol as a reader finds it in the LaTeX: `∂L/∂theta_t` for a
    derivative, `m_hat_{t+1}` for `m_hat[t+1]`."""


    derivative = re.fullmatch(r"Derivative\((\w+),(.+)\)", name)
    if derivative:
        return f"∂{derivative.group(1)}/∂{_label(derivative.group(2))}"
    norm = re.fullmatch(r"norm(_\w+)?\((.+)\)", name)
    if norm:
        return f"‖{norm.group(2)}‖{norm.group(1) or ''}"
    element = re.fullmatch(r"(\w+)\[(.+)\]", name)
    if element:
        return f"{element.group(1)}_{{{element.group(2)}}}"
    return name


def _describe_symbols(entry: Entry) -> str:
    return "; ".join(f"{name}: {spec.role}" for name, spec in entry.symbols.items())


def _pass(statement: Statement, found: Found) -> CheckResult:
    entry = found.entry
    variant = "" if found.form is entry.forms[0] else f", {found.form.description}"
    return CheckResult("library", "pass", statement.loc,
                       f"matches the standard {entry.en} ({entry.title}{variant}; "
                       f"{entry.std}, {_arrows(found.renaming)})",
                       standard=entry.std, renaming=found.renaming)


def _in_card_symbols(found: Found) -> dict[Any, Any]:
    """The entry's symbols as the card names them, for saying what differs."""
    import sympy

    renaming: dict[Any, Any] = {}
    for mine, theirs in found.renaming:
        label = _written(mine)
        renaming[sympy.Symbol(theirs)] = sympy.Symbol(label)
        renaming[sympy.IndexedBase(theirs)] = sympy.IndexedBase(label)
    return renaming


def _fail(statement: Statement, found: Found) -> CheckResult:
    assert found.mistake is not None
    entry = found.entry
    what = found.mistake.what(_in_card_symbols(found))
    return CheckResult("library", "fail", statement.loc,
                       f"not the standard {entry.en} ({entry.title}): {what}. The "
                       f"standard is {' '.join(entry.forms[0].tex.split())} ({entry.std}, "
                       f"{_arrows(found.renaming)})",
                       standard=entry.std, renaming=found.renaming)


def _near_miss(statement: Statement, found: Found) -> CheckResult:
    assert found.mistake is not None
    entry = found.entry
    what = found.mistake.what(_in_card_symbols(found))
    return CheckResult("library", "unchecked", statement.loc,
                       f"{NEAR_MISS}: close to the standard {entry.en} but for {what}. "
                       f"The standard is {' '.join(entry.forms[0].tex.split())} "
                       f"({entry.std}, {_arrows(found.renaming)}); nothing in the "
                       f"title names it: link it (check: {entry.std}) to have it checked",
                       standard=entry.std, renaming=found.renaming)


def _updates_the_same(statement: Statement, entry: Entry) -> bool:
    """Whether a statement that updates a quantity updates the one the entry's formula
    does (its name or an alias); a statement that updates nothing may be any formula."""
    if statement.updated is None:
        return True
    if entry.updates is None:
        return False
    spec = entry.symbols.get(entry.updates)
    name = statement.updated
    return name == entry.updates or (spec is not None and name in spec.aliases)


def _leading(title: str, named: list[Entry]) -> list[Entry]:
    """The entries of `named` whose name the title starts with, after any section number
    (`3.2 Adam の更新式`, `第3章 ロジスティック回帰`): what the card is about. Named further
    in (`Stein Variational Gradient Descent` names SGD, `ジョイントエントロピー` the
    entropy), an entry is another formula's part of the name, as a text names it: its
    typical mistakes fail only a formula too distinctive to be another."""
    start = re.sub(r"^(?:第?\d+(?:章|節)?)+", "", normalized_text(title))
    return [entry for entry in named if start.startswith(tuple(key for key in entry.keys if key))]


def _named_entries(card: Card) -> tuple[list[Entry], list[Entry]]:
    """The entries the card's title names, and those its text names (when the title
    names none), most specific (longest name) first."""
    by_title = _naming(normalized_text(card.title), _words(card.title))
    if by_title:
        return by_title, []
    text = _card_text(card)
    return [], _naming(normalized_text(text), _words(text))


def _words(text: str) -> str:
    """Text as `normalized_text` reads it, but with its spaces and punctuation: where a
    word ends (`Adam first moment` names Adam; `adamfirstmoment` hid it)."""
    return unicodedata.normalize("NFKC", text).lower()


def _naming(text: str, words: str = "") -> list[Entry]:
    """The entries `text` (`normalized_text`) names, by their longest name found, most
    specific first; a short ASCII name is looked for as a word of `words` (the text
    before it lost its spaces), when given."""
    if not text:
        return []
    scored = []
    for entry in entries():
        length = max((len(key) for key in entry.keys if key and _names(key, text, words)),
                     default=0)
        if length:
            scored.append((length, entry))
    scored.sort(key=lambda item: -item[0])
    return [entry for _, entry in scored]


def _names(key: str, text: str, words: str = "") -> bool:
    """Whether `text` names `key`: contained, and for a short ASCII name (`gru`, `iou`,
    `adam`) a word of its own (of `words`, when given): not part of a longer word, nor
    of a compound (`Adam-like` is something like Adam, not Adam)."""
    if key not in text:
        return False
    if not key.isascii() or len(key) > 4:
        return True
    return re.search(rf"(?<![a-z-]){re.escape(key)}(?![a-z]|-[a-z])",
                     words or text) is not None


def _compare(shape: Shape, entry: Entry, *, with_mistakes: bool, same_functions: bool,
             text: str = "", left: str = "") -> Found | None:
    """`compare_with_entry`, where for an entry whose names mean their roles (`TP`, `FP`)
    a card's symbol with such a name is that role, and the standard formula with those
    names exchanged (`TP / (TP + FN)` for precision) is a mistake."""
    names = _pins(shape, entry)
    pins = {**names, **_argument_pins(left, shape, entry)}
    found = compare_with_entry(shape, entry, with_mistakes=with_mistakes,
                               same_functions=same_functions, fixed=pins or None)
    if (found is not None and found.mistake is None) or not names:
        return found
    if entry.fixed_names and (found is not None or not with_mistakes or any(
            compare_with_entry(shape, other, with_mistakes=False, fixed=_pins(shape, other))
            is not None for other in _family(entry))):
        return found  # β₂ in Adam's second moment is that moment, not the first's mistake
    loose = compare_with_entry(shape, entry, with_mistakes=False,
                               same_functions=same_functions)
    other = _another_meaning(shape, entry, pins) if entry.exact_names else None
    if loose is None or (other is not None and other in _naming(text)):
        return found  # `TN / (TN + FP)` where the text says specificity: that, not a swap
    exchanged = [(mine, theirs) for mine, theirs in loose.renaming
                 if mine in names and names[mine] != theirs]
    if not exchanged:
        return found
    what = ", ".join(f"{_written(mine)} where the standard has {latex_name(theirs)}"
                     for mine, theirs in exchanged)
    mistake = Mistake(loose.form.shape.expr, what.replace("{", "{{").replace("}", "}}"))
    return replace(loose, mistake=mistake)


def _pins(shape: Shape, entry: Entry) -> dict[str, str]:
    """For an entry whose names mean their roles, the card's symbols that have such a
    name, each held to the symbol so named (`TP` is TP; `t` the targets)."""
    symbols = (*shape.scalars, *(name for name, _ in shape.arrays))
    if entry.fixed_names:
        return _fixed_pins(symbols, entry)
    if not entry.exact_names:
        return {}
    meaningful = _meaningful_names()
    return {name: name for name in symbols
            if name in meaningful and not _also_another(name, entry)}


def _argument_pins(left: str, shape: Shape, entry: Entry) -> dict[str, str]:
    """The card's symbols its left side names as the entry's `arguments`, in order,
    each held to its argument: `D_{KL}(P \\| Q) = \\sum Q \\log(Q/P)` is the divergence
    the other way round (a precision trial found it passed as the same one renamed)."""
    applied = re.fullmatch(r"\w+\((.*)\)", left)
    if not entry.arguments or applied is None:
        return {}
    written = [match.group() for part in _top_level_parts(applied.group(1))
               if (match := re.match(r"\w+", part.strip())) is not None]
    mine = {*shape.scalars, *(name for name, _ in shape.arrays)}
    if len(written) != len(entry.arguments) or len(set(written)) != len(written) \
            or not set(written) <= mine:
        return {}
    return dict(zip(written, entry.arguments, strict=True))


def _top_level_parts(arguments: str) -> list[str]:
    """`p(x), |, q(x)` → `p(x)`, `|`, `q(x)`: split at the commas outside brackets."""
    parts, depth, start = [], 0, 0
    for position, char in enumerate(arguments):
        depth += (char in "([{") - (char in ")]}")
        if char == "," and depth == 0:
            parts.append(arguments[start:position])
            start = position + 1
    return [*parts, arguments[start:]]


def _fixed_pins(symbols: Sequence[str], entry: Entry) -> dict[str, str]:
    """For an entry whose own names fix their roles (`fixed_names`), the card's symbols
    held to one: a symbol named as one of the entry's is that symbol, and so is one
    named so at a time step (`f_t`, `\\hat{m}_t`) when no other symbol of the card has
    that name; a symbol named as one of another entry of its family (`β₂` beside Adam's
    first moment) that names nothing in this one is held to itself: it is no symbol of
    this entry under another name."""
    pins = {name: name for name in symbols
            if name in entry.symbols and not _also_another(name, entry)}
    bases = {name: _TIME_STEP.sub("", name) for name in symbols}
    for name, base in bases.items():
        if name in pins:
            continue
        if base != name and base in entry.symbols and list(bases.values()).count(base) == 1 \
                and not _also_another(base, entry):
            pins[name] = base
        elif (name in _family_symbols(entry) or base in _family_symbols(entry)) \
                and not _named_in(base, entry):
            pins[name] = name  # (`o_t` beside the LSTM cell: the output gate's)
    return pins


_TIME_STEP = re.compile(r"(?:_(?:t|\{t\}|\{t[+-]1\})|\[t(?:[+-]1)?\])$")
"""A time step written under a name, as the shape names it: `m_hat_t` (`\\hat{m}_t`),
`f[t]` (`f_t` beside `c_{t-1}`, read as elements of arrays)."""


def _named_in(name: str, entry: Entry) -> bool:
    return name in entry.symbols or any(name in spec.aliases
                                        for spec in entry.symbols.values())


def _family(entry: Entry) -> tuple[Entry, ...]:
    """The other entries named as this one is first (Adam's moments, its bias correction
    and its update are all "Adam")."""
    return _families()[entry.id][0]


def _family_symbols(entry: Entry) -> frozenset[str]:
    return _families()[entry.id][1]


@functools.cache
def _families() -> dict[str, tuple[tuple[Entry, ...], frozenset[str]]]:
    found = {}
    for entry in entries():
        family = tuple(other for other in entries() if other is not entry
                       and entry.names[0] in other.names)
        found[entry.id] = (family, frozenset(name for other in family
                                             for name in other.symbols))
    return found


def _also_another(name: str, entry: Entry) -> bool:
    """Whether the entry gives `name` to a symbol besides the one so named: `y` is the
    binary cross-entropy's prediction, and its label in the notes that write
    `-y \\log p - (1 - y) \\log(1 - p)`, so a card's `y` is not held to either role."""
    return any(name in spec.aliases for symbol, spec in entry.symbols.items()
               if symbol != name)


def _another_meaning(shape: Shape, entry: Entry, pins: Mapping[str, str]) -> Entry | None:
    """The other entry the formula is, its names taken as they mean (`TN / (TN + FP)` is
    specificity), if any: where the card's text names it, that is what it is."""
    return next((other for other in entries() if other.exact_names and other is not entry
                 and compare_with_entry(shape, other, with_mistakes=False, fixed=pins)
                 is not None), None)


@functools.cache
def _meaningful_names() -> frozenset[str]:
    """The symbol names of every entry whose names mean their roles."""
    return frozenset(name for entry in entries() if entry.exact_names
                     for name in entry.symbols)


def _card_text(card: Card) -> str:
    """The card's text in its sheet, from its heading to its last equation's line (and
    the line after it): what notes say of the formula besides the title."""
    if not card.equations:
        return ""
    lines = _sheet_lines(str(card.loc.path), _modified(card.loc.path))
    last = max(equation.loc.line + equation.tex.count("\n") for equation in card.equations)
    return "\n".join(lines[max(card.loc.line - 1, 0):last + 2])


def _modified(path: Path) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


@functools.lru_cache(maxsize=32)
def _sheet_lines(path: str, modified: float) -> list[str]:
    del modified  # part of the cache's key: a saved sheet is read again
    try:
        return Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []


def _recognised(card: Card, found: list[Statement]) -> list[CheckResult]:
    by_title, by_text = _named_entries(card)
    named = by_title or by_text
    text = normalized_text(f"{card.title}\n{_card_text(card)}")
    recognised: list[tuple[Statement, CheckResult]] = []
    for statement in found:
        result = _recognise(statement, named, _leading(card.title, by_title), text)
        if result is not None:
            recognised.append((statement, result))
    # A card that states an entry's formula right may state other quantities beside it
    # (the parameter update after momentum's velocity, `θ_t = θ_{t-1} - η v_t`): those
    # are no mistakes of that entry (a new-user trial saw them failed as "a missing
    # factor α"). The same quantity again, written otherwise (the seed's continuous KL
    # after its discrete one), still is.
    stated = {(result.standard, statement.left) for statement, result in recognised
              if result.status == "pass"}
    standards = {standard for standard, _ in stated}
    results = [result for statement, result in recognised
               if not (result.status == "fail" and result.standard in standards
                       and statement.left and (result.standard, statement.left) not in stated)]
    title = normalized_text(card.title)
    if not results and len(by_title) == 1 and title.startswith(by_title[0].keys) and any(
            statement.shape.operations >= 1 for statement in found):
        # (Only a title that starts with the entry's name: `ジョイントエントロピー`
        # and `Mixed Precision Training` name other things.)
        (entry,) = by_title
        results.append(CheckResult(
            "library", "unchecked", card.loc,
            f"the title names the standard {entry.en} ({entry.std}), and no formula here "
            f"is it or one of its typical mistakes: link it (`check: {entry.std}`) to "
            f"have the card held to it", standard=entry.std))
    return results


def _confirmed(card: Card, found: list[Statement]) -> list[CheckResult]:
    """`library_checks` with `confirm`: the standard formula the title names, when no
    formula of the card is it and one is a typical mistake of it, as that mistake's
    fail (its line, the standard formula)."""
    by_title = _leading(card.title, _named_entries(card)[0])
    if not by_title:
        return []
    text = normalized_text(f"{card.title}\n{_card_text(card)}")
    mistaken: tuple[Statement, Found] | None = None
    for statement in found:
        shape = statement.shape
        if shape.operations < 1:
            continue
        if _best(statement, by_title, with_mistakes=False, text=text) is not None:
            return []  # the standard formula is there: the rest derives from it
        if mistaken is None and shape.operations >= _MISTAKE_OPERATIONS:
            near = _best(statement, [entry for entry in by_title if entry.mistakes],
                         with_mistakes=True, text=text)
            if near is not None and near.mistake is not None \
                    and _updates_the_same(statement, near.entry):
                mistaken = (statement, near)
    return [_fail(*mistaken)] if mistaken is not None else []


def _recognise(statement: Statement, named: list[Entry], leading: list[Entry], text: str
               ) -> CheckResult | None:
    shape = statement.shape
    if shape.operations < 1:  # a bare name (`E[(X - E[X])^2]` read as one quantity)
        return None
    if named:
        # Exact matches first, over every named entry: their mistakes are made only for
        # a card none of them matches.
        found = _best(statement, named, with_mistakes=False, text=text) or _best(
            statement, [entry for entry in named if entry.mistakes],
            with_mistakes=shape.operations >= _MISTAKE_OPERATIONS, text=text)
        if found is not None and found.mistake is None:
            return _pass(statement, found)
        if found is not None and not _updates_the_same(statement, found.entry):
            # `W = W - \alpha v` under a momentum title updates the weights, not the
            # velocity: no mistake of the velocity's formula (a precision trial)
            return None
        if found is not None:
            # Where only the text names the entry, another standard formula, right as it
            # stands and with enough in it not to be one by chance, is no mistake of it
            # (a moving average in a section whose text names RMSProp is Adam's moment).
            other = _best(statement, [entry for entry in entries() if entry not in named],
                          with_mistakes=False) \
                if found.entry not in leading and _distinctive(shape, near=False) else None
            if other is not None:
                return _pass(statement, other)
            # The text (or the title, further in) names it: a fail only for a formula
            # too distinctive to be another one by chance.
            if found.entry in leading or _distinctive(shape, near=False):
                return _fail(statement, found)
            return _near_miss(statement, found)
    if not _distinctive(shape, near=False):
        return None
    # (An update, `v = \\beta v + (1 - \\beta) g^2`, is only ever a formula that updates
    # the same quantity: never label smoothing's right side with v for K.)
    others = [entry for entry in entries() if entry not in named and not entry.title_only
              and _updates_the_same(statement, entry)]
    found = _best(statement, others, with_mistakes=False, same_functions=True)
    if found is None and _distinctive(shape, near=True):
        found = _best(statement, [entry for entry in others if entry.mistakes],
                      with_mistakes=True, same_functions=True)
    if found is None:
        return None
    return _pass(statement, found) if found.mistake is None else _near_miss(statement, found)


def _distinctive(shape: Shape, *, near: bool) -> bool:
    """A formula with enough in it to be recognised by its form alone (three symbols and
    a few operations, or more operations), or, `near`, to be called close to one."""
    size = len(shape.scalars) + len(shape.arrays)
    if near:
        return (size >= 4 and shape.operations >= _RECOGNISED_OPERATIONS) \
            or (size >= 3 and shape.operations >= _RECOGNISED_OPERATIONS + 1)
    return (size >= 3 and shape.operations >= _RECOGNISED_OPERATIONS) \
        or (size >= 2 and shape.operations >= _RECOGNISED_OPERATIONS * 3 // 2)


def _best(statement: Statement, candidates: list[Entry], *, with_mistakes: bool,
          same_functions: bool = False, text: str = "") -> Found | None:
    """The entry the statement's formula is (an exact match before a mistake, then the
    entry whose names the card's symbols agree with most, then the first named)."""
    best: Found | None = None
    for entry in candidates:
        found = _compare(statement.shape, entry, with_mistakes=with_mistakes,
                         same_functions=same_functions, text=text, left=statement.left)
        if found is None:
            continue
        if best is None or (found.mistake is None, found.agreement) > (
                best.mistake is None, best.agreement):
            best = found
    return best
