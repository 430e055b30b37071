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

from core import knn
from core.classifier import KNNClassifier
from core.combine import StaticCDF, argmax_random_tie, empirical_cdf
from core.errors import EmptyPoolError, InvalidInputError, UnknownItemError
from core.scorers import SCORERS, Scorer, ScoringContext
from core.state import LabeledNeighbors
from core.strategy import Strategy
from core.vectors import as_unit_rows


@dataclass
class _CachedScore:
    key: tuple
    mode: str
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
        self._cache: dict[str, _CachedScore] = {}
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

    # -- labeling --------------------------------------------------------------------------
    def label(self, item: int, label: Hashable) -> None:
        """Record ``label`` for pool item ``item``; relabeling an item replaces its label."""
        item = self._check_item(item)
        if label is None or not isinstance(label, Hashable):
            raise InvalidInputError(f"a label must be a hashable value, got {label!r}")
        code = self._code_of.get(label)
        if code is None:
            code = self._code_of[label] = len(self.classes)
            self.classes.append(label)
        if not self._in_pool[item]:
            if self._code[item] != code:
                self._code[item] = code
                self._neighbors.relabel(item, code)
            return
        self._code[item], self._seq[item] = code, self._next_seq
        self._next_seq += 1
        self._in_pool[item] = False
        self._neighbors.add(item, code, int(self._seq[item]))

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
        in_pool, max_sim = self._in_pool, self._neighbors.max_sim
        if count > 1:
            in_pool, max_sim = in_pool.copy(), max_sim.copy()
        picks: list[int] = []
        for _ in range(count):
            pool_idx = np.flatnonzero(in_pool)
            cdfs = self._cdfs(self.strategy.factors, in_pool, pool_idx, max_sim)
            product = np.prod(np.vstack(list(cdfs.values())), axis=0)
            pick = int(pool_idx[argmax_random_tie(product, self.rng)])
            picks.append(pick)
            if len(picks) < count:
                in_pool[pick] = False
                np.maximum(max_sim, self.vectors @ self.vectors[pick], out=max_sim)
        return picks

    def _scorers(self, letters) -> list[Scorer]:
        return [SCORERS[letter](self.strategy) for letter in letters]

    def _raw_scores(self, letters, max_sim: np.ndarray) -> dict[str, _CachedScore]:
        """Raw score values for every item, served from cache where still valid."""
        ctx = ScoringContext(self.vectors, self._neighbors, len(self.classes), self.n_labeled,
                             self.weights, max_sim)
        changed = self._neighbors.pop_changed()
        fresh: dict[str, _CachedScore] = {}
        for scorer in self._scorers(letters):
            entry = self._cache.get(scorer.letter)
            stale = entry is None or entry.key != scorer.cache_key or scorer.mode == "dynamic"
            if scorer.mode == "incremental" and changed is None:
                stale = True
            if stale:
                values = scorer.compute(ctx)
                cdf = StaticCDF(values) if scorer.mode == "static" else None
                entry = _CachedScore(scorer.cache_key, scorer.mode, values, cdf)
            elif scorer.mode == "incremental" and changed.size:
                entry.values[changed] = scorer.compute(ctx, changed)
            fresh[scorer.letter] = entry
        # An incremental cache that skipped these changes is out of date: drop it.
        self._cache = {letter: e for letter, e in self._cache.items()
                       if e.mode == "static" and letter not in fresh}
        self._cache.update(fresh)
        return fresh

    def _cdfs(self, letters, in_pool, pool_idx, max_sim) -> dict[str, np.ndarray]:
        cdfs = {}
        for letter, entry in self._raw_scores(letters, max_sim).items():
            if entry.cdf is not None:
                cdfs[letter] = entry.cdf(in_pool, pool_idx)
            else:
                cdfs[letter] = empirical_cdf(entry.values[pool_idx])
        return cdfs

    def _seed_density(self, values) -> None:
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (self.n_items,) or not np.isfinite(values).all():
            raise InvalidInputError(
                f"density_values must be {self.n_items} finite numbers, got shape {values.shape}")
        scorer = SCORERS["I"](self.strategy)
        self._cache["I"] = _CachedScore(scorer.cache_key, "static", values, StaticCDF(values))

    # -- reading ---------------------------------------------------------------------------
    def scores(self) -> pd.DataFrame:
        """Every score of every unlabeled item: raw u, i, d, their pool CDFs U, I, D, and S.

        S is the product of the strategy's enabled CDFs (1 everywhere for random). The index
        is the pool index, named ``item``.
        """
        pool_idx = self.pool
        if not len(pool_idx):
            raise EmptyPoolError("all items are labeled: no unlabeled item to score")
        letters = list(SCORERS)
        cdfs = self._cdfs(letters, self._in_pool, pool_idx, self._neighbors.max_sim)
        table = {}
        for letter in letters:
            table[SCORERS[letter].column] = self._cache[letter].values[pool_idx]
        table.update(cdfs)
        product = np.ones(len(pool_idx))
        for letter in self.strategy.factors:
            product = product * cdfs[letter]
        table["S"] = product
        return pd.DataFrame(table, index=pd.Index(pool_idx, name="item"))

    def predict_proba(self) -> np.ndarray:
        """kNN class probabilities of every item, shape (n_items, len(classes))."""
        votes = self._neighbors.votes(None, len(self.classes), self.weights)
        return knn.probabilities(votes)

    def predict(self) -> np.ndarray:
        """Predicted label of every item (None while nothing is labeled); object array."""
        nb = self._neighbors
        votes = nb.votes(None, len(self.classes), self.weights)
        codes = knn.winners(votes, nb.sim, nb.cls)
        names = np.array([*self.classes, None], dtype=object)
        return names[codes]

    def explain(self, item: int) -> pd.DataFrame:
        """The labeled neighbours behind an item's prediction: item, similarity, label."""
        item = self._check_item(item)
        idx, sim, cls = self._neighbors.neighbors_of(item)
        return pd.DataFrame({"item": idx, "similarity": sim,
                             "label": [self.classes[c] for c in cls]})

    def classifier(self) -> KNNClassifier:
        """A :class:`KNNClassifier` holding the current labels, for items outside the pool."""
        items = self.labeled
        if not len(items):
            raise EmptyPoolError("nothing is labeled yet, so there is no classifier to build")
        labels = np.array([self.classes[c] for c in self._code[items]], dtype=object)
        return KNNClassifier(n_neighbors=self.k, weights=self.weights).fit(
            self.vectors[items], labels)
