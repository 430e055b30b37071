"""The on-disk cache: embeddings keyed by the SHA-256 of each item's content and the encoder's
identity (SQLite), and pool graphs with densities keyed by the vectors' fingerprint (folders, see
:mod:`labelwise.data.pools`), under one size limit with least-recently-used eviction.

Layout of a cache folder (``$LABELWISE_CACHE_DIR`` or ``./.labelwise-cache``)::

    embeddings/<encoder>-<hash of identity>.sqlite   table emb(key, vec, used)
    pools/<vector fingerprint>/                      pool.json + .npy arrays

Size limit
----------
The whole folder is kept under ``$LABELWISE_CACHE_MAX_BYTES`` (default
:data:`DEFAULT_CACHE_MAX_BYTES`, 2 GiB; ``500M``, ``2G`` and plain byte counts are accepted).
Every write checks the folder's size (a few ``stat`` calls); when it is over the limit, the
least recently used entries go first, until the folder is under about :data:`LOW_WATER` of the
limit (so that the next writes do not evict again at once) and in any case under the limit. An
entry is one embedding row (its ``used`` time is set on every hit) or one whole pool folder (the
modification time of its ``pool.json``, touched on every read). Embedding files are compacted
(``VACUUM``) after rows leave them, so the space is given back to the disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InvalidInputError

CACHE_MAX_ENV = "LABELWISE_CACHE_MAX_BYTES"
#: Default size limit of the whole cache folder: 2 GiB (about 400,000 MobileNet vectors, or the
#: graphs of a hundred 100k-item pools).
DEFAULT_CACHE_MAX_BYTES = 2 * 2**30
#: Eviction stops once the folder is under this fraction of the limit.
LOW_WATER = 0.8
_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def default_cache_dir() -> Path:
    """``$LABELWISE_CACHE_DIR``, or ``.labelwise-cache`` in the working directory."""
    return Path(os.environ.get("LABELWISE_CACHE_DIR") or Path.cwd() / ".labelwise-cache")


def cache_max_bytes() -> int:
    """The cache's size limit: ``$LABELWISE_CACHE_MAX_BYTES`` or :data:`DEFAULT_CACHE_MAX_BYTES`.

    Raises
    ------
    InvalidInputError
        If the variable is not a positive size such as ``2147483648``, ``500M`` or ``2G``.
    """
    raw = os.environ.get(CACHE_MAX_ENV, "").strip()
    if not raw:
        return DEFAULT_CACHE_MAX_BYTES
    return parse_size(raw, where=CACHE_MAX_ENV)


def parse_size(text: str, *, where: str = "size") -> int:
    """Bytes in ``text``: an integer, optionally with K, M, G or T (powers of 1024, ``B`` and
    ``iB`` allowed after them)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
    value = float(match.group(1)) * _UNITS[match.group(2).upper()] if match else 0
    if not match or value < 1:
        raise InvalidInputError(
            f"{where} must be a positive size in bytes such as 2147483648, 500M or 2G, "
            f"got {text!r}")
    return int(value)


