"""Label quality: how well the review queue finds flipped labels; near-duplicates per pack.

Run: ``.venv/bin/python benchmarks/label_quality.py`` (writes benchmarks/results/
label_quality.md and .json). ``--quick`` runs 3 repetitions on digits only (a smoke test).
``--packs fruits`` reruns only that pack's review queue and keeps the other packs' rows from
the .json (so that each run stays under 15 minutes); ``--packs`` alone reruns only the
near-duplicates, ``--no-duplicates`` keeps those.

Review queue: for each pack (fruits, digits, sentiment140) and flip rate (5%, 10%), each of 10
repetitions (seed = repetition) draws 300 random items, gives them their true labels, flips
``m = rate * 300`` of them at random to another class (uniformly), labels all 300 in a session
and ranks them with :func:`labelwise.engine.quality.suspect_labels`. Reported: precision of the
top 10 and of the top ``m`` (the share of flipped items among them), averaged over repetitions,
for each scoring method:

* ``knn5``: plain leave-one-out 5-NN, uniform votes (the session default);
* ``knn10_sim``, ``knn15_sim``, ``knn20_sim``: leave-one-out k-NN with similarity-weighted
  votes (15 is :func:`suspect_labels`' default);
* ``knn_auto_sim``: k chosen per run from the labels (best leave-one-out accuracy of
  3, 5, 7, 10, 15, 20), similarity-weighted;
* ``graph``: leave-one-out label spreading on the pool's kNN graph (GraphModel.loo_scores).

Near-duplicates: per pack, the suggested threshold (:func:`suggest_threshold`), the number of
groups and of items in groups there and at 0.95, and exact content duplicates (same bytes). On
fruits, where augmented copies of one photo share a ``group``: the share of same-photo pairs at
or above the threshold, and the share of qualifying pairs that join different photos (exact,
over all pairs).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from labelwise import LabelingSession, load_dataset
from labelwise.data.duplicates import exact_duplicate_groups
from labelwise.engine.graph import GraphModel, PoolGraph
from labelwise.engine.quality import (
    near_duplicate_groups,
    nearest_similarities,
    suggest_threshold,
    suspect_labels,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PACKS = ("fruits", "digits", "sentiment140")
ALL_PACKS = ("fruits", "digits", "sentiment140", "moons")
RATES = (0.05, 0.10)
N_LABELS = 300
METHODS = {
    "knn5": {"k": 5, "weights": "uniform"},
    "knn10_sim": {"k": 10, "weights": "similarity"},
    "knn15_sim": {"k": 15, "weights": "similarity"},  # suspect_labels' default
    "knn20_sim": {"k": 20, "weights": "similarity"},
    "knn_auto_sim": {"k": "auto", "weights": "similarity"},
    "graph": {"model": "graph"},
}


def flipped_labels(labels: np.ndarray, classes: list, rate: float, seed: int):
    """300 random items, their labels with ``rate`` of them flipped; (items, labels, flipped)."""
    rng = np.random.default_rng(seed)
    items = rng.choice(len(labels), N_LABELS, replace=False)
    given = labels[items].copy()
    m = round(rate * N_LABELS)
    flip = rng.choice(N_LABELS, m, replace=False)
    for f in flip:
        others = [c for c in classes if c != given[f]]
        given[f] = others[rng.integers(len(others))]
    return items, given, set(items[flip].tolist())


def queue_for(dataset, graph: PoolGraph | None, items, given, method: dict):
    settings = {k: v for k, v in method.items() if k != "model"}
    session = LabelingSession(dataset.vectors, "random", k=5,
                              weights=settings.get("weights", "uniform"))
    session.label_many(items, given)
    if method.get("model") == "graph":
        model = GraphModel(graph)
        for item in session.labeled:
            model.add(int(item), int(session.view().codes[item]))
        return suspect_labels(session, model="graph", graph_model=model)
    return suspect_labels(session, **settings)


def review_runs(name: str, reps: int, methods: tuple[str, ...] = tuple(METHODS)) -> list[dict]:
    dataset = load_dataset(name)
    labels = np.asarray(dataset.labels, dtype=object)
    classes = sorted(set(labels.tolist()), key=str)
    start = time.perf_counter()
    session = LabelingSession(dataset.vectors, "random")
    graph = PoolGraph.build(session.vectors) if "graph" in methods else None
    graph_s = time.perf_counter() - start
    rows = []
    for rate in RATES:
        for method_name in methods:
            method = METHODS[method_name]
            p10, pm, seconds = [], [], []
            for rep in range(reps):
                items, given, flipped = flipped_labels(labels, classes, rate, rep)
                t0 = time.perf_counter()
                queue = queue_for(dataset, graph, items, given, method)
                seconds.append(time.perf_counter() - t0)
                top = queue["item"].tolist()
                m = len(flipped)
                p10.append(np.mean([t in flipped for t in top[:10]]))
                pm.append(np.mean([t in flipped for t in top[:m]]))
            rows.append({"pack": name, "rate": rate, "flipped": round(rate * N_LABELS),
                         "method": method_name, "reps": reps,
                         "precision_top10": float(np.mean(p10)),
                         "precision_top_m": float(np.mean(pm)),
                         "precision_top10_min": float(np.min(p10)),
                         "median_queue_s": float(np.median(seconds)),
                         "graph_build_s": graph_s if method_name == "graph" else None})
            print(rows[-1], flush=True)
    return rows


def pair_shares(unit: np.ndarray, groups: np.ndarray, threshold: float) -> dict:
    """Exact over all pairs: same-photo pairs at >= threshold, and qualifying cross-photo pairs."""
    codes = np.unique(groups, return_inverse=True)[1]
    same_total = same_hit = cross_hit = 0
    for lo in range(0, len(unit), 1024):
        sims = unit[lo:lo + 1024] @ unit.T
        rows = np.arange(len(sims))[:, None] + lo
        upper = np.arange(len(unit))[None, :] > rows
        same = codes[lo:lo + 1024, None] == codes[None, :]
        hit = sims >= threshold
        same_total += int((same & upper).sum())
        same_hit += int((same & upper & hit).sum())
        cross_hit += int((~same & upper & hit).sum())
    qualifying = same_hit + cross_hit
    return {"threshold": threshold, "same_photo_pairs": same_total,
            "same_photo_pairs_qualifying": same_hit,
            "share_same_photo_qualifying": same_hit / max(same_total, 1),
            "qualifying_pairs": qualifying,
            "share_qualifying_cross_photo": cross_hit / max(qualifying, 1)}


def duplicate_rows(name: str) -> dict:
    dataset = load_dataset(name)
    unit = LabelingSession(dataset.vectors, "random").vectors
    t0 = time.perf_counter()
    top1 = nearest_similarities(unit)
    threshold = suggest_threshold(top1=top1)
    groups = near_duplicate_groups(unit, threshold)
    seconds = time.perf_counter() - t0
    at95 = near_duplicate_groups(unit, 0.95)
    exact = exact_duplicate_groups(dataset) if name != "moons" else []
    row = {"pack": name, "items": len(unit), "suggested_threshold": threshold,
           "top1_median": float(np.median(top1)),
           "groups": len(groups), "items_in_groups": int(sum(map(len, groups))),
           "largest_group": int(max(map(len, groups), default=0)),
           "groups_at_0.95": len(at95), "items_in_groups_at_0.95": int(sum(map(len, at95))),
           "exact_duplicate_groups": len(exact),
           "exact_duplicate_items": int(sum(map(len, exact))), "seconds": seconds}
    shown = sorted({n for n in (0, 1, len(groups) - 2, len(groups) - 1) if 0 <= n < len(groups)})
    row["examples"] = [_example(dataset, groups[n]) for n in shown]
    if dataset.groups is not None:
        groups_arr = np.asarray(dataset.groups)
        row["photo_pairs"] = [pair_shares(unit, groups_arr, t) for t in (threshold, 0.95)]
        row["groups_single_photo"] = float(np.mean(
            [len(set(groups_arr[g].tolist())) == 1 for g in groups])) if groups else None
    print(row, flush=True)
    return row


def _example(dataset, group: np.ndarray) -> dict:
    """What a group holds: its size, first ids, texts (text packs), labels and photo groups."""
    first = group[:3]
    example = {"size": len(group), "ids": [str(dataset.ids[i]) for i in first]}
    if "text" in dataset.items.columns:
        example["texts"] = [str(dataset.items["text"].iat[i])[:60] for i in first]
    if dataset.labels is not None:
        example["labels"] = [str(dataset.labels[i]) for i in first]
    if dataset.groups is not None:
        example["photo_groups"] = [str(dataset.groups[i]) for i in first]
    return example


def write_markdown(review: list[dict], duplicates: list[dict], path: Path) -> None:
    lines = ["# Label quality", "",
             "`python benchmarks/label_quality.py`: review queue over 300 random labels with "
             "5% / 10% flipped at random (10 repetitions, mean precision); near-duplicates per "
             "pack. Review rows of different packs may come from separate runs (`--packs`).",
             "Methods: knn5 = leave-one-out 5-NN, uniform votes; knn10_sim = 10-NN, "
             "similarity-weighted; knn_auto_sim = k chosen from the labels (best leave-one-out "
             "accuracy), similarity-weighted; graph = leave-one-out label spreading on the "
             "pool's kNN graph. `queue s`: median seconds per queue (graph: including adding "
             "the 300 labels to a new GraphModel; the pool graph's build is timed apart).", "",
             "## Review queue: precision of the top 10 and of the top m (m = flipped)", "",
             "| pack | flipped | method | top 10 | top m | worst top 10 | queue s |",
             "|---|---:|---|---:|---:|---:|---:|"]
    for r in review:
        lines.append(f"| {r['pack']} | {r['flipped']} ({r['rate']:.0%}) | {r['method']} | "
                     f"{r['precision_top10']:.3f} | {r['precision_top_m']:.3f} | "
                     f"{r['precision_top10_min']:.2f} | {r['median_queue_s']:.3f} |")
    lines += ["", "## Near-duplicates", "",
              "| pack | items | suggested threshold | groups | items in groups | largest | "
              "groups at 0.95 | items at 0.95 | exact-duplicate groups |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for d in duplicates:
        lines.append(f"| {d['pack']} | {d['items']} | {d['suggested_threshold']:.4f} | "
                     f"{d['groups']} | {d['items_in_groups']} | {d['largest_group']} | "
                     f"{d['groups_at_0.95']} | {d['items_in_groups_at_0.95']} | "
                     f"{d['exact_duplicate_groups']} |")
    for d in duplicates:
        for p in d.get("photo_pairs", []):
            lines.append("")
            lines.append(
                f"{d['pack']} at cosine >= {p['threshold']:.4f}: "
                f"{p['same_photo_pairs_qualifying']} of {p['same_photo_pairs']} same-photo "
                f"pairs qualify ({p['share_same_photo_qualifying']:.1%}); of the "
                f"{p['qualifying_pairs']} qualifying pairs, "
                f"{p['share_qualifying_cross_photo']:.1%} join different photos.")
    lines += ["", "Examples of groups at the suggested threshold (largest two, smallest two):", ""]
    for d in duplicates:
        for e in d.get("examples", []):
            shown = e.get("texts") or e.get("photo_groups") or e["ids"]
            lines.append(f"- {d['pack']}, {e['size']} items: "
                         f"{'; '.join(repr(x) for x in shown)} (labels {e.get('labels')})")
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repetitions, digits only")
    parser.add_argument("--out", default=str(RESULTS / "label_quality"),
                        help="output path without extension")
    parser.add_argument("--packs", nargs="*", choices=PACKS, default=None,
                        help="review-queue packs to (re)run; the other packs' rows are kept "
                             "from an earlier run's .json (each run stays under 15 minutes)")
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=None,
                        help="rerun only these scoring methods (rows of the others are kept)")
    parser.add_argument("--no-duplicates", action="store_true",
                        help="keep the near-duplicate rows of the earlier run")
    args = parser.parse_args()
    packs, reps = (("digits",), 3) if args.quick else (
        PACKS if args.packs is None else tuple(args.packs), 10)
    out = Path(args.out)
    earlier = json.loads(out.with_suffix(".json").read_text()) \
        if out.with_suffix(".json").exists() and not args.quick else {}
    methods = tuple(args.methods or METHODS)
    review = [r for r in earlier.get("review", [])
              if r["pack"] not in packs or r["method"] not in methods]
    review += [row for name in packs for row in review_runs(name, reps, methods)]
    order = list(METHODS)
    review.sort(key=lambda r: (PACKS.index(r["pack"]), r["rate"], order.index(r["method"])))
    duplicates = earlier.get("duplicates", []) if args.no_duplicates else [
        duplicate_rows(name) for name in (("digits",) if args.quick else ALL_PACKS)]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(
        {"machine": platform.platform(), "n_labels": N_LABELS, "review": review,
         "duplicates": duplicates}, indent=2))
    write_markdown(review, duplicates, out.with_suffix(".md"))
    print(f"wrote {out.with_suffix('.md')} and .json")


if __name__ == "__main__":
    main()
