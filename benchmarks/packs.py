"""Built-in packs: load time and leave-one-out 1-NN cosine accuracy.

Run: ``.venv/bin/python benchmarks/packs.py`` (writes benchmarks/results/packs.json and .md).

For each pack in data/packs:
* ``load_s``: wall time of ``labelwise.load_dataset(name)``: ``fresh_process`` in a new Python
  process after ``import labelwise`` (what the dashboard pays on start), ``median`` / ``max`` over
  repeated loads in this process;
* ``loo_1nn``: leave-one-out 1-nearest-neighbour accuracy with cosine similarity (each item is
  predicted by its most similar *other* item; exact search, ties broken by the lower index);
* fruits also ``loo_1nn_group_aware``: the neighbour must come from another photo group, so
  augmented copies of the same photo cannot vouch for each other.
Also the size of each pack folder and of the whole data/ folder.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from labelwise import load_dataset
from labelwise.data.packs import available_packs
from labelwise.data.paths import data_dir, packs_dir
from labelwise.engine.vectors import as_unit_rows

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
CHUNK = 2048


def nearest_other(unit: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
    """Index of each row's most cosine-similar other row (another group when groups given)."""
    n = len(unit)
    best = np.empty(n, dtype=np.int64)
    codes = None if groups is None else np.unique(groups, return_inverse=True)[1]
    for start in range(0, n, CHUNK):
        stop = min(start + CHUNK, n)
        sims = unit[start:stop] @ unit.T
        sims[np.arange(stop - start), np.arange(start, stop)] = -np.inf
        if codes is not None:
            sims[codes[start:stop, None] == codes[None, :]] = -np.inf
        best[start:stop] = sims.argmax(axis=1)  # argmax keeps the lowest index on ties
    return best


def loo_accuracy(labels: np.ndarray, neighbours: np.ndarray) -> float:
    return float((labels[neighbours] == labels).mean())


def folder_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6


def fresh_process_load(name: str) -> float:
    code = (f"import time, labelwise; t = time.perf_counter(); labelwise.load_dataset({name!r}); "
            "print(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True, cwd=ROOT)
    return float(out.stdout.strip().splitlines()[-1])


def measure(name: str, repeats: int) -> dict:
    first = fresh_process_load(name)
    dataset = load_dataset(name)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        load_dataset(name)
        times.append(time.perf_counter() - start)
    unit = as_unit_rows(dataset.vectors)
    row = {
        "pack": name,
        "items": len(dataset),
        "dimension": int(dataset.vectors.shape[1]),
        "classes": len(dataset.classes),
        "encoder": dataset.metadata.get("encoder", ""),
        "stored_as": dataset.metadata.get("vector_dtype", ""),
        "size_mb": round(folder_mb(packs_dir() / name), 2),
        "load_s_fresh_process": round(first, 4),
        "load_s_median": round(statistics.median(times), 4),
        "load_s_max": round(max(times), 4),
        "loo_1nn": round(loo_accuracy(dataset.labels, nearest_other(unit)), 4),
    }
    if dataset.groups is not None:
        row["loo_1nn_group_aware"] = round(
            loo_accuracy(dataset.labels, nearest_other(unit, dataset.groups)), 4)
    return row


def to_markdown(result: dict) -> str:
    lines = [
        "# Built-in packs: load time and leave-one-out 1-NN accuracy",
        "",
        f"Command: `{result['command']}`  ",
        f"Machine: {result['machine']}, {result['when']}",
        "",
        "| pack | items | d | classes | stored as | size MB | load s (new process) "
        "| load s (median) | LOO 1-NN | LOO 1-NN, group-aware |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["packs"]:
        lines.append(
            f"| {r['pack']} | {r['items']:,} | {r['dimension']} | {r['classes']} | "
            f"{r['stored_as']} | {r['size_mb']} | {r['load_s_fresh_process']:.3f} | "
            f"{r['load_s_median']:.3f} | {r['loo_1nn']:.4f} | "
            f"{r.get('loo_1nn_group_aware', float('nan')):.4f} |".replace("| nan |", "| - |")
        )
    lines += ["", f"Whole data/ folder: {result['data_mb']:.1f} MB (budget 60 MB).", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    result = {
        "command": f".venv/bin/python benchmarks/packs.py --repeats {args.repeats}",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                   f"{platform.python_version()}, load average at start {os.getloadavg()[0]:.1f}",
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "packs": [measure(name, args.repeats) for name in available_packs()],
        "data_mb": round(folder_mb(data_dir()), 2),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "packs.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "packs.md").write_text(to_markdown(result))
    print(to_markdown(result))


if __name__ == "__main__":
    main()
