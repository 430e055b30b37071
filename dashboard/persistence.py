"""Where the Label page keeps labels: a project in the SQLite label store (labelwise.labels.store).

The store file is ``labelwise-data/labelwise.sqlite`` under the working directory (or the folder
in ``LABELWISE_DATA_DIR``); one project per (dataset, project name). Each tab resumes the
project from the store, so reopening the app or a new tab continues where labeling stopped.
"""

from __future__ import annotations

import streamlit as st

from labelwise import (
    LabelStore,
    LabelwiseError,
    bind_project,
    dataset_fingerprint,
    default_store_location,
    strategy_settings,
)
from labelwise.dashboard.labeling import Link, Settings, Split


@st.cache_resource(show_spinner=False)
def open_store(path: str) -> LabelStore:
    """One store object per file for the server (it keeps one connection per thread)."""
    return LabelStore(path)


def store_path() -> str:
    """The store's file, or ``$LABELWISE_STORE``'s PostgreSQL URL (shared by several servers)."""
    return default_store_location()


def project_name(default: str) -> str:
    """The project name typed in the sidebar (default: the dataset's name)."""
    name = st.session_state.get("project_name") or default
    return str(name).strip() or default


@st.cache_resource(show_spinner="Fingerprinting the dataset (once)...")
def pool_fingerprint(source_key: str, _split: Split) -> str:
    return dataset_fingerprint(_split.pool)


def link_for(source_key: str, split: Split, settings: Settings, project: str,
             who: str, seed: int) -> Link:
    """Open (or create) ``project`` for the pool and return the desk's link to it."""
    store = open_store(store_path())
    fingerprint = pool_fingerprint(source_key, split)
    settings_json = strategy_settings(settings.strategy, k=settings.k,
                                      weights=settings.weights, seed=seed)
    try:
        bind_project(store, project, split.pool, dataset_id=source_key,
                     fingerprint=fingerprint, settings=settings_json)
    except LabelwiseError:
        # Another tab (or server) created it between our look and our create (the store's
        # ProjectExistsError, not among labelwise's public names): once more opens theirs,
        # checking the fingerprint like any existing project; any other error comes again.
        bind_project(store, project, split.pool, dataset_id=source_key,
                     fingerprint=fingerprint, settings=settings_json)
    return Link(store, project, who, fingerprint)
