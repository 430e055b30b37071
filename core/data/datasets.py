"""Datasets: embedded items with what a person needs to see them, and optional ground truth."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


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
    """

    name: str
    vectors: np.ndarray
    labels: np.ndarray | None
    items: pd.DataFrame
    kind: str
    groups: np.ndarray | None = None
    metadata: dict = field(default_factory=dict)
    classes: list = field(init=False)

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

    def fingerprint(self) -> str:
        """A short hex digest of the vectors, ids and labels.

        Two datasets with the same fingerprint hold the same embedded items with the same ground
        truth, so saved labeling work can be matched to the data it was done on.
        """
        digest = hashlib.sha256()
        vectors = np.ascontiguousarray(self.vectors, dtype=np.float32)
        digest.update(repr(vectors.shape).encode())
        digest.update(vectors.tobytes())
        for values in (self.ids, self.labels):
            text = "" if values is None else "\x1f".join(str(v) for v in values)
            digest.update(b"\x1e" + text.encode("utf-8", "surrogatepass"))
        return digest.hexdigest()[:16]
