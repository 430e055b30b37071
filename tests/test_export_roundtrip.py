"""Every export gives back the exact text of ids, labels and item texts (issue 14).

Hypothesis writes arbitrary Unicode ids, labels and texts -- CR, LF, quotes, commas, formula
prefixes, leading zeros (``007``), ``1``/``01``/``1.0`` -- to a store on both backends, exports
them in every format and reads each file back: the CSV with Python's csv module, pandas, pyarrow
and a spreadsheet-like reader (:func:`spreadsheet_rows`, which ends a row at any CR, LF or CRLF
outside quotes, as Excel and LibreOffice do), the rest with their own readers. For the CSV the
documented leading ``'`` is removed first (:func:`csv_cell_text`). Ids and labels always come
back as text, never numbers. NUL is left out of what the store keeps: PostgreSQL text cannot hold
it (item texts, which only the dataset holds, may contain it).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from labelwise.data.datasets import Dataset
from labelwise.errors import InvalidInputError
from labelwise.labels.export import (
    FORMULA_PREFIXES,
    csv_cell_text,
    export_project,
    load_knn_model,
)
from labelwise.labels.store import LabelStore

pytest_plugins = ["store_backends"]

TRICKY = ["007", "1", "01", "1.0", "-1", "1e3", "=1+2", "+1", "@SUM(A1)", "-x", "\tx", "\rx",
          "'quoted", "''", "'=1", "a,b", '"q"', 'say "hi"', "line\nbreak", "cr\ronly",
          "crlf\r\n", " padded ", "NaN", "null", "None", "TRUE", "\ufeffbom", "a\u2028b",
          "a\x85b", "../../etc/x", "<b>&amp;</b>", "é", "☃", "𝔘𝔫𝔦"]
# Surrogates cannot be encoded in UTF-8 at all; NUL is not storable in PostgreSQL text.
STORED_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
TEXT_CHARS = st.characters(blacklist_categories=("Cs",))
STORED = st.one_of(st.sampled_from(TRICKY), st.text(STORED_CHARS, min_size=1, max_size=12))
# A label must not be blank (the store refuses it); an id must not be empty.
LABELS = STORED.filter(lambda s: s.strip() != "")
ITEMS = st.lists(st.tuples(STORED, LABELS, st.one_of(st.sampled_from(TRICKY),
                                                      st.text(TEXT_CHARS, max_size=20))),
                 min_size=1, max_size=6, unique_by=lambda t: t[0])
FORMATS_READ = ("csv", "jsonl", "parquet", "labelstudio", "imagefolder")
_names = itertools.count()


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (2, 2), (200, 10, 10)).save(out, format="PNG")
    return out.getvalue()


PNG = png()


def spreadsheet_rows(text: str) -> list[list[str]]:
    """A spreadsheet's reading of CSV text: RFC 4180 quotes, and a row ends at CR, LF or CRLF
    outside quotes (so an unquoted bare CR would split a row)."""
    rows, row, cell, quoted, i = [], [], [], False, 0
    while i < len(text):
        c = text[i]
        if quoted:
            if c == '"' and text[i + 1:i + 2] == '"':
                cell.append('"')
                i += 1
            elif c == '"':
                quoted = False
            else:
                cell.append(c)
        elif c == '"':
            quoted = True
        elif c == ",":
            row.append("".join(cell))
            cell = []
        elif c in "\r\n":
            row.append("".join(cell))
            rows.append(row)
            row, cell = [], []
            if c == "\r" and text[i + 1:i + 2] == "\n":
                i += 1
        else:
            cell.append(c)
        i += 1
    assert not quoted and not cell and not row, "the file ends inside a row"
    return rows


def csv_readings(path: Path) -> dict[str, list[list[str]]]:
    """The CSV's rows (header first) as each reader sees them."""
    text = path.read_bytes().decode("utf-8")  # read_text() would turn a CR into an LF
    with open(path, encoding="utf-8", newline="") as fh:
        python = list(csv.reader(fh))
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    arrow = pacsv.read_csv(path, parse_options=pacsv.ParseOptions(newlines_in_values=True),
                           convert_options=pacsv.ConvertOptions(
                               column_types=dict.fromkeys(python[0], "string"),
                               strings_can_be_null=False, quoted_strings_can_be_null=False))
    return {"csv module": python,
            "pandas": [list(frame.columns), *frame.to_numpy().tolist()],
            "pyarrow": [arrow.column_names, *map(list, zip(*arrow.to_pydict().values(),
                                                           strict=True))],
            "spreadsheet": spreadsheet_rows(text)}


