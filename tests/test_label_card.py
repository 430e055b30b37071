"""The card page's store side: commits, conflicts between labelers, reservations, undo events.

Real parts throughout: a SQLite label store in a temporary folder, sessions resumed from it
with labelwise.resume_session, the desk the page runs, and the page itself under AppTest.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from labelwise import Dataset, LabelStore, bind_project, resume_session
from labelwise.dashboard.card_store import (
    Reservations,
    StoreCommit,
    claim_offer,
    sync_count,
    tab_holder,
)
from labelwise.dashboard.desk import Answer, Desk
from labelwise.dashboard.state import Source

pytest_plugins = ["store_backends"]
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


def open_desk(store: LabelStore, who: str, holder: str, project: str = PROJECT,
              dataset: Dataset | None = None) -> tuple[Desk, Reservations]:
    dataset = blobs() if dataset is None else dataset
    session = resume_session(store, project, dataset, "U*I*D", seed=0)
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


# -- the reservation race: claim-if-free, and the page claims what it is about to send ------
def race(n_threads: int, work) -> list:
    """Run ``work(thread_index)`` in ``n_threads`` threads released at once; their results."""
    start = threading.Barrier(n_threads)
    results: list = [None] * n_threads
    errors: list = []

    def run(index: int) -> None:
        try:
            start.wait()
            results[index] = work(index)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results


def test_two_holders_racing_for_one_item_never_both_get_it(store_location):
    """The store's claim is a conditional write in the check's transaction: of two holders
    asking for the same free item at the same moment, exactly one is granted it."""
    store = LabelStore(store_location)
    try:
        bind_project(store, PROJECT, blobs())
        for round_ in range(25):
            item = str(round_)
            got = race(2, lambda who, item=item: store.reserve(PROJECT, [item], f"tab{who}", 60))
            assert sorted(len(g) for g in got) == [0, 1], (round_, got)
            held = store.reservations(PROJECT)
            assert held["item_id"].tolist() == [item]
            assert held["who"].tolist() == [f"tab{[len(g) for g in got].index(1)}"]
            # The winner renews; the loser is still refused; once labeled, nobody gets it.
            winner = held["who"].iloc[0]
            loser = "tab1" if winner == "tab0" else "tab0"
            assert store.reserve(PROJECT, [item], winner, 60) == [item]
            assert store.reserve(PROJECT, [item], loser, 60) == []
            store.record(PROJECT, item, "label", "a", who="ana")
            assert store.reserve(PROJECT, [item], loser, 60) == []
            assert store.reservations(PROJECT).empty
    finally:
        store.close()


def test_a_claim_racing_a_label_never_holds_a_labeled_item(store_location):
    store = LabelStore(store_location)
    try:
        bind_project(store, PROJECT, blobs())
        for round_ in range(20):
            item = str(round_)

            def work(index: int, item=item) -> list:
                if index == 0:
                    store.record(PROJECT, item, "label", "b", who="ben")
                    return []
                return store.reserve(PROJECT, [item], "tab", 60)

            race(2, work)
            assert item not in set(store.reservations(PROJECT)["item_id"])
    finally:
        store.close()


def test_replace_drops_the_holders_other_items_in_the_same_claim(store):
    assert store.reserve(PROJECT, ["1", "2", "3"], "tab", 60) == ["1", "2", "3"]
    assert store.reserve(PROJECT, ["3", "4"], "other", 60) == ["4"]
    assert store.reserve(PROJECT, ["3", "5"], "tab", 60, replace=True) == ["3", "5"]
    held = store.reservations(PROJECT)
    assert sorted(zip(held["item_id"], held["who"], strict=True)) == [
        ("3", "tab"), ("4", "other"), ("5", "tab")]


def page_run(desk: Desk, reservations: Reservations, answers=()) -> set[int]:
    """What one run of the Label page does with the store, in its order; the items the
    card may put on screen afterwards (current and next items, minus those withheld)."""
    desk.receive(list(answers))
    desk.sync(sync_count)
    withheld = claim_offer(desk, reservations)
    return set(desk.offered_items()) - withheld


def test_the_items_a_card_may_show_next_are_never_another_cards(store):
    """The held-back bug: after an answer the desk chose new next items and sent them to the
    card unclaimed, so another tab could be given one of them. The page now claims every
    item of an offer before sending it; two cards alternate answers (the same label, so
    their sessions choose alike) and what each may show is always disjoint."""
    desks = [open_desk(store, who, f"tab:{who}") for who in ("ana", "ben")]
    showable = [page_run(*pair) for pair in desks]
    assert showable[0].isdisjoint(showable[1])
    seq = [0, 0]
    for step in range(24):
        me = step % 2
        desk, reservations = desks[me]
        item = desk.offer().current.item
        assert item in showable[me]
        answers = [Answer(f"card{me}", seq[me], item, "label", "a")]
        seq[me] += 1
        showable[me] = page_run(desk, reservations, answers)
        assert desk.receipt(f"card{me}", seq[me] - 1).saved
        showable[1 - me] = page_run(*desks[1 - me])
        assert showable[0].isdisjoint(showable[1]), step
        held = store.reservations(PROJECT)
        for index, (_, res) in enumerate(desks):
            mine = {int(i) for i in held.loc[held["who"] == res.holder, "item_id"]}
            assert showable[index] <= mine


def test_six_cards_labeling_at_once_never_answer_one_item_twice(store):
    """Six tabs in threads, each running the page's store steps and answering its current
    item: every answer is saved (none refused as labeled meanwhile), each item once. The
    pool is large enough for every tab's current and next items (4 each)."""
    big = blobs(120)
    bind_project(store, "big", big)
    pairs = [open_desk(store, f"p{i}", f"tab:{i}", "big", big) for i in range(6)]

    def label_five(index: int) -> list:
        desk, reservations = pairs[index]
        showable = page_run(desk, reservations)
        receipts, waits = [], 0
        for seq in range(5):
            while desk.offer().current.item not in showable:  # the card waits, then reruns
                waits += 1
                showable = page_run(desk, reservations)
            item = desk.offer().current.item
            desk.receive([Answer(f"card{index}", seq, item, "label", CLASSES[seq % 2])])
            receipts.append(desk.receipt(f"card{index}", seq))
            showable = page_run(desk, reservations)
        assert waits < 50
        return receipts

    receipts = [r for rs in race(6, label_five) for r in rs]
    assert all(r.saved for r in receipts), [r.message for r in receipts if not r.saved]
    events = store.events("big")
    assert len(events) == 30 and events["item_id"].is_unique


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
    assert at.title[0].value.startswith("Label · ")
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


