"""Data packs: compact, self-describing folders of embedded items that the project ships.

Pack format (version 2), one folder per pack::

    <pack>/
      metadata.json   name, kind, encoder, dimension, counts, classes, source, licence,
                      the exact build command, how the vectors are stored, and ``pools``
      vectors.npy     (n, d) embeddings, stored as float32, float16 or uint8 (see below)
      quant.npy       only for uint8 storage: (2, d) float32, row 0 = scale, row 1 = offset
      items.parquet   one row per item, in vector order: ``id`` (str, unique), ``label`` (str,
                      ground truth, optional), ``group`` (str, optional), and what a person
                      needs to see the item: ``text`` for texts, ``x``/``y`` for points, plus
                      extra columns
      images.bin      image packs only: the images (JPEG/PNG bytes; the fruit photos at their
                      source size, at most 224 px) one after another; ``image_offsets.npy``
                      (n + 1 int64) delimits them, and ``items["image"]`` is rebuilt from them
      pools/<fingerprint>/
                      the kNN graph and density of a pool of the pack's items, named by the
                      fingerprint of its vectors (:mod:`labelwise.data.pools` has the files):
                      one for all items (``Dataset.graph``, ``Dataset.density``) and one for
                      the dashboard's labeling pool (all but its holdout,
                      :func:`labelwise.data.splits.holdout_rows`), so opening a pack builds
                      neither. ``metadata["pools"]`` lists them (name, fingerprint, n_items).

Version 1 is version 2 without ``pools/``; it still loads, and the graph and density are then
built on demand (:meth:`Dataset.pool_parts`, cached on disk).

uint8 storage is a per-dimension affine code: ``vector = offset + scale * code``. For the
MobileNet-v2 pack this is lossless, because the model's AvgPool tensor is itself uint8 with one
scale and zero point (so every dimension gets that scale and ``offset = -zero_point * scale``).
For other encoders the per-dimension range is split into 255 steps, which keeps the cosine of
every stored vector to its float32 original above 0.999.

All files are written deterministically (plain ``.npy``, Parquet without timestamps, JSON
without timings), so rebuilding a pack from the same source gives the same bytes, and loading
never unpickles.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import InvalidInputError, LabelwiseError, describe_rows
from .datasets import Dataset
from .paths import packs_dir
from .pools import POOLS_FOLDER, compute_pool, vectors_fingerprint, write_pool

PACK_FORMAT_VERSION = 2
#: Versions this labelwise reads (1: without pools).
READABLE_VERSIONS = (1, 2)
#: Name of the pool of every item in ``metadata["pools"]``.
ALL_ITEMS = "all"
VECTOR_DTYPES = ("float32", "float16", "uint8")
RESERVED_COLUMNS = ("label", "group")


class PackError(LabelwiseError, OSError):
    """A pack folder is missing, incomplete or inconsistent."""


def available_packs() -> list[str]:
    """Names of the packs present in :func:`packs_dir`, sorted."""
    root = packs_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "metadata.json").is_file())


# --------------------------------------------------------------------------------------------
# vector storage


def quantize_uint8(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension affine uint8 code of ``X``.

    Returns
    -------
    codes : ndarray of shape (n, d), uint8
    quant : ndarray of shape (2, d), float32
        Row 0 is the scale, row 1 the offset: ``X ~= offset + scale * codes``.
    """
    X = np.asarray(X, dtype=np.float32)
    low = X.min(axis=0)
    span = X.max(axis=0) - low
    # A constant dimension gets scale 1 (any value works: all its codes are 0).
    scale = np.where(span > 0, span / 255.0, 1.0).astype(np.float32)
    codes = np.clip(np.rint((X - low) / scale), 0, 255).astype(np.uint8)
    return codes, np.stack([scale, low]).astype(np.float32)


def dequantize_uint8(codes: np.ndarray, quant: np.ndarray) -> np.ndarray:
    """Inverse of :func:`quantize_uint8`: float32 vectors from codes and (scale, offset)."""
    out = codes.astype(np.float32)
    out *= quant[0]
    out += quant[1]
    return out


# --------------------------------------------------------------------------------------------
# writing


