"""The auto strategy: reproducible, explained, and driven only by what the session knows."""

from __future__ import annotations

import numpy as np
import pytest

from core import LabelingSession, Strategy
from core.auto import candidate_arms


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((4, 16)) * 2
    y = rng.integers(0, 4, 400)
    return centers[y] + rng.standard_normal((400, 16)), np.array(list("abcd"))[y]


def label_loop(session, truth, steps):
    picks = []
    for _ in range(steps):
        item = session.next()
        session.label(item, truth[item])
        picks.append(item)
    return picks


def test_auto_parses_and_names_itself():
    strategy = Strategy.parse("auto", density="global")
    assert strategy.auto and strategy.name == "auto"
    assert strategy.label == "auto (global density)"
    assert {a.name for a in candidate_arms()} == {"random", "I*D", "U", "U*I", "U*D", "U*I*D"}


def test_same_seed_same_picks_and_arms(blobs):
    X, y = blobs
    runs = []
    for _ in range(2):
        session = LabelingSession(X, "auto", seed=5)
        picks = label_loop(session, y, 40)
        runs.append((picks, [h["arm"] for h in session._auto.history]))
    assert runs[0] == runs[1]


def test_explains_which_arm_picked_and_why(blobs):
    X, y = blobs
    session = LabelingSession(X, "auto", seed=0)
    label_loop(session, y, 15)
    item = session.next()
    assert session.picked_by(item) in {a.label for a in candidate_arms()}
    info = session.explain_strategy()
    assert info["leading_arm"] == info["arms"]["arm"].iloc[0]
    assert info["arms"]["probability"].sum() == pytest.approx(1.0)
    assert info["arms"]["credited"].sum() >= 15
    assert "mean reward" in info["reason"]
    assert set(info["last"]) == {"item", "arm", "probability", "flips", "reward", "agreeing"}


def test_every_arm_keeps_a_chance(blobs):
    X, y = blobs
    session = LabelingSession(X, "auto", seed=0)
    label_loop(session, y, 30)
    assert session._auto.probabilities().min() > 0.1 / 14 - 1e-12


def test_hand_labels_and_undo_keep_predictions_in_step(blobs):
    X, y = blobs
    session = LabelingSession(X, "auto", seed=0)
    label_loop(session, y, 10)
    session.label(int(session.pool[0]), "a")  # not suggested: no credit, still tracked
    session.unlabel(int(session.labeled[3]))
    session.label(int(session.labeled[0]), "z")  # relabel
    nb = session._neighbors
    from core import knn
    votes = nb.votes(None, len(session.classes), session.weights)
    np.testing.assert_array_equal(session._auto._predicted, knn.winners(votes, nb.sim, nb.cls))


def test_switching_to_and_from_auto(blobs):
    X, y = blobs
    session = LabelingSession(X, "U*I*D", seed=0)
    label_loop(session, y, 5)
    assert session.explain_strategy()["arms"] is None
    session.set_strategy("auto")
    label_loop(session, y, 5)
    assert len(session._auto.history) == 5
    session.set_strategy("U")
    assert session.picked_by(session.next()) == Strategy.parse("U").label


def test_batch_mode_credits_the_chosen_arm(blobs):
    X, y = blobs
    session = LabelingSession(X, "auto", seed=0)
    label_loop(session, y, 5)
    batch = session.next(batch=4)
    assert len(set(batch)) == 4
    arms = {session.picked_by(i) for i in batch}
    assert len(arms) == 1
