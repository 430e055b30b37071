"""The labeling card's review mode: walk the queue of likely label mistakes with the card's keys.

Plain Python (no Streamlit), so tests drive exactly what the Label page's "Review likely
mistakes" mode runs.

A :class:`ReviewDesk` has the interface the card and the Label page use of a
:class:`~labelwise.dashboard.desk.Desk` (``offer``, ``receive``, ``sync``, ``classes``,
``add_class``, ``offered_items``...), over the labeled items of a store-backed labeling desk:

* the queue is :meth:`labelwise.LabelingSession.suspect_labels`, computed once when the review
  starts, and walked in its order (most suspect first). The card shows each item with its
  current label in the prediction slot (Enter or space keeps it; the score, the out-of-sample
  probability of that label, is its "confidence") and a caption "labeled X; the model suggests
  Y" (:meth:`ReviewDesk.view_of`);
* a class key sets that label: the same label is a *keep*, another one a *change*. Both are
  label events under the reviewer's name (a keep rewrites the same label on purpose: the store
  then says who reviewed it, as the Review page's keep does); ``s`` skips, ``u`` undoes the
  card's latest review answer;
* the next item is the next queue item not walked yet, whatever the answer, so every entry of
  the offer's ``after_label`` and ``after_skip`` is the same item and the card swaps at once;
* an answer is refused ("labeled") when the item's label is no longer the one the queue showed
  (someone relabeled it since), and the walk moves on past it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from labelwise import LabelingSession

from .card_store import refusal_message, stored_state, sync_count
from .desk import REASONS, Answer, AnswerRefused, Desk, Offer, Preview, Receipt, in_client_order

#: Fewer labels than this give no useful queue (each label is judged by the others).
MIN_REVIEW_LABELS = 5


@dataclass(frozen=True)
class Suspect:
    """One queue entry: pool ``item``, the ``label`` it had when the review started, the
    model's ``suggested`` label (None: no other label votes), ``score`` and ``rank``."""

    item: int
    label: Hashable
    suggested: Hashable | None
    score: float
    rank: int


@dataclass(frozen=True)
class Reviewed:
    """An applied review answer, for undo: the card's ``answer`` and, for a label (keep or
    change), the store's event ``group`` that holds it."""

    answer: Answer
    group: int | None = None


def queue_of(table: pd.DataFrame) -> list[Suspect]:
    """The rows of :func:`labelwise.suspect_labels`' table, in its order."""
    return [Suspect(int(row.item), row.label, None if pd.isna(row.suggested) else row.suggested,
                    float(row.score), int(row.rank))
            for row in table.itertuples(index=False)]


def hint_text(suspect: Suspect) -> str:
    """What the card says of a queue item (plain text: the card sets it as text)."""
    if suspect.suggested is None:
        return f"labeled {suspect.label}; the model has no suggestion"
    return f"labeled {suspect.label}; the model suggests {suspect.suggested}"


