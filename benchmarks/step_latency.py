"""Hot-path latency: label an item, then ask for the next suggestion (U*I*D).

For clustered, L2-normalised 512-d float32 pools of 20k, 100k and 1M items this prints and
writes to benchmarks/results/step_latency.{md,json}:

- median (and 90th percentile) wall time of ``session.label(i, y); session.next()``,
- the floor: median time of one matrix-vector product ``X @ v`` over the same pool,
- their ratio, and the process's peak resident memory,
- the paired ratio: the median over steps of each step's time over a floor timed right after
  it (steadier on a busy machine), and the time of predicting the stopping monitor's stop set
  (``session.predict(session.stop_set)``), an upper bound of what following the stopping
  signal adds to a label (the session re-predicts only the stop-set rows a label changed).

Each size runs in its own subprocess so peak memory is per size. The density i is computed
once per pool (hnswlib, timed separately where affordable); the hot path only reads its sorted
order, so for sizes above --density-max the benchmark supplies a cheap stand-in density.

``--model graph`` (or ``auto``) runs the session with that model: the pool graph is built
first (timed in the "build s" column; its kNN density seeds the session's i), and the step
then includes the graph model's update (one local push) and the uncertainty patch of the rows
it reached. Results go to ``benchmarks/results/<out>.{md,json}`` (``--out``; default
``step_latency`` for knn, ``step_latency_<model>`` otherwise).

    python benchmarks/step_latency.py                 # 20k, 100k, 1M
    python benchmarks/step_latency.py --sizes 20000   # one size
    python benchmarks/step_latency.py --model graph --sizes 20000 100000
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from labelwise import LabelingSession  # noqa: E402
from labelwise.engine.graph import PoolGraph  # noqa: E402
from labelwise.engine.index import knn_density  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
DIM, CLUSTERS, CLASSES = 512, 200, 10
WARMUP_LABELS, MEASURED_STEPS = 60, 40


def clustered_pool(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((CLUSTERS, DIM), dtype=np.float32)
    cluster = rng.integers(0, CLUSTERS, n)
    X = centers[cluster]
    X += 0.8 * rng.standard_normal((n, DIM), dtype=np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X, cluster % CLASSES


def median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def run_one(n: int, density_max: int, model: str = "knn") -> dict:
    X, y = clustered_pool(n)
    density_seconds, density, graph = None, None, None
    if model != "knn":
        # The graph's build yields the kNN density too: one build, timed.
        start = time.perf_counter()
        graph = PoolGraph.build(X)
        density_seconds = time.perf_counter() - start
    elif n <= density_max:
        start = time.perf_counter()
        density = knn_density(X, 10)
        density_seconds = time.perf_counter() - start
    else:
        # Stand-in with the same cost profile for the hot path (a static, pre-sorted score).
        density = X @ X[:64].mean(axis=0)
    # The model is always named: the default is auto, whose graph (built in the background
    # on a large pool) would otherwise run beside a "knn" measurement.
    extra = {"model": model} if model == "knn" else {"model": model, "graph": graph}
    session = LabelingSession(X, "U*I*D", k=5, seed=0, density_values=density, **extra)
    item = session.next()
    for _ in range(WARMUP_LABELS):
        session.label(item, int(y[item]))
        item = session.next()
    steps, paired = [], []
    vectors = session.vectors
    probe = vectors[12345 % n]
    for _ in range(MEASURED_STEPS):
        start = time.perf_counter()
        session.label(item, int(y[item]))
        item = session.next()
        steps.append(time.perf_counter() - start)
        # The floor right after each step too: on a busy machine the ratio of neighbours in
        # time is steadier than the ratio of two medians taken apart.
        paired.append(steps[-1] / (median_ms(lambda: vectors @ probe, 3) / 1e3))
    floor = median_ms(lambda: vectors @ probe, 30)
    # What following the stopping signal adds to each label: predicting the stop set (the
    # monitor then takes one O(stop set) kappa).
    stop_set = getattr(session, "stop_set", None)
    monitor = None if stop_set is None else median_ms(lambda: session.predict(stop_set), 30)
    step = 1e3 * float(np.median(steps))
    return {
        "n_items": n,
        "model": model,
        "model_in_use": getattr(session, "model_name", "knn"),
        "dim": DIM,
        "labels_before_measuring": WARMUP_LABELS + 1,
        "step_median_ms": round(step, 3),
        "step_p90_ms": round(1e3 * float(np.quantile(steps, 0.9)), 3),
        "floor_matvec_ms": round(floor, 3),
        "ratio": round(step / floor, 2),
        "paired_ratio": round(float(np.median(paired)), 2),
        "stop_set_predict_ms": None if monitor is None else round(monitor, 3),
        "density_seconds": None if density_seconds is None else round(density_seconds, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "pool_mb": round(vectors.nbytes / 2**20),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000, 1_000_000])
    parser.add_argument("--density-max", type=int, default=100_000,
                        help="largest pool whose real kNN density is built and timed")
    parser.add_argument("--model", choices=["knn", "graph", "auto"], default="knn",
                        help="the session's model (default: %(default)s)")
    parser.add_argument("--out", default=None,
                        help="results file name without suffix (default: step_latency for "
                        "knn, step_latency_<model> otherwise)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(args.child, args.density_max, args.model)))
        return
    rows = []
    for n in args.sizes:
        out = subprocess.run([sys.executable, __file__, "--child", str(n), "--density-max",
                              str(args.density_max), "--model", args.model],
                             capture_output=True, text=True, check=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(json.dumps(row), flush=True)
    name = args.out or ("step_latency" if args.model == "knn" else f"step_latency_{args.model}")
    write(rows, name, " ".join(sys.argv[1:]))


def write(rows: list[dict], name: str = "step_latency", arguments: str = "") -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    command = f"python benchmarks/step_latency.py {arguments}".strip()
    meta = {"machine": f"{platform.machine()}, {platform.python_version()}, "
                       f"{len(__import__('os').sched_getaffinity(0))} cores",
            "command": command, "rows": rows}
    (RESULTS / f"{name}.json").write_text(json.dumps(meta, indent=2) + "\n")
    model = rows[0].get("model", "knn") if rows else "knn"
    build = "graph build s" if model != "knn" else "density build s"
    lines = [f"# label -> next latency (U*I*D, k=5, 512-d float32, model {model})", "",
             f"Command: `{meta['command']}`; machine: {meta['machine']}.", "",
             f"| items | model in use | step median ms | step p90 ms | floor X@v ms | ratio | "
             f"paired ratio | stop-set predict ms | {build} | peak RSS MB |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        dens = "stand-in" if r["density_seconds"] is None else r["density_seconds"]
        lines.append(f"| {r['n_items']:,} | {r.get('model_in_use', 'knn')} | "
                     f"{r['step_median_ms']} | {r['step_p90_ms']} | "
                     f"{r['floor_matvec_ms']} | {r['ratio']} | {r.get('paired_ratio', '')} | "
                     f"{r.get('stop_set_predict_ms', '')} | {dens} | {r['peak_rss_mb']} |")
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