def test_undo_of_a_skip_on_the_card_is_saved_and_a_resumed_desk_agrees_with_the_log(store):
    from labelwise.dashboard.labeling import skipped_items

    desk, reservations = open_desk(store, "ana", "s1")
    item = hold_offer(desk, reservations)
    assert answer(desk, 0, item, "skip").saved
    assert skipped_items(store, PROJECT, "ana") == [str(item)]
    assert answer(desk, 1, item, "undo").saved
    assert item not in desk.skipped
    assert desk.offer().current.item == item
    # The unskip is an event in the store, so a reload does not skip the item again (the
    # rule itself is tested against a replay in tests/test_store.py).
    assert store.events(PROJECT)["action"].tolist()[-2:] == ["skip", "unlabel"]
    assert skipped_items(store, PROJECT, "ana") == []
    reloaded, _ = open_desk(store, "ana", "s2")
    assert item not in reloaded.skipped


def test_page_shows_progress_and_builds_its_session_with_the_chosen_model(own_folder):
    import inspect

    from labelwise import LabelingSession
    from labelwise.dashboard import widgets

    at = AppTest.from_file(APP, default_timeout=300)
    at.session_state["dataset_source"] = Source("pack", "moons")
    at.switch_page("views/label_card.py")
    at.run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    card = at.session_state["card_desk"]
    n_items = card.desk.session.n_items
    assert metrics["Labeled"] == f"0 of {n_items}"
    assert metrics["Accuracy on your labels"] == "—"
    default = inspect.signature(LabelingSession).parameters["model"].default
    assert at.selectbox(key="card_model").value == default
    assert metrics["Model"] == card.desk.session.progress().model

    at.selectbox(key="card_model").select("graph").run()
    assert not at.exception, at.exception
    card = at.session_state["card_desk"]
    assert card.desk.session.progress().model == "graph"
    # Two labels by another labeler arrive on the next run, and the estimate appears.
    store = LabelStore(own_folder / "labelwise-data")
    try:
        for item in card.desk.session.project_link.ids[:3]:
            store.record("moons", item, "label", "x", who="ben")
    finally:
        store.close()
    at.run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Labeled"] == f"3 of {n_items}"
    assert metrics["Model"] == "graph"
    assert metrics["Accuracy on your labels"].endswith("%")
    advice = widgets.escape_markdown(card.desk.session.progress().recommendation)
    assert any(c.value.startswith(advice) for c in at.caption)


