"""Selection strategies: a product of scorer instances, random sampling, or auto.

``Strategy.parse("U*I*D", uncertainty="margin", density="knn")`` builds the scorers of the
letters (any order and case) from the registry with those settings; ``"random"`` is uniform
sampling, the baseline every strategy is compared to; ``"auto"`` adapts the mix to the data
while labeling (see :mod:`labelwise.engine.auto`). A strategy holds its scorer *instances*, so it
pickles with them: a worker process that unpickles it needs no registry, only the scorers'
modules (imported by pickle itself).

:func:`expand_strategies` is the one place where several specs and settings turn into a list of
strategies (for ``simulate``, the CLI and the dashboard's Compare page).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations

from ..errors import InvalidInputError
from .scorers import (
    BUILT_IN,
    DEFAULT_DENSITY,
    DEFAULT_UNCERTAINTY,
    SCORERS,
    Scorer,
    check_density,
    check_uncertainty,
)

RANDOM = "random"
AUTO = "auto"


def _letters_to_scorers(letters: Iterable[str], uncertainty: str, density: str
                        ) -> tuple[Scorer, ...]:
    unknown = [f for f in letters if f not in SCORERS]
    if unknown:
        raise InvalidInputError(
            f"unknown score letter(s) {unknown}; known: {sorted(SCORERS)} or 'random'")
    return tuple(SCORERS[f].from_settings(uncertainty, density) for f in letters)


def _default_scorers() -> tuple[Scorer, ...]:
    return _letters_to_scorers(BUILT_IN, DEFAULT_UNCERTAINTY, DEFAULT_DENSITY)


def _canonical_order(scorer: Scorer) -> tuple[int, str]:
    order = list(SCORERS)
    letter = scorer.letter
    return (order.index(letter) if letter in order else len(order), letter)


@dataclass(frozen=True)
class Strategy:
    """A selection strategy.

    Parameters
    ----------
    scorers : tuple of Scorer
        The scorers whose pool CDFs multiply into S, kept in canonical order (registration
        order: U, I, D, then others); empty means random sampling.
    auto : bool
        Choose the product (U*I*D or U*D) before every pick from what the labels show, instead
        of using ``scorers`` (see :mod:`labelwise.engine.auto`); ``scorers`` are then U, I, D.
    uncertainty : {"least_confidence", "margin", "entropy"}
        Measure of scorers built from letters that need one (U); a U scorer among ``scorers``
        sets it.
    density : {"knn", "global"}
        Kind of scorers built from letters that need one (I); an I scorer among ``scorers``
        sets it.
    """

    scorers: tuple[Scorer, ...] = field(default_factory=_default_scorers)
    auto: bool = False
    uncertainty: str = DEFAULT_UNCERTAINTY
    density: str = DEFAULT_DENSITY

    def __post_init__(self) -> None:
        scorers = tuple(self.scorers)
        bad = [s for s in scorers if not isinstance(s, Scorer)]
        if bad:
            raise InvalidInputError(f"a strategy's scorers are Scorer instances, got {bad}")
        letters = [s.letter for s in scorers]
        if len(set(letters)) != len(letters):
            raise InvalidInputError(f"a strategy uses each letter once, got {letters}")
        object.__setattr__(self, "scorers", tuple(sorted(scorers, key=_canonical_order)))
        # The scorers own their parameters: the settings follow them.
        for scorer in scorers:
            if scorer.setting in ("uncertainty", "density"):
                object.__setattr__(self, scorer.setting, scorer.setting_value)
        check_uncertainty(self.uncertainty)
        check_density(self.density)
        if self.auto and self.factors != BUILT_IN:
            raise InvalidInputError(f"auto switches between products of U, I and D; "
                                    f"got the scorers {self.factors}")

    @classmethod
    def parse(cls, spec: str | Strategy, *, uncertainty: str = DEFAULT_UNCERTAINTY,
              density: str = DEFAULT_DENSITY) -> Strategy:
        """Build a strategy from text such as ``"U*I*D"``, ``"u*d"``, ``"random"`` or ``"auto"``.

        A :class:`Strategy` is returned as it is.
        """
        if isinstance(spec, Strategy):
            return spec
        if not isinstance(spec, str) or not spec.strip():
            raise InvalidInputError(f"a strategy is text like 'U*I*D' or 'random', got {spec!r}")
        check_uncertainty(uncertainty)
        check_density(density)
        text = spec.strip()
        if text.lower() == RANDOM:
            return cls((), uncertainty=uncertainty, density=density)
        if text.lower() == AUTO:
            return cls(_letters_to_scorers(BUILT_IN, uncertainty, density), auto=True,
                       uncertainty=uncertainty, density=density)
        letters = [part.strip().upper() for part in text.split("*")]
        if "" in letters or len(set(letters)) != len(letters):
            raise InvalidInputError(
                f"cannot read strategy {spec!r}: write distinct letters joined by '*', "
                "e.g. 'U*I*D'")
        return cls(_letters_to_scorers(letters, uncertainty, density),
                   uncertainty=uncertainty, density=density)

    @property
    def factors(self) -> tuple[str, ...]:
        """Letters of the scorers, in canonical order (empty for random)."""
        return tuple(s.letter for s in self.scorers)

    @property
    def is_random(self) -> bool:
        return not self.scorers

    def scorer(self, letter: str) -> Scorer:
        """The strategy's scorer for ``letter``, or the registered one under its settings."""
        for scorer in self.scorers:
            if scorer.letter == letter:
                return scorer
        return _letters_to_scorers([letter], self.uncertainty, self.density)[0]

    def without(self, *letters: str) -> Strategy:
        """The fixed product of this strategy's scorers except ``letters``."""
        return Strategy(tuple(s for s in self.scorers if s.letter not in letters),
                        uncertainty=self.uncertainty, density=self.density)

    @property
    def name(self) -> str:
        """Short name: ``"U*I*D"``, ``"random"`` or ``"auto"``."""
        if self.auto:
            return AUTO
        return "*".join(self.factors) if self.factors else RANDOM

    @property
    def label(self) -> str:
        """Name with the settings that matter for it, e.g. ``"U*I*D (margin, knn density)"``."""
        details = [text for text in (s.describe() for s in self.scorers) if text]
        return self.name + (f" ({', '.join(details)})" if details else "")

    def __str__(self) -> str:
        return self.label


