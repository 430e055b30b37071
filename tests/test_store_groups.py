"""Event groups in the label store: a bulk action is one transaction and one undo.

:meth:`LabelStore.record_group` writes several labels at once under one ``group_id``;
:meth:`LabelStore.undo_group` puts them back in one transaction, or refuses (and changes
nothing) when someone changed an item since, or when the group was undone already. Stores of
schema 1 (no ``group_id``) are upgraded when opened writable, and read as they are when not.

The API tests run on both backends (``store_location``, see tests/store_backends.py).
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import psycopg
import pytest

from labelwise.errors import InvalidInputError
from labelwise.labels.store import LabelStore, StoreError
from labelwise.labels.store import operations as store_operations
from labelwise.labels.store import sqlite as sqlite_backend
from labelwise.labels.store.schema import (
    APPLICATION_ID,
    POSTGRES_UPGRADES,
    SCHEMA_VERSION,
    SQLITE_UPGRADES,
    columns_at,
)

pytest_plugins = ["store_backends"]  # the store_location and postgres_location fixtures


@pytest.fixture
def store(store_location):
    store = LabelStore(store_location)
    store.create_project("p", "fruits", "sha256:abc")
    return store


def current(store: LabelStore, project: str = "p") -> dict:
    table = store.current_labels(project)
    return dict(zip(table["item_id"], table["label"], strict=True))


# -- recording a group -----------------------------------------------------------------------
def test_a_group_is_one_transaction_and_its_events_carry_its_id(store):
    single = store.record("p", "a", "label", "ripe", who="ana")
    group = store.record_group("p", [("a", "rotten"), (7, 3), ("c", 2.5)], who="bo")
    events = store.events("p")
    assert events.columns.tolist() == ["id", "item_id", "action", "label", "who", "at",
                                       "group_id"]
    mine = events[events["group_id"] == group]
    assert group == mine["id"].min() == single + 1  # the id of the group's first event
    assert mine["item_id"].tolist() == ["a", "7", "c"]
    assert mine["label"].tolist() == ["rotten", 3, 2.5]  # types kept
    assert set(mine["who"]) == {"bo"} and mine["at"].nunique() == 1  # one transaction
    assert events.loc[events["id"] == single, "group_id"].tolist() == [None]
    assert current(store) == {"a": "rotten", "7": 3, "c": 2.5}
    again = store.record_group("p", {"d": "ripe"}, who="bo")  # a mapping works too
    assert again > group and store.events("p")["group_id"].tolist()[-1] == again


def test_a_group_that_fails_midway_leaves_nothing(store, monkeypatch):
    store.record("p", "a", "label", "ripe", who="ana")
    before = (store.events("p"), store.current_labels("p"))
    real, calls = store_operations._write_event, []

    def failing(*args, **kwargs):
        calls.append(args)
        if len(calls) == 3:
            raise RuntimeError("the disk is full")
        return real(*args, **kwargs)

    monkeypatch.setattr(store_operations, "_write_event", failing)
    with pytest.raises(RuntimeError, match="disk"):
        store.record_group("p", [("a", "x"), ("b", "x"), ("c", "x")], who="bo")
    assert store.events("p").equals(before[0])
    assert store.current_labels("p").equals(before[1])


@pytest.mark.parametrize("answers, match", [
    ([], "at least one"),
    ({}, "at least one"),
    ([("a", "x"), ("b", "y"), ("a", "z")], "given twice: 'a'"),
    ([("a", "x"), ("b", "")], "empty"),
    ([("a", "x"), ("b", None)], "string or a number"),
    ([("a", "x"), (1.5, "y")], "item id"),
    ([("a", "x"), "abc"], "pairs"),
    ([("a", "x"), 5], "pairs"),
])
def test_bad_groups_are_refused_and_record_nothing(store, answers, match):
    with pytest.raises(InvalidInputError, match=match):
        store.record_group("p", answers, who="bo")
    assert store.events("p").empty


def test_a_group_ends_the_reservations_of_its_items(store):
    store.reserve("p", ["a", "b"], "tab-1")
    store.record_group("p", [("a", "x")], who="bo")
    assert store.reservations("p")["item_id"].tolist() == ["b"]


# -- undoing a group -----------------------------------------------------------------------------
def test_undo_restores_earlier_labels_and_unlabels_new_ones(store):
    store.record("p", "a", "label", "ripe", who="ana")
    store.record("p", "b", "label", 1, who="ana")
    store.record("p", "b", "unlabel", who="ana")  # b was unlabeled again before the group
    store.record("p", "c", "skip", who="ana")  # skips are no labels
    group = store.record_group("p", [("a", "rotten"), ("b", 2), ("c", 2), ("d", 2)], who="bo")
    store.record("p", "e", "label", "ripe", who="cy")  # another item: not in the way
    n_events = len(store.events("p"))
    result = store.undo_group("p", group, who="bo")
    assert result.undone and result.status == "undone"
    assert result.items == ("a", "b", "c", "d") and result.changes == ()
    assert "undone" in result.message
    assert current(store) == {"a": "ripe", "e": "ripe"}
    assert type(current(store)["a"]) is str
    events = store.events("p")
    undo = events[events["group_id"] == -group]  # the history is kept; the undo is a group
    assert len(events) == n_events + 4 and undo["id"].min() > events["id"][n_events - 1]
    assert list(zip(undo["item_id"], undo["action"], undo["label"], strict=True)) == [
        ("a", "label", "ripe"), ("b", "unlabel", None), ("c", "unlabel", None),
        ("d", "unlabel", None)]
    assert set(undo["who"]) == {"bo"}
    assert (events["group_id"] == group).sum() == 4  # the group's own events are unchanged


def test_undo_is_refused_when_another_labeler_changed_an_item(store):
    store.record("p", "a", "label", "ripe", who="ana")
    group = store.record_group("p", [("a", "rotten"), ("b", "rotten"), ("c", "rotten")],
                               who="bo")
    store.record("p", "b", "label", "ripe", who="cy")
    store.record("p", "c", "unlabel", who="dee")
    before = (store.events("p"), store.current_labels("p"))
    result = store.undo_group("p", group, who="bo")
    assert not result.undone and result.status == "changed_since"
    assert [(c.item_id, c.action, c.label, c.who) for c in result.changes] == [
        ("b", "label", "ripe", "cy"), ("c", "unlabel", None, "dee")]
    assert "'b' (now 'ripe', by cy)" in result.message
    assert "'c' (unlabeled by dee)" in result.message
    assert "2 of its 3" in result.message and "Nothing was changed" in result.message
    assert store.events("p").equals(before[0])  # nothing written
    assert store.current_labels("p").equals(before[1])


def test_a_label_given_again_since_also_refuses_the_undo(store):
    """Someone's later answer, even the group's own label, is not erased by the undo."""
    group = store.record_group("p", [("a", "rotten"), ("b", "rotten")], who="bo")
    store.record("p", "a", "label", "rotten", who="cy")  # a reviewer keeps the label
    result = store.undo_group("p", group, who="bo")
    assert result.status == "changed_since"
    assert [(c.item_id, c.who) for c in result.changes] == [("a", "cy")]
    assert current(store) == {"a": "rotten", "b": "rotten"}


def test_a_skip_since_does_not_refuse_the_undo(store):
    group = store.record_group("p", [("a", "rotten")], who="bo")
    store.record("p", "a", "skip", who="cy")
    assert store.undo_group("p", group, who="bo").undone
    assert current(store) == {}


def test_undoing_twice_is_refused(store):
    store.record("p", "a", "label", "ripe", who="ana")
    group = store.record_group("p", [("a", "rotten"), ("b", "rotten")], who="bo")
    assert store.undo_group("p", group, who="bo").undone
    n_events = len(store.events("p"))
    again = store.undo_group("p", group, who="cy")
    assert not again.undone and again.status == "already_undone"
    assert f"group {group} was already undone (by bo at" in again.message
    assert "nothing was changed" in again.message
    assert len(store.events("p")) == n_events and current(store) == {"a": "ripe"}


def test_undo_of_an_unknown_group_is_an_input_error(store):
    store.create_project("q", "moons", "sha256:def")
    single = store.record("p", "a", "label", "ripe", who="ana")
    group = store.record_group("q", [("a", "full")], who="bo")
    for bad in (single, group, 999):  # a lone event, another project's group, no event
        with pytest.raises(InvalidInputError, match="no event group"):
            store.undo_group("p", bad, who="bo")
    for bad in (0, -group, True, "1"):
        with pytest.raises(InvalidInputError, match="positive integer"):
            store.undo_group("q", bad, who="bo")
    with pytest.raises(InvalidInputError, match="labeler"):
        store.undo_group("q", group, who=" ")
    assert current(store, "q") == {"a": "full"}


def test_backup_keeps_the_groups(store, tmp_path):
    group = store.record_group("p", [("a", "x"), ("b", 2)], who="bo")
    store.undo_group("p", group, who="bo")
    store.record("p", "c", "label", "y", who="ana")
    copy = LabelStore(store.backup(tmp_path / "backup.sqlite"))
    assert copy.events("p").equals(store.events("p"))
    assert copy.undo_group("p", group, who="bo").status == "already_undone"


# -- stores of schema 1 --------------------------------------------------------------------------
SQLITE_V1 = (
    """CREATE TABLE projects (
        id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, dataset_id TEXT NOT NULL,
        fingerprint TEXT NOT NULL, settings TEXT NOT NULL, created_at TEXT NOT NULL)""",
    """CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        project_id INTEGER NOT NULL REFERENCES projects(id), item_id TEXT NOT NULL,
        action TEXT NOT NULL CHECK (action IN ('label', 'unlabel', 'skip')), label,
        who TEXT NOT NULL, at TEXT NOT NULL)""",
    "CREATE INDEX events_by_project ON events(project_id, id)",
    """CREATE TABLE labels (
        project_id INTEGER NOT NULL REFERENCES projects(id), item_id TEXT NOT NULL,
        label NOT NULL, who TEXT NOT NULL, at TEXT NOT NULL, event_id INTEGER NOT NULL,
        PRIMARY KEY (project_id, item_id))""",
    """CREATE TABLE reservations (
        project_id INTEGER NOT NULL REFERENCES projects(id), item_id TEXT NOT NULL,
        who TEXT NOT NULL, until REAL NOT NULL, PRIMARY KEY (project_id, item_id))""",
)
POSTGRES_V1 = (
    "CREATE TABLE labelwise_meta (application_id bigint NOT NULL, "
    "schema_version integer NOT NULL)",
    """CREATE TABLE projects (
        id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, name text NOT NULL UNIQUE,
        dataset_id text NOT NULL, fingerprint text NOT NULL, settings text NOT NULL,
        created_at text NOT NULL)""",
    """CREATE TABLE events (
        id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        project_id bigint NOT NULL REFERENCES projects(id), item_id text NOT NULL,
        action text NOT NULL CHECK (action IN ('label', 'unlabel', 'skip')), label jsonb,
        who text NOT NULL, at text NOT NULL)""",
    "CREATE INDEX events_by_project ON events(project_id, id)",
    """CREATE TABLE labels (
        project_id bigint NOT NULL REFERENCES projects(id), item_id text NOT NULL,
        label jsonb NOT NULL, who text NOT NULL, at text NOT NULL, event_id bigint NOT NULL,
        PRIMARY KEY (project_id, item_id))""",
    """CREATE TABLE reservations (
        project_id bigint NOT NULL REFERENCES projects(id), item_id text NOT NULL,
        who text NOT NULL, until double precision NOT NULL,
        PRIMARY KEY (project_id, item_id))""",
)
V1_ROWS = (
    "INSERT INTO projects (name, dataset_id, fingerprint, settings, created_at) VALUES "
    "('p', 'fruits', 'sha256:abc', '{{\"k\": 5}}', '2024-01-01T00:00:00+00:00')",
    "INSERT INTO events (project_id, item_id, action, label, who, at) VALUES "
    "(1, 'a', 'label', {ripe}, 'ana', '2024-01-01T00:00:01+00:00'), "
    "(1, 'b', 'label', {three}, 'ana', '2024-01-01T00:00:02+00:00'), "
    "(1, 'b', 'skip', NULL, 'bo', '2024-01-01T00:00:03+00:00')",
    "INSERT INTO labels (project_id, item_id, label, who, at, event_id) VALUES "
    "(1, 'a', {ripe}, 'ana', '2024-01-01T00:00:01+00:00', 1), "
    "(1, 'b', {three}, 'ana', '2024-01-01T00:00:02+00:00', 2)",
)
V1_EVENTS = [(1, "a", "label", "ripe", "ana", None), (2, "b", "label", 3, "ana", None),
             (3, "b", "skip", None, "bo", None)]


def _sqlite_v1_store(path: Path) -> Path:
    """A store as labelwise wrote it at schema 1: header marks, the v1 tables, three events."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    for statement in (*SQLITE_V1, *V1_ROWS):
        conn.execute(statement.format(ripe="'ripe'", three="3"))
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    return path