def test_history_lists_latest_answers_and_relabels_only_what_nobody_changed_since(store):
    from labelwise.dashboard.card_store import latest_answers, relabel
    from labelwise.dashboard.desk import AnswerRefused

    desk, reservations = open_desk(store, "ana", "s1")
    done = []
    for seq in range(3):
        item = hold_offer(desk, reservations)
        assert answer(desk, seq, item, label="a").saved
        done.append(item)
    assert latest_answers(desk.session, "ana") == done[::-1]
    assert latest_answers(desk.session, "ana", limit=2) == done[:0:-1]
    assert latest_answers(desk.session, "ben") == []

    relabel(desk, "ana", done[0], "b")
    assert stored(store)[str(done[0])] == "b" and desk.session.labels[done[0]] == "b"
    assert latest_answers(desk.session, "ana")[0] == done[0]  # a relabel is the latest answer

    store.record(PROJECT, str(done[1]), "label", "b", who="ben")  # ben changes it meanwhile
    with pytest.raises(AnswerRefused, match="changed since by ben"):
        relabel(desk, "ana", done[1], "a")
    assert stored(store)[str(done[1])] == "b" and desk.session.labels[done[1]] == "b"
    assert done[1] not in latest_answers(desk.session, "ana")  # ben's label now
    with pytest.raises(AnswerRefused):
        relabel(desk, "ana", done[2], "no such class")
    assert stored(store)[str(done[2])] == "a"
    # A history box drawn when done[2] was "a", reporting after the desk changed it to "b":
    # its old value sets nothing back, and a change from the stale "a" is refused.
    relabel(desk, "ana", done[2], "b")
    relabel(desk, "ana", done[2], "a", shown="a")
    assert stored(store)[str(done[2])] == "b"
    with pytest.raises(AnswerRefused, match="changed since"):
        relabel(desk, "ana", done[2], "b", shown="a")
    relabel(desk, "ana", done[2], "a", shown="b")
    assert stored(store)[str(done[2])] == "a"


def history_buttons(at) -> list[str]:
    return [b.key for b in at.button if b.key and b.key.startswith("card_hist_")]


def card_page_on_moons(own_folder):
    """The card page (AppTest) on the moons pack: the app, its desk, the pool's ids, the
    first two classes and the store the page writes to."""
    at = AppTest.from_file(APP, default_timeout=300)
    at.session_state["dataset_source"] = Source("pack", "moons")
    at.switch_page("views/label_card.py")
    at.run()
    card = at.session_state["card_desk"]
    return (at, card, card.desk.session.project_link.ids, card.desk.classes[:2],
            LabelStore(own_folder / "labelwise-data"))


