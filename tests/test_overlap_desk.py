"""Double labeling on the card's desk: a share of the answered items goes to a second labeler.

The rule (labelwise.labels.agreement.second_answer_due) against hand counts, then the desk the
card page runs (dashboard/desk.py with dashboard/card_store.py's commit and reservations) on a
real label store, SQLite and PostgreSQL: who is offered which item, what is stored, what is
refused.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from labelwise import (
    Dataset,
    InvalidInputError,
    LabelStore,
    agreement,
    answers_table,
    bind_project,
    overlap_items,
    resume_session,
    set_overlap_share,
)
from labelwise.dashboard.card_store import (
    Reservations,
    StoreCommit,
    claim_offer,
    sync_count,
    tab_holder,
)
from labelwise.dashboard.desk import REASONS, Answer, Desk
from labelwise.labels.agreement import second_answer_due

pytest_plugins = ["store_backends"]
PROJECT = "blobs"
CLASSES = ("a", "b")


# -- the rule -----------------------------------------------------------------------------------
def hand_answers() -> pd.DataFrame:
    # item 1: ana; 2: ana and ben; 3: ben; 4: ana; 5: cy; 6: ana, ben and cy.
    rows = [(1, "ana", "a"), (2, "ana", "a"), (2, "ben", "b"), (3, "ben", "a"),
            (4, "ana", "b"), (5, "cy", "a"), (6, "ana", "a"), (6, "ben", "a"), (6, "cy", "b")]
    return pd.DataFrame(rows, columns=["item", "labeler", "label"])


@pytest.mark.parametrize(("share", "who", "due", "candidates"), [
    (0.5, "ben", 1, (1, 4, 5)),   # ceil(0.5 * 6) = 3 wanted, items 2 and 6 doubled
    (0.5, "ana", 1, (3, 5)),      # never her own items
    (0.9, "cy", 4, (1, 3, 4)),    # ceil(5.4) = 6 - 2
    (0.2, "ben", 0, (1, 4, 5)),   # ceil(1.2) = 2 already doubled: none due
    (0.0, "dan", 0, (1, 3, 4, 5)),
])
def test_second_answers_due_by_hand(share, who, due, candidates):
    found = second_answer_due(hand_answers(), share, who)
    assert (found.due, found.candidates) == (due, candidates)
    # The dashboard's restatement (it may import only public names) says the same.


def test_second_answers_due_never_negative_and_empty():
    assert second_answer_due(hand_answers(), 0.0, "ana").due == 0
    empty = pd.DataFrame(columns=["item", "labeler", "label"])
    assert second_answer_due(empty, 1.0, "ana") == second_answer_due(empty, 0.5, "ana")
    assert second_answer_due(empty, 1.0, "ana").due == 0


@pytest.mark.parametrize(("answers", "share", "who"), [
    (hand_answers(), 1.5, "ana"), (hand_answers(), True, "ana"), (hand_answers(), 0.5, ""),
    (hand_answers(), 0.5, None), (hand_answers().drop(columns="label"), 0.5, "ana"),
    (pd.concat([hand_answers(), hand_answers().head(1)]), 0.5, "ana"),
])
def test_second_answers_due_checks_its_inputs(answers, share, who):
    with pytest.raises(InvalidInputError):
        second_answer_due(answers, share, who)


# -- the desk on a store -----------------------------------------------------------------------
def blobs(n: int = 40, seed: int = 3) -> Dataset:
    rng = np.random.default_rng(seed)
    centres = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    vectors = centres[np.arange(n) % 2] + 0.3 * rng.normal(size=(n, 3))
    items = pd.DataFrame({"id": [str(i) for i in range(n)]})
    return Dataset(PROJECT, vectors, np.array(CLASSES)[np.arange(n) % 2], items, "points")


@pytest.fixture
def store(store_location):
    opened = LabelStore(store_location)
    bind_project(opened, PROJECT, blobs())
    yield opened
    opened.close()


class Labeler:
    """One person's card on the store, driven as the page drives it."""

    def __init__(self, store: LabelStore, who: str, tab: str | None = None) -> None:
        self.session = resume_session(store, PROJECT, blobs(), "U*I*D", seed=0)
        self.tab = f"tab-{who}" if tab is None else tab  # one browser tab per person
        self.reservations = Reservations(self.session, tab_holder(self.tab))
        self.commit = StoreCommit(self.session, who)
        self.desk = Desk(self.session, CLASSES, commit=self.commit,
                         exclude=self.reservations.held_by_others, explain=self.commit.explain,
                         vouch=self.reservations.vouch)
        self.seq = 0

    def shown(self) -> int:
        """A page run: other labelers' labels in, the offer claimed; the current item."""
        self.desk.sync(sync_count)
        assert claim_offer(self.desk, self.reservations) == set()
        return self.desk.offer().current.item

    def send(self, item: int, kind: str = "label", label=None):
        self.seq += 1
        return self.desk.receive([Answer(self.tab, self.seq, item, kind, label)])[0]

    def label_next(self, label: str = "a") -> int:
        item = self.shown()
        assert self.send(item, label=label).saved
        return item


