"""What rendering the slides of one deck keeps as it goes: the formulas typeset, the
badges to draw, the heading ids given, the images read."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from builder.marp import Deck
from builder.model import Diagnostic, SourceLoc
from builder.render.equations import Math

if TYPE_CHECKING:
    from builder.model import CardResult


@dataclass(frozen=True, slots=True)
class Badge:
    """A card's check verdict, drawn on its slide: after its heading, or in a stack at
    the slide's corner for an untitled card."""

    status: str
    message: str
    line: int
    title: str
    label: str = ""
    """What it reads, when not its status (`pass 2/5`: a pass in part)."""


def badges(results: Mapping[int, CardResult] | Iterable[CardResult] | None,
            ) -> dict[int, list[Badge]]:
    """The badges to draw, by slide index."""
    if results is None:
        return {}
    from builder.check import badge_label, badge_message  # (only when there are results)

    values = results.values() if isinstance(results, Mapping) else results
    by_slide: dict[int, list[Badge]] = {}
    for result in values:
        card = result.card
        by_slide.setdefault(card.slide, []).append(
            Badge(result.status, badge_message(result), card.loc.line, card.title,
                  badge_label(result)))
    return by_slide


def badge_html(badge: Badge) -> str:
    """A badge's element, its message in the tooltip."""
    tooltip = f"line {badge.line}: {badge.status}" + (f"\n{badge.message}" if badge.message
                                                       else "")
    return (f'<span class="sheets-badge sheets-badge-{badge.status}" '
            f'data-status="{badge.status}" data-line="{badge.line}" '
            f'title="{html.escape(tooltip)}">{html.escape(badge.label or badge.status)}</span>')


@dataclass(slots=True)
class RenderState:
    """The state of one `render_deck` call, shared by its slides (see `render_slide`)."""

    deck: Deck
    math: Mapping[tuple[str, bool], Math]
    badges: Mapping[int, list[Badge]]
    diagnostics: list[Diagnostic]
    size: tuple[str, str]
    padding_right: str = "0px"
    """The theme's right padding of a slide (a right split background adds to it)."""
    auto_scaling: str = ""
    """The theme's `@auto-scaling` meta (`auto_scaling`)."""
    cards: bool = False
    """Whether each heading section of a slide's body is wrapped as a card (a document's
    layout, builder/render/flow.py)."""
    mermaid: bool = False
    math_errors: dict[int, list[tuple[SourceLoc, str]]] = field(default_factory=dict)
    slugs: dict[str, int] = field(default_factory=dict)
    """Heading ids given so far (marp-core counts the slide ids "1", "2"… as taken)."""
    images: dict[Path, str | None] = field(default_factory=dict)
    """Each image file read: its `data:` URL, None when missing."""
    image_states: dict[Path, str] = field(default_factory=dict)
    """Each image file's state (`file_state`) when it was read."""
    used_images: dict[str, str] = field(default_factory=dict)
    """The image files the slide being rendered uses, with their states."""

    def __post_init__(self) -> None:
        self.slugs.update((str(slide.index + 1), 0) for slide in self.deck.slides)


def scales(state: RenderState, feature: str) -> bool:
    """Whether marp-core auto-scales `feature` under the deck's theme."""
    return state.auto_scaling == "true" or feature in state.auto_scaling