def test_page_history_changes_a_label_in_the_store(own_folder):
    at, _, ids, (first, second), store = card_page_on_moons(own_folder)
    try:
        store.record("moons", ids[4], "label", first, who="labeler")
        at.run()
        assert not at.exception, at.exception
        # One button per class; the current label's is disabled.
        assert history_buttons(at) == ["card_hist_4_0", "card_hist_4_1"]
        assert at.button(key="card_hist_4_0").disabled
        at.button(key="card_hist_4_1").click().run()
        assert not at.exception, at.exception
        current = store.current_labels("moons")
        assert current.loc[current["item_id"] == ids[4], "label"].tolist() == [second]
        assert at.button(key="card_hist_4_1").disabled
        # Someone else changes it back meanwhile: the button drawn before is refused.
        store.record("moons", ids[4], "label", first, who="ben")
        at.button(key="card_hist_4_0").click().run()
        assert not at.exception, at.exception
        current = store.current_labels("moons")
        assert current.loc[current["item_id"] == ids[4], ["label", "who"]].values.tolist() \
            == [[first, "ben"]]
        assert len(at.warning) == 1 and "changed since by ben" in at.warning[0].value
    finally:
        store.close()


def test_review_mode_history_changes_a_label_and_never_sets_a_review_answer_back(own_folder):
    at, card, ids, (first, second), store = card_page_on_moons(own_folder)
    labels = np.asarray(card.desk.session.vectors[:, 0] > 0)  # any labels will do
    try:
        for row in range(12):
            store.record("moons", ids[row], "label", first if labels[row] else second,
                         who="labeler")
        at.run()
        at.sidebar.radio(key="card_mode").set_value("Review likely mistakes").run()
        assert not at.exception, at.exception
        assert "Your latest answers (review and labeling)" in [h.value for h in at.subheader]
        latest = 11  # the latest answer comes first
        assert history_buttons(at)[:2] == [f"card_hist_{latest}_0", f"card_hist_{latest}_1"]
        was = first if labels[latest] else second
        other = second if was == first else first
        at.button(key=f"card_hist_{latest}_{card.desk.classes.index(other)}").click().run()
        assert not at.exception, at.exception
        current = store.current_labels("moons")
        assert current.loc[current["item_id"] == ids[latest], "label"].tolist() == [other]
        # Reruns draw the new label's buttons and set nothing back by themselves.
        at.run()
        at.run()
        events = store.events("moons")
        assert events.loc[events["item_id"] == ids[latest], "label"].tolist() == [was, other]
        assert at.button(key=f"card_hist_{latest}_{card.desk.classes.index(other)}").disabled
    finally:
        store.close()


def test_near_copies_get_the_label_in_one_group_and_its_undo_respects_later_changes(store):
    from labelwise.dashboard.card_store import label_copies, undo_copies

    dataset = blobs()
    session = resume_session(store, PROJECT, dataset, "U*I*D", seed=0)
    reservations = Reservations(session, "s1")
    commit = StoreCommit(session, "ana")
    first = hold_offer(Desk(session, CLASSES), reservations)
    group = [first, *[i for i in range(len(dataset)) if i != first][:3]]
    desk = Desk(session, CLASSES, commit=commit, exclude=reservations.held_by_others,
                copies=[np.array(sorted(group))])
    item = hold_offer(desk, reservations)
    assert answer(desk, 1, item, label="a").saved
    copies = desk.copies_of(item)
    assert sorted(copies) == sorted(set(group) - {item})
    count, group_id = label_copies(desk, "ana", item)
    assert count == 3 and desk.copies_of(item) == []
    events = store.events(PROJECT)
    mine = events[events["group_id"] == group_id]
    assert sorted(mine["item_id"]) == sorted(str(i) for i in copies)
    assert set(mine["who"]) == {"ana"} and set(mine["label"]) == {"a"}
    assert all(desk.session.labels[i] == "a" for i in copies)
    # Undone as a whole: the copies are unlabeled again, and suggested no more (item has "a").
    assert undo_copies(desk, "ana", group_id).undone
    assert all(not desk.session.is_labeled(i) for i in copies)
    assert sorted(desk.copies_of(item)) == sorted(copies)
    # Again, and ben changes one copy meanwhile: the undo is refused and changes nothing
    # (any later change to one of its items blocks it, so nobody's later answer is erased).
    _, group_id = label_copies(desk, "ana", item)
    store.record(PROJECT, str(copies[0]), "label", "b", who="ben")
    refused = undo_copies(desk, "ana", group_id)
    assert not refused.undone and "ben" in refused.message
    assert stored(store)[str(copies[1])] == "a" and stored(store)[str(copies[0])] == "b"
