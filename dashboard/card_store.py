"""The labeling card's desk tied to a label-store project: commits, conflicts, reservations.

Plain Python (no Streamlit), so tests drive exactly what the "Label (card)" page runs.

* :class:`StoreCommit` is a :class:`~labelwise.dashboard.desk.Desk` ``commit`` hook: every
  answer is written to the store (``label``, ``skip``, or ``unlabel`` for an undo) with the
  labeler's name before the card hears "saved". The store is the truth across tabs and people:
  an answer is refused if the item's stored label is not the one this desk saw ("labeled
  meanwhile by <who>"), an undo if someone changed the item since ("changed since by <who>").
  With double labeling (``labelwise.overlap_share`` above 0) it is also the desk's ``overlap``
  hook, and an answer to a labeled item the desk offered for a second answer is stored as
  this labeler's answer while the store still has the label the desk saw and the item still
  has one answer, from someone else.
* :class:`Reservations` holds the items a card shows (current and lookahead) for its browser
  session, renewed on each run, so no two tabs or people are handed one item; the desk's
  ``exclude`` passes over items other sessions hold. Items offered for a second answer are
  reserved too (claimed while labeled), so two labelers are never offered one second answer
  at once; after a reload the tab's reservation vouches for the second answer it showed.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

from labelwise import LabelingSession, answers_table, overlap_share
from labelwise import sync as sync_project

from .desk import Answer, AnswerRefused, Desk, Overlap
from .labeling import unskip_item

#: How long a reservation lasts without renewal (the page renews it while the card is open).
RESERVATION_SECONDS = 120.0
#: How often the page renews the reservations of the items on screen.
RENEW_SECONDS = 20.0
#: Attempts at claiming the offered items when another session wins one at the same moment.
HOLD_ATTEMPTS = 5


def tab_holder(desk_id: str) -> str:
    """The reservation holder of a card's tab (its ``desk_id``)."""
    return f"tab:{desk_id}"


def stored_state(session: LabelingSession, item: int) -> tuple[Hashable | None, str | None]:
    """The item's label in the store now and who last changed it (label or unlabel)."""
    link = session.project_link
    item_id = link.ids[item]
    events = link.store.labels_changed_since(link.project, 0, item_id=item_id)
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
        #: (last event id, answers by pool item) of the last overlap read: re-read on change.
        self._answers: tuple[int, object] | None = None

    def overlap(self) -> Overlap | None:
        """The project's double labeling for this labeler (desk ``overlap`` hook); None while
        its share is 0. Everyone's answers are read again only after new events."""
        link = self.session.project_link
        project = link.store.open_project(link.project)
        share = overlap_share(project)
        if share <= 0:
            return None
        last = link.store.last_event_id(project)
        if self._answers is None or self._answers[0] != last:
            table = answers_table(link.store, project)
            items = table["item"].map(link.index_of)
            known = items.notna()  # events of items outside this pool do not count here
            answers = table.loc[known, ["labeler", "label"]].assign(
                item=items[known].astype(int))[["item", "labeler", "label"]]
            self._answers = (last, answers.reset_index(drop=True))
        return Overlap(share, self.who, self._answers[1])

    def __call__(self, answer: Answer) -> None:
        link = self.session.project_link
        seen = self.session.labels.get(answer.item)
        stored, changed_by = stored_state(self.session, answer.item)
        if answer.kind == "undo":
            if seen is None:
                # Undoing a skip: the item goes back in the pool, for reloads too.
                unskip_item(link.store, link.project, link.ids[answer.item], self.who)
                return
            if stored != seen or changed_by != self.who:
                # Someone answered since, maybe with the same label (a second answer that
                # agrees): the unlabel would erase their answer from the current label.
                self._refuse(answer, changed_by)
            link.store.record(link.project, link.ids[answer.item], "unlabel", who=self.who)
            return
        if seen is not None:
            # The desk passes a labeled item only as a second answer it offered: the store
            # must still agree that one is open (label unchanged, one answer, not ours).
            if stored != seen or not self._second_open(answer.item):
                self._refuse(answer, changed_by)
        elif stored is not None:
            self._refuse(answer, changed_by)
        if answer.kind == "label":
            link.store.record(link.project, link.ids[answer.item], "label", answer.label,
                              who=self.who)
        else:
            link.store.record(link.project, link.ids[answer.item], "skip", who=self.who)

    def _second_open(self, item: int) -> bool:
        overlap = self.overlap()
        return overlap is not None and item in overlap.candidates

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


def latest_answers(session: LabelingSession, who: str, limit: int = 10) -> list[int]:
    """The pool items ``who`` labeled most recently whose current label is still theirs,
    latest first (the card page's history; from the store, so it outlives reloads)."""
    link = session.project_link
    events = link.store.labels_changed_since(link.project)
    last = events.drop_duplicates("item_id", keep="last").iloc[::-1]
    mine = last.loc[(last["who"] == who) & (last["action"] == "label"), "item_id"]
    out = []
    for item_id in mine.tolist():
        item = link.index_of.get(item_id)
        if item is not None and session.is_labeled(item):
            out.append(item)
            if len(out) == limit:
                break
    return out


