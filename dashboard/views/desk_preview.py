"""A page with only the labeling card, for its browser test and latency benchmark.

Run it as its own script (it is not one of the app's pages yet)::

    streamlit run dashboard/views/desk_preview.py

Query parameters choose what it labels: ``dataset`` (a built-in pack, default ``fruits``),
``seed`` (default 0), ``limit`` (label only the first N items of the pool) and ``desk`` (a
name: pages opened with the same parameters share one desk, as two tabs of one project do; a
new name starts afresh). The desk lives in the server's memory (``st.cache_resource``), so a
reload finds it again; the label store takes that role in the next milestone.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from labelwise import Dataset, LabelingSession, holdout_accuracy, load_dataset
from labelwise.dashboard.card import ItemViews, labeling_card
from labelwise.dashboard.desk import Desk

HOLDOUT_FRACTION = 0.1
HOLDOUT_MAX = 300


def holdout_rows(dataset: Dataset, seed: int) -> np.ndarray:
    """Seeded whole groups (e.g. every augmented copy of one photo) kept aside, so the
    accuracy estimate is not flattered by near-duplicates of labeled items."""
    n = len(dataset)
    if dataset.labels is None or n < 20:
        return np.empty(0, dtype=np.int64)
    groups = dataset.groups if dataset.groups is not None else np.arange(n)
    _, inverse = np.unique(groups, return_inverse=True)
    chosen = np.zeros(n, dtype=bool)
    target = min(HOLDOUT_MAX, max(1, round(HOLDOUT_FRACTION * n)))
    for group in np.random.default_rng(seed).permutation(inverse.max() + 1):
        if chosen.sum() >= target:
            break
        chosen |= inverse == group
    return np.flatnonzero(chosen)


@st.cache_resource(show_spinner="Loading the dataset…")
def open_desk(name: str, seed: int, limit: int | None, desk_name: str) -> tuple[Desk, ItemViews]:
    dataset = load_dataset(name)
    held = holdout_rows(dataset, seed)
    pool_rows = np.setdiff1d(np.arange(len(dataset)), held)
    if limit is not None:
        pool_rows = pool_rows[:limit]
    pool = Dataset(name=dataset.name, vectors=dataset.vectors[pool_rows],
                   labels=None if dataset.labels is None else dataset.labels[pool_rows],
                   items=dataset.items.iloc[pool_rows].reset_index(drop=True),
                   kind=dataset.kind, metadata=dict(dataset.metadata))
    session = LabelingSession(pool.vectors, seed=seed)
    accuracy = None
    if len(held):
        vectors, labels = dataset.vectors[held], dataset.labels[held]

        def accuracy(s: LabelingSession) -> float | None:
            return holdout_accuracy(s, vectors, labels)

    return Desk(session, pool.classes, accuracy=accuracy), ItemViews(pool)


def main() -> None:
    st.set_page_config(page_title="labelwise · labeling desk", layout="wide")
    params = st.query_params
    name = params.get("dataset", "fruits")
    seed = int(params.get("seed", 0))
    limit = int(params["limit"]) if "limit" in params else None
    desk_name = params.get("desk", "default")
    desk, views = open_desk(name, seed, limit, desk_name)
    st.subheader(f"Labeling {name}")
    st.caption("Keys: 1-9, 0 and letters for the classes · Enter or space accepts the model's "
               "prediction · s skips · u undoes.")
    labeling_card(desk, views, scope=f"{name}.{seed}.{limit}.{desk_name}")
    st.text_input("Notes (keys typed here stay here)", key="notes")


main()
