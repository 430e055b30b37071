"""Large pools: the sampled density estimate (against brute force) and the pool graph built in
the background while the session suggests items.

The pools here are small; the large-pool thresholds are lowered for the test so that the same
code paths run (``benchmarks/large_pool.py`` times them on 1M items).
"""

from __future__ import annotations

import copy
import functools
import pickle
import threading

import numpy as np
import pytest

from labelwise import LabelingSession
from labelwise.engine import graph as graph_module
from labelwise.engine import scorers
from labelwise.engine import session as session_module
from labelwise.engine.graph import PoolGraph
from labelwise.engine.index import knn_density, sampled_knn_density
from labelwise.engine.scorers import pool_density
from labelwise.engine.vectors import as_unit_rows
from labelwise.errors import InvalidInputError


def blobs(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two classes in four blobs of 8-d points, as unit rows."""
    rng = np.random.default_rng(seed)
    centers = 3 * rng.standard_normal((4, 8))
    blob = rng.integers(0, 4, n)
    X = as_unit_rows(centers[blob] + rng.standard_normal((n, 8)))
    return X, blob % 2


def brute_sampled_density(X: np.ndarray, k: int, reference: int, seed: int) -> np.ndarray:
    sample = np.sort(np.random.default_rng(seed).choice(len(X), reference, replace=False))
    out = []
    for i, x in enumerate(X):
        sims = sorted((float(x @ X[j]) for j in sample if j != i), reverse=True)
        out.append(np.mean(sims[:k]))
    return np.array(out)


# -- the sampled density -------------------------------------------------------------------
@pytest.mark.parametrize("reference, chunk", [(50, 7), (120, 1000)])
def test_sampled_density_is_the_mean_similarity_to_the_nearest_of_the_sample(reference, chunk):
    X, _ = blobs(300)
    got = sampled_knn_density(X, 10, reference=reference, seed=3, chunk_rows=chunk)
    np.testing.assert_allclose(got, brute_sampled_density(X, 10, reference, 3), atol=1e-6)


def test_sampled_density_is_reproducible_and_falls_back_to_the_exact_one_on_small_pools():
    X, _ = blobs(300)
    np.testing.assert_array_equal(sampled_knn_density(X, reference=64),
                                  sampled_knn_density(X, reference=64))
    np.testing.assert_array_equal(sampled_knn_density(X, reference=300), knn_density(X, 10))


def test_pool_density_estimates_above_the_large_pool_threshold(monkeypatch):
    X, _ = blobs(3000)
    exact = pool_density(X, "knn")
    monkeypatch.setattr(scorers, "LARGE_POOL", 1000)
    estimate = pool_density(X, "knn")
    np.testing.assert_array_equal(estimate, sampled_knn_density(X, 10))
    assert not np.allclose(estimate, exact)
    # Dense regions still rank high: the estimate follows the exact density.
    assert np.corrcoef(np.argsort(np.argsort(estimate)), np.argsort(np.argsort(exact)))[0, 1] > 0.5


# -- the graph built in the background -----------------------------------------------------
@pytest.fixture
def held_build(monkeypatch):
    """Builds of the pool graph wait for ``release.set()``: a build still running, on demand."""
    release = threading.Event()
    real = PoolGraph.build.__func__

    def slow_build(cls, vectors, *args, **kwargs):
        release.wait(30)
        return real(cls, vectors, *args, **kwargs)

    monkeypatch.setattr(PoolGraph, "build", classmethod(slow_build))
    yield release
    release.set()


def label_picks(session: LabelingSession, y: np.ndarray, count: int) -> list[int]:
    picks = []
    for _ in range(count):
        item = session.next()
        session.label(item, int(y[item]))
        picks.append(item)
    return picks


def test_the_default_builds_in_the_background_above_the_threshold_and_on_demand_below(
        monkeypatch, held_build):
    X, _ = blobs(600)
    assert not LabelingSession(X).graph_pending
    monkeypatch.setattr(session_module, "LARGE_POOL", 500)
    assert LabelingSession(X).graph_pending
    assert not LabelingSession(X, model="knn").graph_pending
    assert not LabelingSession(X, graph_build="on_demand").graph_pending


def test_auto_labels_with_the_knn_vote_while_the_graph_is_built(monkeypatch, held_build):
    # The density is estimated first, against a sample of 100 of the 600 items.
    monkeypatch.setattr(scorers, "LARGE_POOL", 500)
    monkeypatch.setattr(scorers, "sampled_knn_density",
                        functools.partial(sampled_knn_density, reference=100))
    X, y = blobs(600)
    session = LabelingSession(X, seed=0, graph_build="background")
    label_picks(session, y, 10)
    estimate = sampled_knn_density(session.vectors, reference=100)
    np.testing.assert_array_equal(session.scores()["i"].to_numpy(), estimate[session.pool])
    choice = session.model_choice
    assert choice.name == "knn" and choice.estimates["graph_pending"]
    assert "being built in the background" in choice.reason
    assert session.graph is None and session.graph_pending
    held_build.set()
    graph = session.wait_for_graph()
    assert graph is session.graph and not session.graph_pending
    assert "graph_pending" not in session.model_choice.estimates
    # The graph's density replaced the estimate, and the graph model follows every label.
    np.testing.assert_array_equal(session.scores()["i"].to_numpy(),
                                  graph.density[session.pool])
    assert sorted(session._ensure_graph_model().labels) == sorted(session.labeled.tolist())


def test_waiting_for_the_graph_first_gives_the_picks_of_a_session_given_the_graph():
    X, y = blobs(600)
    waited = LabelingSession(X, seed=1, graph_build="background")
    graph = waited.wait_for_graph()
    given = LabelingSession(X, seed=1, graph=PoolGraph.build(X))
    assert label_picks(waited, y, 12) == label_picks(given, y, 12)
    assert graph.info["reproducible"]


def test_the_graph_model_waits_for_the_build(held_build):
    X, y = blobs(600)
    session = LabelingSession(X, seed=0, model="graph", graph_build="background")
    timer = threading.Timer(0.2, held_build.set)
    timer.start()
    label_picks(session, y, 3)
    assert session.graph is not None and session.model_name == "graph"


def test_a_failed_build_is_raised_where_the_graph_is_needed(monkeypatch):
    def broken(cls, vectors, *args, **kwargs):
        raise MemoryError("no room for the graph")

    monkeypatch.setattr(PoolGraph, "build", classmethod(broken))
    session = LabelingSession(blobs(600)[0], graph_build="background")
    with pytest.raises(MemoryError, match="no room"):
        session.wait_for_graph()


def test_copies_share_the_build_and_pickling_asks_to_wait_first(held_build):
    X, y = blobs(600)
    session = LabelingSession(X, seed=0, graph_build="background")
    label_picks(session, y, 3)
    twin = copy.deepcopy(session)
    assert twin._build is session._build
    with pytest.raises(TypeError, match="wait_for_graph"):
        pickle.dumps(session)
    held_build.set()
    assert twin.wait_for_graph() is session.wait_for_graph()
    assert pickle.loads(pickle.dumps(session)).labeled.tolist() == session.labeled.tolist()


def test_wait_for_graph_builds_it_when_nothing_is_under_way_and_times_out_when_held(held_build):
    X, _ = blobs(300)
    session = LabelingSession(X, graph_build="background")
    assert session.wait_for_graph(timeout=0.05) is None
    held_build.set()
    assert session.wait_for_graph() is not None
    plain = LabelingSession(X, model="knn")
    assert plain.wait_for_graph().n_items == 300


def test_an_unknown_graph_build_is_refused():
    with pytest.raises(InvalidInputError, match="graph_build must be one of"):
        LabelingSession(blobs(50)[0], graph_build="later")


def test_pending_choice_names_the_pool_size(held_build):
    session = LabelingSession(blobs(600)[0], graph_build="background")
    choice = graph_module.graph_pending_choice(7, session._build)
    assert "600 items" in choice.reason and choice.estimates == {"n_labels": 7,
                                                                  "graph_pending": True}
