"""The library's independent implementations: each entry's formulas written in numpy (and
the standard library), as a textbook's code would compute them, not from the entries'
LaTeX. `entry(card)` is the snippet every library card links: each display equation of
the card must give, at random points of its symbols' domains, what its implementation
(named in the card's YAML `forms`) gives.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import yaml

from builder.library.domains import parse_value_domain

Array = Any


def _sigmoid(x: Array) -> Array:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def _softmax(a: Array) -> Array:
    shifted = np.exp(a - np.max(a))
    return shifted / shifted.sum()


IMPLEMENTATIONS: dict[str, Callable[..., Array]] = {
    # activations
    "sigmoid": lambda x: _sigmoid(x),
    "sigmoid_derivative": lambda x: _sigmoid(x) * (1 - _sigmoid(x)),
    "tanh": lambda x: np.tanh(x),
    "tanh_derivative": lambda x: 1 - np.tanh(x) ** 2,
    "relu": lambda x: np.maximum(0.0, x),
    "leaky_relu": lambda x, a: np.where(np.asarray(x) > 0, x, a * np.asarray(x)),
    "softmax": lambda a: _softmax(a),
    "softmax_temperature": lambda a, T: _softmax(np.asarray(a) / T),
    # losses
    "sum_of_squares": lambda y, t: 0.5 * np.sum((np.asarray(y) - t) ** 2),
    "sum_of_squares_whole": lambda y, t: np.sum((np.asarray(y) - t) ** 2),
    "mse": lambda N, y, t: np.mean((np.asarray(y)[:int(N)] - np.asarray(t)[:int(N)]) ** 2),
    "cross_entropy": lambda t, y: -np.dot(t, np.log(y)),
    "cross_entropy_batch": lambda N, t, y: -np.sum(np.asarray(t) * np.log(y)) / N,
    "binary_cross_entropy": lambda t, y: -(t * math.log(y) + (1 - t) * math.log(1 - y)),
    "hinge": lambda t, y: max(0.0, 1.0 - t * y),
    # information
    "entropy": lambda p: -np.sum(p * np.log(p)),
    "kl_divergence": lambda p, q: float(np.sum(np.asarray(p) * (np.log(p) - np.log(q)))),
    "js_divergence": lambda p, q: _js(np.asarray(p), np.asarray(q)),
    "js_divergence_with_mean": lambda p, q, r: 0.5 * float(
        np.sum(p * (np.log(p) - np.log(r))) + np.sum(q * (np.log(q) - np.log(r)))),
    # CNN
    "conv_output_size": lambda H, P, F, S: (int(H) + 2 * int(P) - int(F)) // int(S) + 1,
    "conv_output_size_exact": lambda H, P, F, S: (H + 2 * P - F) / S + 1,
    "pooling_output_size": lambda H, F, S: (int(H) - int(F)) // int(S) + 1,
    "pooling_output_size_exact": lambda H, F, S: (H - F) / S + 1,
    "transposed_conv_output_size": lambda H, P, F, S: S * (H - 1) + F - 2 * P,
    "conv_parameters": lambda F_h, F_w, C_in, C_out: F_h * F_w * C_in * C_out + C_out,
    "conv_parameters_no_bias": lambda F_h, F_w, C_in, C_out: F_h * F_w * C_in * C_out,
    "depthwise_separable_ratio": lambda N, D_K: (D_K * D_K * 1 + N) / (D_K * D_K * N),
    # optimisers
    "sgd": lambda theta, eta, g: theta - eta * g,
    "momentum_velocity": lambda v, alpha, eta, g: alpha * v - eta * g,
    "momentum_update": lambda theta, v: theta + v,
    "nesterov_update": lambda theta, alpha, v, eta, g: _nesterov(theta, alpha, v, eta, g),
    "adagrad_accumulator": lambda h, g: h + g * g,
    "adagrad_update": lambda theta, eta, h, epsilon, g: theta - eta * g / (
        math.sqrt(h) + epsilon),
    "adagrad_update_inside": lambda theta, eta, h, epsilon, g: theta - eta * g / math.sqrt(
        h + epsilon),
    "adagrad_update_bare": lambda theta, eta, h, g: theta - eta * g / math.sqrt(h),
    "rmsprop_accumulator": lambda h, rho, g: rho * h + (1 - rho) * g * g,
    "adam_first_moment": lambda m, beta_1, g: beta_1 * m + (1 - beta_1) * g,
    "adam_second_moment": lambda v, beta_2, g: beta_2 * v + (1 - beta_2) * g * g,
    "adam_bias_correction": lambda m, beta, t: m / (1 - beta ** int(t)),
    "adam_update": lambda theta, eta, m_hat, v_hat, epsilon: theta - eta * m_hat / (
        math.sqrt(v_hat) + epsilon),
    "adam_update_inside": lambda theta, eta, m_hat, v_hat, epsilon: theta - eta * m_hat / (
        math.sqrt(v_hat + epsilon)),
}


def _js(p: Array, q: Array) -> float:
    mean = (p + q) / 2
    return 0.5 * float(np.sum(p * np.log(p / mean)) + np.sum(q * np.log(q / mean)))


def _nesterov(theta: float, alpha: float, v: float, eta: float, g: float) -> float:
    """Nesterov's step as deep-learning code writes it (`v` the velocity already
    updated): θ += α·α·v, then θ -= (1 + α)·η·g."""
    theta = theta + alpha * alpha * v
    return theta - (1 + alpha) * eta * g


def entry(card: Any) -> None:
    """Every form of the library card equals its implementation at random points."""
    spec = yaml.safe_load(card.code[-1])
    domains = {str(name): parse_value_domain(str(text).split("|")[1])
               for name, text in spec["symbols"].items()}
    rng = np.random.default_rng(2024)
    for equation, form in zip(card.eqs, spec["forms"], strict=True):
        name = next(iter(form)) if isinstance(form, dict) else form
        implementation = IMPLEMENTATIONS[name]
        arguments = implementation.__code__.co_varnames[:implementation.__code__.co_argcount]
        for _ in range(8):
            values = {symbol: domains[symbol].draw(rng) for symbol in domains}
            expected = implementation(**{symbol: values[symbol] for symbol in arguments})
            got = equation(**{symbol: values[symbol] for symbol in equation.symbols})
            np.testing.assert_allclose(np.asarray(got, dtype=float),
                                       np.asarray(expected, dtype=float), rtol=1e-9,
                                       atol=1e-12, err_msg=f"form {name} at {values}")
