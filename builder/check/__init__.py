"""check: every card's claims verified: derivation steps and linked snippets.

The stage's public names; the modules inside are its own business:
`domain` (what `assume:` says), `compare` (one claim, by numbers then proof), `plan`
(a card's claims from its compiled equations), `parallel` (derivations in forked
children), `cache` (results kept between runs), `run` (cards checked), `report` (what
`sheets check` prints), `coverage` (`--coverage`), `declared` (`assume:` and `let:` that
the checker cannot use).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from builder.check.cache import (
        CheckCache,
        code_key,
        current_code_key,
        is_storable,
        library_versions,
    )
    from builder.check.compare import StepVerdict, compare_sides, is_claim
    from builder.check.coverage import COVERAGE_EXAMPLES, Coverage, coverage, coverage_report
    from builder.check.declared import declaration_warnings
    from builder.check.domain import Domain, assume_problems, parse_domain
    from builder.check.parallel import PARALLEL_CARDS
    from builder.check.plan import Derivation, Skipped, Step, derivation_plan, relation_chains
    from builder.check.report import (
        badge_label,
        badge_message,
        failing_checks,
        github_annotation,
        github_annotations,
        how_much_checked,
        in_part_lines,
        library_lines,
        report_lines,
        results_json,
        summary,
        summary_line,
        unchecked_lines,
        unchecked_steps,
    )
    from builder.check.run import (
        SnippetRunner,
        check_card,
        check_cards,
        find_snippets_dir,
        keep_snippet_workers,
    )
    from builder.model import CardResult, CheckResult

_HOMES: dict[str, str] = {name: f"builder.{module}" for module, names in {
    "check.cache": ["CheckCache", "code_key", "current_code_key", "is_storable",
                    "library_versions"],
    "check.compare": ["StepVerdict", "compare_sides", "is_claim"],
    "check.coverage": ["COVERAGE_EXAMPLES", "Coverage", "coverage", "coverage_report"],
    "check.declared": ["declaration_warnings"],
    "check.domain": ["Domain", "assume_problems", "parse_domain"],
    "check.parallel": ["PARALLEL_CARDS"],
    "check.plan": ["Derivation", "Skipped", "Step", "derivation_plan", "relation_chains"],
    "check.report": ["badge_label", "badge_message", "failing_checks", "github_annotation",
                     "github_annotations", "how_much_checked", "in_part_lines",
                     "library_lines", "report_lines", "results_json", "summary",
                     "summary_line", "unchecked_lines", "unchecked_steps"],
    "check.run": ["SnippetRunner", "check_card", "check_cards", "find_snippets_dir",
                  "keep_snippet_workers"],
    "model": ["CardResult", "CheckResult"],
}.items() for name in names}
"""Where each public name lives. A name is imported from its module on first use (PEP
562), not all of them with the package: a `sheets check` whose cards are all kept
loads the cache and the report, not the comparison, planning and formula stages
(a tenth of a second on the command's start-up)."""


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(home)
    # Every name of that module at once: importing `check.coverage` has just bound the
    # package's `coverage` to the module, which the function of that name must replace.
    for each, where in _HOMES.items():
        if where == home:
            globals()[each] = getattr(module, each)
    return globals()[name]


__all__ = [
    "COVERAGE_EXAMPLES",
    "PARALLEL_CARDS",
    "CardResult",
    "CheckCache",
    "CheckResult",
    "Coverage",
    "Derivation",
    "Domain",
    "Skipped",
    "SnippetRunner",
    "Step",
    "StepVerdict",
    "assume_problems",
    "badge_label",
    "badge_message",
    "check_card",
    "check_cards",
    "code_key",
    "compare_sides",
    "coverage",
    "coverage_report",
    "current_code_key",
    "declaration_warnings",
    "derivation_plan",
    "failing_checks",
    "find_snippets_dir",
    "github_annotation",
    "github_annotations",
    "how_much_checked",
    "in_part_lines",
    "is_claim",
    "is_storable",
    "keep_snippet_workers",
    "library_lines",
    "library_versions",
    "parse_domain",
    "relation_chains",
    "report_lines",
    "results_json",
    "summary",
    "summary_line",
    "unchecked_lines",
    "unchecked_steps",
]
