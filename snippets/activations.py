"""Checks for the activation functions of sheets/04_activations_losses.md."""

import numpy as np

X = np.linspace(-6.0, 6.0, 25)


def _numeric_derivative(function, x, step=1e-6):
    return (function(x + step) - function(x - step)) / (2 * step)


def sigmoid(card):
    np.testing.assert_allclose(card.eq(x=0.0), 0.5)
    y = card.eq(x=X)
    assert np.all((0 < y) & (y < 1))
    assert np.all(np.diff(y) > 0), "the sigmoid increases"
    np.testing.assert_allclose(card.eq(x=-X), 1 - y, err_msg="symmetric about (0, 1/2)")
    np.testing.assert_allclose(card.eq(x=np.log(3.0)), 0.75)


def sigmoid_derivative(card):
    def sigmoid(x):
        return 1 / (1 + np.exp(-x))

    np.testing.assert_allclose(card.eq(x=X), _numeric_derivative(sigmoid, X), rtol=1e-6,
                               atol=1e-10)
    np.testing.assert_allclose(card.eq(x=0.0), 0.25)


def tanh_derivative(card):
    np.testing.assert_allclose(card.eq(x=X), _numeric_derivative(np.tanh, X), rtol=1e-6,
                               atol=1e-10)


def relu(card):
    np.testing.assert_array_equal(card.eq(x=np.array([-2.0, -0.5, 0.0, 0.5, 3.0])),
                                  [0.0, 0.0, 0.0, 0.5, 3.0])


def leaky_relu(card):
    x = np.array([-2.0, -0.5, 0.0, 0.5, 3.0])
    np.testing.assert_allclose(card.eq(alpha=0.01, x=x), np.where(x > 0, x, 0.01 * x))


def _softmax(a):
    e = np.exp(a - a.max())
    return e / e.sum()


def softmax(card):
    a = np.array([0.3, 2.9, 4.0, -1.0])
    y = card.eq(a=a)
    np.testing.assert_allclose(y.sum(), 1.0)
    assert np.all(y > 0)
    np.testing.assert_allclose(y, _softmax(a))
    np.testing.assert_allclose(card.eq(a=a + 5.0), y, err_msg="shift-invariant")
    np.testing.assert_array_equal(np.argsort(y), np.argsort(a))


def stable_softmax(card):
    a = np.array([1010.0, 1000.0, 990.0])
    with np.errstate(over="raise"):
        y = card.eq(a=a, C=a.max())
    np.testing.assert_allclose(y, _softmax(a))
    small = np.array([0.5, -1.0, 2.0])
    for shift in (0.0, 3.0, -7.0):
        np.testing.assert_allclose(card.eq(a=small, C=shift), _softmax(small))
