"""Resume cost: replay 10,000 stored labels into a session over a 20,000 x 512 pool.

Run: ``.venv/bin/python benchmarks/replay.py`` (writes benchmarks/results/replay.json and .md).

Measures, on a synthetic pool (Gaussian vectors, 10 classes, seed 0):
* ``record``: writing the 10,000 label events through ``LabelStore.record`` (one committed
  transaction each, as in the dashboard), per label;
* ``resume``: ``resume_session`` -- read the events, fold them, rebuild the kNN state in bulk
  (one 20,000 x 512 by 512 x 10,000 float32 matrix product, in blocks, dominates);
* ``label_by_label``: the same labels applied one ``session.label`` call at a time (what a
  naive replay would cost), for comparison;
* ``sync``: picking up 100 labels written by another labeler into a live session.
The density is passed precomputed (the dashboard caches it), so neither path computes it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from labelwise.data.datasets import Dataset
from labelwise.engine.session import LabelingSession
from labelwise.labels.projects import (
    bind_project,
    dataset_fingerprint,
    resume_session,
    strategy_settings,
    sync,
)
from labelwise.labels.store import LabelStore

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--labels", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]  # other work on the machine slows every figure below

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((args.items, args.dim)).astype(np.float32)
    ids = [f"item-{n:06d}" for n in range(args.items)]
    dataset = Dataset("synthetic", vectors, None, pd.DataFrame({"id": ids}), "points")
    items = rng.choice(args.items, size=args.labels + 100, replace=False)
    labels = [f"class-{c}" for c in rng.integers(0, 10, size=args.labels + 100)]
    density = rng.random(args.items)

    with tempfile.TemporaryDirectory() as tmp:
        store = LabelStore(tmp)
        t0 = time.perf_counter()
        fingerprint = dataset_fingerprint(dataset)
        t_fingerprint = time.perf_counter() - t0
        bind_project(store, "bench", dataset, settings=strategy_settings("U*I*D", k=5, seed=0),
                     fingerprint=fingerprint)
        t0 = time.perf_counter()
        for item, label in zip(items[:args.labels], labels[:args.labels], strict=True):
            store.record("bench", ids[item], "label", label, who="bench")
        t_record = (time.perf_counter() - t0) / args.labels

        resume, resume_cpu = [], []
        for _ in range(args.repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            session = resume_session(store, "bench", dataset, density_values=density,
                                     fingerprint=fingerprint)
            resume.append(time.perf_counter() - t0)
            resume_cpu.append(time.process_time() - c0)
        assert session.n_labeled == args.labels
        # Where resume time goes: reading the log, a fresh session, the rest is the kNN state.
        t0 = time.perf_counter()
        store.labels_changed_since("bench")
        t_read = time.perf_counter() - t0
        t0 = time.perf_counter()
        LabelingSession(vectors, "U*I*D", k=5, seed=0, density_values=density)
        t_init = time.perf_counter() - t0

        t0 = time.perf_counter()
        naive = LabelingSession(vectors, "U*I*D", k=5, seed=0, density_values=density)
        for item, label in zip(items[:args.labels], labels[:args.labels], strict=True):
            naive.label(int(item), label)
        t_naive = time.perf_counter() - t0

        other = LabelStore(tmp)
        for item, label in zip(items[args.labels:], labels[args.labels:], strict=True):
            other.record("bench", ids[item], "label", label, who="other")
        t0 = time.perf_counter()
        applied = sync(session)
        t_sync = time.perf_counter() - t0
        assert len(applied) == 100

        t0 = time.perf_counter()
        session.next()
        t_next = time.perf_counter() - t0

    result = {
        "pool": [args.items, args.dim], "labels": args.labels,
        "fingerprint_s": round(t_fingerprint, 3),
        "record_ms_per_label": round(1000 * t_record, 3),
        "resume_s": [round(t, 3) for t in resume],
        "resume_best_s": round(min(resume), 3),
        # CPU seconds (all threads): the work itself, less sensitive to a busy machine.
        "resume_cpu_s": [round(t, 3) for t in resume_cpu],
        "resume_part_read_events_s": round(t_read, 3),
        "resume_part_new_session_s": round(t_init, 3),
        "label_by_label_s": round(t_naive, 3),
        "sync_100_labels_s": round(t_sync, 3),
        "next_after_resume_s": round(t_next, 3),
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, Python "
                   f"{platform.python_version()}",
        "load_average_before": round(load_before, 2),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "replay.json").write_text(json.dumps(result, indent=2) + "\n")
    rows = "\n".join(f"| {k} | {v} |" for k, v in result.items())
    (RESULTS / "replay.md").write_text(
        "# Replay of stored labels (benchmarks/replay.py)\n\n| measure | value |\n|---|---|\n"
        + rows + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
