"""``labelwise review``: the review queue of a stored project, printed and written."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from labelwise import LabelingSession
from labelwise.cli.main import main as cli_main
from labelwise.data.catalog import load_dataset
from labelwise.data.datasets import Dataset
from labelwise.engine.quality import suspect_labels
from labelwise.labels.projects import bind_project, strategy_settings
from labelwise.labels.store import LabelStore

N = 120
FLIPPED = (3, 50, 97)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture
def project(tmp_path, digits):
    """120 items of a pool drawn from the pack (as the dashboard does), 3 labels flipped."""
    rows = np.arange(0, len(digits), 3)
    pool = Dataset("digits-pool", digits.vectors[rows], digits.labels[rows],
                   digits.items.iloc[rows].reset_index(drop=True), digits.kind)
    store = LabelStore(tmp_path / "data")
    bind_project(store, "d", pool, dataset_id="pack:digits",
                 settings=strategy_settings("U*I*D", k=5, seed=0))
    labels = [str(v) for v in pool.labels[:N]]
    for n in FLIPPED:
        labels[n] = "x" + labels[n]  # a class nobody else has: surely out-voted
    for item_id, label in zip(pool.ids[:N], labels, strict=True):
        store.record("d", item_id, "label", label, who="ana" if int(item_id) % 2 else "bo")
    return store, pool, labels, tmp_path


def run(tmp_path, *args: str) -> int:
    return cli_main(["review", "d", "--data-dir", str(tmp_path / "data"), *args])


def test_review_prints_and_writes_the_queue(project, capsys) -> None:
    store, pool, labels, tmp = project
    assert run(tmp, "--top", "5", "--out", str(tmp / "q.csv")) == 0
    out = capsys.readouterr().out
    assert "wrote the review queue of 120 labels of project 'd' as csv" in out
    queue = pd.read_csv(tmp / "q.csv", dtype={"item_id": str, "label": str, "suggested": str})
    assert list(queue.columns) == ["rank", "item_id", "label", "suggested", "score", "reason",
                                   "who", "item"]
    assert {pool.ids[n] for n in FLIPPED} <= set(queue["item_id"].head(10))
    assert (queue.set_index("item_id").loc[[pool.ids[n] for n in FLIPPED], "score"] == 0).all()
    assert queue["item_id"].iloc[0] in out
    # The same queue as the engine's on a session holding the labels over the pool.
    session = LabelingSession(pool.vectors, "random", k=5)
    session.label_many(range(N), labels)
    expected = suspect_labels(session)
    assert queue["item_id"].tolist() == [pool.ids[i] for i in expected["item"]]
    np.testing.assert_allclose(queue["score"], expected["score"])
    who = dict(zip(store.current_labels("d")["item_id"], store.current_labels("d")["who"],
                   strict=True))
    assert queue["who"].tolist() == [who[i] for i in queue["item_id"]]


def test_review_json_and_options(project, capsys) -> None:
    _, pool, _, tmp = project
    assert run(tmp, "--out", str(tmp / "q.json"), "--k", "auto",
               "--weights", "similarity") == 0
    records = json.loads((tmp / "q.json").read_text())
    assert len(records) == N and records[0]["rank"] == 1
    assert {pool.ids[n] for n in FLIPPED} <= {r["item_id"] for r in records[:10]}
    assert run(tmp, "--model", "graph", "--out", str(tmp / "g.csv")) == 0
    graph = pd.read_csv(tmp / "g.csv", dtype={"item_id": str})
    assert {pool.ids[n] for n in FLIPPED} <= set(graph["item_id"].head(10))
    assert graph["reason"].str.contains("label spreading|no other label").all()
    assert run(tmp, "--k", "0") == 2
    assert "--k must be a positive integer" in capsys.readouterr().err


def test_review_of_an_empty_project_and_errors(tmp_path, digits, capsys) -> None:
    store = LabelStore(tmp_path / "data")
    bind_project(store, "d", digits, dataset_id="pack:digits")
    assert run(tmp_path) == 0
    assert "no labels yet" in capsys.readouterr().out
    store.record("d", "not-an-item", "label", "3", who="ana")
    assert run(tmp_path) == 2
    assert "not in dataset" in capsys.readouterr().err
    assert cli_main(["review", "nope", "--data-dir", str(tmp_path / "data")]) == 2
    assert "no project named 'nope'" in capsys.readouterr().err
