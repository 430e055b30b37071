"""Exports round-trip: CSV, JSON Lines, Label Studio tasks, and the kNN model (.npz, no pickle)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from labelwise.cli.main import main as cli_main
from labelwise.data.catalog import load_dataset
from labelwise.data.datasets import Dataset
from labelwise.errors import InvalidInputError
from labelwise.labels.export import (
    export_project,
    labeled_items,
    labelstudio_tasks,
    load_knn_model,
    model_arrays,
    save_knn_model,
    stored_model_arrays,
)
from labelwise.labels.projects import bind_project, label_item, resume_session, strategy_settings
from labelwise.labels.store import LabelStore

TEXTS = ['plain', 'comma, "quotes" and\nnewline', "<script>alert(1)</script>", "naïve ünïcode ☃",
         "=SUM(A1:A2)"]


@pytest.fixture
def labeled(tmp_path):
    rng = np.random.default_rng(0)
    n = 60
    vectors = rng.standard_normal((n, 8)).astype(np.float32)
    items = pd.DataFrame({"id": [f"t{i}" for i in range(n)],
                          "text": [TEXTS[i % len(TEXTS)] + f" #{i}" for i in range(n)]})
    dataset = Dataset("texts", vectors, None, items, "text")
    store = LabelStore(tmp_path / "data")
    bind_project(store, "p", dataset, settings=strategy_settings("U*I*D", k=3, seed=0))
    session = resume_session(store, "p", dataset)
    for step in range(25):
        label_item(session, session.next(), ["pos", "neg", 7][step % 3], who=f"w{step % 2}")
    label_item(session, int(session.labeled[0]), "neg", who="w1")  # relabel
    return store, dataset, session, tmp_path


def test_labeled_items_table(labeled):
    store, dataset, session, _ = labeled
    table = labeled_items(store, "p", dataset)
    assert list(table.columns) == ["item_id", "label", "who", "at", "text"]
    assert len(table) == session.n_labeled == 25
    by_id = dict(zip(table["item_id"], table["label"], strict=True))
    assert by_id == {dataset.ids[i]: label for i, label in session.labels.items()}
    texts = dict(zip(dataset.items["id"], dataset.items["text"], strict=True))
    assert all(texts[i] == t for i, t in zip(table["item_id"], table["text"], strict=True))


def test_csv_round_trip(labeled):
    store, dataset, _, tmp = labeled
    path = export_project(store, "p", "csv", tmp / "labels.csv", dataset=dataset)
    back = pd.read_csv(path, dtype=str, keep_default_na=False)
    table = labeled_items(store, "p", dataset)
    assert back["item_id"].tolist() == table["item_id"].tolist()
    assert back["label"].tolist() == [str(v) for v in table["label"]]
    assert back["text"].tolist() == table["text"].tolist()  # quotes, newlines, tags intact


def test_jsonl_round_trip_keeps_types(labeled):
    store, dataset, _, tmp = labeled
    path = export_project(store, "p", "jsonl", tmp / "labels.jsonl", dataset=dataset)
    lines = path.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    table = labeled_items(store, "p", dataset)
    assert [r["item_id"] for r in records] == table["item_id"].tolist()
    assert [r["label"] for r in records] == table["label"].tolist()  # 7 stays an int
    assert any(r["label"] == 7 for r in records)
    assert {r["text"] for r in records} <= set(dataset.items["text"])


def test_labelstudio_task_structure(labeled):
    store, dataset, _, tmp = labeled
    path = export_project(store, "p", "labelstudio", tmp / "tasks.json", dataset=dataset)
    tasks = json.loads(path.read_text(encoding="utf-8"))
    table = labeled_items(store, "p", dataset)
    assert isinstance(tasks, list) and len(tasks) == len(table)
    for task, (_, row) in zip(tasks, table.iterrows(), strict=True):
        assert task["data"] == {"item_id": row["item_id"], "text": row["text"]}
        (annotation,) = task["annotations"]
        (result,) = annotation["result"]
        assert result == {"from_name": "label", "to_name": "text", "type": "choices",
                          "value": {"choices": [str(row["label"])]}}
        assert annotation["meta"]["labeled_by"] == row["who"]
    # Without a dataset: ids only, the annotation points at a generic "item".
    bare = labelstudio_tasks(labeled_items(store, "p"))
    assert bare[0]["data"] == {"item_id": table["item_id"][0]}


def test_knn_model_round_trip_without_pickle(labeled):
    _, _, session, tmp = labeled
    path = save_knn_model(tmp / "model.npz", session)
    with np.load(path, allow_pickle=False) as npz:
        assert {"vectors", "labels", "classes", "k", "weights"} <= set(npz.files)
        assert all(npz[name].dtype != object for name in npz.files)
        assert len(npz["vectors"]) == session.n_labeled
    loaded = load_knn_model(path)
    reference = session.classifier()
    queries = np.random.default_rng(1).standard_normal((200, 8)).astype(np.float32)
    assert loaded.n_neighbors == reference.n_neighbors == 3
    assert loaded.predict(queries).tolist() == reference.predict(queries).tolist()
    np.testing.assert_array_equal(loaded.predict_proba(queries),
                                  reference.predict_proba(queries))
    assert sorted(map(str, loaded.classes_)) == sorted(map(str, reference.classes_))


def test_load_knn_model_refuses_other_files(tmp_path):
    pickled = tmp_path / "evil.npz"
    np.savez(pickled, vectors=np.array([object()], dtype=object))
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    for path in (pickled, junk, tmp_path / "missing.npz"):
        with pytest.raises(InvalidInputError):
            load_knn_model(path)


def test_export_refuses_unknown_format_and_empty_model(labeled, tmp_path):
    store, dataset, _, tmp = labeled
    with pytest.raises(InvalidInputError, match="format"):
        export_project(store, "p", "xml", tmp / "x.xml")
    bind_project(store, "empty", dataset)
    with pytest.raises(InvalidInputError, match="nothing is labeled"):
        export_project(store, "empty", "npz", tmp / "m.npz", dataset=dataset)
    assert export_project(store, "empty", "csv", tmp / "e.csv").read_text().startswith("item_id")


def test_cli_export(labeled, capsys):
    store, _, _, tmp = labeled
    out = tmp / "cli.jsonl"
    assert cli_main(["export", "p", "--format", "jsonl", "--out", str(out),
                     "--data-dir", str(store.path.parent)]) == 0
    assert len(out.read_text().splitlines()) == 25
    assert "wrote 25 labels" in capsys.readouterr().out
    assert cli_main(["export", "nope", "--format", "csv", "--out", str(tmp / "n.csv"),
                     "--data-dir", str(store.path.parent)]) == 2
    assert "no project named 'nope'" in capsys.readouterr().err


def test_model_from_the_store_equals_the_sessions(labeled):
    store, dataset, session, _ = labeled
    from_store = stored_model_arrays(store, "p", dataset)
    from_session = model_arrays(session)
    assert from_store.keys() == from_session.keys()
    for name, array in from_session.items():
        np.testing.assert_array_equal(from_store[name], array, err_msg=name)


def test_cli_exports_the_model_of_a_pool_drawn_from_a_pack(tmp_path, capsys):
    moons = load_dataset("moons")
    rows = np.arange(0, len(moons), 2)  # the dashboard labels a pool, not the whole pack
    pool = Dataset("moons-pool", moons.vectors[rows], moons.labels[rows],
                   moons.items.iloc[rows].reset_index(drop=True), moons.kind)
    store = LabelStore(tmp_path / "data")
    bind_project(store, "m", pool, dataset_id="pack:moons",
                 settings=strategy_settings("U*I*D", k=3, seed=0))
    session = resume_session(store, "m", pool)
    for _ in range(12):
        item = session.next()
        label_item(session, item, str(pool.labels[item]), who="ana")
    out = tmp_path / "m.npz"
    assert cli_main(["export", "m", "--format", "npz", "--out", str(out),
                     "--data-dir", str(tmp_path / "data")]) == 0
    assert "wrote 12 labels" in capsys.readouterr().out
    loaded = load_knn_model(out)
    np.testing.assert_array_equal(loaded.predict(moons.vectors),
                                  session.classifier().predict(moons.vectors))
    with_items = tmp_path / "m.csv"
    assert cli_main(["export", "m", "--format", "csv", "--out", str(with_items),
                     "--data-dir", str(tmp_path / "data"), "--with-items"]) == 0
    assert len(pd.read_csv(with_items)) == 12
