"""Data: pick a built-in pack or bring your own; see its size, classes, balance and samples."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from labelwise import LabelwiseError
from labelwise.dashboard import auth, byo, state, widgets

SAMPLE_SIZE = 12


def pick_pack() -> None:
    packs = state.available_packs()
    if not packs:
        st.warning("No built-in pack is present in data/packs.")
        return
    source = state.current_source()
    index = packs.index(source.name) if source.kind == "pack" and source.name in packs else 0
    choice = st.selectbox("Built-in pack", packs, index=index, key="pack_choice")
    if st.button("Open this pack", type="primary", key="open_pack"):
        try:
            state.load_pack(choice)
        except LabelwiseError as exc:
            state.show_error(exc)
            return
        state.set_source(state.Source("pack", choice))
        st.rerun()


def balance_chart(dataset) -> alt.Chart:
    values, counts = np.unique(np.asarray(dataset.labels, dtype=str), return_counts=True)
    frame = pd.DataFrame({"class": values, "items": counts})
    return alt.Chart(frame).mark_bar().properties(height=alt.Step(20)).encode(
        x=alt.X("items:Q", title="items"), y=alt.Y("class:N", sort="-x", title=None),
        tooltip=["class", "items"])


def summary(dataset) -> None:
    meta = dataset.metadata or {}
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Items", f"{len(dataset):,}")
    c2.metric("Kind", dataset.kind)
    c3.metric("Dimensions", dataset.vectors.shape[1])
    c4.metric("Classes", len(dataset.classes) if dataset.labels is not None else "unlabeled")
    details = {k: meta[k] for k in ("title", "encoder", "source", "licence", "build_command")
               if k in meta}
    if details:
        st.dataframe(pd.DataFrame({"about": list(details),
                                   "value": [str(v) for v in details.values()]}),
                     hide_index=True, width="stretch")
    if dataset.labels is not None:
        st.subheader("Class balance")
        st.altair_chart(balance_chart(dataset), width="stretch")


def samples(dataset) -> None:
    st.subheader("Sample items")
    rng = np.random.default_rng(0)
    rows = rng.choice(len(dataset), size=min(SAMPLE_SIZE, len(dataset)), replace=False)
    labels = dataset.labels
    if "image" in dataset.items.columns:
        cols = st.columns(6)
        for n, row in enumerate(rows):
            with cols[n % 6]:
                caption = None if labels is None else widgets.markdown_label(labels[row])
                widgets.show_item(dataset, int(row), width=110, caption=caption)
    else:
        frame = pd.DataFrame({"id": dataset.items["id"].to_numpy()[rows].astype(str),
                              "item": [widgets.item_text(dataset, int(r), 200) for r in rows]})
        if labels is not None:
            frame.insert(1, "label", np.asarray(labels, dtype=str)[rows])
        # st.dataframe shows cells as plain text: markup inside texts is never rendered.
        st.dataframe(frame, hide_index=True, width="stretch")


def data_choices() -> list[str]:
    """Where a dataset may come from for this user.

    Bringing data needs the ``bring_data`` permission; server paths also need the operator to
    name allowed folders (``LABELWISE_DATA_ROOTS``): without them the choice is not offered.
    """
    choices = ["Built-in pack"]
    if auth.can(auth.current_user(), "bring_data"):
        choices.append("Upload a file")
        if byo.data_roots():
            choices.append("Path on the server")
    return choices


def page() -> None:
    st.title("Data")
    if "fallback_note" in st.session_state:
        st.info(st.session_state["fallback_note"])
    where = st.radio("Dataset", data_choices(), horizontal=True, key="data_where")
    if where == "Built-in pack":
        pick_pack()
    elif where == "Upload a file":
        byo.upload_form()
    elif where == "Path on the server":
        byo.path_form(byo.data_roots())
    try:
        dataset = state.current_dataset()
    except LabelwiseError as exc:
        state.show_error(exc)
        return
    st.divider()
    st.header(f"Open: {widgets.escape_markdown(dataset.name)}")
    summary(dataset)
    samples(dataset)


page()
