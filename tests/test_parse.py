"""parse: the seed deck and small sheets, checked against Marp's behaviour."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.model import BuildError
from builder.parse import parse_file, parse_text

SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"
SEED_DECK = SEEDS / "001_cc6ebc1a6c562421.txt"
needs_seeds = pytest.mark.skipif(not SEED_DECK.exists(), reason="seed notes not present")


@needs_seeds
def test_seed_deck_has_marps_67_slides() -> None:
    deck = parse_file(SEED_DECK)
    assert len(deck.slides) == 67
    assert deck.theme == "portrait_A4_note"
    assert deck.heading_divider == (1, 2)
    assert deck.global_css == "div.mermaid{all:unset;}"
    first = deck.slides[0]
    assert first.classes == ("title",)
    assert first.paginate is False
    assert first.footer == "E資格範囲の数式まとめ"
    assert [slide.index for slide in deck.slides] == list(range(67))


def test_unclosed_display_math_is_a_build_error() -> None:
    with pytest.raises(BuildError) as error:
        parse_text("# A\n\ntext\n\n$$ x = 1\n\nmore\n", Path("s.md"))
    assert str(error.value).startswith("s.md:5: ")


def test_malformed_front_matter_is_a_build_error() -> None:
    with pytest.raises(BuildError) as error:
        parse_text("---\ntheme: a\nfoo: [1, 2\n---\n\n# A\n", Path("s.md"))
    assert str(error.value).startswith("s.md:")
    assert "front matter" in str(error.value)
