"""LabelingSession: the labeling loop over one pool of embedded items.

Typical use::

    session = LabelingSession(X, strategy="U*I*D", k=5, seed=0)
    i = session.next()          # pool index to label next
    session.label(i, "rotten")  # instant: updates the kNN state, refits nothing
    session.scores()            # u, i, d, their CDFs U, I, D and S for every unlabeled item

Cost of one ``label()`` + ``next()``: one ``X @ x`` matrix-vector product, a handful of O(N)
array passes and two argsorts of the pool (for the CDFs of u and d). The density is computed
once per pool and sorted once.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import EmptyPoolError, InvalidInputError, UnknownItemError
from . import knn
from .auto import AutoPolicy
from .classifier import KNNClassifier
from .combine import StaticCDF, argmax_random_tie, empirical_cdf
from .scorers import SCORERS, Scorer, ScoringContext
from .state import LabeledNeighbors
from .strategy import Strategy
from .vectors import as_unit_rows


def product_of(arrays) -> np.ndarray:
    """Elementwise product of equally long arrays."""
    arrays = iter(arrays)
    out = np.array(next(arrays), dtype=np.float64)
    for a in arrays:
        out *= a
    return out


@dataclass
class _CachedScore:
    scorer: Scorer
    values: np.ndarray
    cdf: StaticCDF | None = None


class LabelingSession:
    """Pick the next item to label from a pool of embeddings, and learn from each label.

    Parameters
    ----------
    X : array-like of shape (n_items, n_features)
        Embeddings of the pool; rows are L2-normalised here (zero, NaN or inf rows are refused).
    strategy : str or Strategy, default="U*I*D"
        Which scores multiply into S; see :meth:`Strategy.parse`.
    k : int, default=5
        Neighbours in the kNN vote.
    weights : {"uniform", "similarity"}, default="uniform"
        Vote weight of a neighbour: 1, or its cosine similarity.
    seed : int or None
        Seeds the random tie-breaking and random sampling; same seed, same picks.
    density_values : array-like of shape (n_items,), optional
        Precomputed density ``i`` for the strategy's density kind (e.g. from a cache), so it is
        not recomputed for this pool.

    Attributes
    ----------
    classes : list
        Labels seen so far, in order of first appearance; the columns of :meth:`predict_proba`.
    """

    def __init__(self, X, strategy: str | Strategy = "U*I*D", *, k: int = 5,
                 weights: str = "uniform", seed: int | None = None,
                 density_values=None) -> None:
        self.vectors = as_unit_rows(X, name="X")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise InvalidInputError(f"k must be a positive integer, got {k!r}")
        self.k = int(k)
        self.weights = knn.check_weights(weights)
        self.strategy = Strategy.parse(strategy)
        self.rng = np.random.default_rng(seed)
        n = len(self.vectors)
        self.classes: list[Hashable] = []
        self._code_of: dict[Hashable, int] = {}
        self._code = np.full(n, -1, dtype=np.int64)
        self._seq = np.full(n, -1, dtype=np.int64)
        self._next_seq = 0
        self._in_pool = np.ones(n, dtype=bool)
        self._neighbors = LabeledNeighbors(self.vectors, self.k)
        self._cache: dict[tuple, _CachedScore] = {}
        self._auto: AutoPolicy | None = None
        self._start_auto_if_needed()
        if density_values is not None:
            self._seed_density(density_values)

    # -- state -----------------------------------------------------------------------------
    @property
    def n_items(self) -> int:
        return len(self.vectors)

    @property
    def n_labeled(self) -> int:
        return self.n_items - int(self._in_pool.sum())

    @property
    def pool(self) -> np.ndarray:
        """Indices of the unlabeled items."""
        return np.flatnonzero(self._in_pool)

    @property
    def labeled(self) -> np.ndarray:
        """Indices of the labeled items, in the order they were first labeled."""
        items = np.flatnonzero(~self._in_pool)
        return items[np.argsort(self._seq[items], kind="stable")]

    @property
    def labels(self) -> dict[int, Hashable]:
        """Current label of each labeled item, in labeling order."""
        return {int(i): self.classes[self._code[i]] for i in self.labeled}

    def set_strategy(self, strategy: str | Strategy) -> None:
        """Switch strategy; cached scores stay valid where their settings did not change."""
        self.strategy = Strategy.parse(strategy)
        self._start_auto_if_needed()

    def _start_auto_if_needed(self) -> None:
        if not self.strategy.auto:
            self._auto = None
        elif self._auto is None or (self._auto.uncertainty, self._auto.density) != (
                self.strategy.uncertainty, self.strategy.density):
            self._auto = AutoPolicy(self.strategy.uncertainty, self.strategy.density)

    # -- labeling --------------------------------------------------------------------------
    def label(self, item: int, label: Hashable) -> None:
        """Record ``label`` for pool item ``item``; relabeling an item replaces its label."""
        item = self._check_item(item)
        code = self.add_class(label)
        if not self._in_pool[item]:
            if self._code[item] != code:
                self._code[item] = code
                self._neighbors.relabel(item, code)
            return
        self._code[item], self._seq[item] = code, self._next_seq
        self._next_seq += 1
        self._in_pool[item] = False
        self._neighbors.add(item, code, int(self._seq[item]))

    def add_class(self, label: Hashable) -> int:
        """Make ``label`` a known class (a column of predict_proba) before any item has it;
        returns its column. Known classes are returned as they are."""
        if label is None or not isinstance(label, Hashable):
            raise InvalidInputError(f"a label must be a hashable value, got {label!r}")
        code = self._code_of.get(label)
        if code is None:
            code = self._code_of[label] = len(self.classes)
            self.classes.append(label)
        return code

    def label_many(self, items, labels) -> None:
        """Label several items at once; the same result as ``label()`` on each pair in order.

        When the items are distinct and all unlabeled (e.g. replaying a stored project), every
        item's neighbours are rebuilt in one blocked pass (matrix products) instead of one
        matrix-vector product per label; otherwise the pairs are applied one by one.
        """
        items = [self._check_item(i) for i in items]
        labels = list(labels)
        if len(items) != len(labels):
            raise InvalidInputError(f"{len(items)} items but {len(labels)} labels")
        fresh = len(set(items)) == len(items) and all(self._in_pool[i] for i in items)
        if not fresh:
            for item, label in zip(items, labels, strict=True):
                self.label(item, label)
            return
        codes = [self.add_class(label) for label in labels]
        items_arr = np.array(items, dtype=np.int64)
        self._code[items_arr] = codes
        self._seq[items_arr] = np.arange(self._next_seq, self._next_seq + len(items))
        self._next_seq += len(items)
        self._in_pool[items_arr] = False
        labeled = self.labeled
        everything = np.arange(self.n_items)
        self._neighbors.recompute(everything, labeled, self._seq[labeled], self._code[labeled])

    def unlabel(self, item: int) -> None:
        """Undo the label of ``item``: it returns to the pool as if never labeled."""
        item = self._check_item(item)
        if self._in_pool[item]:
            raise UnknownItemError(f"item {item} is not labeled, so there is nothing to undo")
        self._in_pool[item] = True
        self._code[item] = self._seq[item] = -1
        rest = np.flatnonzero(~self._in_pool)
        self._neighbors.remove(item, rest, self._seq[rest], self._code[rest])

    def _check_item(self, item) -> int:
        if isinstance(item, bool) or not isinstance(item, (int, np.integer)):
            raise UnknownItemError(f"an item is a pool index (int), got {item!r}")
        if not 0 <= item < self.n_items:
            raise UnknownItemError(
                f"item {item} is outside the pool (valid: 0 to {self.n_items - 1})")
        return int(item)

    # -- selection -------------------------------------------------------------------------
    def next(self, batch: int | None = None) -> int | list[int]:
        """The pool index to label next, or ``batch`` distinct indices.

        S is the product of the enabled CDFs; the argmax wins, ties broken uniformly with the
        session's seeded generator. In a batch, each pick counts as labeled for diversity (d)
        and leaves the pool before the next pick; a batch larger than the pool returns the
        whole pool.
        """
        if batch is None:
            return self._select(1)[0]
        if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
            raise InvalidInputError(f"batch must be a positive integer, got {batch!r}")
        return self._select(int(batch))

    def _select(self, count: int) -> list[int]:
        n_pool = int(self._in_pool.sum())
        if n_pool == 0:
            raise EmptyPoolError(
                f"all {self.n_items} items are labeled: there is nothing left to suggest")
        count = min(count, n_pool)
        if self.strategy.is_random:
            picks = self.rng.choice(self.pool, size=count, replace=False)
            return [int(p) for p in picks]
        if self.strategy.auto:
            return self._auto.select(self, count)
        return self.select_with(self.strategy, count)

    def select_with(self, strategy: Strategy, count: int) -> list[int]:
        """Greedy picks of a fixed (non-random) strategy; the pool is not changed."""
        in_pool, max_sim = self._in_pool, self._neighbors.max_sim
        if count > 1:
            in_pool, max_sim = in_pool.copy(), max_sim.copy()
        scorers = self._scorers(strategy)
        picks: list[int] = []
        for _ in range(count):
            pool_idx = np.flatnonzero(in_pool)
            cdfs = self.pool_cdfs(scorers, in_pool, pool_idx, max_sim)
            pick = int(pool_idx[argmax_random_tie(product_of(cdfs.values()), self.rng)])
            picks.append(pick)
            if len(picks) < count:
                in_pool[pick] = False
                np.maximum(max_sim, self.vectors @ self.vectors[pick], out=max_sim)
        return picks

    def _scorers(self, strategy: Strategy, letters=None) -> list[Scorer]:
        return [SCORERS[letter](strategy) for letter in (letters or strategy.factors)]

    def _raw_scores(self, scorers: list[Scorer], max_sim: np.ndarray) -> dict[tuple, _CachedScore]:
        """Raw score values for every item, by scorer settings, served from cache when valid."""
        ctx = ScoringContext(self.vectors, self._neighbors, len(self.classes), self.n_labeled,
                             self.weights, max_sim)
        self._patch_incremental(ctx)
        fresh: dict[tuple, _CachedScore] = {}
        for scorer in scorers:
            key = scorer.cache_key
            entry = self._cache.get(key)
            if entry is None or scorer.mode == "dynamic":
                values = scorer.compute(ctx)
                cdf = StaticCDF(values) if scorer.mode == "static" else None
                entry = _CachedScore(scorer, values, cdf)
                if scorer.mode != "dynamic":
                    self._cache[key] = entry
            fresh[key] = entry
        return fresh

    def _patch_incremental(self, ctx: ScoringContext) -> None:
        """Bring every cached incremental score up to date with the rows that changed."""
        changed = self._neighbors.pop_changed()
        for key, entry in list(self._cache.items()):
            if entry.scorer.mode != "incremental":
                continue
            if changed is None:
                del self._cache[key]
            elif changed.size:
                entry.values[changed] = entry.scorer.compute(ctx, changed)

    def raw_score(self, scorer: Scorer) -> np.ndarray:
        """Raw values of ``scorer`` for every item (pool and labeled), from cache when valid."""
        return self._raw_scores([scorer], self._neighbors.max_sim)[scorer.cache_key].values

    def pool_cdfs(self, scorers: list[Scorer], in_pool: np.ndarray, pool_idx: np.ndarray,
                  max_sim: np.ndarray) -> dict[tuple, np.ndarray]:
        """Empirical CDF over the pool of each scorer's values, keyed by its settings."""
        return self._cdfs_of(self._raw_scores(scorers, max_sim), in_pool, pool_idx)

    @staticmethod
    def _cdfs_of(raw: dict[tuple, _CachedScore], in_pool: np.ndarray,
                 pool_idx: np.ndarray) -> dict[tuple, np.ndarray]:
        return {key: entry.cdf(in_pool, pool_idx) if entry.cdf is not None
                else empirical_cdf(entry.values[pool_idx]) for key, entry in raw.items()}

    def _seed_density(self, values) -> None:
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (self.n_items,) or not np.isfinite(values).all():
            raise InvalidInputError(
                f"density_values must be {self.n_items} finite numbers, got shape {values.shape}")
        scorer = SCORERS["I"](self.strategy)
        self._cache[scorer.cache_key] = _CachedScore(scorer, values, StaticCDF(values))

    # -- reading ---------------------------------------------------------------------------
    def scores(self) -> pd.DataFrame:
        """Every score of every unlabeled item: raw u, i, d, their pool CDFs U, I, D, and S.

        S is the product of the strategy's enabled CDFs (1 everywhere for random). The index
        is the pool index, named ``item``.
        """
        pool_idx = self.pool
        if not len(pool_idx):
            raise EmptyPoolError("all items are labeled: no unlabeled item to score")
        scorers = self._scorers(self.strategy, list(SCORERS))
        raw = self._raw_scores(scorers, self._neighbors.max_sim)
        cdfs = self._cdfs_of(raw, self._in_pool, pool_idx)
        table = {s.column: raw[s.cache_key].values[pool_idx] for s in scorers}
        table.update({s.letter: cdfs[s.cache_key] for s in scorers})
        enabled = [cdfs[s.cache_key] for s in scorers if s.letter in self.strategy.factors]
        table["S"] = product_of(enabled) if enabled else np.ones(len(pool_idx))
        return pd.DataFrame(table, index=pd.Index(pool_idx, name="item"))

    def _rows(self, items) -> np.ndarray | None:
        return None if items is None else np.array([self._check_item(i) for i in items],
                                                   dtype=np.int64)

    def predict_proba(self, items=None) -> np.ndarray:
        """kNN class probabilities, shape (n, len(classes)): of every item, or of ``items``."""
        votes = self._neighbors.votes(self._rows(items), len(self.classes), self.weights)
        return knn.probabilities(votes)

    def predict(self, items=None) -> np.ndarray:
        """Predicted label of every item, or of ``items`` (None while nothing is labeled);
        object array."""
        nb, rows = self._neighbors, self._rows(items)
        sl = slice(None) if rows is None else rows
        votes = nb.votes(rows, len(self.classes), self.weights)
        codes = knn.winners(votes, nb.sim[sl], nb.cls[sl])
        names = np.array([*self.classes, None], dtype=object)
        return names[codes]

    def explain(self, item: int) -> pd.DataFrame:
        """The labeled neighbours behind an item's prediction: item, similarity, label."""
        item = self._check_item(item)
        idx, sim, cls = self._neighbors.neighbors_of(item)
        return pd.DataFrame({"item": idx, "similarity": sim,
                             "label": [self.classes[c] for c in cls]})

    def explain_strategy(self, decisions: bool = True) -> dict:
        """How the strategy chooses: ``arm`` (the fixed strategy behind the latest pick),
        ``reason`` (in words) and, for ``auto`` with ``decisions``, ``decisions``: one row per
        pick with the readings behind it (see :mod:`labelwise.engine.auto`); None otherwise."""
        if self._auto is None:
            return {"arm": self.strategy.label, "decisions": None,
                    "reason": f"fixed strategy {self.strategy.label}"}
        return self._auto.explain(decisions)

    def picking_strategy(self, item: int) -> Strategy | None:
        """The fixed strategy that suggested ``item``: for auto the arm (None if ``item`` is
        not among its latest suggestions); otherwise the session's strategy."""
        if self._auto is None:
            return self.strategy
        return self._auto.picked_by(item)

    def picked_by(self, item: int) -> str:
        """Label of :meth:`picking_strategy`, or ``"not suggested"``."""
        strategy = self.picking_strategy(item)
        return "not suggested" if strategy is None else strategy.label

    def classifier(self) -> KNNClassifier:
        """A :class:`KNNClassifier` holding the current labels, for items outside the pool."""
        items = self.labeled
        if not len(items):
            raise EmptyPoolError("nothing is labeled yet, so there is no classifier to build")
        labels = np.array([self.classes[c] for c in self._code[items]], dtype=object)
        return KNNClassifier(n_neighbors=self.k, weights=self.weights).fit(
            self.vectors[items], labels)
