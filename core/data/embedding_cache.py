"""The embedding cache: vectors on disk, keyed by the SHA-256 of each item's content and the
encoder's identity, in SQLite, so nothing is embedded twice."""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def default_cache_dir() -> Path:
    """``$LABELWISE_CACHE_DIR``, or ``.labelwise-cache`` in the working directory."""
    return Path(os.environ.get("LABELWISE_CACHE_DIR") or Path.cwd() / ".labelwise-cache")


class EmbeddingCache:
    """Embeddings of one encoder on disk, keyed by content hash (SQLite, safe across processes).

    Parameters
    ----------
    folder : path
        Cache folder; the file is ``<folder>/embeddings/<encoder>-<hash of identity>.sqlite``.
    identity : str
        Everything that changes the encoder's output (name, model version, preprocessing).
    """

    def __init__(self, folder: str | Path, identity: str):
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", identity)[:40]
        digest = hashlib.sha256(identity.encode()).hexdigest()[:12]
        self.path = Path(folder) / "embeddings" / f"{slug}-{digest}.sqlite"
        self.identity = identity

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30)
        db.execute("CREATE TABLE IF NOT EXISTS emb (key BLOB PRIMARY KEY, vec BLOB NOT NULL)")
        return db

    def get(self, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        """Cached vectors of the ``keys`` that are present."""
        found: dict[bytes, np.ndarray] = {}
        if not self.path.exists() or not keys:
            return found
        db = self._connect()
        try:
            unique = list(dict.fromkeys(keys))
            for start in range(0, len(unique), 500):
                chunk = unique[start:start + 500]
                marks = ",".join("?" * len(chunk))
                rows = db.execute(f"SELECT key, vec FROM emb WHERE key IN ({marks})", chunk)
                for key, blob in rows:
                    found[bytes(key)] = np.frombuffer(blob, dtype=np.float32)
        finally:
            db.close()
        return found

    def put(self, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        """Store ``vectors`` (float32 rows) under ``keys``."""
        rows = [(k, np.ascontiguousarray(v, dtype=np.float32).tobytes())
                for k, v in zip(keys, vectors, strict=True)]
        db = self._connect()
        try:
            with db:
                db.executemany("INSERT OR REPLACE INTO emb (key, vec) VALUES (?, ?)", rows)
        finally:
            db.close()
