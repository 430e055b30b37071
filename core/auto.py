"""The ``auto`` strategy: choose, at every step, which fixed strategy picks the next item.

What it does and why (issue: no fixed mix of U, I and D wins on every dataset):

- **Arms.** random, I*D, and U, U*I, U*D, U*I*D for each uncertainty measure: 14 fixed
  strategies. Every step, each arm's pick is computed from CDFs that are shared (U for three
  measures, I, D), so the extra cost over U*I*D is a few O(N) products and the CDFs of two more
  uncertainty measures, not another pass over the vectors.
- **Reward: how much the label changed the model**, which a kNN model gives for free: the
  number of unlabeled items whose predicted class flipped when the label arrived (expected model
  change, in its kNN form). Labeling an outlier flips nothing; labeling what the model already
  predicts flips nothing; a label in a dense, wrongly predicted region (a boundary, an unseen
  class) flips many. Flip counts shrink as labels accumulate, so each is divided by the mean of
  the last 20 and capped at 3x, then scaled to [0, 1].
- **Counterfactual credit.** Every arm that would have picked the same item is credited with the
  reward (their picks are known). With 14 arms and ~100 labels, crediting only the chosen arm
  would leave the bandit exploring for most of the budget.
- **Policy.** Softmax over exponentially discounted mean rewards (recent labels weigh more:
  the best mix changes with the budget, typical and diverse items first and uncertain ones
  later, the phase transition reported for TypiClust), mixed with uniform exploration so that
  no arm is starved. All randomness comes from the session's seeded generator.

Status: experimental, not a default. AULC against the best fixed strategy
(``python benchmarks/reproduce_reference.py``, 16 folds): fruits random split 0.886 vs 0.909,
group split 0.868 vs 0.895, tweets 0.592 vs U*I 0.630 (random 0.592). On small sets
(``python benchmarks/auto_small_sets.py``) it is within the 95% band of the best arm on moons,
wine, breast cancer and a rare-class set (where it finds the rare class in about 6 labels, U*I*D
never within 100), but not on digits (0.753 vs U*I*D 0.811). Why: the flip reward does not track
accuracy (``python benchmarks/auto_signals.py``). On tweets U*I, the best arm, flips the fewest
predictions per label (444 vs 623 for U*I*D) and surprises the model least (30% vs 41%); on
fruits U*D flips the most (273) yet U*I*D is best. Surprise behaves the same way. A per-step
reward would need an unbiased accuracy signal, and at 100-label budgets the few random picks
available for that are far too noisy. The next approach should choose the mix per dataset from
structure (pool size against budget, label noise seen in the labeled set), not per step.

Not chosen: ALBL's importance-weighted accuracy (Hsu & Lin 2015) needs the labeled set as an
unbiased validation sample, which says little until there are tens of labels per class; the
flip count is informative from the first label and costs O(changed rows). The policy never
reads a holdout: it sees only the pool, the labels given, and its own picks.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core import knn
from core.combine import argmax_random_tie
from core.scorers import UNCERTAINTY_MEASURES
from core.strategy import Strategy

if TYPE_CHECKING:
    from core.session import LabelingSession

EXPLORATION = 0.1      # share of picks made by a uniformly drawn arm
TEMPERATURE = 0.1      # softmax temperature over mean rewards in [0, 1]
LEARNING_RATE = 0.2    # weight of the newest reward in an arm's discounted mean
PRIOR_REWARD = 0.5     # optimistic start, so every arm gets tried early
REWARD_WINDOW = 20     # labels over which flip counts are normalised
REWARD_CAP = 3.0       # a label worth more than 3x the recent mean counts as 3x


def candidate_arms(density: str = "knn") -> list[Strategy]:
    """The fixed strategies auto chooses among."""
    arms = [Strategy.parse("random"), Strategy.parse("I*D", density=density)]
    for measure in UNCERTAINTY_MEASURES:
        for spec in ("U", "U*I", "U*D", "U*I*D"):
            arms.append(Strategy.parse(spec, uncertainty=measure, density=density))
    return arms


@dataclass
class _Suggestion:
    arm: int
    probability: float
    agreeing: np.ndarray  # arms whose own pick was the same item


class AutoPolicy:
    """Bandit over fixed strategies, rewarded by the prediction flips each label causes.

    Parameters
    ----------
    density : {"knn", "global"}
        Density kind used by the arms that include I.
    """

    def __init__(self, density: str = "knn") -> None:
        self.arms = candidate_arms(density)
        n_arms = len(self.arms)
        self.mean_reward = np.full(n_arms, PRIOR_REWARD)
        self.chosen = np.zeros(n_arms, dtype=int)
        self.credited = np.zeros(n_arms, dtype=int)
        self._predicted: np.ndarray | None = None
        self._recent_flips: deque[int] = deque(maxlen=REWARD_WINDOW)
        self._pending: dict[int, _Suggestion] = {}
        self.history: list[dict] = []

    # -- choosing --------------------------------------------------------------------------
    def probabilities(self) -> np.ndarray:
        logits = (self.mean_reward - self.mean_reward.max()) / TEMPERATURE
        soft = np.exp(logits) / np.exp(logits).sum()
        return (1 - EXPLORATION) * soft + EXPLORATION / len(self.arms)

    def select(self, session: LabelingSession, count: int) -> list[int]:
        """Pick ``count`` items: draw an arm, let it choose; remember who else agreed."""
        probs = self.probabilities()
        arm = int(session.rng.choice(len(self.arms), p=probs))
        self.chosen[arm] += 1
        if count > 1:
            picks = self._arm_picks(session, arm, count)
            for item in picks:
                agreeing = np.zeros(len(self.arms), dtype=bool)
                agreeing[arm] = True
                self._pending[item] = _Suggestion(arm, float(probs[arm]), agreeing)
            return picks
        recommendations = self._recommendations(session)
        pick = int(recommendations[arm])
        self._pending[pick] = _Suggestion(arm, float(probs[arm]), recommendations == pick)
        return [pick]

    def _arm_picks(self, session: LabelingSession, arm: int, count: int) -> list[int]:
        strategy = self.arms[arm]
        if strategy.is_random:
            return [int(p) for p in session.rng.choice(session.pool, size=count, replace=False)]
        return session.select_with(strategy, count)

    def _recommendations(self, session: LabelingSession) -> np.ndarray:
        """Each arm's pick, from CDFs computed once for all arms."""
        pool_idx = session.pool
        scorers = {}
        for strategy in self.arms:
            for scorer in session._scorers(strategy):
                scorers[scorer.cache_key] = scorer
        cdfs = session.pool_cdfs(list(scorers.values()), session._in_pool, pool_idx,
                                 session._neighbors.max_sim)
        picks = np.empty(len(self.arms), dtype=np.int64)
        for n, strategy in enumerate(self.arms):
            if strategy.is_random:
                picks[n] = session.rng.choice(pool_idx)
                continue
            product = np.ones(len(pool_idx))
            for scorer in session._scorers(strategy):
                product *= cdfs[scorer.cache_key]
            picks[n] = pool_idx[argmax_random_tie(product, session.rng)]
        return picks

    # -- learning --------------------------------------------------------------------------
    def observe(self, session: LabelingSession, item: int, rows: np.ndarray) -> None:
        """A label arrived for ``item``; ``rows`` are the items whose neighbours changed."""
        flips = self._update_predictions(session, rows)
        suggestion = self._pending.pop(item, None)
        self._recent_flips.append(flips)
        if suggestion is None:  # labeled by hand, not suggested: nothing to credit
            return
        scale = max(np.mean(self._recent_flips), 1.0)
        reward = min(flips / scale, REWARD_CAP) / REWARD_CAP
        agreeing = suggestion.agreeing
        self.mean_reward[agreeing] += LEARNING_RATE * (reward - self.mean_reward[agreeing])
        self.credited[agreeing] += 1
        self.history.append({"item": item, "arm": self.arms[suggestion.arm].label,
                             "probability": suggestion.probability, "flips": flips,
                             "reward": reward, "agreeing": int(agreeing.sum())})

    def refresh(self, session: LabelingSession, rows: np.ndarray) -> None:
        """Neighbourhoods changed without a new label (undo, relabel): track predictions."""
        self._update_predictions(session, rows)

    def _update_predictions(self, session: LabelingSession, rows: np.ndarray) -> int:
        nb = session._neighbors
        n_classes = len(session.classes)
        if self._predicted is None:
            self._predicted = np.full(session.n_items, -1, dtype=np.int64)
            rows = np.arange(session.n_items)
        votes = nb.votes(rows, n_classes, session.weights)
        new = knn.winners(votes, nb.sim[rows], nb.cls[rows])
        flipped = (new != self._predicted[rows]) & session._in_pool[rows]
        self._predicted[rows] = new
        return int(flipped.sum())

    # -- explaining ------------------------------------------------------------------------
    def picked_by(self, item: int) -> str | None:
        """Label of the arm that suggested ``item`` (None if it was not suggested)."""
        suggestion = self._pending.get(int(item))
        return None if suggestion is None else self.arms[suggestion.arm].label

    def explain(self) -> dict:
        """Which arm picked last and why, and the standing of every arm."""
        probs = self.probabilities()
        table = pd.DataFrame({
            "arm": [a.label for a in self.arms], "probability": probs,
            "mean_reward": self.mean_reward, "chosen": self.chosen, "credited": self.credited,
        }).sort_values("probability", ascending=False, ignore_index=True)
        best = table.iloc[0]
        last = self.history[-1] if self.history else None
        reason = (
            f"{best['arm']} leads with a mean reward of {best['mean_reward']:.2f} "
            f"(share of recent labels' prediction flips, 1 = {REWARD_CAP:g}x the recent mean); "
            f"it is drawn with probability {best['probability']:.0%}, and any arm with at "
            f"least {EXPLORATION / len(self.arms):.1%} so none is starved."
        )
        return {"leading_arm": best["arm"], "last": last, "reason": reason, "arms": table}
