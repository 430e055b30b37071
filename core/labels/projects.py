"""Projects: bind a stored labeling project to a dataset, and resume it as a live session.

A :class:`labelwise.LabelingSession` is never saved; it is rebuilt from the store's event log.
Replay
follows the session's own rules (first label of an item gives it its rank among equally similar
neighbours, a relabel keeps that rank, an unlabel forgets it, classes in first-seen order) but
builds the kNN state in bulk -- one matrix product per block of rows instead of one pass over
the pool per label -- so 10,000 labels replay in seconds (``benchmarks/replay.py``).

Typical use::

    store = LabelStore()
    bind_project(store, "ripeness", dataset, settings=strategy_settings("U*I*D", k=5, seed=0))
    session = resume_session(store, "ripeness", dataset)
    i = session.next()
    label_item(session, i, "ripe", who="ana")   # committed, then applied
    sync(session)                                # other labelers' new labels, on each rerun
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..data.datasets import Dataset, fingerprint, ids_as_text
from ..engine.scorers import DEFAULT_UNCERTAINTY
from ..engine.session import LabelingSession
from ..engine.strategy import Strategy
from ..errors import InvalidInputError, LabelwiseError
from .store import LabelStore, Project, ProjectNotFoundError


class DatasetMismatchError(LabelwiseError):
    """A project is opened against a dataset other than the one it was labeled on."""


@dataclass
class ProjectLink:
    """What ties a live session to its stored project (kept on ``session.project_link``).

    Attributes
    ----------
    store : LabelStore
    project : str
        Project name.
    ids : ndarray of str
        Item id of each pool index (``Dataset.ids`` as text).
    last_event_id : int
        The session reflects every event up to this id.
    """

    store: LabelStore
    project: str
    ids: np.ndarray
    last_event_id: int = 0
    index_of: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.index_of:
            self.index_of = {item: n for n, item in enumerate(self.ids.tolist())}


# -- datasets and projects ---------------------------------------------------------------------
def dataset_fingerprint(dataset: Dataset | None = None, *, vectors=None, ids=None) -> str:
    """The fingerprint a project stores to recognise its dataset: see
    :func:`labelwise.data.datasets.fingerprint` (this takes a Dataset, or vectors and ids)."""
    if dataset is not None:
        vectors, ids = dataset.vectors, dataset.ids
    if vectors is None or ids is None:
        raise InvalidInputError("dataset_fingerprint needs a Dataset, or vectors and ids")
    return fingerprint(vectors, ids)


def strategy_settings(strategy: str | Strategy = "U*I*D", *, k: int = 5,
                      weights: str = "uniform", seed: int | None = None) -> dict:
    """Session settings as the JSON a project stores (validated by parsing the strategy)."""
    parsed = Strategy.parse(strategy)
    return {"strategy": parsed.name, "uncertainty": parsed.uncertainty,
            "density": parsed.density, "k": int(k), "weights": weights, "seed": seed}


def bind_project(store: LabelStore, name: str, dataset: Dataset, *,
                 dataset_id: str | None = None, settings: dict | None = None,
                 fingerprint: str | None = None) -> Project:
    """Open project ``name`` for ``dataset``, creating it on first use.

    Raises
    ------
    DatasetMismatchError
        If the project exists but was labeled on different vectors or ids.
    """
    fingerprint = fingerprint or dataset_fingerprint(dataset)
    try:
        project = store.open_project(name)
    except ProjectNotFoundError:
        return store.create_project(name, dataset_id or dataset.name, fingerprint,
                                    settings or strategy_settings())
    check_dataset(project, dataset, fingerprint=fingerprint)
    return project


def check_dataset(project: Project, dataset: Dataset, *, fingerprint: str | None = None) -> None:
    """Raise :class:`DatasetMismatchError` unless ``dataset`` is the project's dataset."""
    fingerprint = fingerprint or dataset_fingerprint(dataset)
    if fingerprint != project.fingerprint:
        raise DatasetMismatchError(
            f"project {project.name!r} was labeled on dataset {project.dataset_id!r} "
            f"({project.fingerprint[:19]}...), but the dataset given ({dataset.name!r}, "
            f"{fingerprint[:19]}...) has different vectors or item ids. Open it with the "
            f"same dataset, or start a new project.")


# -- replay --------------------------------------------------------------------------------
@dataclass
class _Replayed:
    classes: list
    code: np.ndarray   # class code per pool item, -1 when unlabeled
    seq: np.ndarray    # label sequence number per pool item, -1 when unlabeled
    next_seq: int


def replay_events(events: pd.DataFrame, index_of: dict[str, int], n_items: int) -> _Replayed:
    """Fold label/unlabel events into the session's bookkeeping, as label()/unlabel() would."""
    classes: list = []
    code_of: dict[Hashable, int] = {}
    code = np.full(n_items, -1, dtype=np.int64)
    seq = np.full(n_items, -1, dtype=np.int64)
    next_seq = 0
    unknown = []
    for item_id, action, label in zip(events["item_id"], events["action"], events["label"],
                                      strict=True):
        pos = index_of.get(item_id)
        if pos is None:
            unknown.append(item_id)
            continue
        if action == "label":
            if label not in code_of:
                code_of[label] = len(classes)
                classes.append(label)
            if seq[pos] < 0:
                seq[pos], next_seq = next_seq, next_seq + 1
            code[pos] = code_of[label]
        elif action == "unlabel":
            code[pos] = seq[pos] = -1
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:5])
        raise DatasetMismatchError(
            f"{len(unknown)} labeled item id(s) are not in the dataset ({shown}); the project "
            f"belongs to another dataset")
    return _Replayed(classes, code, seq, next_seq)