class ReviewDesk:
    """A review of the likely label mistakes of a labeling desk's session.

    Parameters
    ----------
    desk : Desk
        The labeling desk of a session resumed from a store project (``project_link`` set);
        it owns the session, so the review changes labels in the store and then brings the
        session up to date through :meth:`Desk.sync`.
    who : str
        The reviewer's name, recorded with every event.
    queue : DataFrame, optional
        The review queue (:func:`labelwise.suspect_labels`' columns); default
        ``desk.session.suspect_labels()`` now.

    Notes
    -----
    Skips are not written to the store: a skip event would set a labeled item aside for the
    labeling desk, and undoing it takes an unlabel, which would drop the label. A skipped item
    is passed over in this walk only. Thread-safe like :class:`Desk`.
    """

    def __init__(self, desk: Desk, who: str, queue: pd.DataFrame | None = None) -> None:
        if desk.session.project_link is None:
            raise ValueError("ReviewDesk needs a desk whose session was resumed from a store")
        self.desk = desk
        self.who = who
        table = desk.session.suspect_labels() if queue is None else queue
        self.queue: list[Suspect] = queue_of(table)
        self._by_item = {s.item: s for s in self.queue}
        self._done: set[int] = set()  # answered or skipped in this walk
        self._history: dict[str, list[Reviewed]] = {}
        self._receipts: dict[tuple[str, int], Receipt] = {}
        self._offered: set[int] = set()
        self._lock = threading.RLock()
        self.version = 0
        self._offer: Offer | None = None
        self._current = self._first_available()

    # -- what the card and the page read -----------------------------------------------------
    @property
    def session(self) -> LabelingSession:
        return self.desk.session

    @property
    def classes(self) -> list[Hashable]:
        """The labeling desk's classes (one key map for both modes)."""
        return self.desk.classes

    @property
    def accuracy(self) -> Callable[[LabelingSession], float | None] | None:
        return self.desk.accuracy

    def offer(self) -> Offer:
        """The current offer (computed once per change of the review)."""
        with self._lock:
            if self._offer is None:
                self._offer = self._make_offer()
            return self._offer

    def receipt(self, desk_id: str, client_seq: int) -> Receipt | None:
        """The receipt of an answer already received, else None."""
        return self._receipts.get((desk_id, client_seq))

    def offered_items(self, offer: Offer | None = None) -> list[int]:
        """The items ``offer`` (default: the current one) may put on screen, current first."""
        offer = self.offer() if offer is None else offer
        items = [offer.current.item, None if offer.after_skip is None else offer.after_skip.item]
        return [int(i) for i in dict.fromkeys(items) if i is not None]

    def second_items(self, offer: Offer | None = None) -> set[int]:
        """Every offered item is labeled: the store reserves none of them."""
        return set(self.offered_items(offer))

    def counts(self) -> dict[str, int]:
        """This review's answers so far: ``kept``, ``changed`` and ``skipped`` (undone
        answers do not count), and ``gone`` (relabeled by someone else meanwhile)."""
        with self._lock:
            answers = [r.answer for history in self._history.values() for r in history]
            kept = sum(a.kind == "label" and a.label == self._by_item[a.item].label
                       for a in answers)
            skipped = sum(a.kind == "skip" for a in answers)
            gone = sum(1 for s in self.queue if s.item not in self._done and not self._same(s))
            return {"kept": kept, "changed": len(answers) - kept - skipped,
                    "skipped": skipped, "gone": gone}

    @property
    def finished(self) -> bool:
        """Whether the whole queue is walked (answered, skipped, or relabeled by others)."""
        return self.offer().current.item is None

    def hint(self, item: int) -> str | None:
        """The card's caption for queue ``item`` (None: not in the queue)."""
        suspect = self._by_item.get(item)
        return None if suspect is None else hint_text(suspect)

    def view_of(self, views: Callable[[int], Mapping[str, Any]]
                ) -> Callable[[int], dict[str, Any]]:
        """``views`` (e.g. the page's :class:`~labelwise.dashboard.card.ItemViews`) with the
        review's hint as each item's caption (the card shows it under the item, as text)."""
        def view(item: int) -> dict[str, Any]:
            out = dict(views(item))
            hint = self.hint(item)
            if hint is not None:
                out["caption"] = hint
            return out

        return view

    # -- changing ----------------------------------------------------------------------------
    def add_class(self, label: Hashable) -> None:
        """Add a class on the labeling desk (a new button for both modes)."""
        with self._lock:
            if label not in self.desk.classes:
                self.desk.add_class(label)
                self._changed()

    def sync(self, apply: Callable[[LabelingSession], int] = sync_count) -> int:
        """Bring the session up to date (through the labeling desk) and move on if the
        current item was relabeled meanwhile; how many changes were applied."""
        with self._lock:
            changed = self.desk.sync(apply)
            if changed:
                self._move_on_if_gone()
                self._changed()
            return changed

    def reconsider(self) -> None:
        """Nothing to choose again: reviews reserve nothing (their items are labeled)."""

    def receive(self, answers: Iterable[Answer | Mapping[str, Any]]) -> list[Receipt]:
        """Apply a card's answers in client order; one receipt per answer (replays included).

        Raises
        ------
        InvalidInputError
            If an answer is malformed (nothing of the batch is applied then).
        """
        parsed = in_client_order(answers)
        with self._lock:
            return [self._receive_one(a) for a in parsed]

    # -- internals ---------------------------------------------------------------------------
    def _changed(self) -> None:
        self.version += 1
        self._offer = None

    def _same(self, suspect: Suspect) -> bool:
        """Whether the item still has the label the queue shows."""
        return self.session.labels.get(suspect.item) == suspect.label

    def _available(self, suspect: Suspect) -> bool:
        return suspect.item not in self._done and self._same(suspect)

    def _first_available(self, but: int | None = None) -> int | None:
        """The first queue item not walked yet (other than ``but``), in the queue's order."""
        return next((s.item for s in self.queue if s.item != but and self._available(s)), None)

    def _move_on_if_gone(self) -> None:
        current = self._by_item.get(self._current) if self._current is not None else None
        if current is not None and not self._available(current):
            self._current = self._first_available()

    def _receive_one(self, answer: Answer) -> Receipt:
        done = self._receipts.get(answer.key)
        if done is not None:
            return done
        try:
            reason = self._refusal(answer)
            if reason is not None:
                raise AnswerRefused(reason, self._explain(answer, reason))
            group = self._commit(answer)
        except AnswerRefused as refused:
            receipt = Receipt(*answer.key, answer.item, False, refused.reason, refused.message)
            self._move_on_if_gone()
            self._changed()
        else:
            self._apply(answer, group)
            receipt = Receipt(*answer.key, answer.item, True)
        self._receipts[answer.key] = receipt
        return receipt

    def _refusal(self, answer: Answer) -> str | None:
        """Why ``answer`` cannot be applied (a code of :data:`REASONS`), or None."""
        suspect = self._by_item.get(answer.item)
        if answer.kind == "undo":
            history = self._history.get(answer.desk_id)
            last = history[-1].answer if history else None
            if last is None or last.item != answer.item:
                return "nothing-to-undo"
            if last.kind == "label" and self.session.labels.get(last.item) != last.label:
                return "labeled"  # changed by someone since the review answer
            return None
        if suspect is None or answer.item not in self._offered:
            return "stale"
        if not self._same(suspect):
            return "labeled"
        if answer.item in self._done:
            return "stale"  # answered already: the card shows an item only once
        if answer.kind == "label" and answer.label not in self.classes:
            return "unknown-class"
        return None

    def _explain(self, answer: Answer, reason: str) -> str:
        if reason != "labeled":
            return REASONS[reason]
        return refusal_message(answer, stored_state(self.session, answer.item)[1])

    def _commit(self, answer: Answer) -> int | None:
        """Write ``answer`` to the store; the event group of a label (None otherwise)."""
        link = self.session.project_link
        item_id = link.ids[answer.item]
        if answer.kind == "skip":
            return None  # in this walk only (see the class notes)
        if answer.kind == "undo":
            last = self._history[answer.desk_id][-1]
            if last.group is None:
                return None  # a skip: nothing was stored
            result = link.store.undo_group(link.project, last.group, who=self.who)
            if result.status != "undone":
                self.sync()
                who = result.changes[-1].who if result.changes else None
                raise AnswerRefused("labeled", refusal_message(answer, who))
            self.sync()
            return None
        stored, changed_by = stored_state(self.session, answer.item)
        if stored != self._by_item[answer.item].label:
            self.sync()  # the session learns the other change, so the walk moves on
            raise AnswerRefused("labeled", refusal_message(answer, changed_by))
        # A one-item event group, so that its undo is checked and written by the store in
        # one transaction (refused if anyone changed the item since) and marked as an undo.
        group = link.store.record_group(link.project, [(item_id, answer.label)], who=self.who)
        self.sync()
        return group

    def _apply(self, answer: Answer, group: int | None) -> None:
        history = self._history.setdefault(answer.desk_id, [])
        if answer.kind == "undo":
            last = history.pop()
            self._done.discard(last.answer.item)
            self._current = last.answer.item  # the undone item is the one to look at again
        else:
            history.append(Reviewed(answer, group))
            self._done.add(answer.item)
            if answer.item == self._current or self._current is None:
                self._current = self._first_available()
        self._move_on_if_gone()
        self._changed()

    def _preview(self, item: int | None) -> Preview:
        """The item with its current label as the "prediction" (Enter keeps it) and its
        score (the out-of-sample probability of that label) as the confidence."""
        if item is None:
            return Preview(None)
        suspect = self._by_item[item]
        return Preview(item, suspect.label, suspect.score)

    def _make_offer(self) -> Offer:
        self._move_on_if_gone()
        item = self._current
        after_label: tuple[Preview, ...] = ()
        after_skip = None
        if item is not None:
            # The queue does not depend on the answer: one next item for every answer.
            after_skip = self._preview(self._first_available(but=item))
            after_label = tuple(after_skip for _ in self.classes)
        next_item = None if after_skip is None else after_skip.item
        self._offered.update(i for i in (item, next_item) if i is not None)
        undo_items = {desk_id: history[-1].answer.item
                      for desk_id, history in self._history.items() if history}
        walked = sum(1 for s in self.queue if not self._available(s))
        accuracy = None if self.accuracy is None else self.accuracy(self.session)
        # n_labeled / n_items count the walk: the card shows its finish once they are equal.
        return Offer(version=self.version, current=self._preview(item),
                     classes=tuple(self.classes), after_label=after_label,
                     after_skip=after_skip, n_labeled=walked, n_items=len(self.queue),
                     accuracy=accuracy, undo_items=undo_items)


def reviewable(session: LabelingSession, minimum: int = MIN_REVIEW_LABELS) -> bool:
    """Whether the session has the ``minimum`` labels a review needs."""
    return session.n_labeled >= minimum
