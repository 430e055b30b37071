"""LabelStore on real SQLite files and a real PostgreSQL server: API, bad or damaged files left
untouched, read-only stores told apart from damaged ones, crash safety under SIGKILL.

The API, reservation, backup and crash tests run on both backends (``store_location``, see
tests/store_backends.py); the file tests are SQLite's own.
"""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psycopg
import pytest

from labelwise.errors import InvalidInputError, LabelwiseError, UnknownItemError
from labelwise.labels.store import (
    CorruptStoreError,
    LabelStore,
    ProjectExistsError,
    ProjectNotFoundError,
    ReadOnlyStoreError,
    StoreError,
    default_store_location,
    default_store_path,
)

REPO = Path(__file__).resolve().parent.parent
pytest_plugins = ["store_backends"]  # the store_location and postgres_location fixtures


@pytest.fixture
def store(store_location):
    store = LabelStore(store_location)
    store.create_project("p", "fruits", "sha256:abc", {"strategy": "U*I*D", "k": 5})
    return store


def test_default_location_env_and_argument(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LABELWISE_DATA_DIR", raising=False)
    monkeypatch.delenv("LABELWISE_STORE", raising=False)
    assert default_store_path() == Path("labelwise-data") / "labelwise.sqlite"
    monkeypatch.setenv("LABELWISE_DATA_DIR", str(tmp_path / "elsewhere"))
    assert default_store_path() == tmp_path / "elsewhere" / "labelwise.sqlite"
    assert default_store_path(tmp_path / "x.sqlite") == tmp_path / "x.sqlite"
    store = LabelStore()
    assert store.path == (tmp_path / "elsewhere" / "labelwise.sqlite").resolve()
    assert store.path.exists() and store.location == str(store.path)
    # LABELWISE_STORE names the store itself and wins over the data folder.
    monkeypatch.setenv("LABELWISE_STORE", str(tmp_path / "own.db"))
    assert default_store_path() == tmp_path / "own.db"
    assert LabelStore().path == (tmp_path / "own.db").resolve()
    url = "postgresql://ana:secret@db.example:5433/labels"
    monkeypatch.setenv("LABELWISE_STORE", url)
    assert default_store_location() == url
    assert default_store_path() == tmp_path / "elsewhere" / "labelwise.sqlite"  # URL: no file
    assert default_store_location(tmp_path / "x.sqlite") == str(tmp_path / "x.sqlite")


def test_store_env_opens_postgres_and_servers_share_it(postgres_location, monkeypatch):
    monkeypatch.setenv("LABELWISE_STORE", postgres_location)
    first = LabelStore()  # as a dashboard server started with LABELWISE_STORE would
    assert first.path is None and first.location == postgres_location and not first.read_only
    first.create_project("p", "d", "sha256:x")
    second = LabelStore.open(postgres_location)  # another server behind the load balancer
    event = second.record("p", "a", "label", "ripe", who="bob")
    assert first.labels_changed_since("p", 0)["id"].tolist() == [event]
    assert first.current_labels("p")["label"].tolist() == ["ripe"]


def test_url_password_stays_out_of_messages(postgres_location):
    url = postgres_location.replace("postgresql://", "postgresql://postgres:hunter2@", 1)
    store = LabelStore(url)
    assert "hunter2" not in store.location and "hunter2" not in repr(store)
    with pytest.raises(ProjectNotFoundError) as info:
        store.open_project("nope")
    assert "hunter2" not in str(info.value)


def test_unreachable_server_is_named(tmp_path):
    url = f"postgresql:///labelwise?host={tmp_path}&port=1&connect_timeout=2"
    with pytest.raises(StoreError, match="cannot connect to the labelwise store"):
        LabelStore(url)


def test_labels_keep_their_type_on_both_backends(store):
    for n, label in enumerate(["3", 3, 3.5, "ripe"]):
        store.record("p", f"i{n}", "label", label, who="ana")
    labels = store.current_labels("p")["label"].tolist()
    assert labels == ["3", 3, 3.5, "ripe"]
    assert [type(x) for x in labels] == [str, int, float, str]


def test_file_is_marked_and_in_wal_mode(tmp_path):
    store = LabelStore(tmp_path / "data")
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == 0x6C776973
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
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


def test_undoing_a_skip_is_an_unlabel_event_that_puts_the_item_back(store):
    store.record("p", "a", "skip", who="ana")
    store.record("p", "b", "skip", who="ana")
    store.reserve("p", ["a"], "ana", ttl_seconds=60)
    store.record("p", "a", "unlabel", who="ana")  # ana undoes her skip
    assert store.skipped_items("p", who="ana") == ["b"]
    assert store.events("p")["action"].tolist() == ["skip", "skip", "unlabel"]
    assert store.current_labels("p").empty
    assert store.reservations("p")["item_id"].tolist() == ["a"]  # still on ana's screen
    # Only the skipper's own latest skip can be undone; others have nothing to undo.
    with pytest.raises(UnknownItemError, match="no label to undo"):
        store.record("p", "b", "unlabel", who="bob")
    with pytest.raises(UnknownItemError, match="no label to undo"):
        store.record("p", "a", "unlabel", who="ana")  # already back in the pool
    assert len(store.events("p")) == 3


def replayed_skips(events, labeled: set[str], who: str | None) -> list[str]:
    """Brute force: a skip (by ``who``, or anyone) sets an unlabeled item aside until a later
    label by anyone or a later unlabel by the skipper (by anyone when ``who`` is None)."""
    aside: dict[str, int] = {}
    for event_id, item, action, by in zip(events["id"], events["item_id"], events["action"],
                                          events["who"], strict=True):
        if action == "skip" and (who is None or by == who):
            aside.setdefault(item, int(event_id))
        elif action == "label" or (action == "unlabel" and (who is None or by == who)):
            aside.pop(item, None)
    return sorted((i for i in aside if i not in labeled), key=aside.__getitem__)


def test_skipped_items_follow_the_event_log_replay(store):
    """The store's query against a plain replay of random event logs."""
    rng = np.random.default_rng(0)
    for _ in range(120):
        item, who = str(rng.choice(["a", "b", "c"])), str(rng.choice(["ana", "bob"]))
        action = str(rng.choice(["skip", "skip", "label", "unlabel"]))
        try:
            store.record("p", item, action, "x" if action == "label" else None, who=who)
        except UnknownItemError:
            continue
        for person in (None, "ana", "bob"):
            labeled = set(store.current_labels("p")["item_id"])
            assert store.skipped_items("p", who=person) == replayed_skips(
                store.events("p"), labeled, person)


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


def test_label_changes_of_one_item(store):
    store.record("p", "a", "label", "x", who="ana")
    store.record("p", "b", "label", "y", who="bob")
    store.record("p", "a", "skip", who="bob")
    store.record("p", "a", "unlabel", who="cy")
    changes = store.labels_changed_since("p", 0, item_id="a")
    assert changes[["item_id", "action", "who"]].values.tolist() == [
        ["a", "label", "ana"], ["a", "unlabel", "cy"]]
    everyone = store.labels_changed_since("p", 0)
    assert changes["id"].tolist() == everyone.loc[everyone["item_id"] == "a", "id"].tolist()


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


def test_reservations_are_handed_over_without_ever_being_free(store):
    assert store.reserve("p", ["a", "b"], "session:1", ttl_seconds=60) == ["a", "b"]
    assert store.reserve("p", ["c"], "tab:9", ttl_seconds=60) == ["c"]
    assert store.transfer_reservations("p", "session:1", "tab:9") == 2
    table = store.reservations("p")
    assert dict(zip(table["item_id"], table["who"], strict=True)) == {
        "a": "tab:9", "b": "tab:9", "c": "tab:9"}
    assert store.reserve("p", ["a", "b", "c"], "bob") == []  # never free for anyone else
    assert store.transfer_reservations("p", "session:1", "tab:9") == 0


def test_backup_is_a_readable_copy(store, tmp_path):
    store.record("p", "a", "label", "x", who="ana")
    store.record("p", "b", "label", 2, who="bob")
    store.record("p", "b", "skip", who="ana")
    store.reserve("p", ["c"], "ana")
    copy = LabelStore(store.backup(tmp_path / "backup.sqlite"))  # always a SQLite file
    for table in ("current_labels", "events", "reservations"):
        assert getattr(copy, table)("p").equals(getattr(store, table)("p")), table
    assert copy.list_projects() == store.list_projects()
    copy.record("p", "d", "label", "y", who="ana")  # the copy's ids continue after the last
    assert copy.last_event_id("p") == store.last_event_id("p") + 1


# -- files that are not labelwise stores -------------------------------------------------------
def _hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())
            if p.is_file()}


