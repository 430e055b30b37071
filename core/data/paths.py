"""Where labelwise finds its own files: the project's ``data/`` folder and the packs in it."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """The project's ``data/`` folder (``LABELWISE_PACKS_DIR`` overrides it).

    Not ``LABELWISE_DATA_DIR``: that one moves the labeling store (see
    :mod:`labelwise.labels.store`).
    """
    override = os.environ.get("LABELWISE_PACKS_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "data"


def packs_dir() -> Path:
    """Folder holding the built-in packs, ``data/packs``."""
    return data_dir() / "packs"
