"""Nearest-neighbour search over unit vectors: exact for small sets, HNSW (hnswlib) above.

HNSW parameters (see hnswlib's ALGO_PARAMS): ``M=16`` links per node, ``ef_construction=200``,
``ef=max(64, 2k)`` at query time. Items are inserted with one thread and a fixed ``random_seed``
so the graph, and every score derived from it, is reproducible. hnswlib does not store ``ef``
with a saved index and raises when ``k`` exceeds the live items, so both are handled here.
Measured recall against exact search is checked in ``tests/test_index.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import hnswlib
import numpy as np

from ..errors import InvalidInputError
from .topk import top_k
from .vectors import check_same_dimension

# Below this many items a chunked brute-force matmul is both exact and faster than a graph.
EXACT_THRESHOLD = 5000
CHUNK_ROWS = 2048
#: Above this many items the kNN density is estimated against a reference sample
#: (:func:`sampled_knn_density`): the HNSW graph of every item takes minutes there (a 1M x 512
#: pool: more than 6 minutes on 2 cores), the sample about 20 seconds.
LARGE_POOL = 200_000
#: Size of that reference sample, and the seed of its draw (its own generator: the estimate
#: is a function of the pool alone, the same in every session).
REFERENCE_SIZE = 2048
REFERENCE_SEED = 0


@dataclass(frozen=True)
class HnswParams:
    M: int = 16
    ef_construction: int = 200
    ef_search: int = 64
    seed: int = 100


class NeighborIndex:
    """k-nearest-neighbour search by cosine similarity over unit-norm float32 rows.

    Parameters
    ----------
    vectors : ndarray of shape (n, d), float32, unit rows
        Items to search (already validated with :func:`labelwise.engine.vectors.as_unit_rows`).
    exact_threshold : int
        Up to this many items, search is exact brute force; above, an HNSW graph is built.
    params : HnswParams
        Graph parameters.
    """

    def __init__(self, vectors: np.ndarray, *, exact_threshold: int = EXACT_THRESHOLD,
                 params: HnswParams | None = None) -> None:
        self.params = params or HnswParams()
        self.exact_threshold = exact_threshold
        self.dim = vectors.shape[1]
        self._vectors = np.empty((0, self.dim), dtype=np.float32)
        self._graph: hnswlib.Index | None = None
        self.add(vectors)

    def __len__(self) -> int:
        return len(self._vectors)

    @property
    def vectors(self) -> np.ndarray:
        """The indexed items, in insertion order (read-only view)."""
        view = self._vectors.view()
        view.flags.writeable = False
        return view

    @property
    def exact(self) -> bool:
        return self._graph is None

    def add(self, vectors: np.ndarray) -> None:
        """Append items; switches to an HNSW graph once the exact threshold is crossed."""
        check_same_dimension(vectors, self.dim, name="new vectors")
        start = len(self._vectors)
        self._vectors = np.concatenate([self._vectors, vectors]) if start else vectors
        if self._graph is None and len(self._vectors) > self.exact_threshold:
            self._graph = self._new_graph(len(self._vectors))
            self._insert(self._vectors, 0)
        elif self._graph is not None:
            if len(self._vectors) > self._graph.get_max_elements():
                self._graph.resize_index(2 * len(self._vectors))
            self._insert(vectors, start)

    def _new_graph(self, capacity: int) -> hnswlib.Index:
        p = self.params
        graph = hnswlib.Index(space="ip", dim=self.dim)
        graph.init_index(max_elements=max(capacity, 1), ef_construction=p.ef_construction,
                         M=p.M, random_seed=p.seed)
        return graph

    def _insert(self, vectors: np.ndarray, start: int) -> None:
        ids = np.arange(start, start + len(vectors))
        # One thread: multi-threaded insertion order is not deterministic.
        self._graph.add_items(vectors, ids, num_threads=1)

    def query(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` most similar items to each query (k is clipped to the number of items).

        Returns
        -------
        indices : ndarray of shape (m, k'), int64
        similarities : ndarray of shape (m, k'), float32, sorted descending per row
        """
        check_same_dimension(queries, self.dim, name="queries")
        if k < 1:
            raise InvalidInputError(f"k must be at least 1, got {k}")
        k = min(k, len(self))
        if self._graph is None:
            return exact_top_k(queries, self._vectors, k)
        self._graph.set_ef(max(self.params.ef_search, 2 * k))
        labels, dist = self._graph.knn_query(queries, k=k, num_threads=1)
        return labels.astype(np.int64), (1.0 - dist).astype(np.float32)


