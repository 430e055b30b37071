"""LabelStore: the store's operations (projects, events, current labels, reservations,
disagreements), written once over the two backends (:mod:`.sqlite`, :mod:`.postgres`).

Every change is one short transaction: the event and the current label it implies are written
together, so they can never disagree. Writers of one project take its lock first
(:meth:`.backend.Transaction.serialize`): event ids then grow in commit order within a project,
which is what lets :meth:`LabelStore.labels_changed_since` pick up everybody's work by id, and
reservations are granted one caller at a time, so never twice.

A bulk action (:meth:`LabelStore.record_group`) is one transaction too: its events share a
``group_id`` (the id of its first event), so it can be undone as a whole
(:meth:`LabelStore.undo_group`); the events of that undo carry ``group_id = -id``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...errors import InvalidInputError, UnknownItemError
from .backend import Backend, Transaction
from .errors import ProjectExistsError, ProjectNotFoundError
from .location import STORE_ENV, is_postgres_url
from .schema import GROUPS_VERSION
from .values import (
    check_action,
    check_project_name,
    check_ttl,
    check_who,
    frame,
    item_key,
    now_text,
    plain_label,
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


@dataclass(frozen=True)
class LaterChange:
    """A change to an item of an event group made after the group: why an undo is refused."""

    item_id: str
    action: str
    label: Any
    who: str
    at: str

    def describe(self) -> str:
        """``'img_7' (now 'rotten', by bob)``, or ``'img_7' (unlabeled by bob)``."""
        if self.action == "unlabel":
            return f"{self.item_id!r} (unlabeled by {self.who})"
        return f"{self.item_id!r} (now {self.label!r}, by {self.who})"


@dataclass(frozen=True)
class UndoResult:
    """What :meth:`LabelStore.undo_group` did, or why it changed nothing.

    Attributes
    ----------
    group_id : int
        The group asked for.
    status : {"undone", "changed_since", "already_undone"}
        ``undone``: every item is back to its label before the group. ``changed_since``: some
        items were changed after the group (:attr:`changes`); nothing was written.
        ``already_undone``: the group was undone before; nothing was written.
    message : str
        One plain-text sentence for the person who asked (not Markdown).
    items : tuple of str
        The group's items (put back when undone).
    changes : tuple of LaterChange
        The later changes that refused the undo, one per item.
    """

    group_id: int
    status: str
    message: str
    items: tuple[str, ...] = ()
    changes: tuple[LaterChange, ...] = ()

    @property
    def undone(self) -> bool:
        """True when the group was undone by this call."""
        return self.status == "undone"


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
            return _write_event(tx, pid, item, action, label, who, at,
                                keep_reservation=unskip)

        return self._backend.write(write)

    def record_group(self, project: str | Project,
                     answers: Iterable[tuple[str | int, Any]] | Mapping, *, who: str) -> int:
        """Label several items as one event group, in one transaction; the group's id.

        Either every label is committed or none is. The events share a ``group_id`` (the id
        of the group's first event, so ids of groups never clash), which
        :meth:`undo_group` undoes as a whole.

        Parameters
        ----------
        project : str or Project
        answers : iterable of (item_id, label), or a mapping item_id -> label
            At least one, each item once; labels as in :meth:`record`.
        who : str
            The labeler.

        Returns
        -------
        int
            The group id (a positive event id).

        Raises
        ------
        InvalidInputError
            No answers, an item given twice, or a bad item id or label (nothing is recorded).
        """
        pid = self.open_project(project).id
        who = check_who(who)
        pairs = _group_answers(answers)

        def write(tx: Transaction) -> int:
            tx.serialize(pid)
            at = now_text()
            group_id = None
            for item, label in pairs:
                event_id = _write_event(tx, pid, item, "label", label, who, at, group_id)
                if group_id is None:
                    group_id = event_id
                    tx.run("UPDATE events SET group_id = ? WHERE id = ?", (group_id, event_id))
            return int(group_id)

        return self._backend.write(write)

    def undo_group(self, project: str | Project, group_id: int, *, who: str) -> UndoResult:
        """Put every item of an event group back to its label before the group.

        In one transaction: an item labeled before the group gets that label again (a
        ``label`` event by ``who``), an item that had none is unlabeled (an ``unlabel``
        event); the history is kept, these events form group ``-group_id``. The undo is
        refused, and nothing is written, when any item's current label is no longer the one
        the group gave it, that is when anyone labeled or unlabeled the item since (a label
        given again, even the same one, is someone's answer the undo would erase; skips do not
        count): the result says which items and who. A group undone already is refused too.

        Parameters
        ----------
        project : str or Project
        group_id : int
            What :meth:`record_group` returned.
        who : str
            Who undoes it.

        Returns
        -------
        UndoResult
            ``status`` ``"undone"``, ``"changed_since"`` or ``"already_undone"``, and a
            plain-text ``message``.

        Raises
        ------
        InvalidInputError
            If the project has no event group ``group_id``.
        """
        stored = self.open_project(project)
        pid = stored.id
        who = check_who(who)
        if isinstance(group_id, bool) or not isinstance(group_id, (int, np.integer)) \
                or group_id <= 0:
            raise InvalidInputError(f"a group id is a positive integer, got {group_id!r}")
        group_id = int(group_id)

        def write(tx: Transaction) -> UndoResult:
            tx.serialize(pid)
            events = tx.all("SELECT id, item_id FROM events WHERE project_id = ? AND "
                            "group_id = ? ORDER BY id", (pid, group_id))
            if not events:
                raise InvalidInputError(f"project {stored.name!r} has no event group "
                                        f"{group_id}")
            items = tuple(item for _, item in events)
            undo = tx.one("SELECT who, at FROM events WHERE project_id = ? AND group_id = ? "
                          "ORDER BY id LIMIT 1", (pid, -group_id))
            if undo is not None:
                return UndoResult(group_id, "already_undone",
                                  f"group {group_id} was already undone (by {undo[0]} at "
                                  f"{undo[1]}); nothing was changed", items)
            changes = tuple(c for c in (_later_change(tx, pid, item, event_id)
                                        for event_id, item in events) if c is not None)
            if changes:
                return UndoResult(group_id, "changed_since",
                                  _changed_message(group_id, len(items), changes),
                                  items, changes)
            _restore(tx, pid, events, who, -group_id)
            return UndoResult(group_id, "undone",
                              f"group {group_id} undone: {len(items)} item(s) put back as "
                              f"they were before it", items)

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
            Columns ``id``, ``item_id``, ``action``, ``label``, ``who``, ``at``,
            ``group_id`` (the event group, :meth:`record_group`; negative for the events of
            its undo; None for a single event).
        """
        pid = self.open_project(project).id
        # A read-only store of schema 1 has no groups.
        group = "group_id" if self._backend.schema_version >= GROUPS_VERSION else "NULL"
        rows = self._backend.read(f"SELECT id, item_id, action, label, who, at, {group} "
                                  "FROM events WHERE project_id = ? AND id > ? ORDER BY id",
                                  (pid, int(since)))
        return frame(rows, ["id", "item_id", "action", "label", "who", "at", "group_id"])

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
                ttl_seconds: float = 600.0, *, replace: bool = False,
                second_answers: Iterable = ()) -> list[str]:
        """Claim items for ``who`` for ``ttl_seconds`` where they are free; the ids granted.

        An item is granted unless it is labeled or another holder has a live reservation on
        it; the caller's own reservations are renewed. Each claim is one conditional write
        (insert, or take over an expired or own reservation, only if the item is unlabeled),
        so the check and the claim cannot be separated, and the whole call runs in one write
        transaction under the project's lock: concurrent calls never grant one item twice.
        The items of ``second_answers`` are claimed the other way round: only while labeled
        (offered for a second answer); any label or unlabel event ends such a claim too.

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
        second_answers : iterable, default=()
            Those of ``item_ids`` offered for a second answer (double labeling): granted only
            if labeled, so that two labelers are never offered one second answer at once.

        Returns
        -------
        list of str
            The ids granted, in the order asked.
        """
        pid = self.open_project(project).id
        who = check_who(who)
        ttl_seconds = check_ttl(ttl_seconds)
        items = list(dict.fromkeys(item_key(i) for i in item_ids))
        second = {item_key(i) for i in second_answers}

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
            return [item for item in items
                    if _claim(tx, pid, item, who, now, ttl_seconds, labeled=item in second)]

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


