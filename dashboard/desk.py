"""The labeling card's server side: one offer at a time, and answers applied only to items shown.

Plain Python (no Streamlit), so tests and benchmarks drive exactly what the card's page runs.

An :class:`Offer` is the current item plus, for every possible answer (each class, and skip),
the item that comes next after it. The card in the browser swaps to that item at once and sends
the answer in the background; the server then applies it with :meth:`Desk.receive`:

* every :class:`Answer` names the item it was given for and carries the card's id and a client
  sequence number. It is applied only if this desk offered that item (as the current item or
  as one of the next items it sent along) and the item is still unlabeled; otherwise it is
  refused with a reason the card shows (:data:`REASONS`). Nothing is applied to an item that
  was not offered, so a card can never act on an item its person did not see;
* a replay of the same ``(desk_id, client_seq)`` returns the first :class:`Receipt` and changes
  nothing, so a card may resend its queue as often as it likes (after a reload, or while the
  server was away);
* with a ``commit`` callable (e.g. a write to the label store), an answer is committed before
  the session changes and before the receipt says "saved"; the callable refuses an answer by
  raising :class:`AnswerRefused`, and any other exception leaves the answer unacknowledged, so
  the card sends it again.

Double labeling: with an ``overlap`` hook (:class:`Overlap`: the project's share, the labeler,
everyone's answers), when the share asks for more second answers the next item is the one,
among the items answered by exactly one other labeler, the model is least sure about (lowest
margin, as :func:`labelwise.overlap_items` orders them), before the session's own pick. It is
shown like any item (its prediction made without its label: the labeler does not see the first
answer) and an answer to it is applied as a second answer instead of refused as "labeled";
only for an item this desk offered so, while its label is the one the desk saw then.

The next items are computed on copies of the session (sharing its read-only vectors), so the
session itself sees exactly one ``label()`` and one ``next()`` per answer, as in a plain
labeling loop: the desk does not disturb the session's seeded picks (``tests/test_desk.py``
compares the two, with ties on purpose).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from labelwise import (
    FixedPolicy,
    InvalidInputError,
    LabelingSession,
    overlap_items,
    second_answer_due,
)

#: Why an answer was refused: reason code -> what the card tells the person.
REASONS = {
    "labeled": "this item was labeled meanwhile (in another tab or by another person)",
    "stale": "this card was out of date: the item was not offered to it",
    "unknown-class": "this class is not on the desk (any more)",
    "nothing-to-undo": "there was nothing of this card's to undo",
    "second-answer": "a second answer (double labeling) is not undone here: change it under "
                     "your latest answers",
}
ANSWER_KINDS = ("label", "skip", "undo")
#: Keys of the first ten classes, then letters; u (undo) and s (skip) are taken.
DIGIT_KEYS = tuple("1234567890")
LETTER_KEYS = tuple(c for c in "abcdefghijklmnopqrstuvwxyz" if c not in "us")


def key_hints(n_classes: int) -> list[str | None]:
    """The key of each of ``n_classes`` buttons: 1-9 and 0, then letters (not u or s); None
    for classes beyond the keys there are (they are clicked)."""
    keys = [*DIGIT_KEYS, *LETTER_KEYS]
    return [keys[i] if i < len(keys) else None for i in range(n_classes)]


class AnswerRefused(Exception):
    """Raised by a desk's ``commit`` callable to refuse an answer (e.g. the store already has
    a label for the item from another person); ``reason`` is a code of :data:`REASONS`."""

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(message or REASONS.get(reason, reason))
        self.reason = reason
        self.message = message or REASONS.get(reason, reason)


@dataclass(frozen=True)
class Answer:
    """One answer of a card: ``kind`` ("label", "skip" or "undo") given for pool item ``item``.

    ``desk_id`` names the card (one per browser tab) and ``client_seq`` counts its answers;
    together they make replays idempotent.
    """

    desk_id: str
    client_seq: int
    item: int
    kind: str
    label: Hashable | None = None

    @property
    def key(self) -> tuple[str, int]:
        return (self.desk_id, self.client_seq)

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Answer:
        """Check and convert the JSON object a card sends; :class:`InvalidInputError` if it is
        malformed (a card never sends that, so it is a bug or a forged request)."""
        if not isinstance(payload, Mapping):
            raise InvalidInputError(f"an answer is a JSON object, got {payload!r}")
        desk_id, seq = payload.get("desk_id"), payload.get("client_seq")
        item, kind, label = payload.get("item"), payload.get("kind"), payload.get("label")
        if not isinstance(desk_id, str) or not desk_id:
            raise InvalidInputError(f"an answer needs a desk_id string, got {desk_id!r}")
        for name, value in (("client_seq", seq), ("item", item)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidInputError(f"{name} must be a non-negative integer, got {value!r}")
        if kind not in ANSWER_KINDS:
            raise InvalidInputError(f"kind must be one of {ANSWER_KINDS}, got {kind!r}")
        if kind == "label" and (label is None or not isinstance(label, Hashable)):
            raise InvalidInputError(f"a label answer needs a label, got {label!r}")
        return cls(desk_id, seq, item, kind, label if kind == "label" else None)


@dataclass(frozen=True)
class Receipt:
    """What became of an answer: ``saved``, or refused with ``reason`` (a code of
    :data:`REASONS`) and ``message`` (shown by the card)."""

    desk_id: str
    client_seq: int
    item: int
    saved: bool
    reason: str | None = None
    message: str = ""

    def to_payload(self) -> dict[str, Any]:
        return {"desk_id": self.desk_id, "client_seq": self.client_seq, "item": self.item,
                "status": "saved" if self.saved else "refused", "reason": self.reason,
                "message": self.message}


@dataclass(frozen=True)
class Preview:
    """An item to show, with the model's prediction for it (None before any label, or when
    ``item`` is None: nothing is left to label)."""

    item: int | None
    prediction: Hashable | None = None
    confidence: float | None = None


@dataclass(frozen=True)
class Offer:
    """The current item and the next item after each possible answer.

    ``after_label[j]`` follows labeling the current item ``classes[j]``; ``after_skip`` follows
    skipping it. ``current.item`` is None once every item is labeled (then there are no next
    items). ``undo_item`` is what an undo of ``desk_id``'s latest answer would bring back (see
    :meth:`Desk.offer`).
    """

    version: int
    current: Preview
    classes: tuple[Hashable, ...]
    after_label: tuple[Preview, ...]
    after_skip: Preview | None
    n_labeled: int
    n_items: int
    accuracy: float | None = None
    undo_items: Mapping[str, int] = field(default_factory=dict)


Commit = Callable[[Answer], None]


@dataclass(frozen=True)
class Overlap:
    """Double labeling as a desk's ``overlap`` hook reports it.

    ``share`` is the project's double labeling share, ``who`` the desk's labeler and
    ``answers`` everyone's current answers: columns ``item`` (pool index), ``labeler``,
    ``label``, one row per item and labeler (``labelwise.answers_table``).
    """

    share: float
    who: str
    answers: pd.DataFrame

    def answered(self, item: int, label: Hashable | None) -> Overlap:
        """The same with ``who``'s answer to ``item`` set to ``label`` (None: withdrawn)."""
        table = self.answers
        rest = table[~((table["item"] == item) & (table["labeler"] == self.who))]
        if label is not None:
            row = pd.DataFrame({"item": [int(item)], "labeler": [self.who], "label": [label]})
            rest = pd.concat([rest, row], ignore_index=True)
        return replace(self, answers=rest)

    @cached_property
    def _due(self) -> tuple[int, frozenset[int]]:
        found = second_answer_due(self.answers, self.share, self.who)
        return found.due, frozenset(int(item) for item in found.candidates)

    @property
    def due(self) -> int:
        """How many second answers the project still wants."""
        return self._due[0]

    @property
    def candidates(self) -> frozenset[int]:
        """The items answered by exactly one labeler other than ``who``."""
        return self._due[1]


