"""Where user input comes from (a path or bytes), its form, and the size cap checked before
parsing."""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ...errors import InvalidInputError

KINDS = ("text", "images", "embeddings")


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")


ARRAY_SUFFIXES = (".npy", ".npz")


# Largest input accepted by default (a file, the bytes of an upload, or all files of a folder);
# larger inputs are refused before anything is parsed. Pass max_bytes to change it.
MAX_INPUT_BYTES = 1024**3


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
