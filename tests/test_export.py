"""Exports: CSV (spreadsheet-safe), JSON Lines, Parquet (Hugging Face style), Label Studio tasks
and config, image folders, and the kNN model (.npz, no pickle). tests/test_export_roundtrip.py
checks with hypothesis that every format keeps arbitrary text exactly."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from labelwise.cli.main import main as cli_main
from labelwise.data.catalog import load_dataset
from labelwise.data.datasets import Dataset
from labelwise.errors import InvalidInputError
from labelwise.labels.export import (
    FORMATS,
    csv_cell,
    csv_cell_text,
    export_project,
    labeled_items,
    labelstudio_config,
    labelstudio_tasks,
    load_knn_model,
    model_arrays,
    safe_file_name,
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
    back = pd.read_csv(path, dtype=str, keep_default_na=False).map(csv_cell_text)
    table = labeled_items(store, "p", dataset)
    assert back["item_id"].tolist() == table["item_id"].tolist()
    assert back["label"].tolist() == [str(v) for v in table["label"]]
    assert back["text"].tolist() == table["text"].tolist()  # quotes, newlines, tags intact
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert all(t.startswith("'=SUM") for t in raw["text"] if "SUM" in t)  # shown as text


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
        assert "predictions" not in task
    # Without a dataset: ids only, the annotation points at a generic "item".
    bare = labelstudio_tasks(store, "p")
    assert bare[0]["data"] == {"item_id": table["item_id"][0]}
    assert bare[0]["annotations"][0]["result"][0]["to_name"] == "item"


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
    # npz holds the kNN vote on the labels (whatever model a session uses): compare with one.
    session = resume_session(store, "m", pool, model="knn")
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


# -- CSV for spreadsheets (issue 14) -------------------------------------------------------
def test_csv_cells_escape_formula_prefixes_and_the_escape_itself():
    for text in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "'x", "''"]:
        assert csv_cell(text) == "'" + text
        assert csv_cell_text(csv_cell(text)) == text
    for text in ["plain", "007", "1.0", " =x", "x=1", ""]:
        assert csv_cell(text) == text == csv_cell_text(csv_cell(text))
    assert csv_cell(-7) == "'-7" and csv_cell(None) == "" and csv_cell(float("nan")) == ""


def test_csv_quotes_bare_cr_and_lf_and_ends_rows_with_lf(tmp_path):
    store = LabelStore(tmp_path / "data")
    store.create_project("p", "d", "sha256:x", {})
    for item_id, label in [("a", "bare\rcr"), ("b", "lf\nhere"), ("c", 'q"uote, comma'),
                           ("007", "=cmd|' /C calc'!A0")]:
        store.record("p", item_id, "label", label, who="ana")
    path = export_project(store, "p", "csv", tmp_path / "x.csv")
    raw = path.read_bytes().decode("utf-8")
    assert '"bare\rcr"' in raw and '"lf\nhere"' in raw and '"q""uote, comma"' in raw
    assert ",'=cmd|' /C calc'!A0," in raw
    # Outside quotes, rows end with LF only: exactly one per row.
    assert raw.count("\n") == 5 + 1 and "\r\n" not in raw
    back = pd.read_csv(io.BytesIO(path.read_bytes()), dtype=str, keep_default_na=False)
    assert back["item_id"].tolist() == ["a", "b", "c", "007"]
    assert back["label"].map(csv_cell_text).tolist() == [
        "bare\rcr", "lf\nhere", 'q"uote, comma', "=cmd|' /C calc'!A0"]


# -- Parquet, Hugging Face style -------------------------------------------------------------
def test_parquet_reads_back_with_the_datasets_features(labeled):
    store, dataset, _, tmp = labeled
    path = export_project(store, "p", "parquet", tmp / "labels.parquet", dataset=dataset)
    table = pq.read_table(path)
    assert table.column_names == ["id", "text", "label", "label_id", "who", "at"]
    assert str(table.schema.field("label").type) == "string"
    assert str(table.schema.field("label_id").type) == "int64"
    features = json.loads(table.schema.metadata[b"huggingface"])["info"]["features"]
    assert features == {
        "id": {"dtype": "string", "_type": "Value"},
        "text": {"dtype": "string", "_type": "Value"},
        "label": {"dtype": "string", "_type": "Value"},
        "label_id": {"names": ["7", "neg", "pos"], "_type": "ClassLabel"},
        "who": {"dtype": "string", "_type": "Value"},
        "at": {"dtype": "string", "_type": "Value"}}
    rows = table.to_pylist()
    expected = labeled_items(store, "p", dataset)
    assert [r["id"] for r in rows] == expected["item_id"].tolist()
    assert [r["label"] for r in rows] == [str(v) for v in expected["label"]]  # 7 -> "7"
    assert [r["text"] for r in rows] == expected["text"].tolist()
    names = features["label_id"]["names"]
    assert [names[r["label_id"]] for r in rows] == [r["label"] for r in rows]


# -- Label Studio ------------------------------------------------------------------------------
def brute_force_votes(vectors, labeled_rows, labels, queries, k):
    """Uniform kNN vote shares of each query row among the labeled rows (cosine similarity)."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    classes = sorted({str(v) for v in labels}, key=str)
    shares = []
    for q in queries:
        sims = [float(unit[q] @ unit[r]) for r in labeled_rows]
        nearest = np.argsort(sims, kind="stable")[::-1][:k]
        votes = {c: 0 for c in classes}
        for n in nearest:
            votes[str(labels[n])] += 1
        shares.append({c: v / len(nearest) for c, v in votes.items()})
    return shares