def _assert_refused_untouched(path: Path, match: str,
                              error: type[Exception] = CorruptStoreError) -> Exception:
    before = _hashes(path.parent)
    with pytest.raises(error, match=match) as info:
        LabelStore(path)
    assert isinstance(info.value, LabelwiseError)
    _assert_unchanged(path.parent, before)
    return info.value


def _assert_unchanged(folder: Path, before: dict[str, str]) -> None:
    after = _hashes(folder)
    # Every file that was there (the store, its -wal journal) has the same bytes; new files may
    # only be SQLite's shared-memory index of the journal or an empty journal.
    assert {name: after.get(name) for name in before} == before
    leftovers = {p for p in folder.iterdir() if p.name not in before}
    assert all(p.name.endswith("-shm") or p.stat().st_size == 0 for p in leftovers), leftovers


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
    _assert_refused_untouched(path, "damaged.*untouched")


def _store_with_pending_journal(folder: Path) -> Path:
    """A copy, in ``folder``, of a store whose newest labels are still in its ``-wal`` journal.

    What a crash leaves: the writer's connection is open (no checkpoint on close) when both
    files are copied.
    """
    source = folder.parent / f"{folder.name}-source" / "labelwise.sqlite"
    store = LabelStore(source)
    store.create_project("p", "d", "sha256:x")
    for n in range(300):
        store.record("p", f"old-{n}", "label", "x" * 60, who="ana")
    store.close()
    writer = sqlite3.connect(source, isolation_level=None)
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for n in range(40):
        writer.execute("INSERT INTO events (project_id, item_id, action, label, who, at) "
                       "VALUES (1, ?, 'label', 'new', 'bob', 'now')", (f"new-{n}",))
    folder.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal"):
        (folder / f"labelwise.sqlite{suffix}").write_bytes(Path(f"{source}{suffix}").read_bytes())
    writer.close()
    assert (folder / "labelwise.sqlite-wal").stat().st_size > 0
    return folder / "labelwise.sqlite"


