"""Folders and ``.zip`` archives of images: safe entry listing, class subfolders as labels,
embedding with an image encoder and thumbnails for display."""

from __future__ import annotations

import zipfile
from pathlib import PurePosixPath

import numpy as np
import pandas as pd

from ...errors import InvalidInputError
from ..datasets import Dataset
from ..encoders import get_encoder
from ..images import thumbnail_jpeg
from .common import _check_dimension, _check_embedding_size, _labels, _metadata
from .sources import IMAGE_SUFFIXES, ColumnGuess, Limits, _Source, folder_files

# Zip archives: refuse more than this many entries (their declared sizes are checked against
# the loader's max_bytes).
MAX_ZIP_ENTRIES = 100_000


THUMBNAIL_PX = 128


def _image_entries(src: _Source, limits: Limits) -> tuple[list[tuple[str, object]], int]:
    """(relative posix path, path or zip name) of every image, sorted; and how many were skipped.

    Folders list regular files only (links leading out of the folder are skipped); archives
    are checked against ``limits`` from their declared sizes before any entry is unpacked.
    """
    if src.is_folder:
        entries, skipped = [], 0
        cap = None if limits.max_items is None else 2 * limits.max_items
        for path in folder_files(src.path, max_files=cap):
            rel = path.relative_to(src.path).as_posix()
            if _hidden(rel):
                continue
            if path.suffix.lower() in IMAGE_SUFFIXES:
                entries.append((rel, path))
            else:
                skipped += 1
        limits.check_items(len(entries), src.name, "images")
        return entries, skipped
    return _zip_entries(src, limits)


def _hidden(rel: str) -> bool:
    parts = rel.split("/")
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def _zip_entries(src: _Source, limits: Limits) -> tuple[list[tuple[str, object]], int]:
    try:
        archive = zipfile.ZipFile(src.opened())
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidInputError(f"{src.name} is not a readable zip archive: {exc}") from exc
    with archive:
        infos = archive.infolist()
    if len(infos) > MAX_ZIP_ENTRIES:
        raise InvalidInputError(f"{src.name} has {len(infos):,} entries, more than the "
                                f"{MAX_ZIP_ENTRIES:,} allowed")
    limits.check_bytes(sum(i.file_size for i in infos), src.name, unpacked=True)
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
    limits.check_items(len(entries), src.name, "images")
    entries.sort()
    # A zip of one folder ("photos/cat/1.jpg"): that folder is a wrapper, not a class.
    roots = {e[0].split("/")[0] for e in entries}
    if len(roots) == 1 and all("/" in e[0] for e in entries):
        root = roots.pop() + "/"
        entries = [(rel[len(root):], ref) for rel, ref in entries]
    return entries, skipped


def _guess_images(src: _Source, form: str, limits: Limits) -> ColumnGuess:
    entries, skipped = _image_entries(src, limits)
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
                 expected_dimension, limits: Limits) -> Dataset:
    entries, skipped = _image_entries(src, limits)
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
    model = get_encoder(encoder or "mobilenet_v2")
    if model.kind != "image":
        raise InvalidInputError(f"encoder {model.name!r} embeds texts, not images")
    _check_embedding_size(len(entries), model.dimension, limits, src.name)
    data = _read_images(src, entries)

    thumbnails = [thumbnail_jpeg(blob, THUMBNAIL_PX, where=f"{src.name}: {rel}")
                  for (rel, _), blob in zip(entries, data, strict=True)]
    vectors = model.encode(data, progress=progress)
    _check_dimension(vectors, expected_dimension, src.name)
    labels = _labels(classes, f"{src.name}: class subfolders") if use_labels else None
    ids = np.array([rel for rel, _ in entries], dtype=object)
    items = pd.DataFrame({"id": ids, "image": thumbnails})
    guess = _guess_images(src, "a folder" if src.is_folder else "a zip archive", limits)
    if not use_labels:
        guess.label_column = None
        guess.reasons.append("no labels: given")
    return Dataset(name, vectors, labels, items, "image",
                   metadata=_metadata(src.name, guess, encoder=model.name,
                                      skipped_files=skipped))


def _read_images(src: _Source, entries) -> list:
    """Image bytes from a zip; file paths (read when embedded) from a folder."""
    if src.is_folder:
        return [path for _, path in entries]
    with zipfile.ZipFile(src.opened()) as archive:
        return [_unpack(archive, member, f"{src.name}: {rel}") for rel, member in entries]


def _unpack(archive: zipfile.ZipFile, member: str, where: str) -> bytes:
    """An entry's bytes, never more than it declares (the declared sizes passed the limits)."""
    declared = archive.getinfo(member).file_size
    try:
        with archive.open(member) as stream:
            data = stream.read(declared + 1)
    except (zipfile.BadZipFile, OSError, RuntimeError, EOFError, NotImplementedError) as exc:
        raise InvalidInputError(f"{where}: cannot unpack: {exc}") from exc
    if len(data) > declared:
        raise InvalidInputError(f"{where} unpacks to more than the {declared:,} bytes it "
                                "declares; refusing the archive")
    return data