def exact_top_k(queries: np.ndarray, vectors: np.ndarray, k: int,
                exclude_self: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force top-k by dot product, in row chunks; ties go to the lower index.

    With ``exclude_self`` the queries are ``vectors`` themselves and each row skips its own item.
    """
    m = len(queries)
    out_idx = np.empty((m, k), dtype=np.int64)
    out_sim = np.empty((m, k), dtype=np.float32)
    for lo in range(0, m, CHUNK_ROWS):
        sims = queries[lo:lo + CHUNK_ROWS] @ vectors.T
        if exclude_self:
            rows = np.arange(len(sims))
            sims[rows, rows + lo] = -np.inf
        order, best = top_k(sims, k, overwrite=True)
        out_idx[lo:lo + CHUNK_ROWS] = order
        out_sim[lo:lo + CHUNK_ROWS] = best
    return out_idx, out_sim


def knn_density(vectors: np.ndarray, n_neighbors: int = 10, *,
                exact_threshold: int = EXACT_THRESHOLD,
                params: HnswParams | None = None) -> np.ndarray:
    """Informational density ``i_knn``: mean similarity to the nearest other pool items.

    ``n_neighbors`` is clipped to ``n - 1``; a one-item pool has density 0 (a constant, so it is
    neutral once turned into an empirical CDF).
    """
    n = len(vectors)
    k = min(n_neighbors, n - 1)
    if k < 1:
        return np.zeros(n)
    if n <= exact_threshold:
        _, sims = exact_top_k(vectors, vectors, k, exclude_self=True)
        return sims.astype(np.float64).mean(axis=1)
    index = NeighborIndex(vectors, exact_threshold=exact_threshold, params=params)
    idx, sims = index.query(vectors, k + 1)
    is_self = idx == np.arange(n)[:, None]
    keep = ~is_self
    # Rows where the graph did not return the item itself (duplicates): drop the farthest.
    keep[is_self.sum(axis=1) == 0, -1] = False
    return sims[keep].reshape(n, k).astype(np.float64).mean(axis=1)


def sampled_knn_density(vectors: np.ndarray, n_neighbors: int = 10, *,
                        reference: int = REFERENCE_SIZE, seed: int = REFERENCE_SEED,
                        chunk_rows: int = 4 * CHUNK_ROWS) -> np.ndarray:
    """Estimated ``i_knn``: mean similarity to the ``n_neighbors`` nearest items of a fixed
    random sample of ``reference`` pool items (an item of the sample skips itself).

    The same statistic as :func:`knn_density` at a coarser scale: the nearest items of a
    sample of ``m`` out of ``n`` stand for roughly the nearest ``n_neighbors * n / m`` of the
    pool, so dense regions still rank above sparse ones (only the ranks matter to the
    strategy's empirical CDF I). ``benchmarks/large_pool.py`` reports its rank agreement with
    the exact density. Reproducible: the sample depends on ``n`` and ``seed`` only.

    Cost: ``n * reference * d`` multiply-adds and a sort of each ``chunk_rows x reference``
    block of similarities (a float32 SIMD sort: several times faster here than a partition);
    memory: one block. A pool no larger than ``reference`` gets :func:`knn_density`.
    """
    n = len(vectors)
    if n <= reference:
        return knn_density(vectors, n_neighbors)
    k = min(n_neighbors, reference - 1)
    sample = np.sort(np.random.default_rng(seed).choice(n, reference, replace=False))
    ref = np.ascontiguousarray(vectors[sample].T)
    position = np.full(n, -1, dtype=np.int64)
    position[sample] = np.arange(reference)
    out = np.empty(n)
    for lo in range(0, n, chunk_rows):
        sims = vectors[lo:lo + chunk_rows] @ ref
        rows = np.flatnonzero(position[lo:lo + chunk_rows] >= 0)
        sims[rows, position[lo + rows]] = -np.inf
        sims.sort(axis=1)
        out[lo:lo + chunk_rows] = sims[:, -k:].astype(np.float64).mean(axis=1)
    return out


def global_density(vectors: np.ndarray, chunk_rows: int = CHUNK_ROWS) -> np.ndarray:
    """Informational density ``i_global = -(1/N) sum_j ||x - x_j||`` over the whole pool.

    Euclidean distance between unit rows is ``sqrt(2 - 2 cos)``. This is exact and costs
    O(N^2 d) time (N^2 / 2 * d multiply-adds in chunks of ``chunk_rows`` rows) and
    O(chunk_rows * N) memory: fine for tens of thousands of items, slow beyond.
    """
    n = len(vectors)
    out = np.empty(n)
    for lo in range(0, n, chunk_rows):
        sims = vectors[lo:lo + chunk_rows] @ vectors.T
        dist = np.sqrt(np.clip(2.0 - 2.0 * sims.astype(np.float64), 0.0, None))
        # An item's distance to itself is 0, not the sqrt of float32 rounding noise.
        rows = np.arange(len(dist))
        dist[rows, rows + lo] = 0.0
        out[lo:lo + chunk_rows] = -dist.sum(axis=1) / n
    return out
