"""Export a project's labels with the content they label, and its kNN model.

Formats (:data:`FORMATS`, all through :func:`export_project`):

``csv``
    One row per labeled item for a spreadsheet: ``item_id``, ``label``, ``who``, ``at``, and
    ``text`` or ``image`` (the file name or path) when a dataset is given. UTF-8, ``\\n``
    between rows, and every cell holding a comma, a quote, a CR or an LF is quoted, so a bare CR
    in a label never splits a row. **A cell that starts with** ``=``, ``+``, ``-``, ``@``, a
    tab, a CR **or** ``'`` **gets a leading** ``'`` (OWASP's advice against formula injection:
    a spreadsheet shows the text instead of running it; ``'`` itself is escaped so the rule can
    be undone exactly). :func:`csv_cell_text` removes it again.
``jsonl``
    The same rows as JSON objects, one a line, texts exactly as stored (labels keep their type).
``parquet``
    A Hugging Face ``datasets``-style table: ``id``, ``text`` or ``image`` (a
    ``{"bytes", "path"}`` struct), ``label`` (text), ``label_id`` (int64), ``who``, ``at``,
    with the ``datasets`` features (``label_id`` a ``ClassLabel`` of the class names) in the
    schema metadata under ``huggingface``, so ``datasets.load_dataset("parquet", ...)`` sees
    the classes and decodes the images.
``labelstudio``
    Label Studio task import JSON: ``data`` holds ``text`` or ``image`` (a ``data:`` URI of the
    image, or ``image_prefix`` + its path), each label is a completed annotation, and the kNN
    model's predictions with scores can be added for the unlabeled items or all items.
``labelstudio-config``
    The labeling config XML to paste into the Label Studio project (:func:`labelstudio_config`).
``imagefolder``
    A zip with one folder per class holding the labeled images, plus ``manifest.csv`` (file,
    item id, label); folder and file names are made safe (no path traversal, no collisions,
    :func:`safe_file_name`).
``npz``
    The kNN model as plain arrays, loadable with ``allow_pickle=False``::

        save_knn_model("model.npz", session)
        clf = load_knn_model("model.npz")      # a fitted labelwise.KNNClassifier
        clf.predict(new_vectors)
"""

from __future__ import annotations

import base64
import json
import os
import re
import unicodedata
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path, PurePosixPath
from urllib.parse import quote

import numpy as np
import pandas as pd

from ..data.datasets import Dataset, ids_as_text
from ..engine.classifier import KNNClassifier
from ..engine.knn import check_weights
from ..engine.session import LabelingSession
from ..engine.vectors import as_unit_rows
from ..errors import InvalidInputError
from .store import LabelStore, Project

FORMATS = ("csv", "jsonl", "parquet", "labelstudio", "labelstudio-config", "imagefolder", "npz")
#: The file name ending of each format.
SUFFIXES = {"csv": ".csv", "jsonl": ".jsonl", "parquet": ".parquet", "labelstudio": ".json",
            "labelstudio-config": ".xml", "imagefolder": ".zip", "npz": ".npz"}
#: Which items of a Label Studio export carry the model's predictions.
PREDICTIONS = ("none", "unlabeled", "all")
MODEL_FORMAT = "labelwise-knn-v1"
#: Columns of the dataset's items copied next to each label (when present).
ITEM_COLUMNS = ("text", "image")
#: Item columns that may hold an image's source path (the first one present is used).
PATH_COLUMNS = ("path", "source_path", "file_path", "file", "file_name", "filename")
#: What a spreadsheet reads as the start of a formula (OWASP, "CSV Injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# ...and the escape itself, so that removing one leading ' always gives the original text back.
_ESCAPED_PREFIXES = (*FORMULA_PREFIXES, "'")
# JSON leaves these unescaped, but str.splitlines() and some JavaScript readers break lines there.
_JSONL_LINE_BREAKS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}
# XML 1.0 has no way to write these characters, not even as character references.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_IMAGE_TYPES = ((b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
                (b"\xff\xd8\xff", "image/jpeg", ".jpg"), (b"GIF87a", "image/gif", ".gif"),
                (b"GIF89a", "image/gif", ".gif"), (b"BM", "image/bmp", ".bmp"))


