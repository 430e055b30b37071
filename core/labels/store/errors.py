"""What can go wrong with a label store, each with its own exception (and its own advice)."""

from __future__ import annotations

from ...errors import LabelwiseError


class StoreError(LabelwiseError):
    """Something about the labeling store (file, server, project) is wrong."""


class CorruptStoreError(StoreError):
    """The store is not a readable labelwise store; it was left untouched."""


class ReadOnlyStoreError(StoreError):
    """The store can be read but not written (read-only file, folder or mount).

    Its labels are intact; nothing was written. Reading still works.
    """


class StoreBusyError(StoreError):
    """Other writers kept the store locked for longer than the store is willing to wait."""


class ProjectNotFoundError(StoreError, LookupError):
    """No project of that name in the store."""


class ProjectExistsError(StoreError):
    """A project of that name already exists."""
