"""Label quality: a review queue of likely mistakes, near-duplicates, and "more like this".

Review queue (confident-learning style, Northcutt, Jiang & Chuang 2021, "Confident learning:
estimating uncertainty in dataset labels", JAIR): every labeled item is judged by the model
built *without* it. Its ``score`` is the out-of-sample probability of the label it was given
(the "self-confidence"); a low score means the other labels disagree with it. For the kNN vote
the leave-one-out model is exact and cheap: an item's vote without itself is the vote of its
``k`` most similar *other* labeled items (ties to the earlier label, as in the session), one
blocked matrix product over the labeled items. For the graph model
(:meth:`labelwise.engine.graph.GraphModel.loo_scores`) removing one label subtracts its stored
vector, so that is exact too.

Near-duplicates: pairs of items whose cosine similarity is at least a threshold, found with the
one neighbour search (:class:`labelwise.engine.index.NeighborIndex`: exact up to 5,000 items,
HNSW above), grouped by connected components. :func:`suggest_threshold` proposes a threshold
from the pool itself (see there).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InvalidInputError, UnknownItemError
from . import knn
from .index import NeighborIndex, exact_top_k
from .vectors import as_unit_rows
from .view import LabeledView

if TYPE_CHECKING:
    import pandas as pd

#: Columns of :func:`suspect_labels`.
SUSPECT_COLUMNS = ("item", "label", "suggested", "score", "rank", "reason")
#: Default neighbours and weights of the review queue's leave-one-out vote. Not the session's
#: k=5, uniform: on 300 random labels with 5% flipped, 5-NN put 0.78 flipped labels in the top
#: 10 on fruits, 15-NN similarity-weighted 0.96 (benchmarks/results/label_quality.md). Finer
#: probabilities leave fewer ties at the bottom of the queue, and similarity weights let the
#: nearest neighbours count most.
REVIEW_K = 15
REVIEW_WEIGHTS = "similarity"
#: Candidate ``k`` for ``k="auto"``: the one with the best leave-one-out accuracy wins.
AUTO_K = (3, 5, 7, 10, 15, 20)
#: Neighbours per item searched for near-duplicate pairs (a group larger than this is still
#: found whole when its members chain: components, not cliques).
DUPLICATE_NEIGHBORS = 10
#: Robust z below which an item's nearest-neighbour distance counts as a near-duplicate
#: (see :func:`suggest_threshold`).
DUPLICATE_Z = 4.0


# -- leave-one-out -------------------------------------------------------------------------------
@dataclass(frozen=True)
class LooVotes:
    """Leave-one-out kNN read-out of the labeled items (in labeling order).

    Attributes
    ----------
    items : ndarray of shape (L,), int64
    codes : ndarray of shape (L,), int64
        The class code each was given.
    proba : ndarray of shape (L, C)
        Class probabilities from the other labels only.
    predicted : ndarray of shape (L,), int64
        Out-of-sample winner (-1 when the item is the only label).
    neighbor_items, neighbor_codes : ndarray of shape (L, k')
        The other labeled items that voted, best first, and their classes.
    """

    items: np.ndarray
    codes: np.ndarray
    proba: np.ndarray
    predicted: np.ndarray
    neighbor_items: np.ndarray
    neighbor_codes: np.ndarray


def knn_loo(vectors: np.ndarray, items: np.ndarray, codes: np.ndarray, n_classes: int, *,
            k: int = 5, weights: str = "uniform") -> LooVotes:
    """Exact leave-one-out kNN vote of each labeled item by the other labeled items.

    Parameters
    ----------
    vectors : ndarray of shape (n, d), unit rows
        The pool.
    items : ndarray of shape (L,)
        Labeled items in labeling order (equal similarities go to the earlier label).
    codes : ndarray of shape (L,)
        Their class codes, ``0 <= code < n_classes``.
    n_classes : int
    k : int, default=5
    weights : {"uniform", "similarity"}

    Returns
    -------
    LooVotes

    Notes
    -----
    Equal to :meth:`LabelingSession.predict_proba` of item ``j`` in a session holding every
    label but ``j``'s, in the same order (``tests/test_quality.py`` checks it). Cost:
    ``O(L^2 d)`` in blocks of rows.
    """
    items = np.asarray(items, dtype=np.int64)
    codes = np.asarray(codes, dtype=np.int64)
    take = min(int(k), len(items) - 1)
    if take < 1:
        empty = np.empty((len(items), 0), dtype=np.int64)
        return LooVotes(items, codes, np.zeros((len(items), n_classes)),
                        np.full(len(items), -1, dtype=np.int64), empty, empty)
    labeled = np.ascontiguousarray(vectors[items])
    pos, sims = exact_top_k(labeled, labeled, take, exclude_self=True)
    cls = codes[pos]
    votes = knn.class_votes(sims, cls, n_classes, knn.check_weights(weights))
    return LooVotes(items, codes, knn.probabilities(votes), knn.winners(votes, sims, cls),
                    items[pos], cls)


def choose_k(vectors: np.ndarray, items: np.ndarray, codes: np.ndarray, n_classes: int, *,
             weights: str = "uniform", candidates: Sequence[int] = AUTO_K) -> int:
    """The ``k`` among ``candidates`` with the best leave-one-out accuracy on the labels.

    Ties go to the smaller ``k``. Uses the labels only (no ground truth), so it can run on a
    live project.
    """
    best_k, best = int(candidates[0]), -1.0
    for k in candidates:
        loo = knn_loo(vectors, items, codes, n_classes, k=k, weights=weights)
        accuracy = float(np.mean(loo.predicted == codes)) if len(codes) else 0.0
        if accuracy > best + 1e-12:
            best_k, best = int(k), accuracy
    return best_k


# -- the review queue ----------------------------------------------------------------------------
def suspect_labels(source: Any, *, k: int | str | None = None, weights: str | None = None,
                   model: str | None = None, graph_model: Any = None) -> pd.DataFrame:
    """Labeled items ranked by how likely their label is wrong, most suspect first.

    Parameters
    ----------
    source : LabelingSession or LabeledView
        The labeled state. A session whose ``model_name`` is ``"graph"`` is judged by its graph
        model (found as ``graph_model`` on the session) unless ``model`` says otherwise.
    k : int or "auto", optional
        Neighbours of the leave-one-out vote; default :data:`REVIEW_K` (15, clipped to the
        other labels). ``"auto"`` picks the best of :data:`AUTO_K` by leave-one-out accuracy
        of the labels (measured worse than 15 on fruits and digits). With few labels per class
        a large ``k`` reaches into other classes, so small classes score lower throughout.
    weights : {"uniform", "similarity"}, optional
        Default :data:`REVIEW_WEIGHTS` (similarity).
    model : {"knn", "graph"}, optional
        Which out-of-sample model judges; default ``getattr(session, "model_name", "knn")``.
        On 300 random labels with 5% flipped the graph found more of the flips than the kNN
        vote on fruits and digits (benchmarks/results/label_quality.md).
    graph_model : GraphModel, optional
        The graph model (class codes = the session's class codes) for ``model="graph"``;
        default the session's ``graph_model``, else one is built on the session's ``graph``
        (or a new :class:`~labelwise.engine.graph.PoolGraph`) with the current labels: seconds
        to tens of seconds on thousands of items.

    Returns
    -------
    pandas.DataFrame
        One row per labeled item, columns :data:`SUSPECT_COLUMNS`: ``item`` (pool index),
        ``label`` (given), ``suggested`` (the out-of-sample winner, None when no other label
        votes), ``score`` (out-of-sample probability of the given label, 0 to 1), ``rank``
        (1 = most suspect) and ``reason`` (in words). Sorted by rank: lowest score first;
        among equal scores the one whose suggested class is more probable first, then the
        earlier label.
    """
    import pandas as pd

    view = source.view() if hasattr(source, "view") and not isinstance(source, LabeledView) \
        else source
    if not isinstance(view, LabeledView):
        raise InvalidInputError("suspect_labels needs a LabelingSession or its LabeledView, "
                                f"got {type(source).__name__}")
    model = model or getattr(source, "model_name", "knn")
    items = view.labeled
    codes = view.codes[items].astype(np.int64)
    classes = view.classes
    if model == "graph":
        graph_model = graph_model if graph_model is not None else getattr(
            source, "graph_model", None)
        if graph_model is None:
            graph_model = _build_graph_model(view, items, codes, getattr(source, "graph", None))
        proba, predicted, reasons = _graph_loo(graph_model, items, len(classes), classes)
    elif model == "knn":
        weights = weights or REVIEW_WEIGHTS
        k = _resolve_k(view, items, codes, k, weights)
        loo = knn_loo(view.vectors, items, codes, len(classes), k=k, weights=weights)
        proba, predicted = loo.proba, loo.predicted
        reasons = [_knn_reason(row, classes) for row in loo.neighbor_codes]
    else:
        raise InvalidInputError(f"model must be 'knn' or 'graph', got {model!r}")
    return _queue(pd, items, codes, proba, predicted, reasons, classes)


def _resolve_k(view: LabeledView, items: np.ndarray, codes: np.ndarray, k, weights: str) -> int:
    if k is None:
        return REVIEW_K
    if k == "auto":
        return choose_k(view.vectors, items, codes, view.n_classes, weights=weights)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InvalidInputError(f"k must be a positive integer or 'auto', got {k!r}")
    return int(k)


def _build_graph_model(view: LabeledView, items: np.ndarray, codes: np.ndarray, graph=None):
    """A graph model holding the view's labels, on ``graph`` or a pool graph built here."""
    from .graph import GraphModel, PoolGraph  # scipy's sparse graph only when asked for

    model = GraphModel(graph if graph is not None else PoolGraph.build(
        np.ascontiguousarray(view.vectors)))
    for item, code in zip(items.tolist(), codes.tolist(), strict=True):
        model.add(item, code)
    return model


def _graph_loo(graph_model: Any, items: np.ndarray, n_classes: int, classes) -> tuple:
    """Leave-one-out probabilities of ``items`` (labeling order) from the graph model."""
    g_items, _, rows = graph_model.loo_scores()
    where = {int(item): n for n, item in enumerate(g_items)}
    missing = [int(i) for i in items if int(i) not in where]
    if missing:
        raise InvalidInputError(f"the graph model does not hold the labels of items "
                                f"{missing[:5]}: it is out of step with the session")
    rows = rows[[where[int(i)] for i in items]]
    full = np.zeros((len(items), n_classes))
    full[:, :rows.shape[1]] = np.maximum(rows, 0.0)
    total = full.sum(axis=1, keepdims=True)
    proba = np.divide(full, total, out=np.zeros_like(full), where=total > 0)
    top = proba.max(axis=1) if n_classes else np.zeros(len(items))
    predicted = np.where(top > 0, proba.argmax(axis=1) if n_classes else -1, -1)
    reasons = [f"label spreading from the other labels gives {_top_text(row, classes)}"
               if row.sum() > 0 else "no other label reaches it in the pool graph"
               for row in proba]
    return proba, predicted.astype(np.int64), reasons


def _top_text(row: np.ndarray, classes) -> str:
    order = np.argsort(-row, kind="stable")[:2]
    return ", ".join(f"{classes[c]!s} {row[c]:.2f}" for c in order if row[c] > 0)


def _knn_reason(neighbor_codes: np.ndarray, classes) -> str:
    if not len(neighbor_codes):
        return "the only label: nothing to compare with"
    counts = np.bincount(neighbor_codes, minlength=len(classes))
    order = np.argsort(-counts, kind="stable")
    said = ", ".join(f"{classes[c]!s} ({counts[c]})" for c in order if counts[c])
    return f"its {len(neighbor_codes)} nearest other labels: {said}"


def _queue(pd, items, codes, proba, predicted, reasons, classes) -> pd.DataFrame:
    n = len(items)
    rows = np.arange(n)
    score = proba[rows, codes] if n and proba.shape[1] else np.zeros(n)
    suggested_p = np.where(predicted >= 0, proba[rows, np.maximum(predicted, 0)], 0.0) \
        if n and proba.shape[1] else np.zeros(n)
    # Lowest self-confidence first; equal scores: the more confident counter-vote first, then
    # labeling order (lexsort takes the last key as primary). Rounded so that votes equal in
    # exact arithmetic tie instead of being ordered by summation noise.
    order = np.lexsort((rows, -np.round(suggested_p, 12), np.round(score, 12)))
    names = np.array([*classes, None], dtype=object)
    table = pd.DataFrame({
        "item": items[order].astype(np.int64),
        "label": names[codes[order]],
        "suggested": names[predicted[order]],
        "score": score[order].astype(np.float64),
        "rank": np.arange(1, n + 1, dtype=np.int64),
        "reason": [reasons[i] for i in order],
    })
    return table


# -- near-duplicates -----------------------------------------------------------------------------
def similar_pairs(vectors, threshold: float, *, n_neighbors: int = DUPLICATE_NEIGHBORS,
                  index: NeighborIndex | None = None) -> pd.DataFrame:
    """Pairs of items with cosine similarity at least ``threshold``, most similar first.

    Each item's ``n_neighbors`` nearest others are searched (exact up to 5,000 items, HNSW
    above), so an item with more than that many near copies lists only its nearest ones.

    Returns
    -------
    pandas.DataFrame
        Columns ``a``, ``b`` (item indices, ``a < b``), ``similarity``; ties by ``a``, ``b``.
    """
    import pandas as pd

    threshold = _check_threshold(threshold)
    idx, sims = _neighbors(vectors, n_neighbors, index)
    n = len(idx)
    src = np.repeat(np.arange(n), idx.shape[1])
    dst, sim = idx.ravel(), sims.ravel().astype(np.float64)
    keep = (sim >= threshold) & (dst != src) & (dst >= 0)
    a, b = np.minimum(src[keep], dst[keep]), np.maximum(src[keep], dst[keep])
    pairs = pd.DataFrame({"a": a, "b": b, "similarity": sim[keep]})
    pairs = pairs.drop_duplicates(["a", "b"])
    return pairs.sort_values(["similarity", "a", "b"], ascending=[False, True, True],
                             kind="stable").reset_index(drop=True)


def near_duplicate_groups(vectors, threshold: float, *, n_neighbors: int = DUPLICATE_NEIGHBORS,
                          index: NeighborIndex | None = None) -> list[np.ndarray]:
    """Groups of (nearly) the same items: connected components of pairs at ``threshold``.

    Two items are in one group when a chain of pairs with cosine similarity at least
    ``threshold`` joins them (so a group can hold two items less similar than the threshold).

    Returns
    -------
    list of ndarray of int64
        Each group's item indices ascending; groups of two or more only, largest first, then
        by their first item.
    """
    rows = as_unit_rows(vectors, name="vectors") if index is None else None
    pairs = similar_pairs(rows if rows is not None else vectors, threshold,
                          n_neighbors=n_neighbors, index=index)
    return groups_of_pairs(pairs, len(rows) if rows is not None else len(index))


def graph_duplicate_groups(graph: Any, threshold: float | None = None) -> list[np.ndarray]:
    """Near-duplicate groups of a pool from its :class:`~labelwise.engine.graph.PoolGraph`.

    The graph's neighbour lists are the search :func:`near_duplicate_groups` would do (its 10
    nearest others per item), so a shipped or cached graph gives the groups without a new
    search: what the Label page uses to keep copies of labeled items out of the suggestions.
    ``threshold`` defaults to :func:`suggest_threshold` of the graph's top-1 similarities.
    Same groups and order as :func:`near_duplicate_groups` over the same neighbour lists.
    """
    import pandas as pd

    idx, sims = graph.neighbors, graph.similarities
    n = len(idx)
    if n < 2 or idx.shape[1] == 0:
        return []
    threshold = (suggest_threshold(top1=sims[:, 0].astype(np.float64)) if threshold is None
                 else _check_threshold(threshold))
    src = np.repeat(np.arange(n), idx.shape[1])
    dst, sim = idx.ravel(), sims.ravel().astype(np.float64)
    keep = (sim >= threshold) & (dst != src)
    pairs = pd.DataFrame({"a": np.minimum(src[keep], dst[keep]),
                          "b": np.maximum(src[keep], dst[keep])})
    return groups_of_pairs(pairs, n)


def groups_of_pairs(pairs: pd.DataFrame, n_items: int) -> list[np.ndarray]:
    """Connected components (two or more items) of ``pairs`` (columns ``a``, ``b``).

    For callers that keep :func:`similar_pairs` at a low threshold and filter it (a slider),
    instead of searching again. Same order as :func:`near_duplicate_groups`.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    a, b = pairs["a"].to_numpy(dtype=np.int64), pairs["b"].to_numpy(dtype=np.int64)
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(n_items, n_items))
    _, component = connected_components(graph, directed=False)
    sizes = np.bincount(component)
    groups = [np.flatnonzero(component == c) for c in np.flatnonzero(sizes >= 2)]
    return sorted(groups, key=lambda g: (-len(g), int(g[0])))


def nearest_similarities(vectors, *, index: NeighborIndex | None = None) -> np.ndarray:
    """Each item's cosine similarity to its most similar other item (the top-1 similarity)."""
    _, sims = _neighbors(vectors, 1, index)
    return sims[:, 0].astype(np.float64)


def suggest_threshold(vectors=None, *, top1: np.ndarray | None = None,
                      z: float = DUPLICATE_Z) -> float:
    """A near-duplicate threshold from the pool's own top-1 similarity distribution.

    Why this rule: a near-duplicate is an item whose nearest neighbour is far closer than
    nearest neighbours usually are in this pool. Distances ``1 - s`` to the nearest neighbour
    are skewed and span orders of magnitude (image encoders put most items at 0.1-0.3, exact
    copies at 1e-7), so they are compared on a log scale, where the bulk is roughly
    symmetric: the threshold is the similarity whose log distance lies ``z`` robust standard
    deviations (1.4826 MAD) below the median log distance. With ``z = 4`` about 3 in 100,000
    items would fall below it if log distances were normal; many more than that means the
    pool really holds copies. Scale-free across encoders (text encoders have much lower
    similarities), unlike a fixed cut such as 0.95. Limits: the left tail is heavier than
    normal (mutual nearest pairs), so in random high-dimensional data a few pairs still pass,
    and a pool made mostly of copies moves the median itself; the threshold is a starting
    point for the preview slider, not a verdict (benchmarks/results/label_quality.md has what
    it finds on each pack).

    Parameters
    ----------
    vectors : array-like of shape (n, d), optional
    top1 : ndarray of shape (n,), optional
        Precomputed :func:`nearest_similarities` (instead of ``vectors``).
    z : float, default=:data:`DUPLICATE_Z`

    Returns
    -------
    float
        At most 1.
    """
    if top1 is None:
        if vectors is None:
            raise InvalidInputError("suggest_threshold needs vectors or top1")
        top1 = nearest_similarities(vectors)
    top1 = np.asarray(top1, dtype=np.float64)
    if len(top1) < 2:
        raise InvalidInputError("a near-duplicate threshold needs at least 2 items")
    # Copies have distance ~0; the floor keeps their log finite without moving the bulk.
    log_d = np.log(np.clip(1.0 - top1, 1e-7, 2.0))
    median = float(np.median(log_d))
    spread = 1.4826 * float(np.median(np.abs(log_d - median)))
    cut = median - z * max(spread, 1e-3)
    return float(1.0 - np.exp(cut))


def _check_threshold(threshold) -> float:
    try:
        value = float(threshold)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"threshold must be a number, got {threshold!r}") from exc
    if not -1.0 <= value <= 1.0:
        raise InvalidInputError(f"threshold is a cosine similarity in [-1, 1], got {value}")
    return value


def _neighbors(vectors, k: int, index: NeighborIndex | None) -> tuple[np.ndarray, np.ndarray]:
    """Each item's ``k`` nearest other items (self removed), from ``index`` or a new one."""
    if index is None:
        rows = as_unit_rows(vectors, name="vectors")
        index = NeighborIndex(rows)
    else:
        rows = index.vectors
    n = len(rows)
    if n < 2:
        return np.empty((n, 0), dtype=np.int64), np.empty((n, 0), dtype=np.float32)
    take = min(k, n - 1)
    if index.exact:
        return exact_top_k(rows, rows, take, exclude_self=True)
    idx, sims = index.query(rows, take + 1)
    is_self = idx == np.arange(n)[:, None]
    keep = ~is_self
    # Rows where the graph did not return the item itself (exact copies): drop the farthest.
    keep[is_self.sum(axis=1) == 0, -1] = False
    return idx[keep].reshape(n, take), sims[keep].reshape(n, take)


# -- more like this ------------------------------------------------------------------------------
def more_like_this(session: Any, item_or_vector, n: int = 12, *,
                   include_labeled: bool = False) -> pd.DataFrame:
    """The ``n`` unlabeled items most similar to a pool item or to a query vector.

    Parameters
    ----------
    session : LabelingSession (or anything with ``vectors`` and ``view()``)
    item_or_vector : int or array-like of shape (d,)
        A pool index (the item itself is left out), or a vector in the pool's embedding space
        (e.g. a text query embedded with the pack's encoder, :func:`labelwise.get_encoder`).
    n : int, default=12
    include_labeled : bool, default=False
        Also list labeled items.

    Returns
    -------
    pandas.DataFrame
        Columns ``item``, ``similarity``, most similar first (ties to the lower index).
    """
    import pandas as pd

    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InvalidInputError(f"n must be a positive integer, got {n!r}")
    vectors = session.vectors
    if isinstance(item_or_vector, (int, np.integer)) and not isinstance(item_or_vector, bool):
        item = int(item_or_vector)
        if not 0 <= item < len(vectors):
            raise UnknownItemError(f"item {item} is outside the pool (0 to {len(vectors) - 1})")
        query, skip = vectors[item], item
    else:
        query = as_unit_rows(np.asarray(item_or_vector, dtype=np.float32).reshape(1, -1),
                             name="query vector")[0]
        if len(query) != vectors.shape[1]:
            raise InvalidInputError(f"the query vector has {len(query)} dimensions, the pool "
                                    f"{vectors.shape[1]}: embed it with the pool's encoder")
        skip = -1
    sims = (vectors @ query).astype(np.float64)
    allowed = np.ones(len(vectors), dtype=bool) if include_labeled else \
        np.asarray(session.view().in_pool, dtype=bool).copy()
    if skip >= 0:
        allowed[skip] = False
    candidates = np.flatnonzero(allowed)
    order = np.lexsort((candidates, -sims[candidates]))[:n]
    return pd.DataFrame({"item": candidates[order].astype(np.int64),
                         "similarity": sims[candidates[order]]})
