"""Strategy comparison by simulation: repeated train/test splits, an oracle, learning curves.

For each of ``folds`` splits of a labeled :class:`~labelwise.Dataset`, the train part is the
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
- Test predictions are incremental (:class:`~labelwise.studies.evaluation.TestSetPredictions`):
  each new label takes one pass over the test items, and only test items whose neighbourhood
  changed are re-predicted. They equal what :class:`~labelwise.KNNClassifier` fitted on the same
  labels predicts.
- ``(strategy, fold)`` tasks run in parallel with joblib (``n_jobs``) or on a dask.distributed
  cluster (``scheduler``).

The parts live in modules of their own: :mod:`~labelwise.studies.folds` (splits),
:mod:`~labelwise.studies.shared` (Gram matrix, fold densities),
:mod:`~labelwise.studies.evaluation` (test-set predictions, accuracy and F1),
:mod:`~labelwise.studies.runners` (one task; serial, joblib and dask runs) and
:mod:`~labelwise.studies.results` (the table, save and load). This module plans and runs.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from ..data.datasets import Dataset
from ..engine import knn
from ..engine.scorers import DensityScorer
from ..engine.session import check_model
from ..engine.strategy import Strategy, expand_strategies
from ..engine.vectors import as_unit_rows
from ..errors import InvalidInputError, SimulationStopped
from .folds import Fold, check_int, make_folds, session_seed
from .results import COLUMNS, load_results, save_results, tidy
from .runners import TaskSettings, TaskStopped, run_dask, run_joblib, run_serial
from .shared import SharedData, fold_densities, fold_graphs, gram_matrix

# Also importable from here, where they lived before the split.
__all__ = ["COLUMNS", "MAX_GRAM_BYTES", "Fold", "load_results", "make_folds",
           "resolve_strategies", "save_results", "session_seed", "simulate"]

# The Gram matrix is used while it takes at most this much memory (float32): 2 GiB is about
# 23,000 items. Above, each label costs a matrix-vector product over the pool instead.
MAX_GRAM_BYTES = 2 * 1024**3

Progress = Callable[[int, int], None]


def resolve_strategies(strategies, **settings) -> list[Strategy]:
    """:func:`~labelwise.engine.strategy.expand_strategies`, with random put first when it is
    missing (every metric is read against it)."""
    chosen = expand_strategies(strategies, **settings)
    if not any(s.is_random for s in chosen):
        chosen.insert(0, Strategy.parse("random"))
    return chosen


def simulate(dataset: Dataset, strategies, *, folds: int = 16, test_size: float = 0.1,
             split: str = "random", n_init: int = 2, budget: int = 500, batch: int = 1,
             k: int = 5, weights: str = "uniform", seed: int = 0, n_jobs: int = 1,
             scheduler=None, progress: Progress | None = None,
             model: str = "auto", should_stop: Callable[[], bool] | None = None
             ) -> pd.DataFrame:
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
    model : {"knn", "graph", "auto"}, default="auto"
        The sessions' model (:class:`~labelwise.LabelingSession`): it drives the uncertainty
        and gives the holdout predictions (graph: from each test item's nearest pool items).
        For "graph" and "auto" each fold pool's graph is built once and shared by the fold's
        strategies.
    should_stop : callable, optional
        Called without arguments between labels (in this process, ``n_jobs=1``) and between
        runs (any ``n_jobs``, or a scheduler); when it returns True the simulation stops at
        once and raises :class:`~labelwise.SimulationStopped`, which carries the runs that
        had finished. For a dashboard's Cancel button: with ``n_jobs=1`` a cancel takes effect
        within one label step instead of after the running strategy x fold run.

    Returns
    -------
    pandas.DataFrame
        Columns ``strategy`` (:attr:`Strategy.label`), ``fold``, ``n_labeled``, ``model``
        (the model in use at that step: "knn" or "graph"), ``accuracy``, ``f1`` (macro),
        ``classes_seen`` (distinct classes among the labels so far: how soon every class is
        found), ``seconds`` (wall time of the step's selection and label updates; NaN on the
        ``n_init`` starting row), ``stop_at`` (labeled count where the session's stopping
        signal, :meth:`LabelingSession.stopping_status`, first fired; NaN if it never did)
        and ``accuracy_at_stop`` (the holdout accuracy there), the last two the same on
        every row of a run; one row per strategy, fold and labeled count, ordered by
        strategy (as given, random first if added), fold and ``n_labeled``.
        With the Gram matrix a label reads a row instead of a matrix-vector product, so
        ``seconds`` is lower than the same step in an interactive session by about one
        ``X @ x`` over the pool (see benchmarks/step_latency.py for interactive latency).
    """
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0:
        raise InvalidInputError(
            f"n_jobs must be a non-zero integer (-1: all cores), got {n_jobs!r}")
    plan = _plan(dataset, strategies, folds=folds, test_size=test_size, split=split,
                 n_init=n_init, budget=budget, batch=batch, k=k, weights=weights, seed=seed,
                 n_jobs=int(n_jobs) if scheduler is None else 1, model=model)
    tasks, shared, settings, order = plan
    if scheduler is not None:
        parts = run_dask(tasks, shared, settings, scheduler)
    elif n_jobs == 1:
        parts = run_serial(tasks, shared, settings, should_stop)
    else:
        parts = run_joblib(tasks, shared, settings, n_jobs)
    frames: list[pd.DataFrame] = []
    if progress is not None:
        progress(0, len(tasks))
    try:
        if should_stop is not None and should_stop():
            raise TaskStopped
        for part in parts:
            frames.append(part)
            if progress is not None:
                progress(len(frames), len(tasks))
            if should_stop is not None and len(frames) < len(tasks) and should_stop():
                raise TaskStopped
    except TaskStopped:
        finished = tidy(pd.concat(frames, ignore_index=True), order) if frames else None
        raise SimulationStopped(finished, len(frames), len(tasks)) from None
    finally:
        close = getattr(parts, "close", None)
        if close is not None:  # a stopped generator releases its workers now
            with warnings.catch_warnings():  # joblib warns that it cancelled pending runs
                warnings.filterwarnings("ignore", ".*tasks which were still", UserWarning)
                close()
    return tidy(pd.concat(frames, ignore_index=True), order)


