"""Precomputed embeddings in ``.npy`` / ``.npz`` files, read without pickle."""

from __future__ import annotations

import zipfile

import numpy as np
import pandas as pd

from ...errors import InvalidInputError
from ..datasets import Dataset
from .common import _check_vectors, _ids, _labels, _metadata
from .sources import ColumnGuess, _Source
from .tables import ID_NAMES, LABEL_NAMES, VECTOR_NAMES


def _read_arrays(src: _Source) -> dict[str, np.ndarray]:
    try:
        loaded = np.load(src.opened(), allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            return {"vectors": loaded}
        with loaded:
            return {key: loaded[key] for key in loaded.files}
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise InvalidInputError(
                f"{src.name} holds Python objects (object dtype), which would need unpickling; "
                "labelwise never unpickles files: save numbers (and labels as strings) instead"
            ) from exc
        raise InvalidInputError(f"{src.name} is not a readable NumPy file: {exc}") from exc
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InvalidInputError(f"{src.name} is not a readable NumPy file: {exc}") from exc


def _guess_arrays(arrays: dict[str, np.ndarray]) -> ColumnGuess:
    reasons = []
    vectors = next((k for k in VECTOR_NAMES if k in arrays), None)
    if vectors is None:
        matrices = [k for k, v in arrays.items() if v.ndim == 2]
        if len(matrices) != 1:
            raise InvalidInputError(
                f"cannot tell which array holds the vectors among {', '.join(arrays) or 'none'}; "
                "name it 'vectors'"
            )
        vectors = matrices[0]
    reasons.append(f"vectors: array {vectors!r}")
    label = next((k for k in LABEL_NAMES if k in arrays and k != vectors), None)
    ident = next((k for k in ID_NAMES if k in arrays and k != vectors), None)
    if label:
        reasons.append(f"labels: array {label!r}")
    if ident:
        reasons.append(f"ids: array {ident!r}")
    return ColumnGuess("embeddings", label_column=label, id_column=ident,
                       vector_columns=[vectors], reasons=reasons)


def _load_arrays(src: _Source, guess: ColumnGuess, *, expected_dimension, name, label_column,
                 id_column) -> Dataset:
    arrays = _read_arrays(src)
    for role, chosen in (("label", label_column), ("id", id_column)):
        if chosen:
            if chosen not in arrays:
                raise InvalidInputError(f"{src.name} has no array {chosen!r}; arrays: "
                                        f"{', '.join(arrays)}")
            setattr(guess, f"{role}_column", chosen)
        elif chosen == "":
            setattr(guess, f"{role}_column", None)
    key = guess.vector_columns[0]
    vectors = _check_vectors(arrays[key], f"{src.name}: array {key!r}", expected_dimension)
    n = len(vectors)
    extras = {}
    for role in ("label", "id"):
        column = getattr(guess, f"{role}_column")
        if column is None:
            continue
        values = arrays[column]
        if values.ndim != 1 or len(values) != n:
            raise InvalidInputError(
                f"{src.name}: array {column!r} ({role}s) has shape {values.shape} but there are "
                f"{n} vectors; it must be 1-D with one entry per vector"
            )
        extras[role] = values.tolist()
    labels = (None if "label" not in extras
              else _labels(extras["label"], f"{src.name}: array {guess.label_column!r}"))
    ids = _ids(extras.get("id"), n, f"{src.name}: array {guess.id_column!r}")
    items = pd.DataFrame({"id": ids})
    return Dataset(name, vectors, labels, items, "table", metadata=_metadata(src.name, guess))
