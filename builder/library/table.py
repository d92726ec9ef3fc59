"""`sheets library`: the entries as a Markdown table (the README's list is made with it)
or as JSON."""

from __future__ import annotations

from typing import Any

from builder.library.catalog import entries

__all__ = ["library_json", "library_table"]


def library_table() -> str:
    """One row per entry: its link name, names, standard formula and variants."""
    rows = ["| link | entry | standard formula | variants |", "|---|---|---|---|"]
    for entry in entries():
        variants = "; ".join(form.description for form in entry.forms[1:]) or "—"
        formula = " ".join(entry.forms[0].tex.split()).replace("|", "\\|")
        rows.append(f"| `{entry.std}` | {entry.title} / {entry.en} | ${formula}$ | "
                    f"{variants} |")
    return "\n".join(rows)


def library_json() -> list[dict[str, Any]]:
    """Each entry with its names, symbols (role, domain, usual names) and forms."""
    return [{
        "link": entry.std,
        "title": entry.title,
        "en": entry.en,
        "names": list(entry.names),
        "symbols": {name: {"role": spec.role, "domain": spec.domain.kind,
                           "aliases": list(spec.aliases)}
                    for name, spec in entry.symbols.items()},
        "forms": [{"tex": " ".join(form.tex.split()), "variant": form.description,
                   "implementation": form.implementation} for form in entry.forms],
        "file": entry.loc.path.name,
        "line": entry.loc.line,
    } for entry in entries()]
