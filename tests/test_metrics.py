"""Metrics against hand-computed values, and the learning-curve chart."""

import altair as alt
import numpy as np
import pandas as pd
import pytest

from labelwise.errors import InvalidInputError
from labelwise.studies.charts import learning_curve_chart, save_chart
from labelwise.studies.metrics import (
    aulc,
    efficiency,
    labels_to_target,
    learning_curves,
    median_step_seconds,
    metric_at,
    summary_markdown,
    summary_table,
)


def hand_results():
    """Two strategies, two folds, three labeled counts; means worked out in the comments."""
    rows = [
        # strategy, fold, n_labeled, accuracy, f1, seconds
        ("random", 0, 2, 0.5, 0.4, np.nan), ("random", 0, 3, 0.6, 0.5, 0.001),
        ("random", 0, 4, 0.9, 0.8, 0.003),
        ("random", 1, 2, 0.5, 0.4, np.nan), ("random", 1, 3, 0.8, 0.7, 0.002),
        ("random", 1, 4, 0.9, 0.8, 0.004),
        ("S", 0, 2, 0.5, 0.4, np.nan), ("S", 0, 3, 0.9, 0.9, 0.010),
        ("S", 0, 4, 1.0, 1.0, 0.030),
        ("S", 1, 2, 0.5, 0.4, np.nan), ("S", 1, 3, 0.9, 0.9, 0.020),
        ("S", 1, 4, 0.8, 0.6, 0.040),
    ]
    return pd.DataFrame(rows, columns=["strategy", "fold", "n_labeled", "accuracy", "f1",
                                       "seconds"])


def test_learning_curves_mean_and_t_interval():
    curves = learning_curves(hand_results())
    assert curves["strategy"].tolist() == ["random"] * 3 + ["S"] * 3
    random3 = curves[(curves["strategy"] == "random") & (curves["n_labeled"] == 3)].iloc[0]
    # mean(0.6, 0.8) = 0.7; sd = 0.1414; sd/sqrt(2) = 0.1; t(0.975, df=1) = 12.7062
    assert random3["accuracy_mean"] == pytest.approx(0.7)
    assert random3["accuracy_low"] == pytest.approx(0.7 - 1.270620, abs=1e-5)
    assert random3["accuracy_high"] == pytest.approx(0.7 + 1.270620, abs=1e-5)
    assert random3["n_folds"] == 2
    same = curves[curves["n_labeled"] == 2]  # both folds equal: zero-width band
    assert (same["accuracy_low"] == same["accuracy_high"]).all()
    assert curves.loc[curves["strategy"] == "S", "f1_mean"].tolist() == pytest.approx(
        [0.4, 0.9, 0.8])


def test_single_fold_band_collapses_to_the_curve():
    one = hand_results().query("fold == 0")
    curves = learning_curves(one)
    assert np.allclose(curves["accuracy_low"], curves["accuracy_mean"])
    assert np.allclose(curves["accuracy_high"], curves["accuracy_mean"])


def test_labels_to_target_and_efficiency():
    results = hand_results()
    # mean curves: random 0.5, 0.7, 0.9; S 0.5, 0.9, 0.9 (0.9 reached as a float average)
    labels = labels_to_target(results, 0.9)
    assert labels.to_dict() == {"random": 4.0, "S": 3.0}
    assert efficiency(results, 0.9).to_dict() == pytest.approx({"random": 1.0, "S": 4 / 3})
    never = labels_to_target(results, 0.95)
    assert never.isna().all()
    assert efficiency(results, 0.95).isna().all()
    # mean F1: random 0.4, 0.6, 0.8 (never 0.85); S 0.4, 0.9, 0.8
    f1_labels = labels_to_target(results, 0.85, metric="f1")
    assert np.isnan(f1_labels["random"]) and f1_labels["S"] == 3.0


def test_aulc_is_the_mean_height_of_the_trapezoids():
    # random: ((0.5+0.7)/2 + (0.7+0.9)/2) / 2 = 0.7 ; S: ((0.5+0.9)/2 + (0.9+0.9)/2) / 2 = 0.8
    assert aulc(hand_results()).to_dict() == pytest.approx({"random": 0.7, "S": 0.8})


def test_metric_at_and_median_step():
    results = hand_results()
    assert metric_at(results, 3).to_dict() == pytest.approx({"random": 0.7, "S": 0.9})
    # 10 is beyond the budget: the last recorded point counts; 1 is before the start: NaN
    assert metric_at(results, 10).to_dict() == pytest.approx({"random": 0.9, "S": 0.9})
    assert metric_at(results, 1).isna().all()
    # medians over the non-starting rows: random (1, 3, 2, 4) ms -> 2.5 ms; S -> 25 ms
    assert median_step_seconds(results).to_dict() == pytest.approx(
        {"random": 0.0025, "S": 0.025})


def test_summary_table_one_row_per_strategy():
    summary = summary_table(hand_results(), 0.9, checkpoints=(3, 50))
    assert summary["strategy"].tolist() == ["random", "S"]
    s = summary.set_index("strategy").loc["S"]
    assert s["folds"] == 2 and s["labels_to_target"] == 3
    assert s["efficiency"] == pytest.approx(4 / 3) and s["aulc"] == pytest.approx(0.8)
    assert s["accuracy@3"] == pytest.approx(0.9) and "accuracy@50" not in summary
    assert s["final_accuracy"] == pytest.approx(0.9) and s["final_n_labeled"] == 4
    assert s["median_step_ms"] == pytest.approx(25.0)
    text = summary_markdown(summary, 0.9)
    assert "| strategy | folds | labels to 0.9 |" in text
    assert "| S | 2 | 3 | 1.33x | 0.800 |" in text
    unreached = summary_markdown(summary_table(hand_results(), 0.99), 0.99)
    assert "not reached" in unreached
    # random's mean F1 never reaches 0.85 within 4 labels, S's does at 3: at least 4/3.
    f1_text = summary_markdown(summary_table(hand_results(), 0.85, metric="f1"), 0.85)
    assert "| S | 2 | 3 | > 1.33x |" in f1_text


def test_bad_results_are_refused():
    with pytest.raises(InvalidInputError, match="column"):
        labels_to_target(pd.DataFrame({"strategy": ["a"]}), 0.9)
    with pytest.raises(InvalidInputError, match="target"):
        labels_to_target(hand_results(), 90)
    with pytest.raises(InvalidInputError, match="baseline"):
        efficiency(hand_results(), 0.9, baseline="uniform")


def test_chart_layers_bands_lines_and_dashed_guides(tmp_path):
    chart = learning_curve_chart(hand_results(), target=0.9)
    assert isinstance(chart, alt.LayerChart)
    spec = chart.to_dict()
    marks = [layer["mark"]["type"] for layer in spec["layer"]]
    assert marks == ["area", "line", "rule", "rule"]
    dashed = [layer for layer in spec["layer"] if "strokeDash" in layer["mark"]]
    assert len(dashed) == 2
    # The same chart from learning_curves output, and without a target: no guide lines.
    plain = learning_curve_chart(learning_curves(hand_results()), metric="f1").to_dict()
    assert [layer["mark"]["type"] for layer in plain["layer"]] == ["area", "line"]
    png = save_chart(chart, tmp_path / "c.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = save_chart(chart, tmp_path / "c.html").read_text()
    assert "vega" in html and "https://cdn" not in html  # self-contained
