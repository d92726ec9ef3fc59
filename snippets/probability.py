"""Checks for sheets/02_probability_information.md."""

from math import comb

import numpy as np


def _distribution(rng, size):
    weights = rng.uniform(0.1, 1.0, size)
    return weights / weights.sum()


def binomial_mean(card):
    for n, p in ((1, 0.3), (5, 0.5), (12, 0.17)):
        mean = sum(k * comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n + 1))
        np.testing.assert_allclose(card.eq(n=n, p=p), mean)


def normal_density(card):
    mu, sigma = 1.5, 0.7
    x = np.linspace(mu - 12 * sigma, mu + 12 * sigma, 40001)
    density = card.eq(x=x, mu=mu, sigma=sigma)
    np.testing.assert_allclose(np.trapezoid(density, x), 1.0, rtol=1e-9)
    np.testing.assert_allclose(np.trapezoid(x * density, x), mu, rtol=1e-9)
    np.testing.assert_allclose(np.trapezoid((x - mu) ** 2 * density, x), sigma**2, rtol=1e-9)
    assert x[np.argmax(density)] == mu or abs(x[np.argmax(density)] - mu) < 1e-3


def normal_mean_estimate(card):
    rng = np.random.default_rng(2)  # the same draws whatever ran before
    x = rng.normal(3.0, 2.0, size=50)
    estimate = card.eq(x=x, n=len(x))

    def negative_log_likelihood(mu):
        return 0.5 * np.sum((x - mu) ** 2)

    step = 1e-4
    assert negative_log_likelihood(estimate) < negative_log_likelihood(estimate + step)
    assert negative_log_likelihood(estimate) < negative_log_likelihood(estimate - step)


def bayes_test_posterior(card):
    # Count a population of one million: who is ill, who tests positive.
    people, prevalence, sensitivity, specificity = 1_000_000, 0.01, 0.9, 0.95
    ill = people * prevalence
    true_positive = ill * sensitivity
    false_positive = (people - ill) * (1 - specificity)
    expected = true_positive / (true_positive + false_positive)
    np.testing.assert_allclose(card.eq(p=prevalence, s=sensitivity, c=specificity), expected)


def entropy(card):
    rng = np.random.default_rng(2)  # the same draws whatever ran before
    for size in (2, 4, 7):
        np.testing.assert_allclose(card.eq(p=np.full(size, 1 / size)), np.log(size))
    np.testing.assert_allclose(card.eq(p=np.array([1 - 1e-12, 1e-12])), 0.0, atol=1e-10)
    uniform = card.eq(p=np.full(5, 0.2))
    for _ in range(20):
        value = card.eq(p=_distribution(rng, 5))
        assert 0 <= value <= uniform + 1e-12, "the uniform distribution has the most entropy"


def cross_entropy(card):
    rng = np.random.default_rng(2)  # the same draws whatever ran before
    p = _distribution(rng, 6)
    entropy_of_p = -np.sum(p * np.log(p))
    np.testing.assert_allclose(card.eq(p=p, q=p), entropy_of_p)
    for _ in range(20):
        q = _distribution(rng, 6)
        assert card.eq(p=p, q=q) > entropy_of_p, "Gibbs: H(p, q) >= H(p)"
    one_hot = np.array([0.0, 1.0, 0.0])
    q = np.array([0.2, 0.7, 0.1])
    np.testing.assert_allclose(card.eq(p=one_hot, q=q), -np.log(0.7))


def kl_divergence(card):
    rng = np.random.default_rng(2)  # the same draws whatever ran before
    p = _distribution(rng, 5)
    np.testing.assert_allclose(card.eq(p=p, q=p), 0.0, atol=1e-15)
    for _ in range(20):
        q = _distribution(rng, 5)
        value = card.eq(p=p, q=q)
        assert value > 0
        np.testing.assert_allclose(value, -np.sum(p * np.log(q)) + np.sum(p * np.log(p)))
    p, q = np.array([0.9, 0.1]), np.array([0.5, 0.5])
    assert not np.isclose(card.eq(p=p, q=q), card.eq(p=q, q=p)), "KL is not symmetric"


def js_divergence(card):
    rng = np.random.default_rng(2)  # the same draws whatever ran before
    p, q = _distribution(rng, 4), _distribution(rng, 4)
    r = (p + q) / 2
    expected = 0.5 * np.sum(p * np.log(p / r)) + 0.5 * np.sum(q * np.log(q / r))
    np.testing.assert_allclose(card.eq(p=p, q=q), expected)
    np.testing.assert_allclose(card.eq(p=p, q=q), card.eq(p=q, q=p))
    np.testing.assert_allclose(card.eq(p=p, q=p), 0.0, atol=1e-15)
    disjoint = card.eq(p=np.array([1.0, 1e-300]), q=np.array([1e-300, 1.0]))
    np.testing.assert_allclose(disjoint, np.log(2), rtol=1e-6)
