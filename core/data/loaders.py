"""Bring your own data: from a file a user has to a :class:`~labelwise.data.datasets.Dataset`.

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

import csv
import io
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from ..errors import InvalidInputError, LabelwiseError, describe_rows
from .datasets import Dataset

KINDS = ("text", "images", "embeddings")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")
ARRAY_SUFFIXES = (".npy", ".npz")
TEXT_NAMES = ("text", "texts", "sentence", "sentences", "tweet", "review", "content", "body",
              "message", "comment", "document", "description", "title")
LABEL_NAMES = ("label", "labels", "class", "category", "target", "y", "sentiment", "gold",
               "annotation", "tag")
ID_NAMES = ("id", "ids", "item_id", "uid", "key", "name", "filename", "file")
VECTOR_NAMES = ("embedding", "embeddings", "vector", "vectors", "features", "x", "arr_0")
# Zip archives: refuse more than this many entries or uncompressed bytes (zip bombs).
MAX_ZIP_ENTRIES = 100_000
# Largest input accepted by default (a file, the bytes of an upload, or all files of a folder);
# larger inputs are refused before anything is parsed. Pass max_bytes to change it.
MAX_INPUT_BYTES = 1024**3
MAX_ZIP_BYTES = 4 * 1024**3
THUMBNAIL_PX = 128


@dataclass
class ColumnGuess:
    """Which kind of input a source is and which columns to use, with the reasons.

    Attributes
    ----------
    kind : {"text", "images", "embeddings"}
    text_column, label_column, id_column : str or None
        For images, ``label_column`` is ``"(class subfolders)"`` when subfolders give labels.
    vector_columns : list of str
        Numeric columns (or the one list column) holding the vectors, for tables of embeddings.
    reasons : list of str
        One sentence per choice, e.g. ``"label column 'target': its name"``.
    """

    kind: str
    text_column: str | None = None
    label_column: str | None = None
    id_column: str | None = None
    vector_columns: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """The reasons as one readable paragraph."""
        return "; ".join(self.reasons)


# --------------------------------------------------------------------------------------------
# sources: a path, or bytes with a file name


@dataclass
class _Source:
    name: str
    path: Path | None = None
    data: bytes | None = None

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.name.lower()).suffix

    @property
    def stem(self) -> str:
        return PurePosixPath(self.name).stem or "data"

    def read_bytes(self) -> bytes:
        if self.data is not None:
            return self.data
        try:
            return self.path.read_bytes()
        except OSError as exc:
            raise InvalidInputError(f"cannot read {self.name}: {exc}") from exc

    def opened(self):
        return io.BytesIO(self.data) if self.data is not None else self.path


def _as_source(source, filename: str | None) -> _Source:
    if isinstance(source, _Source):
        return source
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        return _Source(filename or _sniff_name(data), data=data)
    if hasattr(source, "getvalue") or hasattr(source, "read"):  # e.g. an uploaded file
        data = source.getvalue() if hasattr(source, "getvalue") else source.read()
        name = filename or os.path.basename(str(getattr(source, "name", "") or "")) or None
        return _as_source(bytes(data), name)
    if isinstance(source, str | os.PathLike):
        path = Path(source).expanduser()
        if not path.exists():
            raise InvalidInputError(f"{path} does not exist")
        return _Source(filename or path.name, path=path)
    raise InvalidInputError(
        f"expected a path, bytes or an uploaded file, got {type(source).__name__}"
    )


def _input_bytes(src: _Source) -> int:
    if src.data is not None:
        return len(src.data)
    if src.path.is_dir():
        return sum(p.stat().st_size for p in src.path.rglob("*") if p.is_file())
    return src.path.stat().st_size


def _check_size(src: _Source, max_bytes: int | None) -> None:
    if max_bytes is None:
        return
    size = _input_bytes(src)
    if size > max_bytes:
        raise InvalidInputError(
            f"{src.name} is {size / 2**20:,.1f} MB, more than the {max_bytes / 2**20:,.0f} MB "
            "allowed; split it, or raise the limit (max_bytes) if this machine can hold it")


def _sniff_name(data: bytes) -> str:
    if data.startswith(b"\x93NUMPY"):
        return "data.npy"
    if data.startswith(b"PAR1"):
        return "data.parquet"
    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile:
            return "data.zip"
        return "data.npz" if names and all(n.endswith(".npy") for n in names) else "data.zip"
    return "data.csv"


def detect_kind(source, filename: str | None = None) -> str:
    """``"images"``, ``"embeddings"`` or ``"text"`` for a source, from its form and contents."""
    return guess_columns(source, filename=filename).kind


# --------------------------------------------------------------------------------------------
# entry points


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
) -> Dataset:
    """Load a user's file or folder as a :class:`Dataset`.

    Parameters
    ----------
    source : path, bytes or file-like
        A CSV / Parquet / .npy / .npz / .zip file, a folder of images, or the bytes of such a
        file (give ``filename`` so its type is known; otherwise it is sniffed).
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
        Refuse inputs larger than this (default 1 GiB; None for no limit).

    Returns
    -------
    Dataset
        ``metadata["guess"]`` says which columns were used and why.

    Raises
    ------
    InvalidInputError
        For every malformed input, naming the problem and the place.
    """
    src = _as_source(source, filename)
    _check_size(src, max_bytes)
    try:
        return _load(src, kind, text_column=text_column, label_column=label_column,
                     id_column=id_column, vector_columns=vector_columns, encoder=encoder,
                     expected_dimension=expected_dimension, encoding=encoding,
                     progress=progress, name=name or src.stem)
    except LabelwiseError:
        raise
    except (MemoryError, RecursionError):
        raise
    except Exception as exc:  # a reader failed in a way not foreseen: still name the place
        raise InvalidInputError(
            f"{src.name} could not be loaded: {type(exc).__name__}: {exc}") from exc


def guess_columns(source, kind: str | None = None, *, filename: str | None = None,
                  encoding: str = "utf-8") -> ColumnGuess:
    """Guess the kind of ``source`` and the columns to use, with a reason for each choice.

    The guess is what :func:`load_user_data` would use when no column is given.
    """
    src = _as_source(source, filename)
    try:
        return _guess(src, kind, encoding=encoding)
    except LabelwiseError:
        raise
    except Exception as exc:
        raise InvalidInputError(
            f"{src.name} could not be read: {type(exc).__name__}: {exc}") from exc


def _guess(src: _Source, kind: str | None, *, encoding: str) -> ColumnGuess:
    _check_kind(kind)
    if src.path is not None and src.path.is_dir():
        _require_kind(kind, "images", f"{src.name} is a folder")
        return _guess_images(src, "a folder")
    if src.suffix == ".zip":
        _require_kind(kind, "images", f"{src.name} is a zip archive")
        return _guess_images(src, "a zip archive")
    if src.suffix in ARRAY_SUFFIXES:
        _require_kind(kind, "embeddings", f"{src.name} is a NumPy file")
        return _guess_arrays(_read_arrays(src))
    if kind == "images":
        raise InvalidInputError(f"{src.name} is a table; images come as a folder or a .zip")
    table = _read_table(src, encoding=encoding)
    return _guess_table(table, kind, src.name)


def _load(src: _Source, kind, *, text_column, label_column, id_column, vector_columns, encoder,
          expected_dimension, encoding, progress, name) -> Dataset:
    guess = _guess(src, kind, encoding=encoding)
    if guess.kind == "images":
        return _load_images(src, label_column=label_column, encoder=encoder, progress=progress,
                            name=name, expected_dimension=expected_dimension)
    if src.suffix in ARRAY_SUFFIXES:
        return _load_arrays(src, guess, expected_dimension=expected_dimension, name=name,
                            label_column=label_column, id_column=id_column)
    table = _read_table(src, encoding=encoding)
    guess = _apply_choices(guess, table, src.name, text_column=text_column,
                           label_column=label_column, id_column=id_column,
                           vector_columns=vector_columns)
    if guess.kind == "text":
        return _load_text(table, guess, src.name, encoder=encoder, progress=progress, name=name,
                          expected_dimension=expected_dimension)
    return _load_vector_table(table, guess, src.name, name=name,
                              expected_dimension=expected_dimension)


def _check_kind(kind) -> None:
    if kind is not None and kind not in KINDS:
        raise InvalidInputError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")


def _require_kind(kind, wanted: str, why: str) -> None:
    if kind is not None and kind != wanted:
        raise InvalidInputError(f"{why}, so it holds {wanted}, not {kind}")


# --------------------------------------------------------------------------------------------
# tables


def _read_table(src: _Source, *, encoding: str) -> pd.DataFrame:
    if src.suffix in (".parquet", ".pq"):
        table = _read_parquet(src)
    elif src.suffix in ("", ".csv", ".tsv", ".txt"):
        table = _read_csv(src, encoding=encoding, sep="\t" if src.suffix == ".tsv" else ",")
    else:
        raise InvalidInputError(
            f"{src.name}: unsupported file type {src.suffix!r}; use CSV, Parquet, .npy, .npz, "
            "a .zip of images or a folder of images"
        )
    if table.empty or len(table.columns) == 0:
        raise InvalidInputError(f"{src.name} is empty: no rows")
    table.columns = [str(c) for c in table.columns]
    duplicated = sorted({c for c in table.columns if list(table.columns).count(c) > 1})
    if duplicated:
        raise InvalidInputError(f"{src.name} has duplicate column names: {', '.join(duplicated)}")
    return table


def _read_parquet(src: _Source) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(src.opened()).to_pandas()
    except (OSError, pa.ArrowException, ValueError) as exc:
        raise InvalidInputError(f"{src.name} is not a readable Parquet file: {exc}") from exc


def _read_csv(src: _Source, *, encoding: str, sep: str) -> pd.DataFrame:
    data = src.read_bytes()
    if not data.strip():
        raise InvalidInputError(f"{src.name} is empty")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise InvalidInputError(
            f"{src.name} is not valid {encoding} text: byte {data[exc.start]:#04x} on line {line} "
            f"cannot be decoded; save the file as UTF-8 (or pass encoding=, e.g. 'latin-1')"
        ) from exc
    except LookupError as exc:
        raise InvalidInputError(f"unknown text encoding {encoding!r}") from exc
    text = text.removeprefix("\ufeff")  # a byte-order mark from spreadsheet exports
    _check_ragged(text, sep, src.name)
    try:
        # keep_default_na=False: the text "NA" or "null" stays text, only empty cells are missing.
        # index_col=False: pandas would otherwise turn an extra first field into an index.
        return pd.read_csv(io.StringIO(text), sep=sep, keep_default_na=False, na_values=[""],
                           skip_blank_lines=True, index_col=False)
    except pd.errors.EmptyDataError as exc:
        raise InvalidInputError(f"{src.name} is empty: no header or rows") from exc
    except pd.errors.ParserError as exc:
        raise InvalidInputError(
            f"{src.name} has ragged rows (not every row has the header's number of fields): "
            f"{exc}"
        ) from exc


def _check_ragged(text: str, sep: str, where: str) -> None:
    """Refuse rows whose field count differs from the header's (pandas would pad or drop)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    try:
        header = next((r for r in reader if r), None)
        if header is None:
            raise InvalidInputError(f"{where} is empty: no header or rows")
        bad = [(reader.line_num, len(r)) for r in reader if r and len(r) != len(header)]
    except csv.Error as exc:
        raise InvalidInputError(f"{where} is not valid CSV near line {reader.line_num}: "
                                f"{exc}") from exc
    if bad:
        line, count = bad[0]
        more = f" (and {len(bad) - 1} more lines)" if len(bad) > 1 else ""
        raise InvalidInputError(
            f"{where} has ragged rows: the header has {len(header)} fields but line {line} has "
            f"{count}{more}; quote fields that contain '{sep}'"
        )


