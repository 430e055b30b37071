"""Dashboard charts whose spec is built once and whose data alone changes between reruns.

``st.altair_chart`` names each dataset by a hash of its content, so every new table gives a new
spec and the browser embeds the chart from scratch (losing pan and zoom). Here the Vega-Lite
spec is built once (cached) and handed to ``st.vega_lite_chart`` with the table as its data:
the spec stays byte-identical and only the data changes.
"""

from __future__ import annotations

import copy
import functools

import altair as alt
import pandas as pd
import streamlit as st

# Zoom on Shift + wheel only: a plain wheel scrolls the page (Vega consumes only the events
# that pass the filter). Drag pans, double-click resets.
ZOOM_EVENTS = "wheel![event.shiftKey]"


@functools.cache
def explore_map_spec(color_title: str, raw_xy: bool) -> dict:
    """The Explore map's Vega-Lite spec, without data: four layers over one table.

    Columns: ``x``, ``y``, ``colour``, ``state`` (unlabeled / labeled / next candidate / last
    pick), ``item``, ``true label``, ``prediction``, ``S``.
    """
    tooltip = ["item:N", "true label:N", "prediction:N", alt.Tooltip("S:Q", format=".3f"),
               "state:N"]
    base = alt.Chart().encode(
        x=alt.X("x:Q", title="x" if raw_xy else "PC 1",
                axis=alt.Axis(labels=raw_xy, ticks=raw_xy)),
        y=alt.Y("y:Q", title="y" if raw_xy else "PC 2",
                axis=alt.Axis(labels=raw_xy, ticks=raw_xy)),
        tooltip=tooltip)
    colour = alt.Color("colour:N", title=color_title)
    view = alt.selection_interval(bind="scales", zoom=ZOOM_EVENTS, name="view")
    pool = base.transform_filter(alt.datum.state == "unlabeled").mark_circle(
        size=22, opacity=0.45).encode(color=colour).add_params(view)
    labeled = base.transform_filter(alt.datum.state == "labeled").mark_point(
        size=70, filled=True, shape="diamond", stroke="black", strokeWidth=0.8).encode(
        color=colour)
    candidates = base.transform_filter(alt.datum.state == "next candidate").mark_point(
        size=180, shape="circle", color="#d62728", strokeWidth=2.5)
    last = base.transform_filter(alt.datum.state == "last pick").mark_point(
        size=260, shape="cross", color="black", filled=True)
    spec = alt.layer(pool, labeled, candidates, last).properties(height=560).to_dict()
    # Altair gives each layer an empty placeholder dataset; the layers must read the
    # top-level table instead.
    for layer in spec["layer"]:
        layer.pop("data", None)
    spec.pop("data", None)
    spec.pop("datasets", None)
    # Canvas, not SVG: thousands of points redraw in a fraction of the time of as many SVG
    # nodes (vega-embed reads its options from usermeta).
    spec["usermeta"] = {"embedOptions": {"renderer": "canvas"}}
    return spec


def explore_map(frame: pd.DataFrame, color_title: str, raw_xy: bool, *, key: str) -> None:
    """Draw (or update in place) the Explore map from ``frame``."""
    # A fresh copy: Streamlit may add to the spec it is given, the cached one stays clean.
    spec = copy.deepcopy(explore_map_spec(color_title, raw_xy))
    # Vega's own palette: the theme's blues make two classes hard to tell apart.
    st.vega_lite_chart(frame, spec, width="stretch", theme=None, key=key)
