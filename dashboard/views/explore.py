"""Explore: watch where a strategy looks, one oracle-labeled pick at a time, on a 2-D map.

A Step reruns only the stepping part of the page (an ``st.fragment``): the map, the read-outs
and the last pick's neighbours update in place and the page keeps its scroll. The 2-D layout
of the pool is computed once per dataset (``state.layout``, cached by its fingerprint) and
the map's spec once per server, so a Step sends only the map's small table (no thumbnails in
it: those are shown for the last pick and its neighbours, below the map).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from labelwise import (
    LabelingSession,
    LabelwiseError,
    Strategy,
    holdout_accuracy,
    thumbnail_jpeg,
)
from labelwise.dashboard import charts, state, widgets

STRATEGIES = ["U*I*D", "U*I", "U*D", "I*D", "U", "I", "D", "random"]
MAX_POINTS = 2500  # points drawn; labeled items and candidates are always among them
N_CANDIDATES = 5
NEIGHBOUR_THUMB = 96
GRID_COLUMNS = 6  # the last pick and up to five neighbours per row
KEY = "explore"


def fresh_session(dataset, settings: dict, source: str) -> LabelingSession:
    """An empty session over the labeling pool (the same pool, stored neighbour graph and
    cached density as the Label page; the holdout is kept aside to score it). With the
    stored graph, the step where ``auto`` turns to the graph model builds nothing."""
    strategy = Strategy.parse(settings["spec"])
    parts = state.pool_parts_of(source, dataset.vectors)
    density = (parts.density if strategy.density == "knn"
               else state.density(source + "|pool", strategy.density, dataset.vectors))
    return LabelingSession(dataset.vectors, strategy, k=settings["k"],
                           weights=settings["weights"], seed=settings["seed"],
                           density_values=density, graph=parts.graph)


def new_run(dataset, settings: dict, source: str) -> dict:
    """A fresh oracle run: ``n_init`` seeded random labels, then the strategy's picks."""
    session = fresh_session(dataset, settings, source)
    rng = np.random.default_rng(settings["seed"])
    start = rng.choice(len(dataset), size=min(settings["n_init"], len(dataset)), replace=False)
    session.label_many([int(i) for i in start], [dataset.labels[i] for i in start])
    return {"source": source, "settings": dict(settings), "session": session,
            "order": [int(i) for i in start], "picks": []}


def rebuilt_for(run: dict, dataset, settings: dict) -> dict:
    """The same labels under a new k or vote weights: every read-out is recomputed from them."""
    session = fresh_session(dataset, settings, run["source"])
    session.label_many(run["order"], [dataset.labels[i] for i in run["order"]])
    return {**run, "settings": dict(settings), "session": session}


def step(run: dict, dataset, count: int) -> None:
    """Let the strategy pick ``count`` items and the oracle label them."""
    session = run["session"]
    for _ in range(count):
        if not len(session.pool):
            break
        item = int(session.next())
        session.label(item, dataset.labels[item])
        run["picks"].append(item)
        run["order"].append(item)


def map_frame(run: dict, dataset, xy: np.ndarray, color_by: str) -> pd.DataFrame:
    """The map's table: one row per drawn item, with its state, colour and score."""
    session = run["session"]
    n = len(dataset)
    candidates = np.empty(0, dtype=np.int64)
    score = np.full(n, np.nan, dtype=np.float32)
    if len(session.pool):
        scores = session.scores()["S"]
        score[scores.index.to_numpy()] = scores.to_numpy()
        if not session.strategy.is_random:
            candidates = scores.nlargest(N_CANDIDATES).index.to_numpy()
    labeled = session.labeled
    rows = state.drawn_rows(n, np.union1d(labeled, candidates), MAX_POINTS)
    predicted = session.predict()
    truth = np.asarray(dataset.labels, dtype=object)
    state_of = np.full(n, "unlabeled", dtype=object)
    state_of[labeled] = "labeled"
    state_of[candidates] = "next candidate"
    if run["picks"]:
        state_of[run["picks"][-1]] = "last pick"
    colour = predicted if color_by == "prediction" else truth
    # Categorical columns travel as Arrow dictionaries: a third of the bytes of plain text.
    return pd.DataFrame({
        "x": xy[rows, 0], "y": xy[rows, 1],
        "colour": pd.Categorical([widgets.format_label(c) for c in colour[rows]]),
        "state": pd.Categorical(state_of[rows]),
        "item": dataset.ids[rows].astype(str),
        "true label": pd.Categorical(truth[rows].astype(str)),
        "prediction": pd.Categorical([widgets.format_label(p) for p in predicted[rows]]),
        "S": np.round(score[rows], 4)})


