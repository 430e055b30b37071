"""One exception family for everything a user can get wrong.

Every error the engine raises on purpose is a :class:`LabelwiseError`, with a message that names
the problem and the place (row, column, file) so the user can act on it. Subclasses also derive
from the matching built-in exception, so ``except ValueError`` keeps working for callers that
follow scikit-learn's conventions.

:class:`NotFittedError` also derives from scikit-learn's ``NotFittedError``, so that
``except sklearn.exceptions.NotFittedError`` and scikit-learn's estimator checks recognise it.
It is built on first use (PEP 562 ``__getattr__``): importing scikit-learn costs about a second,
and ``import labelwise`` must not pay it for a session that never builds a classifier.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any


class LabelwiseError(Exception):
    """Base class of all errors raised by labelwise on purpose."""


class InvalidInputError(LabelwiseError, ValueError):
    """Input data (vectors, labels, files, options) is malformed."""


class EmptyPoolError(LabelwiseError, LookupError):
    """A suggestion was asked for but no unlabeled item is left."""


class UnknownItemError(LabelwiseError, IndexError):
    """An item index is outside the pool, or the item is not in the expected state."""


class SimulationStopped(LabelwiseError):
    """A simulation's ``should_stop`` hook asked it to stop.

    Attributes
    ----------
    results : pandas.DataFrame or None
        The runs (strategy x fold) that had finished, in :func:`labelwise.simulate`'s format;
        None when none had.
    done, total : int
        Finished runs, and runs planned.
    """

    def __init__(self, results: Any, done: int, total: int) -> None:
        super().__init__(f"the simulation was stopped after {done} of {total} strategy x fold "
                         "runs")
        self.results, self.done, self.total = results, done, total


def _not_fitted_error() -> type[Exception]:
    from sklearn.exceptions import NotFittedError as SklearnNotFittedError

    class NotFittedError(LabelwiseError, SklearnNotFittedError):
        """A classifier was used before ``fit``."""

    NotFittedError.__module__ = __name__
    return NotFittedError


if TYPE_CHECKING:  # type checkers see a plain class; at run time it is built on first use
    from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

    class NotFittedError(LabelwiseError, _SklearnNotFittedError):
        """A classifier was used before ``fit``."""


def __getattr__(name: str) -> Any:
    if name == "NotFittedError":
        # setdefault: two threads racing here still end up sharing one class.
        return globals().setdefault(name, _not_fitted_error())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def describe_rows(rows, limit: int = 5) -> str:
    """Name offending rows compactly: ``rows 3, 17, 42 and 9 more``."""
    rows = [int(r) for r in rows]
    shown = ", ".join(str(r) for r in rows[:limit])
    more = len(rows) - limit
    noun = "row" if len(rows) == 1 else "rows"
    return f"{noun} {shown}" + (f" and {more} more" if more > 0 else "")
