"""LabelStore: labeling projects in one SQLite file or a PostgreSQL database, safe for many
threads, processes, servers and crashes.

A person's labels are the most expensive data in the project, so this package is conservative:

* every :meth:`LabelStore.record` is its own committed transaction (SQLite: ``synchronous=FULL``,
  WAL journal; PostgreSQL: a committed transaction): once it returns, the label survives a
  crash of the process (even ``SIGKILL``);
* the event log keeps everything (label, unlabel, skip, who, when); the ``labels`` table holds
  the current label of each item and is updated in the same transaction as the event;
* a file that is not a labelwise store (random bytes, a truncated or damaged database,
  somebody else's SQLite database) is refused with a :class:`CorruptStoreError` and opened
  read-only at most, so neither it nor its pending ``-wal`` journal is ever modified;
* a healthy store that cannot be written (read-only mount, immutable file) opens read-only and
  says so (:class:`ReadOnlyStoreError` on a write), instead of passing for a damaged one;
* each thread gets its own connection; writes wait for other writers (and retry with backoff),
  so "database is locked" never reaches a user (after ``busy_seconds`` a
  :class:`StoreBusyError` says what happened instead).

Where the store is: the argument, else ``$LABELWISE_STORE`` (``postgresql://...`` or a file),
else ``$LABELWISE_DATA_DIR``, else ``./labelwise-data/labelwise.sqlite``.

Typical use::

    store = LabelStore()                      # ./labelwise-data/labelwise.sqlite
    store = LabelStore("postgresql://labelwise@db.example/labels")   # shared by many servers
    store.create_project("fruits-ripeness", "fruits", fingerprint, {"strategy": "U*I*D"})
    store.record("fruits-ripeness", "img_0042", "label", "ripe", who="ana")
    store.current_labels("fruits-ripeness")   # DataFrame: item_id, label, who, at, event_id

Modules: :mod:`.operations` (the store's operations, shared), :mod:`.sqlite` and
:mod:`.postgres` (connections, transactions, retries), :mod:`.schema` (tables and marks),
:mod:`.location` (where), :mod:`.values` (checks and tables), :mod:`.errors`.
"""

from __future__ import annotations

from .errors import (
    CorruptStoreError,
    ProjectExistsError,
    ProjectNotFoundError,
    ReadOnlyStoreError,
    StoreBusyError,
    StoreError,
)
from .location import (
    DATA_DIR_ENV,
    DEFAULT_DATA_DIR,
    DEFAULT_FILE_NAME,
    STORE_ENV,
    default_store_location,
    default_store_path,
    is_postgres_url,
)
from .operations import LabelStore, Project
from .schema import APPLICATION_ID, SCHEMA_VERSION
from .values import ACTIONS

__all__ = [
    "ACTIONS",
    "APPLICATION_ID",
    "DATA_DIR_ENV",
    "DEFAULT_DATA_DIR",
    "DEFAULT_FILE_NAME",
    "SCHEMA_VERSION",
    "STORE_ENV",
    "CorruptStoreError",
    "LabelStore",
    "Project",
    "ProjectExistsError",
    "ProjectNotFoundError",
    "ReadOnlyStoreError",
    "StoreBusyError",
    "StoreError",
    "default_store_location",
    "default_store_path",
    "is_postgres_url",
]
