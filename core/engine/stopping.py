"""When to stop labeling: stabilizing predictions (Bloodgood & Vijay-Shanker 2009).

Bloodgood and Vijay-Shanker ("A method for stopping active learning based on stabilizing
predictions and the need for user-adjustable stopping", CoNLL 2009) compare the model's
predictions on a fixed *stop set* of unlabeled items between successive rounds with Cohen's
kappa and stop once agreement stays high (they use kappa >= 0.99 averaged over three rounds).
Labels arrive one at a time here, and two successive single-label models almost always agree,
so :class:`StoppingMonitor` compares the predictions now with those ``window`` labels ago, and
calls them stable when that kappa *and* the kappa of every step in between are at least
``threshold``. Predictions of ``-1`` (no model output) count as a category of their own: an
item that gains a prediction has changed.

The recommendation also quotes an accuracy estimate from the labels alone (the leave-one-out
estimate of :func:`labelwise.engine.graph.choose_model`), never from a holdout. It is
pessimistic under active learning: the picked items are the hard ones.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidInputError


def cohen_kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa of two label arrays: ``(p_o - p_e) / (1 - p_e)``.

    ``p_o`` is the share of equal entries, ``p_e = sum_c p_a(c) p_b(c)`` the agreement expected
    by chance. When chance agreement is certain (``p_e = 1``: both arrays one and the same
    constant) kappa is defined here as 1. Cost: ``O(n + categories)``.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise InvalidInputError(f"kappa needs two equally long non-empty 1-D arrays, got shapes "
                                f"{a.shape} and {b.shape}")
    n = a.size
    joined = np.concatenate([a, b])
    if joined.dtype.kind in "iu" and int(joined.max()) - int(joined.min()) <= 4 * n:
        # Small integer codes (class codes, -1): offsets instead of a sort, O(n).
        codes = joined.astype(np.int64) - int(joined.min())
        m = int(codes.max()) + 1
    else:
        categories, codes = np.unique(joined, return_inverse=True)
        m = len(categories)
    ca, cb = codes[:n], codes[n:]
    observed = float(np.mean(ca == cb))
    expected = float(np.dot(np.bincount(ca, minlength=m), np.bincount(cb, minlength=m))) / n**2
    if expected >= 1.0:
        return 1.0
    return (observed - expected) / (1.0 - expected)


@dataclass(frozen=True)
class StoppingStatus:
    """What :meth:`StoppingMonitor.status` reports."""

    labels_seen: int
    kappa_window: float | None
    kappa_min_step: float | None
    stable: bool
    estimated_accuracy: float | None
    recommendation: str


class StoppingMonitor:
    """Follow the pool predictions label after label and say when more labels stop helping.

    Parameters
    ----------
    window : int, default=20
        Labels over which predictions must be stable.
    threshold : float, default=0.99
        Kappa needed (Bloodgood & Vijay-Shanker's value).

    Notes
    -----
    Keeps the last ``window + 1`` prediction arrays (as int32) and the kappa of each step.
    Cost of :meth:`update`: one kappa, ``O(stop set)``. Feed it a stop set of a fixed size: the
    whole pool while it is small, a fixed random sample (a few thousand items) of a large one.
    """

    def __init__(self, window: int = 20, threshold: float = 0.99) -> None:
        if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
            raise InvalidInputError(f"window must be a positive integer, got {window!r}")
        if not 0.0 < threshold <= 1.0:
            raise InvalidInputError(f"threshold must be in (0, 1], got {threshold!r}")
        self.window = int(window)
        self.threshold = float(threshold)
        self._history: deque[np.ndarray] = deque(maxlen=self.window + 1)
        self._step_kappas: deque[float] = deque(maxlen=self.window)
        self._accuracy: float | None = None
        self.labels_seen = 0

    def update(self, predictions, estimated_accuracy: float | None = None) -> StoppingStatus:
        """Record the stop set's predicted class codes after one more label."""
        current = np.asarray(predictions).astype(np.int32, copy=True)
        if self._history and current.shape != self._history[-1].shape:
            raise InvalidInputError(f"the stop set changed size: {current.shape} after "
                                    f"{self._history[-1].shape}; feed the same items each time")
        if self._history:
            self._step_kappas.append(cohen_kappa(self._history[-1], current))
        self._history.append(current)
        self._accuracy = estimated_accuracy
        self.labels_seen += 1
        return self.status()

    def status(self, estimated_accuracy: float | None = None) -> StoppingStatus:
        """Kappas, stability and a plain recommendation. Cost: one kappa.

        ``estimated_accuracy`` (if given) replaces the estimate recorded by the last
        :meth:`update`, e.g. one computed only when the status is read.
        """
        accuracy = self._accuracy if estimated_accuracy is None else float(estimated_accuracy)
        full = len(self._history) == self.window + 1
        kappa_window = cohen_kappa(self._history[0], self._history[-1]) if full else None
        kappa_min = min(self._step_kappas) if full else None
        stable = bool(full and kappa_window >= self.threshold and kappa_min >= self.threshold)
        return StoppingStatus(self.labels_seen, kappa_window, kappa_min, stable, accuracy,
                              self._recommend(kappa_window, stable, accuracy))

    def _recommend(self, kappa_window: float | None, stable: bool,
                   estimate: float | None) -> str:
        accuracy = "" if estimate is None else (
            f"; estimated accuracy {estimate:.2f} (leave-one-out on the labels, "
            "pessimistic for picked items)")
        if kappa_window is None:
            missing = self.window + 1 - len(self._history)
            return (f"{missing} more label(s) before stability can be judged (window "
                    f"{self.window}){accuracy}")
        if stable:
            return (f"predictions have been stable for the last {self.window} labels (kappa "
                    f"{kappa_window:.3f} >= {self.threshold}): more labels are unlikely to help "
                    f"much{accuracy}")
        return (f"predictions are still changing (kappa {kappa_window:.3f} over the last "
                f"{self.window} labels, below {self.threshold}): keep labeling{accuracy}")
