"""One exception family for everything a user can get wrong.

Every error the engine raises on purpose is a :class:`LabelwiseError`, with a message that names
the problem and the place (row, column, file) so the user can act on it. Subclasses also derive
from the matching built-in exception, so ``except ValueError`` keeps working for callers that
follow scikit-learn's conventions.
"""

from __future__ import annotations

from sklearn.exceptions import NotFittedError as _SklearnNotFittedError


class LabelwiseError(Exception):
    """Base class of all errors raised by labelwise on purpose."""


class InvalidInputError(LabelwiseError, ValueError):
    """Input data (vectors, labels, files, options) is malformed."""


class EmptyPoolError(LabelwiseError, LookupError):
    """A suggestion was asked for but no unlabeled item is left."""


class UnknownItemError(LabelwiseError, IndexError):
    """An item index is outside the pool, or the item is not in the expected state."""


class NotFittedError(LabelwiseError, _SklearnNotFittedError):
    """A classifier was used before ``fit``."""


def describe_rows(rows, limit: int = 5) -> str:
    """Name offending rows compactly: ``rows 3, 17, 42 and 9 more``."""
    rows = [int(r) for r in rows]
    shown = ", ".join(str(r) for r in rows[:limit])
    more = len(rows) - limit
    noun = "row" if len(rows) == 1 else "rows"
    return f"{noun} {shown}" + (f" and {more} more" if more > 0 else "")