def answers_of(store: LabelStore, item: int) -> dict:
    table = answers_table(store, PROJECT)
    mine = table[table["item"] == str(item)]
    return dict(zip(mine["labeler"], mine["label"], strict=True))


def least_sure(session, items) -> int:
    return int(overlap_items(session.predict_proba(), sorted(items), share=1.0)[0])


def test_share_zero_changes_nothing(store):
    ana = Labeler(store, "ana")
    ana_items = [ana.label_next() for _ in range(4)]
    ben = Labeler(store, "ben")
    # The same desk without the overlap hook (passing over what ana's card holds, as ben's).
    plain = Desk(resume_session(store, PROJECT, blobs(), "U*I*D", seed=0), CLASSES,
                 exclude=ben.reservations.held_by_others, overlap=lambda: None)
    assert ben.commit.overlap() is None
    item = ben.shown()
    assert item == plain.offer().current.item and item not in ana_items
    assert ben.desk.second_items() == set()
    assert ben.send(ana_items[0], label="b").reason == "stale"  # never offered to ben


def test_second_answers_go_to_another_labeler_until_the_share_is_met(store):
    set_overlap_share(store, PROJECT, 0.5)
    ana = Labeler(store, "ana")
    ana_items = [ana.label_next("a") for _ in range(4)]
    # Ana is never offered her own items for a second answer.
    assert ana.shown() not in ana_items

    ben = Labeler(store, "ben")
    first = ben.shown()
    assert first == least_sure(ben.session, ana_items)  # ceil(0.5 * 4) = 2 due
    offer = ben.desk.offer()
    # Shown as any item: predicted without ana's label on it (blind double labeling).
    blind = resume_session(store, PROJECT, blobs(), "U*I*D", seed=0)
    blind.unlabel(first)
    assert offer.current.prediction == blind.predict([first])[0]
    assert ben.send(first, label="b").saved
    events = store.events(PROJECT)
    assert events.loc[events["item_id"] == str(first), ["action", "label", "who"]] \
        .values.tolist() == [["label", "a", "ana"], ["label", "b", "ben"]]
    assert answers_of(store, first) == {"ana": "a", "ben": "b"}
    pair = agreement(answers_table(store, PROJECT)[["item", "labeler", "label"]]).pairs
    assert pair[["labeler_a", "labeler_b", "items"]].values.tolist() == [["ana", "ben", 1]]
    # A second card answer to the same item is a third answer: refused.
    assert ben.send(first, label="a").reason == "labeled"

    rest = set(ana_items) - {first}
    second = ben.shown()
    assert second == least_sure(ben.session, rest)
    assert offer.after_label[offer.classes.index("b")].item == second  # the preview agreed
    assert ben.send(second, label="a").saved
    # Two of four answered items are doubled: no more second answers are due.
    third = ben.shown()
    assert not ben.session.is_labeled(third)
    # Only as the preview after a first answer on it: 5 items, ceil(2.5) = 3 wanted.
    assert ben.desk.second_items() <= rest - {second}
    assert ben.send(third, label="b").saved
    # One is due again: ana, asking first, gets it on ben's own item, never one of hers,
    # once she has answered the item on her screen (a due second answer does not replace it).
    on_screen = ana.shown()
    assert on_screen not in (*ana_items, third)
    assert ana.send(on_screen, label="a").saved  # 6 items, ceil(3) = 3 wanted, 2 doubled
    assert ana.shown() == third
    assert ana.send(third, label="b").saved
    assert answers_of(store, third) == {"ben": "b", "ana": "b"}
    assert not ana.session.is_labeled(ana.shown())
    # Three of six are doubled: ben's item on screen moves on from ana's last candidate, and
    # so does the preview after a skip; a first answer would make room for one more (7 items).
    assert not ben.session.is_labeled(ben.shown())
    offer = ben.desk.offer()
    assert not ben.session.is_labeled(offer.after_skip.item)
    assert {p.item for p in offer.after_label} <= rest - {second}


def ana_answered(store: LabelStore, n: int = 3) -> list[int]:
    """Every answer wanted twice; ana answers ``n`` items first (her items)."""
    set_overlap_share(store, PROJECT, 1.0)
    ana = Labeler(store, "ana")
    return [ana.label_next("a") for _ in range(n)]


def test_a_second_answer_the_store_has_overtaken_is_refused_as_labeled_meanwhile(store):
    ana_items = ana_answered(store)
    ben = Labeler(store, "ben")
    item = ben.shown()
    assert item in ana_items
    store.record(PROJECT, str(item), "label", "b", who="cy")  # cy relabels it meanwhile
    receipt = ben.send(item, label="b")
    assert not receipt.saved and receipt.message == "labeled meanwhile by cy"
    assert answers_of(store, item) == {"ana": "a", "cy": "b"}
    assert ben.desk.offer().current.item != item  # the desk moved on
    # The same with cy agreeing: the label is unchanged, but the item has two answers now.
    other = ben.shown()
    assert other in ana_items
    store.record(PROJECT, str(other), "label", "a", who="cy")
    receipt = ben.send(other, label="a")
    assert not receipt.saved and receipt.message == "labeled meanwhile by cy"
    assert answers_of(store, other) == {"ana": "a", "cy": "a"}


