"""LabelingSession: the labeling loop over one pool of embedded items.

Typical use::

    session = LabelingSession(X, strategy="U*I*D", k=5, seed=0)
    i = session.next()          # pool index to label next
    session.label(i, "rotten")  # instant: updates the kNN state, refits nothing
    session.scores()            # u, i, d, their CDFs U, I, D and S for every unlabeled item

Cost of one ``label()`` + ``next()``: one ``X @ x`` matrix-vector product, a handful of O(N)
array passes and two argsorts of the pool (for the CDFs of u and d). The density is computed
once per pool and sorted once.

The session owns the state; it hands scorers and policies a read-only view of it
(:meth:`LabelingSession.view`, :mod:`labelwise.engine.view`), and the policy of its strategy
(:mod:`labelwise.engine.policies`, :mod:`labelwise.engine.auto`) chooses the picks from that
view with the session's seeded generator.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import EmptyPoolError, InvalidInputError, UnknownItemError
from . import knn
from .auto import AutoPolicy
from .combine import product_of
from .policies import FixedPolicy, Policy, RandomPolicy
from .scorers import SCORERS, DensityScorer, Scorer
from .scoring import ScoreCache
from .state import LabeledNeighbors
from .strategy import Strategy
from .vectors import as_unit_rows
from .view import LabeledView

if TYPE_CHECKING:  # pandas and scikit-learn load on first use: `import labelwise` stays light
    import pandas as pd

    from .classifier import KNNClassifier

Similarities = Callable[[int], np.ndarray]


def policy_for(strategy: Strategy, current: Policy | None = None) -> Policy:
    """The policy that carries out ``strategy``; ``current`` is kept when it already does (an
    auto policy keeps its history across a switch of an unrelated setting)."""
    if strategy.is_random:
        return RandomPolicy(strategy)
    if not strategy.auto:
        return FixedPolicy(strategy)
    if isinstance(current, AutoPolicy) and current.strategy.scorers == strategy.scorers:
        return current
    return AutoPolicy(strategy)


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
    similarities : callable, optional
        ``similarities(item)`` returns the cosine similarity of every pool item to pool item
        ``item`` (shape (n_items,)), e.g. a row of a precomputed Gram matrix; :meth:`label`
        then reads it instead of computing ``X @ X[item]``. It must agree with the normalised
        ``X`` (to float32 rounding), or neighbourhoods will not match the vectors.

    Attributes
    ----------
    classes : list
        Labels seen so far, in order of first appearance; the columns of :meth:`predict_proba`.
    project_link : object or None
        Free for the layer that ties the session to stored labels
        (:func:`labelwise.resume_session` puts its ``ProjectLink`` here); None otherwise.
    """

    def __init__(self, X, strategy: str | Strategy = "U*I*D", *, k: int = 5,
                 weights: str = "uniform", seed: int | None = None,
                 density_values=None, similarities: Similarities | None = None) -> None:
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
        self._similarities = similarities
        self._cache = ScoreCache(self._neighbors)
        self._policy = policy_for(self.strategy)
        self.project_link: Any = None
        if density_values is not None:
            self._cache.seed(DensityScorer(self.strategy.density), density_values)

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

    def is_labeled(self, item: int) -> bool:
        """Whether pool index ``item`` has a label."""
        return not self._in_pool[self.check_item(item)]

    def view(self) -> LabeledView:
        """The read-only view of the labeled state that scorers and policies read (live: it
        reflects later labels; its arrays cannot be written)."""
        return LabeledView(vectors=self.vectors, in_pool=self._in_pool, codes=self._code,
                           label_seq=self._seq, classes=self.classes, neighbors=self._neighbors,
                           weights=self.weights, cache=self._cache)

    @property
    def policy(self) -> Policy:
        """The policy carrying out the strategy (:mod:`labelwise.engine.policies`)."""
        return self._policy

    def set_strategy(self, strategy: str | Strategy) -> None:
        """Switch strategy; cached scores stay valid where their settings did not change."""
        self.strategy = Strategy.parse(strategy)
        self._policy = policy_for(self.strategy, self._policy)

    # -- labeling --------------------------------------------------------------------------
    def label(self, item: int, label: Hashable) -> None:
        """Record ``label`` for pool item ``item``; relabeling an item replaces its label."""
        item = self.check_item(item)
        code = self.add_class(label)
        if not self._in_pool[item]:
            if self._code[item] != code:
                self._code[item] = code
                self._neighbors.relabel(item, code)
            return
        self._code[item], self._seq[item] = code, self._next_seq
        self._next_seq += 1
        self._in_pool[item] = False
        if self._similarities is None:
            self._neighbors.add(item, code, int(self._seq[item]))
        else:
            self._neighbors.insert(item, code, int(self._seq[item]), self._similarities(item))

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
        items = [self.check_item(i) for i in items]
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
        item = self.check_item(item)
        if self._in_pool[item]:
            raise UnknownItemError(f"item {item} is not labeled, so there is nothing to undo")
        self._in_pool[item] = True
        self._code[item] = self._seq[item] = -1
        rest = np.flatnonzero(~self._in_pool)
        self._neighbors.remove(item, rest, self._seq[rest], self._code[rest])

    def check_item(self, item) -> int:
        """``item`` as a valid pool index (int), or :class:`UnknownItemError`."""
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
        return self._policy.select(self.view(), min(count, n_pool), self.rng)

    def select_with(self, strategy: str | Strategy, count: int) -> list[int]:
        """``count`` picks of another strategy, with the session's generator; the pool is not
        changed."""
        return policy_for(Strategy.parse(strategy)).select(self.view(), count, self.rng)

    def raw_score(self, scorer: Scorer) -> np.ndarray:
        """Raw values of ``scorer`` for every item (pool and labeled), from cache when valid."""
        return self.view().raw_values(scorer)

    # -- reading ---------------------------------------------------------------------------
    def scores(self) -> pd.DataFrame:
        """Every score of every unlabeled item: raw u, i, d (and the columns of any other
        registered scorer), their pool CDFs U, I, D (...), and S.

        S is the product of the strategy's enabled CDFs (1 everywhere for random). The index
        is the pool index, named ``item``.
        """
        import pandas as pd

        pool_idx = self.pool
        if not len(pool_idx):
            raise EmptyPoolError("all items are labeled: no unlabeled item to score")
        scorers = self.score_columns()
        view = self.view()
        raw = self._cache.values(view, scorers)
        cdfs = self._cache.pool_cdfs(view, scorers)
        table = {s.column: values[pool_idx] for s, values in zip(scorers, raw, strict=True)}
        table.update({s.letter: cdf for s, cdf in zip(scorers, cdfs, strict=True)})
        enabled = [cdf for s, cdf in zip(scorers, cdfs, strict=True)
                   if s.letter in self.strategy.factors]
        table["S"] = product_of(enabled) if enabled else np.ones(len(pool_idx))
        return pd.DataFrame(table, index=pd.Index(pool_idx, name="item"))

    def score_columns(self) -> list[Scorer]:
        """The scorers of :meth:`scores`: every registered letter, the strategy's own scorer
        where it has one, else the registered scorer under the strategy's settings."""
        letters = [*SCORERS, *(f for f in self.strategy.factors if f not in SCORERS)]
        return [self.strategy.scorer(letter) for letter in letters]

    def _rows(self, items) -> np.ndarray | None:
        return None if items is None else np.array([self.check_item(i) for i in items],
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
        import pandas as pd

        item = self.check_item(item)
        idx, sim, cls = self._neighbors.neighbors_of(item)
        return pd.DataFrame({"item": idx, "similarity": sim,
                             "label": [self.classes[c] for c in cls]})

    def explain_strategy(self, decisions: bool = True) -> dict:
        """How the strategy chooses: ``arm`` (the fixed strategy behind the latest pick),
        ``reason`` (in words) and, for ``auto`` with ``decisions``, ``decisions``: one row per
        pick with the readings behind it (see :mod:`labelwise.engine.auto`); None otherwise."""
        return self._policy.explain(decisions)

    def picking_strategy(self, item: int) -> Strategy | None:
        """The fixed strategy that suggested ``item``: for auto the arm (None if ``item`` is
        not among its latest suggestions); otherwise the session's strategy."""
        return self._policy.picked_by(item)

    def picked_by(self, item: int) -> str:
        """Label of :meth:`picking_strategy`, or ``"not suggested"``."""
        strategy = self.picking_strategy(item)
        return "not suggested" if strategy is None else strategy.label

    def classifier(self) -> KNNClassifier:
        """A :class:`KNNClassifier` holding the current labels, for items outside the pool."""
        items = self.labeled
        if not len(items):
            raise EmptyPoolError("nothing is labeled yet, so there is no classifier to build")
        from .classifier import KNNClassifier  # scikit-learn loads only when asked for

        labels = np.array([self.classes[c] for c in self._code[items]], dtype=object)
        return KNNClassifier(n_neighbors=self.k, weights=self.weights).fit(
            self.vectors[items], labels)
