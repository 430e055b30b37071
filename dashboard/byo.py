"""Bring your own data: upload a file or name a path on the server; labelwise.data.loaders does the
work.

The column guess (with its reasons) is shown before anything is embedded; the person can
change it. A loaded dataset is kept for the life of the browser session under a key made of
its content and the chosen columns, so a rerun never embeds it twice. Server paths are read
only inside the folders of ``LABELWISE_DATA_ROOTS``; long embedding asks for a confirmation.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path

import streamlit as st

from labelwise import LabelwiseError, guess_columns, load_user_data
from labelwise import resolve_server_path as _resolve_in_roots
from labelwise.dashboard import state, widgets

UPLOAD_TYPES = ["csv", "tsv", "parquet", "pq", "npy", "npz", "zip"]
NONE = "(none)"
ROOTS_ENV = "LABELWISE_DATA_ROOTS"
# One message for "outside the roots", "missing" and "not a regular file or folder", so a
# visitor cannot probe what exists elsewhere on the server.
NOT_ALLOWED = "That path is not available: name a file or folder inside the allowed data folders."


def data_roots() -> list[Path]:
    """The folders the operator allows server paths in (``LABELWISE_DATA_ROOTS``), resolved.

    Empty (the default) turns "Path on the server" off.
    """
    value = os.environ.get(ROOTS_ENV, "")
    roots = []
    for part in value.split(os.pathsep):
        if part.strip():
            root = Path(part.strip()).expanduser().resolve()
            if root.is_dir():
                roots.append(root)
    return roots


def resolve_server_path(text: str, roots: list[Path]) -> Path | None:
    """The real path ``text`` names if it is a regular file or folder inside a root, else None.

    The data layer's :func:`labelwise.data.loaders.resolve_server_path` does the check
    (symlinks resolved first; devices, FIFOs and sockets refused: ``/dev/zero`` would be read
    forever). Its reasons are dropped here on purpose: the page shows one message for every
    refusal, so nothing is told about paths outside the roots.
    """
    if not roots or not text.strip() or "\0" in text:
        return None
    try:
        return _resolve_in_roots(text.strip(), roots)
    except (LabelwiseError, OSError, RuntimeError, ValueError):
        return None


@st.cache_data(show_spinner="Reading the file to guess its columns...", max_entries=16)
def _guess(digest: str, _source, filename: str | None):
    return guess_columns(_source, filename=filename)


def _digest_of(source) -> str:
    if isinstance(source, bytes):
        return hashlib.sha256(source).hexdigest()
    path = Path(source)
    stat = path.stat()
    return f"path:{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


def _choices(guess) -> dict:
    """Let the person confirm or change the guessed columns (text tables only)."""
    # Column names come from the user's file: shown literally, never as Markdown.
    st.caption(f"Detected **{guess.kind}**: {widgets.escape_markdown(guess.describe())}")
    if guess.kind != "text":
        return {"kind": guess.kind}
    c1, c2, c3 = st.columns(3)
    text = c1.text_input("Text column", guess.text_column or "", key="byo_text")
    label = c2.text_input("Label column (empty: none)", guess.label_column or "",
                          key="byo_label")
    ident = c3.text_input("Id column (empty: row numbers)", guess.id_column or "",
                          key="byo_id")
    return {"kind": "text", "text_column": text or None, "label_column": label,
            "id_column": ident}


# Items per second on one core, measured in benchmarks/results/encoders.md (USE for texts,
# MobileNetV2 for images); the estimate says so, since a faster machine takes less.
EMBED_RATES = {"text": 442.0, "images": 45.0}
# Above this many seconds of embedding, the person confirms before the work starts.
CONFIRM_SECONDS = 60.0


def count_items(source, filename: str | None, kind: str) -> int | None:
    """How many items a text table or an image folder/zip holds, or None if unknown."""
    try:
        if kind == "text":
            name = filename or (None if isinstance(source, bytes) else str(source))
            if name is None or Path(name).suffix.lower() in {".parquet", ".pq"}:
                return None
            data = source if isinstance(source, bytes) else Path(source).read_bytes()
            return max(data.count(b"\n") - 1, 0)  # lines minus the header row
        if kind == "images" and not isinstance(source, bytes) and Path(source).is_dir():
            return sum(1 for p in Path(source).rglob("*") if p.is_file())
        if kind == "images":
            with zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes)
                                 else Path(source)) as archive:
                return sum(1 for info in archive.infolist() if not info.is_dir())
    except (OSError, ValueError, zipfile.BadZipFile):
        return None
    return None


def embedding_estimate(n_items: int, kind: str) -> float | None:
    """Seconds to embed ``n_items`` of ``kind`` at the measured one-core rate (None: no rate)."""
    rate = EMBED_RATES.get(kind)
    return None if rate is None else n_items / rate


def describe_duration(seconds: float) -> str:
    if seconds < 90:
        return f"about {seconds:.0f} seconds"
    if seconds < 90 * 60:
        return f"about {seconds / 60:.0f} minutes"
    return f"about {seconds / 3600:.1f} hours"


def confirmed(source, filename: str | None, kind: str) -> bool:
    """Ask before long embedding work; True when there is nothing to ask or the person agreed."""
    n_items = count_items(source, filename, kind)
    seconds = None if n_items is None else embedding_estimate(n_items, kind)
    if seconds is None or seconds < CONFIRM_SECONDS:
        return True
    noun = "texts" if kind == "text" else "images"
    return st.checkbox(
        f"Yes, embed them: {describe_duration(seconds)} to embed {n_items:,} {noun}",
        key="byo_confirm",
        help="Estimated from the one-core rates measured in benchmarks/results/encoders.md; "
             "the server is busy meanwhile.")


def _load(source, filename: str | None, options: dict, digest: str) -> None:
    key = digest + "|" + repr(sorted(options.items()))
    known = state.custom_by_key(key)
    if known is None:
        bar = st.progress(0.0, text="Embedding items...")

        def progress(done: int, total: int) -> None:
            bar.progress(done / max(total, 1), text=f"Embedded {done:,} of {total:,} items")

        dataset = load_user_data(source, filename=filename, progress=progress, **options)
        bar.empty()
        known = state.register_custom(dataset, key)
    state.set_source(known)
    st.rerun()


def _form(source, filename: str | None, name: str) -> None:
    try:
        digest = _digest_of(source)
        guess = _guess(digest, source, filename)
        options = _choices(guess)
        agreed = confirmed(source, filename, guess.kind)
        if st.button(f"Load {widgets.escape_markdown(name)}", type="primary", key="byo_load",
                     disabled=not agreed):
            _load(source, filename, options, digest)
    except LabelwiseError as exc:
        state.show_error(exc)
    except OSError as exc:
        st.error(f"cannot read {name}: {exc}")


def upload_form() -> None:
    upload = st.file_uploader(
        "A CSV/Parquet table of texts, a .zip of images (class subfolders = labels), or "
        "embeddings (.npy, .npz, Parquet)", type=UPLOAD_TYPES, key="byo_upload")
    if upload is not None:
        _form(upload.getvalue(), upload.name, upload.name)


def path_form(roots: list[Path]) -> None:
    """The server-path form; only called when the operator allowed some ``roots``."""
    text = st.text_input("Path on the server (file, or folder of images)", key="byo_path",
                         help="Inside: " + ", ".join(str(r) for r in roots))
    if not text.strip():
        return
    path = resolve_server_path(text, roots)
    if path is None:
        st.error(NOT_ALLOWED)
        return
    _form(path, None, path.name)
