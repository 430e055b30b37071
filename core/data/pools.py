"""A pool's graph and density, computed once and stored: in packs, or in the on-disk cache.

Opening a pool for labeling needs two things whose cost grows with the pool: the kNN density
``i`` of every item (what :func:`labelwise.pool_density` computes, and a session would compute
itself) and the pool's kNN graph (:class:`labelwise.PoolGraph`, for the graph model). Both
depend on the vectors only, so they are stored under the vectors' fingerprint
(:func:`vectors_fingerprint`) and found again by it:

1. packs ship them for the pools they are opened with (every item, and the dashboard's labeling
   pool; see :mod:`labelwise.data.packs`);
2. anything else (uploads, other subsets) is computed on first use and kept in the cache folder
   (``<cache>/pools/<fingerprint>/``), within the cache's size limit
   (:mod:`labelwise.data.embedding_cache`).

A pool folder::

    pool.json          format, fingerprint, n_items, how the density and the graph were made
    density.npy        (n,) float64: pool_density(vectors, "knn", normalize=True), exactly
    neighbors.npy      (n, k) int32: the graph's directed kNN lists, most similar first
    similarities.npy   (n, k) float32: their cosine similarities
    rows.npy           only in packs, for a subset pool: the pack rows it holds (int64)

The edge weights are not stored: :func:`labelwise.engine.graph.kernel_weights` recomputes them
from the lists in milliseconds and exactly as :meth:`PoolGraph.build` did, which keeps a pool at
about 8 bytes per item and neighbour (a third of :meth:`PoolGraph.save`'s files). Why two
neighbour searches: the graph is exact up to 50,000 items, while ``pool_density`` (and thus a
session's own density) switches to HNSW above 5,000; the stored density is the latter, so a
session given it behaves exactly as one that computed it.

Everything is plain ``.npy`` and JSON, read with ``allow_pickle=False``, written
deterministically (no timings in the files).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import InvalidInputError, LabelwiseError
from .embedding_cache import default_cache_dir, enforce_cache_limit, touch_pool
from .paths import packs_dir

POOL_FORMAT = 1
POOLS_FOLDER = "pools"
DENSITY_NOTE = "labelwise.pool_density(vectors, 'knn', normalize=True)"


class PoolParts(NamedTuple):
    """What opening a pool needs: its graph and its kNN density."""

    graph: object  # labelwise.PoolGraph (imported lazily: scipy and hnswlib)
    density: np.ndarray


def vectors_fingerprint(vectors: np.ndarray) -> str:
    """SHA-256 (hex) of the vectors as float32 with their shape: the key of a stored pool.

    Ids and labels are not part of it: the graph and density depend on the vectors alone.
    Cost: one pass over the bytes (about 30 ms for 20,000 x 512).
    """
    vectors = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if vectors.ndim != 2:
        raise InvalidInputError(f"vectors must be a 2-D matrix, got shape {vectors.shape}")
    digest = hashlib.sha256(b"labelwise-vectors-v1\n")
    digest.update(f"{vectors.shape}\n".encode())
    digest.update(memoryview(vectors).cast("B"))
    return digest.hexdigest()


def compute_pool(vectors: np.ndarray) -> PoolParts:
    """Graph and density of ``vectors`` (rows validated and normalised as a session does).

    Cost: :meth:`PoolGraph.build` plus :func:`labelwise.pool_density` (exact up to 5,000
    items, HNSW above): about 20 s for 20,000 x 512 on 2 cores.
    """
    from ..engine.graph import PoolGraph
    from ..engine.scorers import pool_density
    from ..engine.vectors import as_unit_rows

    unit = as_unit_rows(np.asarray(vectors), name="vectors")
    graph = PoolGraph.build(unit)
    density = pool_density(unit, "knn")
    return PoolParts(graph, np.asarray(density, dtype=np.float64))


def write_pool(folder: str | Path, parts: PoolParts, fingerprint: str,
               rows: np.ndarray | None = None) -> Path:
    """Write ``parts`` into ``folder`` (which must not exist yet; see :func:`save_pool`)."""
    folder = Path(folder)
    folder.mkdir(parents=True)
    graph = parts.graph
    info = {k: v for k, v in graph.info.items() if k != "seconds"}  # bytes must not vary
    np.save(folder / "density.npy", np.ascontiguousarray(parts.density, dtype=np.float64))
    np.save(folder / "neighbors.npy", np.ascontiguousarray(graph.neighbors, dtype=np.int32))
    np.save(folder / "similarities.npy",
            np.ascontiguousarray(graph.similarities, dtype=np.float32))
    if rows is not None:
        np.save(folder / "rows.npy", np.ascontiguousarray(rows, dtype=np.int64))
    meta = {"format": POOL_FORMAT, "fingerprint": fingerprint, "n_items": graph.n_items,
            "density": DENSITY_NOTE, "bandwidth": graph.bandwidth, "graph": info}
    (folder / "pool.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    return folder


def read_pool(folder: str | Path, vectors: np.ndarray | None = None) -> PoolParts:
    """Read a pool folder; ``vectors`` (the pool, any scale) let the graph answer outside
    queries (:meth:`PoolGraph.search`). Cost: milliseconds (the weights are recomputed).

    Raises
    ------
    LabelwiseError
        If the folder is not a readable pool of this format, or ``vectors`` has another length.
    """
    from ..engine.graph import PoolGraph, kernel_weights
    from ..engine.vectors import as_unit_rows

    folder = Path(folder)
    try:
        meta = json.loads((folder / "pool.json").read_text())
        if meta.get("format") != POOL_FORMAT:
            raise LabelwiseError(f"{folder}: pool format {meta.get('format')!r}, this "
                                 f"labelwise reads format {POOL_FORMAT}")
        density = np.load(folder / "density.npy", allow_pickle=False)
        idx = np.load(folder / "neighbors.npy", allow_pickle=False).astype(np.int64)
        sims = np.load(folder / "similarities.npy", allow_pickle=False)
    except (OSError, ValueError, AttributeError) as exc:
        raise LabelwiseError(f"{folder} is not a readable pool: {exc}") from exc
    n = len(idx)
    if len(density) != n or sims.shape != idx.shape or meta.get("n_items") != n:
        raise LabelwiseError(f"{folder}: pool arrays disagree on the number of items")
    if vectors is not None and len(vectors) != n:
        raise InvalidInputError(f"the pool in {folder} has {n} items, vectors have "
                                f"{len(vectors)}")
    weights, bandwidth = kernel_weights(idx, sims, n)
    unit = None if vectors is None else as_unit_rows(np.asarray(vectors), name="vectors")
    graph = PoolGraph(idx, sims, weights, bandwidth, meta.get("graph", {}), unit)
    return PoolParts(graph, density)


def save_pool(root: str | Path, parts: PoolParts, fingerprint: str,
              rows: np.ndarray | None = None) -> Path:
    """Write ``parts`` as ``root/<fingerprint>``, atomically (staging folder, then rename).

    An existing pool of that fingerprint is kept (same vectors, same contents).
    """
    root = Path(root)
    target = root / fingerprint
    if (target / "pool.json").is_file():
        return target
    staging = root / f".{fingerprint}.staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        write_pool(staging, parts, fingerprint, rows)
        with contextlib.suppress(OSError):  # another process saved it first
            staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def shipped_pool(fingerprint: str) -> Path | None:
    """The folder of a pack's stored pool with this fingerprint, if any pack ships one."""
    root = packs_dir()
    if not root.is_dir():
        return None
    for pack in sorted(root.iterdir()):
        folder = pack / POOLS_FOLDER / fingerprint
        if (folder / "pool.json").is_file():
            return folder
    return None


