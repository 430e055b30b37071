"""Wiring of the Label page to the label store (issue 6).

Until ``core.store`` exists this is a no-op: labels live in the tab's session only.
"""

from __future__ import annotations


def attach_store(desk, source) -> None:
    """Give ``desk`` a recorder that commits every action to the store (when available)."""


def sync_desk(desk) -> None:
    """Bring in labels recorded by other labelers since the last run (when available)."""
