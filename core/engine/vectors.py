"""Validation and normalisation of embedding matrices.

All similarity in labelwise is cosine similarity, computed as a dot product of L2-normalised
float32 rows. Vectors may be *stored* as float16 (packs on disk), but are always *computed* in
float32: numpy's float16 matmul is about 10x slower than float32 on this class of machine.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidInputError, describe_rows


def as_unit_rows(X, *, name: str = "X", min_rows: int = 1) -> np.ndarray:
    """Return ``X`` as a C-contiguous float32 matrix with L2-normalised rows.

    Parameters
    ----------
    X : array-like of shape (n_items, n_features)
        Embeddings. Any real dtype; float16 is upcast.
    name : str
        How the input is named in error messages.
    min_rows : int
        Fewest rows accepted.

    Returns
    -------
    ndarray of shape (n_items, n_features), float32

    Raises
    ------
    InvalidInputError
        If ``X`` is not a 2-D real matrix, has too few rows or no columns, or has rows that are
        zero, NaN or infinite (the message names them: they have no direction, so no cosine).
    """
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name} could not be read as a numeric matrix: {exc}") from exc
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        raise InvalidInputError(
            f"{name} must hold real numbers, got dtype {arr.dtype}; ragged rows or text cells "
            "cannot be used as vectors"
        )
    if arr.ndim != 2:
        raise InvalidInputError(f"{name} must be 2-D (items x features), got shape {arr.shape}")
    if arr.shape[0] < min_rows:
        raise InvalidInputError(f"{name} needs at least {min_rows} row(s), got {arr.shape[0]}")
    if arr.shape[1] == 0:
        raise InvalidInputError(f"{name} has no columns")
    out = np.array(arr, dtype=np.float32, order="C", copy=True)
    bad = np.flatnonzero(~np.isfinite(out).all(axis=1))
    if bad.size:
        raise InvalidInputError(f"{name} has NaN or infinite values in {describe_rows(bad)}")
    norms = np.linalg.norm(out, axis=1)
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise InvalidInputError(
            f"{name} has all-zero vectors in {describe_rows(zero)}: they have no direction, so "
            "cosine similarity is undefined; drop or re-embed those items"
        )
    out /= norms[:, None]
    return out


def check_same_dimension(X: np.ndarray, n_features: int, *, name: str = "X") -> None:
    """Raise a clear error if ``X`` does not have ``n_features`` columns."""
    if X.shape[1] != n_features:
        raise InvalidInputError(
            f"{name} has {X.shape[1]} features but the model was built on {n_features}; "
            "were these items embedded with a different encoder?"
        )
