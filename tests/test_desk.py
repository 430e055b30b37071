"""The labeling card's server side (dashboard/desk.py) against a real LabelingSession.

The reference for every "next item" is a plain labeling loop on a fresh session with the same
seed: the desk must offer exactly what that loop would pick after each answer, and driving the
session through the desk must not change the session's own seeded picks. The pools have
duplicate rows on purpose, so ties are broken by the seeded generator and any stray draw shows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from labelwise import InvalidInputError, LabelingSession
from labelwise.dashboard.desk import (
    REASONS,
    Answer,
    AnswerRefused,
    Desk,
    choose_next,
    key_hints,
)

CLASSES = ("cat", "dog", "owl")


def tied_pool(n_distinct: int = 12, copies: int = 3, seed: int = 0) -> np.ndarray:
    """``n_distinct`` random directions, each repeated ``copies`` times (exact ties)."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n_distinct, 6))
    return np.repeat(base, copies, axis=0)


def truth(item: int) -> str:
    return CLASSES[item % len(CLASSES)]


def fresh(X, strategy: str, seed: int = 3) -> LabelingSession:
    session = LabelingSession(X, strategy, k=3, seed=seed)
    for label in CLASSES:
        session.add_class(label)
    return session


def replay(X, strategy: str,
           steps: list[tuple[int, str | None]]) -> tuple[LabelingSession, list[int]]:
    """A fresh session after the plain loop: for each (item, label) the pick, then the label
    (None: skipped, which the loop handles as the desk does)."""
    session = fresh(X, strategy)
    skipped: list[int] = []
    for item, label in steps:
        assert choose_next(session, skipped) == item
        if label is None:
            skipped.append(item)
        else:
            session.label(item, label)
    return session, skipped


class Card:
    """A test card: numbers its answers like the browser card does."""

    def __init__(self, desk: Desk, desk_id: str = "tab-1") -> None:
        self.desk, self.desk_id, self.seq = desk, desk_id, 0

    def send(self, item: int, kind: str = "label", label=None):
        self.seq += 1
        answer = Answer(self.desk_id, self.seq, item, kind, label)
        return self.desk.receive([answer])[0]


@pytest.mark.parametrize("strategy", ["U*I*D", "U*D", "auto", "random"])
def test_offer_previews_match_a_plain_loop(strategy):
    X = tied_pool()
    desk = Desk(fresh(X, strategy), CLASSES)
    card = Card(desk)
    steps: list[tuple[int, str | None]] = []
    for step in range(14):
        offer = desk.offer()
        item = offer.current.item
        reference, skipped = replay(X, strategy, steps)
        assert choose_next(reference, skipped) == item
        for label, preview in zip(offer.classes, offer.after_label, strict=True):
            branch, branch_skipped = replay(X, strategy, steps)
            choose_next(branch, branch_skipped)
            branch.label(item, label)
            assert preview.item == choose_next(branch, branch_skipped), (step, label)
            assert preview.prediction == branch.predict([preview.item])[0]
        branch, branch_skipped = replay(X, strategy, steps)
        choose_next(branch, branch_skipped)
        assert offer.after_skip.item == choose_next(branch, [*branch_skipped, item])
        answer = None if step % 5 == 4 else truth(item)  # a skip now and then
        receipt = card.send(item, "skip" if answer is None else "label", answer)
        assert receipt.saved
        steps.append((item, answer))
        expected = offer.after_skip if answer is None else \
            offer.after_label[offer.classes.index(answer)]
        assert desk.offer().current.item == expected.item


@pytest.mark.parametrize("strategy", ["U*I*D", "auto"])
def test_the_desk_does_not_disturb_the_sessions_picks(strategy):
    X = tied_pool()
    plain, through_desk = fresh(X, strategy), fresh(X, strategy)
    desk = Desk(through_desk, CLASSES)
    card = Card(desk)
    for _ in range(20):
        item = plain.next()
        assert desk.offer().current.item == item
        plain.label(item, truth(item))
        assert card.send(item, label=truth(item)).saved
    assert through_desk.labels == plain.labels
    assert desk.offer().current.item == plain.next()  # the desk has picked the next already
    assert plain.rng.bit_generator.state == through_desk.rng.bit_generator.state
    mine, theirs = through_desk.explain_strategy(), plain.explain_strategy()
    assert (mine["arm"], mine["reason"]) == (theirs["arm"], theirs["reason"])
    if "decisions" in theirs and theirs["decisions"] is not None:  # auto: one row per pick
        pd.testing.assert_frame_equal(mine["decisions"], theirs["decisions"])


