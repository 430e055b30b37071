"""The ``auto`` strategy against every fixed strategy on small sets it was not built for.

Datasets: the digits and moons packs, scikit-learn's bundled wine and breast-cancer tables
(standardised features as vectors) and a synthetic set with a rare class (20 of 1,820 items).
For each strategy: AULC (mean holdout accuracy over 100 labels, measured every 5 labels) with a
95% band over folds, and the labels needed until every class has been labeled once. Writes
benchmarks/results/auto_small_sets.{md,csv}.

    python benchmarks/auto_small_sets.py [--folds 6]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_wine, make_blobs
from sklearn.preprocessing import StandardScaler

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core import LabelingSession, load_dataset  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
STRATEGIES = ["random", "U", "U*I", "U*D", "I*D", "U*I*D", "auto"]
BUDGET, N_INIT, EVERY = 100, 2, 5


def datasets():
    for name in ("digits", "moons"):
        pack = load_dataset(name)
        yield name, pack.vectors, pack.labels
    for name, loader in (("wine", load_wine), ("breast_cancer", load_breast_cancer)):
        data = loader()
        yield name, StandardScaler().fit_transform(data.data), data.target.astype(str)
    X, y = make_blobs(n_samples=[600, 600, 600, 20], n_features=16, cluster_std=2.0,
                      random_state=1)
    yield "rare_class", X, y.astype(str)


def run(X, y, strategy: str, fold: int) -> tuple[float, int]:
    rng = np.random.default_rng(fold)
    order = rng.permutation(len(y))
    n_test = len(y) // 10
    test, pool = order[:n_test], order[n_test:]
    session = LabelingSession(X[pool], strategy, seed=fold)
    for i in rng.choice(len(pool), N_INIT, replace=False):
        session.label(int(i), y[pool][i])
    classes, all_seen, accuracy = set(y), None, []
    for step in range(BUDGET):
        item = session.next()
        session.label(item, y[pool][item])
        if all_seen is None and set(session.classes) >= classes:
            all_seen = N_INIT + step + 1
        if step % EVERY == EVERY - 1:
            accuracy.append((session.classifier().predict(X[test]) == y[test]).mean())
    return float(np.mean(accuracy)), all_seen or N_INIT + BUDGET + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=6)
    args = parser.parse_args()
    rows = []
    for name, X, y in datasets():
        for strategy in STRATEGIES:
            runs = [run(X, y, strategy, fold) for fold in range(args.folds)]
            aulc = np.array([r[0] for r in runs])
            rows.append({"dataset": name, "strategy": strategy, "aulc": aulc.mean(),
                         "band": 1.96 * aulc.std(ddof=1) / np.sqrt(len(aulc)),
                         "labels_until_all_classes": float(np.mean([r[1] for r in runs]))})
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    RESULTS.mkdir(parents=True, exist_ok=True)
    table.to_csv(RESULTS / "auto_small_sets.csv", index=False)
    lines = ["# auto against fixed strategies on small sets", "",
             f"Command: `python benchmarks/auto_small_sets.py --folds {args.folds}` (budget "
             f"{BUDGET}, {N_INIT} random initial labels, 10% holdout per fold). AULC = mean "
             "holdout accuracy, ± the 95% band; 'all classes' = mean labels until every class "
             f"was labeled once ({N_INIT + BUDGET + 1} = never).", "",
             "| dataset | " + " | ".join(STRATEGIES) + " |",
             "|---|" + "---:|" * len(STRATEGIES)]
    for name, group in table.groupby("dataset", sort=False):
        cells = [f"{r.aulc:.3f} ± {r.band:.3f}, all classes {r.labels_until_all_classes:.0f}"
                 for r in group.itertuples()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    (RESULTS / "auto_small_sets.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
