"""What `sheets check` prints: a line per failing check at the sheet's line, a line per
card that passed in part (with `-v`, each step it did not check under it), GitHub Actions
annotations, the summary, and the `--json` document."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from builder.model import NEAR_MISS, CardResult, CheckResult, SourceLoc, Status

__all__ = ["STATUSES", "badge_label", "badge_message", "failing_checks", "github_annotation",
           "github_annotations", "how_much_checked", "in_part_lines", "library_lines",
           "report_lines", "results_json", "summary", "summary_line", "unchecked_lines",
           "unchecked_steps"]

STATUSES: tuple[Status, ...] = ("pass", "fail", "error", "unchecked")


def failing_checks(result: CardResult) -> list[tuple[SourceLoc, str]]:
    """(where, `title: message`) for each failing or erroring check of the card, in order
    (a wrong step and a missing snippet module are both shown); the card's own location
    and message when it failed without such a check."""
    title = f"{result.card.title}: " if result.card.title else ""
    found = [(check.loc, f"{title}{check.message}") for check in result.checks
             if check.status in ("fail", "error")]
    if not found and result.status in ("fail", "error"):
        found = [(result.loc, f"{title}{result.message}")]
    return found


def report_lines(result: CardResult) -> list[str]:
    """`path:line: title: message`, one per failing check (`failing_checks`)."""
    return [f"{loc}: {text}" for loc, text in failing_checks(result)]


def library_lines(result: CardResult, *, verbose: bool = False) -> list[str]:
    """What the library (builder/library/) made of the card: each near miss, a formula
    close to a standard one that nothing in the card names, as `path:line: warning:
    title: near miss: …`; with `verbose`, each standard formula it matched, with the
    entry and the renaming, as `path:line: title: matches the standard …`."""
    title = f"{result.card.title}: " if result.card.title else ""
    lines = []
    for check in result.checks:
        if check.kind != "library":
            continue
        if check.status == "unchecked" and check.message.startswith(NEAR_MISS):
            lines.append(f"{check.loc}: warning: {title}{check.message}")
        elif verbose and check.status == "pass":
            lines.append(f"{check.loc}: {title}{check.message}")
    return lines


def how_much_checked(result: CardResult) -> str:
    """How much of the card its verdict covers, `2 of 5 steps; 3 not checked`, or `` when
    it covers every step."""
    if result.checked == result.steps:
        return ""
    missing = result.steps - result.checked
    steps = "step" if result.steps == 1 else "steps"
    return f"{result.checked} of {result.steps} {steps}; {missing} not checked"


def unchecked_steps(result: CardResult) -> list[tuple[SourceLoc, str]]:
    """(where, why) for each check of the card that was not checked, in order."""
    return [(check.loc, check.message) for check in result.checks
            if check.status == "unchecked"]


def in_part_lines(result: CardResult, *, verbose: bool = False) -> list[str]:
    """For a pass in part (`CardResult.in_part`): `path:line: title: pass (2 of 5 steps;
    3 not checked)`, and with `verbose` each unchecked step under it, indented, as
    `path:line: step 1: why`. Nothing for another card."""
    if not result.in_part:
        return []
    title = f"{result.card.title}: " if result.card.title else ""
    lines = [f"{result.card.loc}: {title}pass ({how_much_checked(result)})"]
    if verbose:
        lines.extend(f"  {loc}: {why}" for loc, why in unchecked_steps(result))
    return lines


_LATEX_ERRORS = ("unbalanced braces", "unclosed ", "expected ", "likely mistake")
"""Reasons said even under `-q`: the LaTeX itself is broken (`\\frac{1}{2 x^2 = x`), not
just beyond what the checker reads, or the checker believes the equation wrong
(`\\sum_i \\exp(a_k)`) without a step to prove it on."""


def _latex_error(message: str) -> str | None:
    """The reason of an unchecked step's message (`step 1: unbalanced braces`) when it
    is a LaTeX syntax error."""
    reason = message.split(": ", 1)[1] if message.startswith(("step ", "equation: ")) \
        and ": " in message else message
    return reason if reason.startswith(_LATEX_ERRORS) else None


def unchecked_lines(result: CardResult, *, quiet: bool = False,
                    verbose: bool = False) -> list[str]:
    """`path:line: unchecked: title: reason` for a card that has a display equation it
    could not check (an unknown macro, sides that cannot be evaluated), at the first
    such step's line: one line per card, none with `quiet`. A LaTeX syntax error is
    said always (`… unchecked: title: LaTeX error: unbalanced braces`), one line each,
    whatever the card's status. A card that checks nothing by design (`nocheck:`,
    definitions only) is said only when `verbose`, at its heading: the summary counts
    it among the unchecked, and `-v` is where a reader looks for which it is."""
    title = f"{result.card.title}: " if result.card.title else ""
    lines: list[str] = []
    failing = {check.loc for check in result.checks if check.status in ("fail", "error")}
    for check in result.checks:
        if check.kind == "derivation" and check.status == "unchecked" \
                and check.loc not in failing:  # a failing step there says it already
            error = _latex_error(check.message)
            if error is not None:
                what = "" if error.startswith("likely mistake") else "LaTeX error: "
                lines.append(f"{check.loc}: unchecked: {title}{what}{error}")
    if lines or quiet or result.status != "unchecked":
        return lines
    # (A library near miss is said as a warning by `library_lines`: not twice.)
    first = next((check for check in result.checks
                  if check.status == "unchecked" and check.kind != "library"), None)
    if first is None:
        by_design = verbose and not result.checks and result.message
        return [f"{result.card.loc}: unchecked: {title}{result.message}"] if by_design else []
    return [f"{first.loc}: unchecked: {title}{first.message}"]


def badge_label(result: CardResult) -> str:
    """What the card's badge reads (build --strict, preview): its status, or `pass 2/5`
    for a pass in part."""
    return f"pass {result.checked}/{result.steps}" if result.in_part else result.status


def badge_message(result: CardResult) -> str:
    """What the card's badge says on hover: the card's message, or for a pass in part how
    much was checked and each step not checked, `line 63: step 1: why`."""
    if not result.in_part:
        return result.message or ""
    return "\n".join([how_much_checked(result), *(f"line {loc.line}: {why}"
                                                  for loc, why in unchecked_steps(result))])


def _escape(text: str, *, property_value: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_value:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def github_annotation(result: CardResult) -> str:
    """A GitHub Actions workflow command that marks the line in the pull request."""
    return _github(result.loc, result.card.title, result.message)


def github_annotations(result: CardResult) -> list[str]:
    """One `github_annotation` per failing check (`failing_checks`)."""
    title = f"{result.card.title}: " if result.card.title else ""
    return [_github(loc, result.card.title, text.removeprefix(title))
            for loc, text in failing_checks(result)]


def _github(loc: SourceLoc, title: str, message: str) -> str:
    return (f"::error file={_escape(str(loc.path), property_value=True)},line={loc.line},"
            f"title={_escape(title or 'formula', property_value=True)}::{_escape(message)}")


def summary(results: Sequence[CardResult]) -> dict[str, int]:
    """How many cards have each status."""
    counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
    for result in results:
        counts[result.status] += 1
    return counts


def summary_line(results: Sequence[CardResult]) -> str:
    """`75 passed (4 in part), 0 failed, 0 errors, 3 unchecked`: `in part`, the passes
    that left some of their steps unchecked."""
    counts = summary(results)
    in_part = sum(result.in_part for result in results)
    return (f"{counts['pass']} passed ({in_part} in part), {counts['fail']} failed, "
            f"{counts['error']} error{'' if counts['error'] == 1 else 's'}, "
            f"{counts['unchecked']} unchecked")


def _check_json(check: CheckResult) -> dict[str, Any]:
    """One check in `--json`; a library check adds the entry it compared with and how
    the card's symbols are the entry's (`"renaming": {"h": "H"}`)."""
    data: dict[str, Any] = {"kind": check.kind, "status": check.status,
                            "line": check.loc.line, "message": check.message}
    if check.standard:
        data["standard"] = check.standard
        data["renaming"] = dict(check.renaming)
    return data


def results_json(results: Sequence[CardResult]) -> dict[str, Any]:
    """The `--json` document (docs/format.md): each card with its status, how many of
    its steps were checked, and every step (those not checked too)."""
    return {
        "cards": [{
            "file": str(result.card.loc.path),
            "line": result.card.loc.line,
            "title": result.card.title,
            "status": result.status,
            "message": result.message,
            "checked": result.checked,
            "steps": result.steps,
            "checks": [_check_json(check) for check in result.checks],
        } for result in results],
        "summary": summary(results),
        "in_part": sum(result.in_part for result in results),
    }

