"""The dataset catalog: built-in packs by name, pack folders, or users' files, in one call.

This sits on top of the data layer: it imports the pack reader and the user-file loaders, and
nothing in the data layer imports it.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InvalidInputError
from . import packs
from .datasets import Dataset
from .loaders import load_user_data
from .paths import packs_dir


def load_dataset(name_or_path: str | Path) -> Dataset:
    """Load a built-in pack by name (``fruits``, ``sentiment140``, ``sentiment140-e5``,
    ``digits``, ``moons``), a pack folder by path, or any other file or folder through
    :func:`labelwise.data.loaders.load_user_data` (columns guessed).

    A pack's dataset carries the graph and density it stores (:attr:`Dataset.graph`,
    :attr:`Dataset.density`, read on first use); :meth:`Dataset.pool_parts` builds and caches
    them for other datasets.

    Parameters
    ----------
    name_or_path : str or Path
        A name from :func:`list_datasets`, a folder holding ``metadata.json``, or a user file.

    Returns
    -------
    Dataset
        float32 vectors, string labels (or None), items with an ``id`` column.

    Raises
    ------
    InvalidInputError
        If the name is neither a built-in pack nor a pack folder.
    """
    path = Path(name_or_path)
    if (path / "metadata.json").is_file():
        return packs.read_pack(path)
    builtin = packs_dir() / str(name_or_path)
    if "/" not in str(name_or_path) and (builtin / "metadata.json").is_file():
        return packs.read_pack(builtin)
    if path.exists():
        return load_user_data(path)
    known = ", ".join(packs.available_packs()) or "none found in " + str(packs_dir())
    raise InvalidInputError(
        f"no dataset {str(name_or_path)!r}: not a built-in pack (available: {known}), not a "
        "pack folder and not an existing file or folder"
    )


def list_datasets() -> list[str]:
    """Names of the built-in packs that :func:`load_dataset` can load."""
    return packs.available_packs()
