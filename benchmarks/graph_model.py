"""The graph model (label spreading on the pool's 10-NN graph) against the kNN vote.

Two parts, each writing a markdown table to benchmarks/results/:

``accuracy``: holdout accuracy of kNN (k=5), label spreading and the automatic choice
(:func:`labelwise.engine.graph.choose_model`, from the labels alone) at 20/30/50/100 labels.
Per fold the pool's items are picked by a plain loop over ``LabelingSession`` (U*I*D, 2 random
items first), the same items for every model; fruits uses a group split (no photo on both
sides), sentiment140 a random split, 10% test either way::

    python benchmarks/graph_model.py accuracy --dataset fruits --folds 5
    python benchmarks/graph_model.py accuracy --dataset sentiment140 --folds 3

``session``: the models as the session runs them, end to end: ``simulate(..., model=m)`` for
m in knn, graph, auto (U*I*D and random, the holdout predicted by the session's model in use),
mean holdout accuracy at a few labeled counts, where the stopping signal fired and the
accuracy there; writes ``graph_model_session_<dataset>.{md,json}``::

    python benchmarks/graph_model.py session --dataset digits --folds 4 --budget 100
    python benchmarks/graph_model.py session --dataset sentiment140 --folds 3 --budget 100

``speed``: on clustered 512-d unit vectors, the graph build (time, peak memory) and the cost of
one label -> updated probabilities (``GraphModel.add`` plus ``proba`` of the pool) against the
floor, one ``X @ v`` over the pool. Each size runs in its own subprocess (peak memory per size)::

    python benchmarks/graph_model.py speed --sizes 20000 100000 1000000
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
from sklearn.model_selection import GroupShuffleSplit, ShuffleSplit

ROOT = Path(__file__).resolve().parent.parent
import labelwise  # noqa: E402
from labelwise.engine import knn  # noqa: E402
from labelwise.engine.graph import (  # noqa: E402
    DEFAULT_ALPHA,
    DEFAULT_TOL,
    EXACT_THRESHOLD,
    GraphModel,
    PoolGraph,
    choose_model,
)
from labelwise.engine.topk import top_k  # noqa: E402
from labelwise.engine.vectors import as_unit_rows  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
BUDGETS = (20, 30, 50, 100)
N_INIT, K_VOTE = 2, 5
Z_VALUES = (1.0, 2.0)


# -- accuracy ----------------------------------------------------------------------------------
def folds_of(dataset, n_folds: int, seed: int):
    n = len(dataset)
    if dataset.groups is not None:
        split = GroupShuffleSplit(n_splits=n_folds, test_size=0.1, random_state=seed)
        return list(split.split(np.zeros(n), groups=np.asarray(dataset.groups))), "group"
    split = ShuffleSplit(n_splits=n_folds, test_size=0.1, random_state=seed)
    return list(split.split(np.zeros(n))), "random"


def picked_items(vectors: np.ndarray, labels: np.ndarray, budget: int, seed: int) -> list[int]:
    """Pool items in the order U*I*D picks them (after ``N_INIT`` random ones)."""
    session = labelwise.LabelingSession(vectors, "U*I*D", k=K_VOTE, seed=seed)
    rng = np.random.default_rng(seed)
    order = [int(i) for i in rng.choice(len(vectors), N_INIT, replace=False)]
    for item in order:
        session.label(item, labels[item])
    while len(order) < budget:
        item = int(session.next())
        session.label(item, labels[item])
        order.append(item)
    return order


def knn_predict(train: np.ndarray, codes: np.ndarray, queries: np.ndarray,
                n_classes: int) -> np.ndarray:
    pos, sims = top_k(queries @ train.T, min(K_VOTE, len(train)), overwrite=True)
    cls = codes[pos]
    return knn.winners(knn.class_votes(sims, cls, n_classes, "uniform"), sims, cls)


def run_fold(dataset, pool: np.ndarray, test: np.ndarray, seed: int, alphas) -> list[dict]:
    classes = dataset.classes
    codes = np.searchsorted(np.asarray(classes, dtype=object), dataset.labels).astype(np.int64)
    X = as_unit_rows(dataset.vectors)
    Xp, Xt = X[pool], X[test]
    truth = codes[test]
    order = picked_items(Xp, dataset.labels[pool], max(BUDGETS), seed)
    graph = PoolGraph.build(Xp)
    models = {alpha: GraphModel(graph, alpha=alpha) for alpha in alphas}
    rows, done = [], 0
    for budget in BUDGETS:
        for item in order[done:budget]:
            for model in models.values():
                model.add(item, int(codes[pool][item]))
        done = budget
        labeled = np.asarray(order[:budget])
        knn_pred = knn_predict(Xp[labeled], codes[pool][labeled], Xt, len(classes))
        row = {"labels": budget, "knn": float((knn_pred == truth).mean())}
        for alpha, model in models.items():
            graph_pred = model.predict_outside(Xt)
            # Unreached test items fall back to the kNN vote, as the session would.
            graph_pred = np.where(graph_pred < 0, knn_pred, graph_pred)
            row[f"graph a={alpha}"] = float((graph_pred == truth).mean())
            if alpha != DEFAULT_ALPHA:
                continue
            for z in Z_VALUES:
                choice = choose_model(model, Xp, k=K_VOTE, z=z)
                auto = graph_pred if choice.name == "graph" else knn_pred
                row[f"auto z={z}"] = float((auto == truth).mean())
                row[f"graph picked z={z}"] = choice.name == "graph"
        rows.append(row)
    return rows


def accuracy(args) -> None:
    dataset = labelwise.load_dataset(args.dataset)
    folds, split = folds_of(dataset, args.folds, args.seed)
    alphas = sorted(set(args.alphas) | {DEFAULT_ALPHA})
    results = []
    start = time.perf_counter()
    for number, (pool, test) in enumerate(folds):
        results += [{"fold": number, **row}
                    for row in run_fold(dataset, pool, test, args.seed + number, alphas)]
        print(f"fold {number} done after {time.perf_counter() - start:.0f} s", flush=True)
    autos = [f"auto z={z}" for z in Z_VALUES]
    columns = ["knn", *[f"graph a={a}" for a in alphas], *autos]
    lines = [f"# kNN vs graph model on {args.dataset} ({split} split, U*I*D picks)", "",
             f"Command: `python benchmarks/graph_model.py accuracy --dataset {args.dataset} "
             f"--folds {args.folds} --alphas {' '.join(map(str, args.alphas))}`; "
             f"{_machine()}.", "",
             f"Mean holdout accuracy over {args.folds} folds (10% test); graph tol {DEFAULT_TOL}; "
             f"auto = choose_model (alpha {DEFAULT_ALPHA}, leave-one-out on the labels) with "
             "the sign-test margin z; 'graph picked': folds where auto took the graph.", "",
             "| labels | " + " | ".join(columns) + " | "
             + " | ".join(f"graph picked z={z}" for z in Z_VALUES) + " |",
             "|---:|" + "---:|" * (len(columns) + len(Z_VALUES))]
    for budget in BUDGETS:
        rows = [r for r in results if r["labels"] == budget]
        cells = [f"{np.mean([r[c] for r in rows]):.3f}" for c in columns]
        cells += [f"{sum(r[f'graph picked z={z}'] for r in rows)}/{len(rows)}"
                  for z in Z_VALUES]
        lines.append(f"| {budget} | " + " | ".join(cells) + " |")
    _write(RESULTS / f"graph_model_{args.dataset}.md", lines)


# -- the models inside the session ---------------------------------------------------------------
SESSION_MODELS = ("knn", "graph", "auto")


def session_runs(args) -> None:
    dataset = labelwise.load_dataset(args.dataset)
    split = "group" if dataset.groups is not None else "random"
    checkpoints = [n for n in (10, 20, 30, 50, 100, 200) if n <= args.budget + N_INIT]
    tables, seconds = {}, {}
    for model in args.models:
        start = time.perf_counter()
        tables[model] = labelwise.simulate(dataset, ["U*I*D"], folds=args.folds, split=split,
                                           budget=args.budget, n_init=N_INIT, seed=args.seed,
                                           model=model, n_jobs=args.jobs)
        seconds[model] = round(time.perf_counter() - start, 1)
        print(f"{model} done in {seconds[model]} s", flush=True)
    rows = []
    for model, table in tables.items():
        for strategy, part in table.groupby("strategy", sort=False):
            row = {"model": model, "strategy": strategy}
            for n in checkpoints:
                at = part[part["n_labeled"] == n]
                row[f"acc@{n}"] = round(float(at["accuracy"].mean()), 4)
                row[f"graph share@{n}"] = round(float((at["model"] == "graph").mean()), 2)
            runs = part.groupby("fold").first()
            fired = runs["stop_at"].notna()
            row["stopped"] = f"{int(fired.sum())}/{len(runs)}"
            row["mean stop_at"] = (round(float(runs.loc[fired, "stop_at"].mean()), 1)
                                   if fired.any() else None)
            row["mean acc at stop"] = (round(float(runs.loc[fired, "accuracy_at_stop"].mean()),
                                             4) if fired.any() else None)
            rows.append(row)
    # Does auto ever lose to kNN (same strategy, same labeled count, mean over folds)?
    losses = [(r["strategy"], n, r[f"acc@{n}"], k[f"acc@{n}"])
              for r in rows if r["model"] == "auto"
              for k in rows if k["model"] == "knn" and k["strategy"] == r["strategy"]
              for n in checkpoints if r[f"acc@{n}"] < k[f"acc@{n}"]]
    command = (f"python benchmarks/graph_model.py session --dataset {args.dataset} --folds "
               f"{args.folds} --budget {args.budget} --seed {args.seed} --jobs {args.jobs} "
               f"--models {' '.join(args.models)}")
    meta = {"command": command, "machine": _machine(), "split": split, "seconds": seconds,
            "rows": rows, "auto_loses_to_knn": losses}
    (RESULTS / f"graph_model_session_{args.dataset}.json").write_text(
        json.dumps(meta, indent=1) + "\n")
    accs = [f"acc@{n}" for n in checkpoints]
    shares = [f"graph share@{n}" for n in checkpoints]
    columns = ["model", "strategy", *accs, "stopped", "mean stop_at", "mean acc at stop",
               *shares]
    lines = [f"# The session's models on {args.dataset} ({split} split, simulate)", "",
             f"Command: `{command}`; {_machine()}.", "",
             f"Mean holdout accuracy over {args.folds} folds (10% test) at each labeled count; "
             "the holdout is predicted by the model in use at that step (graph: from each test "
             "item's 10 nearest pool items). 'stopped': runs where the stopping signal "
             "(kappa >= 0.99 over 20 labels on the stop set) fired within the budget; 'graph "
             "share': share of folds whose model in use was the graph at that count. Seconds: "
             + ", ".join(f"{m} {s}" for m, s in seconds.items()) + ".", "",
             "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        lines.append("| " + " | ".join("" if r[c] is None else str(r[c]) for c in columns)
                     + " |")
    lines += ["", "Auto below kNN (strategy, labels, auto, knn): "
              + ("; ".join(f"{s}, {n}, {a}, {k}" for s, n, a, k in losses) if losses
                 else "never") + "."]
    _write(RESULTS / f"graph_model_session_{args.dataset}.md", lines)


# -- speed -------------------------------------------------------------------------------------
DIM, CLUSTERS, CLASSES = 512, 200, 10


def clustered_pool(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors around ``CLUSTERS`` centres (noise 0.8 per coordinate, as step_latency)."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((CLUSTERS, DIM), dtype=np.float32)
    cluster = rng.integers(0, CLUSTERS, n)
    X = centers[cluster]
    # In blocks, so that no n x DIM temporary inflates the peak memory measured later.
    for lo in range(0, n, 100_000):
        block = X[lo:lo + 100_000]
        block += 0.8 * rng.standard_normal(block.shape, dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
    return X, cluster % CLASSES


def median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def speed_one(n: int, steps: int) -> dict:
    X, y = clustered_pool(n)
    rss_before = _peak_rss_mb()
    start = time.perf_counter()
    graph = PoolGraph.build(X)
    build_s = time.perf_counter() - start
    build_rss = _peak_rss_mb()
    model = GraphModel(graph)
    rng = np.random.default_rng(1)
    items = rng.choice(n, steps, replace=False)
    times, reach = [], []
    for item in items:
        start = time.perf_counter()
        model.add(int(item), int(y[item]))
        proba = model.proba()
        times.append(time.perf_counter() - start)
        reach.append(len(model._labels[int(item)].nodes))
    add_only = median_ms(lambda: (model.remove(int(items[0])), model.add(int(items[0]),
                                                                     int(y[items[0]]))), 5)
    v = X[0].copy()
    floor = median_ms(lambda: X @ v, 20)
    step = 1e3 * float(np.median(times))
    return {"n": n, "method": graph.info["method"], "build_s": round(build_s, 1),
            "build_peak_mb": round(build_rss - rss_before), "graph_mb": round(_graph_mb(graph)),
            "edges": int(graph.weights.nnz),
            "step_ms": round(step, 3), "undo_redo_ms": round(add_only, 3),
            "floor_ms": round(floor, 3), "ratio": round(step / floor, 2),
            "median_reach": int(np.median(reach)), "proba_shape": list(proba.shape),
            "peak_rss_mb": round(_peak_rss_mb())}


def speed(args) -> None:
    rows = []
    for n in args.sizes:
        out = subprocess.run([sys.executable, __file__, "speed-one", str(n), str(args.steps)],
                             check=True, capture_output=True, text=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    lines = ["# Graph model: build and label -> probabilities (512-d clustered unit vectors)", "",
             f"Command: `python benchmarks/graph_model.py speed --sizes "
             f"{' '.join(map(str, args.sizes))} --steps {args.steps}`; {_machine()}.", "",
             f"Exact graph up to {EXACT_THRESHOLD:,} items, HNSW above (M=12, "
             "ef_construction=64, ef=32, 2 threads, seed 0). Step = `GraphModel.add` + "
             f"`proba()` of the whole pool (alpha {DEFAULT_ALPHA}, tol {DEFAULT_TOL}), median of "
             f"{args.steps} labels; floor = one `X @ v`; reach = nodes one label's push settles. "
             "Build peak = growth of the process's peak RSS during the build (hnswlib's copy of "
             "the vectors, the similarity blocks); graph MB = what the graph keeps.",
             "",
             "| items | graph | build s | build peak MB | graph MB | edges | step ms | "
             "undo+redo ms | floor ms | step / floor | reach | peak RSS MB |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['n']:,} | {r['method']} | {r['build_s']} | {r['build_peak_mb']} | "
                     f"{r['graph_mb']} | "
                     f"{r['edges']:,} | {r['step_ms']} | {r['undo_redo_ms']} | {r['floor_ms']} |"
                     f" {r['ratio']} | {r['median_reach']} | {r['peak_rss_mb']} |")
    _write(RESULTS / "graph_speed.md", lines)


# -- helpers -----------------------------------------------------------------------------------
def _graph_mb(graph: PoolGraph) -> float:
    """Bytes the graph keeps: the kNN lists, W and S (CSR) and the degrees."""
    arrays = [graph.neighbors, graph.similarities, graph.degree]
    for matrix in (graph.weights, graph.normalized):
        arrays += [matrix.data, matrix.indices, matrix.indptr]
    return sum(a.nbytes for a in arrays) / 2**20


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _machine() -> str:
    return f"machine: {platform.machine()}, Python {platform.python_version()}, 2 cores"


def _write(path: Path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="part", required=True)
    acc = sub.add_parser("accuracy")
    acc.add_argument("--dataset", default="fruits")
    acc.add_argument("--folds", type=int, default=5)
    acc.add_argument("--seed", type=int, default=0)
    acc.add_argument("--alphas", type=float, nargs="*", default=[0.99])
    ses = sub.add_parser("session")
    ses.add_argument("--dataset", default="digits")
    ses.add_argument("--folds", type=int, default=4)
    ses.add_argument("--budget", type=int, default=100)
    ses.add_argument("--seed", type=int, default=0)
    ses.add_argument("--jobs", type=int, default=2)
    ses.add_argument("--models", nargs="+", choices=SESSION_MODELS, default=list(SESSION_MODELS))
    spd = sub.add_parser("speed")
    spd.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000, 1_000_000])
    spd.add_argument("--steps", type=int, default=20)
    one = sub.add_parser("speed-one")
    one.add_argument("n", type=int)
    one.add_argument("steps", type=int)
    args = parser.parse_args()
    if args.part == "accuracy":
        accuracy(args)
    elif args.part == "session":
        session_runs(args)
    elif args.part == "speed":
        speed(args)
    else:
        print(json.dumps(speed_one(args.n, args.steps)))


if __name__ == "__main__":
    main()
