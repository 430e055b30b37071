"""Where one desk answer's server time goes, without Streamlit or a browser.

A :class:`Desk` on a random pool (5000 x 384, five classes, ``U*I*D``) takes 20 answers after
10 warm-up answers; each step is ``offer()`` -> ``receive(label)`` -> ``offer()`` (the next
offer computes one branch preview per class plus one for a skip), once per model (knn, graph,
auto; the pool graph is built before the timing starts); then the same on the fruit pack (7,521
items, six classes, true labels, the pack's graph and density).

Run: ``.venv/bin/python benchmarks/desk_answer_profile.py [--models knn auto]``
Writes benchmarks/results/desk_answer_profile.json and prints the top of each profile.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import time
from pathlib import Path

import numpy as np

from labelwise import LabelingSession, load_dataset
from labelwise.dashboard.desk import Answer, Desk

RESULTS = Path(__file__).resolve().parent / "results"
CLASSES = ["a", "b", "c", "d", "e"]


def step(desk: Desk, seq: int, truth: list | None = None) -> float:
    """One answer (the true label, or classes in turn) and the next offer; seconds taken."""
    start = time.perf_counter()
    item = desk.offer().current.item
    label = CLASSES[seq % len(CLASSES)] if truth is None else truth[item]
    desk.receive([Answer("tab", seq, item, "label", label)])
    desk.offer()
    return time.perf_counter() - start


def profile_model(X: np.ndarray, model: str, classes: list, truth: list | None = None,
                  parts=None) -> tuple[dict, str]:
    """One model's median and max seconds per answer, and the top of its profile."""
    extra = {} if parts is None else {"graph": parts.graph, "density_values": parts.density}
    session = LabelingSession(X, "U*I*D", k=5, seed=0, model=model, **extra)
    for label in classes:
        session.add_class(label)
    desk = Desk(session, classes)
    for seq in range(10):
        step(desk, seq, truth)
    load = os.getloadavg()[0]
    profile = cProfile.Profile()
    profile.enable()
    times = [step(desk, seq, truth) for seq in range(10, 30)]
    profile.disable()
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("cumulative").print_stats(12)
    return {"model": model, "model_in_use": session.model_name,
            "median_ms": round(1000 * statistics.median(times), 1),
            "max_ms": round(1000 * max(times), 1), "load_1min": load}, text.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=["knn", "graph", "auto"])
    args = parser.parse_args()
    X = np.random.default_rng(0).normal(size=(5000, 384)).astype(np.float32)
    fruits = load_dataset("fruits")
    rows = []
    for model in args.models:
        row, profile = profile_model(X, model, CLASSES)
        rows.append({"pool": "random 5000 x 384", **row})
        print(profile)
        row, profile = profile_model(fruits.vectors, model, list(fruits.classes),
                                     list(fruits.labels), fruits.pool_parts())
        rows.append({"pool": "fruits pack (its graph and density)", **row})
        print(profile)
    result = {"command": "benchmarks/desk_answer_profile.py", "rows": rows}
    (RESULTS / "desk_answer_profile.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
