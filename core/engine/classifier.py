"""The labeling models for items outside the pool: :class:`KNNClassifier`, a scikit-learn
estimator of the kNN vote, and :class:`GraphClassifier`, a snapshot of the session's graph model
(label spreading) with the same ``predict`` / ``predict_proba`` / ``classes_``."""

from __future__ import annotations

import contextlib
import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from ..errors import InvalidInputError, NotFittedError
from . import knn
from .graph import PoolGraph, mix_neighbors, normalize_rows, winners
from .index import EXACT_THRESHOLD, NeighborIndex
from .vectors import as_unit_rows

# scikit-learn's estimator checks this classifier fails on purpose (check name -> reason), for
# ``parametrize_with_checks(..., expected_failed_checks=...)``; tests/test_classifier.py also
# asserts the behaviour that replaces each.
SKLEARN_CHECK_DEPARTURES = {
    # The check casts random X to integers, which gives all-zero rows. A zero vector has no
    # direction, so its cosine similarity is undefined: we raise naming the rows (as the whole
    # engine does) rather than silently give it some neighbours.
    "check_estimators_dtypes": "all-zero rows of X are rejected: cosine is undefined",
    # scikit-learn ravels a column-vector y with a warning; we refuse it with a message, as any
    # y that is not one label per row (a (n, 1) y usually means df[["label"]] by mistake).
    "check_supervised_y_2d": "a column-vector y is rejected, not ravelled with a warning",
}

# Fitted state that fit() clears before starting again (partial_fit keeps it).
_FITTED_ATTRIBUTES = ("classes_", "n_features_in_", "feature_names_in_", "_index", "_y",
                      "_declared")


def _matrix(X) -> np.ndarray:
    """``X`` through scikit-learn's ``check_array``, its errors as :class:`InvalidInputError`.

    scikit-learn's messages are the ones its users know (sparse input, complex numbers,
    "Reshape your data", NaN or infinity in X), so they are kept word for word.
    """
    try:
        return check_array(X, dtype=[np.float64, np.float32], accept_sparse=False)
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from exc


def _native_labels(labels: np.ndarray) -> np.ndarray:
    """Labels in an array of their own kind: strings as str, numbers as numbers.

    An object array of Python ints (what a session or a model file holds) becomes an int array,
    so scikit-learn sees integer classes and ``predict`` returns integers. Labels of mixed kinds
    (``"cat"`` and ``3``) stay an object array.
    """
    if labels.dtype != object:
        return labels
    values = labels.tolist()
    if all(isinstance(v, str) for v in values):
        return np.array(values, dtype=str)
    if all(isinstance(v, numbers.Real) for v in values):
        return np.array(values)
    return labels


def _mixed(labels: np.ndarray) -> bool:
    return labels.dtype == object


def _as_labels(y, n_rows: int) -> np.ndarray:
    """``y`` checked as one classification label per row, in an array of the labels' kind."""
    if y is None:
        raise InvalidInputError("KNNClassifier requires y to be passed, but the target y is None")
    arr = np.asarray(y, dtype=object) if not isinstance(y, np.ndarray) else y
    if arr.ndim != 1:
        raise InvalidInputError(f"y must be 1-D (one label per row), got shape {arr.shape}")
    if len(arr) != n_rows:
        raise InvalidInputError(f"X has {n_rows} rows but y has {len(arr)} labels")
    missing = [i for i, v in enumerate(arr.tolist()) if v is None or v != v]  # v != v: NaN
    if missing:
        raise InvalidInputError(f"y has missing labels at rows {missing[:5]}")
    arr = _native_labels(arr)
    if not _mixed(arr):
        try:  # rejects continuous and infinite targets, as every scikit-learn classifier does
            check_classification_targets(arr)
        except ValueError as exc:
            raise InvalidInputError(f"y: {exc}") from exc
    return arr


def _classes_of(labels: np.ndarray) -> np.ndarray:
    """Sorted classes (scikit-learn's convention); mixed kinds in first-seen order."""
    if not _mixed(labels):
        return unique_labels(labels)
    unique = list(dict.fromkeys(labels.tolist()))
    with contextlib.suppress(TypeError):  # "cat" < 3 is undefined: keep first-seen order
        unique.sort()
    out = np.empty(len(unique), dtype=object)
    out[:] = unique
    return out


