"""Checks for the loss functions of sheets/04_activations_losses.md."""

import numpy as np


def _softmax(a):
    e = np.exp(a - a.max())
    return e / e.sum()


def sum_of_squares(card):
    y = np.array([0.1, 0.6, 0.3])
    t = np.array([0.0, 1.0, 0.0])
    np.testing.assert_allclose(card.eq(y=y, t=t), 0.5 * (0.01 + 0.16 + 0.09))
    np.testing.assert_allclose(card.eq(y=t, t=t), 0.0)
    step = 1e-6
    for k in range(3):
        shifted = y.copy()
        shifted[k] += step
        gradient = (card.eq(y=shifted, t=t) - card.eq(y=y, t=t)) / step
        np.testing.assert_allclose(gradient, y[k] - t[k], atol=1e-5)


def cross_entropy(card):
    y = np.array([0.2, 0.7, 0.1])
    for c in range(3):
        t = np.eye(3)[c]
        np.testing.assert_allclose(card.eq(t=t, y=y), -np.log(y[c]))
    t = np.eye(3)[1]
    assert card.eq(t=t, y=np.array([0.1, 0.8, 0.1])) < card.eq(t=t, y=y), \
        "a surer correct answer costs less"


def softmax_cross_entropy_gradient(card):
    a = np.array([0.5, -1.2, 2.0, 0.1])
    t = np.eye(4)[2]

    def loss(inputs):
        return -np.sum(t * np.log(_softmax(inputs)))

    step = 1e-6
    numeric = np.array([(loss(a + step * e) - loss(a - step * e)) / (2 * step)
                        for e in np.eye(4)])
    # The formula is elementwise; compile.py names its symbols y_k, t_k while it does not
    # see the free index k inside the derivative on the left (then y, t).
    y_name, t_name = ("y", "t") if "y" in card.eq.symbols else ("y_k", "t_k")
    got = card.eq(**{y_name: _softmax(a), t_name: t})
    np.testing.assert_allclose(got, numeric, atol=1e-8)


def binary_cross_entropy(card):
    y = np.array([0.1, 0.5, 0.9])
    np.testing.assert_allclose(card.eq(t=1.0, y=y), -np.log(y))
    np.testing.assert_allclose(card.eq(t=0.0, y=y), -np.log(1 - y))
    # For a soft target the loss is smallest at y = t.
    grid = np.linspace(0.01, 0.99, 981)
    assert abs(grid[np.argmin(card.eq(t=0.3, y=grid))] - 0.3) < 1e-9
