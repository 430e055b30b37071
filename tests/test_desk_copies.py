"""Near-duplicates on the labeling desk: groups from the pool graph, and no label spent on a copy.

The groups from a pool graph's neighbour lists are checked against ``near_duplicate_groups``
(the same search done again); the desk against a plain loop that passes over the copies of
labeled items by hand.
"""

from __future__ import annotations

import numpy as np
import pytest

from labelwise import LabelingSession, PoolGraph, graph_duplicate_groups, near_duplicate_groups
from labelwise.dashboard.desk import Answer, Desk, choose_next
from labelwise.engine.vectors import as_unit_rows

CLASSES = ("cat", "dog")


def pool_with_copies(seed: int = 0) -> tuple[np.ndarray, list[list[int]]]:
    """40 random 8-d directions, and near copies of items 0, 5 and 9 (two of item 0)."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(40, 8))
    copies = {0: [40, 41], 5: [42], 9: [43]}
    rows = [base]
    for source, items in copies.items():
        rows.append(base[source] + 1e-4 * rng.normal(size=(len(items), 8)))
    groups = [[source, *items] for source, items in copies.items()]
    return as_unit_rows(np.vstack(rows)), groups


def fresh(X: np.ndarray) -> LabelingSession:
    session = LabelingSession(X, "U*I", k=3, seed=1, model="knn")
    for label in CLASSES:
        session.add_class(label)
    return session


def send(desk: Desk, seq: int, item: int, label: str):
    return desk.receive([Answer("tab", seq, item, "label", label)])[0]


@pytest.mark.parametrize("threshold", [None, 0.999, 0.5])
def test_groups_from_the_pool_graph_equal_a_new_search(threshold):
    X, _ = pool_with_copies()
    graph = PoolGraph.build(X)
    got = graph_duplicate_groups(graph, threshold)
    if threshold is None:
        from labelwise import suggest_threshold

        threshold = suggest_threshold(top1=graph.similarities[:, 0].astype(np.float64))
    want = near_duplicate_groups(X, threshold)
    assert [g.tolist() for g in got] == [g.tolist() for g in want]


def test_the_suggested_threshold_finds_the_planted_copies():
    X, groups = pool_with_copies()
    found = graph_duplicate_groups(PoolGraph.build(X))
    assert sorted(g.tolist() for g in found) == sorted(sorted(g) for g in groups)


def test_the_desk_never_suggests_a_copy_of_a_labeled_item():
    X, groups = pool_with_copies()
    desk = Desk(fresh(X), CLASSES, copies=[np.array(g) for g in groups])
    reference = fresh(X)
    copy_of = {i: g for g in groups for i in g}
    for seq in range(1, 30):
        item = desk.offer().current.item
        passed = {i for i in range(len(X)) if not reference.is_labeled(i)
                  and any(reference.is_labeled(j) for j in copy_of.get(i, []))}
        assert item == choose_next(reference, [], passed)
        assert item not in passed
        label = CLASSES[item % 2]
        assert send(desk, seq, item, label).saved
        reference.label(item, label)


def test_copies_are_offered_when_nothing_else_is_left_and_copies_of_lists_them():
    X, groups = pool_with_copies()
    desk = Desk(fresh(X), CLASSES, copies=[np.array(g) for g in groups])
    assert desk.copies_of(0) == [40, 41] and desk.copies_of(1) == []
    seq = 0
    while desk.offer().current.item is not None:
        seq += 1
        item = desk.offer().current.item
        assert send(desk, seq, item, "cat").saved
    # Every item got a label in the end: the copies came last, not never.
    assert desk.session.n_labeled == len(X)
    assert desk.copies_of(0) == []


def test_a_preview_after_labeling_an_item_skips_its_copies():
    X, groups = pool_with_copies()
    desk = Desk(fresh(X), CLASSES, copies=[np.array(g) for g in groups])
    for seq in range(1, 40):
        offer = desk.offer()
        item = offer.current.item
        if item in (0, 5, 9):
            for preview in offer.after_label:
                assert preview.item not in desk.copies_of(item)
            return
        assert send(desk, seq, item, "dog").saved
    pytest.fail("no group's item was offered")