def _load_state(session: LabelingSession, state: _Replayed) -> None:
    """Install replayed labels into a fresh session, in their labeling order, in one pass."""
    for label in state.classes:  # keep the live session's class (column) order
        session.add_class(label)
    labeled = np.flatnonzero(state.seq >= 0)
    labeled = labeled[np.argsort(state.seq[labeled], kind="stable")]
    session.label_many(labeled, [state.classes[c] for c in state.code[labeled]])


def resume_session(store: LabelStore, project: str | Project, dataset: Dataset,
                   strategy: str | Strategy | None = None, *, k: int | None = None,
                   weights: str | None = None, seed: int | None = None,
                   density_values=None, fingerprint: str | None = None,
                   model: str = "auto", graph=None) -> LabelingSession:
    """Rebuild a labeling session from a stored project, every current label in place.

    Parameters
    ----------
    store : LabelStore
    project : str or Project
    dataset : Dataset
        Must be the project's dataset (checked by fingerprint). Pool index ``n`` is the item
        with id ``dataset.ids[n]``.
    strategy, k, weights, seed : optional
        Override the project's stored settings.
    density_values : array-like, optional
        Precomputed density, passed to :class:`LabelingSession`.
    fingerprint : str, optional
        The dataset's fingerprint when already known (saves hashing the vectors again).
    model : {"knn", "graph", "auto"}, default="auto"
        The session's model, passed to :class:`LabelingSession`.
    graph : PoolGraph, optional
        The pool's stored neighbour graph (``labelwise.pool_graph_for``), passed to
        :class:`LabelingSession` so the graph model does not build it again.

    Returns
    -------
    LabelingSession
        With ``session.project_link`` (:class:`ProjectLink`) set, for :func:`sync` and
        :func:`label_item`.
    """
    project = store.open_project(project)
    check_dataset(project, dataset, fingerprint=fingerprint)
    settings = project.settings
    if strategy is None:
        strategy = Strategy.parse(settings.get("strategy", "U*I*D"),
                                  uncertainty=settings.get("uncertainty", DEFAULT_UNCERTAINTY),
                                  density=settings.get("density", "knn"))
    session = LabelingSession(
        dataset.vectors, strategy, k=settings.get("k", 5) if k is None else k,
        weights=weights or settings.get("weights", "uniform"),
        seed=settings.get("seed") if seed is None else seed, density_values=density_values,
        model=model, graph=graph)
    link = ProjectLink(store, project.name, ids_as_text(dataset.ids))
    events = store.labels_changed_since(project)
    _load_state(session, replay_events(events, link.index_of, session.n_items))
    link.last_event_id = int(events["id"].max()) if len(events) else 0
    session.project_link = link
    return session


def _link(session: LabelingSession) -> ProjectLink:
    link = session.project_link
    if link is None:
        raise InvalidInputError("this session is not tied to a stored project: create it with "
                                "labelwise.labels.projects.resume_session")
    return link


def sync(session: LabelingSession, store: LabelStore | None = None,
         project: str | Project | None = None) -> pd.DataFrame:
    """Apply the project's events newer than the session (e.g. other labelers') to it.

    ``store`` and ``project`` default to the session's :class:`ProjectLink`. Returns the
    events applied (columns as :meth:`LabelStore.labels_changed_since`).
    """
    link = _link(session)
    store = store or link.store
    name = link.project if project is None else store.open_project(project).name
    events = store.labels_changed_since(name, link.last_event_id)
    for item_id, action, label in zip(events["item_id"], events["action"], events["label"],
                                      strict=True):
        pos = link.index_of.get(item_id)
        if pos is None:
            raise DatasetMismatchError(f"item id {item_id!r} of project {name!r} is not in "
                                       f"this session's dataset")
        if action == "label":
            session.label(pos, label)
        elif session.is_labeled(pos):  # an unlabel already applied here is a no-op
            session.unlabel(pos)
    if len(events):
        link.last_event_id = int(events["id"].max())
    return events


def _record(session: LabelingSession, item: int, action: str, label=None, *,
            who: str) -> int:
    link = _link(session)
    item = session.check_item(item)
    event_id = link.store.record(link.project, link.ids[item], action, label, who=who)
    sync(session)  # applies this event after any earlier one from other labelers, in order
    return event_id


def label_item(session: LabelingSession, item: int, label, *, who: str) -> int:
    """Store ``label`` for pool index ``item`` (committed), then apply it to the session.

    Returns the event id.
    """
    return _record(session, item, "label", label, who=who)


def unlabel_item(session: LabelingSession, item: int, *, who: str) -> int:
    """Undo the label of pool index ``item``: stored first, then applied."""
    return _record(session, item, "unlabel", who=who)


def skip_item(session: LabelingSession, item: int, *, who: str) -> int:
    """Log that ``who`` skipped pool index ``item`` (the session is unchanged)."""
    return _record(session, item, "skip", who=who)


def suggest_batch(session: LabelingSession, size: int, *, who: str,
                  ttl_seconds: float = 600.0) -> list[int]:
    """Up to ``size`` suggestions reserved for ``who``, none reserved by anyone else.

    Syncs first, asks the session for enough suggestions to skip other labelers' reserved
    items, and reserves them in one transaction. A concurrent labeler may win an item between
    the two steps, so fewer than ``size`` can come back; ask again for more.
    """
    link = _link(session)
    sync(session)
    others = link.store.reserved_by_others(link.project, who)
    n_pool = len(session.pool)
    if n_pool == 0:
        return []
    picks = session.next(batch=min(n_pool, size + len(others)))
    free = [p for p in picks if link.ids[p] not in others][:size]
    granted = set(link.store.reserve(link.project, link.ids[free], who, ttl_seconds))
    return [p for p in free if link.ids[p] in granted]