def _text_like(series: pd.Series) -> bool:
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return False
    values = series.dropna()
    return len(values) > 0 and all(isinstance(v, str) for v in values.iloc[:1000])


def _numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _list_like(series: pd.Series) -> bool:
    values = series.dropna()
    return len(values) > 0 and all(isinstance(v, list | tuple | np.ndarray)
                                   for v in values.iloc[:100])


def _by_name(columns, names) -> str | None:
    lowered = {c.lower().strip(): c for c in columns}
    for wanted in names:
        if wanted in lowered:
            return lowered[wanted]
    return None


def _guess_table(table: pd.DataFrame, kind: str | None, where: str) -> ColumnGuess:
    columns = list(table.columns)
    reasons: list[str] = []
    id_column = _by_name(columns, ID_NAMES)
    if id_column is not None and not table[id_column].is_unique:
        reasons.append(f"column {id_column!r} looks like ids but repeats, so ids are row numbers")
        id_column = None
    elif id_column is not None:
        reasons.append(f"id column {id_column!r}: its name, and its values are unique")
    label_column = _by_name(columns, LABEL_NAMES)
    if label_column is not None:
        reasons.append(f"label column {label_column!r}: its name")
    rest = [c for c in columns if c not in (id_column, label_column)]
    texts = [c for c in rest if _text_like(table[c])]
    vectors = [c for c in rest if _list_like(table[c])] or [c for c in rest if _numeric(table[c])]
    if kind is None:
        kind = _table_kind(table, texts, vectors)
        reasons.insert(0, "embeddings: mostly numeric columns" if kind == "embeddings"
                       else "texts: the table has a text column")
    guess = ColumnGuess(kind, label_column=label_column, id_column=id_column, reasons=reasons)
    if kind == "text":
        named = _by_name(texts, TEXT_NAMES)
        if named is not None:
            guess.text_column = named
            reasons.append(f"text column {named!r}: its name")
        elif texts:
            lengths = {c: table[c].dropna().map(len).mean() for c in texts}
            guess.text_column = max(texts, key=lambda c: (lengths[c], -texts.index(c)))
            reasons.append(f"text column {guess.text_column!r}: the longest texts on average")
        else:
            raise InvalidInputError(
                f"{where} has no text column (columns: {', '.join(columns)}); name one with "
                "text_column=, or load it as embeddings"
            )
    else:
        list_columns = [c for c in rest if _list_like(table[c])]
        if list_columns:
            named = _by_name(list_columns, VECTOR_NAMES) or list_columns[0]
            guess.vector_columns = [named]
            reasons.append(f"vectors: the lists in column {named!r}")
        elif vectors:
            guess.vector_columns = vectors
            reasons.append(f"vectors: the {len(vectors)} numeric columns")
        else:
            raise InvalidInputError(
                f"{where} has no numeric columns to use as vectors (columns: {', '.join(columns)})"
            )
    return guess


