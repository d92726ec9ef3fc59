"""Checks for sheets/07_attention_transformer.md."""

import numpy as np


def attention_weights(card):
    rng = np.random.default_rng(7)  # the same draws whatever ran before
    d_k = 16
    queries = rng.normal(size=(5, d_k))
    keys = rng.normal(size=(6, d_k))
    scores = queries @ keys.T / np.sqrt(d_k)
    expected = np.exp(scores - scores.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    for row, query in enumerate(queries):
        weights = card.eq(s=keys @ query, d_k=d_k)
        assert np.all(weights > 0)
        np.testing.assert_allclose(weights.sum(), 1.0, err_msg="a row of weights sums to 1")
        np.testing.assert_allclose(weights, expected[row])


def attention_output(card):
    rng = np.random.default_rng(7)  # the same draws whatever ran before
    alpha = np.array([0.1, 0.6, 0.3])
    v = np.array([2.0, -1.0, 5.0])
    np.testing.assert_allclose(card.eq(alpha=alpha, v=v), alpha @ v)
    for _ in range(10):
        weights = rng.dirichlet(np.ones(3))
        output = card.eq(alpha=weights, v=v)
        assert v.min() <= output <= v.max(), "a convex combination of the values"
    np.testing.assert_allclose(card.eq(alpha=np.array([0.0, 1.0, 0.0]), v=v), -1.0)


def dot_product_variance(card):
    rng = np.random.default_rng(7)  # the same draws whatever ran before
    for d_k in (4, 64):
        q = rng.normal(size=(20000, d_k))
        k = rng.normal(size=(20000, d_k))
        sample_variance = np.var(np.sum(q * k, axis=1))
        np.testing.assert_allclose(card.eq(d_k=d_k), sample_variance, rtol=0.05)


def multi_head_parameters(card):
    for d_model, heads in ((512, 8), (64, 4), (12, 3)):
        d_k = d_model // heads
        per_head = [(d_model * d_k + d_k) * 3 for _ in range(heads)]  # W^Q, W^K, W^V
        output = d_model * d_model + d_model  # W^O
        assert card.eq(d_model=d_model) == sum(per_head) + output


def positional_encoding(card):
    even, odd = card.eqs[0], card.eqs[1]
    d_model = 8
    positions = np.arange(50)
    table = np.zeros((50, d_model))
    for i in range(d_model // 2):
        frequency = 1.0 / 10000 ** (2 * i / d_model)
        table[:, 2 * i] = np.sin(positions * frequency)
        table[:, 2 * i + 1] = np.cos(positions * frequency)
    for i in range(d_model // 2):
        np.testing.assert_allclose(even(pos=positions, i=i, d_model=d_model), table[:, 2 * i],
                                   atol=1e-12)
        np.testing.assert_allclose(odd(pos=positions, i=i, d_model=d_model),
                                   table[:, 2 * i + 1], atol=1e-12)


def layer_norm(card):
    rng = np.random.default_rng(7)  # the same draws whatever ran before
    x = rng.normal(3.0, 2.0, size=32)
    y = card.eq(gamma=1.0, x=x, mu=x.mean(), sigma=x.std(), epsilon=1e-10, beta=0.0)
    np.testing.assert_allclose(y.mean(), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.std(), 1.0, rtol=1e-8)
    scaled = card.eq(gamma=2.0, x=x, mu=x.mean(), sigma=x.std(), epsilon=1e-10, beta=0.5)
    np.testing.assert_allclose(scaled, 2.0 * y + 0.5)


def label_smoothing(card):
    classes = 5
    t = np.eye(classes)[3]
    smoothed = card.eq(epsilon=0.1, t=t, K=classes)
    np.testing.assert_allclose(smoothed.sum(), 1.0)
    np.testing.assert_allclose(smoothed[3], 0.9 + 0.02)
    np.testing.assert_allclose(np.delete(smoothed, 3), 0.02)
    np.testing.assert_allclose(card.eq(epsilon=0.0, t=t, K=classes), t)


def warmup_schedule(card):
    steps = np.arange(1, 20001)
    rates = card.eq(d_model=512, n=steps, w=4000)
    assert steps[np.argmax(rates)] == 4000, "the peak is at the end of the warm-up"
    np.testing.assert_allclose(rates[3999], 1 / np.sqrt(512 * 4000), rtol=1e-12)
    np.testing.assert_allclose(rates[:4000], steps[:4000] * rates[3999] / 4000, rtol=1e-9)
    assert np.all(np.diff(rates[4000:]) < 0)
    np.testing.assert_allclose(rates[15999] / rates[3999], 0.5, rtol=1e-9)  # 1/sqrt(n)