def in_client_order(answers: Iterable[Answer | Mapping[str, Any]]) -> list[Answer]:
    """A card's answers parsed (all, before any is applied) and sorted by card and sequence."""
    parsed = [a if isinstance(a, Answer) else Answer.from_payload(a) for a in answers]
    return sorted(parsed, key=lambda a: a.key)


def choose_next(session: LabelingSession, skipped: Iterable[int],
                excluded: Iterable[int] = ()) -> int | None:
    """The session's next pick, passing over ``skipped`` and ``excluded`` items (None when
    nothing is left).

    Skipped items count as picks already made (as in a batch: their near-duplicates are not
    suggested next either) and are not offered; when only skipped items are left they are
    offered again. ``excluded`` items (e.g. reserved by another session) are taken out of
    the pool and never offered: None when nothing else is left.

    One selection whatever the number of skipped or excluded items: they enter as the
    batch state of the view (``LabeledView.with_picks``), so a long list of skips costs one
    matrix product, not one selection per skipped item (fixed strategies; the auto policy
    picks a batch of one more than the items to pass over).
    """
    pool = session.pool
    pool_items = set(pool.tolist())
    banned = set(excluded).intersection(pool_items)
    if len(banned) == len(pool_items):
        return None
    passed = set(skipped).intersection(pool_items) - banned
    if len(passed | banned) == len(pool_items):
        passed = set()  # only skipped items are left: they come round again
    if not passed and not banned:
        return int(session.next())
    if not isinstance(session.policy, FixedPolicy):
        # The auto policy reads every item out of the view's pool as labeled: it picks in a
        # batch instead, skipped and excluded items being picks that are then dropped.
        avoid = passed | banned
        picks = session.next(batch=min(len(pool), 1 + len(avoid)))
        return next(int(i) for i in picks if i not in avoid)
    view = session.view()
    in_pool = np.array(view.in_pool, copy=True)
    in_pool[sorted(passed | banned)] = False
    max_sim = np.array(view.max_sim, copy=True)
    if passed:
        vectors = view.vectors
        similar = vectors @ vectors[sorted(passed)].T
        np.maximum(max_sim, similar.max(axis=1).astype(max_sim.dtype), out=max_sim)
    return int(session.policy.select(view.with_picks(in_pool, max_sim), 1, session.rng)[0])


