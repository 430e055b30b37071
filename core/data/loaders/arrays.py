"""Precomputed embeddings in ``.npy`` / ``.npz`` files, read without pickle."""

from __future__ import annotations

import io
import math
import zipfile
from dataclasses import dataclass

import numpy as np
import numpy.lib.format as npformat
import pandas as pd

from ...errors import InvalidInputError
from ..datasets import Dataset
from .common import _check_vectors, _ids, _labels, _metadata
from .sources import ColumnGuess, Limits, _Source
from .tables import ID_NAMES, LABEL_NAMES, VECTOR_NAMES

# An .npz of embeddings holds a few arrays (vectors, labels, ids); thousands are a bomb's trick.
MAX_NPZ_MEMBERS = 64


@dataclass(frozen=True)
class _Header:
    """What a ``.npy`` header declares: enough to size an array before reading it."""

    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def _read_header(stream, where: str) -> _Header:
    """The header of a ``.npy`` stream, refusing object arrays (they would need unpickling)."""
    try:
        version = npformat.read_magic(stream)
        if version == (1, 0):
            shape, _, dtype = npformat.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, _, dtype = npformat.read_array_header_2_0(stream)
        else:
            raise InvalidInputError(f"{where}: .npy format version {version} is not supported "
                                    "(save it with numpy.save, formats 1.0 and 2.0)")
    except (ValueError, EOFError, OSError) as exc:
        raise InvalidInputError(f"{where} is not a readable NumPy file: {exc}") from exc
    if dtype.hasobject:
        raise InvalidInputError(
            f"{where} holds Python objects (object dtype), which would need unpickling; "
            "labelwise never unpickles files: save numbers (and labels as strings) instead")
    return _Header(tuple(int(n) for n in shape), dtype)


def _array_headers(src: _Source, limits: Limits) -> dict[str, _Header]:
    """Every array's declared shape and dtype, read from headers only; sizes checked."""
    if src.suffix == ".npy":
        with _opened_binary(src) as stream:
            headers = {"vectors": _read_header(stream, src.name)}
    else:
        headers = _npz_headers(src, limits)
    limits.check_bytes(sum(h.nbytes for h in headers.values()), src.name, unpacked=True)
    for key, header in headers.items():
        if header.ndim >= 1:
            limits.check_items(header.shape[0], f"{src.name}: array {key!r}", "rows")
        limits.check_values(math.prod(header.shape), f"{src.name}: array {key!r}",
                            " x ".join(f"{n:,}" for n in header.shape) + " = ")
    return headers


def _opened_binary(src: _Source):
    return io.BytesIO(src.data) if src.data is not None else open(src.path, "rb")


def _npz_headers(src: _Source, limits: Limits) -> dict[str, _Header]:
    try:
        with zipfile.ZipFile(src.opened()) as archive:
            infos = [i for i in archive.infolist() if not i.is_dir()]
            if len(infos) > MAX_NPZ_MEMBERS:
                raise InvalidInputError(f"{src.name} holds {len(infos):,} arrays, more than the "
                                        f"{MAX_NPZ_MEMBERS} an embeddings file needs")
            limits.check_bytes(sum(i.file_size for i in infos), src.name, unpacked=True)
            headers = {}
            for info in infos:
                key = info.filename.removesuffix(".npy")
                with archive.open(info) as member:
                    headers[key] = _read_header(member, f"{src.name}: array {key!r}")
            return headers
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as exc:
        # RuntimeError: an encrypted member; NotImplementedError: an unknown compression.
        raise InvalidInputError(f"{src.name} is not a readable NumPy file: {exc}") from exc


def _read_arrays(src: _Source, limits: Limits) -> dict[str, np.ndarray]:
    """The arrays of a ``.npy``/``.npz``, after their declared sizes passed ``limits``."""
    _array_headers(src, limits)
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


def _guess_arrays(arrays: dict[str, _Header] | dict[str, np.ndarray]) -> ColumnGuess:
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
                 id_column, limits: Limits) -> Dataset:
    arrays = _read_arrays(src, limits)
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
