"""The library of standard formulas (builder/library/): its own cards checked against
their independent implementations (and failing when one of its formulas is changed),
linking a card with `check: std.NAME` and `map:`, recognising definition cards by title
and form (tests/fixtures/library/definitions.md: right cards pass, every typical mistake
fails), the seeds' wrong standard formulas failing at their lines with no false alarm,
and `sheets library`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from seeds import SEED_FILES

from builder.cards import find_cards
from builder.check import check_cards, library_lines, unchecked_lines
from builder.library import ENTRIES_DIR, NEAR_MISS, entries, library_checks, library_table
from builder.marp import parse_file, parse_text
from builder.model import Card, CardResult

ROOT = Path(__file__).resolve().parent.parent
DEFINITIONS = ROOT / "tests" / "fixtures" / "library" / "definitions.md"
SNIPPETS = ENTRIES_DIR / "snippets"


def _check_file(path: Path, snippets: Path | None = None) -> list[CardResult]:
    cards = find_cards(parse_file(path))
    return list(check_cards(cards, snippets_dir=snippets, timeout=20.0, processes=1))


def _cards(tmp_path: Path, text: str) -> list[Card]:
    path = tmp_path / "sheet.md"
    path.write_text(text, encoding="utf-8")
    return list(find_cards(parse_text(text, path)))


# ---------------------------------------------------------------- the library's own cards

def test_every_entry_passes_its_independent_implementation() -> None:
    files = sorted(ENTRIES_DIR.glob("*.md"))
    assert files
    count = 0
    for path in files:
        for result in _check_file(path, SNIPPETS):
            count += 1
            snippet = [check for check in result.checks if check.kind == "snippet"]
            assert snippet and all(check.status == "pass" for check in snippet), \
                (result.card.title, [check.message for check in result.checks])
            assert result.status == "pass", (result.card.title, result.message)
    assert count == len(entries())


def _mutated(tex: str) -> str:
    """The formula with one sign flipped (the first `+` or `-` after its `=`), or, with
    no sign to flip, doubled."""
    head, _, body = tex.partition("=")
    for old, new in ((" + ", " - "), (" - ", " + "), ("-", "+"), ("+", "-")):
        if old in body:
            return f"{head}={body.replace(old, new, 1)}"
    return f"{head}= 2 \\left( {body} \\right)"


def test_changing_any_entry_formula_fails_its_check(tmp_path: Path) -> None:
    """Every form of every entry, changed by one sign, fails its card's check: the
    implementations are not copies of the LaTeX, and a typo in the library cannot pass.
    Round r changes the r-th form of every card of a file at once (each card's check
    stands alone)."""
    folder = tmp_path / "entries"
    shutil.copytree(SNIPPETS, folder / "snippets")
    mutated = 0
    for path in sorted(ENTRIES_DIR.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        cards = text.split("\n## ")
        assert len(cards) > 1, path
        for round_ in range(max(card.count("\n$$ ") for card in cards)):
            changed_cards = [cards[0]]
            changed_titles = set()
            for card in cards[1:]:
                formulas = re.findall(r"^\$\$ (.+) \$\$$", card, flags=re.MULTILINE)
                if round_ < len(formulas):
                    formula = formulas[round_]
                    card = card.replace(f"$$ {formula} $$", f"$$ {_mutated(formula)} $$", 1)
                    changed_titles.add(card.split("\n", 1)[0].strip())
                changed_cards.append(card)
            sheet = folder / f"{path.stem}-{round_}.md"
            sheet.write_text("\n## ".join(changed_cards), encoding="utf-8")
            for result in _check_file(sheet, folder / "snippets"):
                if result.card.title in changed_titles:
                    assert result.status == "fail", (path.name, result.card.title, round_)
                    mutated += 1
                else:
                    assert result.status == "pass", (path.name, result.card.title)
    assert mutated >= len(entries())


# ---------------------------------------------------------------- linking

_LINKED = """---
marp: true
---

## 出力サイズ
<!-- check: std.conv_output_size -->
<!-- map: h = H, f = F -->
$$ o = \\frac{h + 2p - f}{s} + 1 $$

## Wrong output size
<!-- check: std.conv_output_size -->
$$ o = \\frac{h - 2p - f}{s} + 1 $$

## Not the formula at all
<!-- check: std.conv_output_size -->
$$ o = h p f s $$

## Unknown entry
<!-- check: std.no_such_formula -->
$$ y = a + b $$

## A map to a symbol the entry lacks
<!-- check: std.conv_output_size -->
<!-- map: h = Q -->
$$ o = \\frac{h + 2p - f}{s} + 1 $$

## A map from a symbol the card lacks
<!-- check: std.conv_output_size -->
<!-- map: h = H, pp = P -->
$$ o = \\frac{h + 2p - f}{s} + 1 $$

