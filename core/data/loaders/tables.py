"""CSV and Parquet tables: reading them, guessing their text/label/id/vector columns, and
loading texts (embedded) or vector columns."""

from __future__ import annotations

import codecs
import csv
import io

import numpy as np
import pandas as pd

from ...errors import InvalidInputError, describe_rows
from ..datasets import Dataset
from ..encoders import get_encoder
from .common import (
    _check_dimension,
    _check_embedding_size,
    _check_vectors,
    _ids,
    _items,
    _labels,
    _metadata,
)
from .sources import GUESS_BYTES, GUESS_ROWS, ColumnGuess, Limits, _Source

TEXT_NAMES = ("text", "texts", "sentence", "sentences", "tweet", "review", "content", "body",
              "message", "comment", "document", "description", "title")


LABEL_NAMES = ("label", "labels", "class", "category", "target", "y", "sentiment", "gold",
               "annotation", "tag")


ID_NAMES = ("id", "ids", "item_id", "uid", "key", "name", "filename", "file")


VECTOR_NAMES = ("embedding", "embeddings", "vector", "vectors", "features", "x", "arr_0")


def _read_table(src: _Source, *, encoding: str, limits: Limits, as_text=(),
                guess: bool = False) -> pd.DataFrame:
    """A CSV or Parquet table; ids and labels (columns named so, or ``as_text``) as text.

    With ``guess``, only a prefix is read (:data:`GUESS_BYTES`, :data:`GUESS_ROWS`), whatever
    the size of the file; otherwise sizes from the file (rows, cells, Parquet's decompressed
    size) are checked against ``limits`` before the table is built.
    """
    if src.suffix in (".parquet", ".pq"):
        table = _read_parquet(src, limits=limits, guess=guess)
    elif src.suffix in ("", ".csv", ".tsv", ".txt"):
        table = _read_csv(src, encoding=encoding, sep="\t" if src.suffix == ".tsv" else ",",
                          limits=limits, as_text=as_text, guess=guess)
    else:
        raise InvalidInputError(
            f"{src.name}: unsupported file type {src.suffix!r}; use CSV, Parquet, .npy, .npz, "
            "a .zip of images or a folder of images"
        )
    if table.empty or len(table.columns) == 0:
        raise InvalidInputError(f"{src.name} is empty: no rows")
    table.columns = [str(c) for c in table.columns]
    return table


def _refuse_alike_columns(columns, where: str) -> None:
    """Two columns with one name (or names alike but for case and spaces) are ambiguous."""
    seen: dict[str, str] = {}
    for column in map(str, columns):
        normal = column.lower().strip()
        if normal in seen:
            other = seen[normal]
            detail = (f"two columns named {column!r}" if other == column
                      else f"columns {other!r} and {column!r} differ only in case or spaces")
            raise InvalidInputError(f"{where} has duplicate column names: {detail}; rename one")
        seen[normal] = column


def _text_roles(columns, as_text) -> dict[str, type]:
    """Columns read as text: ids and labels ("007" stays "007"; "1", "01" and "1.0" differ)."""
    names = set(ID_NAMES) | set(LABEL_NAMES)
    return {c: str for c in columns if c in set(as_text) or c.lower().strip() in names}


def _read_parquet(src: _Source, *, limits: Limits, guess: bool) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(src.opened())
        _refuse_alike_columns(parquet.schema_arrow.names, src.name)
        _check_parquet_sizes(parquet.metadata, src.name, limits)
        if guess:
            batch = next(parquet.iter_batches(batch_size=GUESS_ROWS), None)
            if batch is None:
                return parquet.schema_arrow.empty_table().to_pandas()
            return pa.Table.from_batches([batch]).to_pandas()
        return parquet.read().to_pandas()
    except (OSError, pa.ArrowException, ValueError) as exc:
        if isinstance(exc, InvalidInputError):
            raise
        raise InvalidInputError(f"{src.name} is not a readable Parquet file: {exc}") from exc


def _check_parquet_sizes(metadata, where: str, limits: Limits) -> None:
    """Rows, decompressed bytes and values from the footer, before any page is decoded."""
    limits.check_items(metadata.num_rows, where, "rows")
    groups = [metadata.row_group(i) for i in range(metadata.num_row_groups)]
    limits.check_bytes(sum(g.total_byte_size for g in groups), where, unpacked=True)
    values = sum(g.column(c).num_values for g in groups for c in range(g.num_columns))
    limits.check_values(values, where)


def _read_csv(src: _Source, *, encoding: str, sep: str, limits: Limits, as_text,
              guess: bool) -> pd.DataFrame:
    data = src.read_bytes(GUESS_BYTES + 1 if guess else None)
    truncated = len(data) > GUESS_BYTES if guess else False
    data = data[:GUESS_BYTES] if truncated else data
    if not data.strip():
        raise InvalidInputError(f"{src.name} is empty")
    text = _decode(data, encoding, src.name, final=not truncated)
    text = text.removeprefix("\ufeff")  # a byte-order mark from spreadsheet exports
    header, rows, text = _scan_csv(text, sep, src.name, truncated=truncated,
                                   max_rows=GUESS_ROWS if guess else None)
    _refuse_alike_columns(header, src.name)
    if not guess:
        limits.check_items(rows, src.name, "rows")
        limits.check_values(rows * len(header), src.name, f"{rows:,} x {len(header):,} = ")
    try:
        # keep_default_na=False: the text "NA" or "null" stays text, only empty cells are missing.
        # index_col=False: pandas would otherwise turn an extra first field into an index.
        return pd.read_csv(io.StringIO(text), sep=sep, keep_default_na=False, na_values=[""],
                           skip_blank_lines=True, index_col=False,
                           dtype=_text_roles(header, as_text))
    except pd.errors.EmptyDataError as exc:
        raise InvalidInputError(f"{src.name} is empty: no header or rows") from exc
    except pd.errors.ParserError as exc:
        raise InvalidInputError(
            f"{src.name} has ragged rows (not every row has the header's number of fields): "
            f"{exc}"
        ) from exc


