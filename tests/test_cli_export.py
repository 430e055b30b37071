"""``labelwise export`` in every format, on a project labeled on a pool of a built-in pack."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
import zipfile

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from labelwise.cli.main import main as cli_main
from labelwise.data.catalog import load_dataset
from labelwise.data.datasets import Dataset
from labelwise.labels.projects import bind_project, strategy_settings
from labelwise.labels.store import LabelStore

LABELS = ["0", "../../etc/x", "<b>&\"", "=HYPERLINK(1)", "0", "007"]


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture
def project(tmp_path, digits):
    rows = np.arange(0, len(digits), 3)  # the dashboard labels a pool drawn from the pack
    pool = Dataset("digits-pool", digits.vectors[rows], digits.labels[rows],
                   digits.items.iloc[rows].reset_index(drop=True), digits.kind)
    store = LabelStore(tmp_path / "data")
    bind_project(store, "d", pool, dataset_id="pack:digits",
                 settings=strategy_settings("U*I*D", k=3, seed=0))
    for item_id, label in zip(pool.ids[:len(LABELS)], LABELS, strict=True):
        store.record("d", item_id, "label", label, who="ana")
    return store, pool, tmp_path


def run(tmp_path, *args: str) -> int:
    return cli_main(["export", "d", "--data-dir", str(tmp_path / "data"), *args])


def test_cli_writes_the_content_formats_from_the_projects_pack(project, capsys):
    _, pool, tmp = project
    assert run(tmp, "--format", "parquet", "--out", str(tmp / "d.parquet")) == 0
    assert "wrote 6 labels of project 'd' as parquet" in capsys.readouterr().out
    table = pq.read_table(tmp / "d.parquet")
    assert table.column_names == ["id", "image", "label", "label_id", "who", "at"]
    assert table.column("label").to_pylist() == LABELS
    features = json.loads(table.schema.metadata[b"huggingface"])["info"]["features"]
    assert features["label_id"]["names"] == sorted(set(LABELS))
    blobs = dict(zip(pool.ids, pool.items["image"], strict=True))
    assert all(r["image"]["bytes"] == blobs[r["id"]] for r in table.to_pylist())

    assert run(tmp, "--format", "labelstudio-config", "--out", str(tmp / "c.xml")) == 0
    root = ET.fromstring((tmp / "c.xml").read_bytes())
    assert [c.get("value") for c in root.iter("Choice")] == sorted(set(LABELS))

    assert run(tmp, "--format", "imagefolder", "--out", str(tmp / "d.zip")) == 0
    with zipfile.ZipFile(tmp / "d.zip") as archive:
        folders = {n.split("/")[0] for n in archive.namelist() if "/" in n}
    assert folders == {"0", "_.._etc_x", "_b_&_", "=HYPERLINK(1)", "007"}


def test_cli_labelstudio_with_predictions_and_an_image_prefix(project):
    _, pool, tmp = project
    out = tmp / "tasks.json"
    assert run(tmp, "--format", "labelstudio", "--out", str(out), "--predictions",
               "unlabeled", "--image-prefix", "/data/local-files/?d=digits/") == 0
    tasks = json.loads(out.read_text(encoding="utf-8"))
    # The project's dataset is the whole pack, so every digit is a task.
    assert len(tasks) == 1797
    assert [t["data"]["item_id"] for t in tasks[:6]] == pool.ids[:6].tolist()
    assert tasks[0]["data"]["image"] == f"/data/local-files/?d=digits/{pool.ids[0]}"
    assert all("predictions" not in t for t in tasks[:6])
    scores = [t["predictions"][0]["score"] for t in tasks[6:]]
    assert all(0 < s <= 1 for s in scores)
    assert {t["predictions"][0]["result"][0]["value"]["choices"][0] for t in tasks[6:]} <= set(
        LABELS)


def test_cli_csv_is_spreadsheet_safe(project):
    _, _, tmp = project
    assert run(tmp, "--format", "csv", "--out", str(tmp / "d.csv"), "--with-items") == 0
    text = (tmp / "d.csv").read_text(encoding="utf-8")
    assert ",'=HYPERLINK(1),ana," in text and ",007,ana," in text


def test_cli_exports_ids_only_when_the_dataset_cannot_be_loaded(tmp_path, capsys):
    rng = np.random.default_rng(0)
    dataset = Dataset("mine", rng.standard_normal((4, 3)).astype(np.float32), None,
                      pd.DataFrame({"id": ["a", "b", "c", "d"], "text": list("wxyz")}), "text")
    store = LabelStore(tmp_path / "data")
    bind_project(store, "d", dataset, dataset_id="custom:mine.csv")
    store.record("d", "a", "label", "yes", who="ana")
    assert run(tmp_path, "--format", "parquet", "--out", str(tmp_path / "d.parquet")) == 0
    assert "without their content" in capsys.readouterr().err
    assert pq.read_table(tmp_path / "d.parquet").column_names == [
        "id", "label", "label_id", "who", "at"]
    assert run(tmp_path, "--format", "imagefolder", "--out", str(tmp_path / "d.zip")) == 2
    assert "--dataset PATH" in capsys.readouterr().err
    assert run(tmp_path, "--format", "csv", "--out", str(tmp_path / "d.csv"),
               "--predictions", "all") == 2
    assert "error" in capsys.readouterr().err
