"""Many labelers on one project at once: nothing lost, nothing duplicated, no lock errors.

Every test runs on both backends (``store_location``: a SQLite folder, or a schema on a real
PostgreSQL server; see tests/store_backends.py). On PostgreSQL the threads and processes stand
for dashboard servers behind a load balancer, each with its own connections.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from labelwise.data.datasets import Dataset
from labelwise.labels.projects import (
    bind_project,
    label_item,
    resume_session,
    strategy_settings,
    suggest_batch,
)
from labelwise.labels.store import LabelStore, StoreBusyError

REPO = Path(__file__).resolve().parent.parent
pytest_plugins = ["store_backends"]  # the store_location and write_blocker fixtures
N_THREADS = 20


def _run_threads(target, n=N_THREADS) -> list[BaseException]:
    """Start ``n`` threads on ``target(t)`` together; return the exceptions they raised."""
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def run(t: int) -> None:
        try:
            barrier.wait()
            target(t)
        except BaseException as exc:  # any error reaching a caller fails the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(t,)) for t in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_twenty_threads_record_without_loss_or_duplicates(store_location):
    shared = LabelStore(store_location)
    shared.create_project("p", "d", "sha256:x")
    per_thread = 40

    def labeler(t: int) -> None:
        # Half the threads share one store object (a connection per thread), half open their own.
        store = shared if t % 2 else LabelStore(store_location)
        for n in range(per_thread):
            store.record("p", f"t{t}-{n}", "label", f"c{(t + n) % 4}", who=f"w{t}")
            store.record("p", "contested", "label", f"w{t}-{n}", who=f"w{t}")

    assert _run_threads(labeler) == []
    current = shared.current_labels("p")
    events = shared.events("p")
    assert len(events) == 2 * N_THREADS * per_thread
    assert events["id"].is_unique
    assert len(current) == N_THREADS * per_thread + 1
    assert current["item_id"].is_unique
    got = dict(zip(current["item_id"], current["label"], strict=True))
    for t in range(N_THREADS):
        for n in range(per_thread):
            assert got[f"t{t}-{n}"] == f"c{(t + n) % 4}"
    # The contested item's current label is the latest of its events.
    contested = events[events["item_id"] == "contested"]
    assert got["contested"] == contested["label"].iloc[-1]


def test_concurrent_reserve_never_grants_an_item_twice(store_location):
    shared = LabelStore(store_location)
    shared.create_project("p", "d", "sha256:x")
    items = [f"i{n}" for n in range(120)]
    granted: dict[int, list[str]] = {}

    def labeler(t: int) -> None:
        store = LabelStore(store_location)
        rng = np.random.default_rng(t)
        mine: list[str] = []
        for _ in range(10):
            mine += store.reserve("p", rng.choice(items, size=15, replace=False), f"w{t}",
                                  ttl_seconds=600)
        granted[t] = mine

    assert _run_threads(labeler) == []
    counts = Counter(item for t, mine in granted.items() for item in set(mine))
    assert counts and max(counts.values()) == 1
    live = shared.reservations("p")
    assert live["item_id"].is_unique
    assert {(r.item_id, r.who) for r in live.itertuples()} == {
        (item, f"w{t}") for t, mine in granted.items() for item in mine}


def test_twenty_sessions_label_one_project_in_batch_mode(store_location):
    rng = np.random.default_rng(0)
    n_items = 600
    vectors = rng.standard_normal((n_items, 16)).astype(np.float32)
    truth = (vectors[:, 0] > 0).astype(int)
    dataset = Dataset("synthetic", vectors, truth,
                      pd.DataFrame({"id": [f"item-{i}" for i in range(n_items)]}), "points")
    bind_project(LabelStore(store_location), "p", dataset,
                 settings=strategy_settings("U*I*D", k=5, seed=0))
    done: dict[int, list[int]] = {}

    def labeler(t: int) -> None:
        session = resume_session(LabelStore(store_location), "p", dataset)
        mine: list[int] = []
        for _ in range(3):
            for item in suggest_batch(session, 5, who=f"w{t}", ttl_seconds=600):
                label_item(session, item, f"class-{truth[item]}", who=f"w{t}")
                mine.append(item)
        done[t] = mine

    assert _run_threads(labeler) == []
    store = LabelStore(store_location)
    labeled = [item for mine in done.values() for item in mine]
    assert len(labeled) == len(set(labeled))            # reservations: no item twice
    events = store.events("p")
    assert len(events) == len(labeled) and events["item_id"].is_unique
    current = store.current_labels("p")
    assert set(current["item_id"]) == {dataset.ids[i] for i in labeled}
    assert all(label == f"class-{truth[int(i.split('-')[1])]}"
               for i, label in zip(current["item_id"], current["label"], strict=True))
    resumed = resume_session(store, "p", dataset)
    assert resumed.n_labeled == len(labeled)


WRITER = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    from labelwise.labels.store import LabelStore
    store = LabelStore(sys.argv[2])
    proc = int(sys.argv[3])
    granted = []
    for n in range(150):
        store.record("p", f"p{proc}-{n}", "label", "x", who=f"proc{proc}")
        granted += store.reserve("p", [f"r{(n * 7 + k) % 90}" for k in range(3)],
                                 f"proc{proc}", ttl_seconds=600)
    print(",".join(granted))
""")


