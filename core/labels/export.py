"""Export labels from the store: CSV, JSON Lines, Label Studio tasks, and the kNN model as .npz.

The tables come straight from :class:`labelwise.labels.store.LabelStore` (the current label of each
item,
who gave it and when), joined with what a person sees of each item when a dataset is given. The
model file holds plain arrays only, so it loads with ``allow_pickle=False``::

    save_knn_model("model.npz", session)
    clf = load_knn_model("model.npz")      # a fitted labelwise.KNNClassifier
    clf.predict(new_vectors)
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.datasets import Dataset
from ..engine.classifier import KNNClassifier
from ..engine.knn import check_weights
from ..engine.session import LabelingSession
from ..engine.vectors import as_unit_rows
from ..errors import InvalidInputError
from .store import LabelStore, Project

FORMATS = ("csv", "jsonl", "labelstudio", "npz")
MODEL_FORMAT = "labelwise-knn-v1"
#: Columns of the dataset's items copied next to each label (when present).
ITEM_COLUMNS = ("text", "image")


def labeled_items(store: LabelStore, project: str | Project,
                  dataset: Dataset | None = None) -> pd.DataFrame:
    """The current labels of a project, one row per labeled item, in labeling order.

    Returns
    -------
    pandas.DataFrame
        ``item_id``, ``label``, ``who``, ``at``, plus ``text``/``image`` from
        ``dataset.items`` when given (image bytes are left out: they do not fit a text file).
    """
    table = store.current_labels(project).drop(columns="event_id")
    if dataset is None or not len(table):
        return table.reset_index(drop=True)
    items = dataset.items.copy()
    items["item_id"] = [str(i) for i in items["id"]]
    keep = [c for c in ITEM_COLUMNS if c in items.columns
            and not items[c].map(lambda v: isinstance(v, (bytes, bytearray))).any()]
    return table.merge(items[["item_id", *keep]], on="item_id", how="left")


def to_csv(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write the table as UTF-8 CSV (texts quoted as needed, never interpreted)."""
    path = Path(path)
    table.to_csv(path, index=False, encoding="utf-8")
    return path


def to_jsonl(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write one JSON object per labeled item, one per line (UTF-8)."""
    path = Path(path)
    with open(path, "w", encoding="utf-8") as fh:
        for record in _records(table):
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def _records(table: pd.DataFrame) -> list[dict]:
    """Rows as dicts of plain Python values (NaN from a missing join becomes None)."""
    out = []
    for row in table.to_dict(orient="records"):
        out.append({k: (None if isinstance(v, float) and v != v else
                        v.item() if isinstance(v, np.generic) else v) for k, v in row.items()})
    return out


def labelstudio_tasks(table: pd.DataFrame, *, from_name: str = "label") -> list[dict]:
    """Label Studio task-import JSON: one task per item, its label as a completed annotation.

    Each task's ``data`` holds ``item_id`` and ``text`` or ``image`` when known; the
    annotation is a ``choices`` result, so a labeling config such as
    ``<Choices name="label" toName="text">`` (or ``toName="image"``) imports it.
    """
    tasks = []
    for row in _records(table):
        data = {"item_id": row["item_id"]}
        to_name = "item"
        for column in ITEM_COLUMNS:
            if row.get(column) is not None:
                data[column] = row[column]
                to_name = column
        result = {"from_name": from_name, "to_name": to_name, "type": "choices",
                  "value": {"choices": [str(row["label"])]}}
        tasks.append({"data": data, "annotations": [
            {"result": [result], "created_at": row["at"],
             "meta": {"labeled_by": row["who"]}}]})
    return tasks


def to_labelstudio(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write :func:`labelstudio_tasks` to ``path`` as a JSON list."""
    path = Path(path)
    path.write_text(json.dumps(labelstudio_tasks(table), ensure_ascii=False, indent=1),
                    encoding="utf-8")
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
    classes = [c.item() if isinstance(c, np.generic) else c for c in classes]
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
    missing = {"format", "vectors", "label_codes", "classes_json", "k", "weights"} - set(arrays)
    if missing or str(arrays["format"]) != MODEL_FORMAT:
        raise InvalidInputError(f"{path} is not a labelwise kNN model file "
                                f"(missing {sorted(missing)} or wrong format tag)")
    try:
        classes = json.loads(str(arrays["classes_json"]))
        codes = arrays["label_codes"].astype(np.int64)
        k = int(arrays["k"])
        weights = check_weights(str(arrays["weights"]))
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(f"{path}: malformed model file ({exc})") from exc
    vectors = arrays["vectors"]
    if (not isinstance(classes, list) or vectors.ndim != 2 or codes.shape != (len(vectors),)
            or (len(codes) and (codes.min() < 0 or codes.max() >= len(classes))) or k < 1):
        raise InvalidInputError(f"{path}: inconsistent model file (vectors {vectors.shape}, "
                                f"{len(codes)} labels, {len(classes)} classes, k={k})")
    labels = np.empty(len(codes), dtype=object)
    labels[:] = [classes[c] for c in codes]
    return KNNClassifier(n_neighbors=k, weights=weights).fit(vectors, labels)


def export_project(store: LabelStore, project: str | Project, fmt: str,
                   path: str | os.PathLike, dataset: Dataset | None = None,
                   session: LabelingSession | None = None) -> Path:
    """Write a project's labels (or its kNN model, ``fmt="npz"``) to ``path``.

    ``npz`` needs the session, or a dataset holding every labeled item (its vectors).
    """
    if fmt not in FORMATS:
        raise InvalidInputError(f"unknown export format {fmt!r}; choose one of "
                                f"{', '.join(FORMATS)}")
    if fmt == "npz":
        if session is not None:
            return save_knn_model(path, session)
        if dataset is None:
            raise InvalidInputError("exporting the kNN model needs the project's dataset")
        return save_knn_model(path, arrays=stored_model_arrays(store, project, dataset))
    table = labeled_items(store, project, dataset)
    writer = {"csv": to_csv, "jsonl": to_jsonl, "labelstudio": to_labelstudio}[fmt]
    return writer(table, path)
