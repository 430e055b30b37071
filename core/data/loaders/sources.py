"""Where user input comes from (a path or bytes), its form, and the limits checked before parsing.

Every loader reads through a :class:`_Source` and checks :class:`Limits` before it allocates:
the bytes of the input, the bytes it decompresses to, its items and its values (items x
dimensions). Only regular files and folders are read: a device (``/dev/zero``), a FIFO or a
socket would never end, or block. :func:`resolve_server_path` is the gate for paths typed on a
server: inside the allowed roots, or refused without saying what lies outside them.
"""

from __future__ import annotations

import io
import os
import stat
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ...errors import InvalidInputError

KINDS = ("text", "images", "embeddings")


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")


ARRAY_SUFFIXES = (".npy", ".npz")


# Largest input accepted by default (a file, the bytes of an upload, or all files of a folder),
# and the most it may decompress to (npz members, Parquet pages, zip entries).
MAX_INPUT_BYTES = 1024**3
# Items (rows, images) and values (items x dimensions) a server loads by default: 10^8 float32
# values are 400 MB, and a million items take from half an hour (texts) to hours (images) to
# embed on the reference machine (see labelwise.data.estimates).
MAX_ITEMS = 1_000_000
MAX_VALUES = 100_000_000
# Column guesses look at a prefix this long, whatever the size of the file.
GUESS_BYTES = 2 * 2**20
GUESS_ROWS = 2_000
BIG_JOBS = ("for bigger data use the command line (`labelwise simulate --dataset FILE`), or "
            "Python with the limit raised (load_user_data(..., max_items=None, "
            "max_values=None, max_bytes=None))")


@dataclass(frozen=True)
class Limits:
    """Caps on what one load may read and allocate; ``None`` lifts a cap.

    Attributes
    ----------
    max_bytes : int or None
        Bytes of the input, and bytes it decompresses to.
    max_items : int or None
        Rows of a table, vectors of an array, images of a folder or archive.
    max_values : int or None
        Numbers held: items x dimensions (cells of a table).
    """

    max_bytes: int | None = MAX_INPUT_BYTES
    max_items: int | None = MAX_ITEMS
    max_values: int | None = MAX_VALUES

    def check_bytes(self, size: int, what: str, *, unpacked: bool = False) -> None:
        """Refuse ``size`` bytes above :attr:`max_bytes`."""
        if self.max_bytes is None or size <= self.max_bytes:
            return
        verb, bomb = ("would unpack to", " (a decompression bomb?)") if unpacked else ("is", "")
        raise InvalidInputError(
            f"{what} {verb} {size / 2**20:,.1f} MB, more than the "
            f"{self.max_bytes / 2**20:,.0f} MB allowed{bomb}; split it, or raise the limit "
            "(max_bytes) if this machine can hold it")

    def check_items(self, count: int, what: str, noun: str = "items") -> None:
        """Refuse more than :attr:`max_items` items."""
        if self.max_items is not None and count > self.max_items:
            raise InvalidInputError(f"{what} has {count:,} {noun}, more than the "
                                    f"{self.max_items:,} allowed here; {BIG_JOBS}")

    def check_values(self, count: int, what: str, shape: str = "") -> None:
        """Refuse more than :attr:`max_values` numbers (``shape`` says how they were counted)."""
        if self.max_values is not None and count > self.max_values:
            raise InvalidInputError(
                f"{what} holds {shape}{count:,} values, more than the {self.max_values:,} "
                f"allowed here; {BIG_JOBS}")


NO_LIMITS = Limits(None, None, None)


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

    @property
    def is_folder(self) -> bool:
        return self.path is not None and self.path.is_dir()

    def read_bytes(self, limit: int | None = None) -> bytes:
        """The input's bytes, at most ``limit`` of them."""
        if self.data is not None:
            return self.data if limit is None else self.data[:limit]
        try:
            with open(self.path, "rb") as handle:
                return handle.read() if limit is None else handle.read(limit)
        except OSError as exc:
            raise InvalidInputError(f"cannot read {self.name}: {exc.strerror}") from exc

    def size(self) -> int:
        return len(self.data) if self.data is not None else self.path.stat().st_size

    def opened(self):
        return io.BytesIO(self.data) if self.data is not None else self.path


