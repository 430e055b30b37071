"""Shared state of the dashboard pages: which dataset is open, and its cached heavy parts.

Heavy, shareable things (packs, densities, 2-D maps) live in ``st.cache_resource`` so a rerun
never loads or builds a density twice; ``st.session_state`` holds small settings, each tab's
labeling session and the datasets that session brought (freed when the session ends).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import streamlit as st

import labelwise
from labelwise import LabelwiseError

# Built-in packs, in the order the dashboard prefers them when opening.
PACKS = ("fruits", "sentiment140", "digits", "moons")
DEFAULT_PACK = "fruits"
SOURCE_KEY = "dataset_source"


@dataclass(frozen=True)
class Source:
    """Where the open dataset comes from: a built-in pack or an upload/path registered here."""

    kind: str  # "pack" or "custom"
    name: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}"


@st.cache_resource(show_spinner="Loading the dataset pack...")
def load_pack(name: str):
    """A built-in pack, loaded once per server process."""
    return labelwise.load_dataset(name)


CUSTOM_KEY = "_custom_datasets"


def _custom_datasets() -> dict:
    """Datasets this session brought (upload or server path), by name and content key.

    Kept in ``st.session_state``, not ``st.cache_resource``: a server-wide cache never let go
    of an upload, so every visitor's files piled up in memory; session state is freed when
    the session ends.
    """
    return st.session_state.setdefault(CUSTOM_KEY, {})


def register_custom(dataset, key: str) -> Source:
    """Keep a user's dataset for the life of this session and return its source.

    ``key`` names the content and the loading options (see dashboard.byo).
    """
    name = f"{dataset.name}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"
    _custom_datasets()[name] = dataset
    _custom_datasets()[f"key:{key}"] = name
    return Source("custom", name)


def custom_by_key(key: str) -> Source | None:
    """The source of a dataset already loaded with this content and these options."""
    name = _custom_datasets().get(f"key:{key}")
    return None if name is None else Source("custom", name)


def content_key(data) -> str:
    """A short stable hash of bytes or an array, to key caches by content."""
    raw = data if isinstance(data, bytes) else np.ascontiguousarray(data).tobytes()
    return hashlib.sha256(raw).hexdigest()[:16]


def available_packs() -> list[str]:
    """Built-in packs present on this machine: the known ones in preference order, then any
    other pack folder."""
    present = labelwise.available_packs()
    return [p for p in PACKS if p in present] + [p for p in present if p not in PACKS]


def current_source() -> Source:
    """The open dataset's source; on first visit, fruits (or the first pack that loads)."""
    source = st.session_state.get(SOURCE_KEY)
    if source is not None:
        return source
    problems = []
    for name in available_packs():
        try:
            load_pack(name)
        except LabelwiseError as exc:
            problems.append(f"{name}: {exc}")
            continue
        if name != DEFAULT_PACK:
            st.session_state["fallback_note"] = (
                f"The {DEFAULT_PACK} pack is not available on this machine, so the dashboard "
                f"opened on the {name} pack instead. "
                + (" ".join(problems) if problems else "Build it with "
                   f"`labelwise build-pack {DEFAULT_PACK}`."))
        source = Source("pack", name)
        st.session_state[SOURCE_KEY] = source
        return source
    raise LabelwiseError("no built-in dataset pack could be loaded: " + (
        "; ".join(problems) or "data/packs is empty"))


def set_source(source: Source) -> None:
    st.session_state[SOURCE_KEY] = source
    st.session_state.pop("fallback_note", None)


def current_dataset():
    """The open :class:`labelwise.data.datasets.Dataset`."""
    source = current_source()
    if source.kind == "pack":
        return load_pack(source.name)
    dataset = _custom_datasets().get(source.name)
    if dataset is None:
        # Not this session's upload (or the server restarted): go back to the default pack.
        st.session_state.pop(SOURCE_KEY, None)
        return current_dataset()
    return dataset


# Bounded: an uploaded dataset's density and split are evicted once newer ones push them out,
# so a stream of uploads cannot grow the server without end.
CACHED_DATASETS = 16


@st.cache_resource(show_spinner="Computing the density of every item (once per dataset)...",
                   max_entries=CACHED_DATASETS)
def density(source_key: str, kind: str, _vectors: np.ndarray) -> np.ndarray:
    """Density ``i`` of every item for ``kind`` ("knn" or "global"), computed once per dataset.

    ``_vectors`` is not hashed (leading underscore): ``source_key`` names the dataset.
    """
    return labelwise.pool_density(_vectors, kind, normalize=True)


