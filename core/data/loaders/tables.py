"""CSV and Parquet tables: reading them, guessing their text/label/id/vector columns, and
loading texts (embedded) or vector columns."""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd

from ...errors import InvalidInputError, describe_rows
from ..datasets import Dataset
from .common import _check_dimension, _check_vectors, _ids, _items, _labels, _metadata
from .sources import ColumnGuess, _Source

TEXT_NAMES = ("text", "texts", "sentence", "sentences", "tweet", "review", "content", "body",
              "message", "comment", "document", "description", "title")


LABEL_NAMES = ("label", "labels", "class", "category", "target", "y", "sentiment", "gold",
               "annotation", "tag")


ID_NAMES = ("id", "ids", "item_id", "uid", "key", "name", "filename", "file")


VECTOR_NAMES = ("embedding", "embeddings", "vector", "vectors", "features", "x", "arr_0")


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


def _load_text(table: pd.DataFrame, guess: ColumnGuess, where: str, *, encoder, progress, name,
               expected_dimension) -> Dataset:
    from ..encoders import get_encoder

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
