"""The SQLite backend: one file, WAL journal, full sync, a connection per thread, busy retries.

Opening never writes to a file it has not validated:

* the first 100 bytes (the header) say whether the file is a SQLite database, a labelwise store
  and of a schema this version reads; a file that fails is refused by reading bytes only;
* the rest is checked through a read-only connection (``mode=ro``; ``immutable=1`` on a mount
  where not even SQLite's shared-memory index can be made). A read-only connection never
  checkpoints, so a damaged store keeps its bytes *and* its pending ``-wal`` journal, which may
  hold the newest labels and is what a repair tool needs;
* only a store that passed is opened for writing, and only when its file and folder can be
  written: a healthy store on a read-only mount opens read-only (reads work, writes raise
  :class:`ReadOnlyStoreError`) instead of being mistaken for a damaged one;
* a writable store of an older schema is upgraded in one transaction
  (:data:`.schema.SQLITE_UPGRADES`); a read-only one is read as it is.
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from .errors import CorruptStoreError, ReadOnlyStoreError, StoreBusyError, StoreError
from .location import DATA_DIR_ENV, STORE_ENV, default_store_path
from .schema import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    SQLITE_TABLES,
    SQLITE_UPGRADES,
    TABLES,
    upgrade_steps,
)

T = TypeVar("T")

_SQLITE_MAGIC = b"SQLite format 3\x00"
_HEADER_SIZE = 100


class SqliteTransaction:
    """A write transaction on one SQLite connection (see :class:`.backend.Transaction`)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def one(self, sql: str, params: Iterable = ()) -> tuple | None:
        return self.conn.execute(sql, tuple(params)).fetchone()

    def all(self, sql: str, params: Iterable = ()) -> list[tuple]:
        return self.conn.execute(sql, tuple(params)).fetchall()

    def run(self, sql: str, params: Iterable = ()) -> int:
        return self.conn.execute(sql, tuple(params)).rowcount

    def serialize(self, key: int) -> None:
        """Nothing to do: ``BEGIN IMMEDIATE`` already holds the file's single write lock."""

    @staticmethod
    def label(value: Any) -> Any:
        return value  # SQLite keeps str, int and float apart in an untyped column


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _is_read_only_error(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "readonly" in text or "read-only" in text


def _can_write(path: Path) -> bool:
    """Whether the file (if it exists) and its folder can be written.

    ``os.access`` answers for this process, root included: it says no for a read-only mount
    (EROFS) and an immutable file (``chattr +i``), where even root cannot write.
    """
    if path.exists() and not os.access(path, os.W_OK):
        return False
    folder = path.parent
    while not folder.exists():  # the folders we would create must sit in a writable one
        folder = folder.parent
    return os.access(folder, os.W_OK)


class SqliteBackend:
    """One SQLite file as a label store (see the module docstring for how it opens).

    Parameters
    ----------
    path_or_data_dir : str or path-like, optional
        The file or its data folder (:func:`.location.default_store_path`).
    busy_seconds : float
        How long a write keeps retrying while other writers hold the lock.
    """

    def __init__(self, path_or_data_dir: str | os.PathLike | None, busy_seconds: float) -> None:
        self.path = default_store_path(path_or_data_dir).resolve()
        self.location = str(self.path)
        self.busy_seconds = float(busy_seconds)
        self._local = threading.local()
        has_content = self._check_header()
        self.read_only = not _can_write(self.path)
        # The URI of read-only connections for a store that cannot be written; None: this
        # thread's connection reads and writes.
        self._read_uri: str | None = None
        if has_content:
            uri = self._retry(self._validate_without_writing)
            if self.read_only:
                self._read_uri = uri
        elif self.read_only:
            raise ReadOnlyStoreError(
                f"cannot create the labelwise store {self.path}: its folder is read-only "
                f"(a read-only mount or an immutable folder). Point labelwise at a writable "
                f"folder (argument, ${STORE_ENV} or ${DATA_DIR_ENV}).")
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._retry(self._create)
        #: The store's schema version (older than :data:`SCHEMA_VERSION` only when read-only).
        self.schema_version: int = self._retry(
            self._version if self.read_only else self._upgrade)

    # -- opening ---------------------------------------------------------------------------
    def _check_header(self) -> bool:
        """Refuse, by reading bytes only, a file that is not a labelwise store.

        Returns whether the file has content (a missing or empty file is a store to create).
        """
        if not self.path.exists():
            return False
        if self.path.is_dir():
            raise CorruptStoreError(f"{self.path} is a folder, not a labelwise store file")
        if self.path.stat().st_size == 0:
            return False  # what an interrupted creation leaves behind: nothing to lose
        with open(self.path, "rb") as fh:
            header = fh.read(_HEADER_SIZE)
        if len(header) < _HEADER_SIZE or not header.startswith(_SQLITE_MAGIC):
            raise CorruptStoreError(
                f"{self.path} is not a SQLite database (its first bytes are not a SQLite "
                f"header); it was left untouched. Point labelwise at another file or folder "
                f"(argument, ${STORE_ENV} or ${DATA_DIR_ENV}).")
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
        return True

    def _uri(self, **flags: int | str) -> str:
        query = "&".join(f"{key}={value}" for key, value in flags.items())
        return f"file:{quote(str(self.path))}?{query}"

    def _validate_without_writing(self) -> str:
        """Check the whole store through a read-only connection; the URI that could read it."""
        uri = self._uri(mode="ro")
        try:
            self._validate_at(uri)
            return uri
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                raise  # another process is creating or checkpointing it: retried
            if not (self.read_only and "unable to open" in str(exc)):
                raise self._damaged(exc) from exc
        # A read-only folder where SQLite cannot make the journal's shared-memory index: read
        # the main file alone, which is only the whole store when no journal is pending.
        self._refuse_pending_journal()
        uri = self._uri(mode="ro", immutable=1)
        try:
            self._validate_at(uri)
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from exc
        return uri

    def _validate_at(self, uri: str) -> None:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None)
        try:
            self._validate(conn)
        except sqlite3.OperationalError:
            raise
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from exc
        finally:
            conn.close()

    def _refuse_pending_journal(self) -> None:
        wal = Path(f"{self.path}-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise ReadOnlyStoreError(
                f"the labelwise store {self.path} is read-only and its journal {wal.name} holds "
                f"changes SQLite cannot read without writing its index beside it; nothing was "
                f"changed. Copy the folder (all its files) somewhere writable and open the copy, "
                f"or make the folder writable.")

    def _damaged(self, exc: Exception) -> CorruptStoreError:
        journal = Path(f"{self.path}-wal")
        kept = f" and its journal {journal.name}" if journal.exists() else ""
        return CorruptStoreError(
            f"{self.path} is damaged and cannot be read as a labelwise store ({exc}); it was "
            f"left untouched (opened read-only: the file{kept} unchanged). Keep a copy of the "
            f"folder as it is, then restore the store from a backup or use another file.")

    @staticmethod
    def _validate(conn: sqlite3.Connection) -> None:
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise sqlite3.DatabaseError(f"integrity check failed: {check}")
        tables = {row[0] for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = TABLES - tables
        if missing:
            raise sqlite3.DatabaseError(f"tables missing: {', '.join(sorted(missing))}")

    def _create(self) -> None:
        conn = self._connection()
        # Header fields first, in the rollback journal, so even a crash mid-creation leaves a
        # file that is either empty or marked as ours.
        conn.execute("BEGIN EXCLUSIVE")
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] != 0:
                conn.execute("ROLLBACK")  # another process created it meanwhile
                self._validate(conn)
                return
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            for statement in SQLITE_TABLES:
                conn.execute(statement)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("PRAGMA journal_mode = WAL")

    def _version(self) -> int:
        return int(self._connection().execute("PRAGMA user_version").fetchone()[0])

    def _upgrade(self) -> int:
        """Bring a store of an older schema to :data:`SCHEMA_VERSION` in one transaction.

        The steps and the new ``user_version`` commit together (SQLite's DDL is
        transactional), so a crash leaves the store upgraded or as it was. The version is read
        again under the write lock: another process may have upgraded it meanwhile.
        """
        if self._version() >= SCHEMA_VERSION:
            return SCHEMA_VERSION
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in upgrade_steps(SQLITE_UPGRADES, self._version()):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return SCHEMA_VERSION

    # -- connections -----------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        """This thread's connection (a fresh one after a fork)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        if self._read_uri is None:
            conn = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
        else:
            conn = sqlite3.connect(self._read_uri, uri=True, timeout=5.0, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout = 5000")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error:
            conn.close()
            raise
        self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- transactions ----------------------------------------------------------------------
    def _retry(self, work: Callable[[], T]) -> T:
        """Run ``work``, retrying with jittered backoff while the database is busy."""
        deadline = time.monotonic() + self.busy_seconds
        delay = 0.005
        while True:
            try:
                return work()
            except sqlite3.OperationalError as exc:
                if _is_read_only_error(exc):
                    raise self._read_only_error(exc) from exc
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
                    f"Keep a copy of its folder, then restore it from a backup.") from exc

    def _read_only_error(self, cause: Exception | None = None) -> ReadOnlyStoreError:
        why = f" ({cause})" if cause is not None else ""
        return ReadOnlyStoreError(
            f"the labelwise store {self.path} is read-only{why}: nothing was written, and the "
            f"labels already in it are intact (it is not damaged; do not restore a backup). "
            f"Make its file and folder writable, or copy it to a writable folder.")

    def write(self, work: Callable[[SqliteTransaction], T]) -> T:
        """Run ``work`` in one short write transaction, committed before returning."""
        if self.read_only:
            raise self._read_only_error()

        def attempt() -> T:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(SqliteTransaction(conn))
                conn.execute("COMMIT")
                return result
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        return self._retry(attempt)

    def read(self, sql: str, params: Iterable = ()) -> list[tuple]:
        return self._retry(lambda: self._connection().execute(sql, tuple(params)).fetchall())

    def backup(self, target: Path) -> Path:
        """Copy the store page by page into ``target`` (safe while others write)."""
        dest = sqlite3.connect(target)
        try:
            self._retry(lambda: self._connection().backup(dest))
        finally:
            dest.close()
        return target