# -- what each item shows ---------------------------------------------------------------------
def item_content(dataset: Dataset) -> pd.DataFrame:
    """What a person sees of each item of ``dataset``, in dataset order.

    Returns
    -------
    pandas.DataFrame
        ``item_id`` (text); ``text`` for items with a text; for items with an image, ``image``
        (its source path where the items have one -- an ``image`` column of paths, or a
        :data:`PATH_COLUMNS` column -- else the item id) and ``image_bytes`` (the bytes, or
        None when the items hold paths only).
    """
    items = dataset.items
    content = pd.DataFrame({"item_id": ids_as_text(dataset.ids)})
    if "text" in items.columns:
        content["text"] = [_text_or_none(v) for v in items["text"].tolist()]
    if "image" in items.columns:
        images = items["image"].tolist()
        path_column = next((c for c in PATH_COLUMNS if c in items.columns), None)
        paths = items[path_column].tolist() if path_column else [None] * len(images)
        content["image"] = [_image_path(image, path, item_id) for image, path, item_id
                            in zip(images, paths, content["item_id"], strict=True)]
        content["image_bytes"] = [bytes(v) if isinstance(v, (bytes, bytearray, memoryview))
                                  else None for v in images]
    return content


def _text_or_none(value) -> str | None:
    return None if value is None or (isinstance(value, float) and value != value) else str(value)


def _image_path(image, path, item_id: str) -> str:
    """The image's source path: the path it was read from when known, else the item id."""
    for candidate in (image, path):
        if isinstance(candidate, (str, os.PathLike)) and str(candidate):
            return str(candidate)
    return item_id


def _labeled_rows(store: LabelStore, project: str | Project,
                  dataset: Dataset | None) -> pd.DataFrame:
    """Current labels in labeling order, joined with :func:`item_content` (bytes included)."""
    table = store.current_labels(project).drop(columns="event_id").reset_index(drop=True)
    if dataset is None:
        return table
    return table.merge(item_content(dataset), on="item_id", how="left")


def labeled_items(store: LabelStore, project: str | Project,
                  dataset: Dataset | None = None) -> pd.DataFrame:
    """The current labels of a project, one row per labeled item, in labeling order.

    Returns
    -------
    pandas.DataFrame
        ``item_id``, ``label``, ``who``, ``at``, plus ``text`` or ``image`` (the image's file
        name or path, see :func:`item_content`) when ``dataset`` is given; the image bytes are
        left out (they do not fit a text file).
    """
    return _labeled_rows(store, project, dataset).drop(columns="image_bytes", errors="ignore")


def class_names(labels) -> list[str]:
    """The distinct labels as text, sorted: the classes of every export (``label_id`` order)."""
    return sorted({str(_plain(v)) for v in labels})


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


# -- CSV for spreadsheets -----------------------------------------------------------------------
def csv_cell(value) -> str:
    """The text of one CSV cell: ``str(value)`` (``""`` for a missing value), with a leading
    ``'`` when it starts with a formula character or ``'`` (:data:`FORMULA_PREFIXES`)."""
    text = _text_or_none(_plain(value))
    if text is None:
        return ""
    return "'" + text if text.startswith(_ESCAPED_PREFIXES) else text


def csv_cell_text(cell: str) -> str:
    """The original text of a cell written by :func:`csv_cell`: its leading ``'`` removed."""
    return cell[1:] if cell.startswith("'") else cell


