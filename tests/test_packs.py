"""Shipped packs: format, contents, stored graphs and densities, reproducibility against the
shared source, size budget."""

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from labelwise import GraphModel, InvalidInputError, PoolGraph, load_dataset, pool_density
from labelwise.dashboard.labeling import holdout_split
from labelwise.data.builders import LABELING_POOL, build_pack
from labelwise.data.encoders import get_encoder
from labelwise.data.images import display_jpeg
from labelwise.data.packs import (
    PackError,
    dequantize_uint8,
    pool_folder,
    quantize_uint8,
    read_pack,
    write_pack,
)
from labelwise.data.paths import data_dir, packs_dir
from labelwise.data.pools import pool_parts_for, read_pool, shipped_pool, vectors_fingerprint
from labelwise.engine.vectors import as_unit_rows

PACKS = ("fruits", "sentiment140", "sentiment140-e5", "digits", "moons")


def row_cosines(a, b):
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module")
def fruits():
    return load_dataset("fruits")


@pytest.fixture(scope="module")
def sentiment():
    return load_dataset("sentiment140")


@pytest.fixture(scope="module")
def sentiment_e5():
    return load_dataset("sentiment140-e5")


def assert_same_graph(stored, built):
    """The same graph, up to float32 rounding of the similarities (it differs by CPU: see
    :func:`assert_same_file`)."""
    np.testing.assert_array_equal(stored.neighbors, built.neighbors)
    np.testing.assert_allclose(stored.similarities, built.similarities, rtol=0, atol=1e-6)
    assert stored.bandwidth == pytest.approx(built.bandwidth, rel=1e-5)
    np.testing.assert_array_equal(stored.weights.indptr, built.weights.indptr)
    np.testing.assert_array_equal(stored.weights.indices, built.weights.indices)
    np.testing.assert_allclose(stored.weights.data, built.weights.data, rtol=1e-5, atol=0)


def test_fruits_pack_holds_every_photo_with_its_group(fruits_dir, fruits):
    manifest = pd.read_csv(fruits_dir / "manifest.csv")
    assert len(fruits) == 7521 and fruits.kind == "image"
    assert fruits.vectors.shape == (7521, 1280) and fruits.vectors.dtype == np.float32
    assert fruits.classes == sorted(manifest["label"].unique())
    np.testing.assert_array_equal(fruits.labels, manifest["label"].to_numpy())
    assert len(set(fruits.groups)) == 1510
    assert fruits.items["id"].is_unique
    assert fruits.metadata["licence"].startswith("not stated")


def test_fruits_images_are_the_source_jpegs_themselves(fruits_dir, fruits):
    manifest = pd.read_csv(fruits_dir / "manifest.csv")
    for row in range(0, len(fruits), 997):
        data = fruits.items["image"].iloc[row]
        assert data == (fruits_dir / manifest["file"].iloc[row]).read_bytes()
        image = Image.open(io.BytesIO(data))
        assert image.format == "JPEG" and max(image.size) <= 224


def test_display_jpeg_keeps_small_jpegs_and_re_encodes_the_rest():
    def encoded(size, fmt):
        buffer = io.BytesIO()
        Image.new("RGB", size, (200, 30, 30)).save(buffer, format=fmt)
        return buffer.getvalue()

    small = encoded((224, 100), "JPEG")
    assert display_jpeg(small, 224) == small
    # Too large: shrunk to 224 px; not a JPEG: re-encoded at its own size.
    for data, size in ((encoded((300, 120), "JPEG"), (224, 90)), (encoded((50, 40), "PNG"),
                                                                  (50, 40))):
        image = Image.open(io.BytesIO(display_jpeg(data, 224)))
        assert image.format == "JPEG" and image.size == size
    with pytest.raises(InvalidInputError, match="not a readable image"):
        display_jpeg(b"garbage", 224)


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


def test_e5_pack_holds_the_same_tweets_in_the_same_order(sentiment, sentiment_e5):
    pd.testing.assert_frame_equal(sentiment_e5.items, sentiment.items)
    np.testing.assert_array_equal(sentiment_e5.labels, sentiment.labels)
    assert sentiment_e5.vectors.shape == (20000, 384)
    assert sentiment_e5.metadata["encoder"] == "e5_small"


@pytest.mark.slow
def test_e5_vectors_are_reproduced_by_re_embedding_source_tweets(tweets_csv, sentiment_e5):
    rows = [0, 4242, 19999]
    texts = pd.read_csv(tweets_csv)["text"].iloc[rows].tolist()
    fresh = get_encoder("e5_small", cache=False).encode(texts)
    assert row_cosines(fresh, sentiment_e5.vectors[rows]).min() >= 0.999


