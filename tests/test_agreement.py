"""Agreement between labelers: Cohen's kappa, Fleiss' kappa, Gwet's AC1; adjudication."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from labelwise import InvalidInputError, LabelStore
from labelwise.labels.agreement import (
    adjudicate,
    adjudicated_events,
    agreement,
    answers_table,
    cohen_kappa,
    count_table,
    disagreements,
    fleiss_kappa,
    gwet_ac1,
    margins,
    open_disagreements,
    overlap_items,
    overlap_share,
    set_overlap_share,
)

# Fleiss (1971), Table 1 as transcribed in R's irr (dataset `diagnoses`): 30 patients, 6
# psychiatrists, 5 diagnoses (1 depression, 2 personality disorder, 3 schizophrenia,
# 4 neurosis, 5 other). Fleiss reports kappa = 0.430; irr's kappam.fleiss gives 0.4302445.
DIAGNOSES = np.array([
    [4, 4, 4, 4, 4, 4], [2, 2, 2, 5, 5, 5], [2, 3, 3, 3, 3, 5], [5, 5, 5, 5, 5, 5],
    [2, 2, 2, 4, 4, 4], [1, 1, 3, 3, 3, 3], [3, 3, 3, 3, 5, 5], [1, 1, 3, 3, 3, 4],
    [1, 1, 4, 4, 4, 4], [5, 5, 5, 5, 5, 5], [1, 4, 4, 4, 4, 4], [1, 2, 4, 4, 4, 4],
    [2, 2, 2, 3, 3, 3], [1, 4, 4, 4, 4, 4], [2, 2, 4, 4, 4, 5], [3, 3, 3, 3, 3, 5],
    [1, 1, 1, 4, 5, 5], [1, 1, 1, 1, 1, 2], [2, 2, 4, 4, 4, 4], [1, 3, 3, 5, 5, 5],
    [5, 5, 5, 5, 5, 5], [2, 4, 4, 4, 4, 4], [2, 2, 4, 5, 5, 5], [1, 1, 4, 4, 4, 4],
    [1, 4, 4, 4, 4, 5], [2, 2, 2, 2, 2, 4], [1, 1, 1, 1, 5, 5], [2, 2, 4, 4, 4, 4],
    [1, 3, 3, 3, 3, 3], [5, 5, 5, 5, 5, 5]])

# The worked example of Fleiss' kappa on Wikipedia (10 subjects, 14 raters, 5 categories):
# P_bar = 0.378, P_e = 0.213, kappa = 0.210.
WIKIPEDIA_COUNTS = np.array([
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]])


def long_table(wide: np.ndarray) -> pd.DataFrame:
    items, raters = np.indices(wide.shape)
    return pd.DataFrame({"item": items.ravel(), "labeler": [f"r{r}" for r in raters.ravel()],
                         "label": wide.ravel()})


def test_fleiss_kappa_of_the_fleiss_1971_table() -> None:
    result = agreement(long_table(DIAGNOSES))
    assert result.overall["fleiss_kappa"] == pytest.approx(0.4302445, abs=1e-7)
    assert result.overall["items"] == 30 and result.overall["labelers"] == 6
    # Cohen's kappa of raters 1 and 2: 0.651 in irr's kappa2.
    pair = result.pairs.set_index(["labeler_a", "labeler_b"]).loc[("r0", "r1")]
    assert pair["kappa"] == pytest.approx(0.651, abs=5e-4)
    assert pair["kappa"] == pytest.approx(cohen_kappa_score(DIAGNOSES[:, 0], DIAGNOSES[:, 1]))
    assert len(result.pairs) == 15
    # Per class, one-vs-rest; Fleiss (1971, Table 2) reports these kappas per category.
    per_class = result.per_class.set_index("label")["fleiss_kappa"]
    np.testing.assert_allclose(per_class.loc[[1, 2, 3, 4, 5]].to_numpy(),
                               [0.245, 0.245, 0.520, 0.471, 0.566], atol=1e-3)


def test_fleiss_kappa_of_the_wikipedia_example() -> None:
    assert fleiss_kappa(WIKIPEDIA_COUNTS) == pytest.approx(0.210, abs=5e-4)


def test_two_simulated_labelers_at_known_agreement() -> None:
    # Labeler A draws classes with probabilities pi = (0.6, 0.3, 0.1); B copies A with
    # probability q = 0.85, otherwise picks one of the two other classes at random.
    # Hand computation of the population values:
    #   p_o = q = 0.85
    #   B's margins p_B(c) = q pi_c + (1 - q)(1 - pi_c) / 2
    #       = 0.51 + 0.03 = 0.54; 0.255 + 0.0525 = 0.3075; 0.085 + 0.0675 = 0.1525
    #   kappa: p_e = 0.6 * 0.54 + 0.3 * 0.3075 + 0.1 * 0.1525 = 0.4315
    #          kappa = (0.85 - 0.4315) / (1 - 0.4315) = 0.73615
    #   AC1:   pi_c = mean of the two margins = 0.57, 0.30375, 0.12625
    #          p_e = sum pi_c (1 - pi_c) / (3 - 1) = (0.2451 + 0.2114859 + 0.1103109) / 2
    #              = 0.2834484
    #          AC1 = (0.85 - 0.2834484) / (1 - 0.2834484) = 0.790673
    rng = np.random.default_rng(0)
    n = 40_000
    a = rng.choice(3, size=n, p=[0.6, 0.3, 0.1])
    copy = rng.random(n) < 0.85
    b = np.where(copy, a, (a + rng.integers(1, 3, size=n)) % 3)
    answers = pd.DataFrame({"item": np.r_[np.arange(n), np.arange(n)],
                            "labeler": ["A"] * n + ["B"] * n, "label": np.r_[a, b]})
    result = agreement(answers)
    kappa = result.pairs["kappa"].iloc[0]
    assert kappa == pytest.approx(0.73615, abs=0.01)
    assert result.overall["gwet_ac1"] == pytest.approx(0.790673, abs=0.01)
    assert kappa == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)
    # Two labelers: Fleiss' kappa is Scott's pi, close to Cohen's kappa when the margins are.
    assert result.overall["fleiss_kappa"] == pytest.approx(kappa, abs=0.01)


def test_ac1_by_hand_on_a_small_two_rater_table() -> None:
    # 10 items; A: 7 x, 3 y; B agrees on 8 (6 x, 2 y), disagrees on 2 (x->y, y->x).
    a = ["x"] * 7 + ["y"] * 3
    b = ["x"] * 6 + ["y"] + ["y"] * 2 + ["x"]
    answers = pd.DataFrame({"item": list(range(10)) * 2, "labeler": ["A"] * 10 + ["B"] * 10,
                            "label": a + b})
    # p_o = 0.8; pi_x = (0.7 + 0.7) / 2 = 0.7; p_e(AC1) = 2 * 0.7 * 0.3 / 1 = 0.42
    # AC1 = (0.8 - 0.42) / 0.58 = 0.655172; kappa: p_e = 0.49 + 0.09 = 0.58,
    # kappa = (0.8 - 0.58) / 0.42 = 0.523810
    counts = count_table(answers).to_numpy()
    assert gwet_ac1(counts) == pytest.approx(0.38 / 0.58, abs=1e-12)
    assert cohen_kappa(a, b) == pytest.approx(0.22 / 0.42, abs=1e-12)
    assert disagreements(answers)["item"].tolist() == [6, 9]


def test_high_agreement_paradox_kappa_low_ac1_high() -> None:
    # 98 items both say "x"; one each says "y" where the other says "x".
    a = ["x"] * 99 + ["y"]
    b = ["x"] * 98 + ["y", "x"]
    answers = pd.DataFrame({"item": list(range(100)) * 2, "labeler": ["A"] * 100 + ["B"] * 100,
                            "label": a + b})
    result = agreement(answers)
    assert result.pairs["kappa"].iloc[0] < 0.0 < 0.97 < result.overall["gwet_ac1"]


def test_bad_answers_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="columns"):
        agreement(pd.DataFrame({"item": [1]}))
    dup = pd.DataFrame({"item": [1, 1], "labeler": ["a", "a"], "label": ["x", "y"]})
    with pytest.raises(InvalidInputError, match="more than once"):
        agreement(dup)
    single = pd.DataFrame({"item": [1, 2], "labeler": ["a", "a"], "label": ["x", "y"]})
    with pytest.raises(InvalidInputError, match="two or more answers"):
        agreement(single)
    with pytest.raises(InvalidInputError, match="one length"):
        cohen_kappa(["x"], ["x", "y"])


def test_answers_from_the_store_and_adjudication(tmp_path) -> None:
    store = LabelStore(tmp_path / "store.sqlite")
    store.create_project("p", "pack:digits", "sha256:x")
    store.record("p", "1", "label", "cat", who="ana")
    store.record("p", "1", "label", "dog", who="bo")
    store.record("p", "2", "label", "cat", who="ana")
    store.record("p", "2", "label", "dog", who="ana")  # ana changed her mind: latest counts
    store.record("p", "2", "label", "dog", who="bo")
    store.record("p", "3", "label", "cat", who="bo")
    store.record("p", "3", "unlabel", who="bo")        # bo withdrew his answer
    store.record("p", "3", "skip", who="ana")          # skips are no answers
    table = answers_table(store, "p")
    assert table[["item", "labeler", "label"]].values.tolist() == [
        ["1", "ana", "cat"], ["1", "bo", "dog"], ["2", "ana", "dog"], ["2", "bo", "dog"]]
    assert disagreements(table)["item"].tolist() == ["1"]
    event = adjudicate(store, "p", "1", "dog", reviewer="rev")
    current = store.current_labels("p").set_index("item_id")
    assert current.loc["1", "label"] == "dog" and current.loc["1", "who"] == "rev"
    assert int(current.loc["1", "event_id"]) == event
    history = store.events("p")
    first = history[history["item_id"] == "1"]
    assert list(zip(first["who"], first["label"], strict=True)) == [
        ("ana", "cat"), ("bo", "dog"), ("rev", "dog")]
    # The reviewer is not a labeler: excluded, the agreement table is what it was.
    pd.testing.assert_frame_equal(answers_table(store, "p", exclude=["rev"]), table)
    with pytest.raises(InvalidInputError):
        adjudicate(store, "p", "1", None, reviewer="rev")


def test_overlap_items_picks_the_least_sure_with_seeded_ties() -> None:
    rng = np.random.default_rng(3)
    proba = rng.dirichlet(np.ones(4), size=50)
    proba[[7, 8, 9]] = [0.4, 0.4, 0.1, 0.1]    # three ties at margin 0, the lowest
    pool = np.setdiff1d(np.arange(50), [8, 20])  # 8 is labeled already: never chosen
    chosen = overlap_items(proba, pool, 0.1, seed=0)
    assert len(chosen) == 5                      # ceil(0.1 * 48)
    # Brute force: the 5 pool items of lowest margin (top-1 minus top-2 probability).
    brute = sorted(pool, key=lambda i: sorted(proba[i])[-1] - sorted(proba[i])[-2])
    assert set(chosen) == set(brute[:5]) and set(chosen[:2]) == {7, 9}
    np.testing.assert_allclose(margins(proba)[chosen], np.sort(margins(proba)[chosen]))
    # Deterministic with a seed; the seed only orders the ties.
    np.testing.assert_array_equal(chosen, overlap_items(proba, pool, 0.1, seed=0))
    orders = {tuple(overlap_items(proba, pool, 0.1, seed=s)[:2]) for s in range(20)}
    assert orders == {(7, 9), (9, 7)}
    assert len(overlap_items(proba, pool, 0.0)) == 0
    assert len(overlap_items(proba, np.arange(30), 0.1)) == 3  # 0.1 * 30 is 3, not 4
    np.testing.assert_array_equal(np.sort(overlap_items(proba, pool, 1.0)), pool)
    assert len(overlap_items(np.ones((5, 1)), np.arange(5), 0.5)) == 3  # one class: margin 1


def test_overlap_items_refuses_bad_input() -> None:
    proba = np.full((4, 2), 0.5)
    for share in (-0.1, 1.5, "0.1", True, float("nan")):
        with pytest.raises(InvalidInputError, match="share"):
            overlap_items(proba, [0, 1], share)
    with pytest.raises(InvalidInputError, match="rows"):
        overlap_items(proba, [0, 4], 0.5)
    with pytest.raises(InvalidInputError, match="repeated"):
        overlap_items(proba, [1, 1], 0.5)
    with pytest.raises(InvalidInputError, match="2-D"):
        overlap_items(np.ones(4), [0], 0.5)


def test_overlap_share_is_a_project_setting(tmp_path) -> None:
    store = LabelStore(tmp_path / "store.sqlite")
    project = store.create_project("p", "pack:digits", "sha256:x", settings={"k": 7})
    assert overlap_share(project) == 0.0
    updated = set_overlap_share(store, "p", 0.1)
    assert overlap_share(updated) == 0.1 and updated.settings["k"] == 7
    assert store.open_project("p").settings == {"k": 7, "overlap_share": 0.1}
    with pytest.raises(InvalidInputError):
        set_overlap_share(store, "p", 2)


def test_adjudicating_closes_a_disagreement_and_keeps_the_reviewers_own_answers(tmp_path
                                                                                ) -> None:
    store = LabelStore(tmp_path / "store.sqlite")
    store.create_project("p", "pack:digits", "sha256:x", settings={"k": 5})
    for item, ana, bo in [("1", "cat", "dog"), ("2", "cat", "dog"), ("3", "cat", "cat")]:
        store.record("p", item, "label", ana, who="ana")
        store.record("p", item, "label", bo, who="bo")
    store.record("p", "3", "label", "dog", who="rev")  # rev also labels: a real answer
    still_open, settled = open_disagreements(store, "p")
    assert still_open["item"].tolist() == ["1", "2", "3"] and settled.empty
    event = adjudicate(store, "p", "1", "cat", reviewer="rev")
    still_open, settled = open_disagreements(store, "p")
    assert still_open["item"].tolist() == ["2", "3"]
    assert settled[["item", "label", "reviewer"]].values.tolist() == [["1", "cat", "rev"]]
    assert settled.loc[0, "answers"] == {"ana": "cat", "bo": "dog"}
    assert store.open_project("p").settings == {"k": 5, "adjudicated_events": [event]}
    # The settling is left out of agreement; rev's answer on item 3 stays in.
    table = answers_table(store, "p")
    assert table[table["labeler"] == "rev"]["item"].tolist() == ["3"]
    with_settled = answers_table(store, "p", settled=True)
    assert with_settled[with_settled["labeler"] == "rev"]["item"].tolist() == ["1", "3"]
    # agreement() sees answers only: a settled item is still a disagreement between labelers.
    assert agreement(table[["item", "labeler", "label"]]).disagreements["item"].tolist() == [
        "1", "2", "3"]
    current = store.current_labels("p").set_index("item_id")
    assert (current.loc["1", "label"], current.loc["1", "who"]) == ("cat", "rev")
    # A new answer after the settling (here a third labeler's) reopens the item.
    store.record("p", "1", "label", "bird", who="cy")
    assert "1" in open_disagreements(store, "p")[0]["item"].tolist()


def test_reviewers_settling_at_once_keep_every_note(store_location) -> None:
    """Two reviewers (own store connections, own threads) settle items and change the overlap
    share at the same time: every settling is noted and no setting is lost."""
    setup = LabelStore(store_location)
    setup.create_project("p", "pack:digits", "sha256:x", settings={"k": 7})
    for item in range(40):
        setup.record("p", str(item), "label", "cat", who="ana")
        setup.record("p", str(item), "label", "dog", who="bo")
    start = threading.Barrier(2)
    events: dict[str, list[int]] = {}

    def settle(reviewer: str, items: range) -> None:
        store = LabelStore(store_location)
        try:
            start.wait()
            events[reviewer] = [adjudicate(store, "p", str(i), "dog", reviewer=reviewer)
                                for i in items]
            set_overlap_share(store, "p", 0.1 if reviewer == "rev1" else 0.2)
        finally:
            store.close()

    threads = [threading.Thread(target=settle, args=("rev1", range(0, 20))),
               threading.Thread(target=settle, args=("rev2", range(20, 40)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    project = setup.open_project("p")
    assert sorted(adjudicated_events(project)) == sorted(events["rev1"] + events["rev2"])
    assert project.settings["k"] == 7 and overlap_share(project) in (0.1, 0.2)
    opened, settled = open_disagreements(setup, "p")
    assert opened.empty and len(settled) == 40
    setup.close()
