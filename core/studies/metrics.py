"""Reading simulation results: learning curves, labels to a target, efficiency, AULC, speed.

All functions take the tidy table of :func:`labelwise.studies.simulation.simulate` (columns
``strategy``,
``fold``, ``n_labeled``, ``accuracy``, ``f1``, ``seconds``) and return one row per strategy (or
per strategy and labeled count), strategies in their order of first appearance.

Definitions
-----------
mean curve
    For each strategy and labeled count, the mean of the metric over folds, with a 95%
    confidence band ``mean +/- t(0.975, n-1) * sd / sqrt(n)`` (Student's t over the ``n``
    folds; the band collapses to the mean when there is a single fold).
labels to target
    The first labeled count at which the *mean* curve reaches the target (``>=``); NaN when it
    never does within the budget.
efficiency
    The baseline's labels to target divided by the strategy's (2.0: half the labels). NaN when
    either never reaches the target.
AULC
    Area under the mean curve by the trapezoidal rule over the labeled counts, divided by the
    width of that range: the average metric over the labeling run, in [0, 1], comparable across
    budgets of the same start.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import InvalidInputError

METRICS = ("accuracy", "f1")
_REQUIRED = ("strategy", "fold", "n_labeled")
# Mean accuracies are averages of fractions; compare to a target with this slack so 0.9 reached
# as 0.8999999999999999 still counts.
_TOLERANCE = 1e-9


def _check(results: pd.DataFrame, metric: str | None = None) -> None:
    if not isinstance(results, pd.DataFrame):
        raise InvalidInputError(f"results must be a pandas DataFrame, got {type(results)}")
    missing = [c for c in (*_REQUIRED, *([metric] if metric else [])) if c not in results]
    if missing:
        raise InvalidInputError(
            f"results lack column(s) {missing}; expected the table of labelwise.simulate")
    if metric is not None and metric not in METRICS:
        raise InvalidInputError(f"metric must be one of {METRICS}, got {metric!r}")
    if results.empty:
        raise InvalidInputError("results are empty: nothing to summarise")


def _strategies(results: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(results["strategy"].tolist()))


def learning_curves(results: pd.DataFrame, metrics: Sequence[str] = METRICS) -> pd.DataFrame:
    """Mean curve and 95% confidence band over folds, per strategy and labeled count.

    Returns
    -------
    pandas.DataFrame
        Columns ``strategy``, ``n_labeled``, ``n_folds`` and, for each metric ``m``,
        ``m_mean``, ``m_low``, ``m_high``.
    """
    for metric in metrics:
        _check(results, metric)
    grouped = results.groupby(["strategy", "n_labeled"], sort=False)
    out = grouped.size().rename("n_folds").to_frame()
    n = out["n_folds"].to_numpy()
    from scipy import stats  # imported here: scipy.stats is slow to import

    # t quantile for n-1 degrees of freedom; with one fold there is no spread to speak of.
    t = np.where(n > 1, stats.t.ppf(0.975, np.maximum(n - 1, 1)), 0.0)
    for metric in metrics:
        mean = grouped[metric].mean().to_numpy()
        sd = grouped[metric].std(ddof=1).fillna(0.0).to_numpy()
        half = t * sd / np.sqrt(n)
        out[f"{metric}_mean"], out[f"{metric}_low"], out[f"{metric}_high"] = (
            mean, mean - half, mean + half)
    out = out.reset_index()
    order = {s: i for i, s in enumerate(_strategies(results))}
    out = out.assign(_rank=out["strategy"].map(order))
    out = out.sort_values(["_rank", "n_labeled"], kind="stable").drop(columns="_rank")
    return out.reset_index(drop=True)


def _mean_curves(results: pd.DataFrame, metric: str) -> dict[str, pd.Series]:
    """Mean metric over folds indexed by n_labeled (ascending), per strategy."""
    _check(results, metric)
    means = results.groupby(["strategy", "n_labeled"], sort=False)[metric].mean()
    return {s: means.loc[s].sort_index() for s in _strategies(results)}


def labels_to_target(results: pd.DataFrame, target: float,
                     metric: str = "accuracy") -> pd.Series:
    """First labeled count where the mean curve reaches ``target`` (NaN: never), per strategy."""
    target = _check_target(target)
    out = {}
    for strategy, curve in _mean_curves(results, metric).items():
        reached = curve.index[curve.to_numpy() >= target - _TOLERANCE]
        out[strategy] = float(reached[0]) if len(reached) else np.nan
    return pd.Series(out, name="labels_to_target", dtype=float).rename_axis("strategy")


def efficiency(results: pd.DataFrame, target: float, baseline: str = "random",
               metric: str = "accuracy") -> pd.Series:
    """Baseline's labels to ``target`` divided by each strategy's (>1: fewer labels needed)."""
    labels = labels_to_target(results, target, metric)
    if baseline not in labels.index:
        raise InvalidInputError(
            f"baseline {baseline!r} is not among the strategies {labels.index.tolist()}")
    return (labels[baseline] / labels).rename("efficiency")


def aulc(results: pd.DataFrame, metric: str = "accuracy") -> pd.Series:
    """Normalised area under the mean learning curve (its average height), per strategy."""
    out = {}
    for strategy, curve in _mean_curves(results, metric).items():
        x, y = curve.index.to_numpy(dtype=float), curve.to_numpy()
        out[strategy] = float(y[0]) if len(x) == 1 else float(
            np.trapezoid(y, x) / (x[-1] - x[0]))
    return pd.Series(out, name="aulc", dtype=float).rename_axis("strategy")


def metric_at(results: pd.DataFrame, n_labeled: int, metric: str = "accuracy") -> pd.Series:
    """Mean metric at the largest recorded labeled count <= ``n_labeled`` (NaN: none)."""
    out = {}
    for strategy, curve in _mean_curves(results, metric).items():
        upto = curve[curve.index <= n_labeled]
        out[strategy] = float(upto.iloc[-1]) if len(upto) else np.nan
    return pd.Series(out, name=f"{metric}@{n_labeled}", dtype=float).rename_axis("strategy")


def median_step_seconds(results: pd.DataFrame) -> pd.Series:
    """Median wall time of one selection + label step, per strategy (starting rows excluded)."""
    _check(results)
    if "seconds" not in results:
        raise InvalidInputError("results lack the 'seconds' column")
    med = results.groupby("strategy", sort=False)["seconds"].median()
    return med.reindex(_strategies(results)).rename("median_step_seconds").rename_axis(
        "strategy")


def _check_target(target) -> float:
    if isinstance(target, bool) or not isinstance(target, (int, float, np.floating)) or not (
            0.0 < float(target) <= 1.0):
        raise InvalidInputError(f"target must be a number in (0, 1], got {target!r}")
    return float(target)


def summary_table(results: pd.DataFrame, target: float, baseline: str = "random",
                  metric: str = "accuracy",
                  checkpoints: Sequence[int] = (50, 100, 200, 500)) -> pd.DataFrame:
    """One row per strategy: labels to target, efficiency, AULC, checkpoints, final, speed.

    Columns: ``strategy``, ``folds``, ``labels_to_target``, ``efficiency`` (against
    ``baseline``; NaN if the baseline is not in the results), ``aulc``, ``<metric>@<n>`` for the
    checkpoints within the recorded range, ``final_<metric>`` (mean at the largest labeled
    count), ``final_n_labeled`` and ``median_step_ms``.
    """
    _check(results, metric)
    labels = labels_to_target(results, target, metric)
    table = pd.DataFrame({"folds": results.groupby("strategy", sort=False)["fold"].nunique()})
    table = table.reindex(labels.index)
    table["labels_to_target"] = labels
    table["efficiency"] = (labels[baseline] / labels if baseline in labels.index
                           else np.nan)
    table["aulc"] = aulc(results, metric)
    top = int(results["n_labeled"].max())
    for n in checkpoints:
        if n <= top:
            table[f"{metric}@{n}"] = metric_at(results, n, metric)
    curves = _mean_curves(results, metric)
    table[f"final_{metric}"] = [curves[s].iloc[-1] for s in table.index]
    table["final_n_labeled"] = [int(curves[s].index[-1]) for s in table.index]
    if "seconds" in results:
        table["median_step_ms"] = median_step_seconds(results) * 1e3
    return table.reset_index()


def summary_markdown(summary: pd.DataFrame, target: float | None = None,
                     metric: str = "accuracy", baseline: str = "random") -> str:
    """The summary table as GitHub Markdown (numbers rounded for reading; 'not reached').

    When the baseline never reaches the target but a strategy does, its efficiency is shown as
    a lower bound: ``> b/n x`` with ``b`` the baseline's last labeled count.
    """
    rename = {"labels_to_target": f"labels to {target:g}" if target else "labels to target",
              "efficiency": "efficiency vs random", "aulc": "AULC",
              "median_step_ms": "median step (ms)"}
    shown = summary.rename(columns=rename)
    header = "| " + " | ".join(shown.columns) + " |"
    rule = "|" + "|".join("---" if c == "strategy" else "---:" for c in shown.columns) + "|"
    lines = [header, rule]
    bounds = _efficiency_bounds(summary, baseline)
    for number, row in enumerate(shown.itertuples(index=False)):
        cells = [_cell(column, value) for column, value in zip(shown.columns, row, strict=True)]
        if bounds[number] is not None and "efficiency vs random" in shown:
            cells[list(shown.columns).index("efficiency vs random")] = bounds[number]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _efficiency_bounds(summary: pd.DataFrame, baseline: str) -> list[str | None]:
    """'> x' lower bounds where the baseline did not reach the target and the strategy did."""
    out: list[str | None] = [None] * len(summary)
    needed = {"strategy", "labels_to_target", "final_n_labeled"}
    if not needed <= set(summary.columns) or baseline not in set(summary["strategy"]):
        return out
    base = summary.set_index("strategy").loc[baseline]
    if not np.isnan(base["labels_to_target"]):
        return out
    for number, labels in enumerate(summary["labels_to_target"]):
        if not np.isnan(labels):
            out[number] = f"> {base['final_n_labeled'] / labels:.2f}x"
    return out


def _cell(column: str, value) -> str:
    if isinstance(value, str):
        return value.replace("|", "\\|")
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "not reached" if column.startswith("labels to") else "n/a"
    if column.startswith("labels to") or column in ("folds", "final_n_labeled"):
        return f"{value:.0f}"
    if column.startswith("efficiency"):
        return f"{value:.2f}x"
    if "ms" in column:
        return f"{value:.2f}"
    return f"{value:.3f}"
