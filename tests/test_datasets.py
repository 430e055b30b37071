"""Built-in packs load as Datasets with the promised shape, labels and display columns."""

import numpy as np
import pytest

from labelwise import Dataset, InvalidInputError, PoolGraph, load_dataset, pool_density
from labelwise.data.catalog import list_datasets
from labelwise.engine.vectors import as_unit_rows
from labelwise.labels.projects import dataset_fingerprint


def test_moons_pack_is_two_balanced_classes_with_plane_coordinates():
    ds = load_dataset("moons")
    assert isinstance(ds, Dataset)
    assert ds.kind == "points"
    assert ds.vectors.shape == (1000, 3) and ds.vectors.dtype == np.float32
    assert ds.classes == ["lower", "upper"]
    assert (ds.labels == "upper").sum() == 500
    assert {"id", "x", "y"} <= set(ds.items.columns)
    assert "label" not in ds.items.columns  # ground truth is not shown to the labeler
    # The lift keeps cosine neighbours close to Euclidean ones in the raw plane.
    unit = as_unit_rows(ds.vectors)
    plane = ds.items[["x", "y"]].to_numpy()
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    d2 = ((plane[:, None] - plane[None]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    assert (sims.argmax(1) == d2.argmin(1)).mean() > 0.95


def test_digits_pack_has_pixels_as_vectors_and_png_images():
    from sklearn.datasets import load_digits

    ds = load_dataset("digits")
    raw = load_digits()
    assert ds.kind == "image"
    assert len(ds) == 1797
    assert ds.classes == [str(d) for d in range(10)]
    np.testing.assert_array_equal(ds.vectors, raw.data.astype(np.float32))
    np.testing.assert_array_equal(ds.labels.astype(int), raw.target)
    assert ds.items["image"].iloc[0][:8] == b"\x89PNG\r\n\x1a\n"
    assert ds.items["id"].is_unique


def test_load_dataset_accepts_a_pack_folder(tmp_path):
    from labelwise.data.paths import packs_dir

    by_path = load_dataset(packs_dir() / "moons")
    assert by_path.fingerprint() == load_dataset("moons").fingerprint()


def test_unknown_dataset_names_the_available_packs():
    with pytest.raises(InvalidInputError, match="moons"):
        load_dataset("no-such-pack")


def test_load_dataset_hands_other_files_to_the_user_data_loader(tmp_path):
    np.save(tmp_path / "vectors.npy", np.eye(3, dtype=np.float32))
    ds = load_dataset(tmp_path / "vectors.npy")
    assert ds.kind == "table" and len(ds) == 3


def test_list_datasets_names_the_built_in_packs():
    assert {"digits", "moons"} <= set(list_datasets())


def test_fingerprint_follows_vectors_and_ids_not_ground_truth():
    ds = load_dataset("moons")
    relabeled = Dataset(ds.name, ds.vectors, ds.labels[::-1].copy(), ds.items, ds.kind)
    moved = Dataset(ds.name, ds.vectors[::-1].copy(), ds.labels, ds.items, ds.kind)
    assert relabeled.fingerprint() == ds.fingerprint() == dataset_fingerprint(ds)
    assert moved.fingerprint() != ds.fingerprint()


def test_pack_datasets_hand_out_their_stored_graph_and_density():
    ds = load_dataset("digits")
    assert ds.pool_folder is not None and ds.pool_folder.parent.name == "pools"
    # Shipped: computed on another CPU, so equal up to float32 rounding of the similarities.
    np.testing.assert_allclose(ds.density, pool_density(ds.vectors, "knn", normalize=True),
                               rtol=0, atol=1e-6)
    assert isinstance(ds.graph, PoolGraph) and ds.graph.n_items == len(ds)
    assert ds.graph is ds.graph  # loaded once
    assert ds.pool_parts().graph is ds.graph


def test_datasets_without_a_stored_pool_build_and_cache_it_on_demand(tmp_path):
    X = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    np.save(tmp_path / "vectors.npy", X)
    ds = load_dataset(tmp_path / "vectors.npy")
    assert ds.graph is None and ds.density is None
    parts = ds.pool_parts(cache_dir=tmp_path / "cache")
    assert parts.graph.n_items == 50
    np.testing.assert_array_equal(parts.density, pool_density(X, "knn", normalize=True))
    assert (tmp_path / "cache" / "pools").is_dir()
    assert ds.graph is parts.graph and ds.density is parts.density


def test_a_session_given_the_stored_density_scores_as_one_that_computes_it():
    from labelwise import LabelingSession

    ds = load_dataset("moons")
    own = LabelingSession(ds.vectors, seed=0)
    given = LabelingSession(ds.vectors, seed=0, density_values=ds.density)
    for session in (own, given):
        session.label(0, ds.labels[0])
        session.label(500, ds.labels[500])
    assert own.scores().equals(given.scores())
    assert own.next(batch=5) == given.next(batch=5)
