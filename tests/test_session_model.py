"""The session's model (kNN vote, graph, auto) against brute force.

Brute force: label spreading by a dense solve (``oracle.graph_probabilities``), uncertainties
by ``oracle.uncertainty`` on those probabilities, leave-one-out by hand.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from synthetic_pools import lift, rings

import oracle
from labelwise import LabelingSession, Strategy
from labelwise.data.datasets import Dataset
from labelwise.engine.classifier import GraphClassifier, KNNClassifier
from labelwise.engine.graph import (
    DEFAULT_ALPHA,
    DEFAULT_TOL,
    MIN_LABELS_TO_CHOOSE,
    PoolGraph,
    knn_loo_predictions,
)
from labelwise.engine.scorers import DensityScorer
from labelwise.engine.session import STOP_SET_SIZE, SessionProgress
from labelwise.engine.stopping import StoppingMonitor
from labelwise.engine.vectors import as_unit_rows
from labelwise.errors import InvalidInputError
from labelwise.labels.projects import (
    bind_project,
    label_item,
    resume_session,
    strategy_settings,
    unlabel_item,
)
from labelwise.labels.store import LabelStore

MEASURES = ("least_confidence", "margin", "entropy")


def random_pool(n: int, dim: int, seed: int) -> np.ndarray:
    return as_unit_rows(np.random.default_rng(seed).standard_normal((n, dim)))


def nuisance_grid(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Items on a smooth nuisance factor (a jittered 40 x 40 grid position); the class
    alternates in 5 x 5 cells of it. The graph's neighbourhoods follow the position across
    cell borders, while an item's nearest labels (half the pool) sit in its own cell."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(np.arange(40), np.arange(40)), -1).reshape(-1, 2).astype(float)
    truth = ((grid[:, 0] // 5 + grid[:, 1] // 5) % 2).astype(int)
    X = lift(grid + 0.1 * rng.standard_normal(grid.shape), height=100.0)
    return X, truth, rng.choice(len(X), len(X) // 2, replace=False)


def dense_S(session: LabelingSession) -> np.ndarray:
    return session.graph.normalized.toarray()


def check_graph_session(session: LabelingSession, labels: dict[int, str]) -> None:
    """The graph session's spread values against the dense solve (to the push tolerance), and
    its predict_proba, predict and u against brute force on them."""
    graph, classes = session.graph, session.classes
    want = oracle.graph_scores(dense_S(session), labels, classes, DEFAULT_ALPHA)
    got = session.graph_model.scores(n_classes=len(classes))
    # Andersen-Chung-Lang: entry u of label i's vector is within tol sqrt(d_i d_u).
    root = np.sqrt(graph.degree)
    per_class = np.zeros(len(classes))
    for item, label in labels.items():
        per_class[classes.index(label)] += root[item]
    assert (np.abs(got - want) <= DEFAULT_TOL * root[:, None] * per_class + 1e-12).all()
    proba = session.predict_proba()
    np.testing.assert_allclose(proba, oracle.normalized_rows(got), rtol=0, atol=1e-15)
    np.testing.assert_allclose(proba, oracle.normalized_rows(want), atol=5e-3)
    if labels:
        top2 = np.sort(want, axis=1)[:, -2:] if len(classes) > 1 else None
        clear = np.ones(len(want), bool) if top2 is None else top2[:, 1] - top2[:, 0] > 1e-3
        expected = np.array(classes, dtype=object)[np.argmax(want, axis=1)]
        assert (session.predict()[clear] == expected[clear]).all()
    if len(labels) == session.n_items:
        return
    scores = session.scores()
    u = np.array([oracle.uncertainty([Fraction(p) for p in row], session.strategy.uncertainty)
                  for row in proba])
    np.testing.assert_allclose(scores["u"].to_numpy(), u[scores.index], rtol=0, atol=1e-12)
    brute = np.array([oracle.uncertainty([Fraction(p) for p in row],
                                         session.strategy.uncertainty)
                      for row in oracle.normalized_rows(want)])
    np.testing.assert_allclose(scores["u"].to_numpy(), brute[scores.index], atol=1e-2)


# -- the graph model in a session ------------------------------------------------------------
@pytest.mark.parametrize("measure", MEASURES)
def test_graph_session_equals_the_dense_solve_after_label_relabel_unlabel(measure):
    X = random_pool(40, 4, seed=1)
    session = LabelingSession(X, Strategy.parse("U*I*D", uncertainty=measure), model="graph",
                              seed=0)
    labels: dict[int, str] = {}
    steps = [("label", 0, "a"), ("label", 7, "b"), ("label", 12, "b"), ("label", 30, "c"),
             ("next", None, "a"), ("label", 12, "a"), ("unlabel", 7, None), ("label", 20, "c"),
             ("label", 7, "d"), ("next", None, "b"), ("unlabel", 0, None), ("label", 0, "b")]
    for action, item, label in steps:
        if action == "next":
            item = session.next()
            action = "label"
        if action == "label":
            session.label(item, label)
            labels[item] = label
        else:
            session.unlabel(item)
            del labels[item]
        assert session.graph_model.labels == {i: session.classes.index(c)
                                              for i, c in labels.items()}
        check_graph_session(session, labels)


def test_a_declared_class_widens_the_graph_model_and_the_uniform_rows():
    X, _, _ = rings(seed=0)
    session = LabelingSession(X, "U", model="graph")
    session.add_class("spare")
    session.label(0, "ring")
    assert session.graph_model.n_classes == 2
    unreached = ~session.graph_model.reached()
    assert unreached.any()
    np.testing.assert_array_equal(session.predict_proba()[unreached], 0.5)
    before = session.scores()["u"]
    session.add_class("third")  # no label: only the uniform rows' uncertainty changes
    after = session.scores()["u"]
    pool_unreached = unreached[after.index]
    assert (after[pool_unreached] == 1.0).all()  # margin of a uniform row
    np.testing.assert_array_equal(after[~pool_unreached], before[~pool_unreached])
    np.testing.assert_array_equal(session.predict_proba()[unreached], 1 / 3)


def test_undo_of_a_graph_label_is_exact():
    X = random_pool(60, 5, seed=2)
    session = LabelingSession(X, "U*D", model="graph", seed=0)
    session.label_many([3, 9, 14], ["a", "b", "a"])
    proba, scores = session.predict_proba(), session.scores()
    session.label(21, "b")
    session.label(3, "b")   # relabel, then undo both
    session.label(3, "a")
    session.unlabel(21)
    np.testing.assert_allclose(session.predict_proba(), proba, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(session.predict_proba() == 0, proba == 0)
    pd.testing.assert_frame_equal(session.scores(), scores, rtol=0, atol=1e-12)
    for item in (3, 9, 14):
        session.unlabel(item)
    assert not session.graph_model.reached().any()
    assert not session.graph_model.scores().any()


def test_graph_is_built_once_lazily_or_taken_as_given():
    X = random_pool(50, 4, seed=3)
    knn = LabelingSession(X, "U*I*D")
    knn.label(0, "a")
    assert knn.graph is None and knn.graph_model is None  # the kNN path never builds it
    lazy = LabelingSession(X, "U*I*D", model="graph")
    assert lazy.graph is None
    lazy.label(0, "a")
    graph = lazy.graph
    lazy.label(1, "b")
    lazy.unlabel(0)
    lazy.next()
    assert lazy.graph is graph and graph.info["method"] == "exact"
    built = PoolGraph.build(as_unit_rows(X))
    given = LabelingSession(X, "U*I*D", model="graph", graph=built)
    assert given.graph is built
    with pytest.raises(InvalidInputError, match="49 items but X has 50"):
        LabelingSession(X, model="graph", graph=PoolGraph.build(as_unit_rows(X[:49])))
    with pytest.raises(InvalidInputError, match="model must be one of"):
        LabelingSession(X, model="svm")


def test_graph_density_seeds_the_knn_density(tmp_path):
    X = random_pool(300, 6, seed=4)
    built = PoolGraph.build(as_unit_rows(X))
    built.save(tmp_path)
    loaded = PoolGraph.load(tmp_path)  # without vectors: the session attaches its own
    session = LabelingSession(X, "U*I*D", model="graph", graph=loaded)
    np.testing.assert_allclose(session.raw_score(DensityScorer("knn")), oracle.knn_density(
        session.vectors), atol=1e-6)
    np.testing.assert_array_equal(session.raw_score(DensityScorer("knn")), built.density)
    # Given density values win over the graph's.
    mine = np.linspace(0, 1, 300)
    session = LabelingSession(X, "U*I*D", model="graph", graph=built, density_values=mine)
    np.testing.assert_array_equal(session.raw_score(DensityScorer("knn")), mine)
    session.label(0, "a")
    assert session.classifier().predict(X[:3]).tolist() == ["a"] * 3


# -- auto ----------------------------------------------------------------------------------------
def assert_same_scores(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Score tables equal up to float32 rounding of the similarities.

    One label at a time and a replay or ``label_many`` compute them by a matrix-vector or a
    matrix product, whose rounding differs by CPU (the BLAS kernel): raw values agree to
    1e-6, and nearly equal values may swap places, moving a CDF by a few steps (here at
    most 1% of the pool).
    """
    raw = [column for column in a.columns if column.islower()]
    cdfs = [column for column in a.columns if not column.islower()]
    pd.testing.assert_frame_equal(a[raw], b[raw], rtol=0, atol=1e-6)
    pd.testing.assert_frame_equal(a[cdfs], b[cdfs], rtol=0, atol=0.01)


