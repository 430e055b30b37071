"""KNNClassifier follows scikit-learn's conventions and the engine's vote."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.neighbors import KNeighborsClassifier

from labelwise import InvalidInputError, KNNClassifier, NotFittedError


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((3, 10)) * 2
    y = rng.integers(0, 3, 400)
    X = centers[y] + rng.standard_normal((400, 10))
    return X, np.array(["a", "b", "c"])[y]


def test_matches_scikit_learn_cosine_knn(data):
    X, y = data
    ours = KNNClassifier(n_neighbors=7).fit(X[:300], y[:300])
    ref = KNeighborsClassifier(n_neighbors=7, metric="cosine", algorithm="brute")
    ref.fit(X[:300], y[:300])
    np.testing.assert_allclose(ours.predict_proba(X[300:]), ref.predict_proba(X[300:]))
    assert (ours.predict(X[300:]) == ref.predict(X[300:])).mean() > 0.97
    dist, idx = ours.kneighbors(X[300:310])
    ref_dist, ref_idx = ref.kneighbors(X[300:310])
    np.testing.assert_allclose(dist, ref_dist, atol=1e-5)
    np.testing.assert_array_equal(idx, ref_idx)


def test_graph_mode_agrees_with_exact_mode(data):
    X, y = data
    exact = KNNClassifier(n_neighbors=5).fit(X[:350], y[:350])
    graph = KNNClassifier(n_neighbors=5, exact_threshold=50).fit(X[:350], y[:350])
    assert (exact.predict(X[350:]) == graph.predict(X[350:])).mean() >= 0.98


def test_partial_fit_adds_items_and_classes(data):
    X, y = data
    clf = KNNClassifier(n_neighbors=3).partial_fit(X[:20], y[:20])
    clf.partial_fit(X[20:40], np.array(["d"] * 20))
    assert clf.classes_.tolist() == ["a", "b", "c", "d"]
    assert clf.predict(X[25:26]).tolist() == ["d"]
    assert clf.predict_proba(X[:5]).shape == (5, 4)


def test_kneighbors_without_x_skips_each_item_itself(data):
    X, y = data
    clf = KNNClassifier(n_neighbors=4).fit(X[:50], y[:50])
    _dist, idx = clf.kneighbors()
    assert idx.shape == (50, 4)
    assert not (idx == np.arange(50)[:, None]).any()


def test_estimator_conventions(data):
    X, y = data
    clf = KNNClassifier(n_neighbors=2, weights="similarity")
    assert clone(clf).get_params() == {"n_neighbors": 2, "weights": "similarity",
                                       "exact_threshold": 5000}
    with pytest.raises(NotFittedError, match="call fit"):
        clf.predict(X[:2])
    clf.fit(X[:30], y[:30])
    assert clf.n_features_in_ == 10
    assert 0.0 <= clf.score(X[30:60], y[30:60]) <= 1.0


@pytest.mark.parametrize(
    ("X", "y", "message"),
    [(np.ones((3, 4)), ["a", "b"], "3 rows but y has 2"),
     (np.ones((2, 4)), [["a"], ["b"]], "1-D"),
     (np.ones((2, 4)), ["a", None], "missing labels"),
     (np.zeros((2, 4)), ["a", "b"], "all-zero")],
)
def test_bad_training_data(X, y, message):
    with pytest.raises(InvalidInputError, match=message):
        KNNClassifier().fit(X, y)


def test_wrong_dimension_at_predict(data):
    X, y = data
    clf = KNNClassifier().fit(X[:20], y[:20])
    with pytest.raises(InvalidInputError, match="different encoder"):
        clf.predict(np.ones((2, 3)))