def _as_source(source, filename: str | None, max_bytes: int | None = None) -> _Source:
    if isinstance(source, _Source):
        return source
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        return _Source(filename or _sniff_name(data), data=data)
    if hasattr(source, "getvalue") or hasattr(source, "read"):  # e.g. an uploaded file
        if hasattr(source, "getvalue"):
            data = source.getvalue()
        else:  # a stream: read one byte past the cap, enough to refuse it
            data = source.read() if max_bytes is None else source.read(max_bytes + 1)
        name = filename or os.path.basename(str(getattr(source, "name", "") or "")) or None
        return _as_source(bytes(data), name)
    if isinstance(source, str | os.PathLike):
        path = Path(source).expanduser()
        _require_file_or_folder(path, str(path))
        return _Source(filename or path.name, path=path)
    raise InvalidInputError(
        f"expected a path, bytes or an uploaded file, got {type(source).__name__}"
    )


def _require_file_or_folder(path: Path, shown: str) -> os.stat_result:
    """The ``stat`` of ``path`` (symlinks followed) if it is a regular file or a folder."""
    try:
        info = path.stat()
    except FileNotFoundError as exc:
        raise InvalidInputError(f"{shown} does not exist") from exc
    except OSError as exc:
        raise InvalidInputError(f"{shown} cannot be read: {exc.strerror}") from exc
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
        raise InvalidInputError(f"{shown} is not a regular file or folder (a device, pipe or "
                                "socket?); labelwise reads only files and folders")
    return info


def folder_files(folder: Path, *, max_files: int | None = None) -> list[Path]:
    """Regular files under ``folder`` (symlinks followed only when they stay inside it), sorted.

    Hidden files are included (callers decide); symlinked folders are not walked, so a link
    loop or a link to ``/`` cannot make the walk endless. Stops with an error after
    ``max_files`` files.
    """
    root = folder.resolve()
    found: list[Path] = []
    pending = [folder]
    while pending:
        current = pending.pop()
        try:
            entries = list(os.scandir(current))
        except OSError as exc:
            raise InvalidInputError(f"cannot list {current}: {exc.strerror}") from exc
        for entry in entries:
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                pending.append(path)
            elif _regular_inside(path, root):
                found.append(path)
                if max_files is not None and len(found) > max_files:
                    raise InvalidInputError(
                        f"{folder.name} holds more than {max_files:,} files; {BIG_JOBS}")
    return sorted(found)


def _regular_inside(path: Path, root: Path) -> bool:
    try:
        resolved = path.resolve(strict=True)
        return resolved.is_relative_to(root) and stat.S_ISREG(resolved.stat().st_mode)
    except (OSError, RuntimeError):  # dangling link, link loop, unreadable
        return False


def _input_bytes(src: _Source, limits: Limits) -> int:
    if src.data is not None:
        return len(src.data)
    if src.is_folder:
        # Image folders hold at most max_items images; twice that many files is plenty to walk.
        cap = None if limits.max_items is None else 2 * limits.max_items
        return sum(p.stat().st_size for p in folder_files(src.path, max_files=cap))
    return src.path.stat().st_size


def _check_size(src: _Source, limits: Limits) -> None:
    if limits.max_bytes is not None:
        limits.check_bytes(_input_bytes(src, limits), src.name)


def resolve_server_path(path: str | os.PathLike, roots: Iterable[str | os.PathLike]) -> Path:
    """The real path of ``path`` if it is a regular file or folder inside one of ``roots``.

    Symlinks and ``..`` are resolved before the check, so a link inside a root that points
    outside it is refused. A relative ``path`` is taken relative to the first root.

    Parameters
    ----------
    path : path
        What a user typed.
    roots : iterable of paths
        The folders the server may read (e.g. ``LABELWISE_DATA_ROOTS``).

    Returns
    -------
    Path
        The resolved path, inside a root.

    Raises
    ------
    InvalidInputError
        If the path is outside every root (the message is the same whether or not it exists
        there), does not exist inside a root, or is not a regular file or folder.
    """
    allowed = [Path(os.path.realpath(Path(root).expanduser())) for root in roots]
    if not allowed:
        raise InvalidInputError("no server folders are open to loading (no data roots set)")
    typed = Path(path).expanduser()
    candidate = typed if typed.is_absolute() else allowed[0] / typed
    resolved = Path(os.path.realpath(candidate))
    if not any(resolved.is_relative_to(root) for root in allowed):
        shown = ", ".join(str(root) for root in allowed)
        raise InvalidInputError(f"{os.fspath(path)!r} is not inside the folders this server may "
                                f"read ({shown})")
    _require_file_or_folder(resolved, repr(os.fspath(path)))
    return resolved


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
