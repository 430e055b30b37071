"""Simulation results: the table's columns and order, and saving and loading it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import InvalidInputError

COLUMNS = ["strategy", "fold", "n_labeled", "model", "accuracy", "f1", "classes_seen",
           "seconds", "stop_at", "accuracy_at_stop"]


def tidy(frame: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """Rows ordered by strategy (as in ``order``), fold and labeled count; typed columns."""
    rank = {label: n for n, label in enumerate(order)}
    frame = frame.assign(_rank=frame["strategy"].map(rank))
    frame = frame.sort_values(["_rank", "fold", "n_labeled"], kind="stable")
    frame = frame.drop(columns="_rank").reset_index(drop=True)
    return frame.astype({"fold": "int64", "n_labeled": "int64",
                         "accuracy": "float64", "f1": "float64", "classes_seen": "int64",
                         "seconds": "float64", "stop_at": "float64",
                         "accuracy_at_stop": "float64"})[COLUMNS]


def save_results(results: pd.DataFrame, path) -> Path:
    """Write simulation results to ``.csv`` or ``.parquet`` (by the file's suffix)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise InvalidInputError(f"results can be saved as .csv or .parquet, not {path.name!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        results.to_csv(path, index=False)
    else:
        results.to_parquet(path, index=False)
    return path


def load_results(path) -> pd.DataFrame:
    """Read results written by :func:`save_results`."""
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    if path.suffix.lower() == ".csv":
        return pd.read_csv(path)
    raise InvalidInputError(f"results can be read from .csv or .parquet, not {path.name!r}")
