"""library: the standard formulas the checker knows by heart (E資格's softmax, conv output
size, Adam, KL…), so that a card that only states a definition still gets a verdict.

The stage's public names; the modules inside are its own business, bottom to top:
`domains` (the values an entry's symbol takes), `shapes` (a compiled side as the library
compares it), `mistakes` (an entry's typical mistakes), `catalog` (the entries, package
data in `entries/*.md`, each checked against `entries/snippets/reference.py`),
`matching` (a formula as an entry's under a renaming of its symbols), `recognize` (a
card's library checks: linked with `check: std.NAME`, or recognised by title and form).
"""

from builder.library.catalog import ENTRIES_DIR, STD_PREFIX, Entry, Form, SymbolSpec, entries
from builder.library.recognize import NEAR_MISS, library_checks, linked_entries, prepare_library
from builder.library.table import library_json, library_table

__all__ = [
    "ENTRIES_DIR",
    "NEAR_MISS",
    "STD_PREFIX",
    "Entry",
    "Form",
    "SymbolSpec",
    "entries",
    "library_checks",
    "library_json",
    "library_table",
    "linked_entries",
    "prepare_library",
]
