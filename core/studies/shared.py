"""What every task of one simulation shares: unit vectors, class codes, the Gram matrix, and
each fold's pool density (and, for the graph model, the fold pool's graph), computed once per
call.

With the whole item-by-item cosine similarity (Gram) matrix in memory (when it fits in
``max_bytes``), labeling an item reads one of its rows instead of streaming the pool through a
matrix-vector product, and both density kinds of every fold come exactly from it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..engine.graph import PoolGraph
from ..engine.scorers import DENSITY_NEIGHBORS, pool_density
from ..engine.topk import top_k
from .folds import Fold

# Neighbours kept per item to derive every fold's exact kNN density from one pass over the
# Gram matrix: a fold removes ~10% of the items, so 10 pool neighbours are almost always among
# the first 32; rows where they are not are recomputed exactly.
DENSITY_CANDIDATES = 32
CHUNK_ROWS = 1024


@dataclass
class SharedData:
    """Per-call data every task reads: unit vectors, class codes, optional Gram matrix."""

    vectors: np.ndarray
    codes: np.ndarray
    classes: list
    gram: np.ndarray | None

    def pool_similarities(self, fold: Fold) -> Callable[[int], np.ndarray] | None:
        """``f(item)``: similarity of every pool item to pool item ``item`` (a Gram row), or
        None without the Gram matrix."""
        if self.gram is None:
            return None
        gram, pool = self.gram, fold.pool
        return lambda item: gram[pool[item]][pool]

    def test_similarities(self, fold: Fold) -> Callable[[int], np.ndarray]:
        """``f(item)``: similarity of every test item of ``fold`` to pool item ``item``."""
        if self.gram is not None:
            gram, pool, test = self.gram, fold.pool, fold.test
            return lambda item: gram[pool[item]][test]
        test_vectors, vectors, pool = self.vectors[fold.test], self.vectors, fold.pool
        return lambda item: test_vectors @ vectors[pool[item]]


def gram_matrix(vectors: np.ndarray, max_bytes: int) -> np.ndarray | None:
    """``vectors @ vectors.T`` when it takes at most ``max_bytes`` (float32), else None."""
    n = len(vectors)
    if n * n * 4 > max_bytes:
        return None
    return vectors @ vectors.T


def density_candidates(gram: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Each item's ``m`` most similar other items, best first (ties: lower index first)."""
    n = len(gram)
    m = max(min(m, n - 1), 0)
    idx = np.empty((n, m), dtype=np.int64)
    sim = np.empty((n, m), dtype=np.float32)
    for lo in range(0, n, CHUNK_ROWS):
        block = gram[lo:lo + CHUNK_ROWS].copy()
        rows = np.arange(len(block))
        block[rows, rows + lo] = -np.inf
        idx[lo:lo + CHUNK_ROWS], sim[lo:lo + CHUNK_ROWS] = top_k(block, m, overwrite=True)
    return idx, sim


def fold_knn_density(shared: SharedData, fold: Fold, candidates) -> np.ndarray:
    """Exact ``knn_density`` of the fold's pool, read from the precomputed candidates."""
    pool = fold.pool
    k = min(DENSITY_NEIGHBORS, len(pool) - 1)
    if k < 1:
        return np.zeros(len(pool))
    cand_idx, cand_sim = candidates
    in_pool = np.zeros(len(shared.vectors), dtype=bool)
    in_pool[pool] = True
    keep = in_pool[cand_idx[pool]]
    # The first k pool members of each row's candidate list are its k nearest pool neighbours.
    rank = np.cumsum(keep, axis=1)
    take = keep & (rank <= k)
    enough = rank[:, -1] >= k
    density = np.empty(len(pool))
    sims = np.where(take, cand_sim[pool].astype(np.float64), 0.0)
    density[enough] = sims[enough].sum(axis=1) / k
    short = np.flatnonzero(~enough)
    if short.size:
        block = shared.gram[np.ix_(pool[short], pool)].astype(np.float64)
        block[np.arange(len(short)), short] = -np.inf
        density[short] = -np.sort(-block, axis=1)[:, :k].mean(axis=1)
    return density