def test_damaged_store_and_its_pending_journal_are_left_untouched(tmp_path):
    path = _store_with_pending_journal(tmp_path / "copy")
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 8 * page
    # Pages 2-5 (tables' roots and events) overwritten, as a failing disk or a stray copy does.
    data[page: 5 * page] = np.random.default_rng(1).bytes(4 * page)
    path.write_bytes(bytes(data))
    error = _assert_refused_untouched(path, "damaged")
    assert "untouched" in str(error) and "labelwise.sqlite-wal" in str(error)
    assert (tmp_path / "copy" / "labelwise.sqlite-wal").stat().st_size > 0  # still pending


def test_healthy_store_with_pending_journal_opens_with_its_newest_labels(tmp_path):
    store = LabelStore(_store_with_pending_journal(tmp_path / "copy"))
    assert len(store.events("p")) == 340


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


# -- stores that cannot be written ---------------------------------------------------------------
# The tests run as root, where chmod stops nothing. These make the store unwritable for root
# too: a tmpfs mounted read-only (EROFS), or the immutable attribute (chattr +i, EPERM).
@pytest.fixture
def mount(tmp_path) -> Iterator[Path]:
    """A fresh tmpfs at ``tmp_path / "mnt"``, unmounted afterwards."""
    point = tmp_path / "mnt"
    point.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "labelwise-test",
                           str(point)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.fail(f"the read-only store tests mount a tmpfs and need root with "
                    f"CAP_SYS_ADMIN: {made.stderr.strip()}", pytrace=False)
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=True)


def _remount_read_only(point: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(point)], check=True)


@pytest.fixture
def immutable() -> Iterator[list[Path]]:
    """Paths to mark ``chattr +i``; the mark is lifted afterwards so tmp_path can be cleaned."""
    marked: list[Path] = []
    yield marked
    for path in reversed(marked):
        subprocess.run(["chattr", "-i", str(path)], check=True)


def _chattr_immutable(path: Path, marked: list[Path]) -> None:
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"the read-only store tests need chattr +i on {path}'s filesystem (ext4 "
                    f"and root): {done.stderr.strip()}", pytrace=False)
    marked.append(path)


def _labeled_store(path: Path) -> Path:
    store = LabelStore(path)
    store.create_project("p", "d", "sha256:x")
    store.record("p", "a", "label", "ripe", who="ana")
    store.record("p", "b", "label", 2, who="bob")
    store.close()  # the last connection checkpoints: no -wal left, as after a clean stop
    assert not Path(f"{path}-wal").exists()
    return path


