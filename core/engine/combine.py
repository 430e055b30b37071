"""Turning raw scores into a choice: empirical CDFs over the pool, their product, the argmax.

Each enabled score s is mapped to F(x) = #{y in pool: s(y) <= s(x)} / |pool|, so scores on
different scales multiply fairly, and a score that is constant over the pool maps to 1 (neutral).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


def _last_of_tie_group(sorted_values: np.ndarray) -> np.ndarray:
    """For each position of an ascending array, the position of the last value equal to it."""
    n = len(sorted_values)
    is_last = np.ones(n, dtype=bool)
    np.not_equal(sorted_values[1:], sorted_values[:-1], out=is_last[:-1])
    last = np.where(is_last, np.arange(n), n)
    return np.minimum.accumulate(last[::-1])[::-1]


def _first_of_tie_group(sorted_values: np.ndarray) -> np.ndarray:
    """For each position of an ascending array, the position of the first value equal to it."""
    n = len(sorted_values)
    is_first = np.ones(n, dtype=bool)
    np.not_equal(sorted_values[1:], sorted_values[:-1], out=is_first[1:])
    return np.maximum.accumulate(np.where(is_first, np.arange(n), 0))


# Scores with at most this many distinct values (uncertainty under uniform votes takes only a
# handful) get their CDF by counting instead of sorting: 2-4x faster from 100k items up.
FEW_DISTINCT = 12


def empirical_cdf(values: np.ndarray) -> np.ndarray:
    """Empirical CDF of every value within ``values`` (ties share the upper count).

    Examples
    --------
    >>> empirical_cdf(np.array([0.2, 0.5, 0.2, 0.9]))
    array([0.5 , 0.75, 0.5 , 1.  ])
    """
    n = len(values)
    if n == 0:
        return np.empty(0)
    if n > 1000 and len(np.unique(values[:: n // 64])) <= FEW_DISTINCT // 2:
        distinct = np.unique(values)
        if len(distinct) <= FEW_DISTINCT:
            return _cdf_of_few_values(values, distinct)
    # Any sort works (ties are resolved by tie group, not by order): the default introsort is
    # 5-10x faster than a stable sort here.
    order = np.argsort(values)
    out = np.empty(n)
    out[order] = (_last_of_tie_group(values[order]) + 1) / n
    return out


def _cdf_of_few_values(values: np.ndarray, distinct: np.ndarray) -> np.ndarray:
    """Empirical CDF when ``distinct`` (sorted) holds every value: rank by comparisons."""
    rank = np.zeros(len(values), dtype=np.intp)
    for threshold in distinct[1:]:
        rank += values >= threshold
    counts = np.bincount(rank, minlength=len(distinct))
    return (np.cumsum(counts) / len(values))[rank]


class StaticCDF:
    """Empirical CDF of fixed values over a shrinking pool, in O(N) per call instead of a sort.

    The values (e.g. density) never change; only which items are still in the pool does. The
    sort is done once; each call counts pool members in sorted order with a cumulative sum.
    """

    def __init__(self, values: np.ndarray) -> None:
        self.values = values
        self.order = np.argsort(values)
        # For each item, the sorted position of the last value equal to it; for each sorted
        # position, the first position of its tie group.
        sorted_values = values[self.order]
        self.last_position = np.empty(len(values), dtype=np.intp)
        self.last_position[self.order] = _last_of_tie_group(sorted_values)
        self.first_position = _first_of_tie_group(sorted_values)

    def __call__(self, in_pool: np.ndarray, pool_idx: np.ndarray) -> np.ndarray:
        """CDF over the pool, for the items ``pool_idx`` (the True entries of ``in_pool``)."""
        pool_count_up_to = np.cumsum(in_pool[self.order])
        return pool_count_up_to[self.last_position[pool_idx]] / len(pool_idx)


def argmax_random_tie(scores: np.ndarray, rng: np.random.Generator) -> int:
    """Position of the maximum; ties are broken uniformly at random with ``rng``."""
    return choose_among(np.flatnonzero(scores == scores.max()), rng)


def choose_among(best: np.ndarray, rng: np.random.Generator) -> int:
    """One of ``best`` (e.g. the tied argmax set), uniformly with ``rng``; ``rng`` is not drawn
    from when there is a single one, so picks do not depend on how the set was found."""
    return int(best[0] if len(best) == 1 else rng.choice(best))


def product_of(arrays) -> np.ndarray:
    """Elementwise product of equally long arrays (the strategy's S), as float64."""
    arrays = iter(arrays)
    out = np.array(next(arrays), dtype=np.float64)
    for a in arrays:
        out *= a
    return out


# --- The argmax of S without sorting the pool ---------------------------------------------------
#
# S(x) = F_1(x) * ... * F_m(x) <= min_s F_s(x): an item can only beat a product P if each of its
# CDFs does. So it is enough to rank each score's top segment T_s (values at or above a
# threshold): every item outside T_s has F_s at most (pool items below the threshold) / N. The
# items in every T_s get their exact S (the same integer counts over N as the full CDFs, so the
# same floats); if the best of them beats every such bound, it is the exact argmax set of the
# whole pool, ties included. Otherwise the segments grow, and past half the pool the full sort
# runs. At 1M items this replaces two sorts and a cumulative sum over the pool by a few
# comparisons (benchmarks/step_latency.py: 129 -> 117 ms per step; with the hint below and
# bucketed counts, 75 ms).
#
# Any segments give the exact answer; their width only sets the cost. Too narrow costs a round
# (each a few passes over the pool), too wide costs more candidates. When the scores are
# correlated (u and d on the benchmark's clustered pool), max S is far below what independent
# scores would give (about 0.85 at 1M items instead of 0.99), so the default first share
# fails; a search therefore starts from the last search's max S (a :class:`ProductHint`: S
# changes little between labels), and after a failed round, from the best S it did find.

# Below this many pool items the full CDFs are cheap: sort them.
FAST_ARGMAX_MIN_POOL = 8192
# Items sampled to place a segment's threshold (any placement is exact; this one is cheap).
THRESHOLD_SAMPLE = 4096
# A segment is made this many times wider than the share 1 - P of the pool that an item with
# S = P must be above in every score: enough for the sampled threshold's error (about 0.01 of
# the pool with THRESHOLD_SAMPLE items).
SHARE_MARGIN = 1.25
# Growth of the segments after a round that found no candidate at all.
SHARE_GROWTH = 2.5
MAX_SHARE = 0.5


def top_segment_share(n_pool: int) -> float:
    """Share of the pool in each first segment: a few times the expected gap 1 - max S.

    For m independent uniform CDFs the best of n items has 1 - S of order (m!/n)^(1/m); with
    three scores, 4 n^(-1/3) covers that gap about twice over.
    """
    return min(MAX_SHARE, 4.0 * n_pool ** (-1 / 3))


def share_for(best_s: float, n_pool: int) -> float:
    """Segment share sure (up to the sampled thresholds) to hold an item with S >= ``best_s``:
    such an item has every F_s >= best_s, so it is in the top 1 - best_s of every score."""
    return min(MAX_SHARE, max(top_segment_share(n_pool), SHARE_MARGIN * (1.0 - best_s)))


@dataclass
class ProductHint:
    """The largest S the last search of a product found (None before the first): where the
    next search of the same product starts. Only the cost depends on it, never the result."""

    best_s: float | None = None

    def first_share(self, n_pool: int) -> float:
        if self.best_s is None:
            return top_segment_share(n_pool)
        return share_for(self.best_s, n_pool)


@dataclass
class Segment:
    """The pool items at or above a threshold of one score, ranked among the whole pool."""

    mask: np.ndarray          # over all items: in the pool and in the segment
    below: int                # pool items strictly below the segment
    cdf_of: Callable[[np.ndarray], np.ndarray]   # items of the segment -> their pool counts


def dynamic_segment(values: np.ndarray, in_pool: np.ndarray, share: float) -> Segment:
    """Segment of a score whose values change between calls: threshold from a strided sample."""
    stride = max(1, len(values) // THRESHOLD_SAMPLE)
    sample = values[::stride][in_pool[::stride]]
    if not len(sample):
        sample = values[in_pool]
    cut = min(len(sample) - 1, int(len(sample) * (1.0 - share)))
    threshold = np.partition(sample, cut)[cut]
    mask = in_pool & (values >= threshold)
    below = int(np.count_nonzero(in_pool)) - int(np.count_nonzero(mask))
    # np.compress: 4-5x faster than values[mask] for a mask over a large pool.
    segment_values = np.compress(mask, values)

    def cdf_of(items: np.ndarray) -> np.ndarray:
        # For each distinct candidate value, the segment values at or below it (no sort of the
        # segment: it may be a large tie group).
        distinct, which = np.unique(values[items], return_inverse=True)
        return below + count_at_or_below(segment_values, distinct)[which]

    return Segment(mask, below, cdf_of)


# Up to this many distinct values, count_at_or_below runs one binary search per value.
FEW_EDGES = 16
# Otherwise it buckets the values into this many bins per edge (at most MAX_BINS): then about
# one value in BINS_PER_EDGE shares a bin with an edge.
BINS_PER_EDGE = 64
MAX_BINS = 1 << 20


def count_at_or_below(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """For each of the sorted, distinct ``edges``, how many ``values`` are <= it (int64).

    The same counts as a binary search of every value among the edges, but with many edges
    (hundreds for d's candidates) that search costs ~50 ns a value. Instead the values are
    bucketed by one monotone arithmetic map (a uniform grid over the edges): a value in a bin
    holding no edge is <= an edge exactly when its bin is below the edge's bin, so only the
    few values that share a bin with an edge are searched.
    """
    m = len(edges)
    n_bins = min(m * BINS_PER_EDGE, MAX_BINS)
    # In Python floats: an overflow gives inf (then the search), not a warning.
    span = float(edges[-1]) - float(edges[0]) if m else 0.0
    scale = n_bins / span if span > 0 else 0.0
    if m <= FEW_EDGES or not (np.isfinite(span) and np.isfinite(scale) and scale > 0):
        return _counts_by_search(values, edges)

    def bin_of(x: np.ndarray) -> np.ndarray:
        # Non-decreasing in x: every float step (subtract, scale, floor, clip) is monotone;
        # a value far outside the edges may overflow to +-inf, which clips to an end bin.
        with np.errstate(over="ignore"):
            raw = np.floor((x - edges[0]) * scale)
        return np.clip(raw, -1, n_bins + 1, out=raw).astype(np.intp) + 1

    value_bins, edge_bins = bin_of(values), bin_of(edges)
    shared = np.zeros(n_bins + 3, dtype=bool)
    shared[edge_bins] = True
    searched = shared[value_bins]
    # Values outside the edges' bins, counted per bin, then below each bin.
    others = (np.bincount(value_bins, minlength=n_bins + 3)
              - np.bincount(np.compress(searched, value_bins), minlength=n_bins + 3))
    below_bin = np.cumsum(others) - others
    return below_bin[edge_bins] + _counts_by_search(np.compress(searched, values), edges)


def _counts_by_search(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    first_at_or_above = np.searchsorted(edges, values, side="left")
    return np.cumsum(np.bincount(first_at_or_above, minlength=len(edges) + 1))[:len(edges)]


def static_segment(cdf: StaticCDF, in_pool: np.ndarray, n_pool: int, share: float) -> Segment:
    """Segment of a fixed score: the top of its sorted order, widened to whole tie groups."""
    n = len(cdf.order)
    start = int(cdf.first_position[max(0, n - int(np.ceil(share * n)))])
    block = cdf.order[start:]
    block_in_pool = in_pool[block]
    counts = np.cumsum(block_in_pool)
    below = n_pool - int(counts[-1]) if len(counts) else n_pool
    mask = np.zeros(len(in_pool), dtype=bool)
    mask[np.compress(block_in_pool, block)] = True

    def cdf_of(items: np.ndarray) -> np.ndarray:
        return below + counts[cdf.last_position[items] - start]

    return Segment(mask, below, cdf_of)


def best_of_product(sources: Sequence[tuple[np.ndarray, StaticCDF | None]],
                    in_pool: np.ndarray, *, min_pool: int = FAST_ARGMAX_MIN_POOL,
                    hint: ProductHint | None = None) -> np.ndarray:
    """Items of the pool where the product of the scores' pool CDFs is largest, ascending.

    ``sources`` holds, per score, its values over all items and, for a fixed score, its
    :class:`StaticCDF` (None otherwise). The result is exactly
    ``pool[S == S.max()]`` with ``S = product_of(cdfs)`` and the CDFs of :func:`empirical_cdf`.
    ``hint`` (updated in place) sets where the search starts: pass the same one for the same
    product label after label.
    """
    n_pool = int(np.count_nonzero(in_pool))
    share = (hint or ProductHint()).first_share(max(n_pool, 1))
    while n_pool >= min_pool:
        best, best_s = _best_in_segments(sources, in_pool, n_pool, share)
        if best is not None:
            if hint is not None:
                hint.best_s = best_s
            return best
        if share >= MAX_SHARE:
            break
        # The pool holds an item with S >= best_s: segments that hold it succeed.
        grown = share * SHARE_GROWTH if best_s is None else share_for(best_s, n_pool)
        share = min(MAX_SHARE, max(grown, share * SHARE_MARGIN))
    return _best_by_full_cdfs(sources, in_pool)


def _best_in_segments(sources, in_pool: np.ndarray, n_pool: int,
                      share: float) -> tuple[np.ndarray | None, float | None]:
    """(the argmax set, its S) when the segments prove it; else (None, the best S of the
    candidates, None without any)."""
    segments = [static_segment(cdf, in_pool, n_pool, share) if cdf is not None
                else dynamic_segment(values, in_pool, share) for values, cdf in sources]
    mask = segments[0].mask
    for segment in segments[1:]:
        mask = mask & segment.mask
    candidates = np.flatnonzero(mask)
    if not len(candidates):
        return None, None
    product = product_of(segment.cdf_of(candidates) / n_pool for segment in segments)
    top = product.max()
    # Anything outside some segment has S <= that segment's bound.
    if top <= max(segment.below for segment in segments) / n_pool:
        return None, float(top)
    return candidates[product == top], float(top)


def _best_by_full_cdfs(sources, in_pool: np.ndarray) -> np.ndarray:
    pool_idx = np.flatnonzero(in_pool)
    cdfs = [cdf(in_pool, pool_idx) if cdf is not None else empirical_cdf(values[pool_idx])
            for values, cdf in sources]
    product = product_of(cdfs)
    return pool_idx[product == product.max()]
