"""Wall time of the full fruit experiment: 16 folds x 500 labels x (random + default strategy).

Runs ``labelwise.simulate`` on the built-in ``fruits`` pack (7,521 MobileNet-v2 image vectors,
1280-d) with the project's default strategy (the default of :class:`labelwise.LabelingSession`) and
random, 16 folds, budget 500, and writes benchmarks/results/simulation_speed.{md,json}: total
wall time, time per (strategy, fold) task, median step time, and the machine.

    python benchmarks/simulation_speed.py              # fruits, 2 jobs, random split
    python benchmarks/simulation_speed.py --jobs 1 --split group
    python benchmarks/simulation_speed.py --without-gram   # also time the matvec-per-label path
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from labelwise import LabelingSession, load_dataset, simulate  # noqa: E402
from labelwise.engine.strategy import Strategy  # noqa: E402
from labelwise.engine.vectors import as_unit_rows  # noqa: E402
from labelwise.studies import simulation  # noqa: E402
from labelwise.studies.metrics import labels_to_target, median_step_seconds  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def similarity_costs(vectors, repeats: int = 200) -> dict[str, float]:
    """Per-label cost of the two ways to get a new label's similarities, and the one-off cost.

    A 90% pool of the dataset, as in a fold: a matrix-vector product over the pool, reading
    the label's row of the precomputed Gram matrix, and computing that matrix once.
    """
    unit = as_unit_rows(vectors)
    rng = np.random.default_rng(0)
    pool = np.sort(rng.choice(len(unit), size=int(0.9 * len(unit)), replace=False))
    pool_vectors = unit[pool]
    start = time.perf_counter()
    gram = unit @ unit.T
    gram_once = time.perf_counter() - start
    items = rng.integers(0, len(pool), repeats)
    start = time.perf_counter()
    for item in items:
        pool_vectors @ pool_vectors[item]
    matvec = (time.perf_counter() - start) / repeats
    start = time.perf_counter()
    for item in items:
        gram[pool[item]][pool]
    row = (time.perf_counter() - start) / repeats
    return {"pool matrix-vector product per label": round(matvec * 1e3, 4),
            "Gram row read per label": round(row * 1e3, 4),
            "Gram matrix once per simulate call": round(gram_once * 1e3, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fruits")
    parser.add_argument("--folds", type=int, default=16)
    parser.add_argument("--budget", type=int, default=500)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--split", default="random", choices=["random", "group"])
    parser.add_argument("--target", type=float, default=0.9)
    parser.add_argument("--without-gram", action="store_true",
                        help="also time the run without the precomputed similarity matrix "
                        "(one matrix-vector product over the pool per label)")
    args = parser.parse_args(argv)

    load_before = os.getloadavg()[0]
    default = inspect.signature(LabelingSession).parameters["strategy"].default
    strategy = Strategy.parse(default)
    dataset = load_dataset(args.dataset)
    start = time.perf_counter()
    results = simulate(dataset, ["random", strategy], folds=args.folds, budget=args.budget,
                       split=args.split, n_jobs=args.jobs, seed=0)
    total = time.perf_counter() - start
    without_gram = None
    if args.without_gram:
        saved, simulation.MAX_GRAM_BYTES = simulation.MAX_GRAM_BYTES, 0
        try:
            start = time.perf_counter()
            other = simulate(dataset, ["random", strategy], folds=args.folds,
                             budget=args.budget, split=args.split, n_jobs=args.jobs, seed=0)
            without_gram = time.perf_counter() - start
        finally:
            simulation.MAX_GRAM_BYTES = saved
        same = other.drop(columns="seconds").equals(results.drop(columns="seconds"))
    tasks = results.groupby(["strategy", "fold"]).ngroups
    steps = median_step_seconds(results) * 1e3
    labels = labels_to_target(results, args.target)
    record = {
        "dataset": args.dataset, "items": len(dataset), "dim": int(dataset.vectors.shape[1]),
        "split": args.split, "folds": args.folds, "budget": args.budget, "jobs": args.jobs,
        "strategies": [s for s in dict.fromkeys(results["strategy"])],
        "total_seconds": round(total, 2), "tasks": tasks,
        "similarity_costs_ms": similarity_costs(dataset.vectors),
        "median_step_ms": {k: round(v, 3) for k, v in steps.items()},
        f"labels_to_{args.target:g}": {k: (None if v != v else int(v))
                                         for k, v in labels.items()},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(),
                    "load_average_1min_before": round(load_before, 2)},
        "command": "python benchmarks/simulation_speed.py " + " ".join(argv or sys.argv[1:]),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "simulation_speed.json").write_text(json.dumps(record, indent=2) + "\n")
    lines = [
        "# Simulation speed",
        "",
        f"`{record['command'].strip()}`",
        "",
        f"{args.dataset} ({len(dataset)} items, {record['dim']}-d), {args.split} split, "
        f"{args.folds} folds x {args.budget} labels x {len(record['strategies'])} strategies "
        f"({', '.join(record['strategies'])}), {args.jobs} job(s), {os.cpu_count()} CPUs; "
        f"1-minute load average before the run: {load_before:.1f} (other work on the machine "
        "slows it down).",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| total wall time (s) | {total:.1f} |",
        f"| (strategy, fold) tasks | {tasks} |",
    ]
    if without_gram is not None:
        record["total_seconds_without_gram"] = round(without_gram, 2)
        lines.append(f"| total wall time without the similarity matrix (s) | "
                     f"{without_gram:.1f} (same table: {same}) |")
        if not same:
            lines.append("| why the tables differ | without the matrix, pools over 5,000 "
                         "items get hnswlib's approximate density, as an interactive session "
                         "does; the simulation's density is exact |")
    for name, ms in record["similarity_costs_ms"].items():
        lines.append(f"| {name} (ms) | {ms:.3f} |")
    for name, ms in steps.items():
        lines.append(f"| median step, {name} (ms) | {ms:.2f} |")
    for name, n in labels.items():
        lines.append(f"| labels to {args.target:g}, {name} | "
                     f"{'not reached' if n != n else int(n)} |")
    (RESULTS / "simulation_speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