def pool_density(source_key: str, kind: str, split, dataset) -> np.ndarray:
    """Density of every pool item for ``kind``, without computing it when the pack ships it.

    A pack built with its density (``Dataset.density``: kNN, normalised, over all its items)
    gives the pool's rows of it at once, so the first item shows in a second or two instead
    of after a pass over every pair of items; scoring uses the density's ranks (its CDF), and
    the only difference to a pool-only density is that the holdout items count as neighbours
    too. Older packs, other kinds and user files compute it once (:func:`density`).
    """
    stored = getattr(dataset, "density", None) if kind == "knn" else None
    if stored is not None and len(stored) == len(dataset):
        return np.asarray(stored)[split.pool_rows]
    return density(source_key + "|pool", kind, split.pool.vectors)


@st.cache_resource(show_spinner="Reading the pool's neighbour graph (built once per dataset)...",
                   max_entries=CACHED_DATASETS)
def _pool_parts(source_key: str, _vectors: np.ndarray):
    return labelwise.pool_parts_for(_vectors)


def pool_parts(source_key: str, split):
    """The pool's neighbour graph and exact kNN density (:class:`labelwise.PoolParts`).

    Read from the pack's stored pool or the disk cache (:func:`labelwise.pool_parts_for`,
    what ``pool_graph_for`` and ``pool_density_for`` read), computed and cached there the
    first time; held here once per dataset, keyed like :func:`pool_density`.
    """
    return pool_parts_of(source_key, split.pool.vectors)


def pool_parts_of(source_key: str, pool_vectors: np.ndarray):
    """:func:`pool_parts` for a caller that holds the pool's vectors rather than its split."""
    return _pool_parts(source_key + "|pool", pool_vectors)


@st.cache_resource(show_spinner=False, max_entries=CACHED_DATASETS)
def fingerprint(source_key: str, _dataset) -> str:
    """The dataset's fingerprint, hashed once per source (it reads every vector)."""
    return _dataset.fingerprint()


@st.cache_resource(show_spinner="Projecting the pool to 2-D (once per dataset)...",
                   max_entries=CACHED_DATASETS)
def _layout(dataset_fingerprint: str, _dataset) -> np.ndarray:
    items = _dataset.items
    if {"x", "y"} <= set(items.columns):
        xy = np.column_stack([items["x"].to_numpy(float), items["y"].to_numpy(float)])
    else:
        from sklearn.decomposition import PCA

        xy = PCA(n_components=2, random_state=0).fit_transform(_dataset.vectors)
    xy = np.asarray(xy, dtype=np.float32)
    xy.flags.writeable = False
    return xy


def layout(source_key: str, dataset) -> np.ndarray:
    """2-D coordinates of every item of ``dataset`` (the pool of ``source_key``): the raw
    x, y of points, else the first two principal components. The Explore and Review maps
    share it.

    ``st.cache_resource`` (not ``cache_data``), keyed by the dataset's fingerprint: the array
    is handed out as is, never copied or pickled on each rerun. Read-only so no caller can
    change the shared copy.
    """
    return _layout(fingerprint(source_key, dataset), dataset)


def drawn_rows(n: int, must: np.ndarray, limit: int) -> np.ndarray:
    """The rows a map of ``n`` items draws: all of them, or a fixed sample of ``limit`` rows
    plus the rows that must be drawn (the same sample on every rerun)."""
    if n <= limit:
        return np.arange(n)
    return np.union1d(np.random.default_rng(0).choice(n, limit, replace=False), must)


@st.cache_resource(show_spinner="Setting a holdout aside...", max_entries=CACHED_DATASETS)
def pool_split(source_key: str, _dataset):
    """The labeling pool and holdout of a dataset (see :func:`dashboard.labeling.holdout_split`)."""
    from labelwise.dashboard.labeling import holdout_split

    return holdout_split(_dataset)


def show_error(exc: Exception) -> None:
    """One place that turns a project error into a message (never a traceback)."""
    st.error(str(exc), icon=":material/error:")


def keep(key: str, default=None):
    """Make widget ``key`` keep its value when the user visits another page and comes back.

    Streamlit forgets the state of widgets that were not drawn on a run; a shadow copy under
    another name survives and is put back before the widget is drawn again.
    """
    shadow = f"_keep_{key}"
    if key not in st.session_state:
        if shadow in st.session_state:
            st.session_state[key] = st.session_state[shadow]
        elif default is not None:
            st.session_state[key] = default
    return key


def remember(*keys: str) -> None:
    """Store the shadow copies of widgets drawn with :func:`keep`."""
    for key in keys:
        if key in st.session_state:
            st.session_state[f"_keep_{key}"] = st.session_state[key]
