"""The pool graph, label spreading, the model choice and the stopping monitor, against brute force.

Brute force here means: the kNN graph by sorting every row in Python, label spreading by
``numpy.linalg.solve`` of ``(I - a S) F = (1 - a) Y``, leave-one-out by actually leaving each
label out, kappa by hand.
"""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from synthetic_pools import lift, rings

from labelwise.engine.graph import (
    MIN_LABELS_TO_CHOOSE,
    GraphHnswParams,
    GraphModel,
    PoolGraph,
    choose_model,
    knn_loo_predictions,
    too_few_to_choose,
)
from labelwise.engine.stopping import StoppingMonitor, cohen_kappa
from labelwise.engine.vectors import as_unit_rows
from labelwise.errors import InvalidInputError, UnknownItemError


def random_pool(n: int, dim: int, seed: int) -> np.ndarray:
    return as_unit_rows(np.random.default_rng(seed).standard_normal((n, dim)))


def tied_pool() -> np.ndarray:
    """Vectors from {-1, 0, 1}^4: many exactly equal similarities, and duplicates."""
    rng = np.random.default_rng(3)
    X = rng.integers(-1, 2, (70, 4))
    X[X.sum(axis=1) == 0, 0] = 1
    X = X[np.abs(X).sum(axis=1) > 0]
    return as_unit_rows(X)


@functools.cache
def small_graph() -> PoolGraph:
    return PoolGraph.build(random_pool(40, 4, seed=1), k=5)


def dense_spreading(graph: PoolGraph, labels: dict[int, int], alpha: float,
                    n_classes: int) -> np.ndarray:
    S = graph.normalized.toarray()
    Y = np.zeros((graph.n_items, n_classes))
    for item, code in labels.items():
        Y[item, code] = 1.0
    return np.linalg.solve(np.eye(graph.n_items) - alpha * S, (1.0 - alpha) * Y)


def push_error_bound(graph: PoolGraph, labels: dict[int, int], tol: float,
                     n_classes: int) -> np.ndarray:
    """Andersen-Chung-Lang bound: entry u of a label's vector is off by <= tol sqrt(d_i d_u)."""
    root = np.sqrt(graph.degree)
    per_class = np.zeros(n_classes)
    for item, code in labels.items():
        per_class[code] += root[item]
    return tol * root[:, None] * per_class[None, :] + 1e-12


# -- the graph ---------------------------------------------------------------------------------
def brute_force_knn(X: np.ndarray, k: int) -> list[list[int]]:
    sims = X @ X.T
    return [sorted((j for j in range(len(X)) if j != i), key=lambda j: (-sims[i, j], j))[:k]
            for i in range(len(X))]


@pytest.mark.parametrize("X", [random_pool(60, 5, seed=0), tied_pool()], ids=["random", "ties"])
def test_graph_equals_brute_force_knn_graph(X):
    k = 6
    graph = PoolGraph.build(X, k=k)
    want = brute_force_knn(X, k)
    assert graph.neighbors.tolist() == want
    sims = X @ X.T
    distance = np.array([[1.0 - float(sims[i, j]) for j in row] for i, row in enumerate(want)])
    bandwidth = distance.mean()
    assert graph.bandwidth == pytest.approx(bandwidth, rel=1e-12)
    W = np.zeros((len(X), len(X)))
    for i, row in enumerate(want):
        for j, dist in zip(row, distance[i], strict=True):
            w = np.exp(-dist / bandwidth)
            W[i, j] = max(W[i, j], w)
            W[j, i] = max(W[j, i], w)
    np.testing.assert_allclose(graph.weights.toarray(), W, rtol=1e-12, atol=0)
    np.testing.assert_allclose(graph.degree, W.sum(axis=1), rtol=1e-12)
    d = W.sum(axis=1)
    np.testing.assert_allclose(graph.normalized.toarray(), W / np.sqrt(np.outer(d, d)),
                               rtol=1e-12, atol=1e-15)