def _assert_opens_read_only(path: Path) -> None:
    before = _hashes(path.parent)
    store = LabelStore(path)
    assert store.read_only
    assert store.current_labels("p")["label"].tolist() == ["ripe", 2]  # reads work
    with pytest.raises(ReadOnlyStoreError) as info:
        store.record("p", "c", "label", "new", who="ana")
    message = str(info.value)
    assert "read-only" in message and "intact" in message and "not damaged" in message
    assert not isinstance(info.value, CorruptStoreError)
    with pytest.raises(ReadOnlyStoreError):
        store.reserve("p", ["c"], "ana")
    assert store.current_labels("p")["label"].tolist() == ["ripe", 2]
    store.close()
    _assert_unchanged(path.parent, before)


def test_store_on_a_read_only_mount_opens_read_only(mount):
    path = _labeled_store(mount / "labelwise.sqlite")
    _remount_read_only(mount)
    assert not os.access(path, os.W_OK)  # even for root
    _assert_opens_read_only(path)


def test_immutable_store_file_opens_read_only(tmp_path, immutable):
    path = _labeled_store(tmp_path / "labelwise.sqlite")
    _chattr_immutable(path, immutable)
    _assert_opens_read_only(path)


def test_store_in_an_immutable_folder_opens_read_only(tmp_path, immutable):
    folder = tmp_path / "data"
    path = _labeled_store(folder / "labelwise.sqlite")
    _chattr_immutable(path, immutable)
    _chattr_immutable(folder, immutable)
    _assert_opens_read_only(path)


def test_read_only_mount_with_a_pending_journal_is_refused_untouched(mount):
    path = _store_with_pending_journal(mount / "data")
    _remount_read_only(mount)
    # SQLite cannot read the journal without writing its index: reading the main file alone
    # would hide the newest labels, so the store says why it cannot open instead.
    error = _assert_refused_untouched(path, "journal", ReadOnlyStoreError)
    assert "nothing was changed" in str(error)


def test_no_store_to_create_in_a_read_only_folder(mount):
    _remount_read_only(mount)
    with pytest.raises(ReadOnlyStoreError, match="cannot create"):
        LabelStore(mount / "data")


def test_damaged_store_on_a_read_only_mount_is_called_damaged(mount, tmp_path):
    source = _labeled_store(tmp_path / "labelwise.sqlite")
    data = bytearray(source.read_bytes())
    data[2 * 4096: 2 * 4096 + 200] = bytes(200)
    (mount / "labelwise.sqlite").write_bytes(bytes(data))
    _remount_read_only(mount)
    _assert_refused_untouched(mount / "labelwise.sqlite", "damaged")


# -- PostgreSQL databases that are not labelwise stores ----------------------------------------
def _execute(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def test_postgres_schema_with_foreign_tables_of_our_names_is_refused(postgres_location):
    _execute(postgres_location, "CREATE TABLE events (id integer, what text)",
             "INSERT INTO events VALUES (1, 'theirs')")
    with pytest.raises(CorruptStoreError, match="untouched"):
        LabelStore(postgres_location)
    with psycopg.connect(postgres_location) as conn:
        assert conn.execute("SELECT * FROM events").fetchall() == [(1, "theirs")]
        assert conn.execute("SELECT to_regclass('labelwise_meta')").fetchone()[0] is None


def test_postgres_store_from_newer_version_is_refused(postgres_location):
    LabelStore(postgres_location).create_project("p", "d", "sha256:x")
    _execute(postgres_location, "UPDATE labelwise_meta SET schema_version = 99")
    with pytest.raises(CorruptStoreError, match="newer labelwise"):
        LabelStore(postgres_location)


def test_postgres_role_without_write_rights_opens_read_only(postgres_location):
    store = LabelStore(postgres_location)
    store.create_project("p", "d", "sha256:x")
    store.record("p", "a", "label", "ripe", who="ana")
    role = "labelwise_reader_" + postgres_location.rsplit("_", 1)[-1]
    schema = postgres_location.rsplit("%3D", 1)[-1]
    _execute(postgres_location, f"CREATE ROLE {role} LOGIN",
             f"GRANT USAGE ON SCHEMA {schema} TO {role}",
             f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}")
    try:
        reader = LabelStore(postgres_location.replace("user=postgres", f"user={role}"))
        assert reader.read_only
        assert reader.current_labels("p")["label"].tolist() == ["ripe"]
        with pytest.raises(ReadOnlyStoreError, match="nothing was written"):
            reader.record("p", "b", "label", "x", who="bob")
        reader.close()
    finally:
        _execute(postgres_location, f"DROP OWNED BY {role}", f"DROP ROLE {role}")
    assert len(store.events("p")) == 1


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


def test_every_returned_record_survives_sigkill(store_location):
    path = store_location
    LabelStore(path).create_project("p", "d", "sha256:x")
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(REPO), path],
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
