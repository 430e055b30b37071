"""LabelStore: the store's operations (projects, events, current labels, reservations,
disagreements), written once over the two backends (:mod:`.sqlite`, :mod:`.postgres`).

Every change is one short transaction: the event and the current label it implies are written
together, so they can never disagree. Writers of one project take its lock first
(:meth:`.backend.Transaction.serialize`): event ids then grow in commit order within a project,
which is what lets :meth:`LabelStore.labels_changed_since` pick up everybody's work by id, and
reservations are granted one caller at a time, so never twice.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ...errors import InvalidInputError, UnknownItemError
from .backend import Backend, Transaction
from .errors import ProjectExistsError, ProjectNotFoundError
from .location import STORE_ENV, is_postgres_url
from .values import (
    check_action,
    check_project_name,
    check_ttl,
    check_who,
    frame,
    item_key,
    now_text,
)

#: The lock key project creation takes (project ids start at 1).
_PROJECTS_LOCK = 0


@dataclass(frozen=True)
class Project:
    """A labeling project as stored: which dataset it labels and with which settings."""

    id: int
    name: str
    dataset_id: str
    fingerprint: str
    settings: dict
    created_at: str


def open_backend(location: str | os.PathLike | None, busy_seconds: float) -> Backend:
    """The backend for ``location``: PostgreSQL for a ``postgresql://`` URL, else SQLite."""
    if location is None:
        location = os.environ.get(STORE_ENV) or None
    if is_postgres_url(location):
        from .postgres import PostgresBackend  # psycopg loads only for a server

        return PostgresBackend(str(location), busy_seconds)
    from .sqlite import SqliteBackend

    return SqliteBackend(location, busy_seconds)