def test_density_is_mean_similarity_to_the_nearest_other_items():
    X = random_pool(80, 6, seed=2)
    graph = PoolGraph.build(X)
    sims = X @ X.T
    np.fill_diagonal(sims, -np.inf)
    want = np.sort(sims, axis=1)[:, ::-1][:, :10].astype(np.float64).mean(axis=1)
    np.testing.assert_allclose(graph.density, want, rtol=0, atol=1e-6)


def test_k_is_clipped_to_the_pool_and_a_single_item_has_no_edges():
    graph = PoolGraph.build(random_pool(4, 3, seed=0), k=10)
    assert graph.neighbors.shape == (4, 3) and graph.info["k"] == 3
    single = PoolGraph.build(random_pool(1, 3, seed=0))
    assert single.weights.nnz == 0
    model = GraphModel(single, alpha=0.9)
    model.add(0, 0)
    # An isolated item keeps (1 - a) of its own label: (I - a S)^-1 e = e when S = 0.
    np.testing.assert_allclose(model.scores(), [[0.1]], rtol=1e-15)
    np.testing.assert_array_equal(model.proba(), [[1.0]])


def clustered(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((20, 16))
    return as_unit_rows(centers[rng.integers(0, 20, n)] + 0.5 * rng.standard_normal((n, 16)))


def test_hnsw_graph_is_close_to_exact_and_reproducible_with_one_thread():
    X = clustered(1500, seed=0)
    exact = PoolGraph.build(X)
    params = GraphHnswParams(threads=1, seed=7)
    approx = PoolGraph.build(X, exact_threshold=100, hnsw=params)
    again = PoolGraph.build(X, exact_threshold=100, hnsw=params)
    assert approx.info["method"] == "hnsw" and approx.info["reproducible"]
    assert approx.info["seed"] == 7
    recall = np.mean([len(set(a) & set(b)) / 10
                      for a, b in zip(approx.neighbors, exact.neighbors, strict=True)])
    assert recall >= 0.95
    assert not (approx.neighbors == np.arange(len(X))[:, None]).any()
    np.testing.assert_array_equal(approx.neighbors, again.neighbors)
    assert not PoolGraph.build(X, exact_threshold=100).info["reproducible"]  # 2 threads


def test_save_load_round_trip_without_pickle(tmp_path):
    X = random_pool(50, 4, seed=4)
    graph = PoolGraph.build(X, k=5)
    graph.save(tmp_path)
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".json"] + [".npy"] * 5
    loaded = PoolGraph.load(tmp_path, X)
    for name in ("neighbors", "similarities", "degree"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(graph, name))
    assert (loaded.weights != graph.weights).nnz == 0
    assert loaded.bandwidth == graph.bandwidth
    assert loaded.info == json.loads(json.dumps(graph.info))
    a, b = GraphModel(graph), GraphModel(loaded)
    for model in (a, b):
        model.add(3, 0)
        model.add(17, 1)
    np.testing.assert_array_equal(a.scores(), b.scores())
    np.testing.assert_array_equal(a.proba_outside(X[:5]), b.proba_outside(X[:5]))
    with pytest.raises(InvalidInputError, match="50 items"):
        PoolGraph.load(tmp_path, X[:10])
    with pytest.raises(InvalidInputError, match="without the pool vectors"):
        GraphModel(PoolGraph.load(tmp_path)).proba_outside(X[:2])


# -- label spreading -----------------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [0.5, 0.9, 0.99])
def test_spreading_equals_dense_solve(alpha):
    graph = small_graph()
    labels = {0: 0, 7: 1, 12: 1, 30: 2}
    model = GraphModel(graph, alpha=alpha, tol=1e-7)
    for item, code in labels.items():
        model.add(item, code)
    want = dense_spreading(graph, labels, alpha, 3)
    error = np.abs(model.scores() - want)
    assert (error <= push_error_bound(graph, labels, 1e-7, 3)).all()
    assert np.array_equal(model.predict(), np.argmax(want, axis=1))


operations = st.lists(st.tuples(st.sampled_from(["add", "remove", "relabel"]),
                                st.integers(0, 39), st.integers(0, 2)), max_size=25)


