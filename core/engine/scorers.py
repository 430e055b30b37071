"""Scorers: the raw per-item quantities u (uncertainty), i (density) and d (diversity), and more.

A scorer is one small class registered under a capital letter; a strategy multiplies the
empirical CDFs of its scorers. A scorer instance owns its parameters (the uncertainty scorer its
measure, the density scorer its kind), so a :class:`~labelwise.Strategy` holding scorer
instances carries everything it needs, also into joblib or dask workers. To add one, in a
module of your own (``my_scorers.py``)::

    import numpy as np
    from labelwise import Scorer, register_scorer

    @register_scorer
    class NoveltyScorer(Scorer):
        # n: how far an item is from its nearest labeled item, squared
        letter, column, title, mode = "N", "n", "novelty", "dynamic"

        def compute(self, view, rows=None):
            far = np.where(np.isfinite(view.max_sim), 1.0 - view.max_sim, 2.0)
            return far.astype(np.float64) ** 2  # one value per item, higher = more worth labeling

Then ``Strategy.parse("U*N")`` works in a session; ``labelwise simulate --scorers my_scorers
--strategies U*N`` and the dashboard (``LABELWISE_SCORERS=my_scorers labelwise dashboard``) load
the module with :func:`load_scorer_modules` and list the new letter.

``compute(view, rows)`` reads the labeled state through a read-only
:class:`~labelwise.engine.view.LabeledView` and returns one finite value per item (labeled items
included: their values are ignored, the CDFs run over the pool). ``mode`` tells the session how
to cache: ``static`` values depend on the pool only (computed once, sorted once);
``incremental`` values change only on rows whose labeled neighbourhood changed (``rows`` is then
the array of rows to recompute, None meaning all); ``dynamic`` values are recomputed on every
call, so they must cost O(N).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..errors import InvalidInputError
from . import knn
from .index import LARGE_POOL, global_density, knn_density, sampled_knn_density
from .vectors import as_unit_rows

if TYPE_CHECKING:
    from .view import LabeledView

UNCERTAINTY_MEASURES = ("least_confidence", "margin", "entropy")
# The project default: on fruits, U*I*D with margin needs 2.09x (random split) and 2.49x (group
# split) fewer labels than random to reach 0.90, least confidence 1.78x and 2.44x; on two-class
# tweets all three rank items the same (benchmarks/results/reference_summary.md).
DEFAULT_UNCERTAINTY = "margin"
DENSITY_KINDS = ("knn", "global")
DEFAULT_DENSITY = "knn"
DENSITY_NEIGHBORS = 10
MODES = ("static", "incremental", "dynamic")
#: Environment variable naming modules of user scorers, comma-separated (see
#: :func:`load_scorer_modules`).
SCORERS_ENV = "LABELWISE_SCORERS"
# Letters the session's score table uses for itself.
RESERVED_LETTERS = frozenset("S")


class Scorer:
    """Base class of a raw score; subclasses set ``letter``, ``column``, ``title``, ``mode``.

    Attributes
    ----------
    letter : str
        One capital letter: the scorer's name in strategies (``"U*N"``) and its CDF column.
    column : str
        Name of the raw values' column in :meth:`LabelingSession.scores`.
    title : str
        A few words for people (the dashboard's checkbox help and charts).
    mode : {"static", "incremental", "dynamic"}
        How the values may be cached (see the module docstring).
    setting : {"uncertainty", "density"} or None
        The strategy setting (:meth:`Strategy.parse`'s keyword) this scorer's one parameter
        comes from, for scorers built from a letter; None if it has none.
    """

    letter: ClassVar[str]
    column: ClassVar[str]
    title: ClassVar[str] = ""
    mode: ClassVar[str] = "dynamic"
    setting: ClassVar[str | None] = None

    @classmethod
    def from_settings(cls, uncertainty: str = DEFAULT_UNCERTAINTY,
                      density: str = DEFAULT_DENSITY) -> Scorer:
        """The scorer a strategy's letter stands for, under the strategy's settings."""
        return cls()

    @property
    def params(self) -> dict[str, Any]:
        """The scorer's parameters (what its values depend on besides the labeled state)."""
        return {}

    @property
    def setting_value(self) -> str | None:
        """Value of :attr:`setting` held by this scorer (None without a setting)."""
        return None

    @property
    def cache_key(self) -> tuple:
        """Settings the cached values depend on; a change of key means recompute."""
        return (type(self), *sorted(self.params.items()))

    def describe(self) -> str:
        """The parameter a strategy's label shows (e.g. ``"margin"``); empty for none."""
        return ""

    def compute(self, view: LabeledView, rows: np.ndarray | None = None) -> np.ndarray:
        """One float per item (``rows`` only, when given), higher = more worth labeling."""
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Scorer) and self.cache_key == other.cache_key

    def __hash__(self) -> int:
        return hash(self.cache_key)

    def __repr__(self) -> str:
        args = ", ".join(f"{name}={value!r}" for name, value in self.params.items())
        return f"{type(self).__name__}({args})"


SCORERS: dict[str, type[Scorer]] = {}


def registered_scorers() -> dict[str, type[Scorer]]:
    """The registered scorer classes by letter, in registration order (U, I, D first)."""
    return dict(SCORERS)


def register_scorer(cls: type[Scorer]) -> type[Scorer]:
    """Class decorator: make a scorer available to :meth:`Strategy.parse` by its letter.

    Raises
    ------
    InvalidInputError
        If the letter is not one capital letter, is reserved (``S``), or is taken by another
        scorer, or the column or mode is invalid. Registering the same class again (or the
        same class of a reloaded module) is allowed.
    """
    _check_scorer_class(cls)
    taken = SCORERS.get(cls.letter)
    if taken is not None and not _same_class(taken, cls):
        raise InvalidInputError(
            f"scorer letter {cls.letter!r} is taken by {_class_name(taken)}; give "
            f"{_class_name(cls)} another letter (taken: {', '.join(SCORERS)})")
    for other in SCORERS.values():
        if other.column == cls.column and not _same_class(other, cls):
            raise InvalidInputError(
                f"scorer column {cls.column!r} is taken by {_class_name(other)}")
    SCORERS[cls.letter] = cls
    return cls


def unregister_scorer(letter: str) -> type[Scorer]:
    """Remove the scorer registered under ``letter`` (e.g. a test's) and return its class."""
    try:
        return SCORERS.pop(letter)
    except KeyError:
        raise InvalidInputError(f"no scorer is registered under {letter!r}") from None


def _check_scorer_class(cls) -> None:
    if not (isinstance(cls, type) and issubclass(cls, Scorer)):
        raise InvalidInputError(f"a scorer is a subclass of labelwise.Scorer, got {cls!r}")
    letter = getattr(cls, "letter", None)
    if not (isinstance(letter, str) and len(letter) == 1 and "A" <= letter <= "Z"):
        raise InvalidInputError(
            f"scorer {cls.__name__} needs a letter, one capital A-Z, got {letter!r}")
    if letter in RESERVED_LETTERS:
        raise InvalidInputError(f"scorer letter {letter!r} is reserved for the product S")
    column = getattr(cls, "column", None)
    if not (isinstance(column, str) and column.isidentifier() and column.islower()):
        raise InvalidInputError(
            f"scorer {cls.__name__} needs a column, a lower-case name, got {column!r}")
    if cls.mode not in MODES:
        raise InvalidInputError(f"scorer {cls.__name__} has unknown mode {cls.mode!r}")


def _same_class(a: type, b: type) -> bool:
    # A reloaded module defines a new class object under the same name: that is no clash.
    return a is b or (a.__module__, a.__qualname__) == (b.__module__, b.__qualname__)


def _class_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def load_scorer_modules(modules: str | Iterable[str] | None = None) -> list[str]:
    """Import modules that register scorers, so their letters can be used by name.

    Parameters
    ----------
    modules : str or iterable of str, optional
        Module names (``"my_scorers"`` or ``"pkg.scorers,other"``); by default the
        ``LABELWISE_SCORERS`` environment variable. The modules must be importable (on
        ``sys.path`` or ``PYTHONPATH``).

    Returns
    -------
    list of str
        The modules imported.

    Raises
    ------
    InvalidInputError
        If a module cannot be imported.
    """
    if modules is None:
        modules = os.environ.get(SCORERS_ENV, "")
    if isinstance(modules, str):
        modules = modules.split(",")
    names = [name.strip() for name in modules if name.strip()]
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise InvalidInputError(
                f"cannot import scorer module {name!r} ({exc}); is its folder on PYTHONPATH?"
            ) from exc
    return names


def pool_density(vectors: np.ndarray, kind: str = DEFAULT_DENSITY, *,
                 normalize: bool = False) -> np.ndarray:
    """Density ``i`` of every item of a pool: ``knn`` or ``global``.

    ``knn``: mean similarity to the 10 nearest other pool items
    (:func:`~labelwise.engine.index.knn_density`); above
    :data:`~labelwise.engine.index.LARGE_POOL` items, to the 10 nearest of a fixed reference
    sample (:func:`~labelwise.engine.index.sampled_knn_density`: seconds instead of minutes; a
    session there swaps in the pool graph's exact density once its background build is done).
    ``global``: minus the mean distance to every pool item
    (:func:`~labelwise.engine.index.global_density`). The rows must be unit vectors,
    unless ``normalize`` (then they are validated and normalised as a session does, so the
    values equal the session's own and can be passed as its ``density_values``).
    """
    check_density(kind)
    if normalize:
        vectors = as_unit_rows(vectors, name="vectors")
    if kind == "knn":
        if len(vectors) > LARGE_POOL:
            return sampled_knn_density(vectors, DENSITY_NEIGHBORS)
        return knn_density(vectors, DENSITY_NEIGHBORS)
    return global_density(vectors)


def check_uncertainty(measure: str) -> str:
    if measure not in UNCERTAINTY_MEASURES:
        raise InvalidInputError(
            f"uncertainty must be one of {UNCERTAINTY_MEASURES}, got {measure!r}")
    return measure


def check_density(kind: str) -> str:
    if kind not in DENSITY_KINDS:
        raise InvalidInputError(f"density must be one of {DENSITY_KINDS}, got {kind!r}")
    return kind


@register_scorer
class UncertaintyScorer(Scorer):
    """u from the class probabilities of the session's model (the kNN vote, or the graph
    model's label spreading): least confidence, margin or entropy."""

    letter, column, title, mode, setting = "U", "u", "uncertainty", "incremental", "uncertainty"

    def __init__(self, measure: str = DEFAULT_UNCERTAINTY) -> None:
        self.measure = check_uncertainty(measure)

    @classmethod
    def from_settings(cls, uncertainty: str = DEFAULT_UNCERTAINTY,
                      density: str = DEFAULT_DENSITY) -> Scorer:
        return cls(uncertainty)

    @property
    def params(self) -> dict[str, Any]:
        return {"measure": self.measure}

    @property
    def setting_value(self) -> str:
        return self.measure

    def describe(self) -> str:
        return self.measure

    def compute(self, view: LabeledView, rows: np.ndarray | None = None) -> np.ndarray:
        return knn.uncertainty(view.proba(rows), self.measure)


@register_scorer
class DensityScorer(Scorer):
    """i: mean similarity to the 10 nearest other pool items (knn), or -mean distance (global)."""

    letter, column, title, mode, setting = "I", "i", "density", "static", "density"

    def __init__(self, kind: str = DEFAULT_DENSITY) -> None:
        self.kind = check_density(kind)

    @classmethod
    def from_settings(cls, uncertainty: str = DEFAULT_UNCERTAINTY,
                      density: str = DEFAULT_DENSITY) -> Scorer:
        return cls(density)

    @property
    def params(self) -> dict[str, Any]:
        return {"kind": self.kind}

    @property
    def setting_value(self) -> str:
        return self.kind

    def describe(self) -> str:
        return f"{self.kind} density"

    def compute(self, view: LabeledView, rows: np.ndarray | None = None) -> np.ndarray:
        return pool_density(view.vectors, self.kind)


@register_scorer
class DiversityScorer(Scorer):
    """d = 1 - max similarity to a labeled item; 1 when nothing is labeled."""

    letter, column, title, mode = "D", "d", "diversity", "dynamic"

    def compute(self, view: LabeledView, rows: np.ndarray | None = None) -> np.ndarray:
        max_sim = view.max_sim
        if not np.isfinite(max_sim).any():
            return np.ones(len(max_sim))
        return 1.0 - max_sim.astype(np.float64)


BUILT_IN = ("U", "I", "D")
