"""Learning-curve charts (Altair) for simulation results: the CLI and the dashboard use these.

One line per strategy (mean over folds), a shaded 95% confidence band around it, and, given a
target, dashed guide lines: a horizontal one at the target and a vertical one, in the
strategy's colour, where each mean curve first reaches it.
"""

from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd

from ..errors import InvalidInputError
from .metrics import METRICS, labels_to_target, learning_curves

_TITLES = {"accuracy": "Test accuracy", "f1": "Test macro-F1"}


def _curves(results_or_curves: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Accept raw simulation results or :func:`labelwise.studies.metrics.learning_curves` output."""
    if not isinstance(results_or_curves, pd.DataFrame):
        raise InvalidInputError(
            f"expected a DataFrame of results or learning curves, got {type(results_or_curves)}")
    if metric not in METRICS:
        raise InvalidInputError(f"metric must be one of {METRICS}, got {metric!r}")
    if f"{metric}_mean" in results_or_curves:
        curves = results_or_curves.copy()
    else:
        curves = learning_curves(results_or_curves, metrics=[metric])
    # A t-interval around a mean near 0 or 1 can leave [0, 1]; a score cannot.
    for bound in (f"{metric}_low", f"{metric}_high"):
        curves[bound] = curves[bound].clip(0.0, 1.0)
    return curves


def learning_curve_chart(results_or_curves: pd.DataFrame, target: float | None = None,
                         metric: str = "accuracy", *, width: int = 560,
                         height: int = 340) -> alt.LayerChart:
    """Mean learning curves with 95% bands and dashed target guides.

    Parameters
    ----------
    results_or_curves : pandas.DataFrame
        The table of :func:`labelwise.simulate` or of
        :func:`labelwise.studies.metrics.learning_curves`.
    target : float, optional
        Accuracy (or F1) to reach; draws the dashed guide lines.
    metric : {"accuracy", "f1"}
    width, height : int
        Size of the plot in pixels.

    Returns
    -------
    altair.LayerChart
        Save with ``chart.save("curves.html")`` or ``chart.save("curves.png")`` (vl-convert).
    """
    curves = _curves(results_or_curves, metric)
    order = list(dict.fromkeys(curves["strategy"].tolist()))
    mean, low, high = f"{metric}_mean", f"{metric}_low", f"{metric}_high"
    color = alt.Color("strategy:N", sort=order, title="strategy",
                      legend=alt.Legend(orient="bottom", columns=1, labelLimit=400,
                                        symbolType="stroke", symbolStrokeWidth=3,
                                        symbolOpacity=1))
    x = alt.X("n_labeled:Q", title="labeled items")
    base = alt.Chart(curves).encode(x=x, color=color)
    band = base.mark_area(opacity=0.18).encode(
        y=alt.Y(f"{low}:Q", title=_TITLES[metric], scale=alt.Scale(zero=False)),
        y2=alt.Y2(f"{high}:Q"))
    line = base.mark_line(strokeWidth=2).encode(
        y=alt.Y(f"{mean}:Q"),
        tooltip=["strategy:N", "n_labeled:Q", alt.Tooltip(f"{mean}:Q", format=".3f"),
                 alt.Tooltip(f"{low}:Q", format=".3f"), alt.Tooltip(f"{high}:Q", format=".3f"),
                 "n_folds:Q"])
    layers = [band, line]
    if target is not None:
        layers += _target_guides(curves, float(target), metric, order, color)
    return alt.layer(*layers).properties(width=width, height=height)


def _target_guides(curves: pd.DataFrame, target: float, metric: str, order: list[str],
                   color: alt.Color) -> list[alt.Chart]:
    dash = [6, 4]
    horizontal = alt.Chart(pd.DataFrame({"target": [target]})).mark_rule(
        strokeDash=dash, color="gray").encode(y="target:Q", tooltip=["target:Q"])
    # labels_to_target reads the mean column: rename it so it looks like a results table.
    as_results = curves.rename(columns={f"{metric}_mean": metric}).assign(fold=0)
    reached = labels_to_target(as_results, target, metric).dropna()
    guides = [horizontal]
    if len(reached):
        points = pd.DataFrame({"strategy": reached.index, "n_labeled": reached.to_numpy()})
        guides.append(alt.Chart(points).mark_rule(strokeDash=dash).encode(
            x="n_labeled:Q", color=color, tooltip=["strategy:N", "n_labeled:Q"]))
    return guides


def save_chart(chart: alt.TopLevelMixin, path) -> Path:
    """Save a chart as ``.html`` (self-contained, works offline) or ``.png``/``.svg``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".html":
        chart.save(str(path), inline=True)
    elif suffix in (".png", ".svg"):
        chart.save(str(path), scale_factor=2 if suffix == ".png" else 1)
    else:
        raise InvalidInputError(f"charts can be saved as .html, .png or .svg, not {path.name!r}")
    return path
