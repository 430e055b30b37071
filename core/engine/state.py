"""Incremental kNN state of a labeling session: each item's k most similar labeled items.

This is what makes "training" instant. Labeling item j costs one matrix-vector product
``X @ x_j`` and one comparison against each item's current k-th best similarity; only the rows
whose neighbourhood actually changed are touched after that. Unlabeling (undo) recomputes just
the rows that had j among their neighbours. Nothing is ever refit.

Ties are handled on purpose: among labeled items equally similar to an item, the one labeled
earlier ranks first (each label gets a sequence number; a relabel keeps it). The from-scratch
oracle in ``tests/oracle.py`` follows the same rule and must agree exactly.
"""

from __future__ import annotations

import numpy as np

from . import knn
from .topk import top_k

EMPTY = -1
# recompute() works through rows in blocks of this many, so its similarity matrix stays at
# RECOMPUTE_BLOCK x n_labeled float32 however large the pool.
RECOMPUTE_BLOCK = 2048


def _flat(array: np.ndarray) -> np.ndarray:
    """The raveled view of a C-contiguous state array (an error rather than a copy, so that
    writes through it always land in ``array``)."""
    return np.reshape(array, -1, copy=False)


class LabeledNeighbors:
    """Per-item top-k labeled neighbours, kept up to date label by label.

    Parameters
    ----------
    vectors : ndarray of shape (n, d), float32 unit rows
    k : int
        Neighbours kept per item; the vote uses k' = min(k, n_labeled) of them.

    Attributes
    ----------
    sim, idx, seq, cls : ndarray of shape (n, k)
        Similarity, item index, label sequence number and class code of each neighbour slot
        (slots are unordered; empty slots have sim=-inf and -1 elsewhere).
    max_sim : ndarray of shape (n,)
        Similarity of each item to its most similar labeled item (-inf when none).
    """

    def __init__(self, vectors: np.ndarray, k: int) -> None:
        n = len(vectors)
        self.vectors = vectors
        self.k = k
        self.sim = np.full((n, k), -np.inf, dtype=np.float32)
        self.idx = np.full((n, k), EMPTY, dtype=np.int64)
        self.seq = np.full((n, k), EMPTY, dtype=np.int64)
        self.cls = np.full((n, k), EMPTY, dtype=np.int64)
        self.max_sim = np.full(n, -np.inf, dtype=np.float32)
        # The slot to evict next and its similarity: the worst neighbour of each row.
        self._worst_sim = np.full(n, -np.inf, dtype=np.float32)
        self._worst_slot = np.zeros(n, dtype=np.int64)
        self._changed: list[np.ndarray] = []
        self._all_changed = True

    # -- updates ---------------------------------------------------------------------------
    def add(self, item: int, code: int, seq: int, vector: np.ndarray | None = None) -> np.ndarray:
        """Register a new labeled item; returns the rows whose neighbourhood changed.

        ``vector`` defaults to row ``item`` of the pool. Pass it explicitly to track items that
        are not in ``vectors`` (e.g. a holdout set whose neighbours are labeled pool items; then
        ``item`` is the pool index recorded in ``idx``).
        """
        sims = self.vectors @ (self.vectors[item] if vector is None else vector)
        return self.insert(item, code, seq, sims)

    def insert(self, item: int, code: int, seq: int, sims: np.ndarray) -> np.ndarray:
        """Like :meth:`add`, with ``sims`` (every row's similarity to ``item``) given, e.g. a
        row of a precomputed similarity matrix."""
        # Strictly better only: on equal similarity the earlier label keeps its slot.
        rows = np.flatnonzero(sims > self._worst_sim)
        new = sims[rows]
        # Each row's evicted slot as a position in the raveled (n, k) arrays: a 1-D index
        # writes 3-4x faster than the pair (rows, slots).
        at = rows * self.k + self._worst_slot[rows]
        _flat(self.sim)[at] = new
        _flat(self.idx)[at] = item
        _flat(self.seq)[at] = seq
        _flat(self.cls)[at] = code
        self.max_sim[rows] = np.maximum(self.max_sim[rows], new)
        self._refresh_worst(rows)
        self._mark(rows)
        return rows

    def relabel(self, item: int, code: int) -> np.ndarray:
        """Change the class of an already labeled item (it keeps its rank among ties)."""
        hit = self.idx == item
        self.cls[hit] = code
        rows = np.flatnonzero(hit.any(axis=1))
        self._mark(rows)
        return rows

    def remove(self, item: int, labeled: np.ndarray, labeled_seq: np.ndarray,
               labeled_cls: np.ndarray) -> np.ndarray:
        """Forget a labeled item; rows that held it are recomputed from the remaining labels.

        ``labeled``, ``labeled_seq`` and ``labeled_cls`` describe the labeled items that remain.
        """
        rows = np.flatnonzero((self.idx == item).any(axis=1))
        if rows.size:
            self.recompute(rows, labeled, labeled_seq, labeled_cls)
        return rows

    def recompute(self, rows: np.ndarray, labeled: np.ndarray, labeled_seq: np.ndarray,
                  labeled_cls: np.ndarray, labeled_vectors: np.ndarray | None = None) -> None:
        """Rebuild the neighbour slots of ``rows`` from scratch against ``labeled`` items.

        ``labeled_vectors`` (one row per labeled item) defaults to their rows of ``vectors``;
        pass them when the labeled items are not the tracked rows (e.g. a holdout set whose
        neighbours are labeled pool items).
        """
        by_seq = np.argsort(labeled_seq, kind="stable")
        labeled, labeled_seq, labeled_cls = (
            labeled[by_seq], labeled_seq[by_seq], labeled_cls[by_seq])
        take = min(self.k, len(labeled))
        chosen = self.vectors[labeled] if labeled_vectors is None else labeled_vectors[by_seq]
        targets = np.ascontiguousarray(chosen.T)
        self.sim[rows], self.idx[rows] = -np.inf, EMPTY
        self.seq[rows], self.cls[rows] = EMPTY, EMPTY
        for start in range(0, len(rows), RECOMPUTE_BLOCK):
            block = rows[start:start + RECOMPUTE_BLOCK]
            # A matrix product may differ from add()'s matrix-vector product in the last bit;
            # that can only reorder neighbours whose similarities agree to within rounding.
            # Columns are labels in labeling order: equal similarities go to the earlier label.
            pos, sim = top_k(self.vectors[block] @ targets, take, overwrite=True)
            self.sim[block, :take] = sim
            self.idx[block, :take] = labeled[pos]
            self.seq[block, :take] = labeled_seq[pos]
            self.cls[block, :take] = labeled_cls[pos]
        self.max_sim[rows] = self.sim[rows].max(axis=1)
        self._refresh_worst(rows)
        self._mark(rows)

    def _refresh_worst(self, rows: np.ndarray) -> None:
        # Evict the least similar; among equals, the latest label (largest sequence number).
        # The rows are gathered with np.take (5-10x faster than self.sim[rows] for (n, k)
        # arrays) and transposed, so that each slot is a contiguous array and the minimum over
        # the k slots takes k elementwise passes instead of a reduction along a short axis per
        # row. The sequence numbers are read only for the rare rows with a tie at the minimum.
        slots = np.take(self.sim, rows, axis=0).T.copy()
        worst = slots[0].copy()
        for j in range(1, self.k):
            # np.minimum returns its second argument on a tie: between 0.0 and -0.0 the
            # earlier slot's zero is kept, as a scan for the first minimum would.
            np.minimum(slots[j], worst, out=worst)
        at_worst = slots == worst
        # Where the minimum is in one slot only, that slot is the sum of j over the slots at
        # the minimum; ties are settled below.
        slot = np.zeros(len(rows), dtype=np.int64)
        for j in range(1, self.k):
            slot += at_worst[j] * j
        tied = np.flatnonzero(np.add.reduce(at_worst, axis=0, dtype=np.int32) > 1)
        if tied.size:
            ties = at_worst[:, tied].T
            seq = np.take(self.seq, rows[tied], axis=0)
            slot[tied] = np.where(ties, seq, EMPTY - 1).argmax(axis=1)
        self._worst_slot[rows] = slot
        self._worst_sim[rows] = worst

    def mark_changed(self, rows: np.ndarray) -> None:
        """Report ``rows`` as changed by the next pop_changed() (e.g. rows whose probabilities
        another model changed), so the incremental scores of those rows are recomputed."""
        self._mark(np.asarray(rows, dtype=np.int64))

    def _mark(self, rows: np.ndarray) -> None:
        if not self._all_changed:
            self._changed.append(rows)

    def pop_changed(self) -> np.ndarray | None:
        """Rows changed since the last call (None: assume every row changed)."""
        if self._all_changed:
            self._all_changed, self._changed = False, []
            return None
        if not self._changed:
            return np.empty(0, dtype=np.int64)
        # One update (the usual case) is already sorted and unique.
        changed = self._changed[0] if len(self._changed) == 1 else np.unique(
            np.concatenate(self._changed))
        self._changed = []
        return changed

    def invalidate(self) -> None:
        """Make the next pop_changed() report every row (e.g. after a settings change)."""
        self._all_changed, self._changed = True, []

    # -- reading ---------------------------------------------------------------------------
    def votes(self, rows: np.ndarray | None, n_classes: int, weights: str) -> np.ndarray:
        return knn.class_votes(self.rows_of(self.sim, rows), self.rows_of(self.cls, rows),
                               n_classes, weights)

    @staticmethod
    def rows_of(array: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
        """``array[rows]`` of an (n, k) state array (all of it for None), gathered by np.take:
        5-10x faster than fancy indexing of a 2-D array for the tens of thousands of rows a
        label changes in a large pool."""
        return array if rows is None else np.take(array, rows, axis=0)

    def neighbors_of(self, row: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(item indices, similarities, class codes) of a row's labeled neighbours, best first."""
        filled = self.idx[row] >= 0
        sim, idx, seq, cls = (a[row][filled] for a in (self.sim, self.idx, self.seq, self.cls))
        order = np.lexsort((seq, -sim))
        return idx[order], sim[order], cls[order]