@pytest.mark.slow
def test_both_tweet_builders_give_the_same_items_from_one_source(tweets_csv, tmp_path):
    source = tmp_path / "tweets.csv"
    pd.read_csv(tweets_csv, nrows=30).to_csv(source, index=False)
    use = read_pack(build_pack("sentiment140", source=source, out=tmp_path / "use"))
    e5 = read_pack(build_pack("sentiment140-e5", source=source, out=tmp_path / "e5"))
    pd.testing.assert_frame_equal(e5.items, use.items)
    np.testing.assert_array_equal(e5.labels, use.labels)
    assert e5.vectors.shape == (30, 384) and e5.metadata["encoder"] == "e5_small"
    assert e5.metadata["build_command"] == f"labelwise build-pack sentiment140-e5 --source {source}"
    assert [p["name"] for p in e5.metadata["pools"]] == ["all", "labeling"]


def test_every_pack_has_a_build_command_and_licence():
    for name in PACKS:
        meta = load_dataset(name).metadata
        assert meta["build_command"].startswith(f"labelwise build-pack {name}")
        assert meta["licence"] and meta["source"]
        assert meta["n_items"] == sum(meta["class_counts"].values())


def test_rebuilding_a_pack_writes_the_same_bytes(tmp_path):
    for name in ("digits", "moons"):
        out = build_pack(name, out=tmp_path / name)
        files = sorted(str(f.relative_to(out)) for f in out.rglob("*") if f.is_file())
        shipped = packs_dir() / name
        assert files == sorted(str(f.relative_to(shipped)) for f in shipped.rglob("*")
                               if f.is_file())
        assert any(f.startswith("pools/") for f in files)
        for file in files:
            assert_same_file(out / file, shipped / file)


