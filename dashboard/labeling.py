"""The Label page's desk: one labeler's session over the pool, undo, skip and a holdout score.

Plain Python (no Streamlit) so the label-click benchmark can drive exactly what a click runs.
The engine does the work (:class:`labelwise.LabelingSession`); this module only keeps the small
bookkeeping a person needs around it: what to undo, what was skipped, what is suggested now;
with a store project attached, every action goes through labelwise.label_item and co., which
commits it
to the store *before* the session changes and the next item is chosen.
"""

from __future__ import annotations

import inspect
from collections.abc import Hashable
from dataclasses import dataclass, field, replace

import numpy as np

from labelwise import (
    DEFAULT_UNCERTAINTY,
    Dataset,
    EmptyPoolError,
    InvalidInputError,
    LabelingSession,
    Strategy,
    UnknownItemError,
    holdout_accuracy,
    label_item,
    resume_session,
    skip_item,
    unlabel_item,
)
from labelwise import sync as sync_project

#: The models a page may ask a session for, and the engine's own default among them.
MODELS = ("knn", "graph", "auto")
DEFAULT_MODEL = inspect.signature(LabelingSession).parameters["model"].default

HOLDOUT_FRACTION = 0.1
HOLDOUT_MAX = 500
HOLDOUT_SEED = 0


@dataclass(frozen=True)
class Settings:
    """What the sidebar controls: the strategy and the kNN vote."""

    # Letters of registered scorers (labelwise.registered_scorers); the default is U*I*D.
    factors: tuple[str, ...] = Strategy().factors
    uncertainty: str = DEFAULT_UNCERTAINTY
    density: str = "knn"
    k: int = 5
    weights: str = "uniform"
    # Choose the mix per pick (labelwise.AutoPolicy); ``factors`` is then unused.
    auto: bool = False

    @property
    def strategy(self) -> Strategy:
        spec = "auto" if self.auto else "*".join(self.factors) if self.factors else "random"
        return Strategy.parse(spec, uncertainty=self.uncertainty, density=self.density)


@dataclass
class Split:
    """The labeling pool and the holdout kept aside to measure accuracy honestly."""

    pool: Dataset
    pool_rows: np.ndarray
    holdout_rows: np.ndarray
    holdout_vectors: np.ndarray | None = None
    holdout_labels: np.ndarray | None = None

    @property
    def has_holdout(self) -> bool:
        return len(self.holdout_rows) > 0


def subset(dataset: Dataset, rows: np.ndarray, name: str | None = None) -> Dataset:
    """The items of ``dataset`` at ``rows`` as a dataset of their own."""
    return Dataset(
        name=name or dataset.name,
        vectors=dataset.vectors[rows],
        labels=None if dataset.labels is None else dataset.labels[rows],
        items=dataset.items.iloc[rows].reset_index(drop=True),
        kind=dataset.kind,
        groups=None if dataset.groups is None else dataset.groups[rows],
        metadata=dict(dataset.metadata),
    )


def holdout_split(dataset: Dataset, *, fraction: float = HOLDOUT_FRACTION,
                  max_items: int = HOLDOUT_MAX, seed: int = HOLDOUT_SEED) -> Split:
    """Keep a seeded holdout aside when the dataset has ground truth.

    Whole groups go to the holdout (e.g. every augmented copy of one fruit photo), so accuracy
    is never inflated by near-duplicates of labeled items. Without ground truth the whole
    dataset is the pool.
    """
    n = len(dataset)
    if dataset.labels is None or n < 20:
        return Split(dataset, np.arange(n), np.empty(0, dtype=np.int64))
    rng = np.random.default_rng(seed)
    target = min(max_items, max(1, round(fraction * n)))
    groups = dataset.groups if dataset.groups is not None else np.arange(n)
    chosen = np.zeros(n, dtype=bool)
    _, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    for g in rng.permutation(len(first)):
        if chosen.sum() >= target:
            break
        chosen |= inverse == g
    holdout = np.flatnonzero(chosen)
    pool_rows = np.flatnonzero(~chosen)
    return Split(subset(dataset, pool_rows, name=dataset.name), pool_rows, holdout,
                 dataset.vectors[holdout], dataset.labels[holdout])


def skipped_items(store, project: str, who: str | None = None) -> list[str]:
    """Item ids ``who`` (or anyone, with None) skipped and that are still set aside, oldest
    skip first: :meth:`LabelStore.skipped_items`. A skip sets an item aside until a label (by
    anyone) or an ``unlabel`` by the skipper -- what undoing a skip records ("back in the
    pool") -- so a reload does not skip again what was unskipped.
    """
    return store.skipped_items(project, who=who)


