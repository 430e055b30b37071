"""kNN vote arithmetic shared by the labeling state and :class:`labelwise.KNNClassifier`.

Neighbours arrive as two (m, k) arrays: their similarity to the query and their class code
(-1 marks an empty slot, when fewer than k items are labeled). Class probabilities follow the
spec: p_c = weight of class c / total weight over the k' = min(k, n_labeled) neighbours.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidInputError

WEIGHTS = ("uniform", "similarity")
# With weights="similarity" a neighbour's vote is its cosine similarity, clipped at this floor so
# that a neighbourhood of orthogonal or opposite vectors still gives a valid (near-uniform) vote.
MIN_SIMILARITY_WEIGHT = 1e-6


def check_weights(weights: str) -> str:
    if weights not in WEIGHTS:
        raise InvalidInputError(f"weights must be one of {WEIGHTS}, got {weights!r}")
    return weights


def vote_weights(sim: np.ndarray, cls: np.ndarray, weights: str) -> np.ndarray:
    """Weight of each neighbour slot (0 for empty slots), float64."""
    filled = cls >= 0
    if weights == "uniform":
        return filled.astype(np.float64)
    return np.where(filled, np.maximum(sim.astype(np.float64), MIN_SIMILARITY_WEIGHT), 0.0)


def class_votes(sim: np.ndarray, cls: np.ndarray, n_classes: int, weights: str) -> np.ndarray:
    """Summed vote weight per class, shape (m, n_classes)."""
    m = cls.shape[0]
    if n_classes == 0:
        return np.zeros((m, 0))
    w = vote_weights(sim, cls, weights)
    flat = np.arange(m)[:, None] * n_classes + np.maximum(cls, 0)
    return np.bincount(flat.ravel(), weights=w.ravel(), minlength=m * n_classes).reshape(
        m, n_classes
    )


def probabilities(votes: np.ndarray) -> np.ndarray:
    """Normalise votes to probabilities; rows with no vote (nothing labeled) stay all-zero."""
    total = votes.sum(axis=1, keepdims=True)
    voted = total > 0
    # Dividing unvoted rows by 1 and then zeroing them gives what a divide masked by
    # ``where=`` gives, 2x faster (masked ufunc loops are slow).
    proba = votes / np.where(voted, total, 1.0)
    if not voted.all():
        np.copyto(proba, 0.0, where=~voted)
    return proba


def winners(votes: np.ndarray, sim: np.ndarray, cls: np.ndarray) -> np.ndarray:
    """Predicted class code per row; -1 where nothing is labeled.

    Ties between classes with equal vote weight go, on purpose, to the class whose own nearest
    neighbour is most similar (then to the lower class code), not to an arbitrary column.
    """
    m, n_classes = votes.shape
    if n_classes == 0:
        return np.full(m, -1, dtype=np.int64)
    best_sim = np.full((m, n_classes), -np.inf)
    rows = np.repeat(np.arange(m), cls.shape[1])
    filled = cls.ravel() >= 0
    np.maximum.at(best_sim, (rows[filled], cls.ravel()[filled]), sim.ravel()[filled])
    top = votes.max(axis=1, keepdims=True)
    tied = votes >= top - 1e-12 * np.maximum(top, 1.0)
    pred = np.where(tied, best_sim, -np.inf).argmax(axis=1)
    pred[top[:, 0] <= 0] = -1
    return pred


# Uncertainties are rounded to this many decimals, on purpose: votes that are equal in exact
# arithmetic can differ in the last bit depending on summation order, and the empirical CDF
# would turn that noise into a strict ranking. Rounded, they tie, and ties are broken at random.
UNCERTAINTY_DECIMALS = 12


def uncertainty(proba: np.ndarray, measure: str) -> np.ndarray:
    """Uncertainty of each row of class probabilities (higher = less sure).

    least_confidence: 1 - p1; margin: 1 - (p1 - p2); entropy: -sum p log p, with p sorted
    descending, a missing p2 taken as 0, and 0 log 0 = 0. Rows without any vote score 0.
    Values are rounded to ``UNCERTAINTY_DECIMALS`` decimals.
    """
    return np.round(_raw_uncertainty(proba, measure), UNCERTAINTY_DECIMALS)


def _raw_uncertainty(proba: np.ndarray, measure: str) -> np.ndarray:
    if proba.shape[1] == 0:
        return np.zeros(proba.shape[0])
    voted = proba.sum(axis=1) > 0
    if measure == "least_confidence":
        return np.where(voted, 1.0 - proba.max(axis=1), 0.0)
    if measure == "margin":
        p1, p2 = (proba[:, 0], 0.0) if proba.shape[1] == 1 else _top_two(proba)
        return np.where(voted, 1.0 - (p1 - p2), 0.0)
    if measure == "entropy":
        logs = np.log(proba, out=np.zeros_like(proba), where=proba > 0)
        return -(proba * logs).sum(axis=1)
    raise InvalidInputError(f"unknown uncertainty measure {measure!r}")


def _top_two(proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Largest and second largest value of each row (equal when the top is tied).

    Column by column (a few elementwise passes): np.partition along a short axis costs a call
    per row, 2-3x more. Rows holding NaN, where np.maximum and the partition's order differ,
    are taken from the partition.
    """
    p1, p2 = proba[:, 0].copy(), np.full(len(proba), -np.inf)
    for c in range(1, proba.shape[1]):
        column = proba[:, c]
        np.maximum(p2, np.minimum(p1, column), out=p2)
        np.maximum(p1, column, out=p1)
    nan = np.flatnonzero(np.isnan(p1))
    if nan.size:
        top2 = -np.partition(-proba[nan], 1, axis=1)[:, :2]
        p1[nan], p2[nan] = top2[:, 0], top2[:, 1]
    return p1, p2