@pytest.mark.parametrize("which", ["unlabeled", "all"])
def test_labelstudio_predictions_are_the_models_with_their_scores(labeled, which):
    store, dataset, session, _ = labeled
    tasks = labelstudio_tasks(store, "p", dataset, predictions=which)
    assert len(tasks) == len(dataset)  # every item once: labeled first, then the rest
    assert [t["data"]["item_id"] for t in tasks[:25]] == labeled_items(store, "p")[
        "item_id"].tolist()
    assert all("annotations" in t for t in tasks[:25])
    assert not any("annotations" in t for t in tasks[25:])
    predicted = [t for t in tasks if "predictions" in t]
    assert len(predicted) == (60 if which == "all" else 35)
    index_of = {i: n for n, i in enumerate(dataset.ids)}
    order = labeled_items(store, "p")
    labeled_rows = [index_of[i] for i in order["item_id"]]
    queries = [index_of[t["data"]["item_id"]] for t in predicted]
    shares = brute_force_votes(dataset.vectors, labeled_rows, order["label"].tolist(), queries,
                               k=3)
    for task, share in zip(predicted, shares, strict=True):
        (prediction,) = task["predictions"]
        assert prediction["model_version"] == "labelwise-knn k=3 uniform, 25 labels"
        (result,) = prediction["result"]
        assert result["from_name"] == "label" and result["to_name"] == "text"
        (choice,) = result["value"]["choices"]
        assert share[choice] == max(share.values())  # a most voted class (ties allowed)
        assert prediction["score"] == pytest.approx(share[choice])
    # The live session's model gives the same predictions as the one rebuilt from the store.
    assert labelstudio_tasks(store, "p", dataset, predictions=which, session=session) == tasks


def test_labelstudio_refuses_predictions_it_cannot_make(labeled):
    store, dataset, _, tmp = labeled
    with pytest.raises(InvalidInputError, match="dataset"):
        labelstudio_tasks(store, "p", predictions="unlabeled")
    with pytest.raises(InvalidInputError, match="predictions must be one of"):
        labelstudio_tasks(store, "p", dataset, predictions="some")
    with pytest.raises(InvalidInputError, match="options of the labelstudio format"):
        export_project(store, "p", "csv", tmp / "x.csv", dataset, predictions="all")
    bind_project(store, "empty", dataset)
    with pytest.raises(InvalidInputError, match="nothing is labeled"):
        labelstudio_tasks(store, "empty", dataset, predictions="all")


