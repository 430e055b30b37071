"""LabelStore: labeling projects in one SQLite file, safe for many threads, processes and crashes.

A person's labels are the most expensive data in the project, so this module is conservative:

* every :meth:`LabelStore.record` is its own committed transaction (``synchronous=FULL``, WAL
  journal): once it returns, the label survives a crash of the process (even ``SIGKILL``);
* the event log keeps everything (label, unlabel, skip, who, when); the ``labels`` table holds
  the current label of each item and is updated in the same transaction as the event;
* a file that is not a labelwise store (random bytes, a truncated database, somebody else's
  SQLite database) is refused with a :class:`CorruptStoreError` before anything is written, so
  it is never overwritten or modified;
* each thread gets its own connection, writes take the write lock up front
  (``BEGIN IMMEDIATE``) and are retried with backoff while another writer holds it, so
  "database is locked" never reaches a user (after ``busy_seconds`` a :class:`StoreBusyError`
  says what happened instead).

Typical use::

    store = LabelStore()                      # ./labelwise-data/labelwise.sqlite
    store.create_project("fruits-ripeness", "fruits", fingerprint, {"strategy": "U*I*D"})
    store.record("fruits-ripeness", "img_0042", "label", "ripe", who="ana")
    store.current_labels("fruits-ripeness")   # DataFrame: item_id, label, who, at, event_id
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from ..errors import InvalidInputError, LabelwiseError, UnknownItemError

#: "lwis" as a big-endian 32-bit integer: marks a SQLite file as a labelwise store.
APPLICATION_ID = 0x6C776973
SCHEMA_VERSION = 1
DATA_DIR_ENV = "LABELWISE_DATA_DIR"
DEFAULT_DATA_DIR = "labelwise-data"
DEFAULT_FILE_NAME = "labelwise.sqlite"
ACTIONS = ("label", "unlabel", "skip")

_SQLITE_MAGIC = b"SQLite format 3\x00"
_TABLES = {"projects", "events", "labels", "reservations"}
_SCHEMA = """
CREATE TABLE projects (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    dataset_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    settings TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    item_id TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('label', 'unlabel', 'skip')),
    label,
    who TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX events_by_project ON events(project_id, id);