def test_auto_takes_the_graph_on_two_manifolds():
    X, truth, picked = rings(seed=0)
    session = LabelingSession(X, "U*I*D", model="auto", seed=0)
    for n, item in enumerate(picked):
        session.label(int(item), int(truth[item]))
        if n + 1 < MIN_LABELS_TO_CHOOSE:
            assert session.model_name == "knn" and "too few" in session.model_choice.reason
            assert session.graph_model is None  # not needed yet
    choice = session.model_choice
    assert choice.name == "graph" == session.model_name, choice.reason
    assert choice.estimates["graph_loo"] > choice.estimates["knn_loo"] + 0.2
    graph_session = LabelingSession(X, "U*I*D", model="graph")
    graph_session.label_many(picked, truth[picked])
    np.testing.assert_array_equal(session.predict_proba(), graph_session.predict_proba())
    assert_same_scores(session.scores(), graph_session.scores())
    unlabeled = np.setdiff1d(np.arange(len(X)), picked)
    assert (session.predict(unlabeled) == truth[unlabeled]).mean() > 0.85
    assert session.model_choice is choice  # cached while the labels stay


def test_auto_keeps_knn_where_the_graph_follows_a_nuisance_factor():
    X, truth, picked = nuisance_grid(seed=0)
    session = LabelingSession(X, "U*I*D", model="auto", seed=0)
    session.label_many(picked, truth[picked])
    choice = session.model_choice
    assert choice.name == "knn" == session.model_name, choice.reason
    assert choice.estimates["knn_loo"] > choice.estimates["graph_loo"]
    knn_session = LabelingSession(X, "U*I*D", seed=0)
    knn_session.label_many(picked, truth[picked])
    np.testing.assert_array_equal(session.predict_proba(), knn_session.predict_proba())
    pd.testing.assert_frame_equal(session.scores(), knn_session.scores())


