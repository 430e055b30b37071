"""The graph model's goals (issue 12): kNN vs graph vs auto, and where the stopping signal fires.

For each dataset, the project's default strategy (and random) labels 16 folds (n_init 2, k=5,
uniform votes, seed 0, as ``reproduce_reference.py``) once with each model. Writes to
``benchmarks/results/``:

- ``model_goals.md`` / ``.json``: per dataset and model, labels to the target accuracy, accuracy
  at 20/50/100 labels, the AULC with its 95% band over folds (mean +- 1.96 standard errors), and
  the goal verdicts: ``auto`` within kNN's band, and the dataset's own targets;
- ``stopping.md`` / ``.csv``: per dataset and model, where the stopping signal first fires
  (median over folds; how many folds fire before the full budget) and the holdout accuracy there
  against the accuracy at the full budget (mean over folds of the difference: the goal is at
  most 1.5 points).

Datasets: the built-in packs fruits (group and random splits), sentiment140 (USE), sentiment140-e5
(when the pack is present), digits and moons, and four the models were not tuned on: scikit-learn's
wine and breast-cancer tables (standardised), a synthetic set with a rare class (5%), and the moons
with 10% of the labels flipped.

    python benchmarks/model_goals.py                  # everything, 2 jobs (about 20 min)
    python benchmarks/model_goals.py --only fruits_group digits --folds 4
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from labelwise import Dataset, list_datasets, load_dataset, simulate  # noqa: E402
from labelwise.studies.metrics import labels_to_target, metric_at  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
MODELS = ("knn", "graph", "auto")
FOLDS, N_INIT, SEED = 16, 2, 0
STRATEGY = "U*I*D"
CHECKPOINTS = (20, 50, 100)
COUNT_COLUMNS = {"labels_to_target", "seconds", "budget", "folds", "folds_fired",
                 "folds_fired_early", "median_stop_at"}


@dataclass(frozen=True)
class Case:
    name: str
    dataset: str
    split: str
    budget: int
    target: float
    tuned: bool  # the graph model's settings were chosen looking at this dataset
    goal: str = ""


CASES = [
    Case("fruits_group", "fruits", "group", 150, 0.90, True,
         "0.90 with <= 50 labels, >= 0.93 at 100"),
    Case("fruits_random", "fruits", "random", 150, 0.90, True, "0.90 with <= 40 labels"),
    Case("tweets_use", "sentiment140", "random", 100, 0.62, True,
         "auto within kNN's AULC band; 0.62 in <= 39 labels"),
    Case("tweets_e5", "sentiment140-e5", "random", 100, 0.62, False,
         "0.62 in <= 20 labels; >= 0.68 at 100"),
    Case("digits", "digits", "random", 150, 0.90, True, "auto within kNN's band"),
    Case("moons", "moons", "random", 100, 0.90, True, "auto within kNN's band"),
    Case("wine", "sk:wine", "random", 60, 0.90, False, "auto within kNN's band"),
    Case("breast_cancer", "sk:breast_cancer", "random", 100, 0.90, False,
         "auto within kNN's band"),
    Case("rare_class", "synthetic:rare", "random", 150, 0.90, False, "auto within kNN's band"),
    Case("noisy_moons", "synthetic:noisy_moons", "random", 100, 0.80, False,
         "auto within kNN's band"),
]


def table_dataset(name: str, X: np.ndarray, y: np.ndarray) -> Dataset:
    """A Dataset of standardised table rows (cosine on standardised features)."""
    X = np.asarray(X, dtype=np.float64)
    X = (X - X.mean(axis=0)) / np.where(X.std(axis=0) > 0, X.std(axis=0), 1.0)
    items = pd.DataFrame({"id": [f"{name}-{i}" for i in range(len(X))]})
    return Dataset(name=name, vectors=X.astype(np.float32), labels=np.array(y).astype(str)
                   .astype(object), items=items, kind="table")


def make_dataset(spec: str) -> Dataset:
    if not spec.startswith(("sk:", "synthetic:")):
        return load_dataset(spec)
    from sklearn import datasets

    if spec == "sk:wine":
        data = datasets.load_wine()
        return table_dataset("wine", data.data, data.target)
    if spec == "sk:breast_cancer":
        data = datasets.load_breast_cancer()
        return table_dataset("breast_cancer", data.data, data.target)
    if spec == "synthetic:rare":
        X, y = datasets.make_classification(
            n_samples=3000, n_features=20, n_informative=6, n_redundant=4, n_classes=3,
            n_clusters_per_class=2, weights=[0.75, 0.20, 0.05], class_sep=1.2, random_state=0)
        return table_dataset("rare_class", X, y)
    if spec == "synthetic:noisy_moons":
        X, y = datasets.make_moons(n_samples=2000, noise=0.15, random_state=1)
        # Lift to 3-D (x, y, 1) so that cosine separates the moons (as the moons pack does).
        X = np.column_stack([X, np.ones(len(X))])
        rng = np.random.default_rng(0)
        flip = rng.random(len(y)) < 0.10
        y = np.where(flip, 1 - y, y)
        items = pd.DataFrame({"id": [f"noisy-moons-{i}" for i in range(len(X))]})
        return Dataset(name="noisy_moons", vectors=X.astype(np.float32),
                       labels=y.astype(str).astype(object), items=items, kind="points")
    raise SystemExit(f"unknown dataset {spec!r}")


def per_fold_aulc(results: pd.DataFrame) -> pd.Series:
    """AULC (average height of the learning curve) of each fold."""
    out = {}
    for fold, run in results.groupby("fold"):
        x = run["n_labeled"].to_numpy(float)
        y = run["accuracy"].to_numpy(float)
        out[fold] = float(np.trapezoid(y, x) / (x[-1] - x[0]))
    return pd.Series(out)


def run_case(case: Case, folds: int, jobs: int,
             models: tuple[str, ...] = MODELS) -> tuple[list[dict], list[dict]]:
    dataset = make_dataset(case.dataset)
    split = case.split if dataset.groups is not None else "random"
    rows, stops = [], []
    for model in models:
        start = time.perf_counter()
        res = simulate(dataset, [STRATEGY], folds=folds, split=split, n_init=N_INIT,
                       budget=case.budget, seed=SEED, n_jobs=jobs, model=model)
        seconds = time.perf_counter() - start
        for strategy, part in res.groupby("strategy", sort=False):
            aulcs = per_fold_aulc(part)
            row = {"case": case.name, "dataset": dataset.name, "n_items": len(dataset),
                   "split": split, "model": model, "strategy": strategy,
                   "labels_to_target": float(labels_to_target(part, case.target)[strategy]),
                   "aulc": float(aulcs.mean()),
                   "aulc_band": float(1.96 * aulcs.std(ddof=1) / np.sqrt(len(aulcs))),
                   "seconds": round(seconds, 1), "folds": folds,
                   "load": round(os.getloadavg()[0], 1)}
            for n in CHECKPOINTS:
                row[f"acc@{n}"] = float(metric_at(part, n)[strategy])
            if "model" in part:
                last = part.sort_values("n_labeled").groupby("fold").tail(1)
                row["graph_share_at_end"] = float((last["model"] == "graph").mean())
            rows.append(row)
            if strategy != "random" and "stop_at" in part:
                stops.append(stopping_row(case, model, strategy, part))
    return rows, stops


def stopping_row(case: Case, model: str, strategy: str, part: pd.DataFrame) -> dict:
    per_fold = part.sort_values("n_labeled").groupby("fold")
    final = per_fold["accuracy"].last()
    stop_at = per_fold["stop_at"].first()
    at_stop = per_fold["accuracy_at_stop"].first()
    fired = stop_at.notna()
    budget = int(part["n_labeled"].max())
    gap = (final - at_stop)[fired]
    return {"case": case.name, "model": model, "strategy": strategy, "budget": budget,
            "folds": len(final), "load": round(os.getloadavg()[0], 1),
            "folds_fired": int(fired.sum()),
            "folds_fired_early": int((stop_at[fired] < budget).sum()),
            "median_stop_at": float(stop_at[fired].median()) if fired.any() else np.nan,
            "mean_accuracy_at_stop": float(at_stop[fired].mean()) if fired.any() else np.nan,
            "mean_final_accuracy": float(final.mean()),
            "mean_gap_points": float(100 * gap.mean()) if fired.any() else np.nan,
            "max_gap_points": float(100 * gap.max()) if fired.any() else np.nan}


def verdicts(rows: list[dict]) -> list[str]:
    table = pd.DataFrame(rows)
    out = []
    for case in CASES:
        part = table[(table["case"] == case.name) & (table["strategy"] != "random")]
        if part.empty:
            continue
        by = part.set_index("model")
        knn, auto = by.loc["knn"], by.loc["auto"]
        within = auto["aulc"] >= knn["aulc"] - knn["aulc_band"]
        out.append(f"- {case.name}: auto AULC {auto['aulc']:.3f} vs kNN {knn['aulc']:.3f} "
                   f"+- {knn['aulc_band']:.3f}: {'within or above' if within else 'BELOW'} "
                   f"kNN's band; labels to {case.target:g}: kNN {_n(knn['labels_to_target'])}, "
                   f"graph {_n(by.loc['graph', 'labels_to_target'])}, auto "
                   f"{_n(auto['labels_to_target'])}; acc@100 auto {auto['acc@100']:.3f}. "
                   f"Goal: {case.goal}.")
    return out


def _n(value: float) -> str:
    return "not reached" if value != value else f"{value:.0f}"


def markdown(frame: pd.DataFrame, columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for _, row in frame.iterrows():
        cells = []
        for col in columns:
            value = row[col]
            if col in COUNT_COLUMNS:
                cells.append(("not reached" if col == "labels_to_target" else "")
                             if value != value else f"{value:.0f}")
            elif isinstance(value, float):
                cells.append("" if value != value else f"{value:.3f}")
            else:
                cells.append(str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def keep_other_cases(rows: list[dict], stops: list[dict], ran: set[str],
                     models: tuple[str, ...] = MODELS) -> tuple[list[dict], list[dict]]:
    """This run's rows plus the stored rows of (case, model) pairs it did not rerun (``--only``,
    ``--models``)."""
    old_rows = RESULTS / "model_goals.json"
    old_stops = RESULTS / "stopping.csv"
    if old_rows.exists():
        rows = [r for r in json.loads(old_rows.read_text())
                if r["case"] not in ran or r["model"] not in models] + rows
    if old_stops.exists():
        kept = pd.read_csv(old_stops)
        rerun = kept["case"].isin(ran) & kept["model"].isin(models)
        stops = kept[~rerun].to_dict("records") + stops
    order = {c.name: i for i, c in enumerate(CASES)}

    def key(r: dict) -> tuple[int, int]:
        return order.get(r["case"], len(order)), MODELS.index(r["model"])

    rows.sort(key=key)
    stops.sort(key=key)
    return rows, stops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", help="case names (default: all)")
    parser.add_argument("--folds", type=int, default=FOLDS)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--models", nargs="*", choices=MODELS, default=list(MODELS),
                        help="models to rerun (the others keep their stored rows)")
    args = parser.parse_args()
    models = tuple(args.models)
    packs = set(list_datasets())
    cases = [c for c in CASES if not args.only or c.name in args.only]
    cases = [c for c in cases if ":" in c.dataset or c.dataset in packs]
    rows, stops = [], []
    for case in cases:
        print(f"{case.name} ...", flush=True)
        r, s = run_case(case, args.folds, args.jobs, models)
        rows += r
        stops += s
    command = "python benchmarks/model_goals.py" + (
        f" --only {' '.join(args.only)}" if args.only else "") + (
        f" --folds {args.folds}" if args.folds != FOLDS else "") + (
        f" --models {' '.join(models)}" if models != MODELS else "")
    header = (f"Last command: `{command}` (cases it did not run keep their stored rows; "
              f"`folds` and `load` say how each was run); n_init {N_INIT}, k=5, seed {SEED}, "
              f"strategy {STRATEGY} (and random); machine {platform.machine()}, "
              f"{os.cpu_count()} cores.")
    rows, stops = keep_other_cases(rows, stops, {c.name for c in cases}, models)
    table = pd.DataFrame(rows)
    cols = ["case", "model", "strategy", "labels_to_target", "acc@20", "acc@50", "acc@100",
            "aulc", "aulc_band", "graph_share_at_end", "folds", "seconds", "load"]
    cols = [c for c in cols if c in table]
    text = ["# Models: kNN, graph, auto (issue 12 goals)", "", header, "",
            markdown(table, cols), "", "## Verdicts", "", *verdicts(rows), ""]
    (RESULTS / "model_goals.md").write_text("\n".join(text))
    (RESULTS / "model_goals.json").write_text(json.dumps(rows, indent=1))
    if stops:
        st = pd.DataFrame(stops)
        st.to_csv(RESULTS / "stopping.csv", index=False)
        scols = list(st.columns)
        (RESULTS / "stopping.md").write_text("\n".join([
            "# Where the stopping signal fires", "", header, "",
            "Per fold: the labeled count where the session first recommends stopping, the "
            "holdout accuracy there, and the accuracy at the full budget; gap = final minus "
            "at-stop, in points (goal: at most 1.5).", "", markdown(st, scols), ""]))
    print("\n".join(verdicts(rows)))


if __name__ == "__main__":
    main()
