"""Running a simulation's ``(strategy, fold)`` tasks: one task, and serial, joblib or dask runs.

A task is a plain function of picklable arguments: the strategy holds its scorer instances, so a
worker needs no registry. Scorers from a user's own module are shipped by value (cloudpickle),
so a worker does not even need that module on its path (a joblib worker started before the
module was importable, a dask worker on another machine).
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..engine.graph import PoolGraph
from ..engine.session import LabelingSession
from ..engine.strategy import Strategy
from .evaluation import GraphTestPredictions, TestSetPredictions, accuracy_and_macro_f1
from .folds import Fold, session_seed
from .shared import SharedData

#: One task: a fold, a strategy, the fold pool's precomputed density (None if unused) and the
#: fold pool's graph (None for ``model="knn"``; one object shared by the fold's strategies).
Task = tuple[Fold, Strategy, "np.ndarray | None", "PoolGraph | None"]


@dataclass
class TaskSettings:
    """The settings every task of one simulation shares."""

    budget: int
    batch: int
    k: int
    weights: str
    seed: int
    model: str = "knn"


def new_session(shared: SharedData, fold: Fold, strategy: Strategy, density: np.ndarray | None,
                settings: TaskSettings, graph: PoolGraph | None = None) -> LabelingSession:
    """The fold's labeling session; with the Gram matrix a label reads a row of it instead of
    a matrix-vector product over the pool."""
    return LabelingSession(shared.vectors[fold.pool], strategy, k=settings.k,
                           weights=settings.weights,
                           seed=session_seed(settings.seed, fold.number),
                           density_values=density, similarities=shared.pool_similarities(fold),
                           model=settings.model, graph=graph)


class TaskStopped(Exception):
    """Raised inside a run when the simulation's ``should_stop`` hook says so."""


def run_task(shared: SharedData, fold: Fold, strategy: Strategy, density: np.ndarray | None,
             settings: TaskSettings, graph: PoolGraph | None = None,
             should_stop: Callable[[], bool] | None = None) -> pd.DataFrame:
    """Simulate one strategy on one fold; one row per labeled count, from ``n_init`` on.

    The holdout predictions are those of the session's model in use at each step (``model``
    column). ``stop_at`` is the labeled count at the first step where the session's stopping
    monitor calls the predictions stable, ``accuracy_at_stop`` the holdout accuracy there (NaN
    for both when it never fires); the same on every row of the run.
    """
    session = new_session(shared, fold, strategy, density, settings, graph)
    test_truth = shared.codes[fold.test]
    tracker = TestSetPredictions(shared.vectors[fold.test], settings.k, settings.weights,
                                 len(shared.classes), shared.test_similarities(fold))
    pool_codes = shared.codes[fold.pool]
    classes = shared.classes
    graph_test = (None if settings.model == "knn" else
                  GraphTestPredictions(shared.vectors[fold.test], classes))
    stop: list[tuple[int, float]] = []

    def record(seconds: float) -> tuple:
        name = session.model_name
        pred = (tracker.predictions if name == "knn"
                else graph_test.predict(session, tracker.predictions))
        acc, f1 = accuracy_and_macro_f1(test_truth, pred, len(classes))
        if not stop and session.stopping_status().stable:
            stop.append((session.n_labeled, acc))
        return session.n_labeled, name, acc, f1, len(session.classes), seconds

    for item in fold.initial:
        session.label(int(item), classes[pool_codes[item]])
        tracker.add(int(item), int(pool_codes[item]))
    rows = [record(np.nan)]
    target = min(len(fold.initial) + settings.budget, session.n_items)
    while session.n_labeled < target:
        if should_stop is not None and should_stop():
            raise TaskStopped
        size = min(settings.batch, target - session.n_labeled)
        start = time.perf_counter()
        picks = session.next(size)
        for item in picks:
            session.label(item, classes[pool_codes[item]])
        seconds = time.perf_counter() - start
        for item in picks:
            tracker.add(item, int(pool_codes[item]))
        rows.append(record(seconds))
    frame = pd.DataFrame(rows, columns=["n_labeled", "model", "accuracy", "f1", "classes_seen",
                                        "seconds"])
    frame["stop_at"], frame["accuracy_at_stop"] = stop[0] if stop else (np.nan, np.nan)
    frame.insert(0, "fold", fold.number)
    frame.insert(0, "strategy", strategy.label)
    return frame


