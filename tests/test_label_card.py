"""The card page's store side: commits, conflicts between labelers, reservations, undo events.

Real parts throughout: a SQLite label store in a temporary folder, sessions resumed from it
with labelwise.resume_session, the desk the page runs, and the page itself under AppTest.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from labelwise import Dataset, LabelStore, bind_project, resume_session
from labelwise.dashboard.card_store import Reservations, StoreCommit, sync_count, tab_holder
from labelwise.dashboard.desk import Answer, Desk
from labelwise.dashboard.state import Source

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
PROJECT = "blobs"
CLASSES = ("a", "b")


def blobs(n: int = 40, seed: int = 3) -> Dataset:
    """Two clusters with exact duplicates in each (ties on purpose)."""
    rng = np.random.default_rng(seed)
    centres = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    vectors = centres[np.arange(n) % 2] + 0.05 * rng.normal(size=(n, 3))
    vectors[1] = vectors[3]
    # Item ids are the pool indices as text, so the store's rows read plainly here.
    items = pd.DataFrame({"id": [str(i) for i in range(n)]})
    return Dataset(PROJECT, vectors, np.array(CLASSES)[np.arange(n) % 2], items, "points")


@pytest.fixture
def store(tmp_path):
    opened = LabelStore(tmp_path / "store.sqlite")
    bind_project(opened, PROJECT, blobs())
    yield opened
    opened.close()


def open_desk(store: LabelStore, who: str, holder: str) -> tuple[Desk, Reservations]:
    session = resume_session(store, PROJECT, blobs(), "U*I*D", seed=0)
    reservations = Reservations(session, holder)
    commit = StoreCommit(session, who)
    desk = Desk(session, CLASSES, commit=commit, exclude=reservations.held_by_others,
                explain=commit.explain)
    return desk, reservations


def hold_offer(desk: Desk, reservations: Reservations) -> int:
    offer = desk.offer()
    shown = [offer.current.item, *(p.item for p in offer.after_label), offer.after_skip.item]
    granted = reservations.hold(shown)
    assert offer.current.item in granted
    return offer.current.item


def answer(desk: Desk, seq: int, item: int, kind: str = "label", label=None, card="tab"):
    return desk.receive([Answer(card, seq, item, kind, label)])[0]


def stored(store: LabelStore) -> dict:
    table = store.current_labels(PROJECT)
    return dict(zip(table["item_id"], table["label"], strict=True))


def test_answers_are_in_the_store_with_the_labelers_name_before_the_receipt(store):
    desk, reservations = open_desk(store, "ana", "s1")
    item = hold_offer(desk, reservations)
    receipt = answer(desk, 0, item, label="b")
    assert receipt.saved
    events = store.events(PROJECT)
    assert events[["item_id", "action", "label", "who"]].values.tolist() == [
        [str(item), "label", "b", "ana"]]
    skipped = desk.offer().current.item
    assert answer(desk, 1, skipped, "skip").saved
    assert store.events(PROJECT)["action"].tolist() == ["label", "skip"]


def test_two_sessions_are_shown_different_items(store):
    desk_a, res_a = open_desk(store, "ana", "s1")
    first_a = hold_offer(desk_a, res_a)
    desk_b, res_b = open_desk(store, "ben", "s2")  # chooses after ana's items are held
    first_b = hold_offer(desk_b, res_b)
    assert first_a != first_b
    held = store.reservations(PROJECT)
    assert set(held.loc[held["who"] == "s1", "item_id"]).isdisjoint(
        held.loc[held["who"] == "s2", "item_id"])
    # Same seed, same labels: without ana's reservation ben would have been given her item.
    res_a.release()
    res_b.release()
    desk_c, _ = open_desk(store, "cy", "s3")
    assert desk_c.offer().current.item == first_a


def test_an_item_labeled_meanwhile_by_another_person_is_refused_with_their_name(store):
    desk_a, res_a = open_desk(store, "ana", "s1")
    item = hold_offer(desk_a, res_a)
    other = resume_session(store, PROJECT, blobs(), "U*I*D", seed=0)
    store.record(PROJECT, str(item), "label", "a", who="ben")  # e.g. a server without desks
    receipt = answer(desk_a, 0, item, label="b")
    assert not receipt.saved and receipt.message == "labeled meanwhile by ben"
    assert stored(store) == {str(item): "a"}
    assert other.n_labeled == 0 and sync_count(other) == 1
    assert desk_a.offer().current.item != item  # the desk moved on


def test_undo_is_an_unlabel_event_and_only_while_the_label_is_still_ours(store):
    desk_a, res_a = open_desk(store, "ana", "s1")
    first = hold_offer(desk_a, res_a)
    assert answer(desk_a, 0, first, label="a").saved
    second = hold_offer(desk_a, res_a)
    assert answer(desk_a, 1, second, label="b").saved
    assert answer(desk_a, 2, second, "undo").saved
    assert store.events(PROJECT)["action"].tolist() == ["label", "label", "unlabel"]
    assert stored(store) == {str(first): "a"}
    # A fresh desk (a reload, or a restarted server) resumes without the undone label.
    again, _ = open_desk(store, "ana", "s9")
    assert again.session.labels == {first: "a"}
    # Ben relabels ana's first item: her undo of it is refused and names him.
    store.record(PROJECT, str(first), "label", "b", who="ben")
    desk_a.sync(sync_count)
    receipt = answer(desk_a, 3, first, "undo")
    assert not receipt.saved and receipt.message == "changed since by ben: not undone"
    assert stored(store) == {str(first): "b"}


def test_sync_brings_other_labelers_labels_into_the_desk(store):
    desk_a, res_a = open_desk(store, "ana", "s1")
    current = hold_offer(desk_a, res_a)
    store.record(PROJECT, str(current), "label", "a", who="ben")
    assert desk_a.sync(sync_count) == 1
    assert desk_a.session.labels == {current: "a"}
    assert desk_a.offer().current.item != current


def test_an_item_held_by_another_session_is_never_offered(store):
    desk_a, res_a = open_desk(store, "ana", "s1")
    first_a = hold_offer(desk_a, res_a)
    held = set(store.reservations(PROJECT)["item_id"])
    desk_b, _ = open_desk(store, "ben", "s2")
    offer = desk_b.offer()
    shown = {offer.current.item, *(p.item for p in offer.after_label), offer.after_skip.item}
    assert {str(i) for i in shown}.isdisjoint(held)
    assert first_a not in shown


# -- the page ------------------------------------------------------------------------------
@pytest.fixture
def own_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LABELWISE_DATA_DIR", raising=False)
    monkeypatch.delenv("LABELWISE_STORE", raising=False)
    return tmp_path


def test_page_opens_the_packs_project_reserves_the_item_and_adds_classes(own_folder):
    at = AppTest.from_file(APP, default_timeout=300)
    at.session_state["dataset_source"] = Source("pack", "moons")
    at.switch_page("views/label_card.py")
    at.run()
    assert not at.exception, at.exception
    assert at.title[0].value.startswith("Label (card)")
    card = at.session_state["card_desk"]
    offer = card.desk.offer()
    assert offer.current.item is not None
    store = LabelStore(own_folder / "labelwise-data")
    try:
        held = store.reservations("moons")
        assert str(card.views(offer.current.item)["id"]) in set(held["item_id"])
        assert set(held["who"]) == {card.reservations.holder}
    finally:
        store.close()
    before = list(card.desk.classes)
    at.text_input(key="card_new_class").input("unsure")
    at.button(key="card_add_class").click().run()
    assert not at.exception, at.exception
    assert card.desk.classes == [*before, "unsure"]


def test_a_new_desk_of_the_same_tab_accepts_its_replayed_queue_and_no_other(store):
    """A reload or a restarted server builds a new desk; the tab's queued answers are for
    items the old desk showed, which the store's reservations (by tab id) remember."""
    old, res_old = open_desk(store, "ana", "s1")
    res_old.adopt(tab_holder("tab"))
    item = hold_offer(old, res_old)
    new, res_new = open_desk(store, "ana", "s2")
    new.vouch = res_new.vouch
    assert item not in new.offer().after_label  # held by the tab: not offered again
    assert answer(new, 0, item, label="a").saved
    assert stored(store) == {str(item): "a"}
    stranger = next(i for i in range(40) if i != item and not new.session.is_labeled(i)
                    and i not in {new.offer().current.item})
    receipt = answer(new, 1, stranger, label="a", card="other-tab")
    assert not receipt.saved and receipt.reason == "stale"
