"""The one top-k: each row's k largest values, best first, equal values in column order.

Every exact neighbour search in labelwise goes through :func:`top_k`: the labeled neighbours of
the kNN state (columns are labels in labeling order, so ties go to the earlier label), exact
search and the kNN density (columns are item indices, so ties go to the lower index), and the
simulation's density candidates.
"""

from __future__ import annotations

import numpy as np

# Up to this k the top k are found by k argmax passes (fast, and argmax returns the first
# maximum, so ties need no extra care); above, by argpartition and a sort of the k kept.
ARGMAX_PASSES = 8


def top_k(scores: np.ndarray, k: int, *, overwrite: bool = False) -> tuple[np.ndarray,
                                                                            np.ndarray]:
    """Column positions and values of each row's ``k`` largest entries, largest first.

    Parameters
    ----------
    scores : ndarray of shape (m, n)
        Finite values or -inf (an excluded entry).
    k : int
        Entries kept per row, ``0 <= k <= n``.
    overwrite : bool, default=False
        Allow ``scores`` to be overwritten (saves a copy when the caller owns a temporary).

    Returns
    -------
    positions : ndarray of shape (m, k), int64
    values : ndarray of shape (m, k), the dtype of ``scores``
        Equal values keep column order: the lower column comes first, also at the k-th place.

    Examples
    --------
    >>> top_k(np.array([[0.5, 0.9, 0.5, 0.1]]), 2)[0].tolist()
    [[1, 0]]
    """
    m, n = scores.shape
    if k == 0:
        return np.empty((m, 0), dtype=np.int64), np.empty((m, 0), dtype=scores.dtype)
    if k <= ARGMAX_PASSES:
        return _by_argmax_passes(scores if overwrite else scores.copy(), k)
    if k == n:
        pos = np.argsort(-scores, axis=1, kind="stable")
        return pos, np.take_along_axis(scores, pos, axis=1)
    return _by_partition(scores, k)


def _by_argmax_passes(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """k passes of argmax (the first maximum), each removing the winner; overwrites ``scores``."""
    rows = np.arange(len(scores))
    pos = np.empty((len(scores), k), dtype=np.int64)
    best = np.empty((len(scores), k), dtype=scores.dtype)
    for j in range(k):
        pos[:, j] = scores.argmax(axis=1)
        best[:, j] = scores[rows, pos[:, j]]
        scores[rows, pos[:, j]] = -np.inf
    return pos, best


def _by_partition(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    pos = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    part = np.take_along_axis(scores, pos, axis=1)
    pos = np.take_along_axis(pos, np.lexsort((pos, -part), axis=1), axis=1)
    # argpartition breaks ties at the k-th place arbitrarily; where the k-th value is shared
    # beyond k, sort the row stably so that the lower columns win.
    kth = np.take_along_axis(scores, pos[:, -1:], axis=1)[:, 0]
    crowded = np.flatnonzero((scores >= kth[:, None]).sum(axis=1) > k)
    if crowded.size:
        pos[crowded] = np.argsort(-scores[crowded], axis=1, kind="stable")[:, :k]
    return pos, np.take_along_axis(scores, pos, axis=1)