class EmbeddingCache:
    """Embeddings of one encoder on disk, keyed by content hash (SQLite, safe across processes).

    Parameters
    ----------
    folder : path
        Cache folder; the file is ``<folder>/embeddings/<encoder>-<hash of identity>.sqlite``.
    identity : str
        Everything that changes the encoder's output (name, model version, preprocessing).
    max_bytes : int, optional
        Size limit of the whole cache folder (default :func:`cache_max_bytes`).
    """

    def __init__(self, folder: str | Path, identity: str, *, max_bytes: int | None = None):
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", identity)[:40]
        digest = hashlib.sha256(identity.encode()).hexdigest()[:12]
        self.folder = Path(folder)
        self.path = self.folder / "embeddings" / f"{slug}-{digest}.sqlite"
        self.identity = identity
        self.max_bytes = max_bytes

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return _open_db(self.path)

    def get(self, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        """Cached vectors of the ``keys`` that are present (their ``used`` time is renewed)."""
        found: dict[bytes, np.ndarray] = {}
        if not self.path.exists() or not keys:
            return found
        db = self._connect()
        now = time.time()
        try:
            unique = list(dict.fromkeys(keys))
            with db:
                for start in range(0, len(unique), 500):
                    chunk = unique[start:start + 500]
                    marks = ",".join("?" * len(chunk))
                    rows = db.execute(f"SELECT key, vec FROM emb WHERE key IN ({marks})", chunk)
                    for key, blob in rows.fetchall():
                        found[bytes(key)] = np.frombuffer(blob, dtype=np.float32)
                    db.execute(f"UPDATE emb SET used = ? WHERE key IN ({marks})", [now, *chunk])
        finally:
            db.close()
        return found

    def put(self, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        """Store ``vectors`` (float32 rows) under ``keys``, then keep the folder under its limit."""
        now = time.time()
        rows = [(k, np.ascontiguousarray(v, dtype=np.float32).tobytes(), now)
                for k, v in zip(keys, vectors, strict=True)]
        db = self._connect()
        try:
            with db:
                db.executemany("INSERT OR REPLACE INTO emb (key, vec, used) VALUES (?, ?, ?)",
                               rows)
        finally:
            db.close()
        enforce_cache_limit(self.folder, self.max_bytes)


def _open_db(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=30)
    db.execute("CREATE TABLE IF NOT EXISTS emb "
               "(key BLOB PRIMARY KEY, vec BLOB NOT NULL, used REAL NOT NULL DEFAULT 0)")
    columns = {row[1] for row in db.execute("PRAGMA table_info(emb)")}
    if "used" not in columns:  # a cache written before the size limit: its rows count as oldest
        with db:
            db.execute("ALTER TABLE emb ADD COLUMN used REAL NOT NULL DEFAULT 0")
    return db


# --------------------------------------------------------------------------------------------
# size limit


@dataclass(frozen=True)
class CacheEntry:
    """One evictable thing: a pool folder, or one embedding row (``rowid``) of ``path``."""

    used: float
    size: int
    path: Path
    rowid: int | None = None


def _files_size(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except FileNotFoundError:  # another process evicted it meanwhile
                continue
    return total


def cache_size(folder: str | Path) -> int:
    """Bytes of every file under the cache folder."""
    return _files_size(Path(folder))


def touch_pool(folder: Path) -> None:
    """Mark a pool folder as just used (for the LRU order)."""
    # A read-only cache, or a pool evicted meanwhile: the order is only a hint.
    with contextlib.suppress(OSError):
        os.utime(folder / "pool.json")


def _pool_entries(folder: Path) -> list[CacheEntry]:
    entries = []
    root = folder / "pools"
    if not root.is_dir():
        return entries
    for pool in root.iterdir():
        if pool.name.startswith("."):  # a pool being written or removed
            continue
        try:
            used = (pool / "pool.json").stat().st_mtime
        except OSError:
            used = 0.0
        entries.append(CacheEntry(used, _files_size(pool), pool))
    return entries


def _row_entries(path: Path) -> list[CacheEntry]:
    """Rows of one embedding file, sized so that they add up to the file's bytes."""
    db = _open_db(path)
    try:
        rows = db.execute("SELECT rowid, used, length(key) + length(vec) FROM emb").fetchall()
    finally:
        db.close()
    payload = sum(r[2] for r in rows) or 1
    scale = path.stat().st_size / payload  # pages, indexes and free space, spread over rows
    return [CacheEntry(used, int(size * scale), path, rowid) for rowid, used, size in rows]


def enforce_cache_limit(folder: str | Path, max_bytes: int | None = None) -> int:
    """Evict least recently used entries until ``folder`` is under its size limit.

    Does nothing (beyond summing file sizes) while the folder is within ``max_bytes`` (default
    :func:`cache_max_bytes`); over it, evicts down to about :data:`LOW_WATER` of the limit.
    Row sizes are estimates (SQLite pages), so the folder is measured again after each round
    and another round runs while it is still over the limit.

    Returns
    -------
    int
        Number of entries evicted.
    """
    folder = Path(folder)
    limit = cache_max_bytes() if max_bytes is None else int(max_bytes)
    evicted = 0
    total = cache_size(folder)
    while total > limit:
        entries = _entries(folder)
        doomed: list[CacheEntry] = []
        for entry in entries:
            if total <= LOW_WATER * limit and doomed:
                break
            doomed.append(entry)
            total -= entry.size
        if not doomed:
            break
        _evict(doomed)
        evicted += len(doomed)
        total = cache_size(folder)
    return evicted


def _entries(folder: Path) -> list[CacheEntry]:
    """Every pool folder and embedding row, least recently used first."""
    entries = _pool_entries(folder)
    for path in sorted((folder / "embeddings").glob("*.sqlite")):
        entries.extend(_row_entries(path))
    # At equal times pools go before rows (a pool is rebuilt in seconds, rows need the model).
    entries.sort(key=lambda e: (e.used, e.rowid is not None, str(e.path), e.rowid or 0))
    return entries


def _evict(doomed: list[CacheEntry]) -> None:
    rows: dict[Path, list[int]] = {}
    for entry in doomed:
        if entry.rowid is None:
            _remove_folder(entry.path)
        else:
            rows.setdefault(entry.path, []).append(entry.rowid)
    for path, rowids in rows.items():
        db = _open_db(path)
        try:
            with db:
                for start in range(0, len(rowids), 500):
                    chunk = rowids[start:start + 500]
                    db.execute(f"DELETE FROM emb WHERE rowid IN ({','.join('?' * len(chunk))})",
                               chunk)
            db.execute("VACUUM")  # give the pages back: the limit is on bytes on disk
        except sqlite3.OperationalError:  # busy in another process: it shrinks next time
            pass
        finally:
            db.close()


def _remove_folder(path: Path) -> None:
    # Renamed first, so a reader sees the pool whole or not at all.
    trash = path.parent / f".{path.name}.evicted-{os.getpid()}"
    try:
        path.rename(trash)
    except OSError:
        return
    shutil.rmtree(trash, ignore_errors=True)
