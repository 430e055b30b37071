"""Does ``auto`` end on the arm that is clearly best, in the two regimes its rule tells apart?

Two synthetic datasets where one fixed arm clearly wins (formerly a test in tests/test_auto.py;
an AULC margin between strategies is a measurement, not a definition, so it lives here):

- rare_classes: separable blobs with two rare classes (15 and 8 of 1,923 items). Density
  weighting hides the rare blobs, so U*D should beat U*I*D.
- label_noise: 5 classes in 10 clusters with 10% of labels flipped (scikit-learn's
  ``make_classification``). Typical items pay off, so U*I*D should beat U*D.

Per dataset: the AULC (mean holdout accuracy over the run) of U*D, U*I*D and auto from
``simulate`` (4 folds, budget 80, seed 0), the margin of the expected winner, and the arms auto
used over the last quarter of each of 3 labeling runs (the arm it settled on). The expectation
holds when the margin exceeds 0.01 and auto's final arm is the expected winner. Writes
benchmarks/results/auto_regimes.md.

    python benchmarks/auto_regimes.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import make_blobs, make_classification

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from labelwise import LabelingSession, Strategy, aulc, simulate  # noqa: E402
from labelwise.data.datasets import Dataset  # noqa: E402
from labelwise.studies.simulation import make_folds  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
ARMS = ["U*D", "U*I*D"]
FOLDS, BUDGET, SEED = 4, 80, 0
ARM_RUNS = 3  # labeling runs whose final arm is read
MARGIN = 0.01  # below this AULC gap neither arm is "clearly" best


def rare_classes() -> Dataset:
    X, y = make_blobs(n_samples=[700, 700, 500, 15, 8], n_features=32, cluster_std=3.0,
                      random_state=11)
    return table("rare_classes", X, y)


def label_noise() -> Dataset:
    X, y = make_classification(n_samples=2000, n_features=20, n_informative=10, n_classes=5,
                               n_clusters_per_class=2, flip_y=0.1, random_state=7)
    return table("label_noise", X, y)


REGIMES = [(rare_classes, "U*D"), (label_noise, "U*I*D")]


def table(name: str, X, y) -> Dataset:
    return Dataset(name=name, vectors=np.asarray(X, dtype=np.float32),
                   labels=np.asarray(y).astype(str).astype(object),
                   items=pd.DataFrame({"id": np.arange(len(y))}), kind="table")


def final_arms(dataset: Dataset) -> list[str]:
    """Arms auto used over the last quarter of each run, most used first."""
    arms = []
    for fold in make_folds(dataset, folds=ARM_RUNS, seed=SEED):
        session = LabelingSession(dataset.vectors[fold.pool], "auto", seed=fold.number)
        truth = dataset.labels[fold.pool]
        for item in fold.initial:
            session.label(int(item), truth[item])
        for _ in range(BUDGET):
            item = session.next()
            session.label(item, truth[item])
        arms += session.explain_strategy()["decisions"]["arm"].iloc[-BUDGET // 4:].tolist()
    return pd.Series(arms).value_counts().index.tolist()


def measure(make_dataset, expected: str) -> dict:
    dataset = make_dataset()
    results = simulate(dataset, [*ARMS, "auto"], folds=FOLDS, budget=BUDGET, seed=SEED)
    areas = aulc(results).rename(lambda s: s.split(" (")[0])
    other = ({*ARMS} - {expected}).pop()
    arms = final_arms(dataset)
    margin = float(areas[expected] - areas[other])
    holds = margin > MARGIN and arms == [Strategy.parse(expected).label]
    return {"dataset": dataset.name, "expected": expected,
            **{arm: float(areas[arm]) for arm in [*ARMS, "auto"]},
            "margin": margin, "final arms": ", ".join(arms), "holds": holds}


def report(rows: list[dict]) -> str:
    lines = ["# auto in the two regimes its rule tells apart", "",
             f"Command: `python benchmarks/auto_regimes.py` ({FOLDS} folds, budget {BUDGET}, "
             f"seed {SEED}; final arms over the last quarter of {ARM_RUNS} labeling runs). "
             "AULC: mean holdout accuracy over the run. margin: AULC of the expected winner "
             f"minus the other fixed arm; the expectation holds when margin > {MARGIN} and "
             "auto's final arm is the expected winner.", "",
             "| dataset | expected winner | U*D | U*I*D | auto | margin | auto's final arms "
             "| holds |", "|---|---|---:|---:|---:|---:|---|---|"]
    for r in rows:
        lines.append(f"| {r['dataset']} | {r['expected']} | {r['U*D']:.3f} | {r['U*I*D']:.3f} "
                     f"| {r['auto']:.3f} | {r['margin']:+.3f} | {r['final arms']} "
                     f"| {'yes' if r['holds'] else 'no'} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    rows = []
    for make_dataset, expected in REGIMES:
        rows.append(measure(make_dataset, expected))
        print(rows[-1], flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "auto_regimes.md").write_text(report(rows))


if __name__ == "__main__":
    main()
