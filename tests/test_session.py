"""LabelingSession behaviour: edge cases, batches, reproducibility, errors."""

from __future__ import annotations

import numpy as np
import pytest

from labelwise import (
    EmptyPoolError,
    InvalidInputError,
    KNNClassifier,
    LabelingSession,
    LabelwiseError,
    UnknownItemError,
)


@pytest.fixture
def blobs():
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((3, 12)) * 3
    X = np.repeat(centers, 40, axis=0) + rng.standard_normal((120, 12))
    return X, np.repeat(["x", "y", "z"], 40)


def test_fewer_labels_than_k_vote_with_all_of_them():
    X = np.eye(3)
    session = LabelingSession(X, "U", k=5)
    session.label(0, "a")
    session.label(1, "b")
    proba = session.predict_proba()
    assert session.classes == ["a", "b"]
    np.testing.assert_allclose(proba, [[0.5, 0.5]] * 3)


def test_one_class_makes_uncertainty_neutral(blobs):
    X, _ = blobs
    session = LabelingSession(X, "U", seed=0)
    session.label(0, "only")
    session.label(50, "only")
    scores = session.scores()
    assert (scores["u"] == 0).all()
    assert (scores["U"] == 1).all()


def test_nothing_labeled_makes_u_and_d_neutral(blobs):
    X, _ = blobs
    scores = LabelingSession(X, "U*I*D").scores()
    assert (scores["U"] == 1).all() and (scores["D"] == 1).all()
    np.testing.assert_allclose(scores["S"], scores["I"])


def test_relabel_replaces_the_label_and_keeps_one_entry():
    X = np.eye(4) + 0.1
    session = LabelingSession(X, "U", k=1)
    session.label(0, "a")
    session.label(0, "b")
    assert session.labels == {0: "b"}
    assert session.n_labeled == 1
    assert session.predict()[1] == "b"
    assert session.explain(1)["label"].tolist() == ["b"]


def test_unlabel_restores_the_previous_state(blobs):
    X, y = blobs
    session = LabelingSession(X, "U*I*D", seed=0)
    for i in (0, 45, 90):
        session.label(i, y[i])
    before = session.scores()
    session.label(10, y[10])
    session.unlabel(10)
    after = session.scores()
    assert after.index.equals(before.index)
    # Undo recomputes similarities with a matrix product instead of label()'s matrix-vector
    # product: equal to within float32 rounding, not always to the last bit.
    np.testing.assert_allclose(after.to_numpy(), before.to_numpy(), atol=1e-6)


def test_unlabel_of_an_unlabeled_item_is_a_clear_error():
    session = LabelingSession(np.eye(3))
    with pytest.raises(UnknownItemError, match="not labeled"):
        session.unlabel(1)


def test_one_item_pool():
    session = LabelingSession(np.ones((1, 4)), "U*I*D")
    assert session.next() == 0
    session.label(0, "a")
    with pytest.raises(EmptyPoolError, match="all 1 items are labeled"):
        session.next()
    with pytest.raises(EmptyPoolError):
        session.scores()


def test_labeling_every_item_then_asking_for_more_raises(blobs):
    X, y = blobs
    session = LabelingSession(X[:5], "U*D", seed=0)
    for _ in range(5):
        i = session.next()
        session.label(i, y[i])
    assert session.n_labeled == 5
    with pytest.raises(EmptyPoolError):
        session.next(batch=2)


@pytest.mark.parametrize("strategy", ["U*I*D", "random", "D"])
def test_batch_is_distinct_and_clipped_to_the_pool(blobs, strategy):
    X, _ = blobs
    session = LabelingSession(X[:12], strategy, seed=0)
    batch = session.next(batch=10)
    assert len(batch) == len(set(batch)) == 10
    assert sorted(session.next(batch=50)) == list(range(12))


def test_batch_spreads_out_with_diversity():
    # Two tight clusters: D alone must not pick the second item next to the first.
    rng = np.random.default_rng(1)
    X = np.vstack([[1, 0, 0] + 0.01 * rng.standard_normal((10, 3)),
                   [0, 1, 0] + 0.01 * rng.standard_normal((10, 3))])
    session = LabelingSession(X, "D", seed=0)
    first, second = session.next(batch=2)
    assert (first < 10) != (second < 10)


