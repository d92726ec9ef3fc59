"""check: every card's claims verified: derivation steps and linked snippets.

The stage's public names; the modules inside are its own business.
"""

from builder.check.core import (
    COVERAGE_EXAMPLES,
    PARALLEL_CARDS,
    CardResult,
    CheckCache,
    CheckResult,
    Coverage,
    Domain,
    StepVerdict,
    assume_problems,
    check_card,
    check_cards,
    compare_sides,
    coverage,
    coverage_report,
    failing_checks,
    find_snippets_dir,
    github_annotation,
    github_annotations,
    is_claim,
    parse_domain,
    report_lines,
    results_json,
    summary,
    summary_line,
)

__all__ = ["COVERAGE_EXAMPLES", "PARALLEL_CARDS", "CardResult", "CheckCache", "CheckResult",
           "Coverage", "Domain", "StepVerdict", "assume_problems", "check_card", "check_cards",
           "compare_sides", "coverage", "coverage_report", "failing_checks",
           "find_snippets_dir", "github_annotation", "github_annotations", "is_claim",
           "parse_domain", "report_lines", "results_json", "summary", "summary_line"]