def test_labelstudio_config_is_xml_with_the_classes_escaped():
    classes = ['say "hi"', "<b>bold</b>", "R&D", "line\nbreak", "tab\there", "=1", "'"]
    text = labelstudio_config(classes, "image")
    assert "&lt;b&gt;bold&lt;/b&gt;" in text and "R&amp;D" in text and "&quot;hi&quot;" in text
    root = ET.fromstring(text)
    assert root.tag == "View"
    image, choices = list(root)
    assert (image.tag, image.attrib) == ("Image", {"name": "image", "value": "$image"})
    assert choices.get("name") == "label" and choices.get("toName") == "image"
    assert [c.get("value") for c in choices] == classes
    text_root = ET.fromstring(labelstudio_config(["a"], "text"))
    assert text_root[0].attrib == {"name": "text", "value": "$text"}
    with pytest.raises(InvalidInputError, match="XML"):
        labelstudio_config(["bell\x07"], "text")
    with pytest.raises(InvalidInputError, match="shows"):
        labelstudio_config(["a"], "video")


def test_labelstudio_config_file_lists_the_projects_classes(labeled):
    store, dataset, _, tmp = labeled
    path = export_project(store, "p", "labelstudio-config", tmp / "c.xml", dataset)
    root = ET.fromstring(path.read_bytes())
    assert [c.get("value") for c in root.iter("Choice")] == ["7", "neg", "pos"]
    assert root[0].attrib == {"name": "text", "value": "$text"}


# -- image packs: content, image folders ------------------------------------------------------
def png(colour: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (3, 2), (colour, 0, 0)).save(out, format="PNG")
    return out.getvalue()


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (3, 2), (0, 0, 90)).save(out, format="JPEG")
    return out.getvalue()


EVIL_LABELS = ["../../etc/x", "..", "/etc/passwd", "C:\\Windows\\x", "CON", "Cat", "cat",
               "manifest.csv", "a/b", "a_b", " .hidden ", "ok"]


@pytest.fixture
def images(tmp_path):
    ids = ["x/1.png", "y/1.png", "2", "2.png", "../up.png", "a:b?.png", "z", "w", "v", "u",
           "t", "s", "r"]
    blobs = [png(n * 10) for n in range(len(ids))]
    blobs[6] = jpeg()  # item "z"
    items = pd.DataFrame({"id": ids, "image": blobs})
    vectors = np.random.default_rng(3).standard_normal((len(ids), 4)).astype(np.float32)
    dataset = Dataset("pics", vectors, None, items, "image")
    store = LabelStore(tmp_path / "data")
    bind_project(store, "pics", dataset, settings=strategy_settings("U*I*D", k=1, seed=0))
    labels = ["ok", "ok", "ok", "ok", *EVIL_LABELS[:8]]
    for item_id, label in zip(ids, labels, strict=False):
        store.record("pics", item_id, "label", label, who="ana")
    return store, dataset, dict(zip(ids, blobs, strict=True)), tmp_path


def test_image_folder_zip_stays_inside_its_folders(images):
    store, dataset, blobs, tmp = images
    path = export_project(store, "pics", "imagefolder", tmp / "pics.zip", dataset)
    out = tmp / "unpacked"
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        archive.extractall(out)
        manifest = pd.read_csv(io.BytesIO(archive.read("manifest.csv")), dtype=str,
                               keep_default_na=False).map(csv_cell_text)
    assert len(names) == len(set(names)) == len(manifest) + 1
    for name in names:
        assert (out / name).resolve().is_relative_to(out.resolve())
        parts = PurePosixPath(name).parts
        assert len(parts) == (1 if name == "manifest.csv" else 2)
        assert not any(p in (".", "..") or p.startswith(".") or "\\" in p for p in parts)
    folder_of = {}
    for file, item_id, label in manifest.itertuples(index=False):
        folder_of.setdefault(label, PurePosixPath(file).parent.as_posix())
        assert folder_of[label] == PurePosixPath(file).parent.as_posix()  # one per class
        assert (out / file).read_bytes() == blobs[item_id]
    assert len({f.casefold() for f in folder_of.values()}) == len(folder_of)  # "Cat" vs "cat"
    assert "manifest.csv" not in folder_of.values()
    assert folder_of["../../etc/x"] == "_.._etc_x" and folder_of[".."] == "_"
    assert folder_of["CON"] == "_CON"
    files = dict(zip(manifest["item_id"], manifest["file"], strict=True))
    assert files["x/1.png"] == "ok/1.png" and files["y/1.png"] == "ok/1-2.png"
    assert files["2"] == "ok/2.png" and files["2.png"] == "ok/2-2.png"
    assert files["z"] == "_etc_passwd/z.jpg"  # the ending follows the bytes
    assert files["t"] == "cat-2/t.png" and files["s"] == "manifest.csv-2/s.png"
    assert not (tmp / "etc").exists() and not (tmp.parent / "up.png").exists()


