"""Scores, CDFs and strategies against their definitions on small, hand-checkable inputs."""

from __future__ import annotations

import numpy as np
import pytest

import oracle
from labelwise import Strategy
from labelwise.engine import knn
from labelwise.engine.combine import StaticCDF, argmax_random_tie, empirical_cdf
from labelwise.engine.index import global_density, knn_density


@pytest.mark.parametrize(
    ("p", "least", "margin", "entropy"),
    [([1.0, 0, 0], 0.0, 0.0, 0.0),
     ([0.5, 0.5, 0], 0.5, 1.0, np.log(2)),
     ([0.6, 0.3, 0.1], 0.4, 0.7, -(0.6 * np.log(0.6) + 0.3 * np.log(0.3) + 0.1 * np.log(0.1))),
     ([0.2, 0.8], 0.2, 0.4, -(0.2 * np.log(0.2) + 0.8 * np.log(0.8)))],
)
def test_uncertainty_measures(p, least, margin, entropy):
    p = np.array([p])
    assert knn.uncertainty(p, "least_confidence")[0] == pytest.approx(least)
    assert knn.uncertainty(p, "margin")[0] == pytest.approx(margin)
    assert knn.uncertainty(p, "entropy")[0] == pytest.approx(entropy)


def test_empirical_cdf_counts_ties_upwards():
    values = np.array([3.0, 1.0, 3.0, 2.0, 3.0])
    np.testing.assert_allclose(empirical_cdf(values), [1.0, 0.2, 1.0, 0.4, 1.0])
    np.testing.assert_allclose(empirical_cdf(values), oracle.cdf(values))


def test_static_cdf_over_a_shrinking_pool_matches_a_fresh_cdf():
    rng = np.random.default_rng(0)
    values = rng.integers(0, 5, 40).astype(float)
    static = StaticCDF(values)
    in_pool = rng.random(40) < 0.6
    pool = np.flatnonzero(in_pool)
    np.testing.assert_allclose(static(in_pool, pool), oracle.cdf(values[pool]))


def test_argmax_breaks_ties_uniformly():
    rng = np.random.default_rng(0)
    counts = np.bincount([argmax_random_tie(np.array([1, 3, 3, 0, 3]), rng) for _ in range(3000)],
                         minlength=5)
    assert counts[0] == counts[3] == 0
    assert all(900 < c < 1100 for c in counts[[1, 2, 4]])


def test_densities_match_brute_force():
    rng = np.random.default_rng(0)
    X = oracle.unit_rows(rng.standard_normal((50, 6)))
    np.testing.assert_allclose(knn_density(X), oracle.knn_density(X), atol=1e-6)
    np.testing.assert_allclose(global_density(X), oracle.global_density(X), atol=1e-5)


def test_density_of_tiny_pools():
    assert knn_density(np.ones((1, 3), np.float32)).tolist() == [0.0]
    X = oracle.unit_rows(np.eye(3))
    np.testing.assert_allclose(knn_density(X), [0, 0, 0])


def test_similarity_weights_follow_the_definition():
    sim = np.array([[0.9, 0.5, -0.2]], dtype=np.float32)
    cls = np.array([[0, 1, 1]])
    votes = knn.class_votes(sim, cls, 2, "similarity")
    np.testing.assert_allclose(votes, [[0.9, 0.5 + 1e-6]], rtol=1e-6)
    np.testing.assert_allclose(knn.class_votes(sim, cls, 2, "uniform"), [[1, 2]])


def test_vote_ties_go_to_the_class_with_the_nearest_neighbour():
    sim = np.array([[0.7, 0.9, 0.8, 0.6]], dtype=np.float32)
    cls = np.array([[0, 1, 0, 1]])
    votes = knn.class_votes(sim, cls, 2, "uniform")
    assert knn.winners(votes, sim, cls).tolist() == [1]


@pytest.mark.parametrize(
    ("text", "factors"),
    [("U*I*D", ("U", "I", "D")), ("d*u", ("U", "D")), (" I ", ("I",)), ("random", ()),
     ("RANDOM", ())],
)
def test_strategy_parse(text, factors):
    strategy = Strategy.parse(text, uncertainty="margin")
    assert strategy.factors == factors
    assert strategy.is_random == (factors == ())


def test_strategy_names():
    assert Strategy.parse("D*U").name == "U*D"
    assert Strategy.parse("U*I", uncertainty="entropy").label == "U*I (entropy, knn density)"
    with pytest.raises(ValueError, match="uncertainty must be"):
        Strategy.parse("U", uncertainty="gini")


@pytest.mark.parametrize("distinct", [1, 2, 5, 12, 13, 40])
def test_empirical_cdf_counting_path_matches_the_definition(distinct):
    """Large inputs with few distinct values take the counting path; same answer."""
    rng = np.random.default_rng(distinct)
    values = rng.integers(0, distinct, 5000) / 7.0
    expected = (values[None, :] <= values[:, None]).mean(axis=1)
    np.testing.assert_allclose(empirical_cdf(values), expected)
