"""Where a :class:`~labelwise.labels.store.LabelStore` lives: a SQLite file or a PostgreSQL URL.

Precedence, first that is set: the argument, ``$LABELWISE_STORE`` (a ``postgresql://`` URL or a
file path), ``$LABELWISE_DATA_DIR`` (a folder), ``./labelwise-data/``.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

STORE_ENV = "LABELWISE_STORE"
DATA_DIR_ENV = "LABELWISE_DATA_DIR"
DEFAULT_DATA_DIR = "labelwise-data"
DEFAULT_FILE_NAME = "labelwise.sqlite"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
_SQLITE_SUFFIXES = {".sqlite", ".sqlite3", ".db"}


def is_postgres_url(location: object) -> bool:
    """Whether ``location`` names a PostgreSQL database (``postgresql://...``)."""
    return isinstance(location, str) and location.lower().startswith(POSTGRES_SCHEMES)


def default_store_path(path_or_data_dir: str | os.PathLike | None = None) -> Path:
    """The SQLite file a :class:`LabelStore` opens.

    ``path_or_data_dir`` may name the file itself (``*.sqlite``, ``*.sqlite3``, ``*.db``) or a
    data folder, where the file is ``labelwise.sqlite``. Without it: the file in the
    ``LABELWISE_STORE`` environment variable (when that is a path, not a URL), else the folder in
    ``LABELWISE_DATA_DIR``, else ``labelwise-data/`` under the working directory.
    """
    if path_or_data_dir is None:
        from_env = os.environ.get(STORE_ENV)
        if from_env and not is_postgres_url(from_env):
            path_or_data_dir = from_env
        else:
            path_or_data_dir = os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR
    path = Path(path_or_data_dir).expanduser()
    if path.suffix.lower() in _SQLITE_SUFFIXES and not path.is_dir():
        return path
    return path / DEFAULT_FILE_NAME


def default_store_location(location: str | os.PathLike | None = None) -> str:
    """The store a :class:`LabelStore` opens, as text: a PostgreSQL URL or a SQLite file path.

    Parameters
    ----------
    location : str or path-like, optional
        A ``postgresql://`` URL, a SQLite file or a data folder. Without it:
        ``$LABELWISE_STORE``, then ``$LABELWISE_DATA_DIR``, then ``./labelwise-data/``.

    Returns
    -------
    str
        The URL unchanged, or the absolute path of the SQLite file.
    """
    if location is None:
        location = os.environ.get(STORE_ENV) or None
    if is_postgres_url(location):
        return str(location)
    return str(default_store_path(location).resolve())


def redact_url(url: str) -> str:
    """``url`` without its password, fit for messages and captions."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username or ''}:***@{host}"
    return urlunsplit(parts._replace(netloc=netloc))