def _density_kind(strategy: Strategy) -> str | None:
    """The density kind a strategy's density scorer uses (precomputed per fold), or None."""
    return next((s.kind for s in strategy.scorers if isinstance(s, DensityScorer)), None)


def _plan(dataset: Dataset, strategies, *, folds, test_size, split, n_init, budget, batch, k,
          weights, seed, n_jobs=1, model="knn"):
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
    settings = TaskSettings(budget=check_int(budget, "budget", 0),
                            batch=check_int(batch, "batch", 1), k=check_int(k, "k", 1),
                            weights=knn.check_weights(weights), seed=check_int(seed, "seed", 0),
                            model=check_model(model))
    chosen = resolve_strategies(strategies)
    fold_list = make_folds(dataset, folds=folds, test_size=test_size, split=split,
                           n_init=n_init, seed=seed)
    vectors = as_unit_rows(dataset.vectors, name=f"vectors of dataset {dataset.name!r}")
    classes = sorted(set(labels.tolist()), key=str)
    code_of = {c: n for n, c in enumerate(classes)}
    codes = np.array([code_of[v] for v in labels], dtype=np.int64)
    shared = SharedData(vectors, codes, classes, gram_matrix(vectors, MAX_GRAM_BYTES))
    kinds = {kind for kind in map(_density_kind, chosen) if kind is not None}
    densities = fold_densities(shared, fold_list, kinds, n_jobs=n_jobs)
    graphs = (fold_graphs(shared, fold_list, n_jobs=n_jobs) if settings.model != "knn"
              else [None] * len(fold_list))
    tasks = [(fold, strategy, densities[fold.number].get(_density_kind(strategy)),
              graphs[fold.number]) for strategy in chosen for fold in fold_list]
    return tasks, shared, settings, [s.label for s in chosen]
