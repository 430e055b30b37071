"""``model="auto"``: the choice between the kNN vote and the graph from the labels alone.

The rule (:func:`labelwise.engine.graph.choose_model`): exact leave-one-out of both models on
the labels, the graph only when a one-sided exact sign test on the discordant items says it
wins, the kNN vote on ties, with one class and below ``MIN_LABELS_TO_CHOOSE`` labels.
"""

from __future__ import annotations

from fractions import Fraction
from math import comb

import numpy as np
import pytest
from synthetic_pools import lift, rings

from labelwise import LabelingSession
from labelwise.engine import graph as graph_module
from labelwise.engine.graph import (
    CHOICE_Z,
    MIN_LABELS_TO_CHOOSE,
    GraphModel,
    PoolGraph,
    choose_model,
    sign_test_p,
)


def checkerboard(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A jittered grid with 5 x 5 checkerboard cells: the graph spreads labels across cells,
    an item's labeled neighbours sit in its own cell (the kNN vote is clearly best)."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(np.arange(40), np.arange(40)), -1).reshape(-1, 2).astype(float)
    truth = ((grid[:, 0] // 5 + grid[:, 1] // 5) % 2).astype(int)
    return lift(grid + 0.1 * rng.standard_normal(grid.shape), height=100.0), truth


def labeled_session(X: np.ndarray, truth: np.ndarray, picked: np.ndarray,
                    seed: int = 0) -> LabelingSession:
    session = LabelingSession(X, "U", model="auto", seed=seed)
    session.label_many([int(i) for i in picked], [int(truth[i]) for i in picked])
    return session


# -- the sign test -------------------------------------------------------------------------------
@pytest.mark.parametrize("wins, losses", [(0, 0), (4, 0), (3, 3), (6, 1), (1, 6), (10, 3)])
def test_sign_test_p_is_the_binomial_tail(wins, losses):
    n = wins + losses
    want = Fraction(sum(comb(n, i) for i in range(wins, n + 1)), 2 ** n) if n else Fraction(1)
    assert sign_test_p(wins, losses) == pytest.approx(float(want), rel=1e-12)


def fake_choice(monkeypatch, codes: np.ndarray, graph_pred: np.ndarray,
                knn_pred: np.ndarray):
    """``choose_model`` on given leave-one-out predictions of both models."""
    class Fake:
        def loo_predictions(self):
            return np.arange(len(codes)), codes, graph_pred

    monkeypatch.setattr(graph_module, "knn_loo_predictions", lambda *a, **k: knn_pred)
    return choose_model(Fake(), np.zeros((len(codes), 3)))  # type: ignore[arg-type]


def records(n: int, graph_only: int, knn_only: int) -> tuple[np.ndarray, ...]:
    """Leave-one-out predictions of ``n`` labels with the given discordant counts (the other
    items: both models right)."""
    codes = np.zeros(n, dtype=np.int64)
    graph_pred, knn_pred = codes.copy(), codes.copy()
    knn_pred[:graph_only] = 1
    graph_pred[graph_only:graph_only + knn_only] = 1
    return codes, graph_pred, knn_pred


@pytest.mark.parametrize("graph_only, knn_only, want", [
    (3, 0, "graph"), (2, 0, "knn"), (5, 1, "graph"), (4, 1, "knn"), (6, 2, "graph"),
    (5, 2, "knn"), (8, 3, "graph"), (3, 3, "knn"), (0, 0, "knn"), (0, 5, "knn")])
def test_the_graph_needs_a_clear_win_on_the_discordant_items(monkeypatch, graph_only, knn_only,
                                                             want):
    choice = fake_choice(monkeypatch, *records(12, graph_only, knn_only))
    assert choice.name == want, choice.reason
    assert (choice.estimates["graph_only"], choice.estimates["knn_only"]) == (graph_only,
                                                                              knn_only)
    assert choice.estimates["p_value"] == pytest.approx(sign_test_p(graph_only, knn_only))


def test_a_stricter_z_keeps_knn(monkeypatch):
    codes, graph_pred, knn_pred = records(12, 4, 0)
    assert fake_choice(monkeypatch, codes, graph_pred, knn_pred).name == "graph"
    monkeypatch.setattr(graph_module, "knn_loo_predictions", lambda *a, **k: knn_pred)

    class Fake:
        def loo_predictions(self):
            return np.arange(12), codes, graph_pred

    strict = choose_model(Fake(), np.zeros((12, 3)), z=CHOICE_Z + 1)  # type: ignore[arg-type]
    assert strict.name == "knn"


def test_too_few_labels_keep_knn_without_comparing(monkeypatch):
    n = MIN_LABELS_TO_CHOOSE - 1
    choice = fake_choice(monkeypatch, *records(n, n, 0))
    assert choice.name == "knn" and "too few" in choice.reason
    assert choice.estimates == {"n_labels": n}


# -- on pools --------------------------------------------------------------------------------------
def test_auto_takes_the_graph_where_the_classes_follow_the_pool():
    X, truth, _ = rings(seed=0)
    rng = np.random.default_rng(1)
    picked = np.concatenate([rng.choice(400, 8, replace=False),
                             400 + rng.choice(400, 8, replace=False)])
    session = labeled_session(X, truth, picked)
    assert session.model_name == "graph", session.model_choice.reason
    est = session.model_choice.estimates
    assert est["graph_only"] > est["knn_only"]


def test_auto_keeps_knn_where_the_graph_blurs_the_classes():
    X, truth = checkerboard(seed=0)
    picked = np.random.default_rng(0).choice(len(X), len(X) // 2, replace=False)
    session = labeled_session(X, truth, picked)
    assert session.model_name == "knn", session.model_choice.reason
    est = session.model_choice.estimates
    assert est["knn_only"] > est["graph_only"]


def test_one_class_keeps_knn():
    X, truth, _ = rings(seed=0)
    picked = np.arange(MIN_LABELS_TO_CHOOSE + 4)  # all on the inner ring
    session = labeled_session(X, truth, picked)
    choice = session.model_choice
    assert session.model_name == "knn"
    # With one class the vote is always right; the graph can at best tie (an item its graph
    # does not reach from the other labels gets no prediction).
    assert choice.estimates["knn_loo"] == 1.0 and choice.estimates["graph_only"] == 0


def test_below_the_minimum_a_session_keeps_knn_and_builds_no_graph():
    X, truth, _ = rings(seed=0)
    session = labeled_session(X, truth, np.array([0, 1, 2, 400, 401]))
    assert session.model_name == "knn" and "too few" in session.model_choice.reason
    assert session.graph_model is None


def test_the_choice_is_reproducible_with_a_seed():
    X, truth, _ = rings(seed=3)

    def run() -> tuple[list[int], list[str], dict]:
        session = LabelingSession(X, "U*I*D", model="auto", seed=7)
        session.label_many([0, 400], [0, 1])
        names = []
        for _ in range(14):
            item = int(session.next())
            session.label(item, int(truth[item]))
            names.append(session.model_name)
        return np.asarray(session.labeled).tolist(), names, session.model_choice.estimates

    assert run() == run()


def test_choose_model_on_a_real_graph_matches_the_session():
    X, truth, _ = rings(seed=0)
    picked = np.concatenate([np.arange(8), 400 + np.arange(8)])
    session = labeled_session(X, truth, picked)
    model = GraphModel(PoolGraph.build(X))
    model.ensure_classes(2)
    for i in picked:
        model.add(int(i), int(truth[i]))
    assert choose_model(model, session.vectors) == session.model_choice