def controls() -> dict:
    """The run's settings (outside the fragment: changing one reruns the whole page)."""
    c1, c2, c3, c4, c5 = st.columns(5)
    settings = {
        "spec": c1.selectbox("Strategy", STRATEGIES, key=state.keep("exp_strategy")),
        "n_init": int(c2.number_input("Random labels to start", 1, 50,
                                      key=state.keep("exp_init", 2))),
        "seed": int(c3.number_input("Seed", 0, 10**6, key=state.keep("exp_seed", 0))),
        "k": int(c4.number_input("k (neighbours in the vote)", 1, 50,
                                 key=state.keep("exp_k", 5))),
        "weights": c5.selectbox("Vote weights", ["uniform", "similarity"],
                                key=state.keep("exp_weights")),
    }
    state.remember("exp_strategy", "exp_init", "exp_seed", "exp_k", "exp_weights")
    return settings


def current_run(dataset, source: str, settings: dict) -> dict:
    """This tab's run: kept across reruns and page visits, rebuilt when a setting changed."""
    run = st.session_state.get(KEY)
    same_run = ("spec", "n_init", "seed")
    if run is None or run["source"] != source or any(
            run["settings"][name] != settings[name] for name in same_run):
        run = new_run(dataset, settings, source)
    elif run["settings"] != settings:  # k or weights: same labels, fresh read-outs
        run = rebuilt_for(run, dataset, settings)
    st.session_state[KEY] = run
    return run


@st.fragment
def stepper(dataset, split, xy: np.ndarray, raw_xy: bool, settings: dict,
            source: str) -> None:
    """Step buttons, map, read-outs and neighbours: a Step reruns only this part."""
    b1, b2, b3, b4 = st.columns(4)
    if b4.button("Reset", key="exp_reset", width="stretch"):
        st.session_state[KEY] = new_run(dataset, settings, source)
    run = st.session_state[KEY]
    for col, count in ((b1, 1), (b2, 10), (b3, 50)):
        if col.button(f"Step ×{count}" if count > 1 else "Step", key=f"exp_step_{count}",
                      type="primary" if count == 1 else "secondary", width="stretch"):
            step(run, dataset, count)
    color_by = st.radio("Colour by", ["prediction", "true label"], horizontal=True,
                        key=state.keep("exp_color"))
    state.remember("exp_color")
    # Everything is computed before anything is drawn: the browser then renders while the
    # server is idle, instead of both competing for the CPU.
    session = run["session"]
    frame = map_frame(run, dataset, xy, color_by)
    accuracy = (holdout_accuracy(session, split.holdout_vectors, split.holdout_labels,
                                 cache=run.setdefault("holdout_cache", {}))
                if split.has_holdout else None)
    cells = neighbour_cells(dataset, session, run["picks"][-1]) if run["picks"] else []
    charts.explore_map(frame, color_by, raw_xy, key="explore_map")
    m1, m2, m3 = st.columns(3)
    m1.metric("Labeled by the oracle", session.n_labeled)
    m2.metric("Picks by the strategy", len(run["picks"]))
    if split.has_holdout:
        m3.metric("Holdout accuracy", "—" if accuracy is None else f"{accuracy:.1%}",
                  help=f"Accuracy of the model in use ({session.model_name}; k = {session.k}, "
                       f"{session.weights} votes) on the "
                       f"{len(split.holdout_rows)} items kept aside (the same holdout as the "
                       "Label page).")
    st.caption("Diamonds: labeled items. Red rings: the next candidates (highest S). Black "
               "cross: the last pick. Hover a point to see the item; drag to pan, "
               "Shift + scroll wheel to zoom, double-click to reset the view."
               + (f" Showing {len(frame):,} of {len(dataset):,} items." if len(frame) < len(
                   dataset) else ""))
    if cells:
        neighbours(dataset, cells)


