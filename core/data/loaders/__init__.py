"""Bring your own data: from a file a user has to a :class:`~labelwise.data.datasets.Dataset`.

This module holds the entry points; each job has its own module (sources, tables, arrays,
image_folders, common).

Three kinds of input, one entry point, :func:`load_user_data`:

- ``"text"``: a CSV or Parquet table with a text column (embedded with the ``use`` encoder unless
  another is given), an optional label column (ground truth for simulations) and id column;
- ``"images"``: a folder or a ``.zip`` of images; class subfolders, if present, are the labels
  (embedded with ``mobilenet_v2``; 128 px JPEG thumbnails are kept for display);
- ``"embeddings"``: precomputed vectors in ``.npy`` / ``.npz`` (read without pickle), Parquet
  (numeric columns, or one column of lists) or CSV (numeric columns), with optional labels and
  ids.

Columns are given explicitly or guessed; :func:`guess_columns` returns the guess with the reason
for each choice, so a user interface can show it before loading. Every malformed input raises an
:class:`~labelwise.errors.InvalidInputError` (a :class:`~labelwise.errors.LabelwiseError`) whose
message names the problem and the place (file, column, rows); nothing is pickled or executed.
"""

from __future__ import annotations

from ...errors import InvalidInputError, LabelwiseError
from ..datasets import Dataset
from .arrays import _array_headers, _guess_arrays, _load_arrays
from .common import _check_kind, _require_kind
from .image_folders import _guess_images, _load_images
from .sources import (
    ARRAY_SUFFIXES,
    MAX_INPUT_BYTES,
    MAX_ITEMS,
    MAX_VALUES,
    NO_LIMITS,
    ColumnGuess,
    Limits,
    _as_source,
    _check_size,
    _Source,
    resolve_server_path,
)
from .tables import _apply_choices, _guess_table, _load_text, _load_vector_table, _read_table

__all__ = ["MAX_INPUT_BYTES", "MAX_ITEMS", "MAX_VALUES", "NO_LIMITS", "ColumnGuess", "Limits",
           "detect_kind", "guess_columns", "load_user_data", "resolve_server_path"]


def load_user_data(
    source,
    kind: str | None = None,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    id_column: str | None = None,
    vector_columns: list[str] | None = None,
    encoder: str | None = None,
    expected_dimension: int | None = None,
    filename: str | None = None,
    encoding: str = "utf-8",
    progress=None,
    name: str | None = None,
    max_bytes: int | None = MAX_INPUT_BYTES,
    max_items: int | None = MAX_ITEMS,
    max_values: int | None = MAX_VALUES,
) -> Dataset:
    """Load a user's file or folder as a :class:`Dataset`.

    Ids and labels are read as text (``007`` stays ``007``; ``1``, ``01`` and ``1.0`` are three
    labels), and nothing changes meaning on the way: duplicate or ambiguous ids and columns,
    and NaN or text in a column of vector numbers, are refused with the place named.

    Parameters
    ----------
    source : path, bytes or file-like
        A CSV / Parquet / .npy / .npz / .zip file, a folder of images, or the bytes of such a
        file (give ``filename`` so its type is known; otherwise it is sniffed). Paths must be
        regular files or folders (no devices or pipes).
    kind : {"text", "images", "embeddings"}, optional
        Guessed when omitted (see :func:`guess_columns`).
    text_column, label_column, id_column : str, optional
        Columns to use; guessed when omitted. Pass ``label_column=""`` for "no labels" and
        ``id_column=""`` for row-number ids.
    vector_columns : list of str, optional
        Embeddings in a table: the numeric columns (or one list column) holding the vectors.
    encoder : str, optional
        Encoder for texts (default ``"use"``) or images (default ``"mobilenet_v2"``).
    expected_dimension : int, optional
        Refuse embeddings of another dimension (e.g. to join an existing project).
    filename : str, optional
        Name of the uploaded file when ``source`` is bytes.
    encoding : str
        Text encoding of CSV files.
    progress : callable(done, total), optional
        Embedding progress.
    name : str, optional
        Dataset name (default: the file's stem).
    max_bytes : int or None
        Refuse inputs larger than this, or that decompress to more (npz members, Parquet
        pages, zip entries, checked from their declared sizes before unpacking); default 1 GiB.
    max_items : int or None
        Refuse more rows, vectors or images than this (default 1,000,000).
    max_values : int or None
        Refuse more numbers than this: items x dimensions, including the vectors an encoder
        would make (default 10^8, 400 MB of float32). ``None`` lifts any of the three caps.

    Returns
    -------
    Dataset
        ``metadata["guess"]`` says which columns were used and why.

    Raises
    ------
    InvalidInputError
        For every malformed or oversized input, naming the problem and the place.
    """
    limits = Limits(max_bytes, max_items, max_values)
    src = _as_source(source, filename, max_bytes)
    _check_size(src, limits)
    try:
        return _load(src, kind, text_column=text_column, label_column=label_column,
                     id_column=id_column, vector_columns=vector_columns, encoder=encoder,
                     expected_dimension=expected_dimension, encoding=encoding,
                     progress=progress, name=name or src.stem, limits=limits)
    except LabelwiseError:
        raise
    except (MemoryError, RecursionError):
        raise
    except Exception as exc:  # a reader failed in a way not foreseen: still name the place
        raise InvalidInputError(
            f"{src.name} could not be loaded: {type(exc).__name__}: {exc}") from exc