class LabelStore:
    """Labeling projects, label events and current labels, in a SQLite file or on PostgreSQL.

    Parameters
    ----------
    location : str or path-like, optional
        A ``postgresql://user@host/db`` URL, a SQLite file or its data folder. Without it: the
        ``LABELWISE_STORE`` environment variable (URL or file), else the folder in
        ``LABELWISE_DATA_DIR``, else ``./labelwise-data/`` (see
        :func:`~labelwise.labels.store.default_store_path`). Folders are created; an existing
        file must be a labelwise store (else :class:`CorruptStoreError`, file and journal left
        as they were). A store that cannot be written opens read-only.
    busy_seconds : float, default=60
        How long a write keeps waiting while other writers hold the lock before
        :class:`StoreBusyError`.

    Attributes
    ----------
    path : pathlib.Path or None
        The SQLite file (None on PostgreSQL).
    location : str
        Where the store is: the file's path, or the URL without its password.
    read_only : bool
        True when the store could be read but not written (reads work; writes raise
        :class:`ReadOnlyStoreError` and change nothing).

    Notes
    -----
    Safe to share between threads (one connection per thread) and to open from several
    processes, or several servers on one PostgreSQL database, at once. Labels come back with
    their type: strings, integers and floats.
    """

    def __init__(self, location: str | os.PathLike | None = None, *,
                 busy_seconds: float = 60.0) -> None:
        self.busy_seconds = float(busy_seconds)
        self._backend = open_backend(location, self.busy_seconds)
        self.path: Path | None = self._backend.path
        self.location: str = self._backend.location
        self.read_only: bool = self._backend.read_only

    @classmethod
    def open(cls, location: str | os.PathLike | None = None, *,
             busy_seconds: float = 60.0) -> LabelStore:
        """The store at ``location`` (a ``postgresql://`` URL, a SQLite file or a folder)."""
        return cls(location, busy_seconds=busy_seconds)

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        self._backend.close()

    def __repr__(self) -> str:
        mode = ", read-only" if self.read_only else ""
        return f"LabelStore({self.location!r}{mode})"

    # -- projects --------------------------------------------------------------------------
    def create_project(self, name: str, dataset_id: str, fingerprint: str,
                       settings: dict | None = None) -> Project:
        """Create a labeling project.

        Parameters
        ----------
        name : str
            Unique project name.
        dataset_id : str
            Which dataset it labels (a pack name or a path).
        fingerprint : str
            The dataset's fingerprint (see :func:`labelwise.labels.projects.dataset_fingerprint`).
        settings : dict, optional
            Strategy settings (JSON-serialisable), e.g. ``{"strategy": "U*I*D", "k": 5}``.

        Returns
        -------
        Project

        Raises
        ------
        ProjectExistsError
            If a project of that name exists.
        """
        name = check_project_name(name)
        try:
            settings_json = json.dumps(dict(settings or {}), sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"project settings must be JSON-serialisable: {exc}") from exc
        for field, value in (("dataset_id", dataset_id), ("fingerprint", fingerprint)):
            if not isinstance(value, str) or not value:
                raise InvalidInputError(f"{field} must be a non-empty string, got {value!r}")

        def insert(tx: Transaction) -> None:
            tx.serialize(_PROJECTS_LOCK)
            if tx.one("SELECT 1 FROM projects WHERE name = ?", (name,)):
                raise ProjectExistsError(f"a project named {name!r} already exists in "
                                         f"{self.location}; open it or pick another name")
            tx.run("INSERT INTO projects (name, dataset_id, fingerprint, settings, created_at) "
                   "VALUES (?, ?, ?, ?, ?)",
                   (name, dataset_id, fingerprint, settings_json, now_text()))

        self._backend.write(insert)
        return self.open_project(name)

    def open_project(self, name: str | Project) -> Project:
        """The project called ``name``; :class:`ProjectNotFoundError` if there is none."""
        if isinstance(name, Project):
            name = name.name
        name = check_project_name(name)
        rows = self._backend.read("SELECT id, name, dataset_id, fingerprint, settings, "
                                  "created_at FROM projects WHERE name = ?", (name,))
        if not rows:
            known = ", ".join(repr(p.name) for p in self.list_projects()) or "none yet"
            raise ProjectNotFoundError(
                f"no project named {name!r} in {self.location} (projects: {known})")
        return _project(rows[0])

    def list_projects(self) -> list[Project]:
        """All projects, oldest first."""
        rows = self._backend.read("SELECT id, name, dataset_id, fingerprint, settings, "
                                  "created_at FROM projects ORDER BY id")
        return [_project(row) for row in rows]

    def update_settings(self, project: str | Project, settings: dict) -> Project:
        """Replace a project's strategy settings (the labels are not touched)."""
        pid = self.open_project(project).id
        settings_json = json.dumps(dict(settings), sort_keys=True)
        self._backend.write(lambda tx: tx.run(
            "UPDATE projects SET settings = ? WHERE id = ?", (settings_json, pid)))
        return self.open_project(project)

    def change_settings(self, project: str | Project,
                        change: Callable[[dict], dict]) -> Project:
        """Apply ``change(settings) -> new settings`` atomically; the updated project.

        The settings are read and written in one write transaction that holds the project's
        lock, so two changes at once (two reviewers settling disagreements, say) both land:
        neither overwrites the other with what it read before. ``change`` may run again if the
        store retries the transaction, so it must not have side effects.
        """
        pid = self.open_project(project).id

        def work(tx) -> None:
            tx.serialize(pid)
            row = tx.one("SELECT settings FROM projects WHERE id = ?", (pid,))
            current = json.loads(row[0]) if row and row[0] else {}
            new = json.dumps(dict(change(dict(current))), sort_keys=True)
            tx.run("UPDATE projects SET settings = ? WHERE id = ?", (new, pid))

        self._backend.write(work)
        return self.open_project(project)

    # -- labels ----------------------------------------------------------------------------
    def record(self, project: str | Project, item_id: str | int, action: str,
               label: Any = None, *, who: str = "anonymous") -> int:
        """Record one labeling action; it is committed before this returns.

        Parameters
        ----------
        project : str or Project
        item_id : str or int
            The item's id in the dataset (``Dataset.ids``), stored as text.
        action : {"label", "unlabel", "skip"}
            ``label`` sets (or replaces) the item's current label, ``unlabel`` removes it (undo),
            ``skip`` only logs that the labeler passed on the item; ``unlabel`` of an item
            without a label whose latest event by ``who`` is a skip undoes that skip (the item
            is back in the pool, see :meth:`skipped_items`).
        label : str, int or float, optional
            Required for ``label``, must be omitted otherwise.
        who : str, default="anonymous"
            The labeler.

        Returns
        -------
        int
            The event id (increasing within the project; see :meth:`labels_changed_since`).

        Raises
        ------
        UnknownItemError
            ``unlabel`` of an item that has no current label and that ``who`` did not skip
            last (nothing is recorded).
        """
        pid = self.open_project(project).id
        item = item_key(item_id)
        who = check_who(who)
        label = check_action(action, label)

        def write(tx: Transaction) -> int:
            tx.serialize(pid)
            at = now_text()
            unskip = False
            if action == "unlabel" and not tx.one(
                    "SELECT 1 FROM labels WHERE project_id = ? AND item_id = ?", (pid, item)):
                # An unlabel of an item ``who`` skipped last puts it back in the pool (undo of
                # a skip); on any other unlabeled item there is nothing to undo.
                last = tx.one("SELECT action FROM events WHERE project_id = ? AND item_id = ? "
                              "AND who = ? ORDER BY id DESC LIMIT 1", (pid, item, who))
                if last is None or last[0] != "skip":
                    raise UnknownItemError(f"item {item!r} has no label to undo")
                unskip = True
            event_id = tx.one(
                "INSERT INTO events (project_id, item_id, action, label, who, at) "
                "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (pid, item, action, tx.label(label), who, at))[0]
            if action == "label":
                tx.run("INSERT INTO labels (project_id, item_id, label, who, at, event_id) "
                       "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, item_id) DO UPDATE "
                       "SET label = excluded.label, who = excluded.who, at = excluded.at, "
                       "event_id = excluded.event_id",
                       (pid, item, tx.label(label), who, at, event_id))
            elif action == "unlabel":
                tx.run("DELETE FROM labels WHERE project_id = ? AND item_id = ?", (pid, item))
            if action != "skip" and not unskip:
                # The item is done (or back in the pool): its reservation has served.
                tx.run("DELETE FROM reservations WHERE project_id = ? AND item_id = ?",
                       (pid, item))
            return int(event_id)

        return self._backend.write(write)

    def current_labels(self, project: str | Project) -> pd.DataFrame:
        """Current label of each labeled item, in the order of their latest label event.

        Returns
        -------
        pandas.DataFrame
            Columns ``item_id``, ``label``, ``who``, ``at``, ``event_id``.
        """
        pid = self.open_project(project).id
        rows = self._backend.read("SELECT item_id, label, who, at, event_id FROM labels "
                                  "WHERE project_id = ? ORDER BY event_id", (pid,))
        return frame(rows, ["item_id", "label", "who", "at", "event_id"])

    def events(self, project: str | Project, since: int = 0) -> pd.DataFrame:
        """Every event of the project after event id ``since``, oldest first.

        Returns
        -------
        pandas.DataFrame
            Columns ``id``, ``item_id``, ``action``, ``label``, ``who``, ``at``.
        """
        pid = self.open_project(project).id
        rows = self._backend.read("SELECT id, item_id, action, label, who, at FROM events "
                                  "WHERE project_id = ? AND id > ? ORDER BY id",
                                  (pid, int(since)))
        return frame(rows, ["id", "item_id", "action", "label", "who", "at"])

    def labels_changed_since(self, project: str | Project, event_id: int = 0, *,
                             item_id: str | int | None = None) -> pd.DataFrame:
        """Label and unlabel events after ``event_id`` (by anyone), oldest first.

        A rerun passes the largest ``id`` it has seen to pick up other labelers' work
        cheaply (the events table is indexed by project and id). With ``item_id``: that
        item's events only (who changed it last, without reading the whole log).
        """
        pid = self.open_project(project).id
        one_item = "" if item_id is None else "AND item_id = ? "
        params = (pid, int(event_id)) + (() if item_id is None else (item_key(item_id),))
        rows = self._backend.read(
            "SELECT id, item_id, action, label, who, at FROM events "
            f"WHERE project_id = ? AND id > ? {one_item}AND action != 'skip' ORDER BY id",
            params)
        return frame(rows, ["id", "item_id", "action", "label", "who", "at"])

    def last_event_id(self, project: str | Project) -> int:
        """The id of the project's latest event (0 when there is none)."""
        pid = self.open_project(project).id
        rows = self._backend.read(
            "SELECT coalesce(max(id), 0) FROM events WHERE project_id = ?", (pid,))
        return int(rows[0][0])

    def skipped_items(self, project: str | Project, who: str | None = None) -> list[str]:
        """Items skipped (by ``who``, or by anyone) and still set aside, oldest skip first.

        A skip sets an item aside until a later label (by anyone) or a later unlabel (by the
        skipper; by anyone when ``who`` is None): the undo of a skip. A rerun or a restarted
        app uses this to keep skipped items out of the way, and not to skip again what was
        unskipped.
        """
        pid = self.open_project(project).id
        person = "" if who is None else "AND e.who = ?"
        same = "" if who is None else "AND u.who = e.who"
        params = (pid,) if who is None else (pid, check_who(who))
        rows = self._backend.read(
            f"""
            SELECT e.item_id FROM events e
            WHERE e.project_id = ? {person} AND e.action = 'skip'
              AND NOT EXISTS (SELECT 1 FROM labels l
                              WHERE l.project_id = e.project_id AND l.item_id = e.item_id)
              AND NOT EXISTS (SELECT 1 FROM events u
                              WHERE u.project_id = e.project_id AND u.item_id = e.item_id
                                AND u.id > e.id AND (u.action = 'label'
                                                     OR (u.action = 'unlabel' {same})))
            GROUP BY e.item_id ORDER BY min(e.id)
            """, params)
        return [r[0] for r in rows]

    def disagreements(self, project: str | Project) -> pd.DataFrame:
        """Items that different people gave different labels.

        Each person's latest label of the item counts; the current label is the latest
        overall.

        Returns
        -------
        pandas.DataFrame
            One row per (item, person): ``item_id``, ``who``, ``label``, ``at``,
            ``current_label`` (None if the item was unlabeled since).
        """
        pid = self.open_project(project).id
        rows = self._backend.read(
            """
            WITH latest_ids AS (
                SELECT max(id) AS id FROM events
                WHERE project_id = ? AND action = 'label' GROUP BY item_id, who
            ),
            latest AS (
                SELECT e.id, e.item_id, e.who, e.label, e.at FROM events e
                JOIN latest_ids USING (id)
            ),
            split AS (
                SELECT item_id FROM latest GROUP BY item_id
                HAVING count(DISTINCT who) > 1 AND count(DISTINCT label) > 1
            )
            SELECT l.item_id, l.who, l.label, l.at, c.label FROM latest l
            JOIN split USING (item_id)
            LEFT JOIN labels c ON c.project_id = ? AND c.item_id = l.item_id
            ORDER BY l.item_id, l.id
            """, (pid, pid))
        return frame(rows, ["item_id", "who", "label", "at", "current_label"])

    # -- reservations (batch mode) ---------------------------------------------------------
    def reserve(self, project: str | Project, item_ids: Iterable, who: str,
                ttl_seconds: float = 600.0, *, replace: bool = False) -> list[str]:
        """Claim items for ``who`` for ``ttl_seconds`` where they are free; the ids granted.

        An item is granted unless it is labeled or another holder has a live reservation on
        it; the caller's own reservations are renewed. Each claim is one conditional write
        (insert, or take over an expired or own reservation, only if the item is unlabeled),
        so the check and the claim cannot be separated, and the whole call runs in one write
        transaction under the project's lock: concurrent calls never grant one item twice.

        Parameters
        ----------
        project : str or Project
        item_ids : iterable
            The items wanted, in order of preference (ids as in ``Dataset.ids``).
        who : str
            The holder: a browser session or tab, not necessarily a person.
        ttl_seconds : float, default=600
            How long the reservation lasts without renewal.
        replace : bool, default=False
            Also drop ``who``'s reservations on items not in ``item_ids`` (in the same
            transaction): what a labeling card does when it moves on to other items.

        Returns
        -------
        list of str
            The ids granted, in the order asked.
        """
        pid = self.open_project(project).id
        who = check_who(who)
        ttl_seconds = check_ttl(ttl_seconds)
        items = list(dict.fromkeys(item_key(i) for i in item_ids))

        def write(tx: Transaction) -> list[str]:
            tx.serialize(pid)
            now = time.time()
            tx.run("DELETE FROM reservations WHERE project_id = ? AND until <= ?", (pid, now))
            if replace:
                held = tx.all("SELECT item_id FROM reservations WHERE project_id = ? "
                              "AND who = ?", (pid, who))
                for (item,) in held:
                    if item not in items:
                        tx.run("DELETE FROM reservations WHERE project_id = ? AND "
                               "item_id = ? AND who = ?", (pid, item, who))
            return [item for item in items if _claim(tx, pid, item, who, now, ttl_seconds)]

        return self._backend.write(write)

    def release(self, project: str | Project, who: str, item_ids: Iterable | None = None) -> int:
        """Drop ``who``'s reservations (all of them, or those on ``item_ids``); returns count."""
        pid = self.open_project(project).id
        who = check_who(who)
        items = None if item_ids is None else [item_key(i) for i in item_ids]

        def write(tx: Transaction) -> int:
            tx.serialize(pid)
            if items is None:
                return tx.run("DELETE FROM reservations WHERE project_id = ? AND who = ?",
                              (pid, who))
            return sum(tx.run("DELETE FROM reservations WHERE project_id = ? AND who = ? "
                              "AND item_id = ?", (pid, who, item)) for item in items)

        return self._backend.write(write)

    def transfer_reservations(self, project: str | Project, from_who: str, to_who: str) -> int:
        """Hand every reservation of ``from_who`` to ``to_who`` in one write; returns count.

        The items never become free in between (releasing and claiming again would let another
        holder take them), so a browser tab that learns its lasting id keeps what it shows.
        """
        pid = self.open_project(project).id
        from_who, to_who = check_who(from_who), check_who(to_who)

        def write(tx: Transaction) -> int:
            tx.serialize(pid)
            return tx.run("UPDATE reservations SET who = ? WHERE project_id = ? AND who = ?",
                          (to_who, pid, from_who))

        return self._backend.write(write)

    def reservations(self, project: str | Project) -> pd.DataFrame:
        """Live reservations: ``item_id``, ``who``, ``until`` (Unix time)."""
        pid = self.open_project(project).id
        rows = self._backend.read("SELECT item_id, who, until FROM reservations "
                                  "WHERE project_id = ? AND until > ? ORDER BY item_id",
                                  (pid, time.time()))
        return frame(rows, ["item_id", "who", "until"])

    def reserved_by_others(self, project: str | Project, who: str) -> set[str]:
        """Ids of items someone other than ``who`` holds a live reservation on."""
        table = self.reservations(project)
        return set(table.loc[table["who"] != who, "item_id"])

    # -- backup ----------------------------------------------------------------------------
    def backup(self, target: str | os.PathLike) -> Path:
        """Write a consistent copy of the store to the new SQLite file ``target``.

        Safe while others write. A PostgreSQL store is copied into a SQLite store with the
        same projects, events (and ids), labels and reservations.
        """
        target = Path(target)
        if target.exists():
            raise InvalidInputError(f"{target} exists; back up to a new file")
        target.parent.mkdir(parents=True, exist_ok=True)
        return self._backend.backup(target)


def _claim(tx: Transaction, pid: int, item: str, who: str, now: float, ttl: float) -> bool:
    """Claim ``item`` for ``who`` if it is free: one conditional write, True if it was made.

    The row is inserted only while the item has no label, and an existing reservation is
    taken over only when it is ``who``'s own or has expired; otherwise nothing changes.
    """
    changed = tx.run(
        "INSERT INTO reservations (project_id, item_id, who, until) "
        "SELECT ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM labels "
        "WHERE project_id = ? AND item_id = ?) "
        "ON CONFLICT (project_id, item_id) DO UPDATE "
        "SET who = excluded.who, until = excluded.until "
        "WHERE reservations.who = excluded.who OR reservations.until <= ?",
        (pid, item, who, now + ttl, pid, item, now))
    return changed > 0


def _project(row: tuple) -> Project:
    pid, name, dataset_id, fingerprint, settings, created = row
    return Project(int(pid), name, dataset_id, fingerprint, json.loads(settings), created)
