"""Strategy comparison by simulation: repeated train/test splits, an oracle, learning curves.

For each of ``folds`` splits of a labeled :class:`~labelwise.data.datasets.Dataset`, the train part
is the
unlabeled pool and the test part measures the kNN classifier. ``n_init`` random pool items start
labeled (the same items for every strategy of that fold); each strategy then asks for up to
``budget`` labels, one at a time (or ``batch`` at a time), and the oracle answers with the true
label. After each step the accuracy and macro-F1 on the fold's test part are recorded::

    results = simulate(dataset, ["U*I*D", "U"], folds=16, budget=500, seed=0)
    summary_table(results, target=0.9)          # from labelwise.studies.metrics

Random sampling is always part of the comparison: when ``strategies`` has no random strategy,
``"random"`` is added first, because every metric is read against it.

How it stays fast (the full fruit experiment, 16 folds x 500 labels x 2 strategies, is timed by
``benchmarks/simulation_speed.py``):

- Unit vectors and, when it fits in :data:`MAX_GRAM_BYTES`, the whole item-by-item cosine
  similarity (Gram) matrix are computed once per call with one matrix product. Labeling an item
  then reads one row of it instead of streaming the pool through a matrix-vector product.
- The density ``i`` of each fold's pool is computed once per fold (exactly, from the Gram
  matrix) and handed to every strategy's :class:`~labelwise.LabelingSession` of that
  fold.
- Test predictions are incremental: a :class:`~labelwise.engine.state.LabeledNeighbors` over the
  test items takes each new label in one pass, and only test items whose neighbourhood changed
  are re-predicted. They equal what :class:`~labelwise.KNNClassifier` fitted on the same labels
  predicts.
- ``(strategy, fold)`` tasks run in parallel with joblib (``n_jobs``) or on a dask.distributed
  cluster (``scheduler``).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit, ShuffleSplit

from ..data.datasets import Dataset
from ..engine import knn
from ..engine.index import global_density, knn_density
from ..engine.scorers import DEFAULT_UNCERTAINTY, DENSITY_NEIGHBORS
from ..engine.session import LabelingSession
from ..engine.state import LabeledNeighbors
from ..engine.strategy import Strategy
from ..engine.vectors import as_unit_rows
from ..errors import InvalidInputError

SPLITS = ("random", "group")
COLUMNS = ["strategy", "fold", "n_labeled", "accuracy", "f1", "classes_seen", "seconds"]
# The Gram matrix is used while it takes at most this much memory (float32): 2 GiB is about
# 23,000 items. Above, each label costs a matrix-vector product over the pool instead.
MAX_GRAM_BYTES = 2 * 1024**3
# Neighbours kept per item to derive every fold's exact kNN density from one pass over the
# Gram matrix: a fold removes ~10% of the items, so 10 pool neighbours are almost always among
# the first 32; rows where they are not are recomputed exactly.
_DENSITY_CANDIDATES = 32
_CHUNK_ROWS = 1024

Progress = Callable[[int, int], None]


# -- inputs ------------------------------------------------------------------------------------
def resolve_strategies(strategies, *, uncertainty: str = DEFAULT_UNCERTAINTY,
                       density: str = "knn") -> list[Strategy]:
    """Parse strategy specs, drop duplicates, and put random first when it is missing.

    Parameters
    ----------
    strategies : str, Strategy or iterable of them
        ``"U*I*D"``, ``"random"``, :class:`Strategy` objects, or a comma-separated string.
    uncertainty, density : str
        Settings for specs given as text.

    Returns
    -------
    list of Strategy
        Unique by :attr:`Strategy.label`, random first when it was not requested.
    """
    if isinstance(strategies, (str, Strategy)):
        strategies = [strategies]
    specs: list = []
    for spec in strategies:
        if isinstance(spec, str):
            specs.extend(part for part in spec.split(",") if part.strip())
        else:
            specs.append(spec)
    parsed = [Strategy.parse(s, uncertainty=uncertainty, density=density) for s in specs]
    if not parsed:
        raise InvalidInputError("give at least one strategy, e.g. 'U*I*D' or 'random'")
    first: dict[str, Strategy] = {}
    for strategy in parsed:
        first.setdefault(strategy.label, strategy)
    unique = list(first.values())
    if not any(s.is_random for s in unique):
        unique.insert(0, Strategy.parse("random"))
    return unique


def _check_int(value, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise InvalidInputError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _check_test_size(test_size, n_items: int) -> float | int:
    if isinstance(test_size, (float, np.floating)) and 0.0 < test_size < 1.0:
        return float(test_size)
    if (isinstance(test_size, (int, np.integer)) and not isinstance(test_size, bool)
            and 0 < test_size < n_items):
        return int(test_size)
    raise InvalidInputError(
        f"test_size must be a fraction in (0, 1) or a count in [1, {n_items - 1}], "
        f"got {test_size!r}")


# -- splits ------------------------------------------------------------------------------------
@dataclass
class Fold:
    """One train/test split: pool and test items (dataset indices) and the initial labels.

    ``initial`` holds positions in ``pool`` (not dataset indices), in labeling order.
    """

    number: int
    pool: np.ndarray
    test: np.ndarray
    initial: np.ndarray


def make_folds(dataset: Dataset, *, folds: int = 16, test_size: float = 0.1,
               split: str = "random", n_init: int = 2, seed: int = 0) -> list[Fold]:
    """The train/test splits and initial labeled sets of a simulation.

    ``split="random"`` uses :class:`~sklearn.model_selection.ShuffleSplit`; ``split="group"``
    uses :class:`~sklearn.model_selection.GroupShuffleSplit` over ``dataset.groups`` (there
    ``test_size`` is a fraction of the groups), so no group straddles pool and test. The
    ``n_init`` initial items of a fold are drawn uniformly from its pool with a generator seeded
    by ``(seed, fold)``, so every strategy starts from the same labels.
    """
    n = len(dataset)
    folds = _check_int(folds, "folds", 1)
    n_init = _check_int(n_init, "n_init", 1)
    test_size = _check_test_size(test_size, n)
    if split == "random":
        splits = ShuffleSplit(n_splits=folds, test_size=test_size, random_state=seed).split(
            np.zeros(n))
    elif split == "group":
        if dataset.groups is None:
            raise InvalidInputError(
                f"split='group' needs item groups, but dataset {dataset.name!r} has none; "
                "use split='random'")
        groups = np.asarray(dataset.groups)
        if len(groups) != n:
            raise InvalidInputError(
                f"dataset {dataset.name!r} has {len(groups)} groups for {n} items")
        splitter = GroupShuffleSplit(n_splits=folds, test_size=test_size, random_state=seed)
        splits = splitter.split(np.zeros(n), groups=groups)
    else:
        raise InvalidInputError(f"split must be one of {SPLITS}, got {split!r}")
    out = []
    for number, (pool, test) in enumerate(splits):
        if n_init > len(pool):
            raise InvalidInputError(
                f"n_init={n_init} is larger than the pool of fold {number} ({len(pool)} items)")
        rng = np.random.default_rng([seed, number])
        initial = rng.choice(len(pool), size=n_init, replace=False)
        out.append(Fold(number, np.sort(pool), np.sort(test), initial))
    return out


# -- shared precomputation -----------------------------------------------------------------------
@dataclass
class _Shared:
    """Per-call data every task reads: unit vectors, class codes, optional Gram matrix."""

    vectors: np.ndarray
    codes: np.ndarray
    classes: list
    gram: np.ndarray | None


def _gram_matrix(vectors: np.ndarray, max_bytes: int) -> np.ndarray | None:
    n = len(vectors)
    if n * n * 4 > max_bytes:
        return None
    return vectors @ vectors.T


def _density_candidates(gram: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Each item's ``m`` most similar other items, best first (ties: lower index first)."""
    n = len(gram)
    m = max(min(m, n - 1), 0)
    idx = np.empty((n, m), dtype=np.int64)
    if m == 0:
        return idx, np.empty((n, 0), dtype=np.float32)
    sim = np.empty((n, m), dtype=np.float32)
    for lo in range(0, n, _CHUNK_ROWS):
        block = gram[lo:lo + _CHUNK_ROWS].copy()
        rows = np.arange(len(block))
        block[rows, rows + lo] = -np.inf
        top = np.argpartition(-block, m - 1, axis=1)[:, :m]
        top_sim = np.take_along_axis(block, top, axis=1)
        order = np.lexsort((top, -top_sim), axis=1)
        idx[lo:lo + _CHUNK_ROWS] = np.take_along_axis(top, order, axis=1)
        sim[lo:lo + _CHUNK_ROWS] = np.take_along_axis(top_sim, order, axis=1)
    return idx, sim