## A map written otherwise
<!-- check: std.conv_output_size -->
<!-- map: h -> H -->
$$ o = \\frac{h + 2p - f}{s} + 1 $$
"""


def test_a_linked_card_is_compared_with_its_entry(tmp_path: Path) -> None:
    cards = _cards(tmp_path, _LINKED)
    right, wrong, other, unknown, bad_map, stranger, malformed = (
        library_checks(card, recognise=False) for card in cards)
    assert [check.status for check in right] == ["pass"]
    assert right[0].standard == "std.conv_output_size"
    assert dict(right[0].renaming) == {"h": "H", "p": "P", "f": "F", "s": "S"}
    assert "without the floor" in right[0].message
    assert [check.status for check in wrong] == ["fail"]
    assert wrong[0].loc.line == cards[1].equations[0].loc.line
    assert "- 2 p where the standard has 2 p" in wrong[0].message
    # Neither the formula nor a typical mistake of it: another way of writing it as
    # often as a wrong one, so left unchecked, saying why (a trial found right formulas
    # failed so).
    assert [check.status for check in other] == ["unchecked"]
    assert "not the standard convolution output size under any renaming" in other[0].message
    assert other[0].message.endswith("not checked (the standard is \\left\\lfloor "
                                     "\\frac{H + 2P - F}{S} \\right\\rfloor + 1)")
    assert [check.status for check in unknown] == ["error"]
    assert "no such entry" in unknown[0].message and "did you mean" not in unknown[0].message
    assert [check.status for check in bad_map] == ["error"]
    assert "Q: not a symbol of std.conv_output_size" in bad_map[0].message
    # A typo on the card's side, or a map written with an arrow, is said, not ignored.
    assert [check.status for check in stranger] == ["error"]
    assert "map: pp: not a symbol of the card's formulas" in stranger[0].message
    assert [check.status for check in malformed] == ["error"]
    assert "map: h -> H: write each as `card symbol = entry symbol`" in malformed[0].message


def test_a_misspelt_link_is_told_the_entry_it_was_likely_meant_for(tmp_path: Path) -> None:
    (card,) = _cards(tmp_path, "## Softmax\n<!-- check: std.softmx -->\n"
                               "$$ y_k = \\frac{e^{a_k}}{\\sum_j e^{a_j}} $$\n")
    (check,) = library_checks(card, recognise=False)
    assert check.status == "error"
    assert "std.softmx: no such entry in the library; did you mean `std.softmax`?" \
        in check.message


def test_an_element_wise_formula_is_its_linked_entry_applied_to_each_element(
        tmp_path: Path) -> None:
    cards = _cards(tmp_path, "## A\n<!-- check: std.sigmoid -->\n"
                             "$$ y_i = \\frac{1}{1 + e^{-a_i}} $$\n"
                             "## B\n<!-- check: std.batch_normalization -->\n"
                             "$$ \\hat{x}_i = \\frac{x_i - \\mu}"
                             "{\\sqrt{\\sigma^2 + \\epsilon}} $$\n"
                             "## C\n<!-- check: std.sigmoid -->\n"
                             "$$ y_i = \\frac{1}{1 + e^{a_i}} $$\n")
    sigmoid, normalisation, wrong = (library_checks(card, recognise=False) for card in cards)
    assert [check.status for check in sigmoid] == ["pass"], sigmoid
    assert [check.status for check in normalisation] == ["pass"], normalisation
    assert [check.status for check in wrong] == ["fail"], wrong
    assert "the sign in the exponent" in wrong[0].message


def test_a_match_names_only_the_symbols_the_card_renames(tmp_path: Path) -> None:
    same, renamed = _cards(tmp_path, "## Conv\n<!-- check: std.conv_output_size -->\n"
                                     "$$ O = \\frac{H + 2P - F}{S} + 1 $$\n"
                                     "## Conv again\n<!-- check: std.conv_output_size -->\n"
                                     "$$ O = \\frac{H + 2P - K}{S} + 1 $$\n")
    (check,) = library_checks(same, recognise=False)
    assert check.status == "pass" and "in the same symbols" in check.message, check.message
    assert "→" not in check.message
    (check,) = library_checks(renamed, recognise=False)
    assert check.status == "pass" and "with K → F)" in check.message, check.message


def test_an_explicit_map_decides_between_renamings(tmp_path: Path) -> None:
    """`f - h` is the standard formula only with f as the input: a map that says
    otherwise makes it the mistake it then is."""
    text = _LINKED.split("## Wrong")[0].replace(
        "\\frac{h + 2p - f}{s}", "\\frac{f + 2p - h}{s}")
    (card,) = _cards(tmp_path, text)
    (check,) = library_checks(card, recognise=False)
    assert check.status == "fail"


def test_a_linked_card_runs_no_snippet(tmp_path: Path) -> None:
    path = tmp_path / "sheet.md"
    path.write_text(_LINKED.split("## Wrong")[0], encoding="utf-8")
    (result,) = _check_file(path, None)  # no snippets/ at all: std.* needs none
    assert result.status == "pass", result.message
    assert [check.kind for check in result.checks] == ["library"]


# ---------------------------------------------------------------- recognition

def _expected(path: Path) -> dict[int, str]:
    """{card line: expected status} from the fixture's `expected:` comments."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: dict[int, str] = {}
    heading = 0
    for number, line in enumerate(lines, start=1):
        if line.startswith("## "):
            heading = number
        match = re.match(r"<!-- expected: (pass|fail) -->", line)
        if match:
            found[heading] = match.group(1)
    return found