def write_pack(
    folder: str | Path,
    *,
    name: str,
    kind: str,
    vectors: np.ndarray,
    items: pd.DataFrame,
    labels=None,
    groups=None,
    metadata: dict | None = None,
    vector_dtype: str = "float16",
    quant: np.ndarray | None = None,
    pools: dict[str, np.ndarray | None] | None = None,
) -> Path:
    """Write a pack folder, replacing any pack already there.

    The files are written into a staging folder beside ``folder`` which then takes its place,
    so a reader never sees a half-written pack (only, for a moment, no folder).

    Parameters
    ----------
    folder : path
    name, kind : str
        Pack name and item kind ("image", "text", "points", "table").
    vectors : ndarray of shape (n, d)
        Float vectors, or uint8 codes when ``quant`` is given.
    items : DataFrame
        One row per item with a unique ``id`` column; converted to strings.
    labels, groups : array-like of shape (n,), optional
    metadata : dict, optional
        Extra metadata (encoder, source, licence, build_command, ...).
    vector_dtype : {"float32", "float16", "uint8"}
        Storage type. "uint8" quantises float vectors per dimension unless ``quant`` is given.
    quant : ndarray of shape (2, d), optional
        Scale and offset of already-quantised uint8 ``vectors``.
    pools : dict, optional
        Pools whose graph and density to store: name -> pack rows (sorted int array), or None
        for every item. Default: only ``{"all": None}``; ``{}`` stores none.

    Returns
    -------
    Path of the folder.
    """
    if vector_dtype not in VECTOR_DTYPES:
        raise InvalidInputError(
            f"vector_dtype must be one of {VECTOR_DTYPES}, got {vector_dtype!r}"
        )
    vectors = np.asarray(vectors)
    n = len(vectors)
    if len(items) != n:
        raise InvalidInputError(f"{name}: {len(items)} item rows for {n} vectors")
    table = items.reset_index(drop=True).copy()
    table["id"] = table["id"].astype(str)
    if not table["id"].is_unique:
        raise InvalidInputError(f"{name}: item ids are not unique")
    for column, values in (("label", labels), ("group", groups)):
        if values is not None:
            table[column] = np.asarray(values).astype(str)
    if vector_dtype == "uint8" and quant is None:
        vectors, quant = quantize_uint8(vectors)
    stored = np.ascontiguousarray(vectors, dtype=vector_dtype)

    folder = Path(folder)
    staging = folder.parent / f".{folder.name}.staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        np.save(staging / "vectors.npy", stored)
        if vector_dtype == "uint8":
            np.save(staging / "quant.npy", np.asarray(quant, dtype=np.float32))
        image_position = _write_images(table, staging)
        _write_parquet(table.drop(columns=["image"], errors="ignore"), staging / "items.parquet")
        listed = _write_pools(staging, _loaded_vectors(stored, vector_dtype, quant),
                              {ALL_ITEMS: None} if pools is None else pools)
        meta = _pack_metadata(name, kind, table, stored, vector_dtype, labels, groups,
                              image_position, {**(metadata or {}), "pools": listed})
        (staging / "metadata.json").write_text(meta, encoding="utf-8")
        _replace_folder(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def _loaded_vectors(stored: np.ndarray, vector_dtype: str, quant) -> np.ndarray:
    """The float32 vectors :func:`read_pack` will return for ``stored`` (what pools are of)."""
    if vector_dtype == "uint8":
        return dequantize_uint8(stored, np.asarray(quant, dtype=np.float32))
    return np.ascontiguousarray(stored, dtype=np.float32)


def _write_pools(folder: Path, vectors: np.ndarray, pools: dict) -> list[dict]:
    """Compute and write each pool's graph and density; returns their ``metadata`` entries."""
    listed = []
    for pool_name, rows in pools.items():
        subset = vectors if rows is None else vectors[np.asarray(rows)]
        fingerprint = vectors_fingerprint(subset)
        write_pool(folder / POOLS_FOLDER / fingerprint, compute_pool(subset), fingerprint,
                   None if rows is None else np.asarray(rows))
        listed.append({"name": pool_name, "fingerprint": fingerprint, "n_items": len(subset)})
    return listed


def _replace_folder(staging: Path, folder: Path) -> None:
    old = folder.parent / f".{folder.name}.old-{os.getpid()}"
    if folder.exists():
        folder.rename(old)
    staging.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def _pack_metadata(name, kind, table, stored, vector_dtype, labels, groups, image_position,
                   metadata) -> str:
    """The text of ``metadata.json``: computed counts first, then the builder's own keys."""
    counts = {}
    if labels is not None:
        classes, sizes = np.unique(np.asarray(labels).astype(str), return_counts=True)
        counts = {str(c): int(s) for c, s in zip(classes, sizes, strict=True)}
    meta = {
        "format_version": PACK_FORMAT_VERSION,
        "name": name,
        "kind": kind,
        "n_items": len(table),
        "dimension": int(stored.shape[1]),
        "vector_dtype": vector_dtype,
        "classes": sorted(counts),
        "class_counts": counts,
        "n_groups": None if groups is None else len(set(np.asarray(groups).tolist())),
        "item_columns": [c for c in table.columns if c not in RESERVED_COLUMNS],
        "image_column_position": image_position,
    }
    meta.update(metadata or {})
    return json.dumps(meta, indent=2, ensure_ascii=False, default=_json_default) + "\n"


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _write_images(table: pd.DataFrame, folder: Path) -> int | None:
    """Store an ``image`` column of bytes as ``images.bin`` + ``image_offsets.npy``.

    One flat file sliced by offsets loads several times faster than a Parquet binary column
    (no decompression: JPEG and PNG are compressed already). Returns the column's position.
    """
    if "image" not in table.columns:
        return None
    blobs = table["image"].tolist()
    bad = [row for row, blob in enumerate(blobs) if not isinstance(blob, bytes)]
    if bad:
        raise InvalidInputError(f"image column must hold bytes; {describe_rows(bad)} do not")
    offsets = np.zeros(len(blobs) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(blob) for blob in blobs])
    (folder / "images.bin").write_bytes(b"".join(blobs))
    np.save(folder / "image_offsets.npy", offsets)
    return int(table.columns.get_loc("image"))


