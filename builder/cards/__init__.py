"""cards: the formula cards of a parsed deck (`find_cards`), their annotations
(`parse_annotations`, and `annotation_warnings` for those that check nothing) and the
math above each that may define its names (`Card.context`, by `defined_heads`)."""

from builder.cards.annotations import Annotations, parse_annotations
from builder.cards.context import defined_heads
from builder.cards.sections import annotation_warnings, find_cards

__all__ = ["Annotations", "annotation_warnings", "defined_heads", "find_cards",
           "parse_annotations"]