def test_replays_are_idempotent_by_desk_id_and_client_seq():
    desk = Desk(fresh(tied_pool(), "U*I*D"), CLASSES)
    item = desk.offer().current.item
    answer = {"desk_id": "tab-1", "client_seq": 1, "item": item, "kind": "label",
              "label": "dog"}
    first = desk.receive([answer])
    again = desk.receive([answer, answer])
    assert first[0].saved and again == [first[0], first[0]]
    assert desk.session.n_labeled == 1
    # The same sequence number from the same card is the same answer, whatever it says now.
    other = desk.offer().current.item
    forged = desk.receive([{**answer, "item": other, "label": "cat"}])
    assert forged == first and not desk.session.is_labeled(other)
    # Another card's sequence numbers are its own.
    assert desk.receive([{**answer, "desk_id": "tab-2", "item": other}])[0].saved


def test_an_item_that_was_not_offered_is_refused_as_stale():
    desk = Desk(fresh(tied_pool(), "U*I*D"), CLASSES)
    offer = desk.offer()
    offered = {offer.current.item, offer.after_skip.item, *(p.item for p in offer.after_label)}
    never = next(i for i in range(desk.session.n_items) if i not in offered)
    receipt = Card(desk).send(never, label="cat")
    assert not receipt.saved and receipt.reason == "stale"
    assert receipt.message == REASONS["stale"]
    assert not desk.session.is_labeled(never)
    outside = Card(desk, "tab-9").send(desk.session.n_items + 5, label="cat")
    assert outside.reason == "stale"


def test_an_item_labeled_by_another_tab_is_refused_and_the_desk_moves_on():
    desk = Desk(fresh(tied_pool(), "U*I*D"), CLASSES)
    first, second = Card(desk, "tab-1"), Card(desk, "tab-2")
    item = desk.offer().current.item
    assert first.send(item, label="cat").saved
    late = second.send(item, label="dog")
    assert not late.saved and late.reason == "labeled"
    assert desk.session.labels[item] == "cat"
    assert desk.offer().current.item != item


def test_a_preloaded_next_item_is_accepted_after_the_answer_before_it_was_refused():
    desk = Desk(fresh(tied_pool(), "U*I*D"), CLASSES)
    mine, theirs = Card(desk, "mine"), Card(desk, "theirs")
    offer = desk.offer()
    item, shown_next = offer.current.item, offer.after_label[0].item
    assert theirs.send(item, label="owl").saved  # the other tab is quicker
    assert mine.send(item, label="cat").reason == "labeled"
    # My card had swapped to the next item at once, and I labeled it: that is kept.
    assert mine.send(shown_next, label="dog").saved
    assert desk.session.labels[shown_next] == "dog"


def test_unknown_class_and_nothing_to_undo_are_refused():
    desk = Desk(fresh(tied_pool(), "U*I*D"), CLASSES)
    card = Card(desk)
    item = desk.offer().current.item
    assert card.send(item, label="emu").reason == "unknown-class"
    assert card.send(item, "undo").reason == "nothing-to-undo"
    desk.add_class("emu")
    assert desk.offer().classes == (*CLASSES, "emu")
    assert card.send(item, label="emu").saved
    # Another card cannot undo my answer.
    assert Card(desk, "tab-2").send(item, "undo").reason == "nothing-to-undo"