def _read_images(folder: Path, n: int) -> list[bytes]:
    offsets = np.load(folder / "image_offsets.npy", allow_pickle=False)
    data = (folder / "images.bin").read_bytes()
    if len(offsets) != n + 1 or offsets[-1] != len(data):
        raise PackError(f"{folder}: images.bin and image_offsets.npy do not match {n} items")
    bounds = offsets.tolist()
    return [data[bounds[i]:bounds[i + 1]] for i in range(n)]


def _write_parquet(table: pd.DataFrame, path: Path) -> None:
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    # Drop pandas' schema blob: it is not needed to read the file back and keeps bytes stable.
    arrow = arrow.replace_schema_metadata(None)
    pq.write_table(arrow, path, compression="zstd", use_dictionary=True, write_statistics=False)


# --------------------------------------------------------------------------------------------
# reading


def read_metadata(folder: str | Path) -> dict:
    """The ``metadata.json`` of a pack folder."""
    path = Path(folder) / "metadata.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise PackError(f"{folder} is not a pack: it has no metadata.json") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PackError(f"{path} is not valid UTF-8 JSON: {exc}") from exc
    version = meta.get("format_version") if isinstance(meta, dict) else None
    if version not in READABLE_VERSIONS:
        raise PackError(
            f"{path}: unsupported pack format version {version!r} (this labelwise reads "
            f"versions {', '.join(map(str, READABLE_VERSIONS))})"
        )
    return meta


def pool_folder(folder: str | Path, meta: dict, name: str = ALL_ITEMS) -> Path | None:
    """The folder of the pack's stored pool ``name`` (default: all items), or None."""
    for entry in meta.get("pools") or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            path = Path(folder) / POOLS_FOLDER / str(entry.get("fingerprint"))
            if (path / "pool.json").is_file():
                return path
            raise PackError(f"{folder}: metadata lists pool {name!r}, but {path} is missing")
    return None


def read_pack(folder: str | Path) -> Dataset:
    """Load a pack folder as a :class:`~labelwise.data.datasets.Dataset` (float32 vectors)."""
    folder = Path(folder)
    meta = read_metadata(folder)
    vectors = _read_vectors(folder, meta)
    try:
        table = pq.read_table(folder / "items.parquet").to_pandas()
    except (OSError, pa.ArrowException) as exc:
        raise PackError(f"{folder / 'items.parquet'} could not be read: {exc}") from exc
    if len(table) != len(vectors):
        raise PackError(f"{folder}: {len(table)} item rows but {len(vectors)} vectors")
    if meta.get("image_column_position") is not None:
        try:
            images = _read_images(folder, len(table))
        except (OSError, ValueError) as exc:
            raise PackError(f"{folder}: images could not be read: {exc}") from exc
        table.insert(meta["image_column_position"], "image", images)
    labels = table.pop("label").to_numpy(dtype=object) if "label" in table else None
    groups = table.pop("group").to_numpy(dtype=object) if "group" in table else None
    return Dataset(
        name=meta["name"],
        vectors=vectors,
        labels=labels,
        items=table,
        kind=meta["kind"],
        groups=groups,
        metadata=meta,
        pool_folder=pool_folder(folder, meta),
    )


def _read_vectors(folder: Path, meta: dict) -> np.ndarray:
    try:
        stored = np.load(folder / "vectors.npy", allow_pickle=False)
        if meta.get("vector_dtype") == "uint8":
            return dequantize_uint8(stored, np.load(folder / "quant.npy", allow_pickle=False))
    except (OSError, ValueError) as exc:
        raise PackError(f"{folder}: vectors could not be read: {exc}") from exc
    return np.ascontiguousarray(stored, dtype=np.float32)


# --------------------------------------------------------------------------------------------
# building
