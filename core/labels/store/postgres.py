"""The PostgreSQL backend: one database (schema) shared by many dashboard servers.

Same guarantees as the SQLite file, for servers behind a load balancer:

* every change is one committed transaction (``READ COMMITTED``, the server's durable commit);
* writers of one project take a transaction-scoped advisory lock on it first, so they go one at
  a time: event ids grow in commit order within the project (a reader polling by id never skips
  a slower writer's event) and a reservation is never granted twice;
* the lock waits at most ``busy_seconds`` (``lock_timeout``), then :class:`StoreBusyError`;
  deadlocks and serialization failures are retried, a lost connection is retried only when
  nothing could have been committed, so a label is neither lost nor doubled;
* the tables live in the connection's current schema (add ``?options=-csearch_path%3Dname``
  to the URL to keep several stores in one database), marked by a ``labelwise_meta`` row;
* a store of an older schema is upgraded when a connection that may write opens it, in one
  transaction (:data:`.schema.POSTGRES_UPGRADES`); a standby or a read-only role reads it as
  it is.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg.types.json import Jsonb

from .errors import (
    CorruptStoreError,
    ReadOnlyStoreError,
    StoreBusyError,
    StoreError,
)
from .location import redact_url
from .schema import (
    APPLICATION_ID,
    META_TABLE,
    POSTGRES_TABLES,
    POSTGRES_UPGRADES,
    SCHEMA_VERSION,
    TABLES,
    columns_at,
    upgrade_steps,
)

T = TypeVar("T")

#: The lock taken while the tables are created (project locks use project ids, from 1).
_CREATION_LOCK = 0
# Errors after which the same transaction, run again, may well succeed.
_RETRYABLE = (pg_errors.DeadlockDetected, pg_errors.SerializationFailure)
_READ_ONLY = (pg_errors.ReadOnlySqlTransaction, pg_errors.InsufficientPrivilege)


@functools.lru_cache(maxsize=256)
def _dialect(sql: str) -> str:
    """The operations' ``?`` placeholders as psycopg's ``%s`` (their SQL has no ``%``)."""
    return sql.replace("%", "%%").replace("?", "%s")


class _Reconnect(Exception):
    """The connection broke before anything was committed: run the work again."""


class _ThreadConnection:
    """A thread's connection, closed when the thread (or the store) lets go of it.

    Threads come and go in a dashboard server; closing here returns their server-side
    backends instead of leaving them to the garbage collector's warnings.
    """

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self.pid = os.getpid()

    def __del__(self) -> None:
        if self.pid == os.getpid():  # never close a parent's connection from a forked child
            with contextlib.suppress(Exception):
                self.conn.close()


class PostgresTransaction:
    """A write transaction on one PostgreSQL connection (see :class:`.backend.Transaction`)."""

    def __init__(self, conn: psycopg.Connection, lock_space: int) -> None:
        self.conn = conn
        self.lock_space = lock_space

    def one(self, sql: str, params: Iterable = ()) -> tuple | None:
        return self.conn.execute(_dialect(sql), tuple(params)).fetchone()

    def all(self, sql: str, params: Iterable = ()) -> list[tuple]:
        return self.conn.execute(_dialect(sql), tuple(params)).fetchall()

    def run(self, sql: str, params: Iterable = ()) -> int:
        return self.conn.execute(_dialect(sql), tuple(params)).rowcount

    def serialize(self, key: int) -> None:
        """Take the advisory lock ``(store, key)`` until this transaction ends."""
        self.conn.execute("SELECT pg_advisory_xact_lock(%s::integer, %s::integer)",
                          (self.lock_space, int(key) % 2**31))

    @staticmethod
    def label(value: Any) -> Any:
        return None if value is None else Jsonb(value)


class PostgresBackend:
    """A label store in a PostgreSQL database (see the module docstring).

    Parameters
    ----------
    url : str
        A libpq URL, ``postgresql://user:password@host:port/database?...``.
    busy_seconds : float
        How long a write waits for another writer's lock.
    """

    path: Path | None = None

    def __init__(self, url: str, busy_seconds: float) -> None:
        self.url = url
        self.location = redact_url(url)
        self.busy_seconds = float(busy_seconds)
        self.read_only = False
        #: The store's schema version (older than :data:`SCHEMA_VERSION` only when read-only).
        self.schema_version = SCHEMA_VERSION
        self._local = threading.local()
        schema = self._retry(self._current_schema)
        # Advisory locks are per database: a key space per schema keeps stores apart.
        self.lock_space = zlib.crc32(f"labelwise:{schema}".encode()) % 2**31
        self.read_only = self._retry(self._create_or_validate)

    # -- opening ---------------------------------------------------------------------------
    def _current_schema(self) -> str:
        schema = self._connection().execute("SELECT current_schema()").fetchone()[0]
        if schema is None:
            raise StoreError(
                f"the PostgreSQL database {self.location} has no schema to keep labels in (its "
                f"search_path names none that exists); create one or fix the URL's options")
        return schema

    def _tables(self, conn: psycopg.Connection) -> set[str]:
        rows = conn.execute("SELECT table_name FROM information_schema.tables "
                            "WHERE table_schema = current_schema()").fetchall()
        return {row[0] for row in rows}

    def _create_or_validate(self) -> bool:
        """Create the tables if the schema has none; whether the store is read-only."""
        conn = self._connection()
        if META_TABLE not in self._tables(conn):
            try:
                with conn.transaction():
                    PostgresTransaction(conn, self.lock_space).serialize(_CREATION_LOCK)
                    if META_TABLE not in self._tables(conn):  # not created meanwhile
                        self._create(conn)
            except _READ_ONLY as exc:
                raise ReadOnlyStoreError(
                    f"cannot create the labelwise tables in {self.location}: the connection "
                    f"may not write there ({exc}). Nothing was changed; use a role that may "
                    f"create tables, or another database.") from exc
        version = self._validate(conn)
        read_only = self._cannot_write(conn)
        if version < SCHEMA_VERSION and not read_only:
            version = self._upgrade(conn, version)
        self.schema_version = version
        return read_only

    def _upgrade(self, conn: psycopg.Connection, version: int) -> int:
        """Bring a store of an older schema to :data:`SCHEMA_VERSION` in one transaction.

        Under the creation lock, with the version read again: of several servers starting at
        once, one upgrades and the others find it done.
        """
        try:
            with conn.transaction():
                PostgresTransaction(conn, self.lock_space).serialize(_CREATION_LOCK)
                version = int(conn.execute(
                    f"SELECT schema_version FROM {META_TABLE} FOR UPDATE").fetchone()[0])
                for statement in upgrade_steps(POSTGRES_UPGRADES, version):
                    conn.execute(statement)
                conn.execute(f"UPDATE {META_TABLE} SET schema_version = %s",
                             (max(version, SCHEMA_VERSION),))
        except _READ_ONLY as exc:
            raise StoreError(
                f"the labelwise store {self.location} has schema version {version} and this "
                f"connection may not upgrade it to {SCHEMA_VERSION} ({exc}). Nothing was "
                f"changed; open it once as the role that owns its tables: labelwise upgrades "
                f"it then.") from exc
        return max(version, SCHEMA_VERSION)

    def _create(self, conn: psycopg.Connection) -> None:
        clash = self._tables(conn) & TABLES
        if clash:
            raise CorruptStoreError(
                f"{self.location} has tables named like labelwise's ({', '.join(sorted(clash))})"
                f" but no {META_TABLE} mark; they were left untouched. Use another database or "
                f"schema for labelwise.")
        for statement in POSTGRES_TABLES:
            conn.execute(statement)
        conn.execute(f"INSERT INTO {META_TABLE} (application_id, schema_version) "
                     f"VALUES (%s, %s)", (APPLICATION_ID, SCHEMA_VERSION))

    def _validate(self, conn: psycopg.Connection) -> int:
        """Refuse what is not a labelwise store of a version this one reads; its version."""
        marks = conn.execute(f"SELECT application_id, schema_version FROM {META_TABLE}"
                             ).fetchall()
        if len(marks) != 1 or marks[0][0] != APPLICATION_ID:
            raise CorruptStoreError(
                f"{self.location} has a {META_TABLE} table that is not labelwise's; it was left "
                f"untouched. Use another database or schema for labelwise.")
        version = marks[0][1]
        if version > SCHEMA_VERSION:
            raise CorruptStoreError(
                f"{self.location} was written by a newer labelwise (schema {version}, this one "
                f"reads up to {SCHEMA_VERSION}); upgrade labelwise. It was left untouched.")
        missing = TABLES - self._tables(conn)
        if missing:
            raise CorruptStoreError(
                f"{self.location} lacks labelwise tables ({', '.join(sorted(missing))}); it "
                f"was left untouched. Restore the database from a backup.")
        return int(version)

    @staticmethod
    def _cannot_write(conn: psycopg.Connection) -> bool:
        """A standby, or a role without INSERT on the events, reads only."""
        standby, may_insert = conn.execute(
            "SELECT pg_is_in_recovery(), has_table_privilege('events', 'INSERT')").fetchone()
        return bool(standby or not may_insert)

    # -- connections -----------------------------------------------------------------------
    def _connection(self) -> psycopg.Connection:
        """This thread's connection (a fresh one after a fork or a broken connection)."""
        held = getattr(self._local, "held", None)
        if held is not None and held.pid == os.getpid() and not held.conn.closed:
            return held.conn
        try:
            conn = psycopg.connect(self.url, autocommit=True, application_name="labelwise")
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to the labelwise store {self.location}: "
                             f"{str(exc).strip()}") from exc
        # A writer waits this long for another's lock (then StoreBusyError).
        conn.execute(f"SET lock_timeout = {max(1, int(self.busy_seconds * 1000))}")
        self._local.held = _ThreadConnection(conn)
        return conn

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        held = getattr(self._local, "held", None)
        if held is not None:
            held.conn.close()
            self._local.held = None

    # -- transactions ----------------------------------------------------------------------
    def _retry(self, work: Callable[[], T]) -> T:
        """Run ``work``, again after a deadlock, a serialization failure or a reconnect."""
        deadline = time.monotonic() + self.busy_seconds
        delay = 0.005
        while True:
            try:
                return work()
            except pg_errors.LockNotAvailable as exc:
                raise self._busy(exc) from exc
            except (*_RETRYABLE, _Reconnect) as exc:
                if time.monotonic() >= deadline:
                    raise self._busy(exc) from exc
            except _READ_ONLY as exc:
                raise ReadOnlyStoreError(
                    f"the labelwise store {self.location} may not be written by this connection "
                    f"({exc}); nothing was written, its labels are intact.") from exc
            except psycopg.Error as exc:
                raise StoreError(f"labelwise store {self.location}: {exc}") from exc
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.5)

    def _busy(self, exc: Exception) -> StoreBusyError:
        return StoreBusyError(
            f"the labelwise store {self.location} stayed locked by other writers for "
            f"{self.busy_seconds:.0f} s; nothing was written, try again ({exc})")

    def _unknown_outcome(self, exc: Exception) -> StoreError:
        return StoreError(
            f"the connection to the labelwise store {self.location} broke while committing "
            f"({exc}); the change may or may not have been saved. Check before repeating it.")

    def write(self, work: Callable[[PostgresTransaction], T]) -> T:
        """Run ``work`` in one transaction, committed before returning."""
        if self.read_only:
            raise ReadOnlyStoreError(
                f"the labelwise store {self.location} is read-only for this connection (a "
                f"standby, or a role without INSERT); nothing was written.")

        def attempt() -> T:
            conn = self._connection()
            committing = False
            try:
                with conn.transaction():
                    result = work(PostgresTransaction(conn, self.lock_space))
                    committing = True  # leaving the block sends COMMIT
                return result
            except psycopg.OperationalError as exc:
                if not conn.broken:
                    raise
                self.close()
                if committing:
                    raise self._unknown_outcome(exc) from exc
                raise _Reconnect(str(exc)) from exc
        return self._retry(attempt)

    def read(self, sql: str, params: Iterable = ()) -> list[tuple]:
        def attempt() -> list[tuple]:
            conn = self._connection()
            try:
                return conn.execute(_dialect(sql), tuple(params)).fetchall()
            except psycopg.OperationalError as exc:
                if not conn.broken:
                    raise
                self.close()
                raise _Reconnect(str(exc)) from exc  # a read is safe to repeat
        return self._retry(attempt)

    # -- backup ----------------------------------------------------------------------------
    def backup(self, target: Path) -> Path:
        """Copy one consistent snapshot of every table into a new SQLite store at ``target``."""
        from .sqlite import SqliteBackend

        rows = self._retry(self._snapshot)
        copy = SqliteBackend(target, self.busy_seconds)  # the current schema: columns added
        # by later versions stay empty (NULL) for the rows of an older store
        try:
            copy.write(lambda tx: _insert_all(tx, rows))
        finally:
            copy.close()
        return target

    def _snapshot(self) -> dict[str, tuple[tuple[str, ...], list[tuple]]]:
        conn = self._connection()
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            return {table: (columns, conn.execute(
                        f"SELECT {', '.join(columns)} FROM {table}").fetchall())
                    for table, columns in columns_at(self.schema_version).items()}


def _insert_all(tx: Any, rows: dict[str, tuple[tuple[str, ...], list[tuple]]]) -> None:
    for table, (columns, table_rows) in rows.items():  # parents first, as in COLUMNS
        marks = ", ".join("?" for _ in columns)
        for row in table_rows:
            tx.run(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", row)
