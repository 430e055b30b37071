"""Selection strategies: which of the registered scores (U, I, D, ...) multiply into S.

``Strategy.parse("U*I*D", uncertainty="margin", density="knn")``; the letters can come in any
order and case; ``"random"`` is uniform sampling, the baseline every strategy is compared to;
``"auto"`` adapts the mix to the data while labeling (see :mod:`labelwise.engine.auto`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InvalidInputError
from .scorers import DEFAULT_UNCERTAINTY, DENSITY_KINDS, SCORERS, UNCERTAINTY_MEASURES

RANDOM = "random"
AUTO = "auto"


@dataclass(frozen=True)
class Strategy:
    """A selection strategy.

    Parameters
    ----------
    factors : tuple of str
        Enabled score letters in canonical order (U, I, D, then others); empty means random.
    uncertainty : {"least_confidence", "margin", "entropy"}
    density : {"knn", "global"}
    auto : bool
        Choose the fixed strategy (U*I*D or U*D) before every pick from what the labels show,
        instead of using ``factors`` (see :mod:`labelwise.engine.auto`); ``uncertainty`` and
        ``density``
        are the settings of those strategies.
    """

    factors: tuple[str, ...] = ("U", "I", "D")
    uncertainty: str = DEFAULT_UNCERTAINTY
    density: str = "knn"
    auto: bool = False

    def __post_init__(self) -> None:
        if self.uncertainty not in UNCERTAINTY_MEASURES:
            raise InvalidInputError(
                f"uncertainty must be one of {UNCERTAINTY_MEASURES}, got {self.uncertainty!r}")
        if self.density not in DENSITY_KINDS:
            raise InvalidInputError(
                f"density must be one of {DENSITY_KINDS}, got {self.density!r}")
        unknown = [f for f in self.factors if f not in SCORERS]
        if unknown:
            raise InvalidInputError(
                f"unknown score letter(s) {unknown}; known: {sorted(SCORERS)} or 'random'")

    @classmethod
    def parse(cls, spec: str | Strategy, *, uncertainty: str = DEFAULT_UNCERTAINTY,
              density: str = "knn") -> Strategy:
        """Build a strategy from text such as ``"U*I*D"``, ``"u*d"``, ``"random"`` or ``"auto"``."""
        if isinstance(spec, Strategy):
            return spec
        if not isinstance(spec, str) or not spec.strip():
            raise InvalidInputError(f"a strategy is text like 'U*I*D' or 'random', got {spec!r}")
        text = spec.strip()
        if text.lower() == RANDOM:
            return cls((), uncertainty, density)
        if text.lower() == AUTO:
            return cls(("U", "I", "D"), uncertainty, density, auto=True)
        letters = [part.strip().upper() for part in text.split("*")]
        if "" in letters or len(set(letters)) != len(letters):
            raise InvalidInputError(
                f"cannot read strategy {spec!r}: write distinct letters joined by '*', "
                "e.g. 'U*I*D'")
        order = {letter: n for n, letter in enumerate(SCORERS)}
        factors = tuple(sorted(letters, key=lambda f: order.get(f, len(order))))
        return cls(factors, uncertainty, density)

    @property
    def is_random(self) -> bool:
        return not self.factors

    @property
    def name(self) -> str:
        """Short name: ``"U*I*D"``, ``"random"`` or ``"auto"``."""
        if self.auto:
            return AUTO
        return "*".join(self.factors) if self.factors else RANDOM

    @property
    def label(self) -> str:
        """Name with the settings that matter for it, e.g. ``"U*I*D (margin, knn)"``."""
        details = []
        if self.auto:
            return f"{AUTO} ({self.uncertainty}, {self.density} density)"
        if "U" in self.factors:
            details.append(self.uncertainty)
        if "I" in self.factors:
            details.append(f"{self.density} density")
        return self.name + (f" ({', '.join(details)})" if details else "")

    def __str__(self) -> str:
        return self.label