def test_undo_returns_the_item_to_the_pool_and_offers_it_again():
    X = tied_pool()
    desk = Desk(fresh(X, "U*I*D"), CLASSES)
    card = Card(desk)
    first = desk.offer().current.item
    assert card.send(first, label="cat").saved
    second = desk.offer().current.item
    assert card.send(second, label="dog").saved
    assert card.send(second, "undo").saved
    assert desk.offer().current.item == second
    assert not desk.session.is_labeled(second) and desk.session.n_labeled == 1
    assert desk.offer().undo_items == {"tab-1": first}
    # The model is the one of the first label alone.
    alone = fresh(X, "U*I*D")
    alone.label(first, "cat")
    np.testing.assert_array_equal(desk.session.predict_proba(), alone.predict_proba())
    # An undone skip puts the item back as well.
    assert card.send(second, "skip").saved and second in desk.skipped
    assert card.send(second, "undo").saved
    assert second not in desk.skipped and desk.offer().current.item == second


def test_skipped_items_come_back_only_when_nothing_else_is_left():
    X = tied_pool(n_distinct=2, copies=2)  # 4 items
    desk = Desk(fresh(X, "U*I*D"), CLASSES)
    card = Card(desk)
    skipped = desk.offer().current.item
    assert card.send(skipped, "skip").saved
    seen = []
    for _ in range(3):
        item = desk.offer().current.item
        assert item != skipped
        seen.append(item)
        assert card.send(item, label="cat").saved
    assert desk.offer().current.item == skipped
    assert sorted([*seen, skipped]) == [0, 1, 2, 3]


def test_all_items_labeled_is_a_finish_with_undo():
    X = tied_pool(n_distinct=2, copies=2)
    desk = Desk(fresh(X, "U*I*D"), CLASSES)
    card = Card(desk)
    for _ in range(4):
        offer = desk.offer()
        item = offer.current.item
        last_preview = offer.after_label[1]
        assert card.send(item, label="dog").saved
    finished = desk.offer()
    assert last_preview.item is None
    assert finished.current.item is None and finished.after_label == ()
    assert finished.after_skip is None
    assert (finished.n_labeled, finished.n_items) == (4, 4)
    assert card.send(item, "undo").saved
    assert desk.offer().current.item == item


def test_commit_runs_before_the_session_changes_and_may_refuse():
    session = fresh(tied_pool(), "U*I*D")
    seen = []

    def commit(answer: Answer) -> None:
        seen.append((answer.item, session.is_labeled(answer.item)))
        if answer.label == "owl":
            raise AnswerRefused("labeled", "the store has a label from Ana")

    desk = Desk(session, CLASSES, commit=commit)
    card = Card(desk)
    item = desk.offer().current.item
    refused = card.send(item, label="owl")
    assert not refused.saved and refused.message == "the store has a label from Ana"
    assert not session.is_labeled(item)
    assert card.send(item, label="cat").saved
    assert seen == [(item, False), (item, False)] and session.labels[item] == "cat"


def test_a_failing_commit_leaves_the_answer_unacknowledged_for_a_retry():
    session = fresh(tied_pool(), "U*I*D")
    store_up = False
    committed = []

    def commit(answer: Answer) -> None:
        if not store_up:
            raise ConnectionError("store unreachable")
        committed.append(answer.key)

    desk = Desk(session, CLASSES, commit=commit)
    item = desk.offer().current.item
    answer = Answer("tab-1", 1, item, "label", "cat")
    with pytest.raises(ConnectionError):
        desk.receive([answer])
    assert desk.receipt("tab-1", 1) is None and not session.is_labeled(item)
    store_up = True
    assert desk.receive([answer])[0].saved
    assert desk.receive([answer])[0].saved
    assert committed == [("tab-1", 1)] and session.labels[item] == "cat"


def test_answers_are_applied_in_client_order():
    desk = Desk(fresh(tied_pool(), "U*I*D"), CLASSES)
    offer = desk.offer()
    item, after = offer.current.item, offer.after_label[2].item
    batch = [Answer("tab-1", 2, after, "label", "cat"),
             Answer("tab-1", 1, item, "label", "owl")]
    receipts = desk.receive(batch)
    assert [r.client_seq for r in receipts] == [1, 2]
    assert all(r.saved for r in receipts)
    assert desk.session.labeled.tolist() == [item, after]


