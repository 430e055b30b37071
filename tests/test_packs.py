"""Shipped packs: format, contents, reproducibility against the shared source, size budget."""

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from labelwise import InvalidInputError, load_dataset
from labelwise.data.builders import build_pack
from labelwise.data.encoders import get_encoder
from labelwise.data.packs import (
    PackError,
    dequantize_uint8,
    quantize_uint8,
    read_pack,
    write_pack,
)
from labelwise.data.paths import data_dir, packs_dir


def row_cosines(a, b):
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module")
def fruits():
    return load_dataset("fruits")


@pytest.fixture(scope="module")
def sentiment():
    return load_dataset("sentiment140")


def test_fruits_pack_holds_every_photo_with_its_group(fruits_dir, fruits):
    manifest = pd.read_csv(fruits_dir / "manifest.csv")
    assert len(fruits) == 7521 and fruits.kind == "image"
    assert fruits.vectors.shape == (7521, 1280) and fruits.vectors.dtype == np.float32
    assert fruits.classes == sorted(manifest["label"].unique())
    np.testing.assert_array_equal(fruits.labels, manifest["label"].to_numpy())
    assert len(set(fruits.groups)) == 1510
    assert fruits.items["id"].is_unique
    assert fruits.metadata["licence"].startswith("not stated")


def test_fruits_thumbnails_are_small_jpegs(fruits):
    for data in fruits.items["image"].iloc[::1500]:
        image = Image.open(io.BytesIO(data))
        assert image.format == "JPEG" and max(image.size) <= 128


def test_fruits_vectors_are_reproduced_by_re_embedding_source_photos(fruits_dir, fruits):
    manifest = pd.read_csv(fruits_dir / "manifest.csv")
    rows = [0, 1234, 4321, 7520]
    fresh = get_encoder("mobilenet_v2", cache=False).encode(
        [fruits_dir / f for f in manifest["file"].iloc[rows]])
    assert row_cosines(fresh, fruits.vectors[rows]).min() >= 0.999


def test_sentiment_pack_maps_targets_to_negative_and_positive(tweets_csv, sentiment):
    source = pd.read_csv(tweets_csv)
    assert len(sentiment) == 20000 and sentiment.kind == "text"
    assert sentiment.classes == ["negative", "positive"]
    assert (sentiment.labels == "positive").sum() == 10058
    np.testing.assert_array_equal(sentiment.items["text"], source["text"])
    assert sentiment.vectors.shape == (20000, 512)


def test_sentiment_vectors_are_reproduced_by_re_embedding_source_tweets(tweets_csv, sentiment):
    rows = [0, 777, 19999]
    texts = pd.read_csv(tweets_csv)["text"].iloc[rows].tolist()
    fresh = get_encoder("use", cache=False).encode(texts)
    assert row_cosines(fresh, sentiment.vectors[rows]).min() >= 0.999


def test_every_pack_has_a_build_command_and_licence():
    for name in ("fruits", "sentiment140", "digits", "moons"):
        meta = load_dataset(name).metadata
        assert meta["build_command"].startswith(f"labelwise build-pack {name}")
        assert meta["licence"] and meta["source"]
        assert meta["n_items"] == sum(meta["class_counts"].values())


def test_rebuilding_a_pack_writes_the_same_bytes(tmp_path):
    for name in ("digits", "moons"):
        out = build_pack(name, out=tmp_path / name)
        files = sorted(f.name for f in out.iterdir())
        assert files == sorted(f.name for f in (packs_dir() / name).iterdir())
        for file in files:
            assert (out / file).read_bytes() == (packs_dir() / name / file).read_bytes(), file


def test_data_folder_stays_under_60_mb():
    total = sum(f.stat().st_size for f in data_dir().rglob("*") if f.is_file())
    assert total < 60 * 1024 * 1024


def test_uint8_quantisation_keeps_cosine_above_0999():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 64)).astype(np.float32)
    codes, quant = quantize_uint8(X)
    assert codes.dtype == np.uint8 and quant.shape == (2, 64)
    assert row_cosines(X, dequantize_uint8(codes, quant)).min() > 0.999


def test_write_and_read_round_trip_keeps_labels_groups_and_items(tmp_path):
    items = pd.DataFrame({"id": ["a", "b", "c"], "text": ["x", "y", "z"]})
    X = np.array([[1, 0], [0, 1], [1, 1]], dtype=np.float32)
    write_pack(tmp_path, name="tiny", kind="text", vectors=X, items=items,
               labels=["p", "q", "p"], groups=["g1", "g1", "g2"], metadata={"licence": "none"})
    ds = read_pack(tmp_path)
    np.testing.assert_array_equal(ds.vectors, X)
    assert ds.labels.tolist() == ["p", "q", "p"] and ds.groups.tolist() == ["g1", "g1", "g2"]
    assert list(ds.items.columns) == ["id", "text"]
    assert ds.metadata["class_counts"] == {"p": 2, "q": 1} and ds.metadata["n_groups"] == 2


def test_images_are_stored_apart_and_restored_in_their_column(tmp_path):
    items = pd.DataFrame({"id": ["a", "b"], "image": [b"\x89PNG-1", b"JPEG-22"], "note": [1, 2]})
    X = np.eye(2, dtype=np.float32)
    write_pack(tmp_path / "p", name="p", kind="image", vectors=X, items=items)
    assert (tmp_path / "p" / "images.bin").read_bytes() == b"\x89PNG-1JPEG-22"
    ds = read_pack(tmp_path / "p")
    assert list(ds.items.columns) == ["id", "image", "note"]
    assert ds.items["image"].tolist() == [b"\x89PNG-1", b"JPEG-22"]
    # Rewriting replaces the whole folder: no stale image file, no staging folder left.
    write_pack(tmp_path / "p", name="p", kind="table", vectors=X, items=items[["id"]])
    assert sorted(f.name for f in (tmp_path / "p").iterdir()) == [
        "items.parquet", "metadata.json", "vectors.npy"]
    assert [f.name for f in tmp_path.iterdir()] == ["p"]


def test_write_pack_refuses_duplicate_ids_and_mismatched_rows(tmp_path):
    X = np.ones((2, 2), dtype=np.float32)
    with pytest.raises(InvalidInputError, match="not unique"):
        write_pack(tmp_path, name="t", kind="text", vectors=X,
                   items=pd.DataFrame({"id": ["a", "a"]}))
    with pytest.raises(InvalidInputError, match="3 item rows for 2 vectors"):
        write_pack(tmp_path, name="t", kind="text", vectors=X,
                   items=pd.DataFrame({"id": ["a", "b", "c"]}))


def test_broken_pack_folders_raise_pack_errors(tmp_path):
    with pytest.raises(PackError, match=r"no metadata\.json"):
        read_pack(tmp_path)
    (tmp_path / "metadata.json").write_text('{"format_version": 99}')
    with pytest.raises(PackError, match="unsupported pack format version 99"):
        read_pack(tmp_path)


def test_build_pack_names_what_it_needs():
    with pytest.raises(InvalidInputError, match="unknown pack"):
        build_pack("nope")
    with pytest.raises(InvalidInputError, match="needs --source"):
        build_pack("fruits")


def test_build_pack_cli_rebuilds_into_a_folder(tmp_path, capsys):
    from labelwise.cli.main import main

    assert main(["build-pack", "moons", "--out", str(tmp_path / "m")]) == 0
    assert "1000 items" in capsys.readouterr().out
    assert main(["build-pack", "sentiment140", "--source", str(tmp_path / "none")]) == 2