def test_definition_cards_in_many_notations_are_recognised() -> None:
    expected = _expected(DEFINITIONS)
    assert len(expected) >= 40
    assert sum(status == "fail" for status in expected.values()) >= len(expected) // 2
    results = _check_file(DEFINITIONS)
    got = {result.card.loc.line: result for result in results}
    assert set(got) == set(expected)
    wrong = {line: (got[line].card.title, got[line].status, got[line].message)
             for line, status in expected.items() if got[line].status != status}
    assert not wrong
    for result in results:
        if result.status == "fail":  # at the equation's line, with the standard formula
            (check,) = [check for check in result.checks if check.status == "fail"]
            assert check.loc.line == result.card.equations[0].loc.line
            assert "The standard is" in check.message and check.standard


def test_corpus_excerpts_that_once_failed_do_not() -> None:
    """Notes by others (tests/fixtures/library/corpus_excerpts.md, each card citing its
    source): conventions (θ − v momentum, gates without a bias, σ(−b)), other formulas
    the text names (specificity) and formulas that only look like a standard one."""
    results = _check_file(ROOT / "tests" / "fixtures" / "library" / "corpus_excerpts.md")
    assert len(results) == 10
    failing = [(result.card.title, check.message) for result in results
               for check in result.checks if check.status in ("fail", "error")]
    assert not failing
    passed = {result.card.title for result in results if result.status == "pass"}
    assert {"Precision and recall", "3.3.3 LSTM (Long Short-Term Memory)",
            "モメンタム(Momentum)"} <= passed


def test_a_near_miss_without_a_name_is_a_warning_not_a_fail(tmp_path: Path) -> None:
    text = ("---\nmarp: true\n---\n\n## これも良く出そう\n\n"
            "$$ \\theta_{t} = \\theta_{t-1} - \\alpha \\frac{\\hat{m}_t}{\\hat{v}_t + "
            "\\epsilon} $$\n\n## 式\n\n"
            "$$ \\theta_{t} = \\theta_{t-1} - \\alpha \\frac{\\hat{m}_t}{\\sqrt{\\hat{v}_t} + "
            "\\epsilon} $$\n")
    near, same = _cards(tmp_path, text)
    (check,) = library_checks(near, recognise=True)
    assert check.status == "unchecked" and check.message.startswith(NEAR_MISS)
    assert "std.adam_update" in check.message
    (check,) = library_checks(same, recognise=True)
    assert check.status == "pass" and "Adam" in check.message


def test_a_near_miss_is_reported_once(tmp_path: Path) -> None:
    """A card the library found a near miss in, and nothing else left unchecked: the
    report says it once, as a warning (a new-user trial saw it again as `unchecked:`)."""
    text = ("---\nmarp: true\n---\n\n## Adam-like\n\n"
            "$$ w = v - \\alpha \\frac{m}{u + \\epsilon} $$\n")
    (result,) = check_cards(_cards(tmp_path, text), snippets_dir=None, timeout=5.0,
                            processes=1)
    said = [*library_lines(result), *unchecked_lines(result)]
    assert len(said) == 1 and ": warning: " in said[0] and NEAR_MISS in said[0], said


