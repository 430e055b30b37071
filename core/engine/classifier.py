"""KNNClassifier: the labeling model as a scikit-learn estimator, for items outside the pool."""

from __future__ import annotations

import contextlib

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from ..errors import InvalidInputError, NotFittedError
from . import knn
from .index import EXACT_THRESHOLD, NeighborIndex
from .vectors import as_unit_rows, check_same_dimension


def _as_labels(y, n_rows: int) -> np.ndarray:
    arr = np.asarray(y, dtype=object) if not isinstance(y, np.ndarray) else y
    if arr.ndim != 1:
        raise InvalidInputError(f"y must be 1-D (one label per row), got shape {arr.shape}")
    if len(arr) != n_rows:
        raise InvalidInputError(f"X has {n_rows} rows but y has {len(arr)} labels")
    missing = [i for i, v in enumerate(arr) if v is None or (isinstance(v, float) and v != v)]
    if missing:
        raise InvalidInputError(f"y has missing labels at rows {missing[:5]}")
    return arr


def _sorted_classes(labels) -> np.ndarray:
    """Classes in sorted order when comparable (scikit-learn's convention), else as seen."""
    unique = list(dict.fromkeys(labels.tolist()))
    with contextlib.suppress(TypeError):
        unique.sort()
    out = np.empty(len(unique), dtype=labels.dtype if labels.dtype != object else object)
    out[:] = unique
    return out


class KNNClassifier(ClassifierMixin, BaseEstimator):
    """k-nearest-neighbour classifier by cosine similarity over an HNSW index.

    Search is exact up to ``exact_threshold`` stored items and uses hnswlib above. Votes and
    tie-breaking are those of :class:`labelwise.LabelingSession`: on equal similarity the earlier
    fitted item ranks first, and classes with equal vote weight go to the one with the most
    similar neighbour.

    Parameters
    ----------
    n_neighbors : int, default=5
    weights : {"uniform", "similarity"}, default="uniform"
    exact_threshold : int, default=5000

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    """

    def __init__(self, n_neighbors: int = 5, weights: str = "uniform",
                 exact_threshold: int = EXACT_THRESHOLD) -> None:
        self.n_neighbors = n_neighbors
        self.weights = weights
        self.exact_threshold = exact_threshold

    def fit(self, X, y) -> KNNClassifier:
        """Store the labeled vectors ``X`` with labels ``y``."""
        for attr in ("classes_", "n_features_in_", "_index", "_y"):
            self.__dict__.pop(attr, None)
        return self.partial_fit(X, y)

    def partial_fit(self, X, y) -> KNNClassifier:
        """Add labeled vectors; new classes may appear at any call."""
        knn.check_weights(self.weights)
        if not isinstance(self.n_neighbors, (int, np.integer)) or self.n_neighbors < 1:
            raise InvalidInputError(f"n_neighbors must be a positive integer, "
                                    f"got {self.n_neighbors!r}")
        X = as_unit_rows(X, name="X")
        y = _as_labels(y, len(X))
        if not hasattr(self, "_index"):
            self._index = NeighborIndex(X, exact_threshold=self.exact_threshold)
            self._y = y.astype(object)
            self.n_features_in_ = X.shape[1]
        else:
            check_same_dimension(X, self.n_features_in_)
            self._index.add(X)
            self._y = np.concatenate([self._y, y.astype(object)])
        self.classes_ = _sorted_classes(self._y)
        return self

    def _neighbors(self, X, n_neighbors: int | None):
        try:
            check_is_fitted(self, "classes_")
        except Exception as exc:
            raise NotFittedError("KNNClassifier is not fitted yet: call fit(X, y) first") from exc
        X = as_unit_rows(X, name="X")
        check_same_dimension(X, self.n_features_in_)
        return self._index.query(X, n_neighbors or self.n_neighbors)

    def kneighbors(self, X=None, n_neighbors: int | None = None, return_distance: bool = True):
        """Nearest stored items of each row: cosine distances (1 - similarity) and indices.

        With ``X=None`` the stored items are queried and each skips itself, as in scikit-learn.
        """
        k = n_neighbors or self.n_neighbors
        if X is None:
            idx, sim = self._neighbors(self._index._vectors, k + 1)
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
