"""cards: the formula cards of a parsed deck (`find_cards`) and their annotations
(`parse_annotations`, and `annotation_warnings` for those that check nothing)."""

from builder.cards.annotations import Annotations, parse_annotations
from builder.cards.sections import annotation_warnings, find_cards

__all__ = ["Annotations", "annotation_warnings", "find_cards", "parse_annotations"]