def assert_close_values(got, want, where: str) -> None:
    """JSON values equal, floats to a relative 1e-5 (e.g. a graph's bandwidth)."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys(), where
        for key in want:
            assert_close_values(got[key], want[key], f"{where}: {key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for a, b in zip(got, want, strict=True):
            assert_close_values(a, b, where)
    elif isinstance(want, float) and not isinstance(want, bool):
        assert got == pytest.approx(want, rel=1e-5), where
    else:
        assert got == want, where


def assert_same_file(built: Path, shipped: Path) -> None:
    """The same bytes; float arrays the same up to float32 rounding, which differs by CPU
    (the BLAS kernel of the similarities: seen on an AMD EPYC against the CPU that built the
    shipped packs, 142 of 1,797 densities 5e-8 apart)."""
    if shipped.suffix == ".json":
        assert_close_values(json.loads(built.read_text()), json.loads(shipped.read_text()),
                            str(shipped))
        return
    if shipped.suffix != ".npy":
        assert built.read_bytes() == shipped.read_bytes(), shipped
        return
    got, want = np.load(built, allow_pickle=False), np.load(shipped, allow_pickle=False)
    assert got.dtype == want.dtype and got.shape == want.shape, shipped
    if np.issubdtype(want.dtype, np.floating):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6, err_msg=str(shipped))
    else:
        np.testing.assert_array_equal(got, want, err_msg=str(shipped))


def test_data_folder_stays_under_120_mb():
    total = sum(f.stat().st_size for f in data_dir().rglob("*") if f.is_file())
    assert total < 120 * 1024 * 1024


# ---------------------------------------------------------------------------- stored pools


@pytest.mark.parametrize("name", PACKS)
def test_every_pack_ships_its_graph_and_density_and_the_dashboards_pool(name):
    dataset = load_dataset(name)
    assert isinstance(dataset.graph, PoolGraph) and dataset.graph.n_items == len(dataset)
    assert dataset.density.shape == (len(dataset),) and dataset.density.dtype == np.float64
    # The dashboard's labeling pool (its holdout split) is found by its vectors' fingerprint.
    split = holdout_split(dataset)
    folder = shipped_pool(vectors_fingerprint(split.pool.vectors))
    assert folder is not None and folder == pool_folder(packs_dir() / name, dataset.metadata,
                                                        LABELING_POOL)
    np.testing.assert_array_equal(np.load(folder / "rows.npy"), split.pool_rows)


@pytest.mark.parametrize("name", ["moons", "digits"])
def test_stored_pools_equal_what_the_dashboard_and_a_graph_build_compute(name):
    dataset = load_dataset(name)
    for vectors, parts in ((dataset.vectors, dataset.pool_parts()),
                           (pool := holdout_split(dataset).pool.vectors,
                            pool_parts_for(pool, cache=False))):
        # What dashboard/state.py's density() computes: bit for bit on the CPU that built the
        # pack, to float32 rounding on others (see assert_same_file).
        np.testing.assert_allclose(parts.density, pool_density(vectors, "knn", normalize=True),
                                   rtol=0, atol=1e-6)
        assert_same_graph(parts.graph, PoolGraph.build(as_unit_rows(vectors)))


@pytest.mark.slow
def test_fruits_stored_density_equals_the_hnsw_density_of_the_dashboard(fruits):
    pool = holdout_split(fruits).pool.vectors
    parts = pool_parts_for(pool, cache=False)
    np.testing.assert_allclose(parts.density, pool_density(pool, "knn", normalize=True),
                               rtol=0, atol=1e-6)


@pytest.mark.parametrize("seed", range(5))
def test_holdout_rows_are_the_dashboards_holdout_split(seed):
    from labelwise import Dataset
    from labelwise.data.splits import holdout_rows

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    labels = rng.choice(["a", "b"], n).astype(object)
    groups = None if seed % 2 else rng.integers(0, max(1, n // 3), n).astype(str).astype(object)
    dataset = Dataset("d", rng.normal(size=(n, 3)).astype(np.float32), labels,
                      pd.DataFrame({"id": range(n)}), "table", groups)
    split = holdout_split(dataset)
    pool, holdout = holdout_rows(n, labels, groups)
    np.testing.assert_array_equal(pool, split.pool_rows)
    np.testing.assert_array_equal(holdout, split.holdout_rows)


def test_pack_round_trip_keeps_the_graph_and_a_graph_model_runs_on_it(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 5)).astype(np.float32)
    labels = np.where(X[:, 0] > 0, "p", "q")
    items = pd.DataFrame({"id": [f"i{n}" for n in range(60)]})
    write_pack(tmp_path / "p", name="p", kind="table", vectors=X, items=items, labels=labels,
               vector_dtype="float32", pools={"all": None, "half": np.arange(0, 60, 2)})
    ds = read_pack(tmp_path / "p")
    assert [p["name"] for p in ds.metadata["pools"]] == ["all", "half"]
    assert_same_graph(ds.graph, PoolGraph.build(as_unit_rows(X)))
    np.testing.assert_array_equal(ds.density, pool_density(X, "knn", normalize=True))
    half = read_pool(pool_folder(tmp_path / "p", ds.metadata, "half"), X[::2])
    assert_same_graph(half.graph, PoolGraph.build(as_unit_rows(X[::2])))
    model = GraphModel(ds.graph)
    model.add(0, 0)
    assert model.reached().sum() > 1
    # The stored graph searches outside the pool (it holds the unit rows).
    idx, _ = ds.graph.search(as_unit_rows(X[:2]), k=1)
    assert idx[:, 0].tolist() == [0, 1]


def test_an_old_format_pack_still_loads_and_builds_its_graph_on_demand(tmp_path):
    X = np.random.default_rng(4).normal(size=(40, 6)).astype(np.float32)
    write_pack(tmp_path / "old", name="old", kind="table", vectors=X, vector_dtype="float32",
               items=pd.DataFrame({"id": range(40)}), pools={})
    meta_path = tmp_path / "old" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["format_version"] = 1
    del meta["pools"]
    meta_path.write_text(json.dumps(meta))
    ds = read_pack(tmp_path / "old")
    assert ds.graph is None and ds.density is None
    parts = ds.pool_parts(cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(parts.density, pool_density(X, "knn", normalize=True))
    cached = list((tmp_path / "cache" / "pools").iterdir())
    assert [p.name for p in cached] == [vectors_fingerprint(ds.vectors)]
    assert ds.graph is parts.graph  # kept for the next caller


def test_a_pack_listing_a_missing_pool_says_so(tmp_path):
    X = np.eye(3, dtype=np.float32)
    write_pack(tmp_path / "p", name="p", kind="table", vectors=X, vector_dtype="float32",
               items=pd.DataFrame({"id": range(3)}))
    for folder in (tmp_path / "p" / "pools").iterdir():
        for file in folder.iterdir():
            file.unlink()
        folder.rmdir()
    with pytest.raises(PackError, match="lists pool 'all'"):
        read_pack(tmp_path / "p")


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
        "items.parquet", "metadata.json", "pools", "vectors.npy"]
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