def _table_kind(table: pd.DataFrame, texts: list[str], vectors: list[str]) -> str:
    if not vectors:
        return "text"
    if _list_like(table[vectors[0]]):
        return "embeddings"
    if _by_name(texts, TEXT_NAMES) is not None:
        return "text"
    return "embeddings" if len(vectors) >= 2 and len(vectors) > len(texts) else "text"


def _apply_choices(guess: ColumnGuess, table: pd.DataFrame, where: str, *, text_column,
                   label_column, id_column, vector_columns) -> ColumnGuess:
    """Replace guessed columns by the ones the user named, checking that they exist."""
    for role, chosen in (("text", text_column), ("label", label_column), ("id", id_column)):
        if chosen is None:
            continue
        if chosen != "" and chosen not in table.columns:
            raise InvalidInputError(
                f"{where} has no {role} column {chosen!r}; columns: {', '.join(table.columns)}"
            )
        setattr(guess, f"{role}_column", chosen or None)
        guess.reasons.append(f"{role} column {chosen!r}: given" if chosen
                             else f"no {role} column: given")
    if vector_columns is not None:
        missing = [c for c in vector_columns if c not in table.columns]
        if missing:
            raise InvalidInputError(f"{where} has no column(s) {', '.join(map(repr, missing))}")
        if not vector_columns:
            raise InvalidInputError("vector_columns is empty")
        guess.vector_columns = list(vector_columns)
        guess.reasons.append(f"vectors: the {len(vector_columns)} given columns")
    elif guess.kind == "embeddings":
        # Named label/id columns are never part of the vectors.
        guess.vector_columns = [c for c in guess.vector_columns
                                if c not in (guess.label_column, guess.id_column)]
    return guess


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
    seen: dict[str, int] = {}
    clashes = []
    for row, value in enumerate(ids):
        if value in seen:
            clashes.append((seen[value], row, value))
        seen.setdefault(value, row)
    if clashes:
        first, second, value = clashes[0]
        more = f" ({len(clashes) - 1} more)" if len(clashes) > 1 else ""
        raise InvalidInputError(
            f"{where} has duplicate ids: {value!r} in rows {first} and {second}{more}; ids must "
            "be unique"
        )
    return ids


