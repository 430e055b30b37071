"""The read-only view of a labeling session's state that scorers and policies read.

A :class:`LabeledView` is what a scorer's ``compute`` and a policy's ``select`` see: the pool
vectors, which items are labeled (and with which class, in which order), each item's labeled
neighbours with their similarities and votes, and each item's maximum similarity to a labeled
item. Its arrays are numpy views with ``flags.writeable`` False, so nothing outside the session
can change the state; they are live (a later label shows in them), so copy what must outlast a
label. Through the view a policy also asks for score values and their pool CDFs, served from the
session's cache (:class:`labelwise.engine.scoring.ScoreCache`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from . import knn

if TYPE_CHECKING:
    from .state import LabeledNeighbors

# A scorer (labelwise.engine.scorers.Scorer). Scorers read views, so this module names the type
# without importing it: no import cycle, not even for type checkers.
AnyScorer = Any


class ScoreSource(Protocol):
    """Where a view's score values come from (:class:`labelwise.engine.scoring.ScoreCache`)."""

    def values(self, view: LabeledView, scorers: Sequence[AnyScorer]) -> list[np.ndarray]: ...

    def pool_cdfs(self, view: LabeledView, scorers: Sequence[AnyScorer]) -> list[np.ndarray]: ...

    def best_items(self, view: LabeledView, scorers: Sequence[AnyScorer]) -> np.ndarray: ...


#: ``proba(rows)``: class probabilities of ``rows`` (None: every item), (m, n_classes), from a
#: model other than the kNN vote (the session's graph model).
ProbaSource = Callable[[np.ndarray | None], np.ndarray]


def read_only(array: np.ndarray) -> np.ndarray:
    """A view of ``array`` that cannot be written through."""
    view = array.view()
    view.flags.writeable = False
    return view


class LabeledView:
    """Read-only labeled state of a pool (built by :meth:`LabelingSession.view`).

    Attributes
    ----------
    vectors : ndarray of shape (n_items, d), float32 unit rows
    in_pool : ndarray of shape (n_items,), bool
        True for unlabeled items. During a batch, the items picked so far count as labeled.
    codes : ndarray of shape (n_items,), int64
        Class code of each labeled item (its column in ``classes``), -1 when unlabeled.
    label_seq : ndarray of shape (n_items,), int64
        Labeling sequence number of each labeled item (-1 when unlabeled); orders the labels.
    max_sim : ndarray of shape (n_items,), float32
        Similarity of each item to its most similar labeled item (-inf when none); during a
        batch it also counts the items picked so far.
    neighbor_sim, neighbor_idx, neighbor_seq, neighbor_cls : ndarray of shape (n_items, k)
        Each item's k most similar labeled items (slots unordered; empty slots have sim -inf
        and -1 elsewhere): similarity, item index, label sequence number, class code.
    k : int
    weights : {"uniform", "similarity"}
    model : {"knn", "graph"}
        The model whose probabilities :meth:`proba` returns (and the uncertainty u reads).
    """

    def __init__(self, *, vectors: np.ndarray, in_pool: np.ndarray, codes: np.ndarray,
                 label_seq: np.ndarray, classes: Sequence[Hashable], neighbors: LabeledNeighbors,
                 weights: str, cache: ScoreSource, max_sim: np.ndarray | None = None,
                 proba: ProbaSource | None = None, model: str = "knn") -> None:
        self.vectors = read_only(vectors)
        self.in_pool = read_only(in_pool)
        self.codes = read_only(codes)
        self.label_seq = read_only(label_seq)
        self.max_sim = read_only(neighbors.max_sim if max_sim is None else max_sim)
        self.neighbor_sim = read_only(neighbors.sim)
        self.neighbor_idx = read_only(neighbors.idx)
        self.neighbor_seq = read_only(neighbors.seq)
        self.neighbor_cls = read_only(neighbors.cls)
        self.k = neighbors.k
        self.weights = weights
        self._classes = classes
        self._neighbors = neighbors
        self._cache = cache
        self._proba = proba
        self.model = model

    # -- the labeled state -------------------------------------------------------------------
    @property
    def n_items(self) -> int:
        return len(self.vectors)

    @property
    def n_labeled(self) -> int:
        return self.n_items - int(np.count_nonzero(self.in_pool))

    @property
    def classes(self) -> tuple[Hashable, ...]:
        """Labels seen so far, in order of first appearance (class code = position)."""
        return tuple(self._classes)

    @property
    def n_classes(self) -> int:
        return len(self._classes)

    @property
    def pool(self) -> np.ndarray:
        """Indices of the unlabeled items, ascending."""
        return np.flatnonzero(self.in_pool)

    @property
    def labeled(self) -> np.ndarray:
        """Indices of the labeled items, in the order they were first labeled."""
        items = np.flatnonzero(~self.in_pool)
        return items[np.argsort(self.label_seq[items], kind="stable")]

    def votes(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Summed kNN vote weight per class of every item (or of ``rows``), (m, n_classes)."""
        return self._neighbors.votes(rows, self.n_classes, self.weights)

    def proba(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Class probabilities of every item (or of ``rows``) under the session's model in use,
        (m, n_classes): the kNN vote normalised (rows without a vote all zero), or the graph
        model's (rows no label reaches uniform)."""
        if self._proba is None:
            return knn.probabilities(self.votes(rows))
        return self._proba(rows)

    def neighbors_of(self, row: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(item indices, similarities, class codes) of a row's labeled neighbours, best first."""
        return self._neighbors.neighbors_of(row)

    def with_picks(self, in_pool: np.ndarray, max_sim: np.ndarray) -> LabeledView:
        """The view during a batch: ``in_pool`` and ``max_sim`` count the picks made so far."""
        return LabeledView(vectors=self.vectors, in_pool=in_pool, codes=self.codes,
                           label_seq=self.label_seq, classes=self._classes,
                           neighbors=self._neighbors, weights=self.weights, cache=self._cache,
                           max_sim=max_sim, proba=self._proba, model=self.model)

    # -- scores ------------------------------------------------------------------------------
    def raw_values(self, scorer: AnyScorer) -> np.ndarray:
        """Raw values of ``scorer`` for every item (pool and labeled), cached when valid."""
        return read_only(self._cache.values(self, [scorer])[0])

    def pool_cdfs(self, scorers: Sequence[AnyScorer]) -> list[np.ndarray]:
        """Empirical CDF over the pool (``in_pool``) of each scorer's values, for the items of
        :attr:`pool` in ascending order."""
        return self._cache.pool_cdfs(self, scorers)

    def best_of_product(self, scorers: Sequence[AnyScorer]) -> np.ndarray:
        """Pool items where S, the product of the scorers' pool CDFs, is largest (ascending):
        exactly ``pool[S == S.max()]``, found without sorting the pool when it is large."""
        return self._cache.best_items(self, scorers)