def preview_of(session: LabelingSession, item: int | None) -> Preview:
    """``item`` with the session's current prediction and its probability."""
    if item is None or session.n_labeled == 0:
        return Preview(item)
    proba = session.predict_proba([item])[0]
    return Preview(item, session.predict([item])[0], float(proba.max()))


class Desk:
    """One pool's labeling desk: offers items, previews the next ones, applies answers.

    Parameters
    ----------
    session : LabelingSession
        The pool and the model; the desk owns it from now on (label it only through the desk).
    classes : sequence, optional
        The buttons to show, in order (e.g. the dataset's classes); labels already in the
        session are added after them. They are made known to the session at once
        (:meth:`LabelingSession.add_class`), so previewing a label never adds a column.
    commit : callable, optional
        ``commit(answer)`` is called for every answer about to be applied, before the session
        changes (e.g. write it to the label store). It refuses by raising
        :class:`AnswerRefused`; any other exception propagates and the answer stays
        unacknowledged. Without it answers live in memory only.
    accuracy : callable, optional
        ``accuracy(session)``: the model's estimated accuracy (e.g. on a holdout), or None.
    exclude : callable, optional
        ``exclude()``: pool items not to offer now (e.g. reserved by another tab or person);
        asked once whenever the desk chooses items.
    vouch : callable, optional
        ``vouch(answer)``: whether an item this desk did not offer was shown to the answer's
        card all the same (e.g. by an earlier desk of the same tab, before a reload or a
        restart of the server: the store's reservations say so). Without it, such answers
        are refused as stale.
    explain : callable, optional
        ``explain(answer, reason)``: the message for a refusal the desk found itself (e.g.
        naming who labeled the item, from the store), or None for :data:`REASONS`'s.
    overlap : callable, optional
        ``overlap()``: the project's double labeling (:class:`Overlap`), or None for none;
        asked with ``exclude``. Defaults to ``commit.overlap`` when the commit hook has one
        (:class:`~labelwise.dashboard.card_store.StoreCommit`), so a store-backed desk hands
        out second answers without further wiring.

    Notes
    -----
    Thread-safe: several browser tabs may share one desk (each card has its own ``desk_id``).
    Copies of the session for previews share its vectors and ``project_link``; a session built
    with a ``similarities`` callable that holds large arrays is copied with them.
    """

    def __init__(self, session: LabelingSession, classes: Sequence[Hashable] = (), *,
                 commit: Commit | None = None,
                 accuracy: Callable[[LabelingSession], float | None] | None = None,
                 exclude: Callable[[], Iterable[int]] | None = None,
                 explain: Callable[[Answer, str], str | None] | None = None,
                 vouch: Callable[[Answer], bool] | None = None,
                 overlap: Callable[[], Overlap | None] | None = None,
                 copies: Sequence[np.ndarray] = ()) -> None:
        self.session = session
        #: Near-duplicate group of each pool item (-1: none): once one item of a group is
        #: labeled, its copies are not suggested (labels are not spent on copies).
        self._copy_group = np.full(session.n_items, -1, dtype=np.int64)
        for number, group in enumerate(copies):
            self._copy_group[np.asarray(group, dtype=np.int64)] = number
        self.overlap = overlap if overlap is not None else getattr(commit, "overlap", None)
        self._overlap: Overlap | None = None
        #: Labeled items offered for a second answer -> the label the desk saw then.
        self._second: dict[int, Hashable] = {}
        #: Items this desk's cards answered as second answers (not undone here).
        self._second_answered: set[int] = set()
        self.vouch = vouch
        self.explain = explain
        self.exclude = exclude
        self._excluded: set[int] = set()
        self.commit = commit
        self.accuracy = accuracy
        self.classes: list[Hashable] = []
        self.skipped: list[int] = []
        self._history: dict[str, list[Answer]] = {}  # each card's applied answers, for undo
        self._receipts: dict[tuple[str, int], Receipt] = {}
        self._offered: set[int] = set()
        self._lock = threading.RLock()
        self.version = 0
        self._current: int | None = None
        self._offer: Offer | None = None
        for label in [*classes, *session.classes]:
            self._add_class(label)
        self._refresh_excluded()
        self._current = self._choose(session, self.skipped, self._overlap)

    # -- reading ---------------------------------------------------------------------------
    def offer(self) -> Offer:
        """The current offer (computed once per change of the desk)."""
        with self._lock:
            if self._offer is None:
                self._offer = self._make_offer()
            return self._offer

    def receipt(self, desk_id: str, client_seq: int) -> Receipt | None:
        """The receipt of an answer already received, else None."""
        return self._receipts.get((desk_id, client_seq))

    # -- changing --------------------------------------------------------------------------
    def add_class(self, label: Hashable) -> None:
        """Add a button (a label typed in by a person); the key map follows the class list."""
        with self._lock:
            if label not in self.classes:
                self._add_class(label)
                self._changed()

    def sync(self, apply: Callable[[LabelingSession], int]) -> int:
        """Bring the session up to date with ``apply(session)`` (e.g. other labelers' labels
        from the store; returns how many changes it applied) and move on if the current item
        was taken meanwhile or is now excluded."""
        with self._lock:
            changed = apply(self.session)
            for label in self.session.classes:
                if label not in self.classes:
                    self.classes.append(label)
            self._refresh_excluded()
            moved = not self._available(self._current)
            if moved:
                self._current = self._next_current()
            if changed or moved:
                self._changed()
            return changed

    def reconsider(self) -> None:
        """Choose again with a fresh ``exclude()``: the current item if it is excluded now, and
        every next item (e.g. after another session won an item this desk offered)."""
        with self._lock:
            self._refresh_excluded()
            if not self._available(self._current):
                self._current = self._next_current()
            self._changed()

    def resume_at(self, item: int) -> bool:
        """Make ``item`` the current item again if it is still free for this desk (e.g. the
        item a reloaded card showed, still reserved for its tab); whether it is now.

        The caller vouches that ``item`` was shown to this desk's labeler: a labeled item
        that is still open for their second answer is offered as that again."""
        with self._lock:
            self._refresh_excluded()
            self._restore_second(item)
            if not self._available(item) or item == self._current:
                return item == self._current
            self._current = int(item)
            self._offered.add(int(item))
            self._changed()
            return True

    def second_items(self, offer: Offer | None = None) -> set[int]:
        """The items of ``offer`` (default: the current one) offered for a second answer:
        labeled already (``claim_offer`` reserves them as such)."""
        return {i for i in self.offered_items(offer) if self.session.is_labeled(i)}

    def is_second_offer(self, item: int) -> bool:
        """Whether labeled ``item`` was offered for a second answer that is still open (same
        label as then, one answer, not this labeler's)."""
        with self._lock:
            return self._second_open(int(item))

    def offered_items(self, offer: Offer | None = None) -> list[int]:
        """The items ``offer`` (default: the current one) may put on screen: the current item
        and each next item, without repeats, current first."""
        offer = self.offer() if offer is None else offer
        items = [offer.current.item, *(p.item for p in offer.after_label),
                 None if offer.after_skip is None else offer.after_skip.item]
        return [int(i) for i in dict.fromkeys(items) if i is not None]

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

    # -- internals -------------------------------------------------------------------------
    def _add_class(self, label: Hashable) -> None:
        self.session.add_class(label)
        if label not in self.classes:
            self.classes.append(label)

    def _changed(self) -> None:
        self.version += 1
        self._offer = None

    def _receive_one(self, answer: Answer) -> Receipt:
        done = self._receipts.get(answer.key)
        if done is not None:
            return done
        reason = self._refusal(answer)
        if reason is None:
            try:
                if self.commit is not None:
                    self.commit(answer)
            except AnswerRefused as refused:
                receipt = Receipt(*answer.key, answer.item, False, refused.reason,
                                  refused.message)
            else:
                self._apply(answer)
                receipt = Receipt(*answer.key, answer.item, True)
        else:
            message = None if self.explain is None else self.explain(answer, reason)
            receipt = Receipt(*answer.key, answer.item, False, reason,
                              message or REASONS[reason])
        self._receipts[answer.key] = receipt
        if not receipt.saved:
            self._move_on_if_taken()
        return receipt

    def _refusal(self, answer: Answer) -> str | None:
        """Why ``answer`` cannot be applied, or None."""
        session = self.session
        if answer.item >= session.n_items:
            return "stale"
        if answer.kind == "undo":
            history = self._history.get(answer.desk_id)
            last = history[-1] if history else None
            if last is None or last.item != answer.item:
                return "nothing-to-undo"
            if last.item in self._second_answered:
                # Unlabeling would drop the first labeler's answer from the current label.
                return "second-answer"
            if last.kind == "label" and session.labels.get(answer.item) != last.label:
                return "labeled"  # relabeled or undone elsewhere since
            return None
        if answer.item not in self._offered:
            if not (self.vouch and self.vouch(answer)):
                return "stale"
            self._restore_second(answer.item)  # e.g. a queue replayed after a reload
        if session.is_labeled(answer.item) and not self._second_open(answer.item):
            return "labeled"
        if answer.kind == "label" and answer.label not in self.classes:
            return "unknown-class"
        return None

    def _apply(self, answer: Answer) -> None:
        history = self._history.setdefault(answer.desk_id, [])
        if answer.kind == "undo":
            last = history.pop()
            if last.kind == "label":
                self.session.unlabel(last.item)
                self._note_answer(last.item, None)
            elif last.item in self.skipped:
                self.skipped.remove(last.item)
            self._current = last.item  # the undone item is the one to look at again
        else:
            if self.session.is_labeled(answer.item):  # the desk accepted a second answer
                self._second_answered.add(answer.item)
            if answer.kind == "label":
                self.session.label(answer.item, answer.label)
                self._note_answer(answer.item, answer.label)
            else:
                self.skipped.append(answer.item)
            history.append(answer)
            if answer.item == self._current or not self._available(self._current):
                self._current = self._next_current()
        self._changed()

    def _available(self, item: int | None) -> bool:
        return (item is not None and not self._taken(item)
                and item not in self.skipped and item not in self._excluded)

    def _taken(self, item: int) -> bool:
        """Labeled, and not (or no longer) to be offered for this desk's second answer: once
        the share is met the desk moves on, though an answer already given still counts."""
        return self.session.is_labeled(item) and not (
            self._second_open(item) and self._overlap is not None and self._overlap.due > 0)

    def _second_open(self, item: int) -> bool:
        """Whether labeled ``item`` was offered for a second answer, still has the label the
        desk saw then, and still has one answer, not this labeler's."""
        return (item in self._second and self.session.labels.get(item) == self._second[item]
                and self._overlap is not None and item in self._overlap.candidates)

    def _restore_second(self, item: int) -> None:
        """A labeled item vouched for as shown to this desk's labeler, but not offered by
        this desk (it was built after a reload): open for their second answer again if the
        project still wants one from them. The label seen then is taken as the current one:
        the reservation kept everyone else from answering it meanwhile."""
        if (item not in self._second and self.session.is_labeled(item)
                and self._overlap is not None and item in self._overlap.candidates):
            self._second[item] = self.session.labels[item]

    def _note_second(self, items: Iterable[int | None]) -> None:
        """Remember the label seen on each labeled item about to be offered (a second
        answer is accepted only while the item keeps it)."""
        for item in items:
            if item is not None and self.session.is_labeled(item):
                self._second[item] = self.session.labels[item]

    def _note_answer(self, item: int, label: Hashable | None) -> None:
        # This desk's own answers count at once, as in the previews (no store round trip).
        if self._overlap is not None:
            self._overlap = self._overlap.answered(item, label)

    def _refresh_excluded(self) -> None:
        self._excluded = set() if self.exclude is None else set(self.exclude())
        self._overlap = None if self.overlap is None else self.overlap()

    def _choose(self, session: LabelingSession, skipped: Sequence[int],
                overlap: Overlap | None) -> int | None:
        """A due second answer first (least sure candidate), else the session's pick."""
        second = self._second_pick(session, skipped, overlap)
        if second is not None:
            if session is self.session:  # a branch's picks are noted when offered
                self._note_second([second])
            return second
        copies = self._copies_of_labeled(session)
        if copies:
            pick = choose_next(session, skipped, self._excluded | copies)
            if pick is not None:
                return pick
            # Only copies (or reserved items) are left: offer them rather than nothing.
        return choose_next(session, skipped, self._excluded)

    def _copies_of_labeled(self, session: LabelingSession) -> set[int]:
        """Unlabeled items of the near-duplicate groups that have a labeled item."""
        groups = np.unique(self._copy_group[session.labeled])
        groups = groups[groups >= 0]
        if not groups.size:
            return set()
        members = np.flatnonzero(np.isin(self._copy_group, groups))
        return {int(i) for i in members if not session.is_labeled(int(i))}

    def copies_of(self, item: int) -> list[int]:
        """The unlabeled near-duplicates of pool ``item`` (its group's other items)."""
        group = self._copy_group[item]
        if group < 0:
            return []
        return [int(i) for i in np.flatnonzero(self._copy_group == group)
                if i != item and not self.session.is_labeled(int(i))]

    def _second_pick(self, session: LabelingSession, skipped: Sequence[int],
                     overlap: Overlap | None) -> int | None:
        if overlap is None or overlap.share <= 0 or overlap.due <= 0:
            return None
        banned = set(skipped) | self._excluded
        items = sorted(i for i in overlap.candidates
                       if 0 <= i < session.n_items and i not in banned and session.is_labeled(i))
        if not items:
            return None
        # Own generator for ties (overlap_items' seed): the session's draws stay untouched.
        order = overlap_items(session.predict_proba(items), np.arange(len(items)), 1.0)
        return items[int(order[0])]

    def _next_current(self) -> int | None:
        pool = self.session.pool
        if len(pool) and set(pool.tolist()) <= set(self.skipped):
            self.skipped.clear()  # only skipped items are left: they come round again
        return self._choose(self.session, self.skipped, self._overlap)

    def _move_on_if_taken(self) -> None:
        """After a refusal: if the current item was labeled elsewhere, offer another."""
        if self._current is not None and self._taken(self._current):
            self._current = self._next_current()
            self._changed()

    def _make_offer(self) -> Offer:
        self._refresh_excluded()
        if self._current is not None and not self._available(self._current):
            self._current = self._next_current()  # excluded now, or its second answer given
        session, item = self.session, self._current
        after_label: tuple[Preview, ...] = ()
        after_skip = None
        if item is not None:
            after_label = tuple(self._preview_after(item, label) for label in self.classes)
            after_skip = self._preview_after(item, None)
        offered = [item, *(p.item for p in after_label),
                   None if after_skip is None else after_skip.item]
        self._offered.update(i for i in offered if i is not None)
        self._note_second(offered)
        undo_items = {desk_id: history[-1].item
                      for desk_id, history in self._history.items() if history}
        return Offer(
            version=self.version, current=self._blind_preview(session, item),
            classes=tuple(self.classes), after_label=after_label, after_skip=after_skip,
            n_labeled=session.n_labeled, n_items=session.n_items,
            accuracy=None if self.accuracy is None else self.accuracy(session),
            undo_items=undo_items)

    def _preview_after(self, item: int, label: Hashable | None) -> Preview:
        """The next item if ``item`` were labeled ``label`` (None: skipped), on a copy."""
        branch = self._copy_session()
        skipped, overlap = list(self.skipped), self._overlap
        if label is None:
            skipped.append(item)
        else:
            branch.label(item, label)
            overlap = None if overlap is None else overlap.answered(item, label)
        pool = branch.pool
        if len(pool) and set(pool.tolist()) <= set(skipped):
            skipped = []
        return self._blind_preview(branch, self._choose(branch, skipped, overlap))

    def _blind_preview(self, session: LabelingSession, item: int | None) -> Preview:
        """:func:`preview_of`, but a labeled item (offered for a second answer) is predicted
        without its own label: its prediction must not give the first answer away."""
        if item is None or not session.is_labeled(item):
            return preview_of(session, item)
        blind = session if session is not self.session else self._copy_session()
        blind.unlabel(item)
        return preview_of(blind, item)

    def _copy_session(self) -> LabelingSession:
        session = self.session
        # The vectors are never written and the link may hold a store connection: share them.
        shared = {id(session.vectors): session.vectors, id(session.project_link):
                  session.project_link}
        # So is the pool's graph (read-only: its arrays are most of a graph session's bytes;
        # copying them doubled the time of an offer's branch previews).
        graph = session.graph
        if graph is not None:
            shared[id(graph)] = graph
        return copy.deepcopy(session, shared)
