"""check: every card's claims verified: derivation steps and linked snippets.

The stage's public names; the modules inside are its own business:
`domain` (what `assume:` says), `compare` (one claim, by numbers then proof), `plan`
(a card's claims from its compiled equations), `parallel` (derivations in forked
children), `cache` (results kept between runs), `run` (cards checked), `report` (what
`sheets check` prints), `coverage` (`--coverage`), `declared` (`assume:` and `let:` that
the checker cannot use).
"""

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
from builder.check.run import SnippetRunner, check_card, check_cards, find_snippets_dir
from builder.model import CardResult, CheckResult

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