def pool_parts_for(vectors: np.ndarray, *, cache_dir: str | Path | None = None,
                   cache: bool = True) -> PoolParts:
    """Graph and density of ``vectors``: from a pack, from the cache, or computed and cached.

    Parameters
    ----------
    vectors : ndarray of shape (n, d)
        The pool, any scale (rows are normalised as a session does).
    cache_dir : path, optional
        Cache folder (default ``$LABELWISE_CACHE_DIR`` or ``./.labelwise-cache``).
    cache : bool, default True
        Look up and store in the cache folder (packs are always looked up).

    Returns
    -------
    PoolParts
        ``graph`` (a :class:`labelwise.PoolGraph` holding the unit rows, so it can search) and
        ``density`` (equal to ``labelwise.pool_density(vectors, "knn", normalize=True)``).

    Cost: a fingerprint (one pass over the bytes) and a few ``stat`` calls when stored, plus
    reading ``(n, 10)`` lists; otherwise :func:`compute_pool`.
    """
    fingerprint = vectors_fingerprint(vectors)
    found = shipped_pool(fingerprint)
    root = Path(cache_dir or default_cache_dir()) / POOLS_FOLDER
    if found is None and cache and (root / fingerprint / "pool.json").is_file():
        found = root / fingerprint
    if found is not None:
        try:
            parts = read_pool(found, vectors)
        except LabelwiseError:  # evicted while reading, or damaged: rebuild below
            pass
        else:
            if found.parent == root:
                touch_pool(found)
            return parts
    parts = compute_pool(vectors)
    if cache:
        try:
            save_pool(root, parts, fingerprint)
            enforce_cache_limit(root.parent)
        except OSError:  # a read-only or full disk costs a rebuild next time, nothing more
            pass
    return parts


def pool_graph_for(vectors: np.ndarray, *, cache_dir: str | Path | None = None):
    """:class:`labelwise.PoolGraph` of ``vectors``, stored or cached (:func:`pool_parts_for`)."""
    return pool_parts_for(vectors, cache_dir=cache_dir).graph


def pool_density_for(vectors: np.ndarray, *, cache_dir: str | Path | None = None) -> np.ndarray:
    """kNN density of ``vectors`` as :func:`labelwise.pool_density` gives it, stored or cached."""
    return pool_parts_for(vectors, cache_dir=cache_dir).density
