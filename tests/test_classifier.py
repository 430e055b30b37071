"""KNNClassifier follows scikit-learn's conventions and the engine's vote."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.metrics import accuracy_score
from sklearn.model_selection import KFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.utils.estimator_checks import estimator_checks_generator

from labelwise import InvalidInputError, KNNClassifier, LabelwiseError, NotFittedError
from labelwise.engine.classifier import SKLEARN_CHECK_DEPARTURES as DEPARTURES


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


# ---------------------------------------------------------------------- scikit-learn's contract


def _check_name(check) -> str:
    return getattr(check, "func", check).__name__


# Every check scikit-learn has for a classifier, as plain callables. Two kinds are set apart
# instead of being skipped or marked xfail: the declared departures (each must still fail, so
# a departure that stops being one is noticed) and the array-API check, which needs
# SCIPY_ARRAY_API set before scipy is imported and so runs in a fresh interpreter below.
SEPARATE = {"check_array_api_input"}
CHECKS = [(estimator, check) for estimator, check in
          estimator_checks_generator(KNNClassifier(), mark=None)
          if _check_name(check) not in SEPARATE]


@pytest.mark.parametrize(("estimator", "check"),
                         [c for c in CHECKS if _check_name(c[1]) not in DEPARTURES],
                         ids=lambda value: _check_name(value) if callable(value) else "")
def test_passes_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize(("estimator", "check"),
                         [c for c in CHECKS if _check_name(c[1]) in DEPARTURES],
                         ids=lambda value: _check_name(value) if callable(value) else "")
def test_declared_departures_are_real(estimator, check):
    """Each departure in SKLEARN_CHECK_DEPARTURES still departs (the reason is in its comment)."""
    with pytest.raises((AssertionError, ValueError)):
        check(estimator)


def test_every_check_is_covered():
    assert {_check_name(c) for _, c in CHECKS} >= set(DEPARTURES)
    assert len(CHECKS) > 40


def test_array_api_dispatch_leaves_numpy_results_alone():
    """The one check above that scikit-learn skips: it needs SCIPY_ARRAY_API set before scipy
    is imported, so it runs in a fresh interpreter."""
    code = ("from sklearn.utils.estimator_checks import check_array_api_input\n"
            "from labelwise import KNNClassifier\n"
            "check_array_api_input('KNNClassifier', KNNClassifier(), array_namespace='numpy',\n"
            "                      expect_only_array_outputs=False)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "SCIPY_ARRAY_API": "1"}, check=False)
    assert result.returncode == 0, result.stderr


def test_declared_departures_raise_clear_errors():
    with pytest.raises(InvalidInputError, match="all-zero vectors in row 1"):
        KNNClassifier().fit(np.array([[1, 0], [0, 0]]), [0, 1])
    with pytest.raises(InvalidInputError, match="1-D"):
        KNNClassifier().fit(np.eye(3), np.array([[0], [1], [2]]))


def blobs_with(labels, n=120, seed=1):
    """Three separated blobs in 6-D, labeled by ``labels`` (one per blob)."""
    rng = np.random.default_rng(seed)
    blob = rng.integers(0, 3, n)
    X = np.eye(6)[blob * 2] * 4 + rng.standard_normal((n, 6)) * 0.5
    y = np.empty(n, dtype=object)
    y[:] = [labels[b] for b in blob]
    return X, y


@pytest.mark.parametrize(
    ("labels", "kind"),
    [([3, 1, 2], "i"), (["b", "c", "a"], "U"), ([1.0, 2.0, 3.0], "f"), ([True, False, True], "b")])
def test_labels_of_one_kind_come_back_in_that_kind(labels, kind):
    X, y = blobs_with(labels)
    native = np.array(y.tolist())
    for given in (native, y, y.tolist()):  # numpy array, object array, list
        clf = KNNClassifier(n_neighbors=3).fit(X, given)
        assert clf.classes_.dtype.kind == kind
        assert clf.classes_.tolist() == sorted(set(labels))
        assert clf.predict(X).dtype.kind == kind
        assert clf.score(X, given) == pytest.approx(np.mean(clf.predict(X) == native))


def test_integer_labels_score_and_cross_validate():
    X, y = blobs_with([0, 1, 2])
    y = y.astype(np.int64)
    clf = KNNClassifier(n_neighbors=5).fit(X[:90], y[:90])
    assert clf.score(X[90:], y[90:]) == pytest.approx(
        accuracy_score(y[90:], clf.predict(X[90:])))
    scores = cross_val_score(KNNClassifier(n_neighbors=5), X, y, cv=3)
    assert np.isfinite(scores).all() and scores.min() > 0.9


def test_string_labels_cross_validate():
    X, y = blobs_with(["apple", "pear", "plum"])
    scores = cross_val_score(KNNClassifier(n_neighbors=5), X, y.astype(str), cv=3)
    assert np.isfinite(scores).all() and scores.min() > 0.9


def test_mixed_labels_keep_their_values_and_score():
    X, y = blobs_with(["cat", 3, 2.5])
    clf = KNNClassifier(n_neighbors=3).fit(X, y)
    assert clf.classes_.dtype == object and set(clf.classes_.tolist()) == {"cat", 3, 2.5}
    predicted = clf.predict(X)
    assert {type(p) for p in predicted.tolist()} == {str, int, float}
    weights = np.linspace(0.1, 1.0, len(y))
    expected = np.average([p == t for p, t in zip(predicted, y, strict=True)], weights=weights)
    assert clf.score(X, y, sample_weight=weights) == pytest.approx(expected)
    # Stratified splitters sort the labels, which mixed kinds cannot be: plain folds work.
    scores = cross_val_score(KNNClassifier(n_neighbors=3), X, y,
                             cv=KFold(3, shuffle=True, random_state=0))
    assert np.isfinite(scores).all() and scores.min() > 0.9


def test_partial_fit_with_another_kind_of_label_does_not_cast_them():
    X, y = blobs_with([0, 1, 2])
    clf = KNNClassifier(n_neighbors=1).partial_fit(X[:60], y[:60].astype(np.int64))
    clf.partial_fit(X[60:], np.array(["new"] * 60))
    assert set(clf.classes_.tolist()) == {0, 1, 2, "new"}
    assert clf.predict(X[:1]).tolist() in ([0], [1], [2])


def test_partial_fit_declares_classes_before_they_are_seen(data):
    X, y = data
    clf = KNNClassifier(n_neighbors=3).partial_fit(X[:20], y[:20], classes=["a", "b", "c", "z"])
    assert clf.classes_.tolist() == ["a", "b", "c", "z"]
    np.testing.assert_array_equal(clf.predict_proba(X[:5])[:, 3], 0.0)


def test_not_fitted_error_is_labelwise_and_scikit_learn_kind():
    with pytest.raises(NotFittedError) as caught:
        KNNClassifier().predict_proba(np.ones((1, 3)))
    assert isinstance(caught.value, SklearnNotFittedError)
    assert isinstance(caught.value, LabelwiseError)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, AttributeError)


def test_integer_labels_survive_a_model_file(tmp_path):
    X, y = blobs_with([7, 8, 9])
    session_labels = np.empty(len(y), dtype=object)  # what sessions and model files hold
    session_labels[:] = [int(v) for v in y]
    clf = KNNClassifier(n_neighbors=3).fit(X, session_labels)
    assert clf.predict(X[:3]).dtype.kind == "i"
    assert clf.score(X, y.astype(np.int64)) > 0.9


# ---------------------------------------------------------------------------------- import cost


@pytest.mark.parametrize("module", ["labelwise", "labelwise.errors"])
def test_importing_the_engine_does_not_load_scikit_learn(module):
    """scikit-learn costs about a second to import; ``import labelwise`` must not pay it."""
    code = (f"import sys, {module}, labelwise\n"
            "assert 'sklearn' not in sys.modules, 'sklearn was imported'\n"
            "from labelwise import NotFittedError\n"
            "from sklearn.exceptions import NotFittedError as Base\n"
            "assert issubclass(NotFittedError, Base)\n"
            "assert labelwise.errors.NotFittedError is NotFittedError\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