def _joined(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Two label arrays as one, without numpy casting ints to strings when kinds differ."""
    return _native_labels(np.concatenate([first.astype(object), second.astype(object)]))


class KNNClassifier(ClassifierMixin, BaseEstimator):
    """k-nearest-neighbour classifier by cosine similarity over an HNSW index.

    Search is exact up to ``exact_threshold`` stored items and uses hnswlib above. Votes and
    tie-breaking are those of :class:`labelwise.LabelingSession`: on equal similarity the earlier
    fitted item ranks first, and classes with equal vote weight go to the one with the most
    similar neighbour.

    Labels may be strings, numbers, or a mix of both; ``predict`` returns them in their own
    kind (integers for integer labels). Mixed labels cannot be sorted, so their ``classes_``
    keep first-seen order, and scikit-learn's stratified splitters refuse them: use
    ``cross_val_score(..., cv=KFold(...))`` there.

    Parameters
    ----------
    n_neighbors : int, default=5
        Neighbours that vote.
    weights : {"uniform", "similarity"}, default="uniform"
        One vote per neighbour, or votes weighted by cosine similarity.
    exact_threshold : int, default=5000
        Up to this many stored items search is brute force; above, an HNSW graph.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Known classes, sorted when the labels are of one kind.
    n_features_in_ : int
        Dimension of the fitted vectors.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names, when ``X`` was a DataFrame with string column names.
    """

    def __init__(self, n_neighbors: int = 5, weights: str = "uniform",
                 exact_threshold: int = EXACT_THRESHOLD) -> None:
        self.n_neighbors = n_neighbors
        self.weights = weights
        self.exact_threshold = exact_threshold

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, X, y) -> KNNClassifier:
        """Store the labeled vectors ``X`` (n_items, n_features) with labels ``y``."""
        for attr in _FITTED_ATTRIBUTES:
            self.__dict__.pop(attr, None)
        return self.partial_fit(X, y)

    def partial_fit(self, X, y, classes=None) -> KNNClassifier:
        """Add labeled vectors; new classes may appear at any call.

        Parameters
        ----------
        X : array-like of shape (n_items, n_features)
        y : array-like of shape (n_items,)
        classes : array-like, optional
            Classes to know from now on even before any item has them (scikit-learn's
            ``partial_fit`` convention); they get a probability column of zeros until then.
        """
        self._check_params()
        first = not hasattr(self, "_index")
        X = self._checked_fit_rows(X) if first else self._checked_query_rows(X)
        y = _as_labels(y, len(X))
        if classes is not None:
            classes = np.asarray(classes, dtype=object).ravel()
            declared = _as_labels(classes, len(classes))
            self._declared = declared if first else _joined(self._declared, declared)
        elif first:
            self._declared = y[:0]
        if first:
            self._index = NeighborIndex(X, exact_threshold=self.exact_threshold)
            self._y = y
        else:
            self._index.add(X)
            self._y = _joined(self._y, y)
        self.classes_ = _classes_of(_joined(self._declared, self._y))
        return self

    def _check_params(self) -> None:
        knn.check_weights(self.weights)
        n = self.n_neighbors
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise InvalidInputError(f"n_neighbors must be a positive integer, got {n!r}")

    def _checked_fit_rows(self, X) -> np.ndarray:
        try:  # sets n_features_in_ (and feature_names_in_ for a DataFrame)
            X = validate_data(self, X, reset=True, dtype=[np.float64, np.float32],
                              accept_sparse=False)
        except ValueError as exc:
            raise InvalidInputError(str(exc)) from exc
        return as_unit_rows(X, name="X")

    def _checked_query_rows(self, X) -> np.ndarray:
        arr = _matrix(X)
        if arr.shape[1] != self.n_features_in_:
            raise InvalidInputError(
                f"X has {arr.shape[1]} features, but KNNClassifier is expecting "
                f"{self.n_features_in_} features as input; were these items embedded with a "
                "different encoder?")
        # On the caller's X, not arr: a DataFrame's column names are compared with fit's.
        validate_data(self, X, reset=False, skip_check_array=True)
        return as_unit_rows(arr, name="X")

    # -- querying -----------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        try:
            check_is_fitted(self, "classes_")
        except Exception as exc:
            raise NotFittedError("KNNClassifier is not fitted yet: call fit(X, y) first") from exc

    def _neighbors(self, X, n_neighbors: int | None):
        self._check_fitted()
        X = self._checked_query_rows(X)
        return self._index.query(X, n_neighbors or self.n_neighbors)

    def kneighbors(self, X=None, n_neighbors: int | None = None, return_distance: bool = True):
        """Nearest stored items of each row: cosine distances (1 - similarity) and indices.

        With ``X=None`` the stored items are queried and each skips itself, as in scikit-learn.
        """
        k = n_neighbors or self.n_neighbors
        if X is None:
            self._check_fitted()
            idx, sim = self._index.query(self._index.vectors, k + 1)
            own = idx == np.arange(len(idx))[:, None]
            keep = ~own
            keep[~own.any(axis=1), -1] = False
            width = idx.shape[1] - 1
            idx, sim = idx[keep].reshape(-1, width), sim[keep].reshape(-1, width)
        else:
            idx, sim = self._neighbors(X, k)
        return (1.0 - sim, idx) if return_distance else idx

    def _votes(self, X):
        idx, sim = self._neighbors(X, None)
        code = {c: n for n, c in enumerate(self.classes_.tolist())}
        cls = np.vectorize(code.__getitem__, otypes=[np.int64])(self._y[idx])
        return knn.class_votes(sim, cls, len(self.classes_), self.weights), sim, cls

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, columns in ``classes_`` order."""
        votes, _, _ = self._votes(X)
        return knn.probabilities(votes)

    def predict(self, X) -> np.ndarray:
        """Most voted class per row (ties: the class of the most similar neighbour)."""
        votes, sim, cls = self._votes(X)
        return self.classes_[knn.winners(votes, sim, cls)]

    def score(self, X, y, sample_weight=None) -> float:
        """Mean accuracy of ``predict(X)`` against ``y`` (weighted by ``sample_weight``).

        scikit-learn's ``accuracy_score`` for labels of one kind; for mixed labels, which its
        target-type check refuses, the same weighted mean of matches computed here.
        """
        predicted = self.predict(X)
        truth = _as_labels(y, len(predicted))
        if not _mixed(truth) and not _mixed(predicted):
            from sklearn.metrics import accuracy_score  # scipy-heavy: only when scoring

            return float(accuracy_score(truth, predicted, sample_weight=sample_weight))
        matches = np.fromiter((p == t for p, t in zip(predicted.tolist(), truth.tolist(),
                                                      strict=True)), dtype=bool)
        return float(np.average(matches, weights=sample_weight))


class GraphClassifier:
    """The graph model of a session (label spreading), frozen, for items outside the pool.

    An outside item takes the kernel-weighted mean of the class distributions of its ``k``
    nearest pool items (exact search, :meth:`PoolGraph.search`), as
    :meth:`labelwise.engine.graph.GraphModel.proba_outside`. Where none of those pool items is
    reached by a label, ``predict_proba`` is uniform (the graph has no idea) and ``predict``
    falls back to the kNN vote of the same labels (``fallback``), as the session's
    ``predict`` does for unreached pool items. Built by :meth:`LabelingSession.classifier`; it
    keeps a copy of the pool's probabilities, so later labels do not change it.

    Parameters
    ----------
    graph : PoolGraph
        The pool's graph, with its vectors.
    pool_proba : ndarray of shape (n_items, n_classes)
        Class probabilities of every pool item, columns in ``classes`` order.
    pool_reached : ndarray of shape (n_items,), bool
        Whether any label reaches each pool item.
    classes : sequence
        The labels of the columns of ``pool_proba`` (the session's order: first seen first,
        which is also the tie order).
    fallback : KNNClassifier
        The kNN vote of the same labels.

    Attributes
    ----------
    classes_ : ndarray
        Known classes, sorted when they are of one kind (as :class:`KNNClassifier`); the
        columns of :meth:`predict_proba`.
    n_features_in_ : int
    """

    def __init__(self, graph: PoolGraph, pool_proba: np.ndarray, pool_reached: np.ndarray,
                 classes, fallback: KNNClassifier) -> None:
        if graph.vectors is None:
            raise InvalidInputError("GraphClassifier needs a graph that holds its pool vectors")
        self.graph = graph
        self._pool_proba = np.array(pool_proba, dtype=np.float64)
        self._pool_reached = np.array(pool_reached, dtype=bool)
        self._labels = _native_labels(np.array(list(classes), dtype=object))
        self.classes_ = _classes_of(self._labels)
        order = {label: n for n, label in enumerate(self._labels.tolist())}
        # Column of each sorted class among the session's (first-seen) columns.
        self._columns = np.array([order[c] for c in self.classes_.tolist()], dtype=np.int64)
        self.fallback = fallback
        self.n_features_in_ = graph.vectors.shape[1]

    def _rows(self, X) -> np.ndarray:
        arr = _matrix(X)
        if arr.shape[1] != self.n_features_in_:
            raise InvalidInputError(
                f"X has {arr.shape[1]} features, but the graph's pool has "
                f"{self.n_features_in_}; were these items embedded with a different encoder?")
        return arr

    def _mixed(self, arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        idx, sims = self.graph.search(as_unit_rows(arr, name="X"))
        flat = idx.ravel()
        return mix_neighbors(self._pool_proba[flat], self._pool_reached[flat], idx.shape, sims,
                             self.graph.bandwidth)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, columns in ``classes_`` order (uniform where no neighbour is
        reached)."""
        mixed, _ = self._mixed(self._rows(X))
        return normalize_rows(mixed)[:, self._columns]

    def predict(self, X) -> np.ndarray:
        """Most probable class per row (ties: the class labeled first); the kNN vote where no
        neighbour is reached."""
        arr = self._rows(X)
        mixed, reached = self._mixed(arr)
        codes = winners(normalize_rows(mixed))
        out = self._labels[np.maximum(codes, 0)].astype(object)
        missing = np.flatnonzero(~reached | (codes < 0))
        if missing.size:
            out[missing] = self.fallback.predict(arr[missing]).astype(object)
        return _native_labels(out)

    def score(self, X, y) -> float:
        """Mean accuracy of :meth:`predict` against ``y``."""
        predicted = self.predict(X).tolist()
        truth = np.asarray(y, dtype=object).tolist()
        return float(np.mean([p == t for p, t in zip(predicted, truth, strict=True)]))