def _decode(data: bytes, encoding: str, where: str, *, final: bool) -> str:
    """Decoded text; a prefix (``final=False``) may end inside a character, which is dropped."""
    try:
        return codecs.getincrementaldecoder(encoding)().decode(data, final=final)
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise InvalidInputError(
            f"{where} is not valid {encoding} text: byte {data[exc.start]:#04x} on line {line} "
            f"cannot be decoded; save the file as UTF-8 (or pass encoding=, e.g. 'latin-1')"
        ) from exc
    except LookupError as exc:
        raise InvalidInputError(f"unknown text encoding {encoding!r}") from exc


def _scan_csv(text: str, sep: str, where: str, *, truncated: bool,
              max_rows: int | None) -> tuple[list[str], int, str]:
    """The header, the number of rows, and the text of whole records only.

    Refuses rows whose field count differs from the header's (pandas would pad or drop). A
    ``truncated`` prefix is cut after its last complete record, and at most ``max_rows`` rows
    are kept.
    """
    if truncated:
        if "\n" not in text:
            raise InvalidInputError(f"{where}: its first line is longer than "
                                    f"{GUESS_BYTES // 2**20} MB; is it really a table?")
        text = text[:text.rfind("\n") + 1]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    header, rows, end_line, bad = None, 0, 0, []
    try:
        for record in reader:
            if not record:
                continue
            if header is None:
                header, end_line = record, reader.line_num
                continue
            if max_rows is not None and rows >= max_rows:
                truncated = True
                break
            if len(record) != len(header):
                bad.append((reader.line_num, len(record)))
            rows, end_line = rows + 1, reader.line_num
    except csv.Error as exc:
        if not truncated:  # in a prefix, the error can be the cut through a quoted field
            raise InvalidInputError(f"{where} is not valid CSV near line {reader.line_num}: "
                                    f"{exc}") from exc
    if header is None:
        raise InvalidInputError(f"{where} is empty: no header or rows")
    if bad:
        line, count = bad[0]
        more = f" (and {len(bad) - 1} more lines)" if len(bad) > 1 else ""
        raise InvalidInputError(
            f"{where} has ragged rows: the header has {len(header)} fields but line {line} has "
            f"{count}{more}; quote fields that contain '{sep}'"
        )
    return header, rows, _first_lines(text, end_line) if truncated else text


def _first_lines(text: str, count: int) -> str:
    end = 0
    for _ in range(count):
        found = text.find("\n", end)
        if found < 0:
            return text
        end = found + 1
    return text[:end]


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
    if id_column is not None:  # repeats are refused when loading: they are the user's ids
        reasons.append(f"id column {id_column!r}: its name")
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
    if kind == "embeddings":
        _refuse_numbers_as_text(table, rest, where)
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


def _refuse_numbers_as_text(table: pd.DataFrame, columns, where: str) -> None:
    """Refuse a column of numbers that one cell turned into text ("NaN", "inf", a typo).

    Such a column would silently leave the vectors (they take numeric columns only) and drop a
    dimension; the message names the first cell.
    """
    for column in columns:
        series = table[column]
        if _numeric(series) or _list_like(series) or not _text_like(series):
            continue
        values = series.dropna().astype(str)
        numbers = pd.to_numeric(values, errors="coerce")
        parsed = numbers.notna() | values.str.strip().str.lower().isin(("nan", "+nan", "-nan"))
        finite = np.isfinite(numbers.to_numpy(dtype=float))
        if parsed.all() and finite.all():
            continue  # numbers kept as text on purpose (an id or label named so)
        if parsed.all():
            row = values.index[~finite][0]
            why = "is not a finite number"
        elif parsed.mean() >= 0.5:
            row = values.index[~parsed.to_numpy()][0]
            why = "is not a number"
        else:
            continue
        raise InvalidInputError(
            f"{where}: cell {series[row]!r} in row {row}, column {column!r} {why}, so the "
            "column would be read as text and leave the vectors; an embeddings file must hold "
            "finite numbers only (fix or drop that row)")


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
               expected_dimension, limits: Limits) -> Dataset:
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
    _check_embedding_size(len(texts), model.dimension, limits, where)
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
        _refuse_numbers_as_text(table, wrong, where)
        if wrong:
            raise InvalidInputError(
                f"{where}: vector column(s) {', '.join(map(repr, wrong[:5]))} hold non-numeric "
                f"values (dtype {table[wrong[0]].dtype}); give vector_columns= or fix the file"
            )
        vectors = table[columns].to_numpy(dtype=np.float64)
    vectors = _check_vectors(vectors, where, expected_dimension, columns=columns)
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