def unskip_item(store, project: str, item_id: str, who: str) -> bool:
    """Record that ``who`` put skipped item ``item_id`` back in the pool (an ``unlabel``
    event, see :func:`skipped_items`); whether the store took it.

    The store refuses it (False) when ``who`` did not skip the item last: there is no skip of
    theirs to undo.
    """
    try:
        store.record(project, item_id, "unlabel", who=who)
    except UnknownItemError:
        return False
    return True


@dataclass
class Action:
    item: int
    kind: str  # "label" or "skip"
    label: Hashable | None = None
    previous: Hashable | None = None


@dataclass
class Link:
    """Where a desk's labels are stored: a :class:`labelwise.LabelStore` project."""

    store: object
    project: str
    who: str
    fingerprint: str | None = None


@dataclass
class LabelDesk:
    """One person's labeling loop over a pool.

    Parameters
    ----------
    split : Split
        Pool to label and holdout to score on.
    settings : Settings
    density_values : ndarray, optional
        Cached density of the pool for ``settings.density`` (skips recomputing it).
    seed : int
    link : Link, optional
        A store project: the session is resumed from it, and every label, unlabel and skip is
        committed to it (by :func:`labelwise.label_item` and co.) before the session changes, so a
        label shown as done is on disk. Without it labels live in this object only.
    model : {"knn", "graph", "auto"}
        The session's model (default: the engine's).
    graph : PoolGraph, optional
        The pool's stored neighbour graph, for the graph model (``labelwise.pool_graph_for``).
    """

    split: Split
    settings: Settings = field(default_factory=Settings)
    density_values: np.ndarray | None = None
    seed: int = 0
    link: Link | None = None
    model: str = DEFAULT_MODEL
    graph: object | None = None
    session: LabelingSession = field(init=False)
    history: list[Action] = field(default_factory=list, init=False)
    skipped: list[int] = field(default_factory=list, init=False)
    suggestions: list[int] | None = field(default=None, init=False)
    extra_classes: list = field(default_factory=list, init=False)
    version: int = field(default=0, init=False)
    _asked: int = field(default=1, init=False)
    _holding: bool = field(default=True, init=False)  # may hold reservations from before
    _accuracy: tuple[int, float | None] = field(default=(-1, None), init=False)

    def __post_init__(self) -> None:
        self.session = self._new_session(self.settings, self.density_values)
        if self.link is not None:
            # Items this person skipped before (and nobody labeled since) stay out of the way.
            index_of = self.session.project_link.index_of
            self.skipped = [index_of[i] for i in
                            skipped_items(self.link.store, self.link.project, self.link.who)
                            if i in index_of]

    def _new_session(self, settings: Settings, density_values) -> LabelingSession:
        if self.link is not None:
            return resume_session(
                self.link.store, self.link.project, self.split.pool, settings.strategy,
                k=settings.k, weights=settings.weights, seed=self.seed,
                density_values=density_values, fingerprint=self.link.fingerprint,
                model=self.model, graph=self.graph)
        return LabelingSession(self.split.pool.vectors, settings.strategy, k=settings.k,
                               weights=settings.weights, seed=self.seed,
                               density_values=density_values, model=self.model,
                               graph=self.graph)

    # -- settings --------------------------------------------------------------------------
    def apply(self, settings: Settings, density_values=None) -> None:
        """Switch settings; the kNN state is rebuilt (labels replayed) only if k, weights or
        the density kind changed."""
        if settings == self.settings:
            return
        rebuild = (settings.k, settings.weights, settings.density) != (
            self.settings.k, self.settings.weights, self.settings.density)
        if rebuild:
            labels = self.session.labels
            fresh = self._new_session(settings, density_values)
            if self.link is None:
                for item, label in labels.items():
                    fresh.label(item, label)
            self.session = fresh
        else:
            self.session.set_strategy(settings.strategy)
        self.settings = replace(settings)
        self.suggestions = None

    # -- actions ---------------------------------------------------------------------------
    def _set(self, item: int, label) -> None:
        if self.link is None:
            self.session.label(item, label)
        else:
            label_item(self.session, item, label, who=self.link.who)

    def _unset(self, item: int) -> None:
        if self.link is None:
            self.session.unlabel(item)
        else:
            unlabel_item(self.session, item, who=self.link.who)

    def label(self, item: int, label: Hashable) -> None:
        """Label ``item`` (committed to the store first, when linked), then move on."""
        if label is None or (isinstance(label, str) and not label.strip()):
            raise InvalidInputError("a label cannot be empty")
        item = int(item)
        previous = self.session.labels.get(item)
        self._set(item, label)
        self.history.append(Action(item, "label", label, previous))
        self._changed(item)

    def skip(self, item: int) -> None:
        """Set ``item`` aside for this session: it is not suggested again until undone."""
        item = int(item)
        if self.link is not None:
            skip_item(self.session, item, who=self.link.who)
        self.skipped.append(item)
        self.history.append(Action(item, "skip"))
        self._changed(item)

    def undo(self) -> Action | None:
        """Undo the last label or skip; the item becomes the suggestion again."""
        if not self.history:
            return None
        action = self.history[-1]
        if action.kind == "label":
            if action.previous is None:
                if action.item in self.session.labels:
                    self._unset(action.item)
            else:
                self._set(action.item, action.previous)
        else:
            self.skipped.remove(action.item)
            if self.link is not None:
                unskip_item(self.link.store, self.link.project,
                            self.session.project_link.ids[action.item], self.link.who)
        self.history.pop()
        self.version += 1
        in_pool = set(self.session.pool.tolist())
        rest = [i for i in (self.suggestions or []) if i != action.item and i in in_pool]
        self.suggestions = [action.item, *rest]
        return action

    def sync(self) -> int:
        """Take in labels other people stored since the last run; returns how many."""
        if self.link is None:
            return 0
        events = sync_project(self.session)
        if len(events):
            self.version += 1
            in_pool = set(self.session.pool.tolist())
            kept = [i for i in (self.suggestions or []) if i in in_pool]
            self.suggestions = kept or None
        return len(events)

    def add_class(self, name: str) -> str:
        name = str(name).strip()
        if not name:
            raise InvalidInputError("type a name for the new class")
        if name not in self.classes:
            self.extra_classes.append(name)
        return name

    def _changed(self, item: int) -> None:
        self.version += 1
        if self.suggestions is not None:
            self.suggestions = [i for i in self.suggestions if i != int(item)] or None

    def _reserved_by_others(self) -> set[int]:
        if self.link is None:
            return set()
        ids = self.link.store.reserved_by_others(self.link.project, self.link.who)
        index_of = self.session.project_link.index_of
        return {index_of[i] for i in ids if i in index_of}

    # -- reading ---------------------------------------------------------------------------
    @property
    def classes(self) -> list:
        """Buttons to show: the dataset's classes, then labels typed in by people."""
        out = list(self.split.pool.classes)
        for c in [*self.session.classes, *self.extra_classes]:
            if c not in out:
                out.append(c)
        return out

    def suggest(self, batch: int = 1) -> list[int]:
        """The current suggestion(s), chosen once and kept until something changes."""
        if self.suggestions and self._asked == batch:
            return self.suggestions[:batch]
        self._asked = batch
        avoid = set(self.skipped) | self._reserved_by_others()
        n_pool = len(self.session.pool)
        if n_pool == 0:
            raise EmptyPoolError("every item of the pool is labeled")
        # Skipped and reserved items count as picks of the batch (so their near-duplicates are
        # not suggested next either) and are then dropped.
        ask = min(n_pool, batch + len(avoid & set(self.session.pool.tolist())))
        picks = [i for i in self.session.next(batch=ask) if i not in avoid]
        if not picks:
            raise EmptyPoolError("every unlabeled item was skipped or reserved; undo a skip")
        picks = picks[:batch]
        if self.link is not None:
            # Batch mode hands items out for a while: reserve them so two people never get
            # the same item (an item someone else won meanwhile is dropped). Earlier
            # reservations of this person are given back first.
            store, project, who = self.link.store, self.link.project, self.link.who
            if self._holding:
                store.release(project, who)
                self._holding = False
            if batch > 1:
                ids = self.session.project_link.ids
                granted = set(store.reserve(project, ids[picks], who))
                picks = [p for p in picks if ids[p] in granted]
                self._holding = True
        self.suggestions = picks
        return self.suggestions

    def holdout_accuracy(self) -> float | None:
        """Accuracy of the current kNN model on the holdout (None without ground truth or
        labels). Recomputed only when the labels changed."""
        if not self.split.has_holdout or self.session.n_labeled == 0:
            return None
        if self._accuracy[0] == self.version:
            return self._accuracy[1]
        # The one held-out path (the simulation's): exact search over the small holdout, in
        # blocked matrix products, so a click never builds an HNSW graph.
        accuracy = holdout_accuracy(self.session, self.split.holdout_vectors,
                                    self.split.holdout_labels)
        self._accuracy = (self.version, accuracy)
        return accuracy

    def prediction(self, item: int) -> tuple[Hashable | None, dict]:
        """Predicted label of ``item`` and its class probabilities (empty before any label)."""
        if not self.session.classes:
            return None, {}
        proba = self.session.predict_proba([item])[0]
        predicted = self.session.predict([item])[0]
        return predicted, dict(zip(self.session.classes, proba.tolist(), strict=True))

    def why(self, item: int):
        """Percentile (0-100) of ``item`` within the unlabeled pool for every score letter
        (U, I, D and any other registered scorer)."""
        scores = self.session.scores()
        letters = [scorer.letter for scorer in self.session.score_columns()]
        return (scores.loc[int(item), letters] * 100).astype(float)
