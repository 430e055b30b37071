"""The labeling pool and holdout the dashboard uses, as plain rows (no Streamlit, no Dataset).

Packs ship the graph and density of this pool (see :mod:`labelwise.data.packs`), so the rows
must be exactly those of ``labelwise.dashboard.labeling.holdout_split``; tests/test_packs.py
checks that they are. If the two ever part, nothing breaks: stored pools are found by the
fingerprint of their vectors, so a different pool is simply built (and cached) on demand.
"""

from __future__ import annotations

import numpy as np

HOLDOUT_FRACTION = 0.1
HOLDOUT_MAX = 500
HOLDOUT_SEED = 0
#: Fewer items than this: no holdout, the whole dataset is the pool.
MIN_ITEMS_FOR_HOLDOUT = 20


def holdout_rows(n: int, labels=None, groups=None, *, fraction: float = HOLDOUT_FRACTION,
                 max_items: int = HOLDOUT_MAX, seed: int = HOLDOUT_SEED,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """``(pool_rows, holdout_rows)``: a seeded holdout of whole groups, when there are labels.

    Groups are drawn in a seeded random order and go to the holdout whole until it holds
    ``min(max_items, max(1, round(fraction * n)))`` items or more. Without ground truth (or
    with fewer than :data:`MIN_ITEMS_FOR_HOLDOUT` items) the whole dataset is the pool.

    Returns
    -------
    pool_rows, holdout_rows : ndarray of int64, sorted
    """
    if labels is None or n < MIN_ITEMS_FOR_HOLDOUT:
        return np.arange(n), np.empty(0, dtype=np.int64)
    rng = np.random.default_rng(seed)
    target = min(max_items, max(1, round(fraction * n)))
    groups = np.asarray(groups) if groups is not None else np.arange(n)
    chosen = np.zeros(n, dtype=bool)
    _, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    for g in rng.permutation(len(first)):
        if chosen.sum() >= target:
            break
        chosen |= inverse == g
    return np.flatnonzero(~chosen), np.flatnonzero(chosen)
