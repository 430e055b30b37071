"""Nearest-neighbour search: the HNSW graph against exact search."""

from __future__ import annotations

import numpy as np
import pytest

from labelwise.engine.index import HnswParams, NeighborIndex, exact_top_k, knn_density
from labelwise.engine.topk import top_k
from labelwise.engine.vectors import as_unit_rows
from labelwise.errors import InvalidInputError


@pytest.fixture(scope="module")
def clustered():
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((30, 32))
    X = centers[rng.integers(0, 30, 3000)] + 0.6 * rng.standard_normal((3000, 32))
    return as_unit_rows(X)


def test_hnsw_recall_against_exact_search(clustered):
    graph = NeighborIndex(clustered, exact_threshold=100)
    assert not graph.exact
    queries = clustered[:300]
    got, _ = graph.query(queries, 10)
    want, _ = exact_top_k(queries, clustered, 10)
    recall = np.mean([len(set(g) & set(w)) / 10 for g, w in zip(got, want, strict=True)])
    assert recall >= 0.98


def test_hnsw_density_close_to_exact(clustered):
    approx = knn_density(clustered, 10, exact_threshold=100)
    exact = knn_density(clustered, 10)
    assert np.abs(approx - exact).max() < 0.01
    assert np.corrcoef(approx, exact)[0, 1] > 0.999


def test_hnsw_is_reproducible(clustered):
    a = knn_density(clustered[:1000], exact_threshold=100)
    b = knn_density(clustered[:1000], exact_threshold=100)
    np.testing.assert_array_equal(a, b)


def test_k_larger_than_the_index_is_clipped(clustered):
    for threshold in (100, 10_000):
        index = NeighborIndex(clustered[:150], exact_threshold=threshold)
        idx, sim = index.query(clustered[:2], 500)
        assert idx.shape == (2, 150)
        assert np.all(np.diff(sim, axis=1) <= 1e-6)


def test_adding_items_crosses_into_a_graph(clustered):
    index = NeighborIndex(clustered[:80], exact_threshold=100, params=HnswParams(ef_search=100))
    assert index.exact
    index.add(clustered[80:300])
    assert not index.exact and len(index) == 300
    idx, sim = index.query(clustered[250:251], 1)
    assert idx[0, 0] == 250 and sim[0, 0] == pytest.approx(1.0, abs=1e-5)


def test_dimension_mismatch_is_a_clear_error(clustered):
    index = NeighborIndex(clustered[:10])
    with pytest.raises(InvalidInputError, match="16 features but the model was built on 32"):
        index.query(np.ones((1, 16), np.float32), 3)


@pytest.mark.parametrize("k", [0, 1, 3, 8, 9, 15, 20])
def test_top_k_equals_a_stable_sort_with_ties(k):
    """The one top-k (kNN state, exact search, density candidates): ties go to lower columns."""
    rng = np.random.default_rng(k)
    scores = rng.integers(0, 4, (50, 20)).astype(np.float32)  # many exact ties
    scores[rng.random((50, 20)) < 0.1] = -np.inf
    want = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    pos, values = top_k(scores, k)
    np.testing.assert_array_equal(pos, want)
    np.testing.assert_array_equal(values, np.take_along_axis(scores, want, axis=1))
