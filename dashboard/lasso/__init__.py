"""The lasso map: a Streamlit custom component (components v2) to select pool items on a map.

Usage, in a Streamlit script::

    rows = lasso_map(xy, rows=np.arange(len(xy)), colour=codes, labeled=is_labeled,
                     legend=["cat", "dog"], token="project:0", key="review_map")

The person drags a lasso around points (:mod:`labelwise.dashboard.lasso.frontend`); the
pool rows inside it come back as the component state ``selection``. A selection counts only
for the drawing it was made on (its ``token``): the page changes the token to empty it, e.g.
after labeling the selected items.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import streamlit as st

from .frontend import CSS, HTML, JS

COMPONENT_NAME = "labelwise_lasso_map"
_MOUNT = st.components.v2.component(COMPONENT_NAME, html=HTML, css=CSS, js=JS)

#: Vega's category palettes (what the Explore map uses): 10 colours, 20 for more classes.
PALETTE_10 = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
              "#7f7f7f", "#bcbd22", "#17becf")
PALETTE_20 = ("#1f77b4", "#aec7e8", "#ff7f0e", "#ffbb78", "#2ca02c", "#98df8a", "#d62728",
              "#ff9896", "#9467bd", "#c5b0d5", "#8c564b", "#c49c94", "#e377c2", "#f7b6d2",
              "#7f7f7f", "#c7c7c7", "#bcbd22", "#dbdb8d", "#17becf", "#9edae5")


def unit_square(xy: np.ndarray) -> np.ndarray:
    """``xy`` scaled into [0, 1] on both axes, keeping its aspect ratio (the longer side
    spans [0, 1], the other is centred); one point, or points all in one place, at 0.5."""
    xy = np.asarray(xy, dtype=np.float64)
    if not len(xy):
        return xy.reshape(0, 2)
    low, high = xy.min(axis=0), xy.max(axis=0)
    span = float((high - low).max())
    if span <= 0 or not np.isfinite(span):
        return np.full_like(xy, 0.5)
    return (xy - (low + high) / 2) / span + 0.5


def selected_rows(key: str, token: str, drawn: Sequence[int]) -> list[int]:
    """The rows the map ``key`` selected on the drawing ``token``, among ``drawn``; [] for a
    selection made on another drawing or a malformed one (the browser is not trusted)."""
    state = st.session_state.get(key)
    value = state.get("selection") if isinstance(state, Mapping) else getattr(
        state, "selection", None)
    if not isinstance(value, Mapping) or value.get("token") != token:
        return []
    rows = value.get("rows")
    if not isinstance(rows, list):
        return []
    allowed = {int(r) for r in drawn}
    return sorted({r for r in rows if type(r) is int and r in allowed})


def lasso_map(xy: np.ndarray, *, rows: Sequence[int], colour: Sequence[int],
              labeled: Sequence[bool], legend: Sequence[str], token: str, key: str,
              height: int = 480) -> list[int]:
    """Draw the map and return the pool rows selected on it (sorted).

    Parameters
    ----------
    xy : array of shape (n, 2)
        Where each drawn point goes (any scale: fitted into the canvas).
    rows : sequence of int
        The pool row of each drawn point (what a selection names).
    colour : sequence of int
        Each point's index into ``legend``.
    labeled : sequence of bool
        Labeled points are drawn as squares, above the others.
    legend : sequence of str
        The colours' names (shown as text).
    token : str
        Names this drawing; a new token empties the selection.
    key : str
        The component's key.
    height : int, default=480
        The canvas height in CSS pixels.
    """
    rows = np.asarray(rows, dtype=np.int64).tolist()
    if not (len(xy) == len(rows) == len(colour) == len(labeled)):
        raise ValueError("xy, rows, colour and labeled must have one entry per point")
    chosen = selected_rows(key, token, rows)
    unit = unit_square(xy)
    palette = PALETTE_10 if len(legend) <= len(PALETTE_10) else PALETTE_20
    data: dict[str, Any] = {
        "x": np.round(unit[:, 0], 5).tolist(), "y": np.round(unit[:, 1], 5).tolist(),
        "rows": rows, "colour": np.asarray(colour, dtype=np.int64).tolist(),
        "labeled": np.asarray(labeled, dtype=bool).astype(np.int8).tolist(),
        "legend": [str(n) for n in legend],
        "palette": list(palette), "token": token, "selected": chosen, "height": int(height)}
    _MOUNT(key=key, data=data, default={"selection": None}, on_selection_change=_ignore)
    return chosen


def _ignore() -> None:
    """The selection is read before the map is drawn; the callback only declares the state."""
