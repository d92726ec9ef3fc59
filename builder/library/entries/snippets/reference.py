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
    "momentum_velocity_descent": lambda v, alpha, eta, g: alpha * v + eta * g,
    "momentum_velocity_average": lambda v, beta, g: beta * v + (1 - beta) * g,
    "momentum_velocity_unscaled": lambda v, alpha, g: alpha * v + g,
    "momentum_update": lambda theta, v: theta + v,
    "momentum_update_descent": lambda theta, v: theta - v,
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
    "adadelta_step": lambda u, h, epsilon, g: -math.sqrt(u + epsilon) / math.sqrt(
        h + epsilon) * g,
    # probability and statistics
    "bernoulli_pmf": lambda x, p: p if int(x) == 1 else 1 - p,
    "bernoulli_variance": lambda p: p - p * p,
    "binomial_pmf": lambda n, k, p: math.comb(int(n), int(k)) * p ** k * (1 - p) ** (n - k),
    "binomial_variance": lambda n, p: n * p * (1 - p),
    "categorical_pmf": lambda K, p, x: float(np.asarray(p)[int(np.argmax(x))]),
    "gaussian_pdf": lambda x, mu, sigma: math.exp(-0.5 * ((x - mu) / sigma) ** 2) / (
        sigma * math.sqrt(2 * math.pi)),
    "gaussian_pdf_2d_diagonal": lambda x, y, mu_1, mu_2, sigma_1, sigma_2: _gaussian_2d(
        np.array([x, y]), np.array([mu_1, mu_2]), np.diag([sigma_1 ** 2, sigma_2 ** 2])),
    "bayes": lambda L, R, Z: L * R / Z,
    "standardization": lambda x, mu, sigma: (x - mu) / sigma,
    # normalisation, regularisation, recurrent networks
    "batch_normalization": lambda x, mu, sigma, epsilon: (x - mu) / math.sqrt(
        sigma * sigma + epsilon),
    "normalization_affine": lambda gamma, x_hat, beta: gamma * x_hat + beta,
    "inverted_dropout": lambda m, x, p: x * m / (1 - p),
    "l2_regularization": lambda L, lambda_, r: L + lambda_ * r * r / 2,
    "l2_regularization_whole": lambda L, lambda_, r: L + lambda_ * r * r,
    "l1_regularization": lambda L, lambda_, r: L + lambda_ * r,
    "elastic_net": lambda L, lambda_1, r_1, lambda_2, r_2: L + lambda_1 * r_1 + lambda_2 * r_2
    * r_2,
    "weight_decay": lambda w, eta, g, lambda_: w - eta * g - eta * lambda_ * w,
    "rnn_state": lambda x, W_x, h, W_h, b: math.tanh(x * W_x + h * W_h + b),
    "rnn_state_no_bias": lambda x, W_x, h, W_h: math.tanh(x * W_x + h * W_h),
    "lstm_gate_no_bias": lambda x, W_x, h, W_h: float(_sigmoid(x * W_x + h * W_h)),
    "gru_candidate_no_bias": lambda x, W_x, r, h, W_h: math.tanh(x * W_x + (r * h) * W_h),
    "lstm_gate": lambda x, W_x, h, W_h, b: float(_sigmoid(x * W_x + h * W_h + b)),
    "lstm_cell": lambda f, c, i, g: f * c + i * g,
    "lstm_output": lambda o, c: o * math.tanh(c),
    "gru_candidate": lambda x, W_x, r, h, W_h, b: math.tanh(x * W_x + (r * h) * W_h + b),
    "gru_state": lambda z, h, h_tilde: z * h + (1 - z) * h_tilde,
    "gru_state_candidate_gated": lambda z, h, h_tilde: (1 - z) * h + z * h_tilde,
    # metrics
    "accuracy": lambda TP, FP, FN, TN: (TP + TN) / (TP + FP + FN + TN),
    "precision": lambda TP, FP: TP / (TP + FP),
    "recall": lambda TP, FN: TP / (TP + FN),
    "false_positive_rate": lambda FP, TN: FP / (FP + TN),
    "specificity": lambda TN, FP: TN / (TN + FP),
    "negative_predictive_value": lambda TN, FN: TN / (TN + FN),
    "f1": lambda P, R: 2 / (1 / P + 1 / R),
    "iou": lambda C, A, B: C / (A + B - C),
    "bleu": lambda B, w, p: B * float(np.prod(np.asarray(p) ** np.asarray(w))),
    "distillation_loss": lambda lambda_1, T, L_s, lambda_2, L_h: (
        lambda_1 * T * T * L_s + lambda_2 * L_h) / (lambda_1 + lambda_2),
    "gaussian_kernel": lambda d, sigma: math.exp(-d * d / (2 * sigma * sigma)),
    "gaussian_kernel_beta": lambda d, beta: math.exp(-d * d / beta),
    "gaussian_kernel_gamma": lambda d, gamma: math.exp(-gamma * d * d),
    "bleu_brevity_penalty": lambda c, r: 1.0 if c > r else math.exp(1 - r / c),
    # reinforcement learning
    "q_learning": lambda Q, alpha, r, gamma, M: (1 - alpha) * Q + alpha * (r + gamma * M),
    "sarsa": lambda Q, alpha, r, gamma, N: (1 - alpha) * Q + alpha * (r + gamma * N),
    "discounted_return": lambda r_1, r_2, r_3, gamma: sum(
        reward * gamma ** step for step, reward in enumerate((r_1, r_2, r_3))),
    "policy_gradient": lambda N, s, q: float(np.mean(np.asarray(s) * q)),
    # CNN (costs)
    "conv_cost": lambda D_K, M, N, D_F: D_K * D_K * M * N * D_F * D_F,
    "depthwise_cost": lambda D_K, M, D_F: D_K * D_K * M * D_F * D_F,
    "pointwise_cost": lambda M, N, D_F: M * N * D_F * D_F,
    "receptive_field": lambda R, K, J: R + (K - 1) * J,
    # activations and losses (more)
    "huber": lambda a, delta: 0.5 * a * a if abs(a) <= delta else delta * (
        abs(a) - delta / 2),
    "label_smoothing": lambda epsilon, t, K: t * (1 - epsilon) + epsilon / K,
    # transformer and generative models
    "positional_encoding_sin": lambda pos, i, d: math.sin(pos * math.exp(
        -math.log(10000.0) * 2 * i / d)),
    "positional_encoding_cos": lambda pos, i, d: math.cos(pos * math.exp(
        -math.log(10000.0) * 2 * i / d)),
    "scaled_dot_product_attention": lambda s, d, v: float(
        np.dot(_softmax(np.asarray(s) / math.sqrt(d)), v)),
    "multi_head_dimension": lambda d, h: d / h,
    "gan_value": lambda D, G: math.log(D) + math.log1p(-G),
    "vae_kl": lambda sigma, mu: _kl_to_standard_normal(np.asarray(mu), np.asarray(sigma)),
    "elbo": lambda R, D: R - D,
}


