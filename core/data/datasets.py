"""Datasets: embedded items with what a person needs to see them, and optional ground truth."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InvalidInputError


@dataclass
class Dataset:
    """A pool of embedded items.

    Attributes
    ----------
    name : str
    vectors : ndarray of shape (n, d), float32
        Embeddings (computed in float32 even when stored as float16).
    labels : ndarray of shape (n,), object, or None
        Ground-truth labels when known (used by simulations and accuracy read-outs).
    classes : list
        Sorted distinct labels (empty when unlabeled).
    items : pandas.DataFrame
        One row per item: ``id`` always; ``text`` for texts, ``image`` (path or bytes of a
        thumbnail) for images; anything else shown to a person.
    groups : ndarray of shape (n,) or None
        Group of each item (e.g. the original photo of augmented copies), for group splits.
    kind : {"image", "text", "table", "points"}
    metadata : dict
        Encoder, source, licence, build command, ...
    pool_folder : Path or None
        Where the graph and density of all items are stored (a pack's ``pools/<fingerprint>``
        folder), or None. Read through :attr:`graph` and :attr:`density`.
    """

    name: str
    vectors: np.ndarray
    labels: np.ndarray | None
    items: pd.DataFrame
    kind: str
    groups: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)
    pool_folder: Path | None = field(default=None, repr=False, compare=False)
    classes: list = field(init=False)
    _graph: object = field(default=None, init=False, repr=False, compare=False)
    _density: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.labels is None:
            self.classes = []
        else:
            self.classes = sorted(set(self.labels.tolist()), key=str)

    def __len__(self) -> int:
        return len(self.vectors)

    @property
    def ids(self) -> np.ndarray:
        return self.items["id"].to_numpy()

    @property
    def density(self) -> np.ndarray | None:
        """Stored kNN density of every item (float64, equal to
        ``labelwise.pool_density(vectors, "knn", normalize=True)``), or None when the dataset
        does not ship one (then :meth:`pool_parts` computes and caches it). Read on first use.
        """
        if self._density is None and self.pool_folder is not None:
            self._density = np.load(Path(self.pool_folder) / "density.npy", allow_pickle=False)
        return self._density

    @property
    def graph(self):
        """Stored :class:`labelwise.PoolGraph` of every item, or None when the dataset does not
        ship one (then :meth:`pool_parts` builds and caches it). Loaded on first use (tens of
        milliseconds: the lists are read, the weights recomputed)."""
        if self._graph is None and self.pool_folder is not None:
            from .pools import read_pool

            parts = read_pool(self.pool_folder, self.vectors)
            self._graph, self._density = parts.graph, parts.density
        return self._graph

    def pool_parts(self, *, cache_dir: str | Path | None = None):
        """``(graph, density)`` of every item: the stored ones, else from the on-disk cache,
        else computed once and cached (:func:`labelwise.data.pools.pool_parts_for`)."""
        from .pools import PoolParts, pool_parts_for

        if self.graph is not None:
            return PoolParts(self.graph, self.density)
        parts = pool_parts_for(self.vectors, cache_dir=cache_dir)
        self._graph, self._density = parts.graph, parts.density
        return parts

    def fingerprint(self) -> str:
        """:func:`fingerprint` of this dataset's vectors and item ids (what a labeling project
        stores to recognise its data; ground-truth labels are not part of it)."""
        return fingerprint(self.vectors, self.ids)


def ids_as_text(ids) -> np.ndarray:
    """Item ids as unique strings (object array), in order; duplicates are refused."""
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise InvalidInputError(f"item ids must be 1-D, got shape {ids.shape}")
    text = np.array([str(i.item() if isinstance(i, np.generic) else i) for i in ids],
                    dtype=object)
    seen: dict[str, int] = {}
    for n, item in enumerate(text.tolist()):
        if item in seen:
            raise InvalidInputError(
                f"item ids must be unique: {item!r} is at rows {seen[item]} and {n}")
        seen[item] = n
    return text


def fingerprint(vectors, ids) -> str:
    """The one fingerprint of a dataset: a SHA-256 of its vectors (as float32) and item ids.

    A labeling project stores it, so opening the project with other data is refused instead of
    mixing labels. Equal for the same vectors and ids in the same order; ground-truth labels
    are not part of it.

    Returns
    -------
    str
        ``"sha256:<hex>"``.
    """
    vectors = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    ids = ids_as_text(ids)
    if len(ids) != len(vectors):
        raise InvalidInputError(f"{len(vectors)} vectors but {len(ids)} item ids")
    digest = hashlib.sha256(b"labelwise-dataset-v1\n")
    digest.update(f"{vectors.shape}\n".encode())
    digest.update(vectors.tobytes())
    for item in ids.tolist():
        digest.update(item.encode("utf-8", "surrogatepass") + b"\x1f")
    return "sha256:" + digest.hexdigest()