def test_a_chain_derived_from_a_wrong_definition_fails_where_the_title_names_it(
        tmp_path: Path) -> None:
    """A chain whose steps all hold still starts from its definition: where the title
    names a standard formula, none of the card's formulas is it, and the first one is a
    typical mistake of it, the card fails there (found by a new-user trial: a KL
    divergence with the ratio upside down passed as 'step 2: proved'). A right
    definition derived the same way adds nothing."""
    text = ("---\nmarp: true\n---\n\n## Sigmoid\n\n"
            "$$ \\sigma(x) = \\frac{1}{1 + e^{x}} = \\frac{e^{-x}}{1 + e^{-x}} $$\n\n"
            "## Sigmoid, right\n\n"
            "$$ \\sigma(x) = \\frac{1}{1 + e^{-x}} = \\frac{e^{x}}{1 + e^{x}} $$\n\n"
            "## KL divergence\n\n"
            "$$ D_{KL}(p \\| q) = \\sum_i p_i \\log \\frac{q_i}{p_i} = "
            "\\sum_i p_i \\log q_i - \\sum_i p_i \\log p_i $$\n")
    wrong, right, kl = check_cards(_cards(tmp_path, text), snippets_dir=None, timeout=5.0,
                                   processes=1)
    assert wrong.status == "fail" and "std.sigmoid" in wrong.message, wrong.checks
    assert right.status == "pass"
    assert not [check for check in right.checks if check.kind == "library"]
    assert kl.status == "fail" and "upside down" in kl.message, kl.checks
    assert kl.checks[-1].loc.line == kl.card.equations[0].loc.line


# ---------------------------------------------------------------- the seeds

WRONG_IN_SEEDS = {
    # KL divergence, continuous case: log(q/p) where the standard has log(p/q).
    ("001_cc6ebc1a6c562421.txt", 163),
    # Output height: `+ f_h` where the standard subtracts the filter size.
    ("001_cc6ebc1a6c562421.txt", 550),
}


@pytest.mark.skipif(not SEED_FILES, reason="the seed notes are not here")
def test_the_seeds_wrong_standard_formulas_fail_and_nothing_else_does() -> None:
    library_fails = set()
    for path in SEED_FILES:
        for result in _check_file(path):
            for check in result.checks:
                if check.kind == "library" and check.status != "pass":
                    assert check.status != "error", check.message
                if check.kind == "library" and check.status == "fail":
                    library_fails.add((path.name, check.loc.line))
    assert library_fails == WRONG_IN_SEEDS


# ---------------------------------------------------------------- sheets library

def test_sheets_library_lists_every_entry() -> None:
    run = [sys.executable, "-m", "builder", "library"]
    table = subprocess.run(run, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    document = json.loads(subprocess.run([*run, "--json"], capture_output=True, text=True,
                                         check=True, cwd=ROOT).stdout)
    assert len(document) == len(entries())
    for entry in document:
        assert f"`{entry['link']}`" in table
        assert entry["forms"] and entry["symbols"]
    kl = next(entry for entry in document if entry["link"] == "std.kl_divergence")
    assert "KLダイバージェンス" in kl["names"]


def test_the_readme_lists_every_entry() -> None:
    """README's list is `sheets library`'s table, as it is now (regenerate it with
    `sheets library` when an entry changes)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert library_table() in readme


def test_the_preview_lists_a_missing_image_on_the_part_that_shows_it(tmp_path: Path) -> None:
    """In a document the page's slides are the note's parts: a missing image's warning
    names the part that holds it (and comes back when that part is drawn from the
    cache), beside the parser's and the annotations' warnings."""
    from builder.live import SheetPreview

    path = tmp_path / "note.md"
    path.write_text("# Note\n\n## 出力サイズ\n<!-- chek: std.softmax -->\n\n"
                    "$$ O = \\frac{H + 2P - F}{S} + 1 $$\n\n## 図\n\n![](missing.png)\n",
                    encoding="utf-8")
    preview = SheetPreview(path, layout="document")
    try:
        first = preview(path)
        again = preview(path)  # every part from the cache
    finally:
        preview.close()
    assert first.error is None and len(first.slides) > 1
    for update in (first, again):
        messages = {notice.message: notice for notice in update.warnings}
        image = messages["image not found: missing.png"]
        assert image.line == 10
        assert "missing.png" in update.slides[image.slide]
        assert any("chek" in message for message in messages)


def test_the_entries_cache_is_read_only_when_sealed_by_this_user(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The compiled entries are kept as a pickle in the user's cache, sealed with the
    user's key: a pickle put there by anyone else is never loaded (it could run code)."""
    import builder.library.catalog as catalog

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("SHEETS_CACHE_DIR", raising=False)
    catalog.entries.cache_clear()
    try:
        first = catalog.entries()
        (kept,) = (tmp_path / "sheets" / "library").glob("entries-*.pickle")
        catalog.entries.cache_clear()
        assert [entry.id for entry in catalog.entries()] == [entry.id for entry in first]
        import pickle

        kept.write_bytes(pickle.dumps(("not", "entries")))  # unsealed: ignored, rebuilt
        catalog.entries.cache_clear()
        assert [entry.id for entry in catalog.entries()] == [entry.id for entry in first]
        assert kept.read_bytes() != pickle.dumps(("not", "entries"))
    finally:
        catalog.entries.cache_clear()