def _load_text(table: pd.DataFrame, guess: ColumnGuess, where: str, *, encoder, progress, name,
               expected_dimension) -> Dataset:
    from .encoders import get_encoder

    column = guess.text_column
    texts = table[column]
    if not _text_like(texts):
        raise InvalidInputError(
            f"{where}: column {column!r} holds {texts.dtype} values, not text; name the text "
            "column with text_column="
        )
    missing = np.flatnonzero(texts.isna().to_numpy())
    if missing.size:
        raise InvalidInputError(f"{where}: text column {column!r} is empty in "
                                f"{describe_rows(missing)}")
    labels = (None if guess.label_column is None
              else _labels(table[guess.label_column], f"{where}: label column "
                                                       f"{guess.label_column!r}"))
    ids = _ids(None if guess.id_column is None else table[guess.id_column], len(table),
               f"{where}: id column {guess.id_column!r}")
    model = get_encoder(encoder or "use")
    if model.kind != "text":
        raise InvalidInputError(f"encoder {model.name!r} embeds images, not texts")
    vectors = model.encode(texts.tolist(), progress=progress)
    _check_dimension(vectors, expected_dimension, where)
    items = _items(table, ids, drop=(guess.label_column, guess.id_column, column))
    items.insert(1, "text", texts.to_numpy(dtype=object))
    return Dataset(name, vectors, labels, items, "text",
                   metadata=_metadata(where, guess, encoder=model.name))


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


