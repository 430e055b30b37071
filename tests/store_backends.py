"""The label store's two backends, as pytest fixtures: every store test runs on both.

``store_location`` is a place a :class:`~labelwise.labels.store.LabelStore` opens: a fresh data
folder for SQLite, a fresh schema on a real PostgreSQL server for PostgreSQL. The server is
named by ``LABELWISE_TEST_POSTGRES`` (a ``postgresql://`` URL of a database the tests may create
schemas in); without it, the one ``.ci/postgres start`` (``make postgres``) runs. When there is
no server the PostgreSQL tests fail, saying how to start one: they never skip, so a missing
server cannot turn a run green.

A test module loads the fixtures with ``pytest_plugins = ["store_backends"]``.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from labelwise.labels.store import is_postgres_url

REPO = Path(__file__).resolve().parent.parent
POSTGRES_ENV = "LABELWISE_TEST_POSTGRES"
BACKENDS = ["sqlite", "postgresql"]


def postgres_url() -> str:
    """The test server's URL: ``$LABELWISE_TEST_POSTGRES``, else ``.ci/postgres``'s."""
    url = os.environ.get(POSTGRES_ENV)
    if url:
        return url
    return subprocess.run([str(REPO / ".ci" / "postgres"), "url"], check=True,
                          capture_output=True, text=True).stdout.strip()


def _admin_connection(url: str) -> psycopg.Connection:
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        problem = str(exc).strip()
    pytest.fail(  # outside the except block: the message alone, without psycopg's traceback
        f"the PostgreSQL store tests need a running PostgreSQL server and found none at "
        f"{url} ({problem}). Start one with `make postgres` (or `.ci/postgres "
        f"start`), or point ${POSTGRES_ENV} at a database the tests may create schemas "
        f"in. CI always has one, so these tests fail rather than skip.", pytrace=False)


def with_schema(url: str, schema: str) -> str:
    """``url`` with its tables in ``schema`` (libpq's ``options=-csearch_path=...``)."""
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}options=-csearch_path%3D{schema}"


@pytest.fixture
def postgres_location() -> Iterator[str]:
    """A URL whose tables live in a new, empty schema (dropped afterwards)."""
    url = postgres_url()
    schema = f"labelwise_test_{uuid.uuid4().hex[:12]}"
    admin = _admin_connection(url)
    try:
        admin.execute(f"CREATE SCHEMA {schema}")
        yield with_schema(url, schema)
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
    finally:
        admin.close()


@pytest.fixture(params=BACKENDS)
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new store's location on each backend: a data folder, or a PostgreSQL URL."""
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_location")
    return str(tmp_path / "data")


@pytest.fixture
def write_blocker(store_location: str) -> Iterator[WriteBlocker]:
    """Another writer on ``store_location``'s store (create the store first)."""
    blocker = WriteBlocker(store_location)
    yield blocker
    blocker.close()


class WriteBlocker:
    """Another writer holding the store's write lock, from outside labelwise.

    SQLite: a connection in ``BEGIN IMMEDIATE``. PostgreSQL: a transaction holding an
    ``EXCLUSIVE`` lock on the events table, which every label event needs.
    """

    def __init__(self, location: str) -> None:
        self.location = location
        self.postgres = is_postgres_url(location)
        self.conn: psycopg.Connection | sqlite3.Connection | None = None

    def _connect(self) -> psycopg.Connection | sqlite3.Connection:
        if self.postgres:
            return psycopg.connect(self.location, autocommit=True)
        path = Path(self.location)
        path = path if path.suffix == ".sqlite" else path / "labelwise.sqlite"
        assert path.exists(), "create the store before blocking it"
        return sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    def acquire(self) -> None:
        if self.conn is None:
            self.conn = self._connect()
        self.conn.execute("BEGIN" if self.postgres else "BEGIN IMMEDIATE")
        if self.postgres:
            self.conn.execute("LOCK TABLE events IN EXCLUSIVE MODE")

    def commit(self) -> None:
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        self.conn.execute("ROLLBACK")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()  # ends a transaction a failed test left open
