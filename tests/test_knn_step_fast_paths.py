"""The label -> next step's fast paths give exactly what the plain numpy forms give.

Each shortcut of the hot path (np.take gathers, the eviction slot by elementwise passes, the
bucketed counts of the segment CDFs, the argmax search started from a hint, the top two of a
row by columns, the unmasked divide) is compared here, bit for bit, against the form it
replaced, on data built to hit ties, empty slots and extreme values.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import oracle
from labelwise.engine import knn
from labelwise.engine.combine import (
    FEW_EDGES,
    ProductHint,
    StaticCDF,
    best_of_product,
    count_at_or_below,
)
from labelwise.engine.state import EMPTY, LabeledNeighbors


def reference_worst(sim: np.ndarray, seq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eviction slot and similarity per row as first written: the least similar slot, among
    equals the one with the largest sequence number (empty slots: the first)."""
    worst = sim.min(axis=1)
    ties = sim == worst[:, None]
    slot = np.where(ties, seq, EMPTY - 1).argmax(axis=1)
    return slot, worst


def unit_rows(rng: np.random.Generator, n: int, d: int, coarse: bool) -> np.ndarray:
    X = rng.standard_normal((n, d)).astype(np.float32)
    if coarse:  # a few distinct coordinates: many exactly equal similarities
        X = np.sign(X) + (X > 1)
        X[np.all(X == 0, axis=1), 0] = 1.0
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("coarse", [False, True])
@pytest.mark.parametrize("k", [1, 3, 5, 8])
def test_insert_keeps_the_eviction_slot_of_the_reference_rule(coarse, k):
    rng = np.random.default_rng(k + 10 * coarse)
    X = unit_rows(rng, 600, 6, coarse)
    nb = LabeledNeighbors(X, k)
    for seq, item in enumerate(rng.choice(len(X), 40, replace=False)):
        nb.add(int(item), int(rng.integers(0, 4)), seq)
        slot, worst = reference_worst(nb.sim, nb.seq)
        np.testing.assert_array_equal(nb._worst_slot, slot)
        np.testing.assert_array_equal(nb._worst_sim, worst)
        np.testing.assert_array_equal(nb.max_sim, nb.sim.max(axis=1))


def test_rows_of_is_fancy_indexing():
    rng = np.random.default_rng(0)
    array = rng.integers(-1, 9, (500, 5))
    rows = rng.choice(500, 120)
    np.testing.assert_array_equal(LabeledNeighbors.rows_of(array, rows), array[rows])
    assert LabeledNeighbors.rows_of(array, None) is array


def brute_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return (values[:, None] <= edges[None, :]).sum(axis=0)


TINY = np.finfo(np.float64).tiny
HUGE = np.finfo(np.float64).max


@pytest.mark.parametrize("kind", ["uniform", "rounded", "spread", "ulps", "extremes"])
def test_bucketed_counts_match_a_search_of_every_value(kind):
    rng = np.random.default_rng(len(kind))
    n = 4000
    values = {
        "uniform": rng.random(n),
        "rounded": np.round(rng.random(n), 3),
        "spread": rng.standard_normal(n) * 10.0 ** rng.integers(-300, 300, n),
        "ulps": 1.0 + rng.integers(-40, 40, n) * np.finfo(np.float64).eps,
        "extremes": rng.choice([-HUGE, -1.0, -0.0, 0.0, 5e-324, TINY, 1.0, HUGE], n),
    }[kind]
    for m in (1, FEW_EDGES, FEW_EDGES + 1, 300):
        edges = np.unique(rng.choice(values, m))
        np.testing.assert_array_equal(count_at_or_below(values, edges),
                                      brute_counts(values, edges))


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 500), m=st.integers(1, 200),
       decimals=st.integers(0, 4))
def test_bucketed_counts_on_any_values(seed, n, m, decimals):
    rng = np.random.default_rng(seed)
    values = np.round(rng.standard_normal(n), decimals)
    edges = np.unique(np.concatenate([rng.choice(values, m) if n else [],
                                      rng.standard_normal(2)]))
    np.testing.assert_array_equal(count_at_or_below(values, edges), brute_counts(values, edges))


def brute_force_best(values: list[np.ndarray], in_pool: np.ndarray) -> tuple[np.ndarray, float]:
    pool = np.flatnonzero(in_pool)
    product = np.ones(len(pool))
    for v in values:
        product = product * oracle.cdf(v[pool])
    return pool[product == product.max()], float(product.max())


@pytest.mark.parametrize("best_s", [None, 0.0, 0.3, 0.8, 0.97, 1.0])
def test_any_hint_gives_the_same_argmax_and_learns_the_max(best_s):
    rng = np.random.default_rng(7)
    n = 20_000
    u = rng.integers(0, 5, n) / 4.0                 # few values, a large top tie group
    d = rng.random(n)
    i = 0.5 * (1.0 - d) + 0.5 * rng.random(n)       # anti-correlated with d: max S well below 1
    in_pool = rng.random(n) < 0.9
    expected, top = brute_force_best([u, i, d], in_pool)
    hint = ProductHint(best_s)
    for _ in range(2):  # a fresh hint, then the one the first search left
        got = best_of_product([(u, None), (i, StaticCDF(i)), (d, None)], in_pool,
                              min_pool=1, hint=hint)
        np.testing.assert_array_equal(got, expected)
        assert hint.best_s == top


def test_top_two_is_the_partition_also_with_ties_and_nan():
    rng = np.random.default_rng(3)
    proba = rng.choice([0.0, 0.2, 0.25, 0.5, 1.0, np.nan], size=(3000, 6))
    proba[:1000] = rng.random((1000, 6))
    top2 = -np.partition(-proba, 1, axis=1)[:, :2]
    p1, p2 = knn._top_two(proba)
    np.testing.assert_array_equal(p1, top2[:, 0])
    np.testing.assert_array_equal(p2, top2[:, 1])


@pytest.mark.parametrize("weights", ["uniform", "similarity"])
def test_probabilities_and_uncertainty_are_the_masked_forms(weights):
    rng = np.random.default_rng(5)
    m, k, n_classes = 4000, 5, 7
    sim = rng.random((m, k)).astype(np.float32)
    cls = rng.integers(-1, n_classes, (m, k))
    cls[:300] = -1  # rows without any vote
    votes = knn.class_votes(sim, cls, n_classes, weights)
    total = votes.sum(axis=1, keepdims=True)
    masked = np.divide(votes, total, out=np.zeros_like(votes), where=total > 0)
    proba = knn.probabilities(votes)
    assert proba.tobytes() == masked.tobytes()
    top2 = -np.partition(-masked, 1, axis=1)[:, :2]
    voted = masked.sum(axis=1) > 0
    margin = np.round(np.where(voted, 1.0 - (top2[:, 0] - top2[:, 1]), 0.0),
                      knn.UNCERTAINTY_DECIMALS)
    assert knn.uncertainty(proba, "margin").tobytes() == margin.tobytes()
