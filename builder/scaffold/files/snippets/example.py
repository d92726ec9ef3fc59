"""Checks for sheets/example.md: `<!-- check: example.FUNCTION -->` runs FUNCTION(card),
which fails by raising (an assert) when the card's formula is wrong."""

import numpy as np


def sigmoid_is_logistic(card):
    x = np.linspace(-6.0, 6.0, 25)
    value = card.eq(x=x)
    np.testing.assert_allclose(value, 1.0 / (1.0 + np.exp(-x)), rtol=1e-12)
    np.testing.assert_allclose(card.eq(x=-x), 1.0 - value, atol=1e-12)  # symmetric
    assert abs(card.eq(x=0.0) - 0.5) < 1e-12
