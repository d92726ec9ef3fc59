"""cards: the formula cards of a parsed deck and their annotations."""