def _quoted(cell: str) -> str:
    # Quote whatever could end a cell or a row for some reader (bare CR included), and cells
    # with outer spaces, which some readers strip unless quoted.
    if any(c in cell for c in ',"\r\n') or cell != cell.strip(" "):
        return '"' + cell.replace('"', '""') + '"'
    return cell


def csv_text(table: pd.DataFrame) -> str:
    """``table`` as the text of a spreadsheet-safe CSV file (see the module notes)."""
    lines = [",".join(_quoted(csv_cell(c)) for c in table.columns)]
    for row in table.itertuples(index=False, name=None):
        lines.append(",".join(_quoted(csv_cell(v)) for v in row))
    return "\n".join(lines) + "\n"


def to_csv(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``table`` as UTF-8 CSV for spreadsheets.

    Cells with a comma, quote, CR or LF are quoted; rows end with ``\\n``. Cells starting with
    ``=``, ``+``, ``-``, ``@``, a tab, a CR or ``'`` get a leading ``'`` so a spreadsheet shows
    them as text (:func:`csv_cell_text` undoes it). JSON Lines and Parquet keep the exact text.
    """
    path = Path(path)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(csv_text(table))
    return path


# -- JSON Lines ---------------------------------------------------------------------------------
def _records(table: pd.DataFrame) -> list[dict]:
    """Rows as dicts of plain Python values (NaN from a missing join becomes None)."""
    out = []
    for row in table.to_dict(orient="records"):
        out.append({k: (None if isinstance(v, float) and v != v else _plain(v))
                    for k, v in row.items()})
    return out


def json_line(record: dict) -> str:
    """One JSON Lines line (no newline): UTF-8 text as is, but U+0085, U+2028 and U+2029
    escaped so that no line reader splits a record."""
    line = json.dumps(record, ensure_ascii=False)
    for char, escape in _JSONL_LINE_BREAKS.items():
        line = line.replace(char, escape)  # they can only occur inside JSON strings
    return line


def to_jsonl(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write one JSON object per labeled item, one per line (UTF-8, the exact texts)."""
    path = Path(path)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        for record in _records(table):
            fh.write(json_line(record) + "\n")
    return path


# -- Parquet, the Hugging Face datasets way --------------------------------------------------------
def hf_features(columns: list[str], classes: list[str]) -> dict:
    """The ``datasets`` features of a :func:`to_parquet` table, as ``Features.to_dict()``
    writes them (``Value``, ``Image`` and ``ClassLabel`` entries)."""
    features = {}
    for column in columns:
        if column == "image":
            features[column] = {"_type": "Image"}
        elif column == "label_id":
            features[column] = {"names": list(classes), "_type": "ClassLabel"}
        else:
            features[column] = {"dtype": "string", "_type": "Value"}
    return features


def parquet_table(rows: pd.DataFrame):
    """A ``pyarrow.Table`` of labeled rows (from the store, with content) for :func:`to_parquet`."""
    import pyarrow as pa

    classes = class_names(rows["label"])
    code_of = {name: n for n, name in enumerate(classes)}
    labels = [str(_plain(v)) for v in rows["label"]]
    columns = {"id": pa.array(rows["item_id"].tolist(), pa.string())}
    if "text" in rows.columns:
        columns["text"] = pa.array([_text_or_none(v) for v in rows["text"]], pa.string())
    if "image" in rows.columns:
        image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
        images = [{"bytes": _bytes_or_none(b), "path": _text_or_none(p)}
                  for b, p in zip(rows["image_bytes"], rows["image"], strict=True)]
        # An item missing from the dataset has no image at all (null), not an empty one.
        columns["image"] = pa.array([None if i["bytes"] is None and i["path"] is None else i
                                     for i in images], image_type)
    columns["label"] = pa.array(labels, pa.string())
    columns["label_id"] = pa.array([code_of[v] for v in labels], pa.int64())
    for column in ("who", "at"):
        columns[column] = pa.array([str(v) for v in rows[column]], pa.string())
    metadata = {"info": {"features": hf_features(list(columns), classes)}}
    return pa.table(columns).replace_schema_metadata({"huggingface": json.dumps(metadata)})


def _bytes_or_none(value) -> bytes | None:
    return bytes(value) if isinstance(value, (bytes, bytearray, memoryview)) else None


def to_parquet(rows: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write :func:`parquet_table` of ``rows`` to ``path`` (ids and labels as text)."""
    import pyarrow.parquet as pq

    path = Path(path)
    pq.write_table(parquet_table(rows), path)
    return path


# -- Label Studio ---------------------------------------------------------------------------------
def _view_of(columns) -> str:
    """What a Label Studio task of rows with ``columns`` shows: "image", "text" or "item"."""
    return next((c for c in ("image", "text") if c in columns), "item")


def labelstudio_config(classes, shows: str = "text", *, from_name: str = "label") -> str:
    """The Label Studio labeling config for the tasks of :func:`labelstudio_tasks`.

    ``<View>`` with an ``<Image name="image" value="$image"/>`` (or ``<Text name="text">``, or
    ``<Text name="item" value="$item_id"/>`` without content) and a single-choice
    ``<Choices name="label">`` of ``classes``, their names XML-escaped.

    Parameters
    ----------
    classes : iterable
        The class names (as text), e.g. :func:`class_names` of the labels.
    shows : {"text", "image", "item"}
        What each task shows (``"item"``: only its ``item_id``).
    from_name : str

    Raises
    ------
    InvalidInputError
        If a class name holds a character XML cannot carry (a control character).
    """
    if shows not in ("text", "image", "item"):
        raise InvalidInputError(f"shows must be text, image or item, got {shows!r}")
    view = ET.Element("View")
    ET.SubElement(view, "Image" if shows == "image" else "Text", name=shows,
                  value="$item_id" if shows == "item" else f"${shows}")
    choices = ET.SubElement(view, "Choices", name=from_name, toName=shows, choice="single",
                            showInLine="true")
    for cls in classes:
        text = str(_plain(cls))
        bad = _NOT_XML.search(text)
        if bad:
            raise InvalidInputError(
                f"class {text!r} holds {bad.group()!r}, which an XML labeling config cannot "
                "carry; relabel those items with a name without control characters")
        ET.SubElement(choices, "Choice", value=text)
    ET.indent(view)
    return ET.tostring(view, encoding="unicode") + "\n"


def data_uri(blob: bytes) -> str:
    """``blob`` as a ``data:`` URI (its image type recognised from the first bytes)."""
    mime = _image_type(blob)[0]
    return f"data:{mime};base64,{base64.b64encode(blob).decode('ascii')}"


def _image_type(blob: bytes) -> tuple[str, str]:
    """(MIME type, file name ending) of image bytes, from their magic number."""
    for magic, mime, suffix in _IMAGE_TYPES:
        if blob.startswith(magic):
            return mime, suffix
    if blob[:4] == b"RIFF" and blob[8:12] == b"WEBP":
        return "image/webp", ".webp"
    return "application/octet-stream", ".bin"


def _task_data(row: dict, image_prefix: str | None) -> dict:
    data = {"item_id": row["item_id"]}
    if row.get("text") is not None:
        data["text"] = row["text"]
    if row.get("image") is not None:
        if image_prefix is not None:
            data["image"] = image_prefix + quote(row["image"].replace("\\", "/"), safe="/")
        elif row.get("image_bytes") is not None:
            data["image"] = data_uri(row["image_bytes"])
        else:  # the items name their files but do not hold them
            data["image"] = row["image"]
    return data


def _choice(from_name: str, to_name: str, label) -> dict:
    return {"from_name": from_name, "to_name": to_name, "type": "choices",
            "value": {"choices": [str(_plain(label))]}}


def _predictor(store: LabelStore, project: str | Project, dataset: Dataset,
               session: LabelingSession | None) -> tuple[KNNClassifier, str]:
    """The kNN model of the project (the session's, else rebuilt from the store) and its name."""
    if session is not None:
        model, n_labels = session.classifier(), session.n_labeled
    else:
        arrays = stored_model_arrays(store, project, dataset)
        model, n_labels = _classifier(arrays, "the project"), len(arrays["label_codes"])
    version = f"labelwise-knn k={model.n_neighbors} {model.weights}, {n_labels} labels"
    return model, version


def _predictions(model: KNNClassifier, vectors: np.ndarray) -> tuple[list, np.ndarray]:
    """Predicted class and its probability (the score) of each row of ``vectors``."""
    proba = model.predict_proba(vectors)
    predicted = model.predict(vectors)
    column = {_plain(c): n for n, c in enumerate(model.classes_.tolist())}
    scores = proba[np.arange(len(vectors)), [column[_plain(p)] for p in predicted]]
    return [_plain(p) for p in predicted], scores


def labelstudio_tasks(store: LabelStore, project: str | Project,
                      dataset: Dataset | None = None, *, predictions: str = "none",
                      image_prefix: str | None = None, session: LabelingSession | None = None,
                      from_name: str = "label") -> list[dict]:
    """Label Studio task-import JSON: one task per labeled item (its label a completed
    annotation), then, with ``predictions="unlabeled"`` or ``"all"``, one per unlabeled item.

    Parameters
    ----------
    store, project
        Where the labels are.
    dataset : Dataset, optional
        The items: task ``data`` gets their ``text``, or their ``image`` as a ``data:`` URI
        (Label Studio shows it as is). Without it, ``data`` holds the ``item_id`` only.
    predictions : {"none", "unlabeled", "all"}
        Which tasks get the kNN model's prediction (``predictions``: ``model_version``,
        ``score`` -- the predicted class's probability -- and a ``choices`` ``result``). Needs
        ``dataset``; the model is ``session``'s when given, else rebuilt from the store.
    image_prefix : str, optional
        Instead of a data URI, ``image_prefix`` + the image's URL-quoted path (e.g.
        ``"/data/local-files/?d=photos/"`` for Label Studio's local file storage).
    session : LabelingSession, optional
    from_name : str
        The ``<Choices name=...>`` of the labeling config (:func:`labelstudio_config`).
    """
    if predictions not in PREDICTIONS:
        raise InvalidInputError(f"predictions must be one of {', '.join(PREDICTIONS)}, "
                                f"got {predictions!r}")
    if predictions != "none" and dataset is None:
        raise InvalidInputError("predictions need the project's dataset (the items' vectors)")
    rows = _labeled_rows(store, project, dataset)
    to_name = _view_of(rows.columns)
    tasks = [{"data": _task_data(row, image_prefix), "annotations": [
        {"result": [_choice(from_name, to_name, row["label"])], "created_at": row["at"],
         "meta": {"labeled_by": row["who"]}}]} for row in _records(rows)]
    if predictions == "none":
        return tasks
    content = item_content(dataset)
    labeled = set(rows["item_id"])
    unlabeled = content[~content["item_id"].isin(labeled)]
    tasks += [{"data": _task_data(row, image_prefix)} for row in _records(unlabeled)]
    # Predicted tasks: the unlabeled ones (after the labeled), and the labeled ones for "all".
    first = 0 if predictions == "all" else len(rows)
    position = {i: n for n, i in enumerate(content["item_id"])}
    rows_of = [position.get(t["data"]["item_id"]) for t in tasks[first:]]
    if None in rows_of:
        raise InvalidInputError("some labeled items are not in the dataset given, so the "
                                "model cannot predict them: give the project's dataset")
    model, version = _predictor(store, project, dataset, session)
    predicted, scores = _predictions(model, dataset.vectors[rows_of])
    for task, label, score in zip(tasks[first:], predicted, scores.tolist(), strict=True):
        task["predictions"] = [{"model_version": version, "score": score,
                                "result": [_choice(from_name, to_name, label)]}]
    return tasks


def to_labelstudio(tasks: list[dict], path: str | os.PathLike) -> Path:
    """Write Label Studio ``tasks`` to ``path`` as a JSON list (UTF-8)."""
    path = Path(path)
    path.write_text(json.dumps(tasks, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


# -- image folders ------------------------------------------------------------------------------
_UNSAFE_IN_NAMES = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')
_WINDOWS_RESERVED = re.compile(r"(CON|PRN|AUX|NUL|COM[0-9¹²³]|LPT[0-9¹²³])(\..*)?", re.I)
MANIFEST = "manifest.csv"
_MAX_NAME_BYTES = 120  # well under the usual 255-byte limit, leaving room for "-12345.jpeg"


def safe_file_name(name: str) -> str:
    """``name`` as one safe file or folder name on every common system.

    Path separators, ``:*?"<>|`` and control characters become ``_``; leading and trailing
    dots and spaces are dropped (no ``..``, no hidden files); Windows device names get a
    leading ``_``; long names are cut to 120 UTF-8 bytes. Never empty.
    """
    text = _UNSAFE_IN_NAMES.sub("_", unicodedata.normalize("NFC", str(name))).strip(". ")
    if _WINDOWS_RESERVED.fullmatch(text):
        text = "_" + text
    text = text.encode("utf-8")[:_MAX_NAME_BYTES].decode("utf-8", "ignore").rstrip(". ")
    return text or "_"


def _unique(name: str, taken: set[str], *, suffix: str = "") -> str:
    """``name`` + ``suffix``, or ``name-2`` + ``suffix``, ``name-3`` + ``suffix``, ...: the
    first not in ``taken`` (compared case-insensitively, as on Windows and macOS), which it
    joins."""
    candidate, n = name + suffix, 1
    while candidate.casefold() in taken:
        n += 1
        candidate = f"{name}-{n}{suffix}"
    taken.add(candidate.casefold())
    return candidate


def image_folder_entries(rows: pd.DataFrame) -> list[tuple[str, str, str, bytes]]:
    """(zip entry name, item id, label, image bytes) of each labeled image: one folder per
    class, the file named after the image's path, its ending after its bytes."""
    folders: dict[str, str] = {}
    taken_folders = {MANIFEST.casefold()}  # a class folder must not take the manifest's name
    taken_files: dict[str, set[str]] = {}
    entries = []
    for item_id, label, path, blob in zip(rows["item_id"], rows["label"], rows["image"],
                                          rows["image_bytes"], strict=True):
        label = str(_plain(label))
        if label not in folders:
            folders[label] = _unique(safe_file_name(label), taken_folders)
            taken_files[folders[label]] = set()
        stem = PurePosixPath(str(path).replace("\\", "/")).stem
        name = _unique(safe_file_name(stem), taken_files[folders[label]],
                       suffix=_image_type(blob)[1])
        entries.append((f"{folders[label]}/{name}", item_id, label, blob))
    return entries


def to_image_folder(rows: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write the labeled images as a zip of class folders plus ``manifest.csv``.

    Raises
    ------
    InvalidInputError
        If the rows have no image bytes (not an image dataset, or no dataset given).
    """
    if "image_bytes" not in rows.columns:
        raise InvalidInputError("the image-folder export needs the project's image dataset "
                                "(its items hold no images)")
    missing = rows["item_id"][[_bytes_or_none(b) is None for b in rows["image_bytes"]]]
    if len(missing):
        raise InvalidInputError(
            f"{len(missing)} labeled item(s) have no image bytes in the dataset (e.g. "
            f"{missing.iloc[0]!r}): give the dataset the project was labeled on")
    entries = image_folder_entries(rows)
    manifest = pd.DataFrame([e[:3] for e in entries], columns=["file", "item_id", "label"])
    path = Path(path)
    with zipfile.ZipFile(path, "w") as archive:
        for name, _, _, blob in entries:
            # Fixed dates: the same labels give the same bytes. Images are compressed already.
            archive.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), blob,
                             compress_type=zipfile.ZIP_STORED)
        archive.writestr(zipfile.ZipInfo(MANIFEST, (1980, 1, 1, 0, 0, 0)),
                         csv_text(manifest), compress_type=zipfile.ZIP_DEFLATED)
    return path


# -- the kNN model -------------------------------------------------------------------------
def model_arrays(session: LabelingSession) -> dict[str, np.ndarray]:
    """The session's labeled vectors and labels as plain arrays (no Python objects).

    Items are in labeling order, which :class:`KNNClassifier` uses to break similarity ties,
    so the loaded model predicts exactly as ``session.classifier()``.
    """
    items = session.labeled
    if not len(items):
        raise InvalidInputError("nothing is labeled yet, so there is no model to export")
    return _arrays(session.vectors[items], session.view().codes[items], session.classes,
                   session.k, session.weights)


def stored_model_arrays(store: LabelStore, project: str | Project,
                        dataset: Dataset) -> dict[str, np.ndarray]:
    """Model arrays straight from the store, taking each labeled item's vector from ``dataset``.

    The same arrays as :func:`model_arrays` of the resumed session, without building one;
    ``dataset`` only has to contain every labeled item id (e.g. the full pack when the
    project labeled a pool drawn from it). k and weights come from the project's settings.
    """
    from .projects import replay_events

    project = store.open_project(project)
    index_of = {str(i): n for n, i in enumerate(dataset.ids.tolist())}
    state = replay_events(store.labels_changed_since(project), index_of, len(dataset))
    items = np.flatnonzero(state.seq >= 0)
    if not len(items):
        raise InvalidInputError("nothing is labeled yet, so there is no model to export")
    items = items[np.argsort(state.seq[items], kind="stable")]
    settings = project.settings
    return _arrays(as_unit_rows(dataset.vectors[items], name=f"vectors of {dataset.name}"),
                   state.code[items], state.classes, int(settings.get("k", 5)),
                   settings.get("weights", "uniform"))


def _arrays(vectors, codes, classes, k: int, weights: str) -> dict[str, np.ndarray]:
    classes = [_plain(c) for c in classes]
    for c in classes:
        if isinstance(c, bool) or not isinstance(c, (str, int, float)):
            raise InvalidInputError(
                f"class {c!r} cannot be exported: labels must be strings or numbers")
    codes = np.asarray(codes, dtype=np.int64)
    return {
        "format": np.array(MODEL_FORMAT),
        "vectors": np.ascontiguousarray(vectors, dtype=np.float32),
        "label_codes": codes,
        "labels": np.array([str(classes[c]) for c in codes], dtype=np.str_),
        "classes": np.array([str(c) for c in classes], dtype=np.str_),
        "classes_json": np.array(json.dumps(classes)),
        "k": np.array(k, dtype=np.int64),
        "weights": np.array(check_weights(weights)),
    }


def save_knn_model(path: str | os.PathLike, session: LabelingSession | None = None, *,
                   arrays: dict[str, np.ndarray] | None = None) -> Path:
    """Save a kNN model to ``path`` (.npz of plain arrays ``vectors``, ``labels``,
    ``classes``, ``k``, ``weights``, ...), loadable without pickle by :func:`load_knn_model`.

    Give the ``session``, or ``arrays`` from :func:`stored_model_arrays`.
    """
    if arrays is None:
        if session is None:
            raise InvalidInputError("save_knn_model needs a session or model arrays")
        arrays = model_arrays(session)
    path = Path(path)
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return path


def load_knn_model(path: str | os.PathLike) -> KNNClassifier:
    """A fitted :class:`KNNClassifier` from a file written by :func:`save_knn_model`.

    Loaded with ``allow_pickle=False``; any other file raises :class:`InvalidInputError`.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise InvalidInputError(f"{path} is not a labelwise kNN model file: {exc}") from exc
    return _classifier(arrays, str(path))


def _classifier(arrays: dict[str, np.ndarray], where: str) -> KNNClassifier:
    """The fitted classifier of model ``arrays`` (checked: they may come from any file)."""
    missing = {"format", "vectors", "label_codes", "classes_json", "k", "weights"} - set(arrays)
    if missing or str(arrays["format"]) != MODEL_FORMAT:
        raise InvalidInputError(f"{where} is not a labelwise kNN model file "
                                f"(missing {sorted(missing)} or wrong format tag)")
    try:
        classes = json.loads(str(arrays["classes_json"]))
        codes = arrays["label_codes"].astype(np.int64)
        k = int(arrays["k"])
        weights = check_weights(str(arrays["weights"]))
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(f"{where}: malformed model file ({exc})") from exc
    vectors = arrays["vectors"]
    if (not isinstance(classes, list) or vectors.ndim != 2 or codes.shape != (len(vectors),)
            or (len(codes) and (codes.min() < 0 or codes.max() >= len(classes))) or k < 1):
        raise InvalidInputError(f"{where}: inconsistent model file (vectors {vectors.shape}, "
                                f"{len(codes)} labels, {len(classes)} classes, k={k})")
    labels = np.empty(len(codes), dtype=object)
    labels[:] = [classes[c] for c in codes]
    return KNNClassifier(n_neighbors=k, weights=weights).fit(vectors, labels)


# -- one entry point -----------------------------------------------------------------------------
def export_project(store: LabelStore, project: str | Project, fmt: str,
                   path: str | os.PathLike, dataset: Dataset | None = None,
                   session: LabelingSession | None = None, *, predictions: str = "none",
                   image_prefix: str | None = None) -> Path:
    """Write a project's labels (with their items' content when ``dataset`` is given), its
    Label Studio config, or its kNN model to ``path`` in format ``fmt`` (:data:`FORMATS`).

    ``npz`` needs the session, or a dataset holding every labeled item (its vectors);
    ``imagefolder`` the image dataset. ``predictions`` and ``image_prefix`` are for
    ``labelstudio`` (:func:`labelstudio_tasks`). In ``csv``, cells starting with ``=``,
    ``+``, ``-``, ``@``, a tab, a CR or ``'`` get a leading ``'`` (:func:`to_csv`).
    """
    if fmt not in FORMATS:
        raise InvalidInputError(f"unknown export format {fmt!r}; choose one of "
                                f"{', '.join(FORMATS)}")
    if fmt != "labelstudio" and (predictions != "none" or image_prefix is not None):
        raise InvalidInputError("predictions and image_prefix are options of the "
                                "labelstudio format")
    if fmt == "npz":
        if session is not None:
            return save_knn_model(path, session)
        if dataset is None:
            raise InvalidInputError("exporting the kNN model needs the project's dataset")
        return save_knn_model(path, arrays=stored_model_arrays(store, project, dataset))
    if fmt == "labelstudio":
        return to_labelstudio(labelstudio_tasks(
            store, project, dataset, predictions=predictions, image_prefix=image_prefix,
            session=session), path)
    if fmt in ("csv", "jsonl"):
        return (to_csv if fmt == "csv" else to_jsonl)(labeled_items(store, project, dataset), path)
    rows = _labeled_rows(store, project, dataset)
    if fmt == "labelstudio-config":
        path = Path(path)
        path.write_text(labelstudio_config(class_names(rows["label"]),
                                           _view_of(rows.columns)),
                        encoding="utf-8")
        return path
    return (to_parquet if fmt == "parquet" else to_image_folder)(rows, path)
