"""Wall time of the full fruit experiment: 16 folds x 500 labels x (random + default strategy).

Runs ``core.simulate`` on the built-in ``fruits`` pack (7,521 MobileNet-v2 image vectors,
1280-d) with the project's default strategy (the default of :class:`core.LabelingSession`) and
random, 16 folds, budget 500, and writes benchmarks/results/simulation_speed.{md,json}: total
wall time, time per (strategy, fold) task, median step time, and the machine.

    python benchmarks/simulation_speed.py              # fruits, 2 jobs, random split
    python benchmarks/simulation_speed.py --jobs 1 --split group
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core import LabelingSession, load_dataset, simulate  # noqa: E402
from core.metrics import labels_to_target, median_step_seconds  # noqa: E402
from core.strategy import Strategy  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fruits")
    parser.add_argument("--folds", type=int, default=16)
    parser.add_argument("--budget", type=int, default=500)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--split", default="random", choices=["random", "group"])
    parser.add_argument("--target", type=float, default=0.9)
    args = parser.parse_args(argv)

    load_before = os.getloadavg()[0]
    default = inspect.signature(LabelingSession).parameters["strategy"].default
    strategy = Strategy.parse(default)
    dataset = load_dataset(args.dataset)
    start = time.perf_counter()
    results = simulate(dataset, ["random", strategy], folds=args.folds, budget=args.budget,
                       split=args.split, n_jobs=args.jobs, seed=0)
    total = time.perf_counter() - start
    tasks = results.groupby(["strategy", "fold"]).ngroups
    steps = median_step_seconds(results) * 1e3
    labels = labels_to_target(results, args.target)
    record = {
        "dataset": args.dataset, "items": len(dataset), "dim": int(dataset.vectors.shape[1]),
        "split": args.split, "folds": args.folds, "budget": args.budget, "jobs": args.jobs,
        "strategies": [s for s in dict.fromkeys(results["strategy"])],
        "total_seconds": round(total, 2), "tasks": tasks,
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
