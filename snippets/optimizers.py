"""Checks for sheets/03_optimizers.md: each update rule is run on a small problem whose
answer is known (a quadratic bowl, a constant gradient)."""

import numpy as np


def _bowl_gradient(w):
    """Gradient of L(w) = (w - 3)^2, minimum at w = 3."""
    return 2 * (w - 3.0)


def sgd_step(card):
    w = 10.0
    loss = (w - 3.0) ** 2
    stepped = card.eq(w=w, eta=0.1, g=_bowl_gradient(w))
    assert (stepped - 3.0) ** 2 < loss, "one step must go downhill"
    for _ in range(200):
        w = card.eq(w=w, eta=0.1, g=_bowl_gradient(w))
    np.testing.assert_allclose(w, 3.0, atol=1e-9)


def momentum(card):
    velocity_rule, position_rule = card.eqs[0], card.eqs[1]
    alpha, eta, g = 0.9, 0.01, 2.0
    v = 0.0
    for _ in range(500):
        v = velocity_rule(alpha=alpha, v=v, eta=eta, g=g)
    np.testing.assert_allclose(v, -eta * g / (1 - alpha), rtol=1e-9)
    np.testing.assert_allclose(velocity_rule(alpha=0.0, v=5.0, eta=eta, g=g), -eta * g)
    w, v = 10.0, 0.0
    for _ in range(500):
        v = velocity_rule(alpha=0.5, v=v, eta=0.1, g=_bowl_gradient(w))
        w = position_rule(w=w, v_new=v)
    np.testing.assert_allclose(w, 3.0, atol=1e-6)


def adagrad(card):
    accumulate, update = card.eqs[0], card.eqs[1]
    h = 0.0
    for g in (1.0, -2.0, 3.0):
        h = accumulate(h=h, g=g)
    np.testing.assert_allclose(h, 1 + 4 + 9)
    # The first step has size eta whatever the gradient's scale.
    for g in (1e-3, 1.0, 1e3):
        h_new = accumulate(h=0.0, g=g)
        step = update(w=0.0, eta=0.1, h_new=h_new, epsilon=1e-12, g=g)
        np.testing.assert_allclose(step, -0.1, rtol=1e-6)


def rmsprop(card):
    accumulate, update = card.eqs[0], card.eqs[1]
    h, g = 0.0, 4.0
    for _ in range(300):
        h = accumulate(rho=0.9, h=h, g=g)
    np.testing.assert_allclose(h, g**2, rtol=1e-9)
    step = update(w=0.0, eta=0.01, h_new=h, epsilon=1e-12, g=g)
    np.testing.assert_allclose(step, -0.01, rtol=1e-9)
    assert update(w=0.0, eta=0.01, h_new=h, epsilon=1e-12, g=-g) > 0, "moves against g"


def adam_moments(card):
    first, second = card.eqs[0], card.eqs[1]
    gradients = np.array([0.5, -1.0, 2.0, 0.3])
    m = v = 0.0
    for g in gradients:
        m = first(beta_1=0.9, m=m, g=g)
        v = second(beta_2=0.999, v=v, g=g)
    weights_1 = 0.1 * 0.9 ** np.arange(len(gradients))[::-1]
    weights_2 = 0.001 * 0.999 ** np.arange(len(gradients))[::-1]
    np.testing.assert_allclose(m, np.sum(weights_1 * gradients))
    np.testing.assert_allclose(v, np.sum(weights_2 * gradients**2))


def adam_bias_correction(card):
    beta_1, g = 0.9, 0.5
    m = 0.0
    for t in range(1, 6):
        m = beta_1 * m + (1 - beta_1) * g
        np.testing.assert_allclose(card.eq(m=m, beta_1=beta_1, t=t), g, rtol=1e-12)


def adam_update(card):
    for g in (1e-4, 0.3, 50.0):
        step = card.eq(w=1.0, eta=0.001, m_hat=g, v_hat=g**2, epsilon=1e-12) - 1.0
        np.testing.assert_allclose(step, -0.001, rtol=1e-6)
    assert card.eq(w=1.0, eta=0.001, m_hat=-2.0, v_hat=4.0, epsilon=1e-8) > 1.0


def weight_decay_gradient(card):
    w = np.array([0.5, -1.5, 2.0])
    lam, step = 0.1, 1e-6
    for i in range(len(w)):
        up, down = w.copy(), w.copy()
        up[i] += step
        down[i] -= step
        numeric = (card.eq(L=1.0, w=up, **{"lambda": lam})
                   - card.eq(L=1.0, w=down, **{"lambda": lam})) / (2 * step)
        np.testing.assert_allclose(numeric, lam * w[i], rtol=1e-6)
    np.testing.assert_allclose(card.eq(L=2.0, w=np.zeros(3), **{"lambda": lam}), 2.0)


def step_decay(card):
    rates = [card.eq(eta_0=0.1, gamma=0.5, t=t, s=10) for t in range(30)]
    np.testing.assert_allclose(rates[:10], 0.1)
    np.testing.assert_allclose(rates[10:20], 0.05)
    np.testing.assert_allclose(rates[20:], 0.025)