def product_names(letters: Sequence[str] | None = None) -> list[str]:
    """Every product of the registered letters (or of ``letters``), largest first.

    Examples
    --------
    >>> product_names(["U", "I", "D"])
    ['U*I*D', 'U*I', 'U*D', 'I*D', 'U', 'I', 'D']
    """
    letters = list(SCORERS) if letters is None else list(letters)
    return ["*".join(combo) for size in range(len(letters), 0, -1)
            for combo in combinations(letters, size)]


def _as_list(values: str | Iterable[str], default: str) -> list[str]:
    if isinstance(values, str):
        values = values.split(",")
    out = [v.strip() for v in values if v.strip()]
    return out or [default]


def expand_strategies(strategies, *, uncertainty: str | Iterable[str] = DEFAULT_UNCERTAINTY,
                      density: str | Iterable[str] = DEFAULT_DENSITY) -> list[Strategy]:
    """Turn strategy specs and settings into the distinct strategies they name.

    Parameters
    ----------
    strategies : str, Strategy or iterable of them
        ``"U*I*D"``, ``"random"``, ``"auto"``, comma-separated text such as ``"random,U"``, or
        :class:`Strategy` objects (kept as they are).
    uncertainty, density : str or iterable of str
        Settings (or comma-separated lists of them) for specs given as text. Each text spec is
        read once per combination of settings; strategies that come out the same (a spec
        without U does not depend on the measure) are kept once.

    Returns
    -------
    list of Strategy
        Unique by :attr:`Strategy.label`, in the order given (specs, then measures, then
        density kinds).

    Examples
    --------
    >>> [s.label for s in expand_strategies("U*D,D", uncertainty="margin,entropy")]
    ['U*D (margin)', 'U*D (entropy)', 'D']
    """
    if isinstance(strategies, (str, Strategy)):
        strategies = [strategies]
    measures = [check_uncertainty(m) for m in _as_list(uncertainty, DEFAULT_UNCERTAINTY)]
    kinds = [check_density(k) for k in _as_list(density, DEFAULT_DENSITY)]
    found: dict[str, Strategy] = {}
    for spec in strategies:
        specs = _as_list(spec, "") if isinstance(spec, str) else [spec]
        for one in specs:
            if not one:
                continue
            for measure in measures:
                for kind in kinds:
                    strategy = Strategy.parse(one, uncertainty=measure, density=kind)
                    found.setdefault(strategy.label, strategy)
    if not found:
        raise InvalidInputError("give at least one strategy, e.g. 'U*I*D' or 'random'")
    return list(found.values())