@settings(max_examples=40, deadline=None)
@given(ops=operations, alpha=st.sampled_from([0.6, 0.9, 0.99]),
       tol=st.sampled_from([1e-4, 1e-6]))
def test_incremental_model_tracks_the_dense_solve(ops, alpha, tol):
    graph = small_graph()
    model = GraphModel(graph, alpha=alpha, tol=tol)
    labels: dict[int, int] = {}
    for kind, item, code in ops:
        if kind == "add" and item not in labels:
            model.add(item, code)
            labels[item] = code
        elif kind == "remove" and item in labels:
            model.remove(item, labels.pop(item))
        elif kind == "relabel" and item in labels:
            model.relabel(item, labels[item], code)
            labels[item] = code
    assert model.labels == labels
    want = dense_spreading(graph, labels, alpha, 3)
    got = model.scores(n_classes=3)
    assert (np.abs(got - want) <= push_error_bound(graph, labels, tol, 3)).all()
    # Entries no remaining label reaches are exactly zero, whatever came and went before.
    fresh = GraphModel(graph, alpha=alpha, tol=tol)
    for item, code in labels.items():
        fresh.add(item, code)
    np.testing.assert_allclose(got, fresh.scores(n_classes=3), rtol=0, atol=1e-14)
    np.testing.assert_array_equal(got == 0, fresh.scores(n_classes=3) == 0)


def test_undo_subtracts_exactly_what_the_label_added():
    model = GraphModel(small_graph(), alpha=0.9)
    model.add(1, 0)
    model.add(2, 1)
    before = model.scores()
    model.add(5, 1)
    model.remove(5)
    np.testing.assert_allclose(model.scores(), before, rtol=0, atol=1e-16)
    model.remove(1, 0)
    model.remove(2)
    np.testing.assert_array_equal(model.scores(), np.zeros_like(before))
    assert not model.reached().any()


def test_relabel_moves_the_vector_to_the_new_class():
    graph = small_graph()
    moved, direct = GraphModel(graph), GraphModel(graph)
    moved.add(4, 0)
    moved.add(9, 1)
    moved.relabel(4, 0, 2)
    direct.add(9, 1)
    direct.add(4, 2)
    np.testing.assert_allclose(moved.scores(), direct.scores(), rtol=0, atol=1e-16)
    assert moved.labels == {9: 1, 4: 2}


def test_updates_return_exactly_the_rows_that_changed():
    X = two_far_clusters()
    model = GraphModel(PoolGraph.build(X, k=4))
    model.add(0, 0)
    model.add(1, 1)
    before = model.proba()
    changed = model.add(5, 1)
    differs = np.flatnonzero((model.proba() != before).any(axis=1))
    assert set(differs) <= set(changed.tolist()) <= set(range(12))
    assert len(differs) >= 10
    np.testing.assert_array_equal(model.relabel(5, 1, 0), changed)
    # A label of a new class adds a column: then the unreached rows' uniform rows change too.
    model.add(7, 2)
    np.testing.assert_array_equal(model.proba(np.arange(12, 24)), np.full((12, 3), 1 / 3))
    np.testing.assert_array_equal(model.remove(5), changed)


def test_bad_updates_are_refused():
    model = GraphModel(small_graph())
    model.add(0, 0)
    with pytest.raises(UnknownItemError, match="already labeled"):
        model.add(0, 1)
    with pytest.raises(UnknownItemError, match="not labeled"):
        model.remove(1)
    with pytest.raises(InvalidInputError, match="has class 0"):
        model.remove(0, 1)
    with pytest.raises(UnknownItemError, match="pool index"):
        model.add(40, 0)
    with pytest.raises(InvalidInputError, match="class code"):
        model.add(2, -1)
    with pytest.raises(InvalidInputError, match="alpha"):
        GraphModel(small_graph(), alpha=1.0)


