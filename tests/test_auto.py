"""The auto strategy: its readings match brute force, it is reproducible, it never reads the
holdout. Whether it ends on the arm that is clearly best is measured, not tested:
benchmarks/auto_regimes.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs

from labelwise import LabelingSession, Strategy, simulate
from labelwise.data.datasets import Dataset
from labelwise.engine import auto
from labelwise.engine.index import knn_density
from labelwise.engine.vectors import as_unit_rows
from labelwise.studies.simulation import make_folds


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((4, 16)) * 2
    y = rng.integers(0, 4, 400)
    return centers[y] + rng.standard_normal((400, 16)), np.array(list("abcd"))[y]


def label_loop(session, truth, steps):
    picks = []
    for _ in range(steps):
        item = session.next()
        session.label(item, truth[item])
        picks.append(item)
    return picks


def table(name, X, y) -> Dataset:
    return Dataset(name=name, vectors=np.asarray(X, dtype=np.float32),
                   labels=np.asarray(y).astype(str).astype(object),
                   items=pd.DataFrame({"id": np.arange(len(y))}), kind="table")


def test_auto_parses_and_names_itself():
    strategy = Strategy.parse("auto", uncertainty="entropy", density="global")
    assert strategy.auto and strategy.name == "auto"
    assert strategy.label == "auto (entropy, global density)"
    session = LabelingSession(np.eye(4) + 0.1, strategy)
    assert {a.label for a in session.policy.arms.values()} == {
        "U*I*D (entropy, global density)", "U*D (entropy)"}


# -- readings against brute force ------------------------------------------------------------------
def brute_agreement(X, labels_in_order):
    """Kappa of 1-NN agreement among labeled items, from the full similarity matrix."""
    V = as_unit_rows(X)
    items = np.array([i for i, _ in labels_in_order])
    codes = np.array([c for _, c in labels_in_order])
    counts = {c: int(np.sum(codes == c)) for c in set(codes.tolist())}
    agree, checked = [], []
    for n, (item, code) in enumerate(zip(items, codes, strict=True)):
        if counts[code] < 2:
            continue
        sims = (V[items] @ V[item]).astype(np.float64)
        sims[n] = -np.inf
        nearest = int(np.flatnonzero(sims == sims.max())[0])  # earliest label wins a tie
        agree.append(codes[nearest] == code)
        checked.append(code)
    a = np.mean(agree)
    shares = np.array([checked.count(c) for c in set(checked)]) / len(checked)
    chance = np.sum(shares ** 2)
    return (a - chance) / (1 - chance), len(checked)


def test_agreement_matches_brute_force(blobs):
    X, y = blobs
    session = LabelingSession(X, "U*I*D", seed=1)
    rng = np.random.default_rng(3)
    order = rng.choice(len(X), 40, replace=False)
    labels = [(int(i), y[i]) for i in order[:-1]] + [(int(order[-1]), "lonely")]
    for item, label in labels:
        session.label(item, label)
    kappa, checked = brute_agreement(X, [(i, str(c)) for i, c in labels])
    got = auto.neighbour_agreement(session.view())
    assert got.evidence == checked == 39  # the only "lonely" item is not checked
    assert got.kappa == pytest.approx(kappa, abs=1e-12)
    assert 0 < got.stderr < 0.2


def test_agreement_needs_evidence_and_two_classes(blobs):
    X, _ = blobs
    session = LabelingSession(X, "U*I*D", seed=1)
    for item in range(5):
        session.label(item, "a")
    assert auto.neighbour_agreement(session.view()) is None  # 5 < MIN_EVIDENCE
    session.label(5, "a")
    assert auto.neighbour_agreement(session.view()) is None  # one class: kappa undefined
    session.label(6, "b")
    session.label(7, "b")
    assert auto.neighbour_agreement(session.view()).evidence == 8
    one_neighbour = LabelingSession(X, "U*I*D", k=1)
    for item in range(8):
        one_neighbour.label(item, "ab"[item % 2])
    assert auto.neighbour_agreement(one_neighbour.view()) is None  # k=1 keeps only the item itself


def test_coverage_matches_brute_force(blobs):
    X, y = blobs
    session = LabelingSession(X, "U*I*D", seed=1)
    label_loop(session, y, 25)
    V = as_unit_rows(X).astype(np.float64)
    sims = V @ V.T
    np.fill_diagonal(sims, -np.inf)
    radius = np.sort(sims, axis=1)[:, -10:].mean(axis=1)
    labeled, pool = session.labeled, session.pool
    nearest_labeled = (V[pool] @ V[labeled].T).max(axis=1)
    expected = np.mean(nearest_labeled >= radius[pool] - 1e-6)
    density = knn_density(session.vectors, 10)
    assert auto.label_coverage(session.view(), density) == pytest.approx(expected)


@pytest.mark.parametrize(("kappa", "stderr", "coverage", "arm"), [
    (0.95, 0.01, 0.0, "U*D"),    # neighbours agree, with confidence
    (0.95, 0.10, 0.0, "U*I*D"),  # agree, but too uncertain to act on
    (0.50, 0.05, 0.1, "U*I*D"),  # weak model
    (0.50, 0.05, 0.3, "U*D"),    # weak, but the pool is covered
    (None, None, 0.1, "U*I*D"),  # too few labels to judge
])
def test_rule(kappa, stderr, coverage, arm):
    agreement = None if kappa is None else auto.Agreement(kappa, stderr, 20)
    assert auto.choose_arm(agreement, coverage) == arm
    assert auto.describe(agreement, coverage)


# -- behaviour -------------------------------------------------------------------------------------
def test_same_seed_same_picks_and_decisions(blobs):
    X, y = blobs
    runs = []
    for _ in range(2):
        session = LabelingSession(X, "auto", seed=5)
        picks = label_loop(session, y, 40)
        runs.append((picks, session.explain_strategy()["decisions"]))
    assert runs[0][0] == runs[1][0]
    pd.testing.assert_frame_equal(runs[0][1], runs[1][1])
    assert set(runs[0][1]["arm"]) == {"U*I*D (margin, knn density)", "U*D (margin)"}


def test_explains_which_arm_picked_and_why(blobs):
    X, y = blobs
    session = LabelingSession(X, "auto", seed=0)
    label_loop(session, y, 15)
    item = session.next()
    info = session.explain_strategy()
    assert session.picked_by(item) == info["arm"]
    assert "labeled neighbours agree" in info["reason"] and "of the pool" in info["reason"]
    assert list(info["decisions"].columns) == ["n_labeled", "arm", "coverage", "kappa",
                                               "stderr", "evidence"]
    assert len(info["decisions"]) == 16
    assert session.picked_by(int(session.labeled[0])) == "not suggested"


def test_decision_depends_only_on_the_labels(blobs):
    """Undo and relabel leave auto exactly where a session given the same labels would be."""
    X, y = blobs
    session = LabelingSession(X, "auto", seed=0)
    label_loop(session, y, 20)
    session.unlabel(int(session.labeled[3]))
    session.label(int(session.labeled[0]), "z")
    session.next()
    fresh = LabelingSession(X, "auto", seed=0)
    for item, label in session.labels.items():
        fresh.label(item, label)
    fresh.next()
    assert fresh.explain_strategy()["reason"] == session.explain_strategy()["reason"]


def test_switching_to_and_from_auto_and_batches(blobs):
    X, y = blobs
    session = LabelingSession(X, "U*I*D", seed=0)
    label_loop(session, y, 5)
    assert session.explain_strategy()["decisions"] is None
    session.set_strategy("auto")
    label_loop(session, y, 5)
    assert len(session.explain_strategy()["decisions"]) == 5
    batch = session.next(batch=4)
    assert len(set(batch)) == 4 and len({session.picked_by(i) for i in batch}) == 1
    session.set_strategy("U")
    assert session.picked_by(session.next()) == Strategy.parse("U").label


def test_never_reads_the_holdout(monkeypatch):
    """Changing every holdout label changes the accuracy but not a single pick."""
    X, y = make_blobs(n_samples=[300, 300, 30], n_features=8, random_state=2)
    original = table("blobs", X, y)
    test_rows = make_folds(original, folds=1, seed=3)[0].test
    tampered_labels = original.labels.copy()
    tampered_labels[test_rows] = "2"
    tampered = table("blobs", X, tampered_labels)
    recorded = []
    select = auto.AutoPolicy.select

    def recording_select(self, view, count, rng):
        picks = select(self, view, count, rng)
        recorded[-1].append((picks, self.history[-1][1]))
        return picks

    monkeypatch.setattr(auto.AutoPolicy, "select", recording_select)
    results = []
    for dataset in (original, tampered):
        recorded.append([])
        results.append(simulate(dataset, "auto", folds=1, budget=40, seed=3))
    assert recorded[0] == recorded[1] and len(recorded[0]) == 40
    auto_rows = [r[r["strategy"].str.startswith("auto")] for r in results]
    assert not np.array_equal(auto_rows[0]["accuracy"], auto_rows[1]["accuracy"])