def test_safe_file_name():
    assert safe_file_name("../../etc/x") == "_.._etc_x"
    assert safe_file_name("..") == safe_file_name(".") == safe_file_name("") == "_"
    assert safe_file_name("a\x00b\nc") == "a_b_c"
    assert safe_file_name("nul.txt") == "_nul.txt" and safe_file_name("COM1") == "_COM1"
    assert safe_file_name("e\u0301") == "é"  # one normal form, one name
    long = safe_file_name("é" * 200)
    assert len(long.encode()) <= 120 and long == "é" * 60


def test_image_content_in_csv_parquet_and_labelstudio(images):
    store, dataset, blobs, tmp = images
    table = labeled_items(store, "pics", dataset)
    assert list(table.columns) == ["item_id", "label", "who", "at", "image"]
    assert table["image"].tolist() == table["item_id"].tolist()  # no source path: the id
    rows = pq.read_table(export_project(store, "pics", "parquet", tmp / "p.parquet",
                                        dataset)).to_pylist()
    assert [r["image"] for r in rows] == [{"bytes": blobs[r["id"]], "path": r["id"]}
                                          for r in rows]
    features = json.loads(pq.read_schema(tmp / "p.parquet").metadata[b"huggingface"])
    assert features["info"]["features"]["image"] == {"_type": "Image"}
    tasks = labelstudio_tasks(store, "pics", dataset)
    first = tasks[0]["data"]
    assert first["image"] == "data:image/png;base64," + __import__("base64").b64encode(
        blobs[first["item_id"]]).decode()
    assert tasks[0]["annotations"][0]["result"][0]["to_name"] == "image"
    prefixed = labelstudio_tasks(store, "pics", dataset, image_prefix="/data/local-files/?d=")
    assert [t["data"]["image"] for t in prefixed[4:6]] == [
        "/data/local-files/?d=../up.png", "/data/local-files/?d=a%3Ab%3F.png"]


def test_a_known_source_path_names_the_image(images):
    store, dataset, _, tmp = images
    items = dataset.items.assign(path=[f"/photos/{n}.png" for n in range(len(dataset))])
    with_paths = Dataset("pics", dataset.vectors, None, items, "image")
    table = labeled_items(store, "pics", with_paths)
    assert table["image"].tolist()[:2] == ["/photos/0.png", "/photos/1.png"]
    path = export_project(store, "pics", "imagefolder", tmp / "p.zip", with_paths)
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist()[:2] == ["ok/0.png", "ok/1.png"]


def test_image_folder_needs_images(labeled):
    store, dataset, _, tmp = labeled
    for data in (dataset, None):
        with pytest.raises(InvalidInputError, match="image"):
            export_project(store, "p", "imagefolder", tmp / "x.zip", data)


def test_every_format_is_offered_through_export_project(images):
    store, dataset, _, tmp = images
    for fmt in FORMATS:
        assert export_project(store, "pics", fmt, tmp / f"out-{fmt}", dataset).stat().st_size


# -- the Export page ------------------------------------------------------------------------------
APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
PAGE_BUTTONS = {"CSV", "JSON Lines", "Parquet (Hugging Face)", "Label Studio tasks (JSON)",
                "Label Studio config (XML)", "kNN model (.npz)"}


def pack_project(store: LabelStore, pack: str, labels: list[str]) -> Dataset:
    """Project ``pack`` on the dashboard's pool of the built-in pack, its first items labeled
    ``labels`` (as the Label page would have stored them); returns the pool."""
    from labelwise.dashboard.labeling import holdout_split

    pool = holdout_split(load_dataset(pack)).pool
    bind_project(store, pack, pool, dataset_id=f"pack:{pack}",
                 settings=strategy_settings("U*I*D", k=3, seed=0))
    for item_id, label in zip(pool.ids, labels, strict=False):
        store.record(pack, item_id, "label", label, who="ana")
    return pool


