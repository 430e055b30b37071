"""The argmax of S without sorting the pool, against the full product of CDFs by brute force.

``best_of_product`` must return exactly ``pool[S == S.max()]`` (ties included, ascending), so a
policy draws the same item from the same generator whichever path ran.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import oracle
from labelwise import LabelingSession
from labelwise.engine.combine import StaticCDF, best_of_product, top_segment_share


def brute_force_best(values: list[np.ndarray], in_pool: np.ndarray) -> np.ndarray:
    pool = np.flatnonzero(in_pool)
    product = np.ones(len(pool))
    for v in values:
        product = product * oracle.cdf(v[pool])
    return pool[product == product.max()]


def scores(rng: np.random.Generator, n: int, kind: str) -> np.ndarray:
    if kind == "continuous":
        return rng.random(n)
    if kind == "few":            # uncertainty under uniform votes takes a handful of values
        return rng.integers(0, 4, n) / 4.0
    if kind == "constant":       # e.g. D before any label: neutral
        return np.zeros(n)
    return np.round(rng.random(n), 2)   # many ties


KINDS = ["continuous", "few", "constant", "rounded"]


@pytest.mark.parametrize("kinds", [("continuous",), ("continuous", "continuous", "continuous"),
                                   ("few", "continuous", "rounded"), ("constant", "continuous"),
                                   ("few", "few"), ("constant", "constant", "constant")])
@pytest.mark.parametrize("static", [False, True])
def test_matches_the_full_product_on_pools_above_the_shortcut_size(kinds, static):
    rng = np.random.default_rng(len(kinds) + static)
    n = 3000
    values = [scores(rng, n, kind) for kind in kinds]
    in_pool = rng.random(n) < 0.8
    sources = [(v, StaticCDF(v) if static and i == 0 else None) for i, v in enumerate(values)]
    got = best_of_product(sources, in_pool, min_pool=1)
    np.testing.assert_array_equal(got, brute_force_best(values, in_pool))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 400),
       kinds=st.lists(st.sampled_from(KINDS), min_size=1, max_size=3),
       static=st.lists(st.booleans(), min_size=3, max_size=3),
       pool_share=st.floats(0.01, 1.0))
def test_matches_brute_force_on_any_small_pool(seed, n, kinds, static, pool_share):
    rng = np.random.default_rng(seed)
    values = [scores(rng, n, kind) for kind in kinds]
    in_pool = rng.random(n) < pool_share
    in_pool[rng.integers(n)] = True
    sources = [(v, StaticCDF(v) if s else None) for v, s in zip(values, static, strict=False)]
    expected = brute_force_best(values, in_pool)
    np.testing.assert_array_equal(best_of_product(sources, in_pool, min_pool=1), expected)
    np.testing.assert_array_equal(best_of_product(sources, in_pool), expected)


def test_a_static_score_over_a_pool_that_lost_its_top_still_finds_the_best():
    # The top of the density order is labeled: the first segments hold no pool item at all.
    rng = np.random.default_rng(3)
    n = 5000
    density, uncertainty = rng.random(n), rng.random(n)
    in_pool = np.ones(n, dtype=bool)
    in_pool[np.argsort(density)[-2000:]] = False
    got = best_of_product([(density, StaticCDF(density)), (uncertainty, None)], in_pool,
                          min_pool=1)
    np.testing.assert_array_equal(got, brute_force_best([density, uncertainty], in_pool))


def test_segment_share_shrinks_with_the_pool_and_never_passes_half():
    shares = [top_segment_share(n) for n in (1, 100, 10_000, 1_000_000)]
    assert shares == sorted(shares, reverse=True)
    assert shares[0] == 0.5 and shares[-1] < 0.05


def test_a_large_session_picks_what_the_full_product_picks():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12_000, 8)).astype(np.float32)
    y = rng.integers(0, 3, len(X))
    session = LabelingSession(X, strategy="U*I*D", seed=1, model="knn")
    for _ in range(6):
        view = session.view()
        table = session.scores()
        s = table["S"].to_numpy()
        expected = view.pool[s == s.max()]
        item = session.next()
        assert item in expected
        session.label(item, int(y[item]))