def test_second_answers_are_not_undone_and_do_not_let_the_first_labeler_undo(store):
    set_overlap_share(store, PROJECT, 1.0)
    ana = Labeler(store, "ana")
    item = ana.label_next("a")
    ben = Labeler(store, "ben")
    assert ben.shown() == item
    assert ben.send(item, label="a").saved  # agrees: the stored label stays "a"
    receipt = ben.send(item, "undo")
    assert not receipt.saved and receipt.message == REASONS["second-answer"]
    ana.desk.sync(sync_count)
    receipt = ana.send(item, "undo")
    assert not receipt.saved and receipt.message == "changed since by ben: not undone"
    assert answers_of(store, item) == {"ana": "a", "ben": "a"}
    assert store.current_labels(PROJECT)["label"].tolist() == ["a"]


def test_a_skipped_second_answer_is_not_offered_again(store):
    set_overlap_share(store, PROJECT, 1.0)
    ana = Labeler(store, "ana")
    ana_items = [ana.label_next("a") for _ in range(2)]
    ben = Labeler(store, "ben")
    first = ben.shown()
    assert ben.send(first, "skip").saved
    second = ben.shown()
    assert second in ana_items and second != first
    assert ben.send(second, label="b").saved
    assert not ben.session.is_labeled(ben.shown())  # only the skipped one is left
    assert answers_of(store, first) == {"ana": "a"}


def test_a_second_answer_on_one_screen_is_offered_to_no_one_else(store):
    ana_items = ana_answered(store)
    ben, cy = Labeler(store, "ben"), Labeler(store, "cy")
    on_bens = ben.shown()
    assert on_bens in ana_items
    assert on_bens in ben.reservations.second  # held while labeled
    assert not store.reserve(PROJECT, [str(on_bens)], "someone", second_answers=[str(on_bens)])
    on_cys = cy.shown()
    assert on_cys in ana_items and on_cys != on_bens
    assert on_cys not in ben.desk.offered_items() or not ben.desk.is_second_offer(on_cys)
    assert ben.send(on_bens, label="b").saved
    # The answer ended the reservation; the answered item is not claimed again.
    ben.shown()
    held = store.reservations(PROJECT)
    assert str(on_bens) not in set(held["item_id"])
    assert answers_of(store, on_bens) == {"ana": "a", "ben": "b"}


def test_an_unlabeled_claim_never_takes_a_labeled_item_nor_a_second_claim_an_unlabeled_one(store):
    store.record(PROJECT, "0", "label", "a", who="ana")
    assert store.reserve(PROJECT, ["0", "1"], "tab:x") == ["1"]
    assert store.reserve(PROJECT, ["0", "1"], "tab:y", second_answers=["0", "1"]) == ["0"]
    store.record(PROJECT, "0", "label", "b", who="ana")  # any label event ends the claim
    assert set(store.reservations(PROJECT)["item_id"]) == {"1"}


def test_a_reloaded_card_gets_its_second_answer_back_and_its_replay_is_saved(store):
    ana_items = ana_answered(store)
    ben = Labeler(store, "ben")
    shown = ben.shown()
    assert shown in ana_items
    # The page reloads: a new desk for the same tab, which never offered the item itself.
    reloaded = Labeler(store, "ben")
    assert reloaded.reservations.holds(shown, tab_holder("tab-ben"))
    assert reloaded.desk.resume_at(shown)
    assert reloaded.desk.offer().current.item == shown
    assert reloaded.desk.is_second_offer(shown)
    # The card's queue is replayed (same tab, same client sequence): saved as ben's answer.
    replay = reloaded.desk.receive([Answer("tab-ben", 1, shown, "label", "b")])[0]
    assert replay.saved
    assert answers_of(store, shown) == {"ana": "a", "ben": "b"}


def test_a_replayed_second_answer_is_refused_once_its_reservation_has_ended(store):
    ana_items = ana_answered(store)
    ben = Labeler(store, "ben")
    shown = ben.shown()
    store.record(PROJECT, str(shown), "label", "b", who="ana")  # ana changed her mind
    reloaded = Labeler(store, "ben")
    # The page resumes only an item its tab still holds (CardDesk.adopt_tab): not this one.
    assert shown in ana_items and not reloaded.reservations.holds(shown, tab_holder("tab-ben"))
    replay = reloaded.desk.receive([Answer("tab-ben", 1, shown, "label", "a")])[0]
    assert not replay.saved and replay.reason == "stale"
    assert answers_of(store, shown) == {"ana": "b"}
