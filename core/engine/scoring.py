"""A session's cache of raw score values, and their empirical CDFs over the pool.

Values are cached by each scorer's ``cache_key`` (its class and parameters) according to its
``mode``: ``static`` values are computed once and sorted once (:class:`StaticCDF`),
``incremental`` values are patched on the rows whose labeled neighbourhood changed since the
last read, ``dynamic`` values are recomputed on every read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InvalidInputError
from .combine import ProductHint, StaticCDF, best_of_product, empirical_cdf

if TYPE_CHECKING:
    from .scorers import Scorer
    from .state import LabeledNeighbors
    from .view import LabeledView


@dataclass
class CachedScore:
    scorer: Scorer
    values: np.ndarray
    cdf: StaticCDF | None = None


class ScoreCache:
    """Raw values of the scorers a session has used, kept valid label by label.

    Parameters
    ----------
    neighbors : LabeledNeighbors
        The session's kNN state; its changed rows tell which incremental values to patch.
    """

    def __init__(self, neighbors: LabeledNeighbors) -> None:
        self.neighbors = neighbors
        self._entries: dict[tuple, CachedScore] = {}
        # Per product of scorers, where its next argmax search starts (cost only).
        self._hints: dict[tuple, ProductHint] = {}

    def seed(self, scorer: Scorer, values) -> None:
        """Install precomputed values of a static scorer (e.g. a cached density)."""
        values = np.asarray(values, dtype=np.float64)
        n = len(self.neighbors.max_sim)
        if values.shape != (n,) or not np.isfinite(values).all():
            raise InvalidInputError(
                f"density_values must be {n} finite numbers, got shape {values.shape}")
        self._entries[scorer.cache_key] = CachedScore(scorer, values, StaticCDF(values))

    def entries(self, view: LabeledView, scorers: Sequence[Scorer]) -> list[CachedScore]:
        """The cache entry of each scorer, computed or brought up to date as needed."""
        self._patch_incremental(view)
        out = []
        for scorer in scorers:
            key = scorer.cache_key
            entry = self._entries.get(key)
            if entry is None or scorer.mode == "dynamic":
                values = _checked(scorer, scorer.compute(view), view.n_items)
                entry = CachedScore(scorer, values,
                                    StaticCDF(values) if scorer.mode == "static" else None)
                if scorer.mode != "dynamic":
                    self._entries[key] = entry
            out.append(entry)
        return out

    def values(self, view: LabeledView, scorers: Sequence[Scorer]) -> list[np.ndarray]:
        """Raw values of each scorer for every item."""
        return [entry.values for entry in self.entries(view, scorers)]

    def pool_cdfs(self, view: LabeledView, scorers: Sequence[Scorer]) -> list[np.ndarray]:
        """Each scorer's empirical CDF over the pool of ``view``, for its items in order."""
        in_pool = view.in_pool
        pool_idx = np.flatnonzero(in_pool)
        return [entry.cdf(in_pool, pool_idx) if entry.cdf is not None
                else empirical_cdf(entry.values[pool_idx])
                for entry in self.entries(view, scorers)]

    def best_items(self, view: LabeledView, scorers: Sequence[Scorer]) -> np.ndarray:
        """Pool items where the product of the scorers' pool CDFs is largest, ascending."""
        sources = [(entry.values, entry.cdf) for entry in self.entries(view, scorers)]
        hint = self._hints.setdefault(tuple(s.cache_key for s in scorers), ProductHint())
        return best_of_product(sources, view.in_pool, hint=hint)

    def _patch_incremental(self, view: LabeledView) -> None:
        changed = self.neighbors.pop_changed()
        for key, entry in list(self._entries.items()):
            if entry.scorer.mode != "incremental":
                continue
            if changed is None:
                del self._entries[key]
            elif changed.size:
                entry.values[changed] = _checked(
                    entry.scorer, entry.scorer.compute(view, changed), len(changed))


def _checked(scorer: Scorer, values, n: int) -> np.ndarray:
    """The values as a float64 array of length ``n``, or a clear error naming the scorer."""
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (n,):
        raise InvalidInputError(
            f"scorer {type(scorer).__name__} ({scorer.letter}) returned shape {values.shape}, "
            f"expected ({n},): one value per item")
    if not np.isfinite(values).all():
        raise InvalidInputError(
            f"scorer {type(scorer).__name__} ({scorer.letter}) returned NaN or infinite values")
    # Incremental values are patched in place later: never keep a caller's read-only array.
    return values if values.flags.writeable else values.copy()
