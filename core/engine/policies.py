"""Policies: how a session turns its labeled state into the next picks.

A policy chooses items through the session's read-only :class:`~labelwise.engine.view.LabeledView`
and the session's seeded generator, never through the session itself::

    picks = policy.select(view, count, rng)   # distinct pool items, len(picks) == count

- :class:`FixedPolicy`: a fixed product of scorers (``"U*I*D"``): the argmax of S, the product of
  the scorers' pool CDFs, ties broken uniformly with ``rng``; a batch is greedy, each pick
  counting as labeled for the next one (``max_sim`` grows, the pick leaves the pool).
- :class:`RandomPolicy`: uniform sampling without replacement.
- :class:`labelwise.engine.auto.AutoPolicy`: switches between two fixed products.

``count`` is at least 1 and at most the pool size (the session checks both).
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidInputError
from .combine import choose_among
from .strategy import Strategy
from .view import LabeledView


class Policy:
    """Base class: ``select(view, count, rng)`` returns ``count`` distinct pool items."""

    def select(self, view: LabeledView, count: int, rng: np.random.Generator) -> list[int]:
        raise NotImplementedError

    def picked_by(self, item: int) -> Strategy | None:
        """The fixed strategy behind the latest suggestion of ``item`` (None if unknown)."""
        return None

    def explain(self, decisions: bool = True) -> dict:
        """``arm``, ``reason`` and (None here) ``decisions``: see
        :meth:`LabelingSession.explain_strategy`."""
        raise NotImplementedError


class FixedPolicy(Policy):
    """Greedy argmax of a fixed product of scorer CDFs.

    Parameters
    ----------
    strategy : Strategy
        A non-random, non-auto strategy.
    """

    def __init__(self, strategy: Strategy) -> None:
        if strategy.auto or (strategy.is_random and type(self) is FixedPolicy):
            raise InvalidInputError(
                f"a fixed policy needs a product of scorers, got {strategy.name!r}")
        self.strategy = strategy

    def select(self, view: LabeledView, count: int, rng: np.random.Generator) -> list[int]:
        scorers = self.strategy.scorers
        in_pool, max_sim = view.in_pool, view.max_sim
        if count > 1:
            in_pool, max_sim = in_pool.copy(), max_sim.copy()
        current = view
        picks: list[int] = []
        for _ in range(count):
            picks.append(choose_among(current.best_of_product(scorers), rng))
            if len(picks) < count:
                in_pool[picks[-1]] = False
                np.maximum(max_sim, view.vectors @ view.vectors[picks[-1]], out=max_sim)
                current = view.with_picks(in_pool, max_sim)
        return picks

    def picked_by(self, item: int) -> Strategy:
        return self.strategy

    def explain(self, decisions: bool = True) -> dict:
        return {"arm": self.strategy.label, "decisions": None,
                "reason": f"fixed strategy {self.strategy.label}"}


class RandomPolicy(FixedPolicy):
    """Uniform sampling without replacement (the baseline of every comparison)."""

    def __init__(self, strategy: Strategy | None = None) -> None:
        super().__init__(strategy or Strategy.parse("random"))

    def select(self, view: LabeledView, count: int, rng: np.random.Generator) -> list[int]:
        return [int(p) for p in rng.choice(view.pool, size=count, replace=False)]