def test_same_seed_same_picks(blobs):
    X, y = blobs

    def run(seed):
        session = LabelingSession(X, "U*D", seed=seed)
        picks = []
        for _ in range(15):
            i = session.next()
            session.label(i, y[i])
            picks.append(i)
        return picks

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_ties_are_broken_at_random_but_reproducibly():
    X = np.eye(6)
    picks = {LabelingSession(X, "D", seed=s).next() for s in range(40)}
    assert len(picks) > 3
    assert LabelingSession(X, "D", seed=3).next() == LabelingSession(X, "D", seed=3).next()


def test_explain_lists_nearest_labeled_neighbours_best_first(blobs):
    X, y = blobs
    session = LabelingSession(X, "U", k=3)
    for i in (0, 1, 50, 100):
        session.label(i, y[i])
    table = session.explain(2)
    assert list(table.columns) == ["item", "similarity", "label"]
    assert len(table) == 3
    assert table["similarity"].is_monotonic_decreasing
    assert set(table["item"]) <= {0, 1, 50, 100}


def test_new_class_can_appear_any_time(blobs):
    X, _y = blobs
    session = LabelingSession(X, "U")
    session.label(0, "x")
    session.label(50, "y")
    session.label(100, ("tuple", 1))
    assert session.predict_proba().shape == (120, 3)
    assert session.classes[-1] == ("tuple", 1)


def test_classifier_predicts_like_the_session(blobs):
    X, y = blobs
    session = LabelingSession(X, "U*I*D", k=3, seed=0)
    for _ in range(20):
        i = session.next()
        session.label(i, y[i])
    clf = session.classifier()
    assert isinstance(clf, KNNClassifier)
    assert clf.predict(X).tolist() == session.predict().tolist()


@pytest.mark.parametrize(
    ("X", "message"),
    [
        (np.array([[1.0, 0], [np.nan, 1]]), "NaN or infinite values in row 1"),
        (np.array([[1.0, 0], [0, np.inf]]), "NaN or infinite values in row 1"),
        (np.array([[0.0, 0], [1, 1], [0, 0]]), "all-zero vectors in rows 0, 2"),
        (np.array([1.0, 2.0]), "must be 2-D"),
        (np.empty((0, 3)), "at least 1 row"),
        (np.array([["a", "b"]]), "must hold real numbers"),
    ],
)
def test_bad_vectors_are_refused_with_the_rows_named(X, message):
    with pytest.raises(InvalidInputError, match=message):
        LabelingSession(X)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"k": 0}, "k must be a positive integer"), ({"weights": "distance"}, "weights must be"),
     ({"strategy": "U*X"}, "unknown score letter"), ({"strategy": "U**D"}, "cannot read")],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(LabelwiseError, match=message):
        LabelingSession(np.eye(3), **kwargs)


def test_bad_items_and_labels_are_refused():
    session = LabelingSession(np.eye(3))
    with pytest.raises(UnknownItemError, match="outside the pool"):
        session.label(3, "a")
    with pytest.raises(UnknownItemError, match="pool index"):
        session.label("0", "a")
    with pytest.raises(InvalidInputError, match="hashable"):
        session.label(0, ["a"])
    with pytest.raises(InvalidInputError, match="batch"):
        session.next(batch=0)
    with pytest.raises(InvalidInputError, match="density_values"):
        LabelingSession(np.eye(3), density_values=[1.0, 2.0])


def test_precomputed_density_is_used_as_given():
    session = LabelingSession(np.eye(3), "I", density_values=[0.1, 0.9, 0.5])
    assert session.next() == 1


def test_predictions_of_some_items_match_the_whole_pool(blobs):
    X, y = blobs
    session = LabelingSession(X, "U*D", seed=0)
    for _ in range(12):
        item = session.next()
        session.label(item, y[item])
    some = [3, 77, 3, 119]
    np.testing.assert_array_equal(session.predict_proba(some), session.predict_proba()[some])
    assert session.predict(some).tolist() == session.predict()[some].tolist()
