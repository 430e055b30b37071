"""What the store's operations need from a database: the seam between the two backends.

:class:`~labelwise.labels.store.LabelStore` writes its SQL once, with ``?`` placeholders and
only what SQLite and PostgreSQL both understand (``INSERT ... RETURNING``, ``ON CONFLICT``). A
backend supplies connections, transactions, retries and the few dialect differences below.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Transaction(Protocol):
    """One open write transaction; committed by the backend when the work returns."""

    def one(self, sql: str, params: Iterable = ()) -> tuple | None:
        """The first row of ``sql`` (None if there is none)."""

    def all(self, sql: str, params: Iterable = ()) -> list[tuple]:
        """Every row of ``sql``."""

    def run(self, sql: str, params: Iterable = ()) -> int:
        """Execute ``sql``; the number of rows it changed."""

    def serialize(self, key: int) -> None:
        """Hold the lock named ``key`` until commit: writers of one key go one at a time.

        The operations take ``key=project id`` before changing a project, so event ids grow in
        commit order within a project and a reservation is never granted twice.
        """

    def label(self, value: Any) -> Any:
        """``value`` (a label or None) as a query parameter of this dialect."""


class Backend(Protocol):
    """A database holding one label store."""

    #: Where the store is, for messages (a file path, or a URL without its password).
    location: str
    #: The SQLite file, or None for a server.
    path: Path | None
    #: True when the store can be read but not written.
    read_only: bool
    #: The store's schema version: :data:`.schema.SCHEMA_VERSION`, or older when read-only.
    schema_version: int

    def write(self, work: Callable[[Transaction], T]) -> T:
        """Run ``work`` in one committed transaction, retried while other writers hold locks."""

    def read(self, sql: str, params: Iterable = ()) -> list[tuple]:
        """Rows of one read-only statement (``?`` placeholders)."""

    def backup(self, target: Path) -> Path:
        """Write a consistent copy of the store to the new SQLite file ``target``."""

    def close(self) -> None:
        """Close this thread's connection."""
