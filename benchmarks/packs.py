"""Built-in packs: load time, first-open time with and without the stored graphs, and
leave-one-out 1-NN cosine accuracy.

Run: ``.venv/bin/python benchmarks/packs.py`` (writes benchmarks/results/packs.json and .md).

For each pack in data/packs:
* ``load_s``: wall time of ``labelwise.load_dataset(name)``: ``fresh_process`` in a new Python
  process after ``import labelwise`` (what the dashboard pays on start), ``median`` / ``max`` over
  repeated loads in this process;
* ``open_s``: first open, each in a new Python process after the imports (labelwise's data
  layer and graph module):
  ``labelwise.load_dataset(name)`` plus the graph and density of every item and of the
  dashboard's labeling pool (its holdout split), ``stored`` as the pack ships them
  (``dataset.graph``, ``dataset.density``, ``pool_parts_for(pool vectors)``) or ``built`` as
  before packs shipped them (``PoolGraph.build`` and ``pool_density(..., "knn")`` for both);
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


OPEN_CODE = """
import time
import labelwise
import labelwise.data.catalog, labelwise.engine.graph  # imports are not what is measured
from labelwise.dashboard.labeling import holdout_split
from labelwise.data.pools import compute_pool, pool_parts_for
start = time.perf_counter()
dataset = labelwise.load_dataset({name!r})
pool = holdout_split(dataset).pool.vectors
if {stored!r}:
    parts = [(dataset.graph, dataset.density), pool_parts_for(pool, cache=False)]
else:
    parts = [compute_pool(dataset.vectors), compute_pool(pool)]
assert all(graph is not None and density is not None for graph, density in parts)
print(time.perf_counter() - start)
"""


def fresh_process_open(name: str, stored: bool) -> float:
    """Seconds to load ``name`` and get both pools' graph and density, in a new process."""
    out = subprocess.run([sys.executable, "-c", OPEN_CODE.format(name=name, stored=stored)],
                         check=True, capture_output=True, text=True, cwd=ROOT)
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
        "open_s_stored": round(fresh_process_open(name, stored=True), 3),
        "open_s_built": round(fresh_process_open(name, stored=False), 3),
        "loo_1nn": round(loo_accuracy(dataset.labels, nearest_other(unit)), 4),
    }
    if dataset.groups is not None:
        row["loo_1nn_group_aware"] = round(
            loo_accuracy(dataset.labels, nearest_other(unit, dataset.groups)), 4)
    return row


def to_markdown(result: dict) -> str:
    lines = [
        "# Built-in packs: load time, first-open time and leave-one-out 1-NN accuracy",
        "",
        f"Command: `{result['command']}`  ",
        f"Machine: {result['machine']}, {result['when']}",
        "",
        "| pack | items | d | classes | stored as | size MB | load s (new process) "
        "| load s (median) | open s, stored graphs | open s, built graphs | LOO 1-NN "
        "| LOO 1-NN, group-aware |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["packs"]:
        lines.append(
            f"| {r['pack']} | {r['items']:,} | {r['dimension']} | {r['classes']} | "
            f"{r['stored_as']} | {r['size_mb']} | {r['load_s_fresh_process']:.3f} | "
            f"{r['load_s_median']:.3f} | {r['open_s_stored']:.3f} | {r['open_s_built']:.3f} | "
            f"{r['loo_1nn']:.4f} | "
            f"{r.get('loo_1nn_group_aware', float('nan')):.4f} |".replace("| nan |", "| - |")
        )
    lines += ["", "Measured (per row):", ""]
    lines += [f"- {r['pack']}: {r['when']}, `{r['command']}`" for r in result["packs"]]
    lines += [
        "",
        "open s: `load_dataset` plus the graph and density of every item and of the dashboard's "
        "labeling pool, in a new process; stored = read from the pack's `pools/`, built = "
        "`PoolGraph.build` + `pool_density(..., \"knn\")` for both pools (what opening cost "
        "before packs shipped them).",
        "",
        f"Whole data/ folder: {result['data_mb']:.1f} MB (budget 120 MB).", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--packs", nargs="+", default=None,
                        help="measure only these packs; the rows of the others are kept from "
                        "the last results/packs.json (each row says when it was measured)")
    args = parser.parse_args()
    names = args.packs or available_packs()
    machine = (f"{platform.machine()}, {os.cpu_count()} cores, Python "
               f"{platform.python_version()}")
    rows = {}
    previous = RESULTS / "packs.json"
    if args.packs and previous.is_file():
        rows = {r["pack"]: r for r in json.loads(previous.read_text())["packs"]
                if "when" in r and r["pack"] in available_packs()}
    for name in names:
        load = os.getloadavg()[0]
        row = measure(name, args.repeats)
        row["when"] = (f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average "
                       f"{load:.1f}")
        row["command"] = (f".venv/bin/python benchmarks/packs.py --repeats {args.repeats}"
                          + (f" --packs {' '.join(args.packs)}" if args.packs else ""))
        rows[name] = row
    result = {
        "command": ".venv/bin/python benchmarks/packs.py (per row: see its command)",
        "machine": machine,
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "packs": [rows[name] for name in sorted(rows)],
        "data_mb": round(folder_mb(data_dir()), 2),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "packs.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "packs.md").write_text(to_markdown(result))
    print(to_markdown(result))


if __name__ == "__main__":
    main()
