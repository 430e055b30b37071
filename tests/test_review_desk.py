"""The Label page's review mode (dashboard/review_desk.py) on a real label store.

Two well separated clusters, twelve labels of which two are flipped: the review queue puts the
flipped ones first; keep, change, skip and undo of the walk are checked against the store.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from labelwise import Dataset, LabelStore, bind_project, resume_session
from labelwise.dashboard.card_store import StoreCommit
from labelwise.dashboard.desk import Answer, Desk
from labelwise.dashboard.review_desk import ReviewDesk, hint_text, reviewable

PROJECT = "blobs"
CLASSES = ("a", "b")
#: Items labeled before the review; items 2 and 5 get the other cluster's label.
LABELED = range(12)
FLIPPED = (2, 5)


def blobs(n: int = 40, seed: int = 3) -> Dataset:
    rng = np.random.default_rng(seed)
    centres = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    vectors = centres[np.arange(n) % 2] + 0.05 * rng.normal(size=(n, 3))
    items = pd.DataFrame({"id": [str(i) for i in range(n)]})
    return Dataset(PROJECT, vectors, np.array(CLASSES)[np.arange(n) % 2], items, "points")


def given(item: int) -> str:
    label = CLASSES[item % 2]
    return CLASSES[1 - item % 2] if item in FLIPPED else label


@pytest.fixture
def store(tmp_path):
    opened = LabelStore(tmp_path / "store.sqlite")
    bind_project(opened, PROJECT, blobs())
    for item in LABELED:
        opened.record(PROJECT, str(item), "label", given(item), who="ana")
    yield opened
    opened.close()


def open_review(store: LabelStore, who: str = "rev") -> ReviewDesk:
    session = resume_session(store, PROJECT, blobs(), "U*I*D", seed=0)
    desk = Desk(session, CLASSES, commit=StoreCommit(session, who))
    return ReviewDesk(desk, who)


def send(review: ReviewDesk, seq: int, item: int, kind: str = "label", label=None,
         card: str = "tab"):
    review.offer()  # the page draws the card (the offer) before the next answers arrive
    return review.receive([Answer(card, seq, item, kind, label)])[0]


def new_events(store: LabelStore, since: int) -> list[list]:
    events = store.events(PROJECT, since)
    return events[["item_id", "action", "label", "who"]].values.tolist()


def last_id(store: LabelStore) -> int:
    return int(store.events(PROJECT)["id"].max())


def test_the_walk_is_the_queue_in_its_order_and_every_next_item_is_the_same(store):
    review = open_review(store)
    expected = review.session.suspect_labels()["item"].tolist()
    assert [s.item for s in review.queue] == expected
    assert set(expected[:2]) == set(FLIPPED)  # the flipped labels are the most suspect
    shown = []
    for seq in range(len(expected)):
        offer = review.offer()
        item = offer.current.item
        shown.append(item)
        # The current label sits in the prediction slot: Enter keeps it.
        assert offer.current.prediction == given(item)
        nexts = {p.item for p in offer.after_label} | {offer.after_skip.item}
        assert len(nexts) == 1  # the queue does not depend on the answer
        assert send(review, seq, item, "skip").saved
        if seq + 1 < len(expected):
            assert review.offer().current.item == nexts.pop()
    assert shown == expected
    offer = review.offer()
    assert offer.current.item is None and offer.n_labeled == offer.n_items == len(expected)
    assert review.finished


def test_keep_and_change_are_label_events_by_the_reviewer_skip_and_undo_as_said(store):
    review = open_review(store)
    since = last_id(store)
    first, second, third = (s.item for s in review.queue[:3])
    assert send(review, 1, first, label=given(first)).saved  # keep
    other = CLASSES[1 - CLASSES.index(given(second))]
    assert send(review, 2, second, label=other).saved  # change
    assert send(review, 3, third, "skip").saved
    assert new_events(store, since) == [[str(first), "label", given(first), "rev"],
                                        [str(second), "label", other, "rev"]]
    assert review.counts() == {"kept": 1, "changed": 1, "skipped": 1, "gone": 0}
    assert review.session.labels[second] == other
    # Undo the skip: nothing to store, the item is back on the card.
    assert send(review, 4, third, "undo").saved
    assert review.offer().current.item == third
    assert len(new_events(store, since)) == 2
    # Undo the change: the queue's label is back, by the reviewer, marked as an undo.
    assert send(review, 5, second, "undo").saved
    events = store.events(PROJECT, since)
    assert events[["item_id", "action", "label", "who"]].values.tolist()[-1] == [
        str(second), "label", given(second), "rev"]
    assert events["group_id"].iloc[-1] == -events["group_id"].iloc[1]
    assert review.session.labels[second] == given(second)
    assert review.offer().current.item == second
    assert review.counts() == {"kept": 1, "changed": 0, "skipped": 0, "gone": 0}
    # The undo names the answer it undoes: only the card's latest one, once.
    refused = send(review, 6, first, "undo", card="other-tab")
    assert not refused.saved and refused.reason == "nothing-to-undo"
    # A replay changes nothing and returns the first receipt.
    assert send(review, 1, first, label="b") == review.receipt("tab", 1)


def test_an_item_relabeled_by_someone_else_since_it_was_shown_is_refused(store):
    review = open_review(store)
    item, after = review.offer().current.item, review.offer().after_skip.item
    other = CLASSES[1 - CLASSES.index(given(item))]
    store.record(PROJECT, str(item), "label", other, who="ben")  # not synced yet
    receipt = send(review, 1, item, label=given(item))
    assert not receipt.saved and receipt.reason == "labeled"
    assert receipt.message == "labeled meanwhile by ben"
    assert store.current_labels(PROJECT).set_index("item_id").loc[str(item), "label"] == other
    assert review.offer().current.item == after  # the walk moved on past it
    assert review.counts()["gone"] == 1
    # After a sync the desk itself refuses the item, naming who changed it.
    again = send(review, 2, item, label=given(item))
    assert not again.saved and again.message == "labeled meanwhile by ben"


def test_undo_of_a_change_is_refused_when_someone_changed_the_item_since(store):
    review = open_review(store)
    item = review.offer().current.item
    other = CLASSES[1 - CLASSES.index(given(item))]
    assert send(review, 1, item, label=other).saved
    store.record(PROJECT, str(item), "label", given(item), who="ben")
    receipt = send(review, 2, item, "undo")
    assert not receipt.saved and receipt.message == "changed since by ben: not undone"
    assert review.session.labels[item] == given(item)  # ben's label, synced


def test_the_finish_state_counts_the_walk_and_undo_brings_the_last_item_back(store):
    review = open_review(store)
    kept = changed = 0
    for seq, suspect in enumerate(list(review.queue)):
        assert review.offer().current.item == suspect.item
        flip = suspect.item in FLIPPED
        label = CLASSES[1 - CLASSES.index(suspect.label)] if flip else suspect.label
        assert send(review, seq, suspect.item, label=label).saved
        changed, kept = changed + flip, kept + (not flip)
    offer = review.offer()
    assert offer.current.item is None and review.finished
    assert review.counts() == {"kept": kept, "changed": changed, "skipped": 0, "gone": 0}
    assert changed == 2
    assert offer.undo_items == {"tab": review.queue[-1].item}
    assert send(review, 99, review.queue[-1].item, "undo").saved
    assert review.offer().current.item == review.queue[-1].item and not review.finished
    # Every flipped label is fixed in the store.
    current = store.current_labels(PROJECT).set_index("item_id")["label"]
    assert all(current[str(i)] == CLASSES[i % 2] for i in FLIPPED)


def test_the_card_caption_says_the_label_and_the_suggestion_as_text(store):
    review = open_review(store)
    suspect = review.queue[0]
    view = review.view_of(lambda item: {"item": item, "id": str(item)})(suspect.item)
    assert view["caption"] == hint_text(suspect)
    assert view["caption"] == (f"labeled {suspect.label}; the model suggests "
                               f"{suspect.suggested}")
    assert "caption" not in review.view_of(lambda item: {"item": item})(39)  # not in queue
    assert reviewable(review.session) and not reviewable(review.session, 13)


def test_an_answer_for_an_item_not_offered_is_stale(store):
    review = open_review(store)
    last = review.queue[-1].item
    receipt = send(review, 1, last, label=given(last))
    assert not receipt.saved and receipt.reason == "stale"
    assert send(review, 2, 39, label="a").reason == "stale"  # unlabeled: not in the queue


# -- the page --------------------------------------------------------------------------------
@pytest.fixture
def own_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LABELWISE_DATA_DIR", raising=False)
    monkeypatch.delenv("LABELWISE_STORE", raising=False)
    return tmp_path


def test_page_review_mode_needs_labels_then_walks_the_queue(own_folder):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from labelwise.dashboard.state import Source

    app = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
    at = AppTest.from_file(app, default_timeout=300)
    at.session_state["dataset_source"] = Source("pack", "moons")
    at.switch_page("views/label_card.py")
    at.run()
    assert not at.exception, at.exception
    assert at.radio(key="card_mode").value == "Label"
    at.radio(key="card_mode").set_value("Review likely mistakes").run()
    assert not at.exception, at.exception
    assert any(i.value.startswith("Review needs labeled items") for i in at.info)
    card = at.session_state["card_desk"]
    ids = card.desk.session.project_link.ids
    first, second = card.desk.classes[:2]
    store = LabelStore(own_folder / "labelwise-data")
    try:
        for n, item_id in enumerate(ids[:8]):
            store.record("moons", item_id, "label", first if n % 2 else second, who="ben")
        at.run()
        assert not at.exception, at.exception
        review = at.session_state["card_review_desk"]
        assert [s.item for s in review.queue] == (
            card.desk.session.suspect_labels()["item"].tolist())
        assert store.reservations("moons").empty  # the labeling card's items are let go
        queue_text = next(t.value for t in at.text if t.value.startswith("1. "))
        assert queue_text.splitlines()[0].startswith(f"1. {ids[review.queue[0].item]} ")
        # Back to Label: the review is dropped, and the labeling card claims its item again.
        at.radio(key="card_mode").set_value("Label").run()
        assert not at.exception, at.exception
        assert "card_review_desk" not in at.session_state
        assert not store.reservations("moons").empty
    finally:
        store.close()
