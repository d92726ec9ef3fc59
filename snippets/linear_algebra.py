"""Checks for sheets/01_linear_algebra.md: each compares the card's formula with numpy's
linear algebra (an independent computation) or with a property a wrong formula lacks."""

import numpy as np


def characteristic_roots_are_eigenvalues(card):
    rng = np.random.default_rng(1)  # the same draws whatever ran before
    for _ in range(5):
        a, d = rng.normal(size=2)
        b, c = rng.uniform(0.1, 2.0, size=2) * rng.choice([-1, 1])  # bc > 0: real roots
        matrix = np.array([[a, b], [c, d]])
        for eigenvalue in np.linalg.eigvals(matrix):
            value = card.eq(**{"lambda": eigenvalue, "a": a, "b": b, "c": c, "d": d})
            assert abs(value) < 1e-9, f"the polynomial is {value} at eigenvalue {eigenvalue}"
        # At lambda = 0 the polynomial is det(-A) = det(A) for a 2x2 matrix.
        np.testing.assert_allclose(card.eq(**{"lambda": 0.0, "a": a, "b": b, "c": c, "d": d}),
                                   np.linalg.det(matrix), atol=1e-12)


def _symmetric(size):
    """A symmetric matrix: its eigenvalues are real."""
    rng = np.random.default_rng(1)  # the same draws whatever ran before
    half = rng.normal(size=(size, size))
    return half + half.T


def trace_is_sum_of_eigenvalues(card):
    matrix = _symmetric(4)
    eigenvalues = np.linalg.eigvals(matrix)
    np.testing.assert_allclose(card.eq(**{"lambda": eigenvalues}), np.trace(matrix),
                               atol=1e-9)


def determinant_is_product_of_eigenvalues(card):
    matrix = _symmetric(4)
    eigenvalues = np.linalg.eigvals(matrix)
    np.testing.assert_allclose(card.eq(**{"lambda": eigenvalues}), np.linalg.det(matrix),
                               atol=1e-9)


def eigendecomposition_rebuilds_the_matrix(card):
    symmetric = _symmetric(3)
    eigenvalues, vectors = np.linalg.eigh(symmetric)
    # Free indices i, j are given one pair at a time, counted from 1 as in the formula.
    rebuilt = np.array([[card.eq(i=i, j=j, q=vectors, **{"lambda": eigenvalues})
                         for j in range(1, 4)] for i in range(1, 4)])
    np.testing.assert_allclose(rebuilt, symmetric, atol=1e-9)


def singular_values_from_eigenvalues(card):
    rng = np.random.default_rng(1)  # the same draws whatever ran before
    matrix = rng.normal(size=(5, 3))
    eigenvalues = np.linalg.eigvalsh(matrix.T @ matrix)[::-1]
    singular = np.linalg.svd(matrix, compute_uv=False)
    np.testing.assert_allclose(card.eq(**{"lambda": eigenvalues}), singular, rtol=1e-9)


def frobenius_norm_from_singular_values(card):
    rng = np.random.default_rng(1)  # the same draws whatever ran before
    matrix = rng.normal(size=(4, 6))
    singular = np.linalg.svd(matrix, compute_uv=False)
    np.testing.assert_allclose(card.eq(sigma=singular), np.sqrt((matrix**2).sum()),
                               rtol=1e-12)


def lp_norm(card):
    x = np.array([3.0, -4.0, 1.0])
    np.testing.assert_allclose(card.eq(x=x, p=2), np.linalg.norm(x))
    np.testing.assert_allclose(card.eq(x=x, p=1), 8.0)
    np.testing.assert_allclose(card.eq(x=x, p=3), np.linalg.norm(x, 3))
    y = np.array([-1.0, 2.0, 5.0])
    assert card.eq(x=x + y, p=2) <= card.eq(x=x, p=2) + card.eq(x=y, p=2), "triangle"


def cosine_similarity(card):
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(card.eq(x=x, y=2.5 * x), 1.0)
    np.testing.assert_allclose(card.eq(x=x, y=-x), -1.0)
    np.testing.assert_allclose(card.eq(x=np.array([1.0, 0.0]), y=np.array([0.0, 3.0])), 0.0,
                               atol=1e-15)
    y = np.array([0.5, -1.0, 4.0])
    expected = x @ y / (np.linalg.norm(x) * np.linalg.norm(y))
    np.testing.assert_allclose(card.eq(x=x, y=y), expected)


def contribution_ratio(card):
    # Correlated 3-D data: the ratio of the first component must equal the share of the
    # variance of the data projected onto the first principal direction.
    rng = np.random.default_rng(1)  # the same draws whatever ran before
    data = rng.normal(size=(2000, 3)) @ np.array([[3.0, 0.0, 0.0], [1.0, 1.0, 0.0],
                                                  [0.0, 0.5, 0.2]])
    centred = data - data.mean(axis=0)
    eigenvalues, vectors = np.linalg.eigh(np.cov(centred, rowvar=False))
    eigenvalues, vectors = eigenvalues[::-1], vectors[:, ::-1]
    ratios = card.eq(**{"lambda": eigenvalues})
    np.testing.assert_allclose(ratios.sum(), 1.0)
    projected = centred @ vectors[:, 0]
    total = centred.var(axis=0, ddof=1).sum()
    np.testing.assert_allclose(ratios[0], projected.var(ddof=1) / total, rtol=1e-9)
