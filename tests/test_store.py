"""LabelStore on real SQLite files: API, bad files left untouched, crash safety under SIGKILL."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from labelwise.errors import InvalidInputError, LabelwiseError, UnknownItemError
from labelwise.labels.store import (
    CorruptStoreError,
    LabelStore,
    ProjectExistsError,
    ProjectNotFoundError,
    default_store_path,
)

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def store(tmp_path):
    store = LabelStore(tmp_path / "data")
    store.create_project("p", "fruits", "sha256:abc", {"strategy": "U*I*D", "k": 5})
    return store


def test_default_location_env_and_argument(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LABELWISE_DATA_DIR", raising=False)
    assert default_store_path() == Path("labelwise-data") / "labelwise.sqlite"
    monkeypatch.setenv("LABELWISE_DATA_DIR", str(tmp_path / "elsewhere"))
    assert default_store_path() == tmp_path / "elsewhere" / "labelwise.sqlite"
    assert default_store_path(tmp_path / "x.sqlite") == tmp_path / "x.sqlite"
    store = LabelStore()
    assert store.path == (tmp_path / "elsewhere" / "labelwise.sqlite").resolve()
    assert store.path.exists()


def test_file_is_marked_and_in_wal_mode(store):
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == 0x6C776973
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_projects(store):
    project = store.open_project("p")
    assert project.dataset_id == "fruits" and project.settings == {"strategy": "U*I*D", "k": 5}
    with pytest.raises(ProjectExistsError, match="already exists"):
        store.create_project("p", "fruits", "sha256:abc")
    with pytest.raises(ProjectNotFoundError, match=r"'q'.*projects: 'p'"):
        store.open_project("q")
    store.create_project("q", "moons", "sha256:def")
    assert [p.name for p in store.list_projects()] == ["p", "q"]
    assert store.update_settings("q", {"k": 7}).settings == {"k": 7}
    with pytest.raises(InvalidInputError, match="JSON"):
        store.create_project("r", "moons", "sha256:def", {"bad": object()})


def test_record_keeps_events_and_current_label(store):
    store.record("p", "a", "label", "ripe", who="ana")
    store.record("p", 7, "label", 3, who="bob")
    store.record("p", "b", "skip", who="ana")
    store.record("p", "a", "label", "rotten", who="bob")
    current = store.current_labels("p")
    assert current["item_id"].tolist() == ["7", "a"]
    assert current["label"].tolist() == [3, "rotten"]  # types kept
    assert current["who"].tolist() == ["bob", "bob"]
    events = store.events("p")
    assert events["action"].tolist() == ["label", "label", "skip", "label"]
    assert events["id"].is_monotonic_increasing
    store.record("p", "a", "unlabel", who="ana")
    assert store.current_labels("p")["item_id"].tolist() == ["7"]
    assert len(store.events("p")) == 5


def test_record_refuses_bad_input_and_records_nothing(store):
    cases = [
        dict(item_id="a", action="paint", label="x"),
        dict(item_id="a", action="label", label=None),
        dict(item_id="a", action="label", label=""),
        dict(item_id="a", action="label", label=("tuple",)),
        dict(item_id="a", action="label", label=float("nan")),
        dict(item_id="a", action="skip", label="x"),
        dict(item_id=None, action="label", label="x"),
        dict(item_id="", action="label", label="x"),
    ]
    for case in cases:
        with pytest.raises(InvalidInputError):
            store.record("p", case["item_id"], case["action"], case["label"], who="ana")
    with pytest.raises(InvalidInputError, match="who"):
        store.record("p", "a", "label", "x", who=" ")
    with pytest.raises(UnknownItemError, match="no label to undo"):
        store.record("p", "a", "unlabel", who="ana")
    with pytest.raises(ProjectNotFoundError):
        store.record("nope", "a", "label", "x", who="ana")
    assert len(store.events("p")) == 0


def test_skipped_items(store):
    store.record("p", "a", "skip", who="ana")
    store.record("p", "b", "skip", who="bob")
    store.record("p", "c", "skip", who="ana")
    store.record("p", "a", "skip", who="ana")
    store.record("p", "c", "label", "x", who="bob")  # labeled since: no longer skipped
    assert store.skipped_items("p") == ["a", "b"]
    assert store.skipped_items("p", who="ana") == ["a"]


def test_labels_changed_since(store):
    first = store.record("p", "a", "label", "x", who="ana")
    store.record("p", "b", "skip", who="ana")
    second = store.record("p", "c", "label", "y", who="bob")
    third = store.record("p", "a", "unlabel", who="bob")
    changed = store.labels_changed_since("p", first)
    assert changed["id"].tolist() == [second, third]
    assert store.last_event_id("p") == third
    assert store.labels_changed_since("p", third).empty


def test_disagreements_keep_both_and_latest_is_current(store):
    store.record("p", "a", "label", "ripe", who="ana")
    store.record("p", "a", "label", "rotten", who="bob")
    store.record("p", "b", "label", "ripe", who="ana")
    store.record("p", "b", "label", "ripe", who="bob")      # agreement
    store.record("p", "c", "label", "ripe", who="ana")
    store.record("p", "c", "label", "rotten", who="ana")    # one person changing their mind
    table = store.disagreements("p")
    assert table["item_id"].tolist() == ["a", "a"]
    assert dict(zip(table["who"], table["label"], strict=True)) == {"ana": "ripe",
                                                                    "bob": "rotten"}
    assert set(table["current_label"]) == {"rotten"}


def test_reservations(store):
    assert store.reserve("p", ["a", "b"], "ana", ttl_seconds=60) == ["a", "b"]
    assert store.reserve("p", ["b", "c"], "bob", ttl_seconds=60) == ["c"]
    assert store.reserve("p", ["a"], "ana", ttl_seconds=60) == ["a"]  # renewal
    assert store.reserved_by_others("p", "bob") == {"a", "b"}
    store.record("p", "a", "label", "x", who="ana")  # labeling completes the reservation
    assert store.reserve("p", ["a"], "bob") == []      # labeled items are not handed out
    assert store.release("p", "ana") == 1
    assert store.reserve("p", ["b"], "bob") == ["b"]
    assert store.reserve("p", ["d"], "ana", ttl_seconds=1e-6) == ["d"]
    assert store.reserve("p", ["d"], "bob") == ["d"]   # expired reservations lapse
    with pytest.raises(InvalidInputError):
        store.reserve("p", ["e"], "ana", ttl_seconds=0)


def test_backup_is_a_readable_copy(store, tmp_path):
    store.record("p", "a", "label", "x", who="ana")
    copy = LabelStore(store.backup(tmp_path / "backup.sqlite"))
    assert copy.current_labels("p")["label"].tolist() == ["x"]


# -- files that are not labelwise stores -------------------------------------------------------
def _assert_refused_untouched(path: Path, match: str) -> None:
    before = path.read_bytes()
    siblings = set(path.parent.iterdir())
    with pytest.raises(CorruptStoreError, match=match) as info:
        LabelStore(path)
    assert isinstance(info.value, LabelwiseError)
    assert "untouched" in str(info.value)
    assert path.read_bytes() == before
    leftovers = set(path.parent.iterdir()) - siblings
    assert all(p.stat().st_size == 0 or p.name.endswith("-shm") for p in leftovers), leftovers


def test_random_bytes_are_refused(tmp_path):
    path = tmp_path / "labelwise.sqlite"
    path.write_bytes(np.random.default_rng(0).bytes(5000))
    _assert_refused_untouched(path, "not a SQLite database")


def test_text_file_is_refused(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("my precious notes\n")
    _assert_refused_untouched(path, "not a SQLite database")


def test_foreign_sqlite_database_is_refused(tmp_path):
    path = tmp_path / "labelwise.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (id INTEGER, name TEXT)")
    conn.execute("INSERT INTO customers VALUES (1, 'ada')")
    conn.commit()
    conn.close()
    _assert_refused_untouched(path, "another application")


def test_foreign_sqlite_with_our_table_names_is_refused(tmp_path):
    path = tmp_path / "x.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE projects (id INTEGER)")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    _assert_refused_untouched(path, "another application")


def test_truncated_store_is_refused(tmp_path):
    path = tmp_path / "labelwise.sqlite"
    store = LabelStore(path)
    store.create_project("p", "d", "sha256:x")
    for n in range(400):
        store.record("p", f"item-{n}", "label", "x" * 50, who="ana")
    store.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = path.read_bytes()
    assert len(data) > 8192
    path.write_bytes(data[: len(data) // 2 + 100])
    _assert_refused_untouched(path, "damaged")


def test_store_from_newer_version_is_refused(tmp_path):
    path = tmp_path / "labelwise.sqlite"
    LabelStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    _assert_refused_untouched(path, "newer labelwise")


def test_folder_in_place_of_the_file_is_refused(tmp_path):
    (tmp_path / "labelwise.sqlite").mkdir()
    with pytest.raises(CorruptStoreError, match="is a folder"):
        LabelStore(tmp_path)


# -- crash safety ------------------------------------------------------------------------------
WRITER = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    from labelwise.labels.store import LabelStore
    store = LabelStore(sys.argv[2])
    n = 0
    while True:
        store.record("p", f"item-{n}", "label", f"class-{n % 3}", who="writer")
        print(n, flush=True)   # only after record() returned
        n += 1
""")


def test_every_returned_record_survives_sigkill(tmp_path):
    path = tmp_path / "labelwise.sqlite"
    LabelStore(path).create_project("p", "d", "sha256:x")
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(REPO), str(path)],
                            stdout=subprocess.PIPE, text=True)
    acknowledged = []
    try:
        for line in proc.stdout:
            acknowledged.append(int(line))
            if len(acknowledged) == 300:
                os.kill(proc.pid, signal.SIGKILL)  # mid-stream, no cleanup of any kind
                break
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    reopened = LabelStore(path)
    current = reopened.current_labels("p")
    stored = dict(zip(current["item_id"], current["label"], strict=True))
    for n in acknowledged:
        assert stored[f"item-{n}"] == f"class-{n % 3}"
    # Events and current labels agree: both were written in one transaction.
    assert len(reopened.events("p")) == len(stored)
    reopened.record("p", "after-crash", "label", "x", who="ana")
