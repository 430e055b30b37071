"""Bulk labeling: does labeling an item's "more like this" grid at once reach 0.90 sooner?

Run: ``.venv/bin/python benchmarks/bulk_labeling.py`` (writes benchmarks/results/
bulk_labeling.md and .json). ``--packs digits --folds 4`` for a quick run.

Per pack (fruits with a group split over the original photos, digits with a random split, as
in ``benchmarks/reproduce_reference.py``) and per fold of :func:`labelwise.make_folds`
(n_init 2, seed 0), a simulated labeler -- an oracle with the ground truth -- labels a
``LabelingSession(pool, "U*I*D")`` (k=5, the session seed of the fold):

* ``single``: one item per action, the session's pick.
* ``bulk``: after each pick, :func:`labelwise.more_like_this` lists the ``--grid`` nearest
  unlabeled items of the picked one; the oracle ticks only those whose true label equals the
  picked item's (as a person ticking the look-alikes would) and labels them all in one action.
  The pick plus its accepted look-alikes is one action.

After each action, :func:`labelwise.holdout_accuracy` on the fold's test items. Reported, mean
and median over folds: actions to the target (the two initial labels count as two actions),
labels to the target (each item once), and accuracy after 10, 20 and 50 actions. A fold that
never reaches the target within ``--budget`` labels or ``--max-actions`` actions counts as not
reached (left out of the mean, counted in ``reached``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed

from labelwise import LabelingSession, holdout_accuracy, load_dataset, make_folds, more_like_this
from labelwise.studies.folds import session_seed

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
SPLITS = {"fruits": "group", "digits": "random"}
CHECKPOINTS = (10, 20, 50)
SEED, N_INIT, STRATEGY = 0, 2, "U*I*D"


def run_fold(name: str, fold, mode: str, *, grid: int, target: float, budget: int,
             max_actions: int) -> dict:
    """One simulated labeler on one fold: accuracy after each action, labels per action."""
    dataset = load_dataset(name)
    truth = np.asarray(dataset.labels, dtype=object)
    pool_truth, test_truth = truth[fold.pool], truth[fold.test]
    test_vectors = np.asarray(dataset.vectors)[fold.test]
    session = LabelingSession(np.asarray(dataset.vectors)[fold.pool], STRATEGY, k=5,
                              seed=session_seed(SEED, fold.number))
    accuracy, labels, offered, ticked_n = [], [], 0, 0
    for item in fold.initial:  # the initial labels: one action each, as a person would
        session.label(int(item), pool_truth[item])
        accuracy.append(holdout_accuracy(session, test_vectors, test_truth))
        labels.append(session.n_labeled)
    while session.n_labeled < min(budget, len(fold.pool)) and len(accuracy) < max_actions:
        pick = int(session.next())
        session.label(pick, pool_truth[pick])
        if mode == "bulk" and session.n_labeled < len(fold.pool):
            found = more_like_this(session, pick, grid)["item"].to_numpy()
            ticked = [int(i) for i in found if pool_truth[i] == pool_truth[pick]]
            offered, ticked_n = offered + len(found), ticked_n + len(ticked)
            if ticked:
                session.label_many(ticked, pool_truth[ticked])
        accuracy.append(holdout_accuracy(session, test_vectors, test_truth))
        labels.append(session.n_labeled)
        if len(accuracy) >= max(CHECKPOINTS) and max(accuracy) >= target:
            break
    return {"pack": name, "fold": fold.number, "mode": mode, "accuracy": accuracy,
            "labels": labels, "grid_offered": offered, "grid_ticked": ticked_n}


def first_reaching(run: dict, target: float) -> tuple[float, float]:
    """(actions, labels) at the first action whose accuracy reaches the target (NaN: never)."""
    for n, acc in enumerate(run["accuracy"]):
        if acc >= target:
            return float(n + 1), float(run["labels"][n])
    return float("nan"), float("nan")


def summarise(runs: list[dict], target: float) -> list[dict]:
    rows = []
    for pack in dict.fromkeys(r["pack"] for r in runs):
        for mode in ("single", "bulk"):
            mine = [r for r in runs if r["pack"] == pack and r["mode"] == mode]
            hits = np.array([first_reaching(r, target) for r in mine])
            row = {"pack": pack, "mode": mode, "folds": len(mine),
                   "reached": int(np.isfinite(hits[:, 0]).sum()),
                   "actions_mean": _mean(hits[:, 0]), "actions_median": _median(hits[:, 0]),
                   "labels_mean": _mean(hits[:, 1]), "labels_median": _median(hits[:, 1]),
                   "ticked_share": sum(r["grid_ticked"] for r in mine) / max(
                       1, sum(r["grid_offered"] for r in mine)) if mode == "bulk" else None}
            for c in CHECKPOINTS:
                accs = [r["accuracy"][c - 1] for r in mine if len(r["accuracy"]) >= c]
                labs = [r["labels"][c - 1] for r in mine if len(r["labels"]) >= c]
                row[f"accuracy@{c}"] = float(np.mean(accs)) if accs else float("nan")
                row[f"labels@{c}"] = float(np.mean(labs)) if labs else float("nan")
            rows.append(row)
    return rows


def _mean(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(x.mean()) if len(x) else float("nan")


def _median(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(np.median(x)) if len(x) else float("nan")


def markdown(rows: list[dict], meta: dict) -> str:
    lines = ["# Bulk labeling with \"more like this\"", "",
             f"Command: `{meta['command']}`", "",
             f"Strategy {STRATEGY} (k=5), n_init {N_INIT}, seed {SEED}, {meta['folds']} folds "
             f"per pack (fruits: group split; digits: random split), grid of {meta['grid']} "
             f"nearest unlabeled items, target {meta['target']:g}, at most {meta['budget']} "
             f"labels and {meta['max_actions']} actions. {meta['seconds']:.0f} s with "
             f"{meta['jobs']} job(s); load average before "
             f"{meta['load_before']}, after {meta['load_after']}; {meta['platform']}.", "",
             "An action is one pick labeled alone (`single`), or one pick plus the grid items "
             "the oracle ticked because their true label equals the pick's (`bulk`). The two "
             "initial labels count as two actions. Means and medians over the folds that "
             "reached the target (a fold that did not is left out, so with fewer than all "
             "folds reached the mean flatters that mode); accuracy@n and labels@n are means "
             "after n actions; ticked = the share of offered grid items the oracle accepted "
             "(same true label as the pick), over all bulk actions.", "",
             "| pack | mode | reached | actions to target (mean / median) | labels to target "
             "(mean / median) | accuracy@10 | accuracy@20 | accuracy@50 | labels@10 | labels@20 "
             "| labels@50 | ticked |", "|" + " --- |" * 12]
    for r in rows:
        lines.append(
            f"| {r['pack']} | {r['mode']} | {r['reached']}/{r['folds']} | "
            f"{r['actions_mean']:.1f} / {r['actions_median']:.0f} | "
            f"{r['labels_mean']:.1f} / {r['labels_median']:.0f} | "
            + " | ".join(f"{r[f'accuracy@{c}']:.3f}" for c in CHECKPOINTS) + " | "
            + " | ".join(f"{r[f'labels@{c}']:.1f}" for c in CHECKPOINTS) + " | "
            + ("—" if r["ticked_share"] is None else f"{r['ticked_share']:.3f}") + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packs", default="fruits,digits")
    parser.add_argument("--folds", type=int, default=16)
    parser.add_argument("--grid", type=int, default=8)
    parser.add_argument("--target", type=float, default=0.90)
    parser.add_argument("--budget", type=int, default=2000, help="labels at most")
    parser.add_argument("--max-actions", type=int, default=500)
    parser.add_argument("--jobs", type=int, default=4)
    args = parser.parse_args(argv)
    load_before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    start = time.perf_counter()
    tasks = []
    for name in args.packs.split(","):
        folds = make_folds(load_dataset(name), folds=args.folds, split=SPLITS[name],
                           n_init=N_INIT, seed=SEED)
        tasks += [(name, fold, mode) for fold in folds for mode in ("single", "bulk")]
    runs = Parallel(n_jobs=args.jobs)(
        delayed(run_fold)(name, fold, mode, grid=args.grid, target=args.target,
                          budget=args.budget, max_actions=args.max_actions)
        for name, fold, mode in tasks)
    rows = summarise(runs, args.target)
    meta = {"command": "python benchmarks/bulk_labeling.py " + " ".join(
                sys.argv[1:] if argv is None else argv),
            "folds": args.folds, "grid": args.grid, "target": args.target,
            "budget": args.budget, "max_actions": args.max_actions, "jobs": args.jobs,
            "seconds": time.perf_counter() - start,
            "load_before": load_before,
            "load_after": " ".join(f"{x:.2f}" for x in os.getloadavg()),
            "platform": platform.platform(), "cpus": os.cpu_count()}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bulk_labeling.md").write_text(markdown(rows, meta))
    (RESULTS / "bulk_labeling.json").write_text(json.dumps(
        {"meta": meta, "summary": rows, "runs": runs}, indent=1, default=float) + "\n")
    print(markdown(rows, meta), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