def test_probabilities_sum_to_one_and_pad_to_the_session_classes():
    model = GraphModel(small_graph())
    model.add(0, 0)
    model.add(10, 1)
    proba = model.proba(n_classes=4)
    assert proba.shape == (40, 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert (proba[:, 2:][model.reached()] == 0).all()
    np.testing.assert_array_equal(model.proba([10, 0]), model.proba()[[10, 0]])
    with pytest.raises(InvalidInputError, match="fewer"):
        model.proba(n_classes=1)


def two_far_clusters() -> np.ndarray:
    rng = np.random.default_rng(0)
    points = np.concatenate([rng.normal(0.0, 0.1, (12, 2)), rng.normal(20.0, 0.1, (12, 2))])
    return lift(points, height=5.0)


def test_items_no_label_reaches_are_uniform_and_predicted_minus_one():
    X = two_far_clusters()
    graph = PoolGraph.build(X, k=4)
    model = GraphModel(graph)
    model.add(0, 0)
    model.add(1, 1)
    far = np.arange(12, 24)
    assert model.reached().tolist() == [True] * 12 + [False] * 12
    np.testing.assert_array_equal(model.proba(far), np.full((12, 2), 0.5))
    np.testing.assert_array_equal(model.predict(far), -1)
    assert (model.predict(np.arange(12)) >= 0).all()
    outside = X[[12, 2]] * 1.0
    np.testing.assert_array_equal(model.predict_outside(outside)[0], -1)
    np.testing.assert_array_equal(model.proba_outside(outside)[0], [0.5, 0.5])


def test_a_tie_between_classes_goes_to_the_lower_code():
    angles = np.array([-0.3, 0.0, 0.3])
    X = lift(np.column_stack([np.cos(angles), np.sin(angles)]), height=0.0)
    graph = PoolGraph.build(X, k=2)
    for first, second in ((0, 1), (1, 0)):
        model = GraphModel(graph)
        model.add(0, first)
        model.add(2, second)
        row = model.scores([1])[0]
        assert row[0] == pytest.approx(row[1], rel=1e-12)
        assert model.predict([1]).tolist() == [0]


def test_outside_items_take_the_weighted_mean_of_their_neighbours_rows():
    X = random_pool(60, 4, seed=5)
    graph = PoolGraph.build(X, k=5)
    model = GraphModel(graph)
    for item, code in ((0, 0), (11, 1), (23, 2), (40, 1)):
        model.add(item, code)
    queries = random_pool(7, 4, seed=6)
    got = model.proba_outside(queries)
    proba = model.proba()
    reached = model.reached()
    sims = queries @ X.T
    for q in range(len(queries)):
        near = sorted(range(len(X)), key=lambda j: (-sims[q, j], j))[:5]
        w = np.array([np.exp(-(1.0 - float(sims[q, j])) / graph.bandwidth) * reached[j]
                      for j in near])
        want = (w[:, None] * proba[near]).sum(axis=0) / w.sum()
        np.testing.assert_allclose(got[q], want, rtol=1e-12)


# -- leave-one-out and the model choice ---------------------------------------------------------
def labeled_model(X: np.ndarray, labels: dict[int, int]) -> GraphModel:
    model = GraphModel(PoolGraph.build(X))
    for item, code in labels.items():
        model.add(item, code)
    return model


def test_graph_leave_one_out_equals_leaving_each_label_out():
    X = random_pool(80, 3, seed=8)
    rng = np.random.default_rng(8)
    labels = {int(i): int(c) for i, c in zip(rng.choice(80, 15, replace=False),
                                             rng.integers(0, 3, 15), strict=True)}
    model = labeled_model(X, labels)
    items, codes, pred = model.loo_predictions()
    assert dict(zip(items.tolist(), codes.tolist(), strict=True)) == labels
    for item, code, p in zip(items, codes, pred, strict=True):
        model.remove(int(item))
        assert p == model.predict([item])[0]
        model.add(int(item), int(code))


def test_knn_leave_one_out_equals_a_vote_by_hand():
    X = random_pool(30, 3, seed=9)
    codes = np.random.default_rng(9).integers(0, 2, 30)
    got = knn_loo_predictions(X, codes, k=3)
    sims = X @ X.T
    for j in range(30):
        near = sorted((i for i in range(30) if i != j), key=lambda i: (-sims[j, i], i))[:3]
        votes = np.bincount(codes[near], minlength=2)
        if votes[0] != votes[1]:
            assert got[j] == np.argmax(votes)


def rings_labeled(seed: int) -> tuple[np.ndarray, np.ndarray, dict[int, int]]:
    """:func:`synthetic_pools.rings` with its picked items labeled by their ring."""
    X, truth, picked = rings(seed)
    return X, truth, {int(i): int(truth[i]) for i in picked}


def checkerboard(seed: int) -> tuple[np.ndarray, dict[int, int]]:
    """A jittered grid with 5 x 5 checkerboard classes, half labeled: the pool's graph spreads
    labels across many cells, the labeled neighbours of an item sit in its own cell."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(np.arange(40), np.arange(40)), -1).reshape(-1, 2).astype(float)
    truth = ((grid[:, 0] // 5 + grid[:, 1] // 5) % 2).astype(int)
    X = lift(grid + 0.1 * rng.standard_normal(grid.shape), height=100.0)
    picked = rng.choice(len(X), len(X) // 2, replace=False)
    return X, {int(i): int(truth[i]) for i in picked}


def test_choose_model_takes_the_graph_where_classes_follow_the_pool():
    X, truth, labels = rings_labeled(seed=0)
    model = labeled_model(X, labels)
    name, reason, estimates = choose_model(model, X)
    assert name == "graph", reason
    assert estimates["graph_loo"] > estimates["knn_loo"] + 0.2
    unlabeled = np.setdiff1d(np.arange(800), list(labels))
    assert (model.predict(unlabeled) == truth[unlabeled]).mean() > 0.85


def test_choose_model_keeps_knn_where_the_graph_blurs_the_classes():
    X, labels = checkerboard(seed=0)
    name, reason, estimates = choose_model(labeled_model(X, labels), X)
    assert name == "knn", reason
    assert estimates["knn_only"] > 1.5 * estimates["graph_only"]
    assert estimates["knn_loo"] > estimates["graph_loo"]


def test_choose_model_keeps_knn_with_too_few_labels():
    X, _, labels = rings_labeled(seed=0)
    n = MIN_LABELS_TO_CHOOSE - 1
    few = dict(list(labels.items())[:n])
    name, reason, estimates = choose_model(labeled_model(X, few), X)
    assert name == "knn" and "too few" in reason and estimates == {"n_labels": n}


# -- stopping ------------------------------------------------------------------------------------
def test_kappa_against_a_hand_computation():
    a = [0, 0, 1, 1, 2, 2, 0, 1]
    b = [0, 1, 1, 1, 2, 0, 0, 1]
    # p_o = 6/8; p_e = (3*3 + 3*4 + 2*1) / 64 = 23/64; kappa = (48 - 23) / (64 - 23).
    assert cohen_kappa(a, b) == pytest.approx(25 / 41, rel=1e-12)
    assert cohen_kappa(a, a) == 1.0
    assert cohen_kappa([2, 2, 2], [2, 2, 2]) == 1.0
    # -1 (no prediction) is a category of its own: p_o = 2/4, p_e = (1*0 + 1*3 + 2*1)/16.
    assert cohen_kappa([-1, 0, 1, 1], [0, 0, 1, 0]) == pytest.approx(3 / 11, rel=1e-12)
    with pytest.raises(InvalidInputError):
        cohen_kappa([0, 1], [0])


def test_stopping_monitor_waits_then_reports_stability_and_change():
    monitor = StoppingMonitor(window=3, threshold=0.99)
    steady = np.array([0, 1, 1, 2, 0, 1])
    status = monitor.update(steady)
    assert not status.stable and status.kappa_window is None
    assert "3 more label(s)" in status.recommendation
    for _ in range(3):
        status = monitor.update(steady, estimated_accuracy=0.9)
    assert status.stable and status.kappa_window == 1.0
    assert status.recommendation.startswith("predictions have been stable for the last 3 labels")
    assert "estimated accuracy 0.90" in status.recommendation
    changed = steady.copy()
    changed[0] = 2
    status = monitor.update(changed)
    assert not status.stable
    assert status.kappa_window == pytest.approx(cohen_kappa(steady, changed))
    assert "still changing" in status.recommendation
    # The change stays inside the window until `window` more labels have passed.
    for _ in range(2):
        assert not monitor.update(changed).stable
    assert monitor.update(changed).stable
    with pytest.raises(InvalidInputError, match="stop set"):
        monitor.update(changed[:3])


def brute_force_kappa(a, b) -> float:
    """Kappa by counting pairs of categories, with no integer shortcut."""
    a, b = [str(v) for v in a], [str(v) for v in b]
    categories = sorted(set(a) | set(b))
    n = len(a)
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    expected = sum(a.count(c) * b.count(c) for c in categories) / n**2
    return 1.0 if expected == 1 else (observed - expected) / (1 - expected)


@settings(max_examples=60, deadline=None)
@given(pairs=st.lists(st.tuples(st.integers(-1, 4), st.integers(-1, 4)), min_size=1,
                      max_size=40))
def test_kappa_of_integer_codes_equals_brute_force(pairs):
    a = np.array([p[0] for p in pairs], dtype=np.int32)
    b = np.array([p[1] for p in pairs], dtype=np.int32)
    assert cohen_kappa(a, b) == pytest.approx(brute_force_kappa(a, b), rel=1e-12, abs=1e-12)
    # Codes far apart (no offset table) and strings take the general path: the same kappa.
    assert cohen_kappa(a * 10**6, b * 10**6) == pytest.approx(cohen_kappa(a, b), abs=1e-12)
    assert cohen_kappa(a.astype(str), b.astype(str)) == pytest.approx(cohen_kappa(a, b),
                                                                      abs=1e-12)


def test_status_takes_an_accuracy_estimate_read_later():
    monitor = StoppingMonitor(window=1)
    monitor.update([0, 1], estimated_accuracy=0.5)
    assert "estimated accuracy 0.50" in monitor.status().recommendation
    status = monitor.status(estimated_accuracy=0.75)
    assert status.estimated_accuracy == 0.75
    assert "estimated accuracy 0.75" in status.recommendation


# -- read-outs the session builds on ---------------------------------------------------------------
def test_predict_from_neighbors_equals_predict_outside_and_a_hand_mix():
    graph = small_graph()
    model = GraphModel(graph)
    model.add(0, 0)
    model.add(7, 1)
    model.add(12, 2)
    outside = random_pool(6, 4, seed=11)
    idx, sims = graph.search(outside)
    np.testing.assert_array_equal(model.predict_from_neighbors(idx, sims),
                                  model.predict_outside(outside))
    # By hand: kernel weights of reached neighbours times their rows, argmax.
    w = np.exp(-(1 - sims.astype(np.float64)) / graph.bandwidth) * model.reached(
        idx.ravel()).reshape(idx.shape)
    mixed = np.einsum("mk,mkc->mc", w, model.proba(idx.ravel()).reshape(*idx.shape, 3))
    np.testing.assert_allclose(model.proba_from_neighbors(idx, sims),
                               mixed / mixed.sum(axis=1, keepdims=True))
    np.testing.assert_array_equal(model.predict_from_neighbors(idx, sims),
                                  np.argmax(mixed, axis=1))


def test_ensure_classes_adds_zero_columns_and_too_few_needs_no_graph():
    model = GraphModel(small_graph())
    model.ensure_classes(3)
    assert model.n_classes == 3 and not model.scores().any()
    model.add(4, 1)
    model.ensure_classes(2)  # never shrinks
    assert model.n_classes == 3 and not model.scores()[:, [0, 2]].any()
    assert model.predict([4]).tolist() == [1]
    assert too_few_to_choose(1) == choose_model(model, small_graph().vectors)
