"""How long embedding will take, so a user interface can say so and ask before long work.

The rates are measured, not guessed: ``benchmarks/encoders.py`` on the 2-core reference machine,
one thread, items not yet cached (``benchmarks/results/encoders.md``; rerun it and update these
figures when the encoders change). Cached items cost next to nothing and are not counted.
"""

from __future__ import annotations

from ..errors import InvalidInputError

# Items embedded per second, from benchmarks/results/encoders.md ("embed items/s", 1 thread).
# Rerun of 2026-12-02 01:32 UTC on a quiet machine (load average 1.7), e5_small added.
ITEMS_PER_SECOND = {"mobilenet_v2": 120.0, "use": 840.5, "e5_small": 25.1}
ITEM_NOUNS = {"mobilenet_v2": ("image", "images"), "use": ("text", "texts"),
              "e5_small": ("text", "texts")}


def embedding_seconds(encoder: str, n_items: int) -> float | None:
    """Seconds ``encoder`` needs to embed ``n_items`` new items; None when never measured.

    Parameters
    ----------
    encoder : str
        ``"mobilenet_v2"``, ``"use"`` or ``"e5_small"``; other encoders (``tfhub:...``) have
        no measured rate.
    n_items : int
        Items to embed (not already in the embedding cache).
    """
    if n_items < 0:
        raise InvalidInputError(f"n_items must be 0 or more, got {n_items}")
    rate = ITEMS_PER_SECOND.get(encoder)
    return None if rate is None else n_items / rate


def describe_embedding_time(encoder: str, n_items: int) -> str:
    """A sentence such as ``"about 38 minutes to embed 1,000,000 texts"``.

    Encoders without a measured rate get ``"an unknown time to embed ..."``, so the caller can
    still show the size of the job.
    """
    singular, plural = ITEM_NOUNS.get(encoder, ("item", "items"))
    what = f"{n_items:,} {singular if n_items == 1 else plural}"
    seconds = embedding_seconds(encoder, n_items)
    if seconds is None:
        return f"an unknown time to embed {what} with {encoder} (its speed was never measured)"
    return f"{_duration(seconds)} to embed {what}"


def _duration(seconds: float) -> str:
    if seconds < 1:
        return "under a second"
    if seconds < 90:
        return f"about {_count(round(seconds), 'second')}"
    if seconds < 90 * 60:
        return f"about {_count(round(seconds / 60), 'minute')}"
    hours = seconds / 3600
    if hours < 10:
        return f"about {hours:.1f} hours"
    return f"about {_count(round(hours), 'hour')}"


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
