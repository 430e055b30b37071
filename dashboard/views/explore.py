"""Explore: watch where a strategy looks, one oracle-labeled pick at a time, on a 2-D map."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from labelwise import LabelingSession, LabelwiseError, Strategy
from labelwise.dashboard import state, widgets

STRATEGIES = ["U*I*D", "U*I", "U*D", "I*D", "U", "I", "D", "random"]
MAX_POINTS = 2500  # points drawn; labeled items and candidates are always among them
THUMB = 48
N_CANDIDATES = 5
KEY = "explore"


@st.cache_data(show_spinner="Projecting the pool to 2-D (once per dataset)...", max_entries=8)
def projection(source_key: str, _dataset) -> np.ndarray:
    """2-D coordinates of every item: the raw x, y of points, else the first two PCs."""
    items = _dataset.items
    if {"x", "y"} <= set(items.columns):
        return np.column_stack([items["x"].to_numpy(float), items["y"].to_numpy(float)])
    from sklearn.decomposition import PCA

    return PCA(n_components=2, random_state=0).fit_transform(_dataset.vectors)


@st.cache_data(show_spinner="Making thumbnails for the map (once per dataset)...",
               max_entries=4)
def thumbnails(source_key: str, _dataset) -> list:
    """A small data-URL thumbnail of every item, for the map's tooltips."""
    return [widgets.data_url(cell, THUMB) for cell in _dataset.items["image"]]


def shown_rows(n: int, must: np.ndarray) -> np.ndarray:
    """A fixed sample of at most MAX_POINTS rows, plus the rows that must be drawn."""
    if n <= MAX_POINTS:
        return np.arange(n)
    base = np.random.default_rng(0).choice(n, MAX_POINTS, replace=False)
    return np.union1d(base, must)


def new_run(dataset, spec: str, n_init: int, seed: int) -> dict:
    """A fresh oracle run over the labeling pool (the same pool, and cached density, as the
    Label page; the holdout is kept aside to score it)."""
    strategy = Strategy.parse(spec)
    source = state.current_source().key
    session = LabelingSession(dataset.vectors, strategy, seed=seed,
                              density_values=state.density(source + "|pool", strategy.density,
                                                           dataset.vectors))
    rng = np.random.default_rng(seed)
    for item in rng.choice(len(dataset), size=min(n_init, len(dataset)), replace=False):
        session.label(int(item), dataset.labels[item])
    return {"source": source, "spec": spec, "session": session,
            "picks": [], "n_init": n_init, "seed": seed}


def step(run: dict, dataset, count: int) -> None:
    session = run["session"]
    for _ in range(count):
        if not len(session.pool):
            break
        item = session.next()
        session.label(item, dataset.labels[item])
        run["picks"].append(item)


def map_frame(run: dict, dataset, xy: np.ndarray, color_by: str) -> pd.DataFrame:
    session = run["session"]
    n = len(dataset)
    candidates = np.empty(0, dtype=np.int64)
    score = np.full(n, np.nan)
    if len(session.pool):
        scores = session.scores()["S"]
        score[scores.index.to_numpy()] = scores.to_numpy()
        if not session.strategy.is_random:
            candidates = scores.nlargest(N_CANDIDATES).index.to_numpy()
    labeled = session.labeled
    rows = shown_rows(n, np.union1d(labeled, candidates))
    predicted = session.predict()
    truth = np.asarray(dataset.labels, dtype=object)
    state_of = np.full(n, "unlabeled", dtype=object)
    state_of[labeled] = "labeled"
    state_of[candidates] = "next candidate"
    if run["picks"]:
        state_of[run["picks"][-1]] = "last pick"
    colour = predicted if color_by == "prediction" else truth
    frame = pd.DataFrame({
        "x": xy[rows, 0], "y": xy[rows, 1],
        "colour": [widgets.format_label(c) for c in colour[rows]],
        "state": state_of[rows],
        "item": dataset.items["id"].to_numpy()[rows].astype(str),
        "true label": truth[rows].astype(str),
        "prediction": [widgets.format_label(p) for p in predicted[rows]],
        "S": score[rows]})
    if "image" in dataset.items.columns:
        thumbs = thumbnails(state.current_source().key + "|pool", dataset)
        frame["image"] = [thumbs[r] for r in rows]
    else:
        frame["text"] = [widgets.item_text(dataset, int(r), limit=140) for r in rows]
    return frame