def _fold_knn_density(shared: _Shared, fold: Fold, candidates) -> np.ndarray:
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


def _fold_global_density(shared: _Shared, fold: Fold, row_distance_sums) -> np.ndarray:
    """Exact ``global_density`` of the fold's pool: all-item distance sums minus test columns."""
    test_dist = np.sqrt(np.clip(
        2.0 - 2.0 * shared.gram[np.ix_(fold.pool, fold.test)].astype(np.float64), 0.0, None))
    return -(row_distance_sums[fold.pool] - test_dist.sum(axis=1)) / len(fold.pool)


def _row_distance_sums(gram: np.ndarray) -> np.ndarray:
    n = len(gram)
    out = np.empty(n)
    for lo in range(0, n, _CHUNK_ROWS):
        dist = np.sqrt(np.clip(2.0 - 2.0 * gram[lo:lo + _CHUNK_ROWS].astype(np.float64),
                               0.0, None))
        rows = np.arange(len(dist))
        dist[rows, rows + lo] = 0.0
        out[lo:lo + _CHUNK_ROWS] = dist.sum(axis=1)
    return out


def _pool_densities(vectors: np.ndarray, kinds: set[str]) -> dict[str, np.ndarray]:
    out = {}
    if "knn" in kinds:
        out["knn"] = knn_density(vectors, DENSITY_NEIGHBORS)
    if "global" in kinds:
        out["global"] = global_density(vectors)
    return out


