"""Train/test folds of a simulation: which items are the pool, which the test set, which start
labeled."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import GroupShuffleSplit, ShuffleSplit

from ..data.datasets import Dataset
from ..errors import InvalidInputError

SPLITS = ("random", "group")


def check_int(value, name: str, low: int) -> int:
    """``value`` as an int of at least ``low``, or :class:`InvalidInputError` naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise InvalidInputError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def check_test_size(test_size, n_items: int) -> float | int:
    """A test fraction in (0, 1) or a count in [1, n_items - 1]."""
    if isinstance(test_size, (float, np.floating)) and 0.0 < test_size < 1.0:
        return float(test_size)
    if (isinstance(test_size, (int, np.integer)) and not isinstance(test_size, bool)
            and 0 < test_size < n_items):
        return int(test_size)
    raise InvalidInputError(
        f"test_size must be a fraction in (0, 1) or a count in [1, {n_items - 1}], "
        f"got {test_size!r}")


@dataclass
class Fold:
    """One train/test split: pool and test items (dataset indices) and the initial labels.

    ``initial`` holds positions in ``pool`` (not dataset indices), in labeling order.
    """

    number: int
    pool: np.ndarray
    test: np.ndarray
    initial: np.ndarray


def make_folds(dataset: Dataset, *, folds: int = 16, test_size: float = 0.1,
               split: str = "random", n_init: int = 2, seed: int = 0) -> list[Fold]:
    """The train/test splits and initial labeled sets of a simulation.

    ``split="random"`` uses :class:`~sklearn.model_selection.ShuffleSplit`; ``split="group"``
    uses :class:`~sklearn.model_selection.GroupShuffleSplit` over ``dataset.groups`` (there
    ``test_size`` is a fraction of the groups), so no group straddles pool and test. The
    ``n_init`` initial items of a fold are drawn uniformly from its pool with a generator seeded
    by ``(seed, fold)``, so every strategy starts from the same labels.
    """
    n = len(dataset)
    folds = check_int(folds, "folds", 1)
    n_init = check_int(n_init, "n_init", 1)
    test_size = check_test_size(test_size, n)
    if split == "random":
        splits = ShuffleSplit(n_splits=folds, test_size=test_size, random_state=seed).split(
            np.zeros(n))
    elif split == "group":
        if dataset.groups is None:
            raise InvalidInputError(
                f"split='group' needs item groups, but dataset {dataset.name!r} has none; "
                "use split='random'")
        groups = np.asarray(dataset.groups)
        if len(groups) != n:
            raise InvalidInputError(
                f"dataset {dataset.name!r} has {len(groups)} groups for {n} items")
        splitter = GroupShuffleSplit(n_splits=folds, test_size=test_size, random_state=seed)
        splits = splitter.split(np.zeros(n), groups=groups)
    else:
        raise InvalidInputError(f"split must be one of {SPLITS}, got {split!r}")
    out = []
    for number, (pool, test) in enumerate(splits):
        if n_init > len(pool):
            raise InvalidInputError(
                f"n_init={n_init} is larger than the pool of fold {number} ({len(pool)} items)")
        rng = np.random.default_rng([seed, number])
        initial = rng.choice(len(pool), size=n_init, replace=False)
        out.append(Fold(number, np.sort(pool), np.sort(test), initial))
    return out


def session_seed(seed: int, fold: int) -> int:
    """Seed of the sessions of fold ``fold``: every strategy of a fold gets the same one."""
    return int(np.random.SeedSequence([seed, fold, 1]).generate_state(1)[0])