def _load_vector_table(table: pd.DataFrame, guess: ColumnGuess, where: str, *, name,
                       expected_dimension) -> Dataset:
    columns = guess.vector_columns
    if not columns:
        raise InvalidInputError(f"{where} has no vector columns left after labels and ids")
    if len(columns) == 1 and _list_like(table[columns[0]]):
        vectors = _stack_lists(table[columns[0]], f"{where}: column {columns[0]!r}")
    else:
        wrong = [c for c in columns if not _numeric(table[c])]
        if wrong:
            raise InvalidInputError(
                f"{where}: vector column(s) {', '.join(map(repr, wrong[:5]))} hold non-numeric "
                f"values (dtype {table[wrong[0]].dtype}); give vector_columns= or fix the file"
            )
        vectors = table[columns].to_numpy(dtype=np.float64)
    vectors = _check_vectors(vectors, where, expected_dimension)
    labels = (None if guess.label_column is None
              else _labels(table[guess.label_column], f"{where}: label column "
                                                       f"{guess.label_column!r}"))
    ids = _ids(None if guess.id_column is None else table[guess.id_column], len(table),
               f"{where}: id column {guess.id_column!r}")
    items = _items(table, ids, drop=(guess.label_column, guess.id_column, *columns))
    return Dataset(name, vectors, labels, items, "table", metadata=_metadata(where, guess))


def _stack_lists(series: pd.Series, where: str) -> np.ndarray:
    missing = np.flatnonzero(series.isna().to_numpy())
    if missing.size:
        raise InvalidInputError(f"{where} has no vector in {describe_rows(missing)}")
    lengths = np.array([len(v) for v in series])
    ragged = np.flatnonzero(lengths != lengths[0])
    if ragged.size:
        raise InvalidInputError(
            f"{where} has ragged vectors: row 0 has {lengths[0]} values but "
            f"{describe_rows(ragged)} differ (e.g. {lengths[ragged[0]]})"
        )
    try:
        return np.array([np.asarray(v, dtype=np.float64) for v in series])
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{where} holds non-numeric values: {exc}") from exc


def _check_vectors(vectors, where: str, expected_dimension) -> np.ndarray:
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
        raise InvalidInputError(f"{where}: NaN or infinite values (or values too large for "
                                f"float32) in {describe_rows(bad)}")
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


# --------------------------------------------------------------------------------------------
# .npy / .npz


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


# --------------------------------------------------------------------------------------------
# images: folder or zip


def _image_entries(src: _Source) -> tuple[list[tuple[str, object]], int]:
    """(relative posix path, path or zip name) of every image, sorted; and how many were skipped."""
    if src.path is not None and src.path.is_dir():
        entries, skipped = [], 0
        for path in sorted(src.path.rglob("*")):
            rel = path.relative_to(src.path).as_posix()
            if not path.is_file() or _hidden(rel):
                continue
            if path.suffix.lower() in IMAGE_SUFFIXES:
                entries.append((rel, path))
            else:
                skipped += 1
        return entries, skipped
    return _zip_entries(src)


