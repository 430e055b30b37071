"""Hostile and meaning-changing inputs at the loader level (issue 14), each now harmless.

What a visitor did to the server through the loaders, one test each: typing ``/dev/zero`` or a
FIFO as a path, a column guess that read a whole huge CSV, decompression bombs (.npz, Parquet,
image zips), and inputs whose meaning changed on the way in (a ``NaN`` cell turning a column of
vectors into text, ids ``007`` becoming ``7``, labels ``1``/``01``/``1.0`` merging, columns
named alike). The memory claims are measured: the call runs in a fresh Python process, and the
growth of its peak resident memory (``ru_maxrss``) must stay far below what the bomb holds.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labelwise import (
    InvalidInputError,
    describe_embedding_time,
    embedding_seconds,
    guess_columns,
    load_user_data,
    resolve_server_path,
)
from labelwise.data.estimates import ITEMS_PER_SECOND
from labelwise.data.loaders.sources import GUESS_BYTES

ROOT = Path(__file__).resolve().parents[1]
MB = 2**20


def refused(match, call, *args, **kwargs) -> str:
    with pytest.raises(InvalidInputError, match=match) as info:
        call(*args, **kwargs)
    return str(info.value)


def peak_growth_mb(code: str) -> float:
    """Run ``code`` (which may refer to ``labelwise``) in a fresh process after the loaders are
    imported; return how much its peak resident memory grew, in MB."""
    script = textwrap.dedent("""
        import resource, sys
        import labelwise, labelwise.data.loaders, pyarrow.parquet, PIL.Image
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
        {body}
        except labelwise.InvalidInputError as exc:
            print("refused:", exc, file=sys.stderr)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print((after - before) / 1024)
    """).format(body=textwrap.indent(textwrap.dedent(code), "    "))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, cwd=ROOT, timeout=300)
    assert "refused:" in done.stderr, done.stderr
    return float(done.stdout.strip().splitlines()[-1])


def zeros_member(archive: zipfile.ZipFile, name: str, size: int, header: bytes = b"") -> None:
    """Stream ``size`` zero bytes (after ``header``) into a deflated entry: a real bomb, built
    without holding it in memory."""
    chunk = bytes(4 * MB)
    with archive.open(name, "w", force_zip64=True) as member:
        member.write(header)
        for _ in range(size // len(chunk)):
            member.write(chunk)


def npy_header(shape, dtype=np.float32) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
                 "shape": shape})
    return buffer.getvalue()


# -- paths that never end, or block ------------------------------------------------------------


@pytest.mark.parametrize("call", [guess_columns, load_user_data])
def test_dev_zero_is_refused_before_a_byte_is_read(call):
    refused("/dev/zero is not a regular file or folder", call, "/dev/zero")


@pytest.mark.parametrize("call", [guess_columns, load_user_data])
def test_a_fifo_is_refused_without_blocking(tmp_path, call):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    refused("not a regular file or folder", call, fifo)


def test_a_folder_skips_links_that_lead_out_of_it_and_device_links(tmp_path):
    outside = tmp_path / "secret.csv"
    outside.write_text("password\n")
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "leak.png").symlink_to(outside)
    (folder / "zero.png").symlink_to("/dev/zero")
    refused("holds no images", load_user_data, folder)


# -- a column guess reads a bounded prefix ---------------------------------------------------


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory) -> Path:
    """60 MB of texts with labels, and a ragged row at the very end."""
    path = tmp_path_factory.mktemp("big") / "big.csv"
    rows = "".join(f"{i},some words for item {i} " + "x" * 40 + f",{'ab'[i % 2]}\n"
                   for i in range(10_000))
    with open(path, "w") as handle:
        handle.write("id,text,label\n")
        while handle.tell() < 60 * MB:
            handle.write(rows)
        handle.write("1,2,3,4\n")
    return path


def test_the_guess_of_a_big_csv_reads_a_prefix_only(big_csv):
    guess = guess_columns(big_csv)
    assert (guess.kind, guess.text_column, guess.label_column, guess.id_column) == (
        "text", "text", "label", "id")
    # Loading reads everything, so it finds what the guess never looked at.
    refused("ragged rows", load_user_data, big_csv, encoder="use")


def test_the_guess_of_a_big_csv_stays_far_below_its_size_in_memory(big_csv):
    growth = peak_growth_mb(f"""
        guess = labelwise.guess_columns({str(big_csv)!r})
        raise labelwise.InvalidInputError("guessed " + guess.kind)
    """)
    assert growth < 30, f"peak memory grew {growth:.0f} MB for a 60 MB file's guess"


def test_a_first_line_longer_than_the_prefix_is_refused(tmp_path):
    path = tmp_path / "one-line.csv"
    path.write_bytes(b"a" * (GUESS_BYTES + 10))
    refused("first line is longer than", guess_columns, path)


# -- decompression bombs: sizes checked from headers and metadata before allocating ------------


def test_an_npz_declaring_3_gib_is_refused_from_its_header(tmp_path):
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("vectors.npy", npy_header((786_432, 1024)) + bytes(1024))
    for call in (guess_columns, load_user_data):
        message = refused(r"would unpack to 3,072\.0 MB.*decompression bomb", call, path)
        assert "bomb.npz" in message


@pytest.fixture(scope="module")
def npz_bomb(tmp_path_factory) -> Path:
    """A real bomb: 256 MB of float32 zeros deflated to well under 1 MB."""
    path = tmp_path_factory.mktemp("bombs") / "zeros.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        zeros_member(archive, "vectors.npy", 256 * MB, npy_header((65_536, 1024)))
    assert path.stat().st_size < 2 * MB
    return path


@pytest.mark.parametrize("call", ["guess_columns", "load_user_data"])
def test_a_real_npz_bomb_is_refused_without_unpacking(npz_bomb, call):
    growth = peak_growth_mb(f"labelwise.{call}({str(npz_bomb)!r}, max_bytes=64 * 2**20)")
    assert growth < 64, f"peak memory grew {growth:.0f} MB on a 256 MB bomb"


def test_rows_times_dimensions_over_the_limit_point_to_the_command_line(tmp_path):
    path = tmp_path / "wide.npy"
    np.save(path, np.ones((1000, 100), dtype=np.float32))
    message = refused(r"1,000 x 100 = 100,000 values, more than the 50,000 allowed here",
                      load_user_data, path, max_values=50_000)
    assert "labelwise simulate --dataset FILE" in message
    assert len(load_user_data(path, max_values=100_000)) == 1000


@pytest.fixture(scope="module")
def parquet_bomb(tmp_path_factory) -> Path:
    """20 million rows of one repeated value (160 MB as int64) in a file of a few hundred KB."""
    path = tmp_path_factory.mktemp("bombs") / "rows.parquet"
    chunk = pa.table({"f0": np.zeros(1_000_000, dtype=np.int64),
                      "f1": np.ones(1_000_000, dtype=np.int64)})
    with pq.ParquetWriter(path, chunk.schema, compression="zstd") as writer:
        for _ in range(20):
            writer.write_table(chunk)
    assert path.stat().st_size < 2 * MB
    return path


def test_a_parquet_bomb_is_refused_from_its_metadata(parquet_bomb):
    for call in (guess_columns, load_user_data):
        refused(r"has 20,000,000 rows, more than the 1,000,000 allowed here", call,
                parquet_bomb)
    refused(r"holds 40,000,000 values", load_user_data, parquet_bomb, max_items=None,
            max_values=10_000_000)
    growth = peak_growth_mb(f"labelwise.load_user_data({str(parquet_bomb)!r})")
    assert growth < 40, f"peak memory grew {growth:.0f} MB on a 320 MB table"


def test_an_image_zip_bomb_is_refused_before_its_first_entry_is_read(tmp_path):
    path = tmp_path / "photos.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        zeros_member(archive, "cats/1.png", 256 * MB)
    for call in (guess_columns, load_user_data):
        refused(r"would unpack to 256\.0 MB, more than the 64 MB allowed", call, path,
                max_bytes=64 * MB)
    growth = peak_growth_mb(f"labelwise.load_user_data({str(path)!r}, max_bytes=64 * 2**20)")
    assert growth < 64, f"peak memory grew {growth:.0f} MB on a 256 MB entry"


def test_too_many_rows_are_refused_with_the_limit_and_the_way_around_it():
    data = b"f0,f1\n" + b"1,2\n" * 11
    message = refused("has 11 rows, more than the 10 allowed here", load_user_data, data,
                      filename="v.csv", max_items=10)
    assert "max_items=None" in message
    assert len(load_user_data(data, filename="v.csv", max_items=11)) == 11


# -- meaning kept ----------------------------------------------------------------------------


@pytest.mark.parametrize("cell, why", [("NaN", "is not a finite number"),
                                       ("-nan", "is not a finite number"),
                                       ("0.3o", "is not a number")])
def test_a_bad_cell_in_an_embeddings_csv_is_named_not_dropped(cell, why):
    data = f"f0,f1,f2\n1,2,3\n4,{cell},6\n7,8,9\n".encode()
    for call in (guess_columns, load_user_data):
        refused(rf"cell '{re.escape(cell)}' in row 1, column 'f1' {why}", call, data,
                filename="v.csv", kind="embeddings")


@pytest.mark.parametrize("cell", ["", "inf", "1e999"])
def test_a_missing_or_infinite_number_in_a_vector_column_is_named(cell):
    # pandas reads these as numbers (NaN, inf), so the column stays numeric; the vectors
    # check names the cell.
    refused(r"first at row 1, column 'f1'", load_user_data,
            f"f0,f1,f2\n1,2,3\n4,{cell},6\n".encode(), filename="v.csv")


def test_a_nan_in_parquet_or_npy_vectors_names_the_cell(tmp_path):
    table = pd.DataFrame({"f0": [1.0, 2.0], "f1": [3.0, float("nan")]})
    buffer = io.BytesIO()
    table.to_parquet(buffer)
    refused(r"first at row 1, column 'f1'", load_user_data, buffer.getvalue(),
            filename="v.parquet")
    np.save(tmp_path / "v.npy", table.to_numpy())
    refused(r"first at row 1, dimension 1", load_user_data, tmp_path / "v.npy")


def test_ids_and_labels_are_read_as_text():
    data = b"id,label,f0,f1\n007,1,1,0\n7,01,0,1\n008,1.0,1,1\n"
    ds = load_user_data(data, filename="v.csv")
    assert ds.ids.tolist() == ["007", "7", "008"]
    assert ds.classes == ["01", "1", "1.0"]
    np.testing.assert_array_equal(ds.vectors, [[1, 0], [0, 1], [1, 1]])


def test_a_column_named_as_a_label_when_loading_is_text_too():
    data = b"grade,f0,f1\n1,1,0\n1.0,0,1\n"
    ds = load_user_data(data, filename="v.csv", label_column="grade")
    assert ds.classes == ["1", "1.0"]


@pytest.mark.parametrize("header, detail", [
    ("a,a,b", "two columns named 'a'"),
    ("Label,label ,f0", "columns 'Label' and 'label ' differ only in case or spaces"),
])
def test_columns_named_alike_are_refused(header, detail):
    data = f"{header}\n1,2,3\n4,5,6\n".encode()
    for call in (guess_columns, load_user_data):
        refused(re.escape(detail), call, data, filename="v.csv")


def test_parquet_columns_named_alike_are_refused():
    table = pa.table([pa.array([1.0, 2.0]), pa.array([3.0, 4.0])], names=["x", "X"])
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    refused("columns 'x' and 'X' differ only in case", load_user_data, buffer.getvalue(),
            filename="v.parquet")


def test_repeated_or_ambiguous_ids_are_refused_not_replaced_by_row_numbers():
    message = refused(r"duplicate ids: '7' in rows 0 and 2", load_user_data,
                      b"id,f0,f1\n7,1,0\n8,0,1\n7,1,1\n", filename="v.csv")
    assert "ids must be unique" in message
    refused(r"ambiguous ids .*'a' and 'a ' in rows 0 and 1", load_user_data,
            b"id,f0,f1\na,1,0\na ,0,1\n", filename="v.csv")
    ds = load_user_data(b"id,f0,f1\n7,1,0\n8,0,1\n7,1,1\n", filename="v.csv", id_column="")
    assert ds.ids.tolist() == ["0", "1", "2"]


# -- server paths ------------------------------------------------------------------------------


@pytest.fixture
def roots(tmp_path):
    root = tmp_path / "allowed"
    (root / "photos").mkdir(parents=True)
    (root / "v.csv").write_text("f0,f1\n1,0\n")
    (tmp_path / "secret.csv").write_text("password\n")
    return root


def test_server_paths_inside_a_root_resolve(roots):
    assert resolve_server_path(roots / "v.csv", [roots]) == (roots / "v.csv").resolve()
    assert resolve_server_path("photos", [roots]) == (roots / "photos").resolve()


@pytest.mark.parametrize("typed", [
    "{root}/escape.csv",            # a symlink inside the root pointing outside it
    "{root}/../secret.csv",         # '..' out of the root
    "{root}/../no-such-file.csv",   # outside and missing: the same message
    "/dev/zero",
    "../secret.csv",                # relative to the first root
])
def test_server_paths_outside_the_roots_get_one_message(roots, typed):
    (roots / "escape.csv").symlink_to(roots.parent / "secret.csv")
    path = typed.format(root=roots)
    message = refused("is not inside the folders this server may read", resolve_server_path,
                      path, [roots])
    assert message == (f"{path!r} is not inside the folders this server may read "
                       f"({roots.resolve()})")


def test_server_paths_to_devices_fifos_or_nothing_inside_a_root_are_refused(roots):
    (roots / "zero").symlink_to("/dev/zero")
    refused("not inside", resolve_server_path, roots / "zero", [roots])  # resolves to /dev
    os.mkfifo(roots / "pipe")
    refused("not a regular file or folder", resolve_server_path, roots / "pipe", [roots])
    refused("does not exist", resolve_server_path, roots / "missing.csv", [roots])
    refused("no server folders are open", resolve_server_path, roots / "v.csv", [])


# -- how long embedding takes --------------------------------------------------------------------


def test_embedding_estimates_use_the_measured_rates():
    table = (ROOT / "benchmarks" / "results" / "encoders.md").read_text()
    for encoder, rate in ITEMS_PER_SECOND.items():
        assert re.search(rf"\| {encoder} \| 1 \| \d+ \| {rate} \|", table), encoder
    assert embedding_seconds("use", 442) == pytest.approx(442 / ITEMS_PER_SECOND["use"])
    assert describe_embedding_time("use", 1_000_000) == (
        "about 20 minutes to embed 1,000,000 texts")
    assert describe_embedding_time("mobilenet_v2", 1) == "under a second to embed 1 image"
    assert describe_embedding_time("mobilenet_v2", 1_000_000) == (
        "about 2.3 hours to embed 1,000,000 images")
    assert embedding_seconds("tfhub:/models/x", 10) is None
    assert describe_embedding_time("tfhub:/models/x", 10).startswith("an unknown time")