def relabel(desk: Desk, who: str, item: int, label: Hashable, *,
            shown: Hashable | None = None) -> None:
    """Change the label of labeled pool ``item`` to ``label`` in the store, then in the desk.

    Refused (:class:`AnswerRefused`, the desk learning the other change at once) like a card's
    answer if the store's label is no longer the one this desk shows ("changed since by
    <who>"), or if ``label`` is not one of the desk's classes. ``shown``: the label the
    person changed from (e.g. a history button's); if the desk's label is no longer that one the
    change is refused too, and ``label == shown`` changes nothing (a redrawn box reporting its
    old value must not set an item back to it).
    """
    session = desk.session
    link = session.project_link
    seen = session.labels.get(item)
    if shown is not None and label == shown:
        return
    stored, changed_by = stored_state(session, item)
    if seen is None or stored != seen or (shown is not None and seen != shown):
        desk.sync(sync_count)
        raise AnswerRefused("labeled", f"changed since by {changed_by or 'someone'}: "
                                       f"not relabeled")
    if label not in desk.classes:
        raise AnswerRefused("unknown-class")
    if label == seen:
        return
    link.store.record(link.project, link.ids[item], "label", label, who=who)
    desk.sync(sync_count)


def label_copies(desk: Desk, who: str, item: int) -> tuple[int, int | None]:
    """Give the unlabeled near-copies of labeled ``item`` its label, as one event group in the
    store (one transaction, undoable as a whole by :func:`undo_copies`); how many were
    labeled, and the group's id (None when there was none to label).

    Copies reserved by another session are left out (someone has one on screen).
    """
    session = desk.session
    label = session.labels.get(item)
    if label is None:
        raise AnswerRefused("labeled", "this item has no label (any more): nothing to copy")
    held = set(desk.exclude()) if desk.exclude is not None else set()
    copies = [c for c in desk.copies_of(item) if c not in held]
    if not copies:
        return 0, None
    link = session.project_link
    group = link.store.record_group(link.project, [(link.ids[c], label) for c in copies],
                                    who=who)
    desk.sync(sync_count)
    return len(copies), group


def undo_copies(desk: Desk, who: str, group: int):
    """Undo a :func:`label_copies` group in the store (refused, with the store's message, if
    someone changed one of its items since), then bring the desk up to date."""
    link = desk.session.project_link
    result = link.store.undo_group(link.project, group, who=who)
    desk.sync(sync_count)
    return result


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
        #: The pool items this session was last granted (what its card may show).
        self.held: set[int] = set()
        #: The granted items of the offer last sent to the card.
        self.sent: set[int] = set()
        #: The held items claimed for a second answer (labeled already).
        self.second: set[int] = set()

    def held_by_others(self) -> set[int]:
        """Pool items another session holds a live reservation on."""
        others = self.link.store.reserved_by_others(self.link.project, self.holder)
        index_of = self.link.index_of
        return {index_of[i] for i in others if i in index_of}

    def hold(self, items: Iterable[int | None], *, replace: bool = False,
             second: Iterable[int] = ()) -> set[int]:
        """Claim (or renew) ``items`` for this session where they are free; the items granted.

        With ``replace`` the session's other reservations are dropped in the same store
        transaction (the card has moved on from them). The items of ``second`` are labeled
        ones offered for a second answer: claimed only while labeled.
        """
        wanted = sorted({int(i) for i in items if i is not None})
        second = {int(i) for i in second} & set(wanted)
        if not wanted and not replace:
            return set()
        granted = self.link.store.reserve(self.link.project, self.link.ids[wanted],
                                          self.holder, self.ttl_seconds, replace=replace,
                                          second_answers=self.link.ids[sorted(second)])
        index_of = self.link.index_of
        granted_items = {index_of[i] for i in granted}
        self.held = granted_items if replace else self.held | granted_items
        self.second = (second if replace else self.second | second) & self.held
        return granted_items

    def renew(self) -> set[int]:
        """Renew what this session holds (while its items are on screen); the items kept."""
        kept = self.hold(self.held, second=self.second)
        self.held = kept
        self.second &= kept
        return kept

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
            # Handed over in one write: released and claimed again, the items on screen would
            # be free for a moment, and another tab choosing the same next item could take it.
            self.link.store.transfer_reservations(self.link.project, self.holder, holder)
            self.holder = holder

    def release(self) -> None:
        """Drop every reservation of this session (e.g. when it leaves the project)."""
        self.link.store.release(self.link.project, self.holder)
        self.held, self.sent, self.second = set(), set(), set()


def claim_offer(desk: Desk, reservations: Reservations, attempts: int = HOLD_ATTEMPTS
                ) -> set[int]:
    """Make every item the desk's offer may put on screen this session's, before it is
    sent to the card; the offered items that could not be claimed (normally none).

    The desk chooses while passing over items others hold, then claims its choices in one
    store transaction (claim-if-free, dropping what it held before). Another session may
    win an item in between: then the desk chooses again with the new reservations, up to
    ``attempts`` times. What is still not granted after that must not be shown (the card
    waits for the server instead of swapping to it). The items of the offer sent before stay
    held too: the card may still be showing that offer while this one is on its way.
    """
    attempts = max(1, attempts)
    for attempt in range(attempts):
        items = desk.offered_items()
        # Labeled items are claimed only as second answers the desk still has open (an item
        # of the last offer this desk has answered since is let go).
        sent = [i for i in reservations.sent
                if not desk.session.is_labeled(i) or desk.is_second_offer(i)]
        second = desk.second_items() | {i for i in sent if desk.session.is_labeled(i)}
        granted = reservations.hold([*items, *sent], replace=True, second=second)
        withheld = set(items) - granted
        if not withheld or attempt == attempts - 1:
            reservations.sent = set(items) & granted
            return withheld
        desk.reconsider()  # another session won one: choose again around it
    raise AssertionError("unreachable")