Cell = tuple[int, str, "bytes | None"]


def neighbour_cells(dataset, session: LabelingSession, item: int) -> list[Cell]:
    """The last pick and its nearest labeled neighbours: (row, Markdown-safe caption,
    thumbnail JPEG or None)."""
    near = session.explain(item)
    near = near[near["item"] != item]
    rows = [(item, f"last pick · {widgets.markdown_label(dataset.labels[item])}")] + [
        (int(r.item), f"{widgets.markdown_label(r.label)} · sim {r.similarity:.2f}")
        for r in near.itertuples(index=False)]
    return [(row, caption, small_image(dataset, row)) for row, caption in rows]


def small_image(dataset, row: int) -> bytes | None:
    """A small thumbnail of an image item (never the full image); None for other items."""
    if "image" not in dataset.items.columns:
        return None
    raw = widgets.image_bytes(dataset.items["image"].iat[row])
    try:
        return None if raw is None else thumbnail_jpeg(raw, NEIGHBOUR_THUMB)
    except LabelwiseError:
        return None


def neighbours(dataset, rows: list[Cell]) -> None:
    """The last pick and its neighbours: a table of texts, or a grid of equal image cells."""
    st.subheader("Last pick and its nearest labeled neighbours")
    if "image" not in dataset.items.columns:
        st.dataframe(pd.DataFrame({
            "item": [str(dataset.ids[r]) for r, _, _ in rows],
            "label": [widgets.format_label(dataset.labels[r]) for r, _, _ in rows],
            "text": [widgets.item_text(dataset, r, limit=200) for r, _, _ in rows]}),
            hide_index=True, width="stretch", key="exp_neighbours")
        return
    # Fixed-width cells in fixed columns: thumbnails never overlap, whatever their size.
    for start in range(0, len(rows), GRID_COLUMNS):
        cells = st.columns(GRID_COLUMNS)
        for cell, (row, caption, small) in zip(cells, rows[start:start + GRID_COLUMNS],
                                               strict=False):
            with cell:
                if small is None:
                    st.caption(caption)
                    st.text(widgets.item_text(dataset, row, limit=60))
                else:
                    st.image(small, width=NEIGHBOUR_THUMB, caption=caption)


def page() -> None:
    st.title("Explore")
    try:
        full = state.current_dataset()
        source = state.current_source()
        split = state.pool_split(source.key, full)
    except LabelwiseError as exc:
        state.show_error(exc)
        return
    dataset = split.pool
    st.caption(
        f"Dataset: {widgets.escape_markdown(dataset.name)}. An oracle answers each pick with the "
        "true label, so you can "
        "watch where the strategy looks. On the moons pack, U\\*I\\*D first walks the border "
        "between the moons, then fills dense regions, then spreads out (diversity). To label "
        "items yourself by drawing a lasso on this map, open the Map tab of the Review page.")
    if dataset.labels is None:
        st.warning("This dataset has no ground truth, so there is no oracle to label picks.")
        return
    settings = controls()
    try:
        current_run(dataset, source.key, settings)
    except LabelwiseError as exc:
        state.show_error(exc)
        return
    xy = state.layout(source.key + "|pool", dataset)
    raw_xy = {"x", "y"} <= set(dataset.items.columns)
    stepper(dataset, split, xy, raw_xy, settings, source.key)


page()
