"""LabelingSession: the labeling loop over one pool of embedded items.

Typical use::

    session = LabelingSession(X, strategy="U*I*D", k=5, seed=0)
    i = session.next()          # pool index to label next
    session.label(i, "rotten")  # instant: updates the kNN state, refits nothing
    session.scores()            # u, i, d, their CDFs U, I, D and S for every unlabeled item

Cost of one ``label()`` + ``next()``: one ``X @ x`` matrix-vector product, a handful of O(N)
array passes and two argsorts of the pool (for the CDFs of u and d). The density is computed
once per pool and sorted once.

The model behind the uncertainty u, ``predict_proba``, ``predict`` and ``classifier`` is the
kNN vote (``model="knn"``), label spreading on the pool's 10-NN graph
(``model="graph"``, :mod:`labelwise.engine.graph`; each label costs one local push and the
uncertainty of the rows it reached), or, label by label, whichever of the two wins a
leave-one-out comparison on the labels (``model="auto"``, the default).
:meth:`LabelingSession.progress` says which model is in use and why, its leave-one-out
accuracy, and whether the predictions have stopped changing (:mod:`labelwise.engine.stopping`).

The session owns the state; it hands scorers and policies a read-only view of it
(:meth:`LabelingSession.view`, :mod:`labelwise.engine.view`), and the policy of its strategy
(:mod:`labelwise.engine.policies`, :mod:`labelwise.engine.auto`) chooses the picks from that
view with the session's seeded generator.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import EmptyPoolError, InvalidInputError, UnknownItemError
from . import knn
from .auto import AutoPolicy
from .combine import product_of
from .index import LARGE_POOL
from .policies import FixedPolicy, Policy, RandomPolicy
from .scorers import SCORERS, DensityScorer, Scorer
from .scoring import ScoreCache
from .state import LabeledNeighbors
from .stopping import StoppingMonitor, StoppingStatus
from .strategy import Strategy
from .vectors import as_unit_rows
from .view import LabeledView

if TYPE_CHECKING:  # pandas and scikit-learn load on first use: `import labelwise` stays light
    import pandas as pd

    from .classifier import GraphClassifier, KNNClassifier
    from .graph import BackgroundBuild, GraphModel, ModelChoice, PoolGraph

Similarities = Callable[[int], np.ndarray]

#: The session's models: the kNN vote, label spreading on the pool's graph, or the choice
#: between them from the labels alone (:func:`labelwise.engine.graph.choose_model`).
MODELS = ("knn", "graph", "auto")
#: When a session without a given graph builds one (for ``model`` "graph" or "auto"): on first
#: need, blocking that call (``"on_demand"``); in a background thread from the start
#: (``"background"``); or ``"auto"``: in the background above
#: :data:`~labelwise.engine.index.LARGE_POOL` items, where a build takes minutes, on demand
#: below, where it takes seconds and keeps the session reproducible.
GRAPH_BUILDS = ("auto", "on_demand", "background")
#: The stopping monitor follows the predictions of at most this many pool items (a fixed,
#: seeded sample of a larger pool), so that following them costs O(STOP_SET_SIZE) per label.
STOP_SET_SIZE = 2000
# Seeds the stop set's sample: its own generator, so the session's picks do not depend on it.
STOP_SET_SEED = 0


def check_model(model: str) -> str:
    if model not in MODELS:
        raise InvalidInputError(f"model must be one of {MODELS}, got {model!r}")
    return model


@dataclass(frozen=True)
class SessionProgress:
    """Where labeling stands (:meth:`LabelingSession.progress`).

    Attributes
    ----------
    n_labeled, n_items : int
    model : {"knn", "graph"}
        The model in use.
    model_reason : str
        Why that model (for ``model="auto"``, the leave-one-out comparison).
    estimated_accuracy : float or None
        Leave-one-out accuracy of the model in use on the labels (each labeled item predicted
        from the others); None below two labels. Pessimistic under active learning: the picked
        items are the hard ones. Never a holdout figure.
    kappa : float or None
        Cohen's kappa between the stop set's predictions now and ``window`` labels ago (None
        until ``window + 1`` labels have been followed).
    stable : bool
        Whether the predictions have been stable over the window (Bloodgood & Vijay-Shanker).
    recommendation : str
        The plain advice of :class:`~labelwise.engine.stopping.StoppingMonitor`.
    """

    n_labeled: int
    n_items: int
    model: str
    model_reason: str
    estimated_accuracy: float | None
    kappa: float | None
    stable: bool
    recommendation: str


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
    model : {"knn", "graph", "auto"}, default="auto"
        The model behind the uncertainty u, :meth:`predict_proba`, :meth:`predict` and
        :meth:`classifier`: the kNN vote; label spreading on the pool's 10-NN graph
        (:class:`~labelwise.engine.graph.GraphModel`); or, label by label, whichever
        :func:`~labelwise.engine.graph.choose_model` picks from the labels alone
        (:attr:`model_choice`, :attr:`model_name`).
    graph : PoolGraph, optional
        A prebuilt (or loaded) graph of this pool, e.g. shipped with a pack; its ``n_items``
        must match ``X``. Without it the graph is built once per session (``model`` "graph"
        or "auto"), as ``graph_build`` says. A given or built graph also provides the kNN
        density ``i`` (the same definition: mean similarity to the 10 nearest other pool
        items) unless ``density_values`` are given.
    graph_build : {"auto", "on_demand", "background"}, default="auto"
        When a missing graph is built (:data:`GRAPH_BUILDS`). In the background (by default
        above 200,000 items) the session suggests items at once, with an estimated density
        (:func:`~labelwise.engine.index.sampled_knn_density`) and, for ``"auto"``, the kNN
        vote; it adopts the graph (its exact density and, if ``choose_model`` says so, the
        graph model) at the first call after the build is done. Picks then depend on when
        that was: call :meth:`wait_for_graph` first where they must be reproducible.
        ``model="graph"`` waits for the build where it needs the graph.

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
                 density_values=None, similarities: Similarities | None = None,
                 model: str = "auto", graph: PoolGraph | None = None,
                 graph_build: str = "auto") -> None:
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
        self.model = check_model(model)
        self._density_given = density_values is not None
        if density_values is not None:
            self._cache.seed(DensityScorer(self.strategy.density), density_values)
        self._graph: PoolGraph | None = None
        self._graph_model: GraphModel | None = None
        # Bumped on every change of the labels: keys the cached model choice.
        self._label_version = 0
        self._choice: tuple[int, ModelChoice] | None = None
        # The model the cached uncertainty values were computed with.
        self._model_in_use = "knn"
        self._monitor = StoppingMonitor()
        self._stop_set = (np.arange(n) if n <= STOP_SET_SIZE else np.sort(
            np.random.default_rng(STOP_SET_SEED).choice(n, STOP_SET_SIZE, replace=False)))
        # Position of each pool item in the stop set (-1: not in it), and the stop set's
        # current predictions under the model named by _stop_model.
        self._stop_at = np.full(n, -1, dtype=np.int64)
        self._stop_at[self._stop_set] = np.arange(len(self._stop_set))
        self._stop_pred: np.ndarray | None = None
        self._stop_model: str | None = None
        if graph_build not in GRAPH_BUILDS:
            raise InvalidInputError(f"graph_build must be one of {GRAPH_BUILDS}, "
                                    f"got {graph_build!r}")
        self.graph_build = graph_build
        self._build: BackgroundBuild | None = None
        if graph is not None:
            self._set_graph(graph)
        elif self.model != "knn" and (graph_build == "background" or (
                graph_build == "auto" and n > LARGE_POOL)):
            from .graph import BackgroundBuild, GraphHnswParams

            # One thread: the other core stays with the labeling (with both, a 1M-item
            # pool's label -> next took 1.4 s during the build), and the graph is seeded and
            # reproducible.
            self._build = BackgroundBuild(self.vectors, hnsw=GraphHnswParams(threads=1))

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
        reflects later labels; its arrays cannot be written). Its :meth:`LabeledView.proba`
        is the model in use when the view is made."""
        self._adopt_graph(wait=False)
        name = self._use_model()
        proba = None if name == "knn" else self._graph_proba
        return LabeledView(vectors=self.vectors, in_pool=self._in_pool, codes=self._code,
                           label_seq=self._seq, classes=self.classes, neighbors=self._neighbors,
                           weights=self.weights, cache=self._cache, proba=proba, model=name)

    # -- the model -------------------------------------------------------------------------
    @property
    def graph(self) -> PoolGraph | None:
        """The pool's graph: given, or built once (see ``graph_build``); None until then."""
        self._adopt_graph(wait=False)
        return self._graph

    @property
    def graph_pending(self) -> bool:
        """Whether the pool's graph is being built in the background and not adopted yet."""
        return not self._adopt_graph(wait=False) and self._build is not None

    def wait_for_graph(self, timeout: float | None = None) -> PoolGraph | None:
        """The pool's graph, waiting up to ``timeout`` seconds for a background build (None:
        as long as it takes), or building it now if there is neither; None on timeout."""
        if self._build is None and self._graph is None:
            from .graph import PoolGraph

            self._set_graph(PoolGraph.build(self.vectors))
        self._adopt_graph(wait=True, timeout=timeout)
        return self._graph

    def _adopt_graph(self, *, wait: bool, timeout: float | None = None) -> bool:
        """Take the background build's graph if it is done (or once done, with ``wait``);
        whether the session has a graph now. Called at the start of the calls that read the
        model, so a graph never changes in the middle of one."""
        if self._build is not None:
            graph = self._build.result(timeout if wait else 0)
            if graph is None:
                return False
            self._build = None
            self._set_graph(graph)
            # The density changed (exact in place of the estimate) and the graph model
            # became possible: scores and the model choice are recomputed.
            self._choice = None
            self._neighbors.invalidate()
        return self._graph is not None

    @property
    def graph_model(self) -> GraphModel | None:
        """The label-spreading model kept in sync with the labels (None for ``model="knn"``,
        and for ``"auto"`` until it has enough labels to compare the models). Read it; change
        labels through the session only."""
        return self._graph_model

    @property
    def model_choice(self) -> ModelChoice:
        """Which model is in use and why. For ``"auto"``:
        :func:`~labelwise.engine.graph.choose_model` on the current labels (cached until the
        labels change; O(L^2 d)); for a fixed model, that model."""
        from .graph import (
            MIN_LABELS_TO_CHOOSE,
            ModelChoice,
            choose_model,
            graph_pending_choice,
            too_few_to_choose,
        )

        if self.model != "auto":
            return ModelChoice(self.model, f"model={self.model!r} was asked for",
                               {"n_labels": self.n_labeled})
        if self._choice is not None and self._choice[0] == self._label_version:
            return self._choice[1]
        if self.n_labeled < MIN_LABELS_TO_CHOOSE:
            choice = too_few_to_choose(self.n_labeled)
        elif not self._adopt_graph(wait=False) and self._build is not None:
            choice = graph_pending_choice(self.n_labeled, self._build)
        else:
            choice = choose_model(self._ensure_graph_model(), self.vectors, k=self.k,
                                  weights=self.weights)
        self._choice = (self._label_version, choice)
        return choice

    @property
    def model_name(self) -> str:
        """The model in use now: ``"knn"`` or ``"graph"``."""
        # A fixed model needs no ModelChoice: the kNN path does not even import the graph.
        return self.model if self.model != "auto" else self.model_choice.name

    def _use_model(self) -> str:
        """The model in use, with the cached uncertainty recomputed when it has changed."""
        name = self.model_name
        if name == "graph":
            self._ensure_graph_model()
        if name != self._model_in_use:
            self._model_in_use = name
            self._neighbors.invalidate()
        return name

    def _set_graph(self, graph: PoolGraph) -> None:
        if graph.n_items != self.n_items:
            raise InvalidInputError(f"the graph has {graph.n_items} items but X has "
                                    f"{self.n_items}: it was built for another pool")
        if graph.vectors is None:  # e.g. loaded without vectors: outside queries need them
            graph = replace(graph, vectors=self.vectors)
        elif graph.vectors.shape[1] != self.vectors.shape[1]:
            raise InvalidInputError(f"the graph's vectors have {graph.vectors.shape[1]} "
                                    f"dimensions but X has {self.vectors.shape[1]}")
        self._graph = graph
        from .scorers import DENSITY_NEIGHBORS

        # The graph's density is the kNN density (mean similarity to the 10 nearest other
        # items) when it keeps 10 neighbours per item (fewer only in pools of <= 10 items).
        if not self._density_given and graph.info.get("k") == min(DENSITY_NEIGHBORS,
                                                                   self.n_items - 1):
            self._cache.seed(DensityScorer("knn"), graph.density)

    def _ensure_graph_model(self) -> GraphModel:
        """The graph model, built (with the graph, if missing) on first need and fed the
        current labels in labeling order."""
        if self._graph_model is None:
            from .graph import GraphModel, PoolGraph

            if self._graph is None and self._build is not None:
                self._adopt_graph(wait=True)
            if self._graph is None:
                self._set_graph(PoolGraph.build(self.vectors))
            model = GraphModel(self._graph)
            model.ensure_classes(len(self.classes))
            for item in self.labeled:
                model.add(int(item), int(self._code[item]))
            self._graph_model = model
        return self._graph_model

    def _graph_proba(self, rows: np.ndarray | None) -> np.ndarray:
        return self._ensure_graph_model().proba(rows, len(self.classes))

    def _graph_changed(self, rows: np.ndarray) -> np.ndarray:
        """Rows whose graph probabilities changed: their cached uncertainty is stale."""
        if self._model_in_use == "graph":
            self._neighbors.mark_changed(rows)
        return rows

    def _labels_changed(self, changed: list[np.ndarray] | None) -> None:
        """After every change of the labels: a new version (for the model choice), and one
        step of the stopping monitor. Only the stop-set rows in ``changed`` (rows whose kNN
        neighbourhood or graph values changed; None: any row) are predicted again, so a step
        costs O(changed rows) plus one O(stop set) kappa."""
        self._label_version += 1
        name = self.model_name
        if changed is None or name != self._stop_model or self._stop_pred is None:
            self._stop_pred = self._predicted_codes(self._stop_set)
            self._stop_model = name
        else:
            rows = changed[0] if len(changed) == 1 else np.concatenate(changed)
            at = self._stop_at[rows]
            at = at[at >= 0]
            if at.size:
                self._stop_pred[at] = self._predicted_codes(self._stop_set[at])
        self._monitor.update(self._stop_pred)

    def _predicted_codes(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Class code predicted for ``rows`` (default all) by the model in use; -1 where
        nothing is labeled. The graph falls back to the kNN vote where no label reaches."""
        nb = self._neighbors
        sl = slice(None) if rows is None else rows
        votes = nb.votes(rows, len(self.classes), self.weights)
        codes = knn.winners(votes, nb.sim[sl], nb.cls[sl])
        if self.model_name == "graph":
            from .graph import winners

            graph_codes = winners(self._ensure_graph_model().scores(rows, len(self.classes)))
            codes = np.where(graph_codes >= 0, graph_codes, codes)
        return codes

    # -- progress --------------------------------------------------------------------------
    @property
    def stop_set(self) -> np.ndarray:
        """Pool indices whose predictions the stopping monitor follows (a copy): every item
        up to :data:`STOP_SET_SIZE` items, a fixed seeded sample of that many above."""
        return self._stop_set.copy()

    def stopping_status(self) -> StoppingStatus:
        """The stopping monitor's status (no accuracy estimate): kappa over the last window
        of labels on the stop set, stable or not, the recommendation. Cost: one kappa.

        The monitor follows the predictions (model in use) of the stop set, the whole pool up
        to :data:`STOP_SET_SIZE` items and a fixed sample of that many above, after every
        change of the labels (``label_many`` of fresh items counts as one change).
        """
        return self._monitor.status()

    def progress(self) -> SessionProgress:
        """Labels so far, the model in use and why, its leave-one-out accuracy on the labels,
        and whether the predictions have stopped changing. Cost: O(L^2 d) for the kNN
        leave-one-out, O(L C) for the graph's."""
        choice = self.model_choice
        accuracy = self._loo_accuracy(choice)
        status = self._monitor.status(accuracy)
        return SessionProgress(self.n_labeled, self.n_items, choice.name, choice.reason,
                               accuracy, status.kappa_window, status.stable,
                               status.recommendation)

    def _loo_accuracy(self, choice: ModelChoice) -> float | None:
        key = "graph_loo" if choice.name == "graph" else "knn_loo"
        if key in choice.estimates:
            return float(choice.estimates[key])
        items = self.labeled
        if len(items) < 2:
            return None
        if choice.name == "graph":
            _, codes, pred = self._ensure_graph_model().loo_predictions()
        else:
            from .graph import knn_loo_predictions

            codes = self._code[items]
            pred = knn_loo_predictions(self.vectors[items], codes, self.k, self.weights)
        return float(np.mean(pred == codes))

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
                old = int(self._code[item])
                self._code[item] = code
                changed = [self._neighbors.relabel(item, code)]
                if self._graph_model is not None:
                    changed.append(self._graph_changed(
                        self._graph_model.relabel(item, old, code)))
                self._labels_changed(changed)
            return
        self._code[item], self._seq[item] = code, self._next_seq
        self._next_seq += 1
        self._in_pool[item] = False
        if self._similarities is None:
            changed = [self._neighbors.add(item, code, int(self._seq[item]))]
        else:
            changed = [self._neighbors.insert(item, code, int(self._seq[item]),
                                              self._similarities(item))]
        if self.model == "graph" or self._graph_model is not None:
            # _ensure_graph_model feeds a new model every label, this one included.
            fresh = self._graph_model is None
            model = self._ensure_graph_model()
            changed = None if fresh else [*changed, self._graph_changed(model.add(item, code))]
        self._labels_changed(changed)

    def add_class(self, label: Hashable) -> int:
        """Make ``label`` a known class (a column of predict_proba) before any item has it;
        returns its column. Known classes are returned as they are."""
        if label is None or not isinstance(label, Hashable):
            raise InvalidInputError(f"a label must be a hashable value, got {label!r}")
        code = self._code_of.get(label)
        if code is None:
            code = self._code_of[label] = len(self.classes)
            self.classes.append(label)
            if self._graph_model is not None:
                self._graph_model.ensure_classes(len(self.classes))
            if self._model_in_use == "graph":
                # Unreached rows are uniform over the classes: one more class changes them.
                self._neighbors.invalidate()
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
        if self.model == "graph" or self._graph_model is not None:
            fresh = self._graph_model is None
            model = self._ensure_graph_model()
            if not fresh:
                for item, code in zip(items, codes, strict=True):
                    self._graph_changed(model.add(item, code))
        self._labels_changed(None)

    def unlabel(self, item: int) -> None:
        """Undo the label of ``item``: it returns to the pool as if never labeled."""
        item = self.check_item(item)
        if self._in_pool[item]:
            raise UnknownItemError(f"item {item} is not labeled, so there is nothing to undo")
        self._in_pool[item] = True
        code = int(self._code[item])
        self._code[item] = self._seq[item] = -1
        rest = np.flatnonzero(~self._in_pool)
        changed = [self._neighbors.remove(item, rest, self._seq[rest], self._code[rest])]
        if self._graph_model is not None:
            changed.append(self._graph_changed(self._graph_model.remove(item, code)))
        self._labels_changed(changed)

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
        """Class probabilities of the model in use, shape (n, len(classes)): of every item, or
        of ``items``. kNN: rows without a vote are all zero; graph: rows no label reaches are
        uniform."""
        rows = self._rows(items)
        if self.model_name == "graph":
            return self._graph_proba(rows)
        votes = self._neighbors.votes(rows, len(self.classes), self.weights)
        return knn.probabilities(votes)

    def predict(self, items=None) -> np.ndarray:
        """Predicted label of every item, or of ``items`` (None while nothing is labeled);
        object array. With the graph model, items no label reaches take the kNN vote."""
        codes = self._predicted_codes(self._rows(items))
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

    def suspect_labels(self, **options) -> pd.DataFrame:
        """Labeled items ranked by how likely their label is wrong (exact leave-one-out of
        each label); see :func:`labelwise.engine.quality.suspect_labels` for ``options``."""
        from .quality import suspect_labels

        return suspect_labels(self, **options)

    def classifier(self) -> KNNClassifier | GraphClassifier:
        """The model in use, holding the current labels, for items outside the pool: a
        :class:`KNNClassifier`, or a :class:`~labelwise.engine.classifier.GraphClassifier`
        (a snapshot of the graph model; the kNN vote where its neighbours are unreached)."""
        items = self.labeled
        if not len(items):
            raise EmptyPoolError("nothing is labeled yet, so there is no classifier to build")
        from .classifier import GraphClassifier, KNNClassifier  # scikit-learn loads on use

        labels = np.array([self.classes[c] for c in self._code[items]], dtype=object)
        knn_model = KNNClassifier(n_neighbors=self.k, weights=self.weights).fit(
            self.vectors[items], labels)
        if self.model_name != "graph":
            return knn_model
        model = self._ensure_graph_model()
        return GraphClassifier(self._graph, model.proba(None, len(self.classes)),
                               model.reached(), self.classes, knn_model)
