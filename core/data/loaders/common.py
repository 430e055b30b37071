"""Checks shared by every loader: labels, ids, vectors, the item table and metadata."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...errors import InvalidInputError, describe_rows
from .sources import KINDS, ColumnGuess, Limits


def _check_kind(kind) -> None:
    if kind is not None and kind not in KINDS:
        raise InvalidInputError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")


def _require_kind(kind, wanted: str, why: str) -> None:
    if kind is not None and kind != wanted:
        raise InvalidInputError(f"{why}, so it holds {wanted}, not {kind}")


def _labels(values, where: str) -> np.ndarray:
    """String labels; refuse missing ones and a single class."""
    series = pd.Series(values)
    missing = np.flatnonzero(series.isna().to_numpy())
    if missing.size:
        raise InvalidInputError(
            f"{where} is empty in {describe_rows(missing)}; fill those labels, or load without "
            "labels"
        )
    labels = np.array([_label_text(v) for v in series], dtype=object)
    distinct = sorted(set(labels.tolist()))
    if len(distinct) < 2:
        raise InvalidInputError(
            f"{where} has only one class ({distinct[0]!r}); ground truth needs at least two "
            "classes, so load without labels instead"
        )
    return labels


def _label_text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 1.0 from a CSV column with gaps elsewhere reads as "1"
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _ids(values, n: int, where: str) -> np.ndarray:
    if values is None:
        width = len(str(max(n - 1, 0)))
        return np.array([f"{i:0{width}d}" for i in range(n)], dtype=object)
    series = pd.Series(values)
    missing = np.flatnonzero(series.isna().to_numpy())
    if missing.size:
        raise InvalidInputError(f"{where} is empty in {describe_rows(missing)}")
    ids = np.array([_label_text(v) for v in series], dtype=object)
    _refuse_clashes(ids, where, key=str, what="duplicate ids", hint="ids must be unique")
    # "a" and "a " look the same on screen and in exports: one of them is a mistake.
    _refuse_clashes(ids, where, key=str.strip, what="ambiguous ids (alike but for spaces)",
                    hint="make them distinct")
    return ids


def _refuse_clashes(ids: np.ndarray, where: str, *, key, what: str, hint: str) -> None:
    seen: dict[str, int] = {}
    clashes = []
    for row, value in enumerate(ids.tolist()):
        normal = key(value)
        if normal in seen:
            clashes.append((seen[normal], row))
        seen.setdefault(normal, row)
    if clashes:
        first, second = clashes[0]
        shown = (repr(ids[first]) if ids[first] == ids[second]
                 else f"{ids[first]!r} and {ids[second]!r}")
        more = f" ({len(clashes) - 1} more)" if len(clashes) > 1 else ""
        raise InvalidInputError(
            f"{where} has {what}: {shown} in rows {first} and {second}{more}; {hint}")


def _items(table: pd.DataFrame, ids, drop) -> pd.DataFrame:
    """Display columns: everything except labels, ids and what becomes the vectors."""
    keep = [c for c in table.columns if c not in drop and c not in ("id", "text", "image")]
    items = table[keep].reset_index(drop=True).copy()
    items.insert(0, "id", ids)
    return items


def _metadata(where: str, guess: ColumnGuess, **extra) -> dict:
    meta = {"source": where, "kind": guess.kind, "guess": guess.describe(),
            "text_column": guess.text_column, "label_column": guess.label_column,
            "id_column": guess.id_column}
    meta.update(extra)
    return meta


def _check_vectors(vectors, where: str, expected_dimension, columns=None) -> np.ndarray:
    """float32 vectors, refusing non-numbers, NaN/inf (naming the first cell) and zeros."""
    arr = np.asarray(vectors)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.floating)
                                   or np.issubdtype(arr.dtype, np.integer)):
        raise InvalidInputError(f"{where}: vectors must be numbers, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise InvalidInputError(f"{where}: vectors must be a 2-D array (items x dimensions), "
                                f"got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InvalidInputError(f"{where} is empty: vectors of shape {arr.shape}")
    with np.errstate(over="ignore"):
        out = arr.astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(out).all(axis=1))
    if bad.size:
        row = int(bad[0])
        dimension = int(np.flatnonzero(~np.isfinite(out[row]))[0])
        cell = (f"column {columns[dimension]!r}" if columns is not None and len(columns) > 1
                else f"dimension {dimension}")
        raise InvalidInputError(
            f"{where}: NaN or infinite values (or values too large for float32) in "
            f"{describe_rows(bad)}, first at row {row}, {cell} (value {arr[row, dimension]!r}); "
            "an embeddings file must hold finite numbers only")
    zero = np.flatnonzero(~out.any(axis=1))
    if zero.size:
        raise InvalidInputError(f"{where}: all-zero vectors in {describe_rows(zero)} have no "
                                "direction, so no cosine similarity; drop or fix them")
    _check_dimension(out, expected_dimension, where)
    return np.ascontiguousarray(out)


def _check_dimension(vectors: np.ndarray, expected_dimension, where: str) -> None:
    if expected_dimension is not None and vectors.shape[1] != int(expected_dimension):
        raise InvalidInputError(
            f"{where}: vectors have {vectors.shape[1]} dimensions but {expected_dimension} are "
            "expected; were they made with a different encoder?"
        )


def _check_embedding_size(count: int, dimension: int, limits: Limits, where: str) -> None:
    """Refuse embedding more items, or more values, than ``limits`` allow (before embedding)."""
    limits.check_items(count, where)
    limits.check_values(count * dimension, where,
                        f"(once embedded) {count:,} x {dimension:,} = ")