def fold_densities(shared: _Shared, folds: Sequence[Fold], kinds: Iterable[str],
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
    candidates = _density_candidates(shared.gram, _DENSITY_CANDIDATES) if "knn" in kinds else None
    distance_sums = _row_distance_sums(shared.gram) if "global" in kinds else None
    for fold, dens in zip(folds, out, strict=True):
        if candidates is not None:
            dens["knn"] = _fold_knn_density(shared, fold, candidates)
        if distance_sums is not None:
            dens["global"] = _fold_global_density(shared, fold, distance_sums)
    return out


# -- incremental neighbours fed from the Gram matrix ----------------------------------------------
class _FedNeighbors(LabeledNeighbors):
    """:class:`LabeledNeighbors` whose similarities to a new label come from ``similarities``.

    ``similarities(item)`` returns the similarity of every tracked row to pool item ``item``:
    a row of the precomputed Gram matrix, or a matrix-vector product when there is none; the
    update itself is :meth:`LabeledNeighbors.insert` (tests/test_simulation.py checks both give
    the same neighbourhoods and predictions).
    """

    def __init__(self, vectors: np.ndarray, k: int,
                 similarities: Callable[[int], np.ndarray]) -> None:
        super().__init__(vectors, k)
        self._similarities = similarities

    def add(self, item: int, code: int, seq: int, vector: np.ndarray | None = None) -> np.ndarray:
        return self.insert(item, code, seq, self._similarities(item))


class TestSetPredictions:
    """kNN predictions of a fixed test set, updated label by label.

    Parameters
    ----------
    test_vectors : ndarray of shape (n_test, d), unit rows
    k : int
    weights : {"uniform", "similarity"}
    n_classes : int
        Class codes run from 0 to ``n_classes - 1`` (ties between classes with equal vote and
        equal best similarity go to the lower code, as in :class:`~labelwise.KNNClassifier` whose
        codes are the sorted classes).
    similarities : callable, optional
        ``similarities(item)`` -> similarity of every test row to labeled pool item ``item``;
        by default ``test_vectors @ pool_vector`` with the vector given to :meth:`add`.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, test_vectors: np.ndarray, k: int, weights: str, n_classes: int,
                 similarities: Callable[[int], np.ndarray] | None = None) -> None:
        if similarities is None:
            self._neighbors = LabeledNeighbors(test_vectors, k)
        else:
            self._neighbors = _FedNeighbors(test_vectors, k, similarities)
        self.weights = weights
        self.n_classes = n_classes
        self.predictions = np.full(len(test_vectors), -1, dtype=np.int64)
        self._seq = 0

    def add(self, item: int, code: int, vector: np.ndarray | None = None) -> None:
        """Take the label ``code`` of pool item ``item``; re-predict the rows it changed."""
        nb = self._neighbors
        rows = nb.add(item, code, self._seq, vector=vector)
        self._seq += 1
        if rows.size:
            votes = knn.class_votes(nb.sim[rows], nb.cls[rows], self.n_classes, self.weights)
            self.predictions[rows] = knn.winners(votes, nb.sim[rows], nb.cls[rows])


def accuracy_and_macro_f1(truth: np.ndarray, pred: np.ndarray, n_classes: int) -> tuple[
        float, float]:
    """Accuracy and macro-F1 of integer class codes (F1 as scikit-learn's ``f1_score``).

    Macro-F1 averages over the classes present in ``truth`` or ``pred`` (``-1``, "no
    prediction", counts as a wrong answer, not as a class); a class with no true and no
    predicted item is skipped, and 0/0 precision or recall counts as 0.
    """
    correct = truth == pred
    accuracy = float(correct.mean())
    true_count = np.bincount(truth, minlength=n_classes)
    valid = pred >= 0
    pred_count = np.bincount(pred[valid], minlength=n_classes)
    hits = np.bincount(truth[correct], minlength=n_classes)
    present = (true_count + pred_count) > 0
    denom = (true_count + pred_count)[present]
    f1 = float(np.mean(2.0 * hits[present] / denom)) if present.any() else 0.0
    return accuracy, f1


# -- one task ----------------------------------------------------------------------------------
@dataclass
class _Settings:
    budget: int
    batch: int
    k: int
    weights: str
    seed: int


def _pool_similarities(shared: _Shared, fold: Fold) -> Callable[[int], np.ndarray]:
    gram, pool = shared.gram, fold.pool
    return lambda item: gram[pool[item]][pool]


def _test_similarities(shared: _Shared, fold: Fold) -> Callable[[int], np.ndarray]:
    if shared.gram is not None:
        gram, pool, test = shared.gram, fold.pool, fold.test
        return lambda item: gram[pool[item]][test]
    test_vectors, vectors, pool = shared.vectors[fold.test], shared.vectors, fold.pool
    return lambda item: test_vectors @ vectors[pool[item]]


def session_seed(seed: int, fold: int) -> int:
    """Seed of the sessions of fold ``fold``: every strategy of a fold gets the same one."""
    return int(np.random.SeedSequence([seed, fold, 1]).generate_state(1)[0])


def _new_session(shared: _Shared, fold: Fold, strategy: Strategy, density: np.ndarray | None,
                 settings: _Settings) -> LabelingSession:
    session = LabelingSession(shared.vectors[fold.pool], strategy, k=settings.k,
                              weights=settings.weights,
                              seed=session_seed(settings.seed, fold.number),
                              density_values=density)
    if shared.gram is not None:
        # Labeling then reads a Gram row instead of a matrix-vector product over the pool; the
        # session's state object is swapped before any label, so it never sees both.
        session._neighbors = _FedNeighbors(session.vectors, session.k,
                                           _pool_similarities(shared, fold))
    return session


def run_task(shared: _Shared, fold: Fold, strategy: Strategy, density: np.ndarray | None,
             settings: _Settings) -> pd.DataFrame:
    """Simulate one strategy on one fold; one row per labeled count, from ``n_init`` on."""
    session = _new_session(shared, fold, strategy, density, settings)
    test_truth = shared.codes[fold.test]
    tracker = TestSetPredictions(shared.vectors[fold.test], settings.k, settings.weights,
                                 len(shared.classes), _test_similarities(shared, fold))
    pool_codes = shared.codes[fold.pool]
    classes = shared.classes

    def teach(items) -> None:
        for item in items:
            session.label(int(item), classes[pool_codes[item]])
            tracker.add(int(item), int(pool_codes[item]))

    def record(seconds: float) -> tuple:
        acc, f1 = accuracy_and_macro_f1(test_truth, tracker.predictions, len(classes))
        return session.n_labeled, acc, f1, len(session.classes), seconds

    teach(fold.initial)
    rows = [record(np.nan)]
    target = min(len(fold.initial) + settings.budget, session.n_items)
    while session.n_labeled < target:
        size = min(settings.batch, target - session.n_labeled)
        start = time.perf_counter()
        picks = session.next(size)
        for item in picks:
            session.label(item, classes[pool_codes[item]])
        seconds = time.perf_counter() - start
        for item in picks:
            tracker.add(item, int(pool_codes[item]))
        rows.append(record(seconds))
    frame = pd.DataFrame(rows, columns=["n_labeled", "accuracy", "f1", "classes_seen", "seconds"])
    frame.insert(0, "fold", fold.number)
    frame.insert(0, "strategy", strategy.label)
    return frame


# -- running tasks -----------------------------------------------------------------------------
def _run_serial(tasks, shared, settings) -> Iterator[pd.DataFrame]:
    for fold, strategy, density in tasks:
        yield run_task(shared, fold, strategy, density, settings)


def _run_joblib(tasks, shared, settings, n_jobs: int) -> Iterator[pd.DataFrame]:
    from joblib import Parallel, delayed

    with tempfile.TemporaryDirectory(prefix="labelwise-sim-") as tmp:
        # Memmaps are passed to workers by file name, not pickled (or hashed) once per task.
        gram = None if shared.gram is None else _memmap(shared.gram, Path(tmp) / "gram.npy")
        shared = _Shared(_memmap(shared.vectors, Path(tmp) / "vectors.npy"), shared.codes,
                         shared.classes, gram)
        parallel = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
        yield from parallel(delayed(run_task)(shared, fold, strategy, density, settings)
                            for fold, strategy, density in tasks)


def _memmap(array: np.ndarray, path: Path) -> np.ndarray:
    """Write ``array`` to ``path`` and open it read-only as a memory map."""
    np.save(path, array)
    return np.load(path, mmap_mode="r")


def _run_dask(tasks, shared, settings, scheduler) -> Iterator[pd.DataFrame]:
    from distributed import Client, as_completed

    own_client = not isinstance(scheduler, Client)
    client = Client(scheduler, set_as_default=False) if own_client else scheduler
    try:
        # Ship the shared arrays to every worker once, not with every task.
        shared_future = client.scatter(shared, broadcast=True)
        futures = [client.submit(run_task, shared_future, fold, strategy, density, settings,
                                 pure=False) for fold, strategy, density in tasks]
        with client.as_current():  # as_completed looks the client up
            for future in as_completed(futures):
                yield future.result()
    finally:
        if own_client:
            client.close()


def simulate(dataset: Dataset, strategies, *, folds: int = 16, test_size: float = 0.1,
             split: str = "random", n_init: int = 2, budget: int = 500, batch: int = 1,
             k: int = 5, weights: str = "uniform", seed: int = 0, n_jobs: int = 1,
             scheduler=None, progress: Progress | None = None) -> pd.DataFrame:
    """Compare labeling strategies on repeated train/test splits of a labeled dataset.

    Parameters
    ----------
    dataset : Dataset
        Items with ground-truth ``labels`` (and ``groups`` for ``split="group"``).
    strategies : str, Strategy or list of them
        E.g. ``["U*I*D", "U"]`` or ``"random,U*I*D"``. Random sampling is added first when
        absent: it is the baseline of every metric.
    folds : int, default=16
        Number of train/test splits.
    test_size : float or int, default=0.1
        Test fraction (of items; of groups for ``split="group"``) or count.
    split : {"random", "group"}, default="random"
        ``"group"`` keeps every group (``dataset.groups``) on one side of the split.
    n_init : int, default=2
        Random items labeled before the strategy starts (identical across strategies).
    budget : int, default=500
        Labels asked by the strategy after the initial ones (capped by the pool size).
    batch : int, default=1
        Labels asked per step; a row is recorded after each step.
    k, weights
        kNN settings of the sessions and of the test predictions.
    seed : int, default=0
        Seeds splits, initial sets and the sessions; same seed, same table (except
        ``seconds``).
    n_jobs : int, default=1
        Parallel joblib workers over (strategy, fold) tasks (-1: all cores).
    scheduler : str or distributed.Client, optional
        Address of a dask.distributed scheduler (or a client); tasks then run on that cluster
        and ``n_jobs`` is ignored.
    progress : callable, optional
        Called as ``progress(done_tasks, total_tasks)`` at the start and after each task.

    Returns
    -------
    pandas.DataFrame
        Columns ``strategy`` (:attr:`Strategy.label`), ``fold``, ``n_labeled``, ``accuracy``,
        ``f1`` (macro), ``classes_seen`` (distinct classes among the labels so far: how soon
        every class is found) and ``seconds`` (wall time of the step's selection and label updates;
        NaN on the ``n_init`` starting row), one row per strategy, fold and labeled count,
        ordered by strategy (as given, random first if added), fold and ``n_labeled``.
        With the Gram matrix a label reads a row instead of a matrix-vector product, so
        ``seconds`` is lower than the same step in an interactive session by about one
        ``X @ x`` over the pool (see benchmarks/step_latency.py for interactive latency).
    """
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0:
        raise InvalidInputError(
            f"n_jobs must be a non-zero integer (-1: all cores), got {n_jobs!r}")
    plan = _plan(dataset, strategies, folds=folds, test_size=test_size, split=split,
                 n_init=n_init, budget=budget, batch=batch, k=k, weights=weights, seed=seed,
                 n_jobs=int(n_jobs) if scheduler is None else 1)
    tasks, shared, settings, order = plan
    if scheduler is not None:
        parts = _run_dask(tasks, shared, settings, scheduler)
    elif n_jobs == 1:
        parts = _run_serial(tasks, shared, settings)
    else:
        parts = _run_joblib(tasks, shared, settings, n_jobs)
    frames = []
    if progress is not None:
        progress(0, len(tasks))
    for part in parts:
        frames.append(part)
        if progress is not None:
            progress(len(frames), len(tasks))
    return _tidy(pd.concat(frames, ignore_index=True), order)


def _plan(dataset: Dataset, strategies, *, folds, test_size, split, n_init, budget, batch, k,
          weights, seed, n_jobs=1):
    if not isinstance(dataset, Dataset):
        raise InvalidInputError(
            f"dataset must be a labelwise Dataset, got {type(dataset)}")
    if dataset.labels is None:
        raise InvalidInputError(
            f"dataset {dataset.name!r} has no labels: a simulation needs the true label of "
            "every item to play the oracle")
    labels = np.asarray(dataset.labels, dtype=object)
    if len(labels) != len(dataset):
        raise InvalidInputError(
            f"dataset {dataset.name!r} has {len(labels)} labels for {len(dataset)} items")
    missing = np.flatnonzero(pd.isna(labels))
    if missing.size:
        raise InvalidInputError(
            f"dataset {dataset.name!r} has items without a label (rows {missing[:5].tolist()})")
    settings = _Settings(budget=_check_int(budget, "budget", 0),
                         batch=_check_int(batch, "batch", 1), k=_check_int(k, "k", 1),
                         weights=knn.check_weights(weights), seed=_check_int(seed, "seed", 0))
    chosen = resolve_strategies(strategies)
    fold_list = make_folds(dataset, folds=folds, test_size=test_size, split=split,
                           n_init=n_init, seed=seed)
    vectors = as_unit_rows(dataset.vectors, name=f"vectors of dataset {dataset.name!r}")
    classes = sorted(set(labels.tolist()), key=str)
    code_of = {c: n for n, c in enumerate(classes)}
    codes = np.array([code_of[v] for v in labels], dtype=np.int64)
    shared = _Shared(vectors, codes, classes, _gram_matrix(vectors, MAX_GRAM_BYTES))
    kinds = {s.density for s in chosen if "I" in s.factors}
    densities = fold_densities(shared, fold_list, kinds, n_jobs=n_jobs)
    tasks = [(fold, strategy, densities[fold.number].get(strategy.density)
              if "I" in strategy.factors else None)
             for strategy in chosen for fold in fold_list]
    return tasks, shared, settings, [s.label for s in chosen]


def _tidy(frame: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    rank = {label: n for n, label in enumerate(order)}
    frame = frame.assign(_rank=frame["strategy"].map(rank))
    frame = frame.sort_values(["_rank", "fold", "n_labeled"], kind="stable")
    frame = frame.drop(columns="_rank").reset_index(drop=True)
    return frame.astype({"fold": "int64", "n_labeled": "int64", "accuracy": "float64",
                         "f1": "float64", "classes_seen": "int64",
                         "seconds": "float64"})[COLUMNS]


def save_results(results: pd.DataFrame, path) -> Path:
    """Write simulation results to ``.csv`` or ``.parquet`` (by the file's suffix)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise InvalidInputError(f"results can be saved as .csv or .parquet, not {path.name!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        results.to_csv(path, index=False)
    else:
        results.to_parquet(path, index=False)
    return path


def load_results(path) -> pd.DataFrame:
    """Read results written by :func:`save_results`."""
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    if path.suffix.lower() == ".csv":
        return pd.read_csv(path)
    raise InvalidInputError(f"results can be read from .csv or .parquet, not {path.name!r}")
