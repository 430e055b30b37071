"""Held-out evaluation: the session model's predictions of a test set, accuracy and macro-F1.

One path for every held-out score in labelwise: :func:`simulate` updates a
:class:`TestSetPredictions` label by label, and the dashboard's holdout accuracy
(:func:`holdout_accuracy`) builds one from a session's labels in a blocked pass. Both predict
exactly as :class:`~labelwise.KNNClassifier` fitted on the same labels in labeling order. When
the session's model in use is the graph (label spreading), test items take the graph's
prediction from their nearest pool items (:class:`GraphTestPredictions`, as
:class:`~labelwise.engine.classifier.GraphClassifier`), and the kNN vote where none of those
is reached by a label.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Hashable, Sequence

import numpy as np

from ..engine import knn
from ..engine.session import LabelingSession
from ..engine.state import LabeledNeighbors
from ..engine.vectors import as_unit_rows


class TestSetPredictions:
    """kNN predictions of a fixed test set, updated label by label.

    Parameters
    ----------
    test_vectors : ndarray of shape (n_test, d), unit rows
    k : int
    weights : {"uniform", "similarity"}
    n_classes : int
        Class codes run from 0 to ``n_classes - 1`` (ties between classes with equal vote and
        equal best similarity go to the lower code, as in :class:`~labelwise.KNNClassifier` whose
        codes are the sorted classes).
    similarities : callable, optional
        ``similarities(item)`` -> similarity of every test row to labeled pool item ``item``
        (e.g. from a precomputed Gram matrix); by default ``test_vectors @ vector`` with the
        vector given to :meth:`add`.

    Attributes
    ----------
    predictions : ndarray of shape (n_test,), int64
        Predicted class code of each test item (-1 while nothing is labeled).
    """

    __test__ = False  # not a pytest test class

    def __init__(self, test_vectors: np.ndarray, k: int, weights: str, n_classes: int,
                 similarities: Callable[[int], np.ndarray] | None = None) -> None:
        self.test_vectors = test_vectors
        self.neighbors = LabeledNeighbors(test_vectors, k)
        self.similarities = similarities
        self.weights = weights
        self.n_classes = n_classes
        self.predictions = np.full(len(test_vectors), -1, dtype=np.int64)
        self._seq = 0

    def add(self, item: int, code: int, vector: np.ndarray | None = None) -> None:
        """Take the label ``code`` of pool item ``item``; re-predict the rows it changed."""
        sims = (self.similarities(item) if self.similarities is not None
                else self.test_vectors @ vector)
        rows = self.neighbors.insert(item, code, self._seq, sims)
        self._seq += 1
        self._predict(rows)

    def fit(self, label_vectors: np.ndarray, codes: np.ndarray) -> TestSetPredictions:
        """Take every label at once (labeling order), in blocked matrix products."""
        n = len(codes)
        self.neighbors.recompute(np.arange(len(self.test_vectors)), np.arange(n),
                                 np.arange(n), np.asarray(codes, dtype=np.int64),
                                 labeled_vectors=label_vectors)
        self._seq = n
        self._predict(np.arange(len(self.test_vectors)))
        return self

    def _predict(self, rows: np.ndarray) -> None:
        if rows.size:
            nb = self.neighbors
            votes = knn.class_votes(nb.sim[rows], nb.cls[rows], self.n_classes, self.weights)
            self.predictions[rows] = knn.winners(votes, nb.sim[rows], nb.cls[rows])


class GraphTestPredictions:
    """The graph model's predictions of a fixed test set, from the test items' pool neighbours.

    The test items' nearest pool items (the graph's ``k``, exact search) are found once, on the
    first call; each call then costs ``O(n_test k C)``.

    Parameters
    ----------
    test_vectors : ndarray of shape (n_test, d), unit rows
    classes : sequence
        The class of each test code (``codes`` of the caller's truth), e.g. sorted labels.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, test_vectors: np.ndarray, classes: Sequence[Hashable]) -> None:
        self.test_vectors = test_vectors
        self.code_of = {c: n for n, c in enumerate(classes)}
        #: The test items' (indices, similarities) of nearest pool items, once searched.
        self.neighbors: tuple[np.ndarray, np.ndarray] | None = None

    def predict(self, session: LabelingSession, fallback: np.ndarray) -> np.ndarray:
        """Test codes predicted by ``session``'s graph model; ``fallback`` (e.g. the kNN
        tracker's codes) where no neighbour is reached."""
        model = session.graph_model
        if model is None:  # nothing labeled yet under model="graph"
            return fallback
        if self.neighbors is None:
            self.neighbors = session.graph.search(self.test_vectors)
        codes = model.predict_from_neighbors(*self.neighbors)
        # Session codes (first seen first) to the caller's codes.
        to_caller = np.array([self.code_of.get(c, -1) for c in session.classes] + [-1],
                             dtype=np.int64)
        return np.where(codes >= 0, to_caller[codes], fallback)


def accuracy_and_macro_f1(truth: np.ndarray, pred: np.ndarray, n_classes: int) -> tuple[
        float, float]:
    """Accuracy and macro-F1 of integer class codes (F1 as scikit-learn's ``f1_score``).

    Macro-F1 averages over the classes present in ``truth`` or ``pred`` (``-1``, "no
    prediction", counts as a wrong answer, not as a class); a class with no true and no
    predicted item is skipped, and 0/0 precision or recall counts as 0.
    """
    correct = truth == pred
    accuracy = float(correct.mean())
    true_count = np.bincount(truth, minlength=n_classes)
    valid = pred >= 0
    pred_count = np.bincount(pred[valid], minlength=n_classes)
    hits = np.bincount(truth[correct], minlength=n_classes)
    present = (true_count + pred_count) > 0
    denom = (true_count + pred_count)[present]
    f1 = float(np.mean(2.0 * hits[present] / denom)) if present.any() else 0.0
    return accuracy, f1


def _sorted_classes(classes: Sequence[Hashable]) -> list:
    """Classes in :class:`~labelwise.KNNClassifier`'s order: sorted, or first-seen if they
    cannot be compared."""
    out = list(classes)
    with contextlib.suppress(TypeError):
        out.sort()
    return out


def holdout_scores(session: LabelingSession, vectors, labels, *,
                   cache: dict | None = None) -> tuple[float, float] | None:
    """Accuracy and macro-F1 of the session's model in use on held-out items with known labels.

    Parameters
    ----------
    session : LabelingSession
    vectors : array-like of shape (n_holdout, d)
        Embeddings of the held-out items (not in the session's pool).
    labels : array-like of shape (n_holdout,)
        Their true labels; a label the session has never seen counts as a miss.
    cache : dict, optional
        Kept by a caller that scores the same holdout again and again (e.g. after every
        label): it holds the holdout items' nearest pool items in the session's graph, an
        exact search over the pool that is otherwise repeated on every call.

    Returns
    -------
    (accuracy, macro_f1) or None
        None while nothing is labeled.
    """
    items = session.labeled
    if not len(items):
        return None
    classes = _sorted_classes(session.classes)
    code_of = {c: n for n, c in enumerate(classes)}
    codes = np.array([code_of[session.classes[c]] for c in session.view().codes[items]],
                     dtype=np.int64)
    unseen = len(classes)  # one code for every label the model cannot predict
    truth = np.array([code_of.get(t, unseen) for t in np.asarray(labels, dtype=object)],
                     dtype=np.int64)
    test_vectors = as_unit_rows(vectors, name="holdout vectors")
    tracker = TestSetPredictions(test_vectors, session.k, session.weights, len(classes))
    tracker.fit(session.vectors[items], codes)
    pred = tracker.predictions
    if session.model_name == "graph":
        graph_tests = GraphTestPredictions(test_vectors, classes)
        # Valid for this very graph and these very vectors (compared by identity).
        if cache and cache["graph"] is session.graph and cache["vectors"] is vectors:
            graph_tests.neighbors = cache["neighbors"]
        pred = graph_tests.predict(session, pred)
        if cache is not None and graph_tests.neighbors is not None:
            cache.update(graph=session.graph, vectors=vectors, neighbors=graph_tests.neighbors)
    return accuracy_and_macro_f1(truth, pred, unseen + 1)


def holdout_accuracy(session: LabelingSession, vectors, labels, *,
                     cache: dict | None = None) -> float | None:
    """Accuracy of the session's model in use on held-out items (see :func:`holdout_scores`)."""
    scores = holdout_scores(session, vectors, labels, cache=cache)
    return None if scores is None else scores[0]