def _postgres_v1_store(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in POSTGRES_V1:
            conn.execute(statement)
        conn.execute("INSERT INTO labelwise_meta VALUES (%s, 1)", (APPLICATION_ID,))
        for statement in V1_ROWS:
            conn.execute(statement.format(ripe="'\"ripe\"'::jsonb", three="'3'::jsonb"))


def _events(store: LabelStore) -> list[tuple]:
    table = store.events("p")
    return list(zip(table["id"], table["item_id"], table["action"], table["label"],
                    table["who"], table["group_id"], strict=True))


def _assert_upgraded_and_usable(store: LabelStore) -> None:
    assert _events(store)[:3] == V1_EVENTS  # every event kept, none in a group
    assert current(store) == {"a": "ripe", "b": 3}
    assert store.skipped_items("p") == []  # b is labeled
    group = store.record_group("p", [("a", "rotten"), ("c", "ripe")], who="cy")
    assert group > 3 and store.events("p")["group_id"].tolist()[-2:] == [group, group]
    assert store.undo_group("p", group, who="cy").undone
    assert current(store) == {"a": "ripe", "b": 3}


def test_every_version_has_its_upgrade_in_both_dialects():
    assert set(SQLITE_UPGRADES) == set(POSTGRES_UPGRADES) == set(range(2, SCHEMA_VERSION + 1))
    assert "group_id" not in columns_at(1)["events"]
    assert columns_at(SCHEMA_VERSION)["events"][-1] == "group_id"


def test_a_sqlite_store_of_schema_1_opens_upgraded_with_its_events(tmp_path):
    path = _sqlite_v1_store(tmp_path / "labelwise.sqlite")
    store = LabelStore(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    columns = [row[1] for row in conn.execute("PRAGMA table_info(events)")]
    assert columns == ["id", "project_id", "item_id", "action", "label", "who", "at",
                       "group_id"]
    assert "events_by_group" in {row[1] for row in conn.execute("PRAGMA index_list(events)")}
    conn.close()
    _assert_upgraded_and_usable(store)
    store.close()
    _assert_upgraded_and_usable(LabelStore(path))  # opens again as it is (no second upgrade)


def test_a_read_only_sqlite_store_of_schema_1_is_read_as_it_is(tmp_path, monkeypatch):
    path = _sqlite_v1_store(tmp_path / "labelwise.sqlite")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setattr(sqlite_backend, "_can_write", lambda path: False)
    store = LabelStore(path)
    assert store.read_only
    assert _events(store) == V1_EVENTS  # group_id None: schema 1 has no groups
    backup = store.backup(tmp_path / "copy.sqlite")
    store.close()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    monkeypatch.undo()
    assert _events(LabelStore(backup)) == V1_EVENTS  # the copy is upgraded when opened


def test_a_postgres_store_of_schema_1_opens_upgraded_with_its_events(postgres_location):
    _postgres_v1_store(postgres_location)
    store = LabelStore(postgres_location)
    with psycopg.connect(postgres_location) as conn:
        assert conn.execute("SELECT schema_version FROM labelwise_meta").fetchall() == [
            (SCHEMA_VERSION,)]
        assert conn.execute("SELECT to_regclass('events_by_group')").fetchone()[0] is not None
    _assert_upgraded_and_usable(store)
    _assert_upgraded_and_usable(LabelStore(postgres_location))


def _with_role(url: str, role: str, *grants: str) -> str:
    schema = url.rsplit("%3D", 1)[-1]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
        for grant in grants:
            conn.execute(f"GRANT {grant} ON ALL TABLES IN SCHEMA {schema} TO {role}")
    return url.replace("user=postgres", f"user={role}")


def _drop_role(url: str, role: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP OWNED BY {role}")
        conn.execute(f"DROP ROLE {role}")


def test_a_postgres_store_of_schema_1_read_by_a_reader_stays_as_it_is(postgres_location,
                                                                      tmp_path):
    _postgres_v1_store(postgres_location)
    role = "labelwise_reader_" + postgres_location.rsplit("_", 1)[-1]
    try:
        reader = LabelStore(_with_role(postgres_location, role, "SELECT"))
        assert reader.read_only
        assert _events(reader) == V1_EVENTS
        backup = reader.backup(tmp_path / "copy.sqlite")
        reader.close()
    finally:
        _drop_role(postgres_location, role)
    assert _events(LabelStore(backup)) == V1_EVENTS
    with psycopg.connect(postgres_location) as conn:
        assert conn.execute("SELECT schema_version FROM labelwise_meta").fetchall() == [(1,)]


def test_a_writer_that_may_not_upgrade_is_told_so(postgres_location):
    _postgres_v1_store(postgres_location)
    role = "labelwise_writer_" + postgres_location.rsplit("_", 1)[-1]
    try:
        url = _with_role(postgres_location, role, "SELECT, INSERT, UPDATE, DELETE")
        with pytest.raises(StoreError, match=r"may not upgrade it.*Nothing was changed"):
            LabelStore(url)
    finally:
        _drop_role(postgres_location, role)
    with psycopg.connect(postgres_location) as conn:
        assert conn.execute("SELECT schema_version FROM labelwise_meta").fetchall() == [(1,)]
    _assert_upgraded_and_usable(LabelStore(postgres_location))  # the owner upgrades it