def _write_event(tx: Transaction, pid: int, item: str, action: str, label: Any, who: str,
                 at: str, group_id: int | None = None, *,
                 keep_reservation: bool = False) -> int:
    """Insert one event and apply it to the current labels; its id.

    ``label`` sets the item's current label, ``unlabel`` removes it; either ends the item's
    reservation (it is done, or back in the pool) unless ``keep_reservation``.
    """
    event_id = int(tx.one(
        "INSERT INTO events (project_id, item_id, action, label, who, at, group_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (pid, item, action, tx.label(label), who, at, group_id))[0])
    if action == "label":
        tx.run("INSERT INTO labels (project_id, item_id, label, who, at, event_id) "
               "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, item_id) DO UPDATE "
               "SET label = excluded.label, who = excluded.who, at = excluded.at, "
               "event_id = excluded.event_id",
               (pid, item, tx.label(label), who, at, event_id))
    elif action == "unlabel":
        tx.run("DELETE FROM labels WHERE project_id = ? AND item_id = ?", (pid, item))
    if action != "skip" and not keep_reservation:
        tx.run("DELETE FROM reservations WHERE project_id = ? AND item_id = ?", (pid, item))
    return event_id


def _group_answers(answers: Iterable | Mapping) -> list[tuple[str, str | int | float]]:
    """``(item key, label)`` pairs of a group, checked: at least one, each item once."""
    if isinstance(answers, Mapping):
        answers = answers.items()
    pairs = []
    for answer in answers:
        try:
            item_id, label = answer
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"a group's answers are (item_id, label) pairs, got {answer!r}") from exc
        pairs.append((item_key(item_id), plain_label(label)))
    if not pairs:
        raise InvalidInputError("an event group needs at least one (item_id, label) answer")
    seen: set[str] = set()
    twice = [item for item, _ in pairs if item in seen or seen.add(item)]
    if twice:
        raise InvalidInputError(f"an event group labels each item once; given twice: "
                                f"{', '.join(repr(i) for i in dict.fromkeys(twice))}")
    return pairs


def _later_change(tx: Transaction, pid: int, item: str, event_id: int) -> LaterChange | None:
    """The latest label or unlabel of ``item`` after event ``event_id`` (None: none since)."""
    row = tx.one("SELECT action, label, who, at FROM events WHERE project_id = ? AND "
                 "item_id = ? AND id > ? AND action != 'skip' ORDER BY id DESC LIMIT 1",
                 (pid, item, event_id))
    return None if row is None else LaterChange(item, *row)


def _changed_message(group_id: int, n_items: int, changes: tuple[LaterChange, ...]) -> str:
    shown = "; ".join(change.describe() for change in changes[:5])
    more = f"; and {len(changes) - 5} more" if len(changes) > 5 else ""
    return (f"group {group_id} was not undone: {len(changes)} of its {n_items} item(s) "
            f"changed since: {shown}{more}. Nothing was changed.")


def _restore(tx: Transaction, pid: int, events: list[tuple], who: str, group_id: int) -> None:
    """Write, for each ``(event id, item)``, the item's state before that event."""
    at = now_text()
    for event_id, item in events:
        before = tx.one("SELECT action, label FROM events WHERE project_id = ? AND "
                        "item_id = ? AND id < ? AND action != 'skip' ORDER BY id DESC LIMIT 1",
                        (pid, item, event_id))
        if before is not None and before[0] == "label":
            _write_event(tx, pid, item, "label", before[1], who, at, group_id)
        else:
            _write_event(tx, pid, item, "unlabel", None, who, at, group_id)


def _claim(tx: Transaction, pid: int, item: str, who: str, now: float, ttl: float, *,
           labeled: bool = False) -> bool:
    """Claim ``item`` for ``who`` if it is free: one conditional write, True if it was made.

    The row is inserted only while the item has no label (with ``labeled``: only while it
    has one), and an existing reservation is taken over only when it is ``who``'s own or has
    expired; otherwise nothing changes.
    """
    condition = "EXISTS" if labeled else "NOT EXISTS"
    changed = tx.run(
        "INSERT INTO reservations (project_id, item_id, who, until) "
        f"SELECT ?, ?, ?, ? WHERE {condition} (SELECT 1 FROM labels "
        "WHERE project_id = ? AND item_id = ?) "
        "ON CONFLICT (project_id, item_id) DO UPDATE "
        "SET who = excluded.who, until = excluded.until "
        "WHERE reservations.who = excluded.who OR reservations.until <= ?",
        (pid, item, who, now + ttl, pid, item, now))
    return changed > 0


def _project(row: tuple) -> Project:
    pid, name, dataset_id, fingerprint, settings, created = row
    return Project(int(pid), name, dataset_id, fingerprint, json.loads(settings), created)
