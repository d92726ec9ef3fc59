"""Checks for sheets/08_generative.md."""

import numpy as np


def _kl_to_standard_normal_numeric(mu, sigma):
    z = np.linspace(mu - 14 * sigma, mu + 14 * sigma, 200001)
    q = np.exp(-((z - mu) ** 2) / (2 * sigma**2)) / np.sqrt(2 * np.pi * sigma**2)
    p = np.exp(-(z**2) / 2) / np.sqrt(2 * np.pi)
    return np.trapezoid(q * np.log(q / p), z)


def vae_kl(card):
    np.testing.assert_allclose(card.eq(sigma=np.ones(3), mu=np.zeros(3)), 0.0, atol=1e-15)
    mu = np.array([0.5, -1.0])
    sigma = np.array([0.8, 1.7])
    expected = sum(_kl_to_standard_normal_numeric(m, s) for m, s in zip(mu, sigma))
    np.testing.assert_allclose(card.eq(sigma=sigma, mu=mu), expected, rtol=1e-6)


def reparameterisation(card):
    rng = np.random.default_rng(8)  # the same draws whatever ran before
    epsilon = rng.standard_normal(400000)
    z = card.eq(mu=2.0, sigma=0.5, epsilon=epsilon)
    np.testing.assert_allclose(z.mean(), 2.0, atol=0.01)
    np.testing.assert_allclose(z.std(), 0.5, rtol=0.01)
    # Differentiable in mu and sigma: dz/dmu = 1, dz/dsigma = epsilon.
    np.testing.assert_allclose(card.eq(mu=2.001, sigma=0.5, epsilon=0.3)
                               - card.eq(mu=2.0, sigma=0.5, epsilon=0.3), 0.001)
    np.testing.assert_allclose(card.eq(mu=2.0, sigma=0.501, epsilon=0.3)
                               - card.eq(mu=2.0, sigma=0.5, epsilon=0.3), 0.0003)


def optimal_discriminator(card):
    grid = np.linspace(1e-4, 1 - 1e-4, 99999)
    for p_data, p_g in ((0.3, 0.1), (0.05, 0.4), (0.2, 0.2)):
        objective = p_data * np.log(grid) + p_g * np.log(1 - grid)
        best = grid[np.argmax(objective)]
        np.testing.assert_allclose(card.eq(p_data=p_data, p_g=p_g), best, atol=1e-4)


def gan_value_at_optimum(card):
    rng = np.random.default_rng(8)  # the same draws whatever ran before
    for _ in range(5):
        p = rng.dirichlet(np.ones(6))
        q = rng.dirichlet(np.ones(6))
        d_star = p / (p + q)
        direct = np.sum(p * np.log(d_star)) + np.sum(q * np.log(1 - d_star))
        np.testing.assert_allclose(card.eq(p=p, q=q), direct)
    np.testing.assert_allclose(card.eq(p=p, q=p), -np.log(4))


def alpha_bar(card):
    alpha = 1 - np.linspace(1e-4, 0.02, 1000)
    np.testing.assert_allclose(card.eq(alpha=alpha, t=10), np.cumprod(alpha)[9])
    np.testing.assert_allclose(card.eq(alpha=alpha, t=1000), np.cumprod(alpha)[-1])
    # Steps of x_t = sqrt(alpha_t) x_{t-1} + sqrt(1 - alpha_t) eps, applied to x_0 = 1 without
    # noise, scale x_0 by sqrt(alpha_bar_t).
    x = 1.0
    for step in alpha[:50]:
        x *= np.sqrt(step)
    np.testing.assert_allclose(card.eq(alpha=alpha, t=50), x**2)


def diffusion_marginal(card):
    # x_t for every t at once: alpha_bar holds the cumulative products, x[0] is x_0.
    alpha = 1 - np.linspace(1e-4, 0.02, 300)
    alpha_bar = np.cumprod(alpha)
    # Step by step, x_t = sqrt(alpha_t) x_{t-1} + sqrt(1 - alpha_t) eps_t: the signal is
    # scaled by the product of the sqrt(alpha_s), and the variance of the noise follows
    # var_t = alpha_t var_{t-1} + (1 - alpha_t).
    signal, noise_variance = [], []
    scale, variance = 1.0, 0.0
    for step in alpha:
        scale *= np.sqrt(step)
        variance = step * variance + (1 - step)
        signal.append(scale)
        noise_variance.append(variance)
    x_0 = 1.7
    np.testing.assert_allclose(card.eq(alpha_bar=alpha_bar, x=np.array([x_0]), epsilon=0.0),
                               x_0 * np.array(signal), rtol=1e-9)
    np.testing.assert_allclose(card.eq(alpha_bar=alpha_bar, x=np.array([0.0]), epsilon=1.0),
                               np.sqrt(noise_variance), rtol=1e-9)
