"""Bring-your-own data: texts, images (folder or zip), embeddings; every malformed input.

Texts and images are real shared items embedded with the real encoders (a handful of them).
"""

import io
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from labelwise import InvalidInputError, LabelwiseError
from labelwise.data.encoders import get_encoder
from labelwise.data.loaders import guess_columns, load_user_data


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LABELWISE_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def tweets(tweets_csv):
    table = pd.read_csv(tweets_csv, nrows=200)[["ids", "target", "user", "text"]]
    return table.groupby("target").head(3).reset_index(drop=True)  # 3 negative, 3 positive


@pytest.fixture(scope="module")
def photos(fruits_dir):
    """Two photos from each of two classes."""
    manifest = pd.read_csv(fruits_dir / "manifest.csv")
    picked = manifest.groupby("label").head(2)
    picked = picked[picked["label"].isin(["freshbanana", "rottenapples"])]
    return [(row.label, fruits_dir / row.file) for row in picked.itertuples()]


def image_folder(root: Path, photos) -> Path:
    for label, path in photos:
        (root / label).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, root / label / path.name)
    return root


def zipped(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def fails(match, *args, **kwargs):
    with pytest.raises(InvalidInputError, match=match) as info:
        load_user_data(*args, **kwargs)
    assert isinstance(info.value, LabelwiseError)
    return str(info.value)


# ---------------------------------------------------------------------------- texts


def test_text_csv_with_guessed_columns_embeds_real_tweets(tmp_path, tweets):
    path = tmp_path / "tweets.csv"
    tweets.to_csv(path, index=False)
    guess = guess_columns(path)
    assert (guess.kind, guess.text_column, guess.label_column, guess.id_column) == (
        "text", "text", "target", "ids")
    assert "label column 'target'" in guess.describe()
    ds = load_user_data(path)
    assert ds.kind == "text" and ds.vectors.shape == (6, 512)
    assert ds.labels.tolist() == tweets["target"].astype(str).tolist()
    assert ds.ids.tolist() == tweets["ids"].astype(str).tolist()
    assert list(ds.items.columns) == ["id", "text", "user"]
    np.testing.assert_allclose(ds.vectors, get_encoder("use").encode(tweets["text"].tolist()),
                               atol=1e-6)
    assert "text column 'text'" in ds.metadata["guess"]


def test_text_parquet_bytes_and_uploaded_file_with_explicit_columns(tweets):
    buffer = io.BytesIO()
    tweets.rename(columns={"text": "tweet_body", "target": "mood"}).to_parquet(buffer)
    data = buffer.getvalue()
    ds = load_user_data(data, text_column="tweet_body", label_column="mood", id_column="")
    assert ds.items["text"].tolist() == tweets["text"].tolist()
    assert ds.ids.tolist() == ["0", "1", "2", "3", "4", "5"]
    upload = io.BytesIO(data)
    upload.name = "upload.parquet"
    assert load_user_data(upload, label_column="mood").name == "upload"


def test_missing_column_lists_the_available_ones(tmp_path, tweets):
    path = tmp_path / "t.csv"
    tweets.to_csv(path, index=False)
    message = fails("no text column 'body'", path, text_column="body")
    assert "ids, target, user, text" in message


def test_numeric_text_column_is_the_wrong_dtype():
    fails("column 'n' holds int64 values, not text",
          b"n,text\n1,a\n2,b\n", filename="x.csv", text_column="n")


def test_missing_texts_and_labels_name_their_rows():
    fails(r"text column 'text' is empty in rows 1, 3", b"text,label\na,x\n,y\nb,x\n,y\n",
          filename="x.csv")
    fails(r"label column 'label' is empty in row 2", b"text,label\na,x\nb,y\nc,\n",
          filename="x.csv")


def test_a_single_class_is_refused_as_ground_truth():
    fails("only one class", b"text,label\na,x\nb,x\n", filename="x.csv")


def test_duplicate_ids_are_named():
    fails(r"duplicate ids: '7' in rows 0 and 2", b"id,text\n7,a\n8,b\n7,c\n",
          filename="x.csv", id_column="id")


def test_non_utf8_text_says_where_and_what_to_do():
    message = fails(r"not valid utf-8 text: byte 0xe9 on line 3",
                    "text\nok\ncaf\u00e9\n".encode("latin-1"), filename="x.csv")
    assert "save the file as UTF-8" in message


def test_latin1_csv_loads_when_told_its_encoding():
    ds = load_user_data("text\nok\ncaf\u00e9\n".encode("latin-1"), filename="x.csv",
                        encoding="latin-1")
    assert ds.items["text"].tolist() == ["ok", "caf\u00e9"]


def test_empty_and_header_only_files():
    fails("is empty", b"", filename="x.csv")
    fails("is empty", b"text,label\n", filename="x.csv")


def test_ragged_csv_rows_name_the_line():
    fails(r"ragged rows: the header has 2 fields but line 3 has 3",
          b"text,label\na,x\nb,y,z\nc,x\n", filename="x.csv")
    fails(r"line 2 has 1", b"text,label\na\nb,y\n", filename="x.csv")


def test_unsupported_file_type():
    fails(r"unsupported file type '\.xlsx'", b"whatever", filename="book.xlsx")


def test_unknown_kind_and_missing_path(tmp_path):
    fails("kind must be one of", b"text\na\n", filename="x.csv", kind="audio")
    fails("images come as a folder or a .zip", b"text\na\n", filename="x.csv", kind="images")
    fails("is a folder, so it holds images, not text", tmp_path, kind="text")
    fails("does not exist", tmp_path / "nothing.csv")


# ---------------------------------------------------------------------------- images


def test_image_folder_with_class_subfolders(tmp_path, photos):
    root = image_folder(tmp_path / "photos", photos)
    (root / "notes.txt").write_text("not an image")
    guess = guess_columns(root)
    assert guess.kind == "images" and guess.label_column == "(class subfolders)"
    assert "4 images; the 2 class subfolders (freshbanana, rottenapples)" in guess.describe()
    ds = load_user_data(root)
    assert ds.kind == "image" and ds.vectors.shape == (4, 1280)
    assert ds.classes == ["freshbanana", "rottenapples"]
    assert ds.ids.tolist() == sorted(f"{label}/{p.name}" for label, p in photos)
    for data in ds.items["image"]:
        assert max(Image.open(io.BytesIO(data)).size) <= 128
    expected = get_encoder("mobilenet_v2").encode([root / i for i in ds.ids])
    np.testing.assert_array_equal(ds.vectors, expected)
    assert ds.metadata["skipped_files"] == 1


def test_zip_of_a_wrapped_folder_gives_the_same_dataset(tmp_path, photos):
    entries = {f"export/{label}/{p.name}": p.read_bytes() for label, p in photos}
    entries["__MACOSX/export/._junk"] = b"resource fork"
    ds = load_user_data(zipped(entries), filename="export.zip")
    from_folder = load_user_data(image_folder(tmp_path / "f", photos))
    assert ds.ids.tolist() == from_folder.ids.tolist()
    assert ds.labels.tolist() == from_folder.labels.tolist()
    np.testing.assert_array_equal(ds.vectors, from_folder.vectors)


def test_images_without_subfolders_are_unlabeled(tmp_path, photos):
    for _, path in photos[:2]:
        shutil.copy(path, tmp_path / path.name)
    ds = load_user_data(tmp_path)
    assert ds.labels is None and ds.classes == []


def test_zip_entries_escaping_the_archive_are_refused(photos):
    data = photos[0][1].read_bytes()
    fails("points outside the archive", zipped({"a/../../evil.jpg": data}), filename="x.zip")
    fails("points outside the archive", zipped({"/etc/evil.jpg": data}), filename="x.zip")


def test_unreadable_image_names_the_file(tmp_path, photos):
    root = image_folder(tmp_path / "p", photos)
    (root / "freshbanana" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    fails(r"freshbanana/broken\.jpg is not a readable image", root)


def test_decompression_bomb_in_a_zip_is_refused():
    bomb = io.BytesIO()
    Image.new("1", (8000, 7000)).save(bomb, format="PNG")
    fails("decompression bomb", zipped({"a/bomb.png": bomb.getvalue(), "b/x.png": b""}),
          filename="x.zip")


def test_one_class_folder_mixed_layout_and_no_images(tmp_path, photos):
    one = tmp_path / "one"
    image_folder(one, [p for p in photos if p[0] == "freshbanana"])
    fails("only one class", one)
    mixed = image_folder(tmp_path / "mixed", photos)
    shutil.copy(photos[0][1], mixed / "loose.jpg")
    fails("mixes images at the top level", mixed)
    (tmp_path / "empty").mkdir()
    fails("holds no images", tmp_path / "empty")


def test_corrupt_zip():
    fails("not a readable zip archive", b"PK\x03\x04 truncated", filename="x.zip")


# ---------------------------------------------------------------------------- embeddings


def test_npy_matrix_loads_without_labels(tmp_path):
    X = np.random.default_rng(0).normal(size=(5, 3))
    np.save(tmp_path / "v.npy", X)
    ds = load_user_data(tmp_path / "v.npy")
    assert ds.kind == "table" and ds.labels is None
    np.testing.assert_allclose(ds.vectors, X.astype(np.float32))
    assert ds.ids.tolist() == ["0", "1", "2", "3", "4"]


def test_npz_with_labels_and_ids(tmp_path):
    path = tmp_path / "e.npz"
    np.savez(path, vectors=np.eye(3) + 0.1, labels=np.array(["a", "b", "a"]),
             ids=np.array([10, 11, 12]))
    ds = load_user_data(path)
    assert ds.labels.tolist() == ["a", "b", "a"] and ds.ids.tolist() == ["10", "11", "12"]
    assert "labels: array 'labels'" in ds.metadata["guess"]


def test_object_arrays_are_refused_without_unpickling(tmp_path):
    path = tmp_path / "o.npy"
    np.save(path, np.array([[1.0, "x"]], dtype=object), allow_pickle=True)
    fails("never unpickles", path)
    npz = tmp_path / "o.npz"
    np.savez(npz, vectors=np.ones((2, 2)), labels=np.array(["a", None], dtype=object))
    fails("never unpickles", npz)


def test_labels_of_the_wrong_length_are_a_dimension_mismatch(tmp_path):
    path = tmp_path / "e.npz"
    np.savez(path, vectors=np.ones((3, 2)), labels=np.array(["a", "b"]))
    fails(r"array 'labels' \(labels\) has shape \(2,\) but there are 3 vectors", path)


def test_nan_zero_and_one_dimensional_vectors(tmp_path):
    X = np.ones((4, 2))
    X[2, 1] = np.nan
    np.save(tmp_path / "nan.npy", X)
    fails("NaN or infinite values .* in row 2", tmp_path / "nan.npy")
    np.save(tmp_path / "zero.npy", np.array([[1.0, 0.0], [0.0, 0.0]]))
    fails("all-zero vectors in row 1", tmp_path / "zero.npy")
    np.save(tmp_path / "flat.npy", np.ones(4))
    fails("must be a 2-D array", tmp_path / "flat.npy")
    np.save(tmp_path / "text.npy", np.array([["a", "b"]]))
    fails("vectors must be numbers", tmp_path / "text.npy")


def test_expected_dimension_is_checked(tmp_path):
    np.save(tmp_path / "v.npy", np.ones((2, 3)))
    fails("3 dimensions but 512 are expected", tmp_path / "v.npy", expected_dimension=512)


def test_csv_embeddings_keep_labels_and_ids_out_of_the_vectors():
    data = b"id,f0,f1,f2,species\na,1,0,0,cat\nb,0,1,0,dog\nc,0,0,1,cat\n"
    guess = guess_columns(data, filename="e.csv")
    assert guess.kind == "embeddings" and guess.vector_columns == ["f0", "f1", "f2"]
    ds = load_user_data(data, filename="e.csv", label_column="species")
    np.testing.assert_array_equal(ds.vectors, np.eye(3, dtype=np.float32))
    assert ds.labels.tolist() == ["cat", "dog", "cat"]
    assert list(ds.items.columns) == ["id"]


def test_non_numeric_vector_column_names_it():
    fails(r"vector column\(s\) 'f1' hold non-numeric",
          b"f0,f1\n1,x\n2,y\n", filename="e.csv", kind="embeddings", vector_columns=["f0", "f1"])


def test_parquet_list_column_and_ragged_lists():
    good = pd.DataFrame({"embedding": [[1.0, 0.0], [0.0, 1.0]], "label": ["p", "q"]})
    buffer = io.BytesIO()
    good.to_parquet(buffer)
    ds = load_user_data(buffer.getvalue(), filename="e.parquet")
    assert ds.vectors.shape == (2, 2) and ds.labels.tolist() == ["p", "q"]
    ragged = pd.DataFrame({"embedding": [[1.0, 0.0], [0.0, 1.0, 2.0]]})
    buffer = io.BytesIO()
    ragged.to_parquet(buffer)
    fails("ragged vectors: row 0 has 2 values but row 1 differ", buffer.getvalue(),
          filename="e.parquet")


def test_truncated_files_are_clear_errors(tmp_path):
    np.save(tmp_path / "v.npy", np.ones((20, 20)))
    fails("not a readable NumPy file", (tmp_path / "v.npy").read_bytes()[:90], filename="v.npy")
    fails("not a readable Parquet file", b"PAR1 truncated", filename="v.parquet")


def test_zip_written_with_backslashes_reads_its_entries(photos):
    """Some Windows tools store "class\\file.jpg": the class folder still becomes the label."""
    entries = {f"{label}\\{path.name}": path.read_bytes() for label, path in photos}
    ds = load_user_data(zipped(entries), filename="windows.zip")
    assert len(ds) == len(photos)
    assert ds.classes == sorted({label for label, _ in photos})


def test_inputs_over_the_size_cap_are_refused_before_parsing(tmp_path, tweets):
    csv = tweets.to_csv(index=False).encode()
    message = fails("more than the 0 MB allowed", csv, filename="big.csv", max_bytes=100)
    assert "big.csv" in message
    folder = tmp_path / "photos"
    (folder / "a").mkdir(parents=True)
    (folder / "a" / "x.jpg").write_bytes(b"\xff" * 5000)
    fails("photos is 0.0 MB, more than", folder, max_bytes=4000)
    assert len(load_user_data(csv, filename="ok.csv", max_bytes=len(csv))) == len(tweets)