@contextlib.contextmanager
def scorers_by_value(strategies: Iterable[Strategy]) -> Iterator[None]:
    """While active, cloudpickle ships the modules of non-labelwise scorers by value."""
    try:
        import cloudpickle
    except ImportError:  # joblib then pickles by reference: the module must be importable
        yield
        return
    names = {type(s).__module__ for strategy in strategies for s in strategy.scorers}
    shipped = set(cloudpickle.list_registry_pickle_by_value())
    added = [sys.modules[name] for name in sorted(names)
             if name in sys.modules and name != "__main__" and name not in shipped
             and name.split(".")[0] != "labelwise"]
    for module in added:
        cloudpickle.register_pickle_by_value(module)
    try:
        yield
    finally:
        for module in added:
            cloudpickle.unregister_pickle_by_value(module)


def run_serial(tasks: list[Task], shared: SharedData, settings: TaskSettings,
               should_stop: Callable[[], bool] | None = None) -> Iterator[pd.DataFrame]:
    """The tasks one after the other, in this process (``should_stop`` checked per label)."""
    for fold, strategy, density, graph in tasks:
        yield run_task(shared, fold, strategy, density, settings, graph, should_stop)


def run_joblib(tasks: list[Task], shared: SharedData, settings: TaskSettings,
               n_jobs: int) -> Iterator[pd.DataFrame]:
    """The tasks on ``n_jobs`` joblib worker processes, results as they finish."""
    from joblib import Parallel, delayed

    with tempfile.TemporaryDirectory(prefix="labelwise-sim-") as tmp:
        # Memmaps are passed to workers by file name, not pickled (or hashed) once per task.
        gram = None if shared.gram is None else _memmap(shared.gram, Path(tmp) / "gram.npy")
        shared = SharedData(_memmap(shared.vectors, Path(tmp) / "vectors.npy"), shared.codes,
                            shared.classes, gram)
        parallel = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
        with scorers_by_value(strategy for _, strategy, _, _ in tasks):
            yield from parallel(delayed(run_task)(shared, fold, strategy, density, settings,
                                                  graph)
                                for fold, strategy, density, graph in tasks)


def _memmap(array: np.ndarray, path: Path) -> np.ndarray:
    """Write ``array`` to ``path`` and open it read-only as a memory map."""
    np.save(path, array)
    return np.load(path, mmap_mode="r")


def run_dask(tasks: list[Task], shared: SharedData, settings: TaskSettings,
             scheduler) -> Iterator[pd.DataFrame]:
    """The tasks on a dask.distributed cluster (an address or a ``Client``)."""
    from distributed import Client, as_completed

    own_client = not isinstance(scheduler, Client)
    client = Client(scheduler, set_as_default=False) if own_client else scheduler
    try:
        # Ship the shared arrays to every worker once, not with every task.
        shared_future = client.scatter(shared, broadcast=True)
        # Tasks may be serialised after submit() returns: ship by value until all are done.
        # Each fold's graph once per cluster too, not once per strategy.
        graphs = {id(graph): client.scatter(graph) for *_, graph in tasks if graph is not None}
        with scorers_by_value(strategy for _, strategy, _, _ in tasks), client.as_current():
            futures = [client.submit(run_task, shared_future, fold, strategy, density, settings,
                                     None if graph is None else graphs[id(graph)], pure=False)
                       for fold, strategy, density, graph in tasks]
            for future in as_completed(futures):  # as_completed looks the current client up
                yield future.result()
    finally:
        if own_client:
            client.close()