def test_auto_switches_model_and_the_uncertainty_follows():
    X, truth, picked = rings(seed=0)
    session = LabelingSession(X, "U", model="auto", seed=0)
    session.label_many(picked[:5], truth[picked[:5]])
    knn_u = session.scores()["u"]
    session.label_many(picked[5:], truth[picked[5:]])
    assert session.model_name == "graph"
    graph_u = session.scores()["u"]
    reference = LabelingSession(X, "U", model="graph")
    reference.label_many(picked, truth[picked])
    np.testing.assert_array_equal(graph_u, reference.scores()["u"])
    for item in picked[5:]:
        session.unlabel(int(item))
    assert session.model_name == "knn"
    np.testing.assert_array_equal(session.scores()["u"], knn_u)


# -- predictions and classifiers -----------------------------------------------------------------
@pytest.mark.parametrize("model", ["knn", "graph", "auto"])
def test_predict_proba_predict_and_classifier_for_every_model(model):
    X, truth, picked = rings(seed=2)
    labels = np.array(["inner", "outer"], dtype=object)[truth]
    session = LabelingSession(X, "U*I*D", model=model, seed=0)
    with pytest.raises(Exception, match="nothing is labeled"):
        session.classifier()
    session.label_many(picked, labels[picked])
    proba = session.predict_proba()
    assert proba.shape == (800, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(session.predict_proba([5, 1]), proba[[5, 1]])
    predicted = session.predict()
    confident = np.abs(proba[:, 0] - proba[:, 1]) > 1e-9
    names = np.array(session.classes, dtype=object)
    assert (predicted[confident] == names[np.argmax(proba[confident], axis=1)]).all()
    clf = session.classifier()
    outside = lift(np.array([[1.0, 0.0], [0.0, -1.4], [1.2, 0.0]]))
    assert list(clf.classes_) == ["inner", "outer"]
    if session.model_name == "knn":
        assert isinstance(clf, KNNClassifier)
        return
    assert isinstance(clf, GraphClassifier)
    gm = session.graph_model
    want = gm.proba_outside(outside)[:, [session.classes.index(c) for c in clf.classes_]]
    np.testing.assert_allclose(clf.predict_proba(outside), want)
    codes = gm.predict_outside(outside)
    assert (codes >= 0).all()
    assert clf.predict(outside).tolist() == [session.classes[c] for c in codes]
    assert clf.score(X[picked], labels[picked]) == 1.0
    session.label(int(picked[0]), "outer")  # the classifier is a snapshot
    np.testing.assert_allclose(clf.predict_proba(outside), want)


def test_graph_classifier_falls_back_to_the_knn_vote_where_nothing_is_reached():
    rng = np.random.default_rng(0)
    near = lift(rng.normal(0, 0.05, (30, 2)))
    far = as_unit_rows(np.column_stack([rng.normal(0, 0.05, (30, 2)), np.full(30, -10.0)]))
    X = np.vstack([near, far])
    session = LabelingSession(X, "U", model="graph")
    session.label(0, "a")
    session.label(1, "b")
    unreached = ~session.graph_model.reached()
    assert unreached[30:].all()
    knn_codes = session.predict()[30:]
    assert set(knn_codes) <= {"a", "b"}  # the kNN vote, not None
    np.testing.assert_array_equal(session.predict_proba()[30:], 0.5)
    clf = session.classifier()
    np.testing.assert_array_equal(clf.predict_proba(far[:3]), 0.5)
    assert clf.predict(far[:3]).tolist() == clf.fallback.predict(far[:3]).tolist()


# -- progress and stopping -----------------------------------------------------------------------
@pytest.mark.parametrize("model", ["knn", "graph"])
def test_progress_reports_model_loo_accuracy_and_stopping(model):
    X, truth, picked = rings(seed=3)
    session = LabelingSession(X, "U*I*D", model=model, seed=0)
    progress = session.progress()
    assert isinstance(progress, SessionProgress)
    assert (progress.n_labeled, progress.n_items, progress.model) == (0, 800, model)
    assert progress.estimated_accuracy is None and progress.kappa is None
    assert not progress.stable and "21 more label(s)" in progress.recommendation
    for item in picked:
        session.label(int(item), int(truth[item]))
    items = session.labeled
    codes = np.array([session.classes.index(truth[i]) for i in items])
    if model == "knn":
        loo = knn_loo_predictions(session.vectors[items], codes, 5)
    else:
        loo = np.array([_leave_out(X, items, truth, j) for j in range(len(items))])
    progress = session.progress()
    assert progress.estimated_accuracy == pytest.approx(float(np.mean(loo == codes)))
    assert progress.kappa is None and "1 more label(s)" in progress.recommendation
    while session.n_labeled < 60:
        item = session.next()
        session.label(item, int(truth[item]))
    progress = session.progress()
    status = session.stopping_status()
    assert progress.kappa == status.kappa_window is not None
    assert progress.stable == status.stable
    assert f"estimated accuracy {progress.estimated_accuracy:.2f}" in progress.recommendation


def _leave_out(X, items, truth, j) -> int:
    """Graph prediction of labeled item j from a fresh model without its label."""
    others = LabelingSession(X, "U", model="graph")
    rest = [i for n, i in enumerate(items) if n != j]
    others.add_class(int(truth[items[0]]))
    others.label_many(rest, truth[rest])
    scores = others.graph_model.scores([items[j]], 2)[0]
    if not scores.any():
        return -1
    return int(np.argmax(scores))


def test_stopping_monitor_follows_a_fixed_stop_set():
    X = random_pool(STOP_SET_SIZE + 500, 4, seed=5)
    session = LabelingSession(X, "random", seed=0)
    stop_set = session.stop_set
    assert len(stop_set) == STOP_SET_SIZE == len(np.unique(stop_set))
    np.testing.assert_array_equal(LabelingSession(X, "U", seed=9).stop_set, stop_set)
    np.testing.assert_array_equal(LabelingSession(X[:50]).stop_set, np.arange(50))
    # The stop set has its own generator: the session's picks are those of a plain generator.
    picks = session.next(batch=25)
    assert picks == LabelingSession(X, "random", seed=0).next(batch=25)
    for n, item in enumerate(picks):
        session.label(item, n % 3)
    status = session.stopping_status()
    assert status.labels_seen == 25 and status.kappa_window is not None
    session.label_many([picks[0], picks[1]], ["x", "y"])  # relabels: one change each
    assert session.stopping_status().labels_seen == 27


@pytest.mark.parametrize("model, n", [("knn", 300), ("graph", 300), ("auto", 800),
                                      ("knn", STOP_SET_SIZE + 300)])
def test_stopping_status_equals_a_monitor_fed_full_predictions(model, n):
    """The session predicts only the stop-set rows a label changed; a monitor fed the whole
    stop set's predictions after every change must say the same."""
    X, truth, _ = rings(seed=5)
    if n > len(X):
        X = np.vstack([X, random_pool(n - len(X), 3, seed=6)])
        truth = np.concatenate([truth, np.zeros(n - len(truth), dtype=int)])
    X, truth = X[:n], truth[:n]
    session = LabelingSession(X, "U*D", model=model, seed=0)
    reference = StoppingMonitor()
    stop_set = session.stop_set
    rng = np.random.default_rng(0)

    def check() -> None:
        predicted = session.predict(stop_set)
        reference.update([-1 if p is None else session.classes.index(p) for p in predicted])
        got, want = session.stopping_status(), reference.status()
        assert got.labels_seen == want.labels_seen
        assert got.kappa_window == want.kappa_window
        assert got.kappa_min_step == want.kappa_min_step and got.stable == want.stable

    for step in range(45):
        item = session.next()
        session.label(item, int(truth[item]))
        check()
        if step % 7 == 3:
            first = int(session.labeled[0])  # relabel, to a new class the first time
            session.label(first, "odd" if session.labels[first] != "odd" else 0)
            check()
        if step % 9 == 5:
            session.unlabel(int(rng.choice(session.labeled)))
            check()
    assert session.stopping_status().kappa_window is not None


# -- resume from the store -----------------------------------------------------------------------
def test_a_resumed_graph_session_equals_the_live_one(tmp_path):
    X, truth, _ = rings(seed=4)
    dataset = Dataset("rings", X, None, pd.DataFrame({"id": [f"r{i}" for i in range(800)]}),
                      "points")
    store = LabelStore(tmp_path)
    bind_project(store, "p", dataset, settings=strategy_settings("U*I*D", k=5, seed=3))
    live = resume_session(store, "p", dataset, model="graph")
    for step in range(40):
        item = live.next()
        label_item(live, item, f"ring-{truth[item]}", who="ana")
        if step % 9 == 4:
            unlabel_item(live, int(live.labeled[1]), who="ana")
        if step % 11 == 6:
            label_item(live, int(live.labeled[0]), "odd", who="bob")
    resumed = resume_session(store, "p", dataset, model="graph")
    assert resumed.model_name == "graph" and resumed.classes == live.classes
    assert resumed.labels == live.labels
    np.testing.assert_allclose(resumed.predict_proba(), live.predict_proba(), rtol=0,
                               atol=1e-12)
    assert resumed.predict().tolist() == live.predict().tolist()
    assert_same_scores(resumed.scores(), live.scores())
    live.rng, resumed.rng = np.random.default_rng(3), np.random.default_rng(3)
    assert resumed.next(batch=5) == live.next(batch=5)


def test_a_holdout_cache_gives_the_same_scores_and_searches_the_graph_once(monkeypatch):
    from labelwise import holdout_scores
    from labelwise.engine.graph import PoolGraph as Graph

    rng = np.random.default_rng(4)
    centers = rng.standard_normal((3, 6))
    pool_y, test_y = rng.integers(0, 3, 300), rng.integers(0, 3, 60)
    X = as_unit_rows(centers[pool_y] + 0.3 * rng.standard_normal((300, 6)))
    T = as_unit_rows(centers[test_y] + 0.3 * rng.standard_normal((60, 6)))
    session = LabelingSession(X, model="graph", seed=0)
    searches = []
    search = Graph.search
    monkeypatch.setattr(Graph, "search",
                        lambda self, v, *a, **kw: searches.append(1) or search(self, v, *a, **kw))
    cache: dict = {}
    for item in rng.choice(300, 12, replace=False):
        session.label(int(item), int(pool_y[item]))
        uncached = holdout_scores(session, T, test_y)
        assert holdout_scores(session, T, test_y, cache=cache) == uncached
    assert len(searches) == 12 + 1  # once per uncached call, once for the cached ones