def fold_global_density(shared: SharedData, fold: Fold, row_distance_sums) -> np.ndarray:
    """Exact ``global_density`` of the fold's pool: all-item distance sums minus test columns."""
    test_dist = np.sqrt(np.clip(
        2.0 - 2.0 * shared.gram[np.ix_(fold.pool, fold.test)].astype(np.float64), 0.0, None))
    return -(row_distance_sums[fold.pool] - test_dist.sum(axis=1)) / len(fold.pool)


def row_distance_sums(gram: np.ndarray) -> np.ndarray:
    """Each item's summed Euclidean distance to every item, from the Gram matrix."""
    n = len(gram)
    out = np.empty(n)
    for lo in range(0, n, CHUNK_ROWS):
        dist = np.sqrt(np.clip(2.0 - 2.0 * gram[lo:lo + CHUNK_ROWS].astype(np.float64),
                               0.0, None))
        rows = np.arange(len(dist))
        dist[rows, rows + lo] = 0.0
        out[lo:lo + CHUNK_ROWS] = dist.sum(axis=1)
    return out


def _pool_densities(vectors: np.ndarray, kinds: set[str]) -> dict[str, np.ndarray]:
    return {kind: pool_density(vectors, kind) for kind in sorted(kinds)}


def fold_densities(shared: SharedData, folds: Sequence[Fold], kinds: Iterable[str],
                   n_jobs: int = 1) -> list[dict[str, np.ndarray]]:
    """Density ``i`` of every fold's pool for each density kind in ``kinds``, computed once.

    With the Gram matrix both kinds are exact and cheap. Without it each fold's pool is
    processed like a session's (hnswlib above 5,000 items), ``n_jobs`` folds at a time.
    """
    kinds = set(kinds)
    out: list[dict[str, np.ndarray]] = [{} for _ in folds]
    if not kinds:
        return out
    if shared.gram is None:
        from joblib import Parallel, delayed

        # Threads: hnswlib and BLAS release the GIL, and the vectors are not copied.
        return Parallel(n_jobs=n_jobs, prefer="threads")(
            delayed(_pool_densities)(shared.vectors[fold.pool], kinds) for fold in folds)
    candidates = density_candidates(shared.gram, DENSITY_CANDIDATES) if "knn" in kinds else None
    distance_sums = row_distance_sums(shared.gram) if "global" in kinds else None
    for fold, dens in zip(folds, out, strict=True):
        if candidates is not None:
            dens["knn"] = fold_knn_density(shared, fold, candidates)
        if distance_sums is not None:
            dens["global"] = fold_global_density(shared, fold, distance_sums)
    return out


def _fold_graph(vectors: np.ndarray) -> PoolGraph:
    graph = PoolGraph.build(vectors)
    # Tasks ship the graph to workers: without the pool vectors (each session has them and
    # attaches its own), so they are not pickled once per task.
    graph.vectors = None
    return graph


def fold_graphs(shared: SharedData, folds: Sequence[Fold], n_jobs: int = 1) -> list[PoolGraph]:
    """The pool graph (:class:`~labelwise.engine.graph.PoolGraph`) of every fold, built once
    and shared by the fold's strategies; ``n_jobs`` folds at a time (threads: the exact build
    is BLAS, which releases the GIL). Exact below 50,000 items, so reproducible."""
    if n_jobs == 1 or len(folds) < 2:
        return [_fold_graph(shared.vectors[fold.pool]) for fold in folds]
    from joblib import Parallel, delayed

    return Parallel(n_jobs=n_jobs, prefer="threads")(
        delayed(_fold_graph)(shared.vectors[fold.pool]) for fold in folds)
