"""The labeling card's desk tied to a label-store project: commits, conflicts, reservations.

Plain Python (no Streamlit), so tests drive exactly what the "Label (card)" page runs.

* :class:`StoreCommit` is a :class:`~labelwise.dashboard.desk.Desk` ``commit`` hook: every
  answer is written to the store (``label``, ``skip``, or ``unlabel`` for an undo) with the
  labeler's name before the card hears "saved". The store is the truth across tabs and people:
  an answer is refused if the item's stored label is not the one this desk saw ("labeled
  meanwhile by <who>"), an undo if someone changed the item since ("changed since by <who>").
* :class:`Reservations` holds the items a card shows (current and lookahead) for its browser
  session, renewed on each run, so no two tabs or people are handed one item; the desk's
  ``exclude`` passes over items other sessions hold.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

from labelwise import LabelingSession
from labelwise import sync as sync_project

from .desk import Answer, AnswerRefused

#: How long a reservation lasts without renewal (a rerun or an answer renews it).
RESERVATION_SECONDS = 120.0


def tab_holder(desk_id: str) -> str:
    """The reservation holder of a card's tab (its ``desk_id``)."""
    return f"tab:{desk_id}"


def stored_state(session: LabelingSession, item: int) -> tuple[Hashable | None, str | None]:
    """The item's label in the store now and who last changed it (label or unlabel)."""
    link = session.project_link
    item_id = link.ids[item]
    events = link.store.labels_changed_since(link.project, 0)
    events = events[events["item_id"] == item_id]
    if not len(events):
        return None, None
    last = events.iloc[-1]
    label = last["label"] if last["action"] == "label" else None
    return label, str(last["who"])


class StoreCommit:
    """Commit hook of a desk whose session was resumed from a store project.

    Parameters
    ----------
    session : LabelingSession
        The desk's session (``session.project_link`` set by ``resume_session``).
    who : str
        The labeler's name, recorded with every event.
    """

    def __init__(self, session: LabelingSession, who: str) -> None:
        if session.project_link is None:
            raise ValueError("StoreCommit needs a session resumed from a store project")
        self.session = session
        self.who = who

    def __call__(self, answer: Answer) -> None:
        link = self.session.project_link
        seen = self.session.labels.get(answer.item)
        stored, changed_by = stored_state(self.session, answer.item)
        if answer.kind == "undo":
            if seen is None:
                return  # undoing a skip: nothing of it is current in the store
            if stored != seen:
                self._refuse(answer, changed_by)
            link.store.record(link.project, link.ids[answer.item], "unlabel", who=self.who)
            return
        if stored is not None or seen is not None:
            self._refuse(answer, changed_by)
        if answer.kind == "label":
            link.store.record(link.project, link.ids[answer.item], "label", answer.label,
                              who=self.who)
        else:
            link.store.record(link.project, link.ids[answer.item], "skip", who=self.who)


    def explain(self, answer: Answer, reason: str) -> str | None:
        """The message of a refusal the desk found itself: who changed the item (desk
        ``explain`` hook)."""
        if reason != "labeled":
            return None
        return refusal_message(answer, stored_state(self.session, answer.item)[1])

    def _refuse(self, answer: Answer, changed_by: str | None) -> None:
        # The session learns the other labeler's change now, so the desk moves on at once.
        sync_project(self.session)
        raise AnswerRefused("labeled", refusal_message(answer, changed_by))


def refusal_message(answer: Answer, changed_by: str | None) -> str:
    """What the card says when the store has another label than the desk saw."""
    who = changed_by or "someone"
    if answer.kind == "undo":
        return f"changed since by {who}: not undone"
    return f"labeled meanwhile by {who}"


def sync_count(session: LabelingSession) -> int:
    """Apply the project's newer events to ``session`` (see :func:`labelwise.sync`); how many.

    Our own events come back here too: re-applying a label the session has is harmless.
    """
    return len(sync_project(session))


class Reservations:
    """The items one browser session holds in a project.

    Parameters
    ----------
    session : LabelingSession
        Resumed from the project (its ``project_link`` names store, project and item ids).
    holder : str
        The browser session (e.g. Streamlit's session id), not a person's name: two tabs of
        one person must not share items either.
    ttl_seconds : float
        Reservations not renewed within this time expire.
    """

    def __init__(self, session: LabelingSession, holder: str, *,
                 ttl_seconds: float = RESERVATION_SECONDS) -> None:
        self.link = session.project_link
        self.holder = holder
        self.ttl_seconds = ttl_seconds

    def held_by_others(self) -> set[int]:
        """Pool items another session holds a live reservation on."""
        others = self.link.store.reserved_by_others(self.link.project, self.holder)
        index_of = self.link.index_of
        return {index_of[i] for i in others if i in index_of}

    def hold(self, items: Iterable[int | None]) -> set[int]:
        """Reserve (or renew) ``items`` for this session; returns the items granted."""
        wanted = sorted({int(i) for i in items if i is not None})
        if not wanted:
            return set()
        granted = self.link.store.reserve(self.link.project, self.link.ids[wanted],
                                          self.holder, self.ttl_seconds)
        index_of = self.link.index_of
        return {index_of[i] for i in granted}

    def holds(self, item: int, holder: str) -> bool:
        """Whether ``holder`` has a live reservation on pool item ``item``."""
        table = self.link.store.reservations(self.link.project)
        mine = table.loc[table["who"] == holder, "item_id"]
        return str(self.link.ids[item]) in set(mine)

    def vouch(self, answer: Answer) -> bool:
        """Desk ``vouch`` hook: the item was shown to the answer's card (it holds the item)."""
        return (answer.item < len(self.link.ids)
                and self.holds(answer.item, tab_holder(answer.desk_id)))

    def adopt(self, holder: str) -> None:
        """Hold items as ``holder`` from now on (the card's tab id, once the card has told
        it): it outlives reloads and server restarts, so a replayed queue is recognised."""
        if holder != self.holder:
            self.release()
            self.holder = holder

    def release(self) -> None:
        """Drop every reservation of this session (e.g. when it leaves the project)."""
        self.link.store.release(self.link.project, self.holder)
