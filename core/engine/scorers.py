"""Scorers: the raw per-item quantities u (uncertainty), i (density) and d (diversity).

A scorer is one small class registered under a capital letter; strategies multiply the
empirical CDFs of the letters they enable. To add one::

    @register_scorer
    class NoveltyScorer(Scorer):
        letter, column, mode = "N", "n", "dynamic"
        def compute(self, ctx, rows=None):
            return ...  # one value per pool item, higher = more worth labeling

``mode`` tells the session how to cache: ``static`` values depend on the pool only (computed
once, sorted once); ``incremental`` values change only on rows whose labeled neighbourhood
changed (``rows`` is then the list to recompute, None meaning all); ``dynamic`` values are
recomputed on every call, so they must cost O(N).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from ..errors import InvalidInputError
from . import knn
from .index import global_density, knn_density

if TYPE_CHECKING:
    from .state import LabeledNeighbors
    from .strategy import Strategy

UNCERTAINTY_MEASURES = ("least_confidence", "margin", "entropy")
# The project default: on fruits, U*I*D with margin needs 2.09x (random split) and 2.49x (group
# split) fewer labels than random to reach 0.90, least confidence 1.78x and 2.44x; on two-class
# tweets all three rank items the same (benchmarks/results/reference_summary.md).
DEFAULT_UNCERTAINTY = "margin"
DENSITY_KINDS = ("knn", "global")
DENSITY_NEIGHBORS = 10


@dataclass
class ScoringContext:
    """What a scorer may read: the pool, its labeled neighbourhoods and the kNN settings.

    ``max_sim`` is each item's similarity to the nearest labeled item; during a batch it also
    counts the items already picked for that batch.
    """

    vectors: np.ndarray
    neighbors: LabeledNeighbors
    n_classes: int
    n_labeled: int
    weights: str
    max_sim: np.ndarray


class Scorer:
    """Base class of a raw score; subclasses set ``letter``, ``column`` and ``mode``."""

    letter: ClassVar[str]
    column: ClassVar[str]
    mode: ClassVar[str] = "dynamic"

    def __init__(self, strategy: Strategy) -> None:
        self.strategy = strategy

    @property
    def cache_key(self) -> tuple:
        """Settings the cached values depend on; a change of key means recompute."""
        return (type(self),)

    def compute(self, ctx: ScoringContext, rows: np.ndarray | None = None) -> np.ndarray:
        raise NotImplementedError


SCORERS: dict[str, type[Scorer]] = {}


def registered_scorers() -> dict[str, type[Scorer]]:
    """The registered scorer classes by letter, in registration order (U, I, D first)."""
    return dict(SCORERS)


def register_scorer(cls: type[Scorer]) -> type[Scorer]:
    """Class decorator: make a scorer available to :meth:`Strategy.parse` by its letter."""
    if cls.mode not in ("static", "incremental", "dynamic"):
        raise InvalidInputError(f"scorer {cls.__name__} has unknown mode {cls.mode!r}")
    SCORERS[cls.letter] = cls
    return cls


@register_scorer
class UncertaintyScorer(Scorer):
    """u from the kNN class probabilities: least confidence, margin or entropy."""

    letter, column, mode = "U", "u", "incremental"

    @property
    def cache_key(self) -> tuple:
        return (type(self), self.strategy.uncertainty)

    def compute(self, ctx: ScoringContext, rows: np.ndarray | None = None) -> np.ndarray:
        votes = ctx.neighbors.votes(rows, ctx.n_classes, ctx.weights)
        return knn.uncertainty(knn.probabilities(votes), self.strategy.uncertainty)


@register_scorer
class DensityScorer(Scorer):
    """i: mean similarity to the 10 nearest other pool items (knn), or -mean distance (global)."""

    letter, column, mode = "I", "i", "static"

    @property
    def cache_key(self) -> tuple:
        return (type(self), self.strategy.density)

    def compute(self, ctx: ScoringContext, rows: np.ndarray | None = None) -> np.ndarray:
        if self.strategy.density == "knn":
            return knn_density(ctx.vectors, DENSITY_NEIGHBORS)
        return global_density(ctx.vectors)


@register_scorer
class DiversityScorer(Scorer):
    """d = 1 - max similarity to a labeled item; 1 when nothing is labeled."""

    letter, column, mode = "D", "d", "dynamic"

    def compute(self, ctx: ScoringContext, rows: np.ndarray | None = None) -> np.ndarray:
        if not np.isfinite(ctx.max_sim).any():
            return np.ones(len(ctx.max_sim))
        return 1.0 - ctx.max_sim.astype(np.float64)
