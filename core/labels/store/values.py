"""The values a store accepts and returns: checks on the way in, typed tables on the way out.

Both backends share these, so a label, an item id or a labeler's name is refused (or kept) the
same way whichever database holds it.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from ...errors import InvalidInputError

ACTIONS = ("label", "unlabel", "skip")


def now_text() -> str:
    """The current time in UTC, ISO 8601 with microseconds (how events record ``at``)."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def plain_label(label: Any) -> str | int | float:
    """A label as a value both databases store and return unchanged (str, int or float)."""
    if isinstance(label, np.generic):
        label = label.item()
    if isinstance(label, bool) or not isinstance(label, (str, int, float)):
        raise InvalidInputError(
            f"a label must be a string or a number, got {label!r} ({type(label).__name__})")
    if isinstance(label, float) and not np.isfinite(label):
        raise InvalidInputError(f"a label must be a finite number, got {label!r}")
    if isinstance(label, str) and not label.strip():
        raise InvalidInputError("a label must not be empty or blank")
    return label


def item_key(item_id: Any) -> str:
    """An item id as the text the store keys it by."""
    if isinstance(item_id, np.generic):
        item_id = item_id.item()
    if isinstance(item_id, bool) or not isinstance(item_id, (str, int)):
        raise InvalidInputError(f"an item id must be a string or an integer, got {item_id!r}")
    key = str(item_id)
    if not key:
        raise InvalidInputError("an item id must not be empty")
    return key


def check_who(who: Any) -> str:
    """The labeler's name, stripped; refuses an empty one."""
    if not isinstance(who, str) or not who.strip():
        raise InvalidInputError(f"'who' must name the labeler (a non-empty string), got {who!r}")
    return who.strip()


def check_action(action: Any, label: Any) -> str | int | float | None:
    """The label to store with ``action``: required for ``label``, refused otherwise."""
    if action not in ACTIONS:
        raise InvalidInputError(f"action must be one of {', '.join(ACTIONS)}, got {action!r}")
    if action == "label":
        return plain_label(label)
    if label is not None:
        raise InvalidInputError(f"a {action!r} event takes no label, got {label!r}")
    return None


def check_project_name(name: Any) -> str:
    """A project name, stripped; at most 200 characters."""
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise InvalidInputError(
            f"a project name must be a non-empty string of at most 200 characters, "
            f"got {name!r}")
    return name.strip()


def check_ttl(ttl_seconds: float) -> float:
    """A reservation's lifetime in seconds: positive and finite."""
    if not np.isfinite(ttl_seconds) or ttl_seconds <= 0:
        raise InvalidInputError(f"ttl_seconds must be a positive number, got {ttl_seconds!r}")
    return float(ttl_seconds)


def frame(rows: list[tuple], columns: list[str]) -> pd.DataFrame:
    """A DataFrame that keeps labels' Python types (object columns, no coercion)."""
    if not rows:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    data = {c: [r[n] for r in rows] for n, c in enumerate(columns)}
    table = pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in data.items()})
    for c in ("event_id", "id"):
        if c in table:
            table[c] = table[c].astype(np.int64)
    if "until" in table:
        table["until"] = table["until"].astype(np.float64)
    return table