def _hidden(rel: str) -> bool:
    parts = rel.split("/")
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def _zip_entries(src: _Source) -> tuple[list[tuple[str, object]], int]:
    try:
        archive = zipfile.ZipFile(src.opened())
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidInputError(f"{src.name} is not a readable zip archive: {exc}") from exc
    with archive:
        infos = archive.infolist()
    if len(infos) > MAX_ZIP_ENTRIES:
        raise InvalidInputError(f"{src.name} has {len(infos):,} entries, more than the "
                                f"{MAX_ZIP_ENTRIES:,} allowed")
    total = sum(i.file_size for i in infos)
    if total > MAX_ZIP_BYTES:
        raise InvalidInputError(f"{src.name} would unpack to {total:,} bytes, more than the "
                                f"{MAX_ZIP_BYTES:,} allowed (a zip bomb?)")
    entries, skipped = [], 0
    for info in infos:
        name = info.filename.replace("\\", "/")
        parts = PurePosixPath(name).parts
        if name.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
            raise InvalidInputError(
                f"{src.name}: entry {info.filename!r} points outside the archive (absolute path "
                "or '..'); refusing the archive"
            )
        if info.is_dir() or _hidden(name):
            continue
        if PurePosixPath(name).suffix.lower() in IMAGE_SUFFIXES:
            # Read by the entry's own name: archives written with backslashes keep them.
            entries.append((name, info.filename))
        else:
            skipped += 1
    entries.sort()
    # A zip of one folder ("photos/cat/1.jpg"): that folder is a wrapper, not a class.
    roots = {e[0].split("/")[0] for e in entries}
    if len(roots) == 1 and all("/" in e[0] for e in entries):
        root = roots.pop() + "/"
        entries = [(rel[len(root):], ref) for rel, ref in entries]
    return entries, skipped


def _guess_images(src: _Source, form: str) -> ColumnGuess:
    entries, skipped = _image_entries(src)
    classes = sorted({rel.split("/")[0] for rel, _ in entries if "/" in rel})
    if classes:
        shown = ", ".join(classes[:10]) + (", ..." if len(classes) > 10 else "")
        reason = (f"images: {form} of {len(entries)} images; the {len(classes)} class "
                  f"subfolders ({shown}) are the labels")
    else:
        reason = f"images: {form} of {len(entries)} images, no class subfolders, so no labels"
    reasons = [reason] + ([f"{skipped} non-image file(s) skipped"] if skipped else [])
    return ColumnGuess("images", label_column="(class subfolders)" if classes else None,
                       reasons=reasons)


def _load_images(src: _Source, *, label_column, encoder, progress, name,
                 expected_dimension) -> Dataset:
    from .encoders import get_encoder

    entries, skipped = _image_entries(src)
    if not entries:
        raise InvalidInputError(
            f"{src.name} holds no images (looked for {', '.join(IMAGE_SUFFIXES)})"
        )
    classes = [rel.split("/")[0] if "/" in rel else None for rel, _ in entries]
    loose = [rel for rel, c in zip((e[0] for e in entries), classes, strict=True) if c is None]
    if loose and len(loose) < len(entries):
        raise InvalidInputError(
            f"{src.name} mixes images at the top level (e.g. {loose[0]!r}) with images in class "
            "subfolders; put every image in a class subfolder, or none"
        )
    use_labels = not loose and label_column != ""
    data = _read_images(src, entries)
    model = get_encoder(encoder or "mobilenet_v2")
    if model.kind != "image":
        raise InvalidInputError(f"encoder {model.name!r} embeds texts, not images")
    from .encoders import open_image

    thumbnails = [_thumbnail(open_image(blob, where=f"{src.name}: {rel}"))
                  for (rel, _), blob in zip(entries, data, strict=True)]
    vectors = model.encode(data, progress=progress)
    _check_dimension(vectors, expected_dimension, src.name)
    labels = _labels(classes, f"{src.name}: class subfolders") if use_labels else None
    ids = np.array([rel for rel, _ in entries], dtype=object)
    items = pd.DataFrame({"id": ids, "image": thumbnails})
    guess = _guess_images(src, "a folder" if src.path is not None else "a zip archive")
    if not use_labels:
        guess.label_column = None
        guess.reasons.append("no labels: given")
    return Dataset(name, vectors, labels, items, "image",
                   metadata=_metadata(src.name, guess, encoder=model.name,
                                      skipped_files=skipped))


def _read_images(src: _Source, entries) -> list:
    """Image bytes from a zip; file paths (read when embedded) from a folder."""
    if src.path is not None and src.path.is_dir():
        return [path for _, path in entries]
    with zipfile.ZipFile(src.opened()) as archive:
        out = []
        for rel, member in entries:
            try:
                out.append(archive.read(member))
            except (zipfile.BadZipFile, OSError, RuntimeError, EOFError) as exc:
                raise InvalidInputError(f"{src.name}: cannot unpack {rel}: {exc}") from exc
        return out


def _thumbnail(image) -> bytes:
    from PIL import Image

    image = image.copy()
    image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()
