"""Resume: a session rebuilt from the store mirrors the live session that wrote the labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from labelwise import LabelingSession
from labelwise.data.datasets import Dataset
from labelwise.labels.projects import (
    DatasetMismatchError,
    bind_project,
    dataset_fingerprint,
    label_item,
    replay_events,
    resume_session,
    skip_item,
    strategy_settings,
    suggest_batch,
    sync,
    unlabel_item,
)
from labelwise.labels.store import LabelStore


def _dataset(n=400, d=12, seed=0, name="synthetic") -> Dataset:
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, d)).astype(np.float32)
    return Dataset(name, vectors, None, pd.DataFrame({"id": [f"item-{i}" for i in range(n)]}),
                   "points")


def _canonical(view):
    """Neighbour slots sorted best first (slot order inside a row is arbitrary)."""
    order = np.lexsort((view.neighbor_seq, -view.neighbor_sim))
    return {name: np.take_along_axis(getattr(view, f"neighbor_{name}"), order, axis=1)
            for name in ("sim", "idx", "seq", "cls")}


def _label_rank(session: LabelingSession, idx: np.ndarray) -> np.ndarray:
    rank = np.full(session.n_items + 1, -1)
    rank[session.labeled] = np.arange(session.n_labeled)
    return rank[idx]  # idx -1 (empty slot) reads the trailing -1


def _assert_same_state(live: LabelingSession, resumed: LabelingSession) -> None:
    assert resumed.classes == live.classes
    assert resumed.labels == live.labels
    np.testing.assert_array_equal(resumed.labeled, live.labeled)
    a, b = _canonical(live.view()), _canonical(resumed.view())
    for name in ("idx", "cls"):
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    # Sequence numbers only order labels (undone labels leave gaps in a live session, a bulk
    # replay numbers densely): compare each neighbour's rank in its session's labeling order.
    np.testing.assert_array_equal(_label_rank(live, a["idx"]), _label_rank(resumed, b["idx"]),
                                  err_msg="seq order")
    # Bulk replay uses a matrix product where label() uses a matrix-vector product: the
    # similarities may differ in the last float32 bit, never more.
    np.testing.assert_allclose(a["sim"], b["sim"], rtol=0, atol=1e-6)


@pytest.fixture
def store(tmp_path):
    return LabelStore(tmp_path)


@pytest.mark.parametrize("strategy", ["U*I*D", "U*D", "random"])
@pytest.mark.parametrize("weights", ["uniform", "similarity"])
def test_resume_equals_the_live_session(store, strategy, weights):
    dataset = _dataset()
    settings = strategy_settings(strategy, k=5, weights=weights, seed=7)
    bind_project(store, "p", dataset, settings=settings)
    live = resume_session(store, "p", dataset)
    oracle = np.random.default_rng(1)
    for step in range(120):
        item = live.next()
        label_item(live, item, f"class-{oracle.integers(3)}", who="ana")
        if step % 11 == 4:  # undo an early label: its rank among ties must be forgotten
            unlabel_item(live, int(live.labeled[2]), who="ana")
        if step % 13 == 6:  # relabel: keeps its rank, changes its class (a new one too)
            label_item(live, int(live.labeled[0]), f"late-{step % 2}", who="bob")
        if step % 17 == 8:
            skip_item(live, live.next(), who="ana")
    resumed = resume_session(store, "p", dataset)
    _assert_same_state(live, resumed)
    pd.testing.assert_frame_equal(resumed.scores(), live.scores(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(resumed.predict_proba(), live.predict_proba(), atol=1e-6)
    assert resumed.predict().tolist() == live.predict().tolist()
    live.rng, resumed.rng = np.random.default_rng(3), np.random.default_rng(3)
    assert resumed.next(batch=5) == live.next(batch=5)
    assert resumed.next() == live.next()


@pytest.mark.parametrize("k", [1, 4, 12, 200])  # argmax passes, argpartition, all labeled
def test_bulk_replay_equals_label_by_label_on_exact_ties(store, k):
    # Duplicated vectors: many neighbours tie exactly; earlier labels must win everywhere.
    rng = np.random.default_rng(4)
    base = rng.standard_normal((30, 6)).astype(np.float32)
    vectors = base[rng.integers(0, 30, size=300)]
    dataset = Dataset("dups", vectors, None,
                      pd.DataFrame({"id": np.arange(300)}), "points")
    bind_project(store, "dups", dataset, settings=strategy_settings("U*I*D", k=k, seed=0))
    reference = LabelingSession(vectors, "U*I*D", k=k, seed=0)
    for item in rng.permutation(300)[:150]:
        label = int(rng.integers(4))  # integer labels keep their type through the store
        store.record("dups", int(item), "label", label, who="ana")
        reference.label(int(item), label)
    resumed = resume_session(store, "dups", dataset)
    _assert_same_state(reference, resumed)
    assert all(isinstance(c, int) for c in resumed.classes)


def test_sync_applies_other_labelers_events(store):
    dataset = _dataset()
    bind_project(store, "p", dataset, settings=strategy_settings(seed=0))
    ana = resume_session(store, "p", dataset)
    bob = resume_session(store, "p", LabelStore(store.path) and dataset)
    label_item(ana, 5, "x", who="ana")
    label_item(bob, 6, "y", who="bob")
    label_item(bob, 5, "z", who="bob")      # disagreement: latest wins
    applied = sync(ana)
    assert applied["item_id"].tolist() == ["item-6", "item-5"]
    assert ana.labels == {5: "z", 6: "y"} == bob.labels
    unlabel_item(ana, 6, who="ana")
    sync(bob)
    assert bob.labels == {5: "z"}
    assert sync(bob).empty  # nothing new: nothing applied
    _assert_same_state(resume_session(store, "p", dataset), ana)


def test_suggest_batch_never_hands_out_reserved_items(store):
    dataset = _dataset()
    bind_project(store, "p", dataset, settings=strategy_settings(seed=0))
    ana = resume_session(store, "p", dataset)
    bob = resume_session(store, "p", dataset)
    for n in range(5):
        label_item(ana, n, f"c{n % 2}", who="ana")
    first = suggest_batch(ana, 6, who="ana")
    second = suggest_batch(bob, 6, who="bob")
    assert len(first) == 6 and len(second) == 6
    assert not set(first) & set(second)
    assert set(first) == {int(i.split("-")[1]) for i in store.reserved_by_others("p", "bob")}


def test_fingerprint_and_dataset_mismatch(store):
    dataset = _dataset()
    fp = dataset_fingerprint(dataset)
    assert fp.startswith("sha256:") and fp == dataset_fingerprint(_dataset())
    other_vectors = _dataset(seed=1)
    other_ids = Dataset("synthetic", dataset.vectors, None,
                        pd.DataFrame({"id": [f"x-{i}" for i in range(400)]}), "points")
    assert len({fp, dataset_fingerprint(other_vectors), dataset_fingerprint(other_ids)}) == 3
    bind_project(store, "p", dataset)
    for other in (other_vectors, other_ids):
        with pytest.raises(DatasetMismatchError, match="different vectors or item ids"):
            resume_session(store, "p", other)
        with pytest.raises(DatasetMismatchError):
            bind_project(store, "p", other)
    dup = Dataset("dup", dataset.vectors[:2], None, pd.DataFrame({"id": ["a", "a"]}), "points")
    with pytest.raises(ValueError, match="unique"):
        dataset_fingerprint(dup)


def test_replay_names_unknown_items():
    events = pd.DataFrame({"item_id": ["a", "zz"], "action": ["label", "label"],
                           "label": ["x", "y"]})
    with pytest.raises(DatasetMismatchError, match="'zz'"):
        replay_events(events, {"a": 0}, 1)


def test_resume_of_an_empty_project_and_setting_overrides(store):
    dataset = _dataset()
    bind_project(store, "p", dataset, settings=strategy_settings("U*D", k=3, seed=1))
    session = resume_session(store, "p", dataset)
    assert session.n_labeled == 0 and session.k == 3 and session.strategy.name == "U*D"
    session = resume_session(store, "p", dataset, "random", k=2)
    assert session.k == 2 and session.strategy.is_random


def test_resume_with_the_auto_strategy_makes_the_same_decision(store):
    dataset = _dataset()
    bind_project(store, "p", dataset, settings=strategy_settings("auto", seed=0))
    live = resume_session(store, "p", dataset)
    for n in range(30):
        label_item(live, live.next(), f"c{n % 3}", who="ana")
    resumed = resume_session(store, "p", dataset)
    assert resumed.strategy.auto
    live.next()
    assert resumed.next() in set(resumed.pool.tolist())
    # auto's rule reads only the labels, so a resumed session chooses the same arm, for the
    # same reason, as the session that gave them.
    assert resumed.explain_strategy()["reason"] == live.explain_strategy()["reason"]
    assert resumed.explain_strategy()["arm"] == live.explain_strategy()["arm"]


def test_resume_passes_the_model_and_the_stored_graph_to_the_session(store, tmp_path):
    from labelwise import pool_graph_for

    ds = _dataset(n=120)
    bind_project(store, "g", ds)
    live = resume_session(store, "g", ds, seed=0)
    for item in range(6):
        label_item(live, item, "ab"[item % 2], who="ana")
    graph = pool_graph_for(ds.vectors, cache_dir=tmp_path)
    resumed = resume_session(store, "g", ds, seed=0, model="graph", graph=graph)
    assert resumed.graph is graph
    assert resumed.progress().model == "graph"
    assert resumed.labels == live.labels
    assert resume_session(store, "g", ds, seed=0).progress().model == "knn"
