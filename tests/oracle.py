"""From-scratch reference for the labeling engine: slow, obvious numpy, no incremental state.

Every quantity is recomputed from the definitions in the README on each call, so the
incremental engine in core/ can be checked against it after any sequence of operations.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np


def unit_rows(X) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def neighbors(X, labeled: list[int], k: int) -> list[list[tuple[int, float]]]:
    """For every item, its k most similar labeled items as (item, sim), best first.

    ``labeled`` is in labeling order; equal similarities keep that order.
    """
    out = []
    for x in X:
        sims = [(j, float(np.dot(x, X[j]))) for j in labeled]
        ranked = sorted(range(len(sims)), key=lambda n: (-sims[n][1], n))
        out.append([sims[n] for n in ranked[:k]])
    return out


def exact_probabilities(nbrs, labels: dict[int, str], classes: list[str], weights: str):
    """Class probabilities as exact fractions (no summation-order noise)."""
    rows = []
    for items in nbrs:
        votes = [Fraction(0)] * len(classes)
        for j, s in items:
            w = Fraction(1) if weights == "uniform" else Fraction(max(s, 1e-6))
            votes[classes.index(labels[j])] += w
        total = sum(votes)
        rows.append([v / total for v in votes] if total else votes)
    return rows


def probabilities(nbrs, labels: dict[int, str], classes: list[str], weights: str):
    exact = exact_probabilities(nbrs, labels, classes, weights)
    return np.array([[float(v) for v in row] for row in exact]).reshape(len(nbrs), len(classes))


def uncertainty(p: list[Fraction], measure: str) -> float:
    """Uncertainty from exact probabilities, rounded to 12 decimals like the engine."""
    if sum(p) == 0:
        return 0.0
    q = [*sorted(p, reverse=True), Fraction(0)]
    if measure == "least_confidence":
        value = float(1 - q[0])
    elif measure == "margin":
        value = float(1 - (q[0] - q[1]))
    else:
        value = -sum(float(v) * math.log(float(v)) for v in q if v > 0)
    return round(value, 12)


def knn_density(X, n_neighbors: int = 10) -> np.ndarray:
    S = X @ X.T
    out = np.zeros(len(X))
    for i in range(len(X)):
        others = np.delete(S[i], i)
        k = min(n_neighbors, len(others))
        out[i] = np.sort(others)[::-1][:k].mean() if k else 0.0
    return out


def global_density(X) -> np.ndarray:
    X64 = X.astype(np.float64)
    dist = np.linalg.norm(X64[:, None, :] - X64[None, :, :], axis=2)
    return -dist.mean(axis=1)


def diversity(X, labeled: list[int]) -> np.ndarray:
    if not labeled:
        return np.ones(len(X))
    return 1 - np.max(X @ X[labeled].T, axis=1)


def cdf(values: np.ndarray) -> np.ndarray:
    return np.array([(values <= v).sum() / len(values) for v in values])


def scores(X, labeled: list[int], labels: dict[int, str], classes: list[str], *, k: int,
           weights: str, measure: str, density: str, factors) -> dict[str, np.ndarray]:
    """Raw and CDF scores over the pool (unlabeled items, ascending index)."""
    pool = [i for i in range(len(X)) if i not in labels]
    nbrs = neighbors(X, labeled, k)
    P = exact_probabilities(nbrs, labels, classes, weights)
    u = np.array([uncertainty(P[i], measure) for i in range(len(X))])
    i_raw = knn_density(X) if density == "knn" else global_density(X)
    d = diversity(X, labeled)
    out = {"item": np.array(pool), "u": u[pool], "i": i_raw[pool], "d": d[pool]}
    for letter, raw in (("U", "u"), ("I", "i"), ("D", "d")):
        out[letter] = cdf(out[raw])
    out["S"] = np.prod([out[f] for f in factors], axis=0) if factors else np.ones(len(pool))
    return out



def graph_scores(S, labels: dict[int, str], classes: list[str], alpha: float) -> np.ndarray:
    """Label spreading by a dense solve: ``F = (1 - a) (I - a S)^-1 Y``.

    ``S`` is the dense normalised graph ``D^-1/2 W D^-1/2``; ``Y`` one-hot of the labels.
    """
    n = len(S)
    Y = np.zeros((n, len(classes)))
    for item, label in labels.items():
        Y[item, classes.index(label)] = 1.0
    return np.linalg.solve(np.eye(n) - alpha * np.asarray(S), (1.0 - alpha) * Y)


def normalized_rows(F: np.ndarray) -> np.ndarray:
    """Rows of ``F`` scaled to sum 1; rows no label reaches (all zero) uniform, as the graph
    model defines them."""
    F = np.maximum(F, 0.0)
    total = F.sum(axis=1, keepdims=True)
    uniform = 1.0 / F.shape[1] if F.shape[1] else 0.0
    return np.divide(F, total, out=np.full_like(F, uniform), where=total > 0)