@pytest.mark.slow
def test_processes_write_one_store_at_once(store_location):
    LabelStore(store_location).create_project("p", "d", "sha256:x")
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(REPO), store_location, str(p)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for p in range(4)]
    outputs = [proc.communicate(timeout=300) for proc in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "locked" not in err
    # A process may renew its own reservation; no item may go to two processes.
    granted = [item for out, _ in outputs for item in set(out.strip().split(",")) - {""}]
    assert granted and len(granted) == len(set(granted))
    store = LabelStore(store_location)
    current = store.current_labels("p")
    assert sorted(current["item_id"]) == sorted(f"p{p}-{n}" for p in range(4) for n in range(150))
    assert len(store.events("p")) == 600


@pytest.mark.slow
def test_event_ids_follow_commit_order_for_a_poller(store_location):
    """A reader polling ``labels_changed_since`` by id sees every event exactly once.

    On PostgreSQL ids come from a sequence: without the project lock a slow writer could commit
    id 10 after a fast one committed id 11 and the poller had moved past 11.
    """
    shared = LabelStore(store_location)
    shared.create_project("p", "d", "sha256:x")
    seen: list[int] = []
    writers_done = threading.Event()

    def poll() -> None:
        last = 0
        while True:
            finished = writers_done.is_set()
            changed = shared.labels_changed_since("p", last)
            seen.extend(changed["id"].tolist())
            last = max([last, *changed["id"].tolist()])
            if finished:
                return

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        errors = _run_threads(lambda t: [LabelStore(store_location).record(
            "p", f"t{t}-{n}", "label", "x", who=f"w{t}") for n in range(25)], n=8)
    finally:
        writers_done.set()
        poller.join()
    assert errors == []
    assert sorted(seen) == shared.events("p")["id"].tolist() and len(seen) == 8 * 25


@pytest.fixture
def store(store_location):
    store = LabelStore(store_location)
    store.create_project("p", "d", "sha256:x")
    return store


def test_a_long_lock_is_waited_out_and_a_stuck_one_named(store, store_location, write_blocker):
    blocker = write_blocker
    blocker.acquire()  # another writer holds the write lock...
    release = threading.Timer(6.0, blocker.commit)
    release.start()  # ...longer than SQLite's own 5 s busy timeout, then lets go
    try:
        event_id = store.record("p", "a", "label", "x", who="ana")  # waited, not "locked"
    finally:
        release.join()
    assert store.current_labels("p")["item_id"].tolist() == ["a"]
    assert store.last_event_id("p") == event_id

    impatient = LabelStore(store_location, busy_seconds=0.5)
    blocker.acquire()
    try:
        with pytest.raises(StoreBusyError, match="nothing was written"):
            impatient.record("p", "b", "label", "y", who="bob")
    finally:
        blocker.rollback()
    assert store.current_labels("p")["item_id"].tolist() == ["a"]
    impatient.record("p", "b", "label", "y", who="bob")
