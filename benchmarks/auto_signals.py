"""Does a per-label reward track accuracy? The signals the ``auto`` strategy could learn from.

For each fixed strategy this measures, per label, how many unlabeled items' predictions flip
(the reward ``auto`` uses) and how often the model's prediction for the picked item was wrong
("surprise"), next to the strategy's area under the learning curve. If a signal tracked
accuracy, the best strategy by AULC would also lead on it. Writes
benchmarks/results/auto_signals.{md,csv}.

    python benchmarks/auto_signals.py            # sentiment140 (budget 100), fruits (group, 150)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from labelwise import LabelingSession, load_dataset  # noqa: E402
from labelwise.studies.simulation import make_folds  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
ARMS = ["random", "U", "U*I", "U*D", "I*D", "U*I*D"]
RUNS = [("sentiment140", "random", 100), ("fruits", "group", 150)]
FOLDS = 3


def run_arm(dataset, fold, arm: str, budget: int) -> dict:
    X, y = dataset.vectors[fold.pool], dataset.labels[fold.pool]
    session = LabelingSession(X, arm, seed=fold.number)
    for i in fold.initial:
        session.label(int(i), y[i])
    before = session.predict()
    flips, surprise, accuracy = [], [], []
    for _ in range(budget):
        item = session.next()
        surprise.append(before[item] != y[item])
        session.label(item, y[item])
        after = session.predict()
        flips.append(int(((after != before) & session._in_pool).sum()))
        before = after
        clf = session.classifier()
        accuracy.append(float((clf.predict(dataset.vectors[fold.test])
                               == dataset.labels[fold.test]).mean()))
    return {"flips": np.mean(flips), "surprise": np.mean(surprise), "aulc": np.mean(accuracy)}


def main() -> None:
    rows = []
    for name, split, budget in RUNS:
        dataset = load_dataset(name)
        folds = make_folds(dataset, folds=FOLDS, split=split, seed=0)
        for arm in ARMS:
            per_fold = [run_arm(dataset, f, arm, budget) for f in folds]
            row = {"dataset": name, "split": split, "budget": budget, "strategy": arm}
            row.update({k: round(float(np.mean([p[k] for p in per_fold])), 3)
                        for k in ("aulc", "flips", "surprise")})
            rows.append(row)
            print(row, flush=True)
    table = pd.DataFrame(rows)
    RESULTS.mkdir(parents=True, exist_ok=True)
    table.to_csv(RESULTS / "auto_signals.csv", index=False)
    lines = ["# Per-label signals against accuracy (fixed strategies)", "",
             f"Command: `python benchmarks/auto_signals.py` ({FOLDS} folds, seed 0). flips: "
             "unlabeled items whose prediction changed per label; surprise: share of picks the "
             "model predicted wrongly; aulc: mean holdout accuracy over the run.", "",
             "| dataset | strategy | AULC | flips per label | surprise |",
             "|---|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['dataset']} ({r['split']}, {r['budget']}) | {r['strategy']} | "
                     f"{r['aulc']:.3f} | {r['flips']:.1f} | {r['surprise']:.2f} |")
    (RESULTS / "auto_signals.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