def guess_columns(source, kind: str | None = None, *, filename: str | None = None,
                  encoding: str = "utf-8", max_bytes: int | None = MAX_INPUT_BYTES,
                  max_items: int | None = MAX_ITEMS,
                  max_values: int | None = MAX_VALUES) -> ColumnGuess:
    """Guess the kind of ``source`` and the columns to use, with a reason for each choice.

    The guess is what :func:`load_user_data` would use when no column is given. It reads a
    bounded prefix of a table (:data:`~labelwise.data.loaders.sources.GUESS_BYTES`), only the
    headers of ``.npy``/``.npz`` arrays and the entry list of an archive, whatever the size of
    the input; inputs that :func:`load_user_data` would refuse for their size are refused here
    already (same limits).
    """
    limits = Limits(max_bytes, max_items, max_values)
    src = _as_source(source, filename, max_bytes)
    _check_size(src, limits)
    try:
        return _guess(src, kind, encoding=encoding, limits=limits)
    except LabelwiseError:
        raise
    except (MemoryError, RecursionError):
        raise
    except Exception as exc:
        raise InvalidInputError(
            f"{src.name} could not be read: {type(exc).__name__}: {exc}") from exc


def _guess(src: _Source, kind: str | None, *, encoding: str, limits: Limits) -> ColumnGuess:
    _check_kind(kind)
    if src.is_folder:
        _require_kind(kind, "images", f"{src.name} is a folder")
        return _guess_images(src, "a folder", limits)
    if src.suffix == ".zip":
        _require_kind(kind, "images", f"{src.name} is a zip archive")
        return _guess_images(src, "a zip archive", limits)
    if src.suffix in ARRAY_SUFFIXES:
        _require_kind(kind, "embeddings", f"{src.name} is a NumPy file")
        return _guess_arrays(_array_headers(src, limits))
    if kind == "images":
        raise InvalidInputError(f"{src.name} is a table; images come as a folder or a .zip")
    table = _read_table(src, encoding=encoding, limits=limits, guess=True)
    return _guess_table(table, kind, src.name)


def _load(src: _Source, kind, *, text_column, label_column, id_column, vector_columns, encoder,
          expected_dimension, encoding, progress, name, limits: Limits) -> Dataset:
    guess = _guess(src, kind, encoding=encoding, limits=limits)
    if guess.kind == "images":
        return _load_images(src, label_column=label_column, encoder=encoder, progress=progress,
                            name=name, expected_dimension=expected_dimension, limits=limits)
    if src.suffix in ARRAY_SUFFIXES:
        return _load_arrays(src, guess, expected_dimension=expected_dimension, name=name,
                            label_column=label_column, id_column=id_column, limits=limits)
    as_text = [c for c in (label_column, id_column) if c]
    table = _read_table(src, encoding=encoding, limits=limits, as_text=as_text)
    guess = _apply_choices(guess, table, src.name, text_column=text_column,
                           label_column=label_column, id_column=id_column,
                           vector_columns=vector_columns)
    if guess.kind == "text":
        return _load_text(table, guess, src.name, encoder=encoder, progress=progress, name=name,
                          expected_dimension=expected_dimension, limits=limits)
    return _load_vector_table(table, guess, src.name, name=name,
                              expected_dimension=expected_dimension)


def detect_kind(source, filename: str | None = None) -> str:
    """``"images"``, ``"embeddings"`` or ``"text"`` for a source, from its form and contents."""
    return guess_columns(source, filename=filename).kind
