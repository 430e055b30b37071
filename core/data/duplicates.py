"""Exact duplicates: items whose content (image bytes or text) is byte for byte the same.

The content hash is a SHA-256 of what a person sees: an image's file bytes (an in-memory
thumbnail's bytes, or the file at a path), a text's UTF-8 bytes. Two items with one hash are
the same content under two ids. Near-duplicates (similar embeddings) are found by the engine:
:func:`labelwise.engine.quality.near_duplicate_groups`.
"""

from __future__ import annotations

import hashlib
import os
import unicodedata
from pathlib import Path

import numpy as np

from ..errors import InvalidInputError
from .datasets import Dataset
from .images import MAX_IMAGE_FILE_BYTES

#: Columns of a dataset whose cells are the content, in order of preference.
CONTENT_COLUMNS = ("image", "text")


def content_hash(value, *, normalize_text: bool = False) -> str:
    """SHA-256 (hex) of one item's content: bytes as they are, a path's file bytes, a text.

    Parameters
    ----------
    value : bytes, str or path-like
        Image bytes; a path (``os.PathLike``) to an image file; or a text (``str``).
    normalize_text : bool, default=False
        Hash texts after Unicode NFC, case folding and whitespace collapsing, so that
        ``"Great  movie"`` and ``"great movie"`` count as the same.

    Raises
    ------
    InvalidInputError
        For a missing or oversized file, or a value of another type.
    """
    digest = hashlib.sha256()
    if isinstance(value, bytes | bytearray | memoryview):
        digest.update(b"bytes\n")
        digest.update(bytes(value))
    elif isinstance(value, os.PathLike):
        digest.update(b"bytes\n")
        digest.update(_file_bytes(value))
    elif isinstance(value, str):
        text = " ".join(unicodedata.normalize("NFC", value).casefold().split()) \
            if normalize_text else value
        digest.update(b"text\n")
        digest.update(text.encode("utf-8", "surrogatepass"))
    else:
        raise InvalidInputError(f"cannot hash content of type {type(value).__name__}: "
                                "expected bytes, a path or a text")
    return digest.hexdigest()


def _file_bytes(path: os.PathLike) -> bytes:
    try:
        if os.path.getsize(path) > MAX_IMAGE_FILE_BYTES:
            raise InvalidInputError(f"{path} is larger than {MAX_IMAGE_FILE_BYTES // 2**20} MB")
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc}") from exc


def content_column(dataset: Dataset) -> str:
    """The column of ``dataset.items`` that holds the content (``image`` or ``text``)."""
    for column in CONTENT_COLUMNS:
        if column in dataset.items.columns:
            return column
    raise InvalidInputError(f"dataset {dataset.name!r} has no image or text column to compare "
                            f"(columns: {', '.join(map(str, dataset.items.columns))})")


def content_hashes(dataset: Dataset, *, normalize_text: bool = False) -> np.ndarray:
    """The :func:`content_hash` of every item (object array of hex strings, pool order).

    Image paths stored as strings in an ``image`` column are read as files.
    """
    column = content_column(dataset)
    values = dataset.items[column].tolist()
    as_path = column == "image"
    return np.array([content_hash(_as_content(v, as_path), normalize_text=normalize_text)
                     for v in values], dtype=object)


def _as_content(value, is_image: bool):
    # An image column holds bytes or a path; a path string must be read, not hashed as text.
    if is_image and isinstance(value, str):
        return Path(value)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return value


def exact_duplicate_groups(dataset: Dataset, *, normalize_text: bool = False) -> list[np.ndarray]:
    """Groups of items with the same content hash (two or more items each).

    Returns
    -------
    list of ndarray of int64
        Item indices ascending per group; largest group first, then by first item.
    """
    return groups_of_equal(content_hashes(dataset, normalize_text=normalize_text))


def groups_of_equal(keys) -> list[np.ndarray]:
    """Indices of equal keys, two or more per group; largest first, then by first index."""
    _, inverse, counts = np.unique(np.asarray(keys, dtype=object).astype(str),
                                   return_inverse=True, return_counts=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.cumsum(counts)[:-1]
    groups = [g for g in np.split(order.astype(np.int64), bounds) if len(g) >= 2]
    return sorted(groups, key=lambda g: (-len(g), int(g[0])))
