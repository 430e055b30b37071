"""Bring your own data: upload a file or name a path on the server; labelwise.data.loaders does the
work.

The column guess (with its reasons) is shown before anything is embedded; the person can
change it. A loaded dataset is kept for the life of the server under a key made of its
content and the chosen columns, so a rerun (or another tab) never embeds it twice.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import streamlit as st

from labelwise import LabelwiseError, guess_columns, load_user_data
from labelwise.dashboard import state, widgets

UPLOAD_TYPES = ["csv", "tsv", "parquet", "pq", "npy", "npz", "zip"]
NONE = "(none)"


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
        if st.button(f"Load {widgets.escape_markdown(name)}", type="primary", key="byo_load"):
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


def path_form() -> None:
    text = st.text_input("Path on the server (file, or folder of images)", key="byo_path")
    if not text.strip():
        return
    path = Path(text.strip()).expanduser()
    if not path.exists():
        st.error(f"{path} does not exist on the server")
        return
    _form(path, None, path.name)
