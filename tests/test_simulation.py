"""Simulation engine: splits, initial sets, incremental test predictions, reproducibility."""

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits
from sklearn.metrics import f1_score

from labelwise import LabelingSession, Strategy
from labelwise.data.datasets import Dataset
from labelwise.engine.index import global_density, knn_density
from labelwise.engine.vectors import as_unit_rows
from labelwise.errors import InvalidInputError
from labelwise.studies import shared as shared_data
from labelwise.studies import simulation as sim
from labelwise.studies.evaluation import TestSetPredictions, accuracy_and_macro_f1
from labelwise.studies.folds import make_folds, session_seed
from labelwise.studies.results import load_results as read_results
from labelwise.studies.results import save_results
from labelwise.studies.simulation import resolve_strategies, simulate


def digits_dataset(n=600, groups=False):
    X, y = load_digits(return_X_y=True)
    X, y = X[:n] + 0.01, y[:n]  # +0.01: no all-zero rows
    return Dataset(name="digits", vectors=X.astype(np.float32),
                   labels=y.astype(str).astype(object),
                   items=pd.DataFrame({"id": np.arange(n)}), kind="table",
                   groups=(np.arange(n) // 4) if groups else None)


def blobs_dataset(n=300, d=16, n_classes=3, seed=0):
    """Gaussian blobs: continuous similarities, so no exact ties between neighbours."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    X = rng.normal(size=(n_classes, d))[y] + rng.normal(scale=1.5, size=(n, d))
    return Dataset(name="blobs", vectors=X.astype(np.float32),
                   labels=np.array([f"c{c}" for c in y], dtype=object),
                   items=pd.DataFrame({"id": np.arange(n)}), kind="points",
                   groups=np.arange(n) // 3)


# -- splits ---------------------------------------------------------------------------------------
def test_random_folds_partition_the_items():
    ds = digits_dataset(200)
    folds = make_folds(ds, folds=5, test_size=0.25, n_init=3, seed=1)
    assert len(folds) == 5
    for fold in folds:
        assert len(fold.test) == 50 and len(fold.pool) == 150
        assert not set(fold.pool) & set(fold.test)
        assert len(set(fold.initial)) == 3 and fold.initial.max() < len(fold.pool)
    assert not all(np.array_equal(folds[0].test, f.test) for f in folds[1:])


def test_group_split_never_straddles_a_group():
    ds = digits_dataset(400, groups=True)
    for fold in make_folds(ds, folds=8, test_size=0.2, split="group", seed=3):
        assert not set(ds.groups[fold.pool]) & set(ds.groups[fold.test])
        assert len(fold.pool) + len(fold.test) == len(ds)


def test_group_split_needs_groups():
    with pytest.raises(InvalidInputError, match="groups"):
        make_folds(digits_dataset(100), split="group")


def test_initial_sets_are_shared_by_every_strategy():
    ds = blobs_dataset()
    folds = make_folds(ds, folds=3, n_init=4, seed=5)
    again = make_folds(ds, folds=3, n_init=4, seed=5)
    for a, b in zip(folds, again, strict=True):
        assert np.array_equal(a.initial, b.initial)
    results = simulate(ds, ["U", "U*I*D", "I*D"], folds=3, n_init=4, budget=5, seed=5)
    start = results[results["n_labeled"] == 4]
    # Same initial labels, same test set -> same starting accuracy and F1 for every strategy.
    assert start.groupby("fold")[["accuracy", "f1"]].nunique().eq(1).all().all()
    assert start["strategy"].nunique() == 4


# -- incremental test predictions -------------------------------------------------------------
@pytest.mark.parametrize("weights", ["uniform", "similarity"])
@pytest.mark.parametrize("fed", [False, True])
def test_incremental_test_predictions_equal_a_fresh_classifier(weights, fed):
    ds = blobs_dataset(n=250)
    vectors = as_unit_rows(ds.vectors)
    codes = np.array([ds.classes.index(v) for v in ds.labels])
    pool, test = np.arange(200), np.arange(200, 250)
    similarities = None
    if fed:
        gram = vectors @ vectors.T
        similarities = lambda item: gram[pool[item]][test]  # noqa: E731
    tracker = TestSetPredictions(vectors[test], 5, weights, len(ds.classes), similarities)
    session = LabelingSession(vectors[pool], "U*D", k=5, weights=weights, seed=0, model="knn")
    for step in range(40):
        item = session.next()
        session.label(item, ds.labels[pool[item]])
        tracker.add(item, int(codes[pool[item]]), vector=vectors[pool[item]])
        fresh = session.classifier().predict(vectors[test])
        expected = np.array([ds.classes.index(v) for v in fresh])
        assert np.array_equal(tracker.predictions, expected), f"step {step}"


def test_accuracy_and_macro_f1_match_scikit_learn():
    rng = np.random.default_rng(0)
    for _ in range(20):
        truth = rng.integers(0, 4, 30)
        pred = np.where(rng.random(30) < 0.6, truth, rng.integers(0, 5, 30))
        acc, f1 = accuracy_and_macro_f1(truth, pred, 5)
        assert acc == pytest.approx(np.mean(truth == pred))
        assert f1 == pytest.approx(f1_score(truth, pred, average="macro", zero_division=0))


# -- the simulation against a plain LabelingSession -------------------------------------------
def reference_run(ds, strategy, fold, *, budget, k=5, seed=0, model="knn"):
    """What simulate() must return for one fold, with a plain session and a fresh classifier
    (the session's model: kNN, or a snapshot of its graph model)."""
    vectors = as_unit_rows(ds.vectors)
    session = LabelingSession(vectors[fold.pool], strategy, k=k,
                              seed=session_seed(seed, fold.number), model=model)
    truth = ds.labels[fold.test]
    rows = []

    def measure():
        pred = session.classifier().predict(vectors[fold.test])
        rows.append((session.n_labeled, session.model_name, np.mean(pred == truth),
                     f1_score(truth.astype(str), pred.astype(str), average="macro",
                              zero_division=0)))

    for item in fold.initial:
        session.label(int(item), ds.labels[fold.pool[item]])
    measure()
    for _ in range(budget):
        item = session.next()
        session.label(item, ds.labels[fold.pool[item]])
        measure()
    return pd.DataFrame(rows, columns=["n_labeled", "model", "accuracy", "f1"])


@pytest.mark.parametrize("gram", [True, False])
def test_simulation_equals_a_plain_session(monkeypatch, gram):
    if not gram:
        monkeypatch.setattr(sim, "MAX_GRAM_BYTES", 0)  # the matrix-vector product path
    ds = blobs_dataset(n=260)
    results = simulate(ds, ["U*I*D", "U*D", "auto"], folds=2, budget=25, seed=4, model="knn")
    folds = make_folds(ds, folds=2, seed=4)
    for strategy in ("U*I*D", "U*D", "auto", "random"):
        label = Strategy.parse(strategy).label
        for fold in folds:
            got = results[(results["strategy"] == label) & (results["fold"] == fold.number)]
            expected = reference_run(ds, strategy, fold, budget=25, seed=4)
            pd.testing.assert_frame_equal(
                got[["n_labeled", "model", "accuracy", "f1"]].reset_index(drop=True),
                expected)


@pytest.mark.parametrize("model", ["graph", "auto"])
def test_graph_simulation_equals_a_plain_graph_session(model):
    ds = blobs_dataset(n=260)
    results = simulate(ds, ["U*I*D"], folds=2, budget=25, seed=4, model=model)
    for fold in make_folds(ds, folds=2, seed=4):
        for strategy in ("U*I*D", "random"):
            label = Strategy.parse(strategy).label
            got = results[(results["strategy"] == label) & (results["fold"] == fold.number)]
            expected = reference_run(ds, strategy, fold, budget=25, seed=4, model=model)
            pd.testing.assert_frame_equal(
                got[["n_labeled", "model", "accuracy", "f1"]].reset_index(drop=True),
                expected)
    assert set(results["model"]) == ({"graph"} if model == "graph" else {"knn", "graph"})


def test_fold_graphs_are_built_once_per_fold_and_shared_by_its_strategies(monkeypatch):
    built = []
    real = shared_data.PoolGraph.build

    def counting(vectors, *args, **kwargs):
        built.append(len(vectors))
        return real(vectors, *args, **kwargs)

    monkeypatch.setattr(shared_data.PoolGraph, "build", counting)
    ds = digits_dataset(200)
    simulate(ds, ["U*I*D", "U", "U*D"], folds=3, budget=4, seed=0, model="graph")
    assert len(built) == 3  # 3 folds, 4 strategies each
    simulate(ds, ["U*I*D"], folds=3, budget=4, seed=0, model="knn")
    assert len(built) == 3  # the kNN model needs no graph


def test_fold_density_equals_density_of_the_pool():
    ds = blobs_dataset(n=300)
    vectors = as_unit_rows(ds.vectors)
    shared = shared_data.SharedData(vectors, np.zeros(300, dtype=np.int64), ["a"],
                                    vectors @ vectors.T)
    folds = make_folds(ds, folds=3, test_size=0.3, seed=2)
    densities = shared_data.fold_densities(shared, folds, ["knn", "global"])
    # Few candidates: many rows lack 10 pool neighbours among them and take the exact fallback.
    few = shared_data.density_candidates(shared.gram, 11)
    for fold, dens in zip(folds, densities, strict=True):
        pool_vectors = vectors[fold.pool]
        np.testing.assert_allclose(dens["knn"], knn_density(pool_vectors, 10), atol=1e-6)
        np.testing.assert_allclose(dens["global"], global_density(pool_vectors), atol=1e-6)
        np.testing.assert_allclose(shared_data.fold_knn_density(shared, fold, few),
                                   knn_density(pool_vectors, 10), atol=1e-6)


# -- results table --------------------------------------------------------------------------------
def test_results_table_shape_and_random_baseline():
    ds = digits_dataset(300)
    results = simulate(ds, "U*I*D", folds=3, budget=10, n_init=2, seed=0, model="knn")
    assert list(results.columns) == ["strategy", "fold", "n_labeled", "model", "accuracy",
                                     "f1", "classes_seen", "seconds", "stop_at",
                                     "accuracy_at_stop"]
    assert (results["model"] == "knn").all()
    assert list(dict.fromkeys(results["strategy"])) == [
        "random", "U*I*D (margin, knn density)"]
    assert len(results) == 2 * 3 * 11
    first = results[results["n_labeled"] == 2]
    assert first["seconds"].isna().all()
    assert (results.loc[results["n_labeled"] > 2, "seconds"] >= 0).all()
    assert results["accuracy"].between(0, 1).all() and results["f1"].between(0, 1).all()
    seen = results.groupby(["strategy", "fold"])["classes_seen"]
    assert seen.apply(lambda s: s.is_monotonic_increasing).all()
    assert results["classes_seen"].between(1, len(ds.classes)).all()


def test_same_seed_same_table_and_another_seed_differs():
    ds = digits_dataset(300)
    kwargs = dict(folds=2, budget=15, seed=7)
    a = simulate(ds, ["U*I*D", "U"], **kwargs).drop(columns="seconds")
    b = simulate(ds, ["U*I*D", "U"], **kwargs).drop(columns="seconds")
    pd.testing.assert_frame_equal(a, b)
    c = simulate(ds, ["U*I*D", "U"], **{**kwargs, "seed": 8}).drop(columns="seconds")
    assert not a.equals(c)


@pytest.mark.parametrize("gram", [True, False])
def test_parallel_jobs_give_the_serial_table(monkeypatch, gram):
    if not gram:
        monkeypatch.setattr(sim, "MAX_GRAM_BYTES", 0)
    ds = digits_dataset(300)
    serial = simulate(ds, ["U*I*D"], folds=2, budget=10, seed=1)
    calls = []
    parallel = simulate(ds, ["U*I*D"], folds=2, budget=10, seed=1, n_jobs=2,
                        progress=lambda done, total: calls.append((done, total)))
    pd.testing.assert_frame_equal(serial.drop(columns="seconds"),
                                  parallel.drop(columns="seconds"))
    assert calls[0] == (0, 4) and calls[-1] == (4, 4)


@pytest.mark.parametrize("model", ["knn", "graph"])
def test_graph_model_in_parallel_gives_the_serial_table(model):
    ds = digits_dataset(300)
    kwargs = dict(folds=2, budget=30, seed=1, model=model)
    serial = simulate(ds, ["U*I*D", "U"], **kwargs)
    parallel = simulate(ds, ["U*I*D", "U"], n_jobs=2, **kwargs)
    pd.testing.assert_frame_equal(serial.drop(columns="seconds"),
                                  parallel.drop(columns="seconds"))


def separated_blobs(n=300, seed=1):
    """Three well separated blobs: the predictions settle within the budget."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = 4 * rng.normal(size=(3, 8))[y] + rng.normal(size=(n, 8))
    return Dataset(name="separated", vectors=X.astype(np.float32),
                   labels=np.array([f"c{c}" for c in y], dtype=object),
                   items=pd.DataFrame({"id": np.arange(n)}), kind="points")


def stop_of_a_plain_session(ds, strategy, fold, *, budget, seed, model):
    """(labeled count, accuracy) where a plain session's stopping status first says stable."""
    vectors = as_unit_rows(ds.vectors)
    session = LabelingSession(vectors[fold.pool], strategy, seed=session_seed(seed, fold.number),
                              model=model)
    truth = ds.labels[fold.test]
    for item in fold.initial:
        session.label(int(item), ds.labels[fold.pool[item]])
    while True:
        if session.stopping_status().stable:
            pred = session.classifier().predict(vectors[fold.test])
            return session.n_labeled, float(np.mean(pred == truth))
        if session.n_labeled >= len(fold.initial) + budget:
            return np.nan, np.nan
        item = session.next()
        session.label(item, ds.labels[fold.pool[item]])


@pytest.mark.parametrize("model", ["knn", "graph"])
def test_stopping_columns_record_where_the_signal_first_fires(model):
    ds = separated_blobs()
    results = simulate(ds, ["U*I*D"], folds=2, budget=60, seed=2, model=model)
    runs = results.groupby(["strategy", "fold"], sort=False)
    assert (runs["stop_at"].nunique(dropna=False) == 1).all()
    assert (runs["accuracy_at_stop"].nunique(dropna=False) == 1).all()
    fired = 0
    for (label, number), run in runs:
        strategy = "random" if label == "random" else "U*I*D"
        fold = make_folds(ds, folds=2, seed=2)[number]
        stop_at, accuracy = stop_of_a_plain_session(ds, strategy, fold, budget=60, seed=2,
                                                    model=model)
        got = run.iloc[0]
        if np.isnan(stop_at):
            assert np.isnan(got["stop_at"]) and np.isnan(got["accuracy_at_stop"])
            continue
        fired += 1
        # The monitor needs window + 1 = 21 labels before it can call anything stable.
        assert got["stop_at"] == stop_at >= 21
        assert got["accuracy_at_stop"] == pytest.approx(accuracy)
        assert got["accuracy_at_stop"] == run.loc[run["n_labeled"] == stop_at,
                                                  "accuracy"].item()
    assert fired >= 2


def test_batches_and_budget_capped_by_the_pool():
    ds = digits_dataset(60)
    results = simulate(ds, ["random"], folds=1, test_size=0.5, budget=7, batch=3, n_init=2)
    assert results["n_labeled"].tolist() == [2, 5, 8, 9]
    capped = simulate(ds, ["U*D"], folds=1, test_size=0.5, budget=1000, n_init=2)
    assert capped["n_labeled"].max() == 30


def test_strategies_are_parsed_and_deduplicated():
    got = resolve_strategies(["U*I*D", "u*d*i", "random,U"])
    assert [s.label for s in got] == [
        "U*I*D (margin, knn density)", "random", "U (margin)"]
    assert [s.name for s in resolve_strategies(["U", "random", "U*D", "u"])] == [
        "U", "random", "U*D"]
    margin = Strategy.parse("U*I*D", uncertainty="margin")
    assert resolve_strategies([margin])[0].label == "random"


@pytest.mark.parametrize("kwargs, message", [
    (dict(n_init=0), "n_init"),
    (dict(budget=-1), "budget"),
    (dict(test_size=1.5), "test_size"),
    (dict(split="stratified"), "split"),
    (dict(n_jobs=0), "n_jobs"),
    (dict(weights="distance"), "weights"),
    (dict(model="svm"), "model"),
])
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        simulate(digits_dataset(100), "U", **{"folds": 1, "budget": 2, **kwargs})


def test_unlabeled_dataset_is_refused():
    ds = digits_dataset(50)
    ds.labels = None
    with pytest.raises(InvalidInputError, match="no labels"):
        simulate(ds, "U", folds=1, budget=2)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_results_round_trip(tmp_path, suffix):
    results = simulate(digits_dataset(100), "U", folds=1, budget=3)
    path = save_results(results, tmp_path / f"out{suffix}")
    back = read_results(path)
    pd.testing.assert_frame_equal(back, results, check_dtype=False)
    with pytest.raises(InvalidInputError, match=r"\.csv or \.parquet"):
        save_results(results, tmp_path / "out.xlsx")


# -- stopping a simulation ------------------------------------------------------------------------
class StopAfter:
    """A should_stop hook that says "stop" from its n-th call on, and counts its calls."""

    def __init__(self, n: int) -> None:
        self.n, self.calls = n, 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.calls >= self.n


def test_should_stop_stops_within_a_run_and_keeps_the_finished_runs():
    ds = digits_dataset(300)
    full = simulate(ds, ["U*I*D"], folds=2, budget=10, seed=1).drop(columns="seconds")
    # 1 check before the first run, then 1 per label step (10) and 1 after each run: the
    # 15th call is the third step of the second run.
    hook = StopAfter(15)
    with pytest.raises(sim.SimulationStopped) as stopped:
        simulate(ds, ["U*I*D"], folds=2, budget=10, seed=1, should_stop=hook)
    assert hook.calls == 15  # nothing ran past the step where the hook said stop
    assert (stopped.value.done, stopped.value.total) == (1, 4)
    kept = stopped.value.results.drop(columns="seconds")
    first = full[(full["strategy"] == "random") & (full["fold"] == 0)].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, first)


def test_should_stop_at_once_runs_nothing_and_never_called_changes_nothing():
    ds = digits_dataset(300)
    with pytest.raises(sim.SimulationStopped) as stopped:
        simulate(ds, ["U*I*D"], folds=2, budget=10, seed=1, should_stop=lambda: True)
    assert stopped.value.results is None and stopped.value.done == 0
    assert "0 of 4" in str(stopped.value)
    plain = simulate(ds, ["U*I*D"], folds=2, budget=10, seed=1).drop(columns="seconds")
    hooked = simulate(ds, ["U*I*D"], folds=2, budget=10, seed=1,
                      should_stop=lambda: False).drop(columns="seconds")
    pd.testing.assert_frame_equal(plain, hooked)


def test_should_stop_between_runs_with_parallel_jobs():
    ds = digits_dataset(300)
    hook = StopAfter(2)  # before the first run, then after the first finished run
    with pytest.raises(sim.SimulationStopped) as stopped:
        simulate(ds, ["U*I*D"], folds=2, budget=10, seed=1, n_jobs=2, should_stop=hook)
    assert stopped.value.done == 1 and len(stopped.value.results) == 11