def read_back(fmt: str, path: Path) -> list[tuple[str, str, str | None]]:
    """(item id, label, text) of each labeled item in an exported file."""
    if fmt == "csv":
        readings = csv_readings(path)
        first = None
        for reader, (header, *rows) in readings.items():
            cells = [cell for row in [header, *rows] for cell in row]
            # The safety rule: no cell a spreadsheet would read as a formula.
            assert not [c for c in cells if c.startswith(FORMULA_PREFIXES)], reader
            table = [dict(zip(header, map(csv_cell_text, row), strict=True)) for row in rows]
            got = [(r["item_id"], r["label"], r["text"]) for r in table]
            assert first is None or got == first, reader
            first = got
        return first
    if fmt == "jsonl":
        text = path.read_bytes().decode("utf-8")
        assert text.splitlines() == text.split("\n")[:-1]  # no other line break inside
        return [(r["item_id"], r["label"], r["text"])
                for r in map(json.loads, text.splitlines())]
    if fmt == "parquet":
        table = pq.read_table(path)
        names = json.loads(table.schema.metadata[b"huggingface"])["info"]["features"][
            "label_id"]["names"]
        rows = table.to_pylist()
        assert [names[r["label_id"]] for r in rows] == [r["label"] for r in rows]
        assert all(r["image"]["bytes"] == PNG for r in rows)
        return [(r["id"], r["label"], r["text"]) for r in rows]
    if fmt == "labelstudio":
        tasks = json.loads(path.read_text(encoding="utf-8"))
        return [(t["data"]["item_id"], t["annotations"][0]["result"][0]["value"]["choices"][0],
                 t["data"]["text"]) for t in tasks]
    assert fmt == "imagefolder"
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        manifest = archive.read("manifest.csv").decode("utf-8")
        rows = [[csv_cell_text(c) for c in row] for row in spreadsheet_rows(manifest)[1:]]
        for name in names:
            parts = PurePosixPath(name).parts
            assert ".." not in parts and "\\" not in name and not name.startswith("/")
            assert len(parts) == (1 if name == "manifest.csv" else 2)
        assert sorted(names) == sorted([r[0] for r in rows] + ["manifest.csv"])
        assert all(archive.read(r[0]) == PNG for r in rows)
        folders = {}
        for file, _, label in rows:
            folders.setdefault(label, PurePosixPath(file).parent.name)
        # One folder per class, distinct even on a case-insensitive file system.
        assert len({f.casefold() for f in folders.values()}) == len(folders)
    return [(item_id, label, None) for _, item_id, label in rows]


@pytest.fixture
def store(store_location: str) -> LabelStore:
    return LabelStore(store_location)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(items=ITEMS)
def test_every_format_gives_back_the_exact_text(store, tmp_path, items):
    dataset = Dataset("d", np.random.default_rng(0).standard_normal(
        (len(items), 4)).astype(np.float32), None,
        pd.DataFrame({"id": [i for i, _, _ in items], "text": [t for _, _, t in items],
                      "image": [PNG] * len(items)}), "image")
    project = store.create_project(f"p{next(_names)}", "d", dataset.fingerprint(), {"k": 3})
    for item_id, label, _ in items:
        store.record(project, item_id, "label", label, who="ana")
    expected = [(i, lab, t) for i, lab, t in items]
    for fmt in FORMATS_READ:
        path = export_project(store, project, fmt, tmp_path / f"out.{fmt}", dataset)
        got = read_back(fmt, path)
        if fmt == "imagefolder":  # the manifest has no texts
            expected_here = [(i, lab, None) for i, lab, _ in expected]
        else:
            expected_here = expected
        assert got == expected_here, fmt
        assert all(isinstance(v, str) for row in got for v in row[:2]), fmt
    model = load_knn_model(export_project(store, project, "npz", tmp_path / "m.npz", dataset))
    assert sorted(model.classes_.tolist()) == sorted({lab for _, lab, _ in items})
    check_config(store, project, dataset, tmp_path, {lab for _, lab, _ in items})


def not_xml(char: str) -> bool:
    """Whether XML 1.0 cannot hold ``char`` (surrogates are never generated here)."""
    return (char < " " and char not in "\t\n\r") or char in "\ufffe\uffff"


def check_config(store, project, dataset, tmp_path: Path, labels: set[str]) -> None:
    """The Label Studio config parses as XML and names each class exactly, or is refused
    with a message when a class holds a character XML cannot carry."""
    path = tmp_path / "config.xml"
    try:
        export_project(store, project, "labelstudio-config", path, dataset)
    except InvalidInputError as exc:
        assert "XML" in str(exc)
        assert any(not_xml(c) for label in labels for c in label)
        return
    assert not any(not_xml(c) for label in labels for c in label)
    root = ET.fromstring(path.read_bytes())
    assert {c.get("value") for c in root.iter("Choice")} == labels