def test_predictions_come_with_every_preview():
    X = tied_pool()
    desk = Desk(fresh(X, "U*I*D"), CLASSES)
    assert desk.offer().current.prediction is None  # nothing labeled yet
    card = Card(desk)
    item = desk.offer().current.item
    card.send(item, label="owl")
    offer = desk.offer()
    assert offer.current.prediction == "owl" and offer.current.confidence == 1.0
    assert all(p.prediction in CLASSES for p in offer.after_label)


def test_accuracy_is_read_from_the_given_estimate():
    desk = Desk(fresh(tied_pool(), "U*I*D"), CLASSES,
                accuracy=lambda s: None if s.n_labeled == 0 else s.n_labeled / 10)
    assert desk.offer().accuracy is None
    Card(desk).send(desk.offer().current.item, label="cat")
    assert desk.offer().accuracy == pytest.approx(0.1)


def test_key_hints_digits_then_letters_without_undo_and_skip():
    keys = key_hints(40)
    assert keys[:10] == list("1234567890")
    letters = [k for k in keys if k is not None and k.isalpha()]
    assert "u" not in letters and "s" not in letters and letters[0] == "a"
    assert len(set(k for k in keys if k)) == len([k for k in keys if k])
    assert keys[10 + len(letters):] == [None] * (40 - 10 - len(letters))
    assert key_hints(0) == []


@pytest.mark.parametrize("payload", [
    None,
    {"desk_id": "", "client_seq": 1, "item": 0, "kind": "skip"},
    {"desk_id": "a", "client_seq": -1, "item": 0, "kind": "skip"},
    {"desk_id": "a", "client_seq": True, "item": 0, "kind": "skip"},
    {"desk_id": "a", "client_seq": 1, "item": "0", "kind": "skip"},
    {"desk_id": "a", "client_seq": 1, "item": 0, "kind": "delete"},
    {"desk_id": "a", "client_seq": 1, "item": 0, "kind": "label"},
    {"desk_id": "a", "client_seq": 1, "item": 0, "kind": "label", "label": ["x"]},
])
def test_malformed_answers_are_invalid_input(payload):
    desk = Desk(fresh(tied_pool(), "U*I*D"), CLASSES)
    with pytest.raises(InvalidInputError):
        desk.receive([payload])
    assert desk.session.n_labeled == 0


@pytest.mark.parametrize("strategy", ["U*I*D", "U*D", "auto"])
def test_choose_next_passes_over_skipped_and_excluded_items_at_the_cost_of_one_pick(strategy):
    """Against the definition, on a pool with exact duplicates (ties on purpose): never a
    skipped or excluded item while another is left; skipped items come back when only they
    are left, excluded ones never (None); nothing to pass over is a plain ``next()``; and a
    fixed strategy's pick costs one selection however many items are passed over."""
    X = tied_pool()
    rng = np.random.default_rng(7)
    for trial in range(12):
        session = fresh(X, strategy, seed=trial)
        for item in rng.choice(len(X), size=4, replace=False):
            session.label(int(item), truth(int(item)))
        pool = session.pool.tolist()
        skipped = [int(i) for i in rng.choice(pool, size=5, replace=False)]
        rest = [i for i in pool if i not in skipped]
        excluded = [int(i) for i in rng.choice(rest, size=3, replace=False)]
        pick = choose_next(session, skipped, excluded)
        assert pick in set(pool) - set(skipped) - set(excluded)
        assert choose_next(session, pool, excluded) in set(pool) - set(excluded)
        assert choose_next(session, [], pool) is None
        assert choose_next(session, skipped, [i for i in pool if i not in skipped]) in skipped
        twins = [fresh(X, strategy, seed=trial) for _ in range(2)]
        for twin in twins:
            for item, label in session.labels.items():
                twin.label(int(item), label)
        assert choose_next(twins[0], [], []) == twins[1].next()
    if strategy != "auto":
        calls = []
        session = fresh(X, strategy)
        select = session.policy.select
        session.policy.select = lambda view, count, rng: calls.append(count) or select(
            view, count, rng)
        choose_next(session, session.pool.tolist()[:20], session.pool.tolist()[20:30])
        assert calls == [1]