def map_chart(frame: pd.DataFrame, color_title: str, raw_xy: bool) -> alt.LayerChart:
    tooltip = ["item", "true label", "prediction", alt.Tooltip("S:Q", format=".3f"), "state"]
    # vega-tooltip draws a field named "image" holding a URL as a picture.
    tooltip.insert(0, "image" if "image" in frame else "text")
    base = alt.Chart(frame).encode(
        x=alt.X("x:Q", title="x" if raw_xy else "PC 1",
                axis=alt.Axis(labels=raw_xy, ticks=raw_xy)),
        y=alt.Y("y:Q", title="y" if raw_xy else "PC 2",
                axis=alt.Axis(labels=raw_xy, ticks=raw_xy)),
        tooltip=tooltip)
    colour = alt.Color("colour:N", title=color_title)
    pool = base.transform_filter(alt.datum.state == "unlabeled").mark_circle(
        size=22, opacity=0.45).encode(color=colour)
    labeled = base.transform_filter(alt.datum.state == "labeled").mark_point(
        size=70, filled=True, shape="diamond", stroke="black", strokeWidth=0.8).encode(
        color=colour)
    candidates = base.transform_filter(alt.datum.state == "next candidate").mark_point(
        size=180, shape="circle", color="#d62728", strokeWidth=2.5)
    last = base.transform_filter(alt.datum.state == "last pick").mark_point(
        size=260, shape="cross", color="black", filled=True)
    return alt.layer(pool, labeled, candidates, last).properties(height=560).interactive()


def controls(dataset) -> tuple[str, int, int]:
    c1, c2, c3 = st.columns(3)
    spec = c1.selectbox("Strategy", STRATEGIES, key=state.keep("exp_strategy"))
    n_init = c2.number_input("Random labels to start", 1, 50, key=state.keep("exp_init", 2))
    seed = c3.number_input("Seed", 0, 10**6, key=state.keep("exp_seed", 0))
    state.remember("exp_strategy", "exp_init", "exp_seed")
    return spec, int(n_init), int(seed)


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
        "between the moons, then fills dense regions, then spreads out (diversity).")
    if dataset.labels is None:
        st.warning("This dataset has no ground truth, so there is no oracle to label picks.")
        return
    spec, n_init, seed = controls(dataset)
    run = st.session_state.get(KEY)
    fresh = run is None or (run["source"], run["spec"], run["n_init"], run["seed"]) != (
        source.key, spec, n_init, seed)
    b1, b2, b3, b4 = st.columns(4)
    reset = b4.button("Reset", key="exp_reset", width="stretch")
    if fresh or reset:
        run = st.session_state[KEY] = new_run(dataset, spec, n_init, seed)
    for col, count in ((b1, 1), (b2, 10), (b3, 50)):
        if col.button(f"Step ×{count}" if count > 1 else "Step", key=f"exp_step_{count}",
                      type="primary" if count == 1 else "secondary", width="stretch"):
            step(run, dataset, count)
    session = run["session"]
    color_by = st.radio("Colour by", ["prediction", "true label"], horizontal=True,
                        key=state.keep("exp_color"))
    state.remember("exp_color")
    xy = projection(source.key + "|pool", dataset)
    frame = map_frame(run, dataset, xy, color_by)
    raw_xy = {"x", "y"} <= set(dataset.items.columns)
    # Vega's own palette: the theme's blues make two classes hard to tell apart.
    st.altair_chart(map_chart(frame, color_by, raw_xy), width="stretch", theme=None,
                    key="explore_map")
    m1, m2, m3 = st.columns(3)
    m1.metric("Labeled by the oracle", session.n_labeled)
    m2.metric("Picks by the strategy", len(run["picks"]))
    if split.has_holdout:
        predicted = session.classifier().predict(split.holdout_vectors)
        accuracy = float(np.mean(predicted == np.asarray(split.holdout_labels, dtype=object)))
        m3.metric("Holdout accuracy", f"{accuracy:.1%}",
                  help=f"kNN accuracy on the {len(split.holdout_rows)} items kept aside "
                       "(the same holdout as the Label page).")
    st.caption("Diamonds: labeled items. Red rings: the next candidates (highest S). Black "
               "cross: the last pick. Hover a point to see the item."
               + (f" Showing {len(frame):,} of {len(dataset):,} items." if len(frame) < len(
                   dataset) else ""))


page()