@pytest.mark.slow
@pytest.mark.parametrize(("pack", "buttons"), [
    ("digits", PAGE_BUTTONS | {"Image folders (zip)"}), ("moons", PAGE_BUTTONS)])
def test_export_page_offers_a_download_button_per_format(tmp_path, monkeypatch, pack, buttons):
    monkeypatch.chdir(tmp_path)  # the page's default store: ./labelwise-data (or the test's)
    monkeypatch.delenv("LABELWISE_DATA_DIR", raising=False)
    pack_project(LabelStore(), pack, ["=1", "b"])
    at = AppTest.from_file(APP, default_timeout=300)
    at.switch_page("views/export.py").run()
    assert not at.exception and not at.error
    assert at.selectbox(key="export_project").options == [pack]
    assert {b.proto.label for b in at.get("download_button")} == buttons
    assert at.selectbox(key="export_predictions").options == [
        "No predictions", "Unlabeled items", "All items"]
    at.selectbox(key="export_predictions").set_value("All items").run()
    assert not at.exception and not at.error
    assert any("leading '" in c.value for c in at.caption)


@pytest.mark.browser
def test_export_page_downloads_every_format_in_a_browser(tmp_path):
    """The real server: each button's file (the deferred ones built on click) downloads."""
    from browser_helpers import launch_chromium, new_context, start_streamlit, stop_server
    from playwright.sync_api import expect, sync_playwright

    labels = ["=1+1", "../../etc/x", "b\rc", "=1+1"]
    # The server's store: ./labelwise-data in its folder (the tests' store variables dropped).
    pool = pack_project(LabelStore(tmp_path / "labelwise-data"), "digits", labels)
    proc, url = start_streamlit(tmp_path)
    files = {}
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            page = new_context(browser).new_page()
            page.goto(f"{url}/export")
            expect(page.get_by_role("heading", name="Export")).to_be_visible(timeout=120_000)
            page.get_by_role("combobox", name="Label Studio predictions").click()
            page.get_by_role("option", name="Unlabeled items").click()
            for title in sorted(PAGE_BUTTONS | {"Image folders (zip)"}):
                button = page.get_by_role("button", name=title, exact=True)
                expect(button).to_be_enabled(timeout=120_000)
                wait_idle(page)
                with page.expect_download() as download:
                    button.click()
                files[title] = Path(download.value.path()).read_bytes()
            browser.close()
    finally:
        stop_server(proc)
    csv_text = files["CSV"].decode("utf-8")
    assert csv_text.startswith("item_id,label,who,at,image\n")
    assert ",'=1+1,ana," in csv_text and ',"b\rc",ana,' in csv_text
    tasks = json.loads(files["Label Studio tasks (JSON)"])
    assert len(tasks) == len(pool) and "predictions" in tasks[-1]
    assert tasks[0]["data"]["image"].startswith("data:image/png;base64,")
    table = pq.read_table(io.BytesIO(files["Parquet (Hugging Face)"]))
    assert table.column("label").to_pylist() == labels
    with zipfile.ZipFile(io.BytesIO(files["Image folders (zip)"])) as archive:
        assert {n.split("/")[0] for n in archive.namelist()} == {
            "=1+1", "_.._etc_x", "b_c", "manifest.csv"}
    root = ET.fromstring(files["Label Studio config (XML)"])
    assert {c.get("value") for c in root.iter("Choice")} == set(labels)
    assert load_knn_model_bytes(files["kNN model (.npz)"], tmp_path).n_neighbors == 3


def wait_idle(page) -> None:
    """Wait until Streamlit shows no running indicator and no stale (faded) element."""
    page.wait_for_function(
        """() => !document.querySelector('[data-testid="stStatusWidgetRunningIcon"], '
                 + '[data-testid="stStatusWidgetRunningManIcon"], [data-stale="true"]')""")


def load_knn_model_bytes(data: bytes, folder: Path):
    path = folder / "model.npz"
    path.write_bytes(data)
    return load_knn_model(path)