CREATE TABLE labels (
    project_id INTEGER NOT NULL REFERENCES projects(id),
    item_id TEXT NOT NULL,
    label NOT NULL,
    who TEXT NOT NULL,
    at TEXT NOT NULL,
    event_id INTEGER NOT NULL,
    PRIMARY KEY (project_id, item_id)
);
CREATE TABLE reservations (
    project_id INTEGER NOT NULL REFERENCES projects(id),
    item_id TEXT NOT NULL,
    who TEXT NOT NULL,
    until REAL NOT NULL,
    PRIMARY KEY (project_id, item_id)
);
"""

T = TypeVar("T")


class StoreError(LabelwiseError):
    """Something about the labeling store (file, project) is wrong."""


class CorruptStoreError(StoreError):
    """The store file is not a readable labelwise store; it was left untouched."""


class StoreBusyError(StoreError):
    """Other writers kept the store locked for longer than the store is willing to wait."""


class ProjectNotFoundError(StoreError, LookupError):
    """No project of that name in the store."""


class ProjectExistsError(StoreError):
    """A project of that name already exists."""


@dataclass(frozen=True)
class Project:
    """A labeling project as stored: which dataset it labels and with which settings."""

    id: int
    name: str
    dataset_id: str
    fingerprint: str
    settings: dict
    created_at: str


def default_store_path(path_or_data_dir: str | os.PathLike | None = None) -> Path:
    """The SQLite file a :class:`LabelStore` opens.

    ``path_or_data_dir`` may name the file itself (``*.sqlite``, ``*.sqlite3``, ``*.db``) or a
    data folder, where the file is ``labelwise.sqlite``. Without it: the folder in the
    ``LABELWISE_DATA_DIR`` environment variable, else ``labelwise-data/`` under the working
    directory.
    """
    if path_or_data_dir is None:
        path_or_data_dir = os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR
    path = Path(path_or_data_dir).expanduser()
    if path.suffix.lower() in {".sqlite", ".sqlite3", ".db"} and not path.is_dir():
        return path
    return path / DEFAULT_FILE_NAME


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _plain_label(label: Any) -> str | int | float:
    """A label as a value SQLite stores and returns unchanged (str, int or float)."""
    if isinstance(label, np.generic):
        label = label.item()
    if isinstance(label, bool) or not isinstance(label, (str, int, float)):
        raise InvalidInputError(
            f"a label must be a string or a number, got {label!r} ({type(label).__name__})")
    if isinstance(label, float) and not np.isfinite(label):
        raise InvalidInputError(f"a label must be a finite number, got {label!r}")
    if isinstance(label, str) and not label.strip():
        raise InvalidInputError("a label must not be empty or blank")
    return label


def _item_key(item_id: Any) -> str:
    if isinstance(item_id, np.generic):
        item_id = item_id.item()
    if isinstance(item_id, bool) or not isinstance(item_id, (str, int)):
        raise InvalidInputError(f"an item id must be a string or an integer, got {item_id!r}")
    key = str(item_id)
    if not key:
        raise InvalidInputError("an item id must not be empty")
    return key


def _check_who(who: Any) -> str:
    if not isinstance(who, str) or not who.strip():
        raise InvalidInputError(f"'who' must name the labeler (a non-empty string), got {who!r}")
    return who.strip()


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class LabelStore:
    """Labeling projects, label events and current labels in one SQLite file.

    Parameters
    ----------
    path_or_data_dir : str or path-like, optional
        The store file or its data folder; see :func:`default_store_path`. Folders are created;
        an existing file must be a labelwise store (else :class:`CorruptStoreError`, file left
        as it was).
    busy_seconds : float, default=60
        How long a write keeps retrying while other writers hold the lock before
        :class:`StoreBusyError`.

    Attributes
    ----------
    path : pathlib.Path
        The SQLite file.

    Notes
    -----
    Safe to share between threads (one connection per thread) and to open from several
    processes at once. Labels are stored as SQLite values: strings, integers and floats come
    back with their type.
    """

    def __init__(self, path_or_data_dir: str | os.PathLike | None = None, *,
                 busy_seconds: float = 60.0) -> None:
        self.path = default_store_path(path_or_data_dir).resolve()
        self.busy_seconds = float(busy_seconds)
        self._local = threading.local()
        self._check_file()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._retry(self._create_or_validate)

    # -- opening ---------------------------------------------------------------------------
    def _check_file(self) -> None:
        """Refuse, by reading bytes only, a file that is not a labelwise store."""
        if not self.path.exists():
            return
        if self.path.is_dir():
            raise CorruptStoreError(f"{self.path} is a folder, not a labelwise store file")
        size = self.path.stat().st_size
        if size == 0:
            return  # what an interrupted creation leaves behind: nothing to lose
        with open(self.path, "rb") as fh:
            header = fh.read(100)
        if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
            raise CorruptStoreError(
                f"{self.path} is not a SQLite database (its first bytes are not a SQLite "
                f"header); it was left untouched. Point labelwise at another file or folder "
                f"(argument or ${DATA_DIR_ENV}).")
        app_id = int.from_bytes(header[68:72], "big")
        if app_id != APPLICATION_ID:
            raise CorruptStoreError(
                f"{self.path} is a SQLite database of another application (application_id "
                f"{app_id:#x}, expected {APPLICATION_ID:#x}); it was left untouched. Use "
                f"another file or folder for labelwise.")
        version = int.from_bytes(header[60:64], "big")
        if version > SCHEMA_VERSION:
            raise CorruptStoreError(
                f"{self.path} was written by a newer labelwise (schema {version}, this one "
                f"reads up to {SCHEMA_VERSION}); upgrade labelwise. The file was left untouched.")

    def _create_or_validate(self) -> None:
        try:
            conn = self._connection()
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                self._create_schema(conn)
            else:
                self._validate(conn)
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and _is_busy(exc):
                raise
            self._forget_connection()
            raise CorruptStoreError(
                f"{self.path} is damaged and cannot be read as a labelwise store ({exc}); it "
                f"was left untouched. Restore it from a backup, or use another file.") from exc

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        # Header fields first, in the rollback journal, so even a crash mid-creation leaves a
        # file that is either empty or marked as ours.
        conn.execute("BEGIN EXCLUSIVE")
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] != 0:
                conn.execute("ROLLBACK")  # another process created it meanwhile
                self._validate(conn)
                return
            if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                conn.execute("ROLLBACK")
                raise CorruptStoreError(
                    f"{self.path} is a SQLite database with tables of its own but no labelwise "
                    f"marks; it was left untouched. Use another file or folder for labelwise.")
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("PRAGMA journal_mode = WAL")

    def _validate(self, conn: sqlite3.Connection) -> None:
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise sqlite3.DatabaseError(f"integrity check failed: {check}")
        tables = {row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = _TABLES - tables
        if missing:
            raise sqlite3.DatabaseError(f"tables missing: {', '.join(sorted(missing))}")

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection (a fresh one after a fork)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        conn = sqlite3.connect(self.path, timeout=5.0, isolation_level=None,
                               check_same_thread=True)
        try:
            conn.execute("PRAGMA busy_timeout = 5000")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error:
            conn.close()
            raise
        self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def _forget_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        self._forget_connection()

    # -- transactions ----------------------------------------------------------------------
    def _retry(self, work: Callable[[], T]) -> T:
        """Run ``work``, retrying with jittered backoff while the database is busy."""
        deadline = time.monotonic() + self.busy_seconds
        delay = 0.005
        while True:
            try:
                return work()
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise StoreError(f"labelwise store {self.path}: {exc}") from exc
                if time.monotonic() >= deadline:
                    raise StoreBusyError(
                        f"the labelwise store {self.path} stayed locked by other writers for "
                        f"{self.busy_seconds:.0f} s; nothing was written, try again") from exc
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.5)
            except sqlite3.IntegrityError as exc:
                raise StoreError(f"labelwise store {self.path}: {exc}") from exc
            except sqlite3.DatabaseError as exc:
                # Damaged after it was opened (e.g. overwritten by another program).
                raise CorruptStoreError(
                    f"the labelwise store {self.path} is damaged ({exc}); nothing was written. "
                    f"Restore it from a backup.") from exc

    def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work(conn)`` in one short write transaction, committed before returning."""
        def attempt() -> T:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
                conn.execute("COMMIT")
                return result
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        return self._retry(attempt)

    def _read(self, sql: str, params: Iterable = ()) -> list[tuple]:
        return self._retry(lambda: self._connection().execute(sql, tuple(params)).fetchall())

    # -- projects --------------------------------------------------------------------------
    def create_project(self, name: str, dataset_id: str, fingerprint: str,
                       settings: dict | None = None) -> Project:
        """Create a labeling project.

        Parameters
        ----------
        name : str
            Unique project name.
        dataset_id : str
            Which dataset it labels (a pack name or a path).
        fingerprint : str
            The dataset's fingerprint (see :func:`labelwise.labels.projects.dataset_fingerprint`).
        settings : dict, optional
            Strategy settings (JSON-serialisable), e.g. ``{"strategy": "U*I*D", "k": 5}``.

        Returns
        -------
        Project

        Raises
        ------
        ProjectExistsError
            If a project of that name exists.
        """
        name = self._check_name(name)
        settings = dict(settings or {})
        try:
            settings_json = json.dumps(settings, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"project settings must be JSON-serialisable: {exc}") from exc
        for field, value in (("dataset_id", dataset_id), ("fingerprint", fingerprint)):
            if not isinstance(value, str) or not value:
                raise InvalidInputError(f"{field} must be a non-empty string, got {value!r}")

        def insert(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM projects WHERE name = ?", (name,)).fetchone():
                raise ProjectExistsError(f"a project named {name!r} already exists in "
                                         f"{self.path}; open it or pick another name")
            conn.execute(
                "INSERT INTO projects (name, dataset_id, fingerprint, settings, created_at) "
                "VALUES (?, ?, ?, ?, ?)", (name, dataset_id, fingerprint, settings_json, _now()))

        self._write(insert)
        return self.open_project(name)

    def open_project(self, name: str | Project) -> Project:
        """The project called ``name``; :class:`ProjectNotFoundError` if there is none."""
        if isinstance(name, Project):
            name = name.name
        name = self._check_name(name)
        rows = self._read("SELECT id, name, dataset_id, fingerprint, settings, created_at "
                          "FROM projects WHERE name = ?", (name,))
        if not rows:
            known = ", ".join(repr(p.name) for p in self.list_projects()) or "none yet"
            raise ProjectNotFoundError(
                f"no project named {name!r} in {self.path} (projects: {known})")
        pid, pname, dataset_id, fingerprint, settings, created = rows[0]
        return Project(pid, pname, dataset_id, fingerprint, json.loads(settings), created)

    def list_projects(self) -> list[Project]:
        """All projects, oldest first."""
        rows = self._read("SELECT id, name, dataset_id, fingerprint, settings, created_at "
                          "FROM projects ORDER BY id")
        return [Project(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5]) for r in rows]

    def update_settings(self, project: str | Project, settings: dict) -> Project:
        """Replace a project's strategy settings (the labels are not touched)."""
        pid = self.open_project(project).id
        settings_json = json.dumps(dict(settings), sort_keys=True)
        self._write(lambda conn: conn.execute(
            "UPDATE projects SET settings = ? WHERE id = ?", (settings_json, pid)))
        return self.open_project(project)

    @staticmethod
    def _check_name(name: Any) -> str:
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise InvalidInputError(
                f"a project name must be a non-empty string of at most 200 characters, "
                f"got {name!r}")
        return name.strip()

    # -- labels ----------------------------------------------------------------------------
    def record(self, project: str | Project, item_id: str | int, action: str,
               label: Any = None, *, who: str = "anonymous") -> int:
        """Record one labeling action; it is committed to disk before this returns.

        Parameters
        ----------
        project : str or Project
        item_id : str or int
            The item's id in the dataset (``Dataset.ids``), stored as text.
        action : {"label", "unlabel", "skip"}
            ``label`` sets (or replaces) the item's current label, ``unlabel`` removes it (undo),
            ``skip`` only logs that the labeler passed on the item.
        label : str, int or float, optional
            Required for ``label``, must be omitted otherwise.
        who : str, default="anonymous"
            The labeler.

        Returns
        -------
        int
            The event id (increasing; see :meth:`labels_changed_since`).

        Raises
        ------
        UnknownItemError
            ``unlabel`` of an item that has no current label (nothing is recorded).
        """
        pid = self.open_project(project).id
        item = _item_key(item_id)
        who = _check_who(who)
        if action not in ACTIONS:
            raise InvalidInputError(f"action must be one of {', '.join(ACTIONS)}, got {action!r}")
        if action == "label":
            label = _plain_label(label)
        elif label is not None:
            raise InvalidInputError(f"a {action!r} event takes no label, got {label!r}")

        def write(conn: sqlite3.Connection) -> int:
            at = _now()
            if action == "unlabel" and not conn.execute(
                    "SELECT 1 FROM labels WHERE project_id = ? AND item_id = ?",
                    (pid, item)).fetchone():
                raise UnknownItemError(f"item {item!r} has no label to undo")
            event_id = conn.execute(
                "INSERT INTO events (project_id, item_id, action, label, who, at) "
                "VALUES (?, ?, ?, ?, ?, ?)", (pid, item, action, label, who, at)).lastrowid
            if action == "label":
                conn.execute(
                    "INSERT INTO labels (project_id, item_id, label, who, at, event_id) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, item_id) DO UPDATE SET "
                    "label = excluded.label, who = excluded.who, at = excluded.at, "
                    "event_id = excluded.event_id", (pid, item, label, who, at, event_id))
            elif action == "unlabel":
                conn.execute("DELETE FROM labels WHERE project_id = ? AND item_id = ?",
                             (pid, item))
            if action != "skip":
                # The item is done (or back in the pool): its reservation has served.
                conn.execute("DELETE FROM reservations WHERE project_id = ? AND item_id = ?",
                             (pid, item))
            return int(event_id)

        return self._write(write)

    def current_labels(self, project: str | Project) -> pd.DataFrame:
        """Current label of each labeled item, in the order of their latest label event.

        Returns
        -------
        pandas.DataFrame
            Columns ``item_id``, ``label``, ``who``, ``at``, ``event_id``.
        """
        pid = self.open_project(project).id
        rows = self._read("SELECT item_id, label, who, at, event_id FROM labels "
                          "WHERE project_id = ? ORDER BY event_id", (pid,))
        return _frame(rows, ["item_id", "label", "who", "at", "event_id"])

    def events(self, project: str | Project, since: int = 0) -> pd.DataFrame:
        """Every event of the project after event id ``since``, oldest first.

        Returns
        -------
        pandas.DataFrame
            Columns ``id``, ``item_id``, ``action``, ``label``, ``who``, ``at``.
        """
        pid = self.open_project(project).id
        rows = self._read("SELECT id, item_id, action, label, who, at FROM events "
                          "WHERE project_id = ? AND id > ? ORDER BY id", (pid, int(since)))
        return _frame(rows, ["id", "item_id", "action", "label", "who", "at"])

    def labels_changed_since(self, project: str | Project, event_id: int = 0) -> pd.DataFrame:
        """Label and unlabel events after ``event_id`` (by anyone), oldest first.

        A rerun passes the largest ``id`` it has seen to pick up other labelers' work
        cheaply (the events table is indexed by project and id).
        """
        pid = self.open_project(project).id
        rows = self._read("SELECT id, item_id, action, label, who, at FROM events "
                          "WHERE project_id = ? AND id > ? AND action != 'skip' ORDER BY id",
                          (pid, int(event_id)))
        return _frame(rows, ["id", "item_id", "action", "label", "who", "at"])

    def last_event_id(self, project: str | Project) -> int:
        """The id of the project's latest event (0 when there is none)."""
        pid = self.open_project(project).id
        return int(self._read("SELECT coalesce(max(id), 0) FROM events WHERE project_id = ?",
                              (pid,))[0][0])

    def skipped_items(self, project: str | Project, who: str | None = None) -> list[str]:
        """Items skipped (by ``who``, or by anyone) and not labeled since, oldest skip first.

        A rerun or a restarted app uses this to keep skipped items out of the way.
        """
        pid = self.open_project(project).id
        person = "" if who is None else "AND who = ?"
        params = (pid,) if who is None else (pid, _check_who(who))
        rows = self._read(
            f"""
            SELECT e.item_id FROM events e
            WHERE e.project_id = ? {person} AND e.action = 'skip'
              AND NOT EXISTS (SELECT 1 FROM labels l
                              WHERE l.project_id = e.project_id AND l.item_id = e.item_id)
            GROUP BY e.item_id ORDER BY min(e.id)
            """, params)
        return [r[0] for r in rows]

    def disagreements(self, project: str | Project) -> pd.DataFrame:
        """Items that different people gave different labels.

        Each person's latest label of the item counts; the current label is the latest
        overall.

        Returns
        -------
        pandas.DataFrame
            One row per (item, person): ``item_id``, ``who``, ``label``, ``at``,
            ``current_label`` (None if the item was unlabeled since).
        """
        pid = self.open_project(project).id
        rows = self._read(
            """
            WITH latest AS (
                SELECT item_id, who, label, at, max(id) AS id FROM events
                WHERE project_id = ? AND action = 'label' GROUP BY item_id, who
            ),
            split AS (
                SELECT item_id FROM latest GROUP BY item_id
                HAVING count(DISTINCT who) > 1 AND count(DISTINCT label) > 1
            )
            SELECT l.item_id, l.who, l.label, l.at, c.label FROM latest l
            JOIN split USING (item_id)
            LEFT JOIN labels c ON c.project_id = ? AND c.item_id = l.item_id
            ORDER BY l.item_id, l.id
            """, (pid, pid))
        return _frame(rows, ["item_id", "who", "label", "at", "current_label"])

    # -- reservations (batch mode) ---------------------------------------------------------
    def reserve(self, project: str | Project, item_ids: Iterable, who: str,
                ttl_seconds: float = 600.0) -> list[str]:
        """Reserve items for ``who`` for ``ttl_seconds``; returns the ids granted.

        An item is granted unless it is labeled or another person holds a live reservation on
        it; the caller's own reservations are renewed. All of this happens in one write
        transaction, so concurrent calls never grant one item twice.
        """
        pid = self.open_project(project).id
        who = _check_who(who)
        if not np.isfinite(ttl_seconds) or ttl_seconds <= 0:
            raise InvalidInputError(f"ttl_seconds must be a positive number, got {ttl_seconds!r}")
        items = list(dict.fromkeys(_item_key(i) for i in item_ids))

        def write(conn: sqlite3.Connection) -> list[str]:
            now = time.time()
            conn.execute("DELETE FROM reservations WHERE project_id = ? AND until <= ?",
                         (pid, now))
            granted = []
            for item in items:
                if conn.execute("SELECT 1 FROM labels WHERE project_id = ? AND item_id = ?",
                                (pid, item)).fetchone():
                    continue
                holder = conn.execute("SELECT who FROM reservations WHERE project_id = ? AND "
                                      "item_id = ?", (pid, item)).fetchone()
                if holder is not None and holder[0] != who:
                    continue
                conn.execute("INSERT OR REPLACE INTO reservations (project_id, item_id, who, "
                             "until) VALUES (?, ?, ?, ?)", (pid, item, who, now + ttl_seconds))
                granted.append(item)
            return granted

        return self._write(write)

    def release(self, project: str | Project, who: str, item_ids: Iterable | None = None) -> int:
        """Drop ``who``'s reservations (all of them, or those on ``item_ids``); returns count."""
        pid = self.open_project(project).id
        who = _check_who(who)
        items = None if item_ids is None else [_item_key(i) for i in item_ids]

        def write(conn: sqlite3.Connection) -> int:
            if items is None:
                return conn.execute("DELETE FROM reservations WHERE project_id = ? AND who = ?",
                                    (pid, who)).rowcount
            return sum(conn.execute("DELETE FROM reservations WHERE project_id = ? AND who = ? "
                                    "AND item_id = ?", (pid, who, item)).rowcount
                       for item in items)

        return self._write(write)

    def reservations(self, project: str | Project) -> pd.DataFrame:
        """Live reservations: ``item_id``, ``who``, ``until`` (Unix time)."""
        pid = self.open_project(project).id
        rows = self._read("SELECT item_id, who, until FROM reservations WHERE project_id = ? "
                          "AND until > ? ORDER BY item_id", (pid, time.time()))
        return _frame(rows, ["item_id", "who", "until"])

    def reserved_by_others(self, project: str | Project, who: str) -> set[str]:
        """Ids of items someone other than ``who`` holds a live reservation on."""
        table = self.reservations(project)
        return set(table.loc[table["who"] != who, "item_id"])

    # -- backup ----------------------------------------------------------------------------
    def backup(self, target: str | os.PathLike) -> Path:
        """Write a consistent copy of the store to ``target`` (safe while others write)."""
        target = Path(target)
        if target.exists():
            raise InvalidInputError(f"{target} exists; back up to a new file")
        target.parent.mkdir(parents=True, exist_ok=True)
        dest = sqlite3.connect(target)
        try:
            self._retry(lambda: self._connection().backup(dest))
        finally:
            dest.close()
        return target


def _frame(rows: list[tuple], columns: list[str]) -> pd.DataFrame:
    """A DataFrame that keeps labels' Python types (object columns, no coercion)."""
    if not rows:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    data = {c: [r[n] for r in rows] for n, c in enumerate(columns)}
    frame = pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in data.items()})
    for c in ("event_id", "id"):
        if c in frame:
            frame[c] = frame[c].astype(np.int64)
    if "until" in frame:
        frame["until"] = frame["until"].astype(np.float64)
    return frame
