"""The incremental engine equals the from-scratch oracle after any sequence of operations."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import oracle
from labelwise import LabelingSession, Strategy

DIM = 8


@st.composite
def dyadic_rows(draw, min_rows=2, max_rows=14):
    """Unit vectors whose dot products are exact in float32: many exact ties, no rounding.

    A row is either +-1 on one coordinate or +-0.5 on four coordinates.
    """
    n = draw(st.integers(min_rows, max_rows))
    rows = []
    for _ in range(n):
        row = np.zeros(DIM, dtype=np.float32)
        if draw(st.booleans()):
            row[draw(st.integers(0, DIM - 1))] = draw(st.sampled_from([-1.0, 1.0]))
        else:
            coords = draw(st.lists(st.integers(0, DIM - 1), min_size=4, max_size=4,
                                   unique=True))
            row[coords] = [draw(st.sampled_from([-0.5, 0.5])) for _ in coords]
        rows.append(row)
    return np.array(rows)


operations = st.lists(
    st.tuples(st.sampled_from(["label", "label", "label", "unlabel", "next"]),
              st.integers(0, 100), st.sampled_from(["a", "b", "c"])),
    min_size=1, max_size=25)


def check_against_oracle(session: LabelingSession, labels: dict[int, str], order: list[int],
                         measure: str, density: str, weights: str) -> None:
    X = session.vectors
    expected_nbrs = oracle.neighbors(X, order, session.k)
    view = session.view()
    for row in range(len(X)):
        idx, sim, _ = view.neighbors_of(row)
        assert idx.tolist() == [j for j, _ in expected_nbrs[row]], f"row {row}"
        np.testing.assert_array_equal(sim, np.float32([s for _, s in expected_nbrs[row]]))
    proba = session.predict_proba()
    expected = oracle.probabilities(expected_nbrs, labels, session.classes, weights)
    np.testing.assert_allclose(proba, expected, atol=1e-12)
    if len(labels) == len(X):
        return
    got = session.scores()
    ref = oracle.scores(X, order, labels, session.classes, k=session.k, weights=weights,
                        measure=measure, density=density, factors=session.strategy.factors)
    assert got.index.tolist() == ref["item"].tolist()
    for column in ("u", "i", "d", "U", "I", "D", "S"):
        np.testing.assert_allclose(got[column].to_numpy(), ref[column], atol=1e-6,
                                   err_msg=column)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(X=dyadic_rows(), ops=operations, k=st.integers(1, 12),
       measure=st.sampled_from(["least_confidence", "margin", "entropy"]),
       weights=st.sampled_from(["uniform", "similarity"]),
       factors=st.sampled_from(["U*I*D", "U", "I*D", "U*D", "D"]))
def test_incremental_state_equals_oracle(X, ops, k, measure, weights, factors):
    strategy = Strategy.parse(factors, uncertainty=measure)
    session = LabelingSession(X, strategy, k=k, weights=weights, seed=0)
    labels: dict[int, str] = {}
    order: list[int] = []
    for action, raw_item, label in ops:
        item = raw_item % len(X)
        if action == "label":
            if len(labels) == len(X) - 1 and item not in labels:
                continue
            session.label(item, label)
            if item not in labels:
                order.append(item)
            labels[item] = label
        elif action == "unlabel" and item in labels:
            session.unlabel(item)
            del labels[item]
            order.remove(item)
        elif action == "next":
            pick = session.next()
            ref = oracle.scores(X, order, labels, session.classes, k=k, weights=weights,
                                measure=measure, density="knn", factors=strategy.factors)
            best = ref["item"][np.isclose(ref["S"], ref["S"].max(), atol=1e-9)]
            assert pick in best
        check_against_oracle(session, labels, order, measure, "knn", weights)


@pytest.mark.parametrize("density", ["knn", "global"])
def test_gaussian_pool_matches_oracle(density):
    """Continuous data (no ties): every score agrees with brute force to float precision."""
    rng = np.random.default_rng(3)
    centers = rng.standard_normal((4, 16))
    X = np.repeat(centers, 15, axis=0) + 0.5 * rng.standard_normal((60, 16))
    truth = np.repeat(list("abcd"), 15)
    strategy = Strategy.parse("U*I*D", uncertainty="entropy", density=density)
    session = LabelingSession(X, strategy, k=5, weights="similarity", seed=1)
    order = []
    for _ in range(12):
        item = session.next()
        session.label(item, truth[item])
        order.append(item)
    labels = {i: truth[i] for i in order}
    got = session.scores()
    ref = oracle.scores(session.vectors, order, labels, session.classes, k=5,
                        weights="similarity", measure="entropy", density=density,
                        factors=("U", "I", "D"))
    for column in ("u", "d", "U", "D", "S"):
        np.testing.assert_allclose(got[column].to_numpy(), ref[column], atol=1e-5)
    np.testing.assert_allclose(got["i"].to_numpy(), ref["i"], atol=1e-4)


# -- the graph model ------------------------------------------------------------------------------
graph_operations = st.lists(
    st.tuples(st.sampled_from(["label", "label", "label", "unlabel", "next"]),
              st.integers(0, 100), st.sampled_from(["a", "b", "c"])),
    min_size=1, max_size=20)


def check_graph_against_oracle(session: LabelingSession, labels: dict[int, str],
                               measure: str) -> None:
    """Spread values against the dense solve (to the push tolerance); probabilities and u
    against brute force on them."""
    from labelwise.engine.graph import DEFAULT_ALPHA, DEFAULT_TOL

    proba = session.predict_proba()  # builds the graph if nothing needed it yet
    classes, graph = session.classes, session.graph
    want = oracle.graph_scores(graph.normalized.toarray(), labels, classes, DEFAULT_ALPHA)
    got = session.graph_model.scores(n_classes=len(classes))
    root = np.sqrt(graph.degree)
    per_class = np.zeros(len(classes))
    for item, label in labels.items():
        per_class[classes.index(label)] += root[item]
    assert (np.abs(got - want) <= DEFAULT_TOL * root[:, None] * per_class + 1e-12).all()
    np.testing.assert_allclose(proba, oracle.normalized_rows(got), rtol=0, atol=1e-15)
    if len(labels) == len(session.vectors):
        return
    scores = session.scores()
    u = np.array([oracle.uncertainty([Fraction(p) for p in row], measure) for row in proba])
    np.testing.assert_allclose(scores["u"].to_numpy(), u[scores.index], rtol=0, atol=1e-12)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**16), n=st.integers(3, 30), ops=graph_operations,
       measure=st.sampled_from(["least_confidence", "margin", "entropy"]))
def test_graph_session_equals_the_dense_solve_after_any_operations(seed, n, ops, measure):
    X = np.random.default_rng(seed).standard_normal((n, 5))
    session = LabelingSession(X, Strategy.parse("U*D", uncertainty=measure), model="graph",
                              seed=0)
    labels: dict[int, str] = {}
    for action, raw_item, label in ops:
        item = raw_item % n
        if action == "next":
            if len(labels) == n:
                continue
            item = session.next()
            action = "label"
        if action == "label":
            session.label(item, label)
            labels[item] = label
        elif item in labels:
            session.unlabel(item)
            del labels[item]
        check_graph_against_oracle(session, labels, measure)
