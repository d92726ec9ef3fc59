"""Checks for sheets/06_rnn_lstm.md. Time-indexed symbols (`x_t`, `h_{t-1}`) take arrays
over time; the card's formula gives every step at once."""

import numpy as np


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _steps(card, **values):
    """The formula at every time step from 1 on (step 0 has no previous state)."""
    return np.asarray(card.eq(**values))[1:]


def rnn_state(card):
    rng = np.random.default_rng(6)  # the same draws whatever ran before
    x = rng.normal(size=8)
    h = rng.uniform(-1, 1, size=8)
    got = _steps(card, W_xh=0.7, x=x, W_hh=-1.3, h=h, b=0.2)
    np.testing.assert_allclose(got, np.tanh(0.7 * x[1:] - 1.3 * h[:-1] + 0.2))
    assert np.all(np.abs(got) < 1)


def bptt_step(card):
    # d/dh_prev of tanh(W_xh x + W_hh h_prev + b), numerically.
    w_xh, w_hh, b, x = 0.4, 1.7, -0.1, 0.9
    for h_prev in (-0.8, 0.0, 0.5):
        step = 1e-6

        def forward(value):
            return np.tanh(w_xh * x + w_hh * value + b)

        numeric = (forward(h_prev + step) - forward(h_prev - step)) / (2 * step)
        h = np.array([h_prev, forward(h_prev)])
        if "t" in card.eq.symbols:  # compile.py does not see t as the free index here
            got = card.eq(W_hh=w_hh, h=h, t=2)  # counted from 1: h_2 = h[1]
        else:
            got = np.asarray(card.eq(W_hh=w_hh, h=h))[1]
        np.testing.assert_allclose(got, numeric, rtol=1e-6)


def gradient_clipping(card):
    g = np.array([3.0, -4.0, 12.0])  # norm 13
    clipped = card.eq(c=5.0, g=g)
    np.testing.assert_allclose(np.linalg.norm(clipped), 5.0)
    np.testing.assert_allclose(clipped / np.linalg.norm(clipped), g / 13.0,
                               err_msg="the direction is kept")


def lstm_gates(card):
    x = np.array([0.0, -50.0, 0.3, 50.0, 2.0])
    h = np.array([0.1, 0.9, -0.9, 0.0, 0.5])
    got = _steps(card, W_f=2.0, x=x, U_f=-1.5, h=h, b_f=0.3)
    expected = _sigmoid(2.0 * x[1:] - 1.5 * h[:-1] + 0.3)
    np.testing.assert_allclose(got, expected)
    assert np.all((got >= 0) & (got <= 1)), "a gate is a fraction"
    assert got[0] < 1e-6 and got[2] > 1 - 1e-6


def lstm_cell(card):
    cell_rule, hidden_rule = card.eqs[0], card.eqs[1]
    c = np.array([0.0, 1.5, -2.0, 0.7])
    f = np.array([0.0, 1.0, 0.0, 0.5])
    i = np.array([0.0, 0.0, 1.0, 0.5])
    g = np.array([0.0, 0.9, -0.4, 0.2])
    got = np.asarray(cell_rule(f=f, c=c, i=i, g=g))[1:]
    np.testing.assert_allclose(got, f[1:] * c[:-1] + i[1:] * g[1:])
    np.testing.assert_allclose(got[0], c[0], err_msg="f=1, i=0 keeps the memory")
    np.testing.assert_allclose(got[1], g[2], err_msg="f=0, i=1 replaces it")
    o = np.array([0.3, 1.0, 0.5])
    cells = np.array([10.0, -0.2, 0.8])
    hidden = hidden_rule(o=o, c=cells)
    np.testing.assert_allclose(hidden, o * np.tanh(cells))
    assert np.all(np.abs(hidden) < 1)


def gru_update(card):
    h = np.array([0.5, -0.3, 0.8, 0.1])
    h_tilde = np.array([0.9, 0.2, -0.6, 0.4])
    z = np.array([0.0, 0.0, 1.0, 0.25])
    got = _steps(card, z=z, h=h, h_tilde=h_tilde)
    np.testing.assert_allclose(got[0], h[0], err_msg="z=0 keeps the previous state")
    np.testing.assert_allclose(got[1], h_tilde[2], err_msg="z=1 takes the candidate")
    np.testing.assert_allclose(got[2], 0.75 * h[2] + 0.25 * h_tilde[3])


def perplexity(card):
    for vocabulary in (2, 10, 1000):
        p = np.full(7, 1.0 / vocabulary)
        np.testing.assert_allclose(card.eq(p=p, N=len(p)), vocabulary)
    np.testing.assert_allclose(card.eq(p=np.ones(4), N=4), 1.0)
    p = np.array([0.5, 0.25, 0.125])
    np.testing.assert_allclose(card.eq(p=p, N=3), 4.0)  # geometric mean of 1/p


def brevity_penalty(card):
    np.testing.assert_allclose(card.eq(r=10, c=10), 1.0)
    np.testing.assert_allclose(card.eq(r=20, c=10), np.exp(-1.0))
    assert card.eq(r=20, c=5) < card.eq(r=20, c=15), "shorter translations pay more"