def _gaussian_2d(x: Array, mean: Array, covariance: Array) -> float:
    """The multivariate normal density, from its matrix form."""
    difference = x - mean
    exponent = -0.5 * difference @ np.linalg.solve(covariance, difference)
    return float(np.exp(exponent) / math.sqrt(np.linalg.det(2 * math.pi * covariance)))


def _kl_to_standard_normal(mu: Array, sigma: Array) -> float:
    """KL(N(μ, σ²) ‖ N(0, 1)) summed over dimensions, as the ratio of densities
    integrated numerically (not the closed form the entry states)."""
    total = 0.0
    for mean, deviation in zip(mu, sigma, strict=True):
        grid = np.linspace(mean - 12 * deviation, mean + 12 * deviation, 200001)
        log_q = -0.5 * ((grid - mean) / deviation) ** 2 - math.log(deviation * math.sqrt(
            2 * math.pi))
        log_p = -0.5 * grid ** 2 - math.log(math.sqrt(2 * math.pi))
        q = np.exp(log_q)
        total += float(np.trapezoid(q * (log_q - log_p), grid))
    return total


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
            # `lambda` is Python's keyword: its implementation's argument is `lambda_`.
            expected = implementation(**{argument: values[argument.rstrip("_")]
                                         for argument in arguments})
            got = equation(**{symbol: values[symbol] for symbol in equation.symbols})
            np.testing.assert_allclose(np.asarray(got, dtype=float),
                                       np.asarray(expected, dtype=float), rtol=1e-9,
                                       atol=1e-12, err_msg=f"form {name} at {values}")
