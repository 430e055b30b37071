"""Small synthetic pools shared by the model tests (imported as a plain module, like
``browser_helpers``)."""

from __future__ import annotations

import numpy as np

from labelwise.engine.vectors import as_unit_rows


def lift(points: np.ndarray, height: float = 10.0) -> np.ndarray:
    """2-D points as unit 3-D vectors: cosine similarity then follows planar distance."""
    return as_unit_rows(np.column_stack([points, np.full(len(points), height)]))


def rings(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two concentric rings 0.4 apart, 400 items each, and 10 picked items on each ring.

    Each class is a chain of near neighbours: the pool's graph follows each ring, while an
    item's 5 nearest labels often sit on the other ring (the graph model is clearly best).
    Returns the vectors, the true classes (0 inner, 1 outer) and the picked rows.
    """
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0, 2 * np.pi, 800)
    truth = np.repeat([0, 1], 400)
    radius = np.where(truth == 0, 1.0, 1.4)
    points = np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])
    points += 0.03 * rng.standard_normal((800, 2))
    picked = np.concatenate([rng.choice(400, 10, replace=False),
                             400 + rng.choice(400, 10, replace=False)])
    return lift(points), truth, picked
