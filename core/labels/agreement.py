"""Agreement between labelers, and adjudication of their disagreements.

Input is a long table with one row per answer: ``item``, ``labeler``, ``label``
(:func:`answers_table` builds it from a store project: each labeler's latest answer per item).

* Cohen's kappa per pair of labelers (Cohen 1960), over the items both answered:
  ``kappa = (p_o - p_e) / (1 - p_e)``, ``p_e = sum_c p_A(c) p_B(c)``.
* Fleiss' kappa overall (Fleiss 1971), over items with at least two answers; with ``n_i``
  answers of item ``i``, ``n_ic`` of them for class ``c``:
  ``P_i = sum_c n_ic (n_ic - 1) / (n_i (n_i - 1))``, ``P_bar = mean_i P_i``,
  ``p_c = sum_i n_ic / sum_i n_i``, ``P_e = sum_c p_c^2``, ``kappa = (P_bar - P_e) / (1 - P_e)``.
  With the same number of answers per item this is Fleiss' formula exactly; with varying
  numbers it is the usual generalisation (each item's agreement weighs the same).
* Gwet's AC1 (Gwet 2008, "Computing inter-rater reliability and its variance in the presence
  of high agreement"): the same ``P_bar``, chance agreement
  ``P_e = sum_c pi_c (1 - pi_c) / (Q - 1)`` with ``pi_c = mean_i n_ic / n_i`` and ``Q``
  classes. Unlike kappa it does not collapse when one class dominates (the "kappa paradox").
* Per class: both statistics on the one-vs-rest table (class ``c`` against all others).

Adjudication (:func:`adjudicate`) stores a reviewer's settled label as an ordinary label
event (``who`` = the reviewer), so the current label, the model and the exports use it; the
labelers' own answers stay in the event history. The event is noted in the project's settings
and :func:`answers_table` leaves noted settlings out, so settling does not count as agreement
(:func:`open_disagreements` splits the disagreements into open and settled).

Double labeling (:func:`overlap_items`): a share of the items (a project's
``settings["overlap_share"]``, :func:`overlap_share`) goes to a second labeler, chosen where the
model is least sure (lowest margin between its two most probable classes), so agreement is
measured where labels are most likely to differ.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidInputError
from .store import LabelStore, Project

ANSWER_COLUMNS = ("item", "labeler", "label")
OVERLAP_SETTING = "overlap_share"
DEFAULT_OVERLAP_SHARE = 0.0  # no double labeling unless a project asks for it


def _check_answers(answers: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(answers, pd.DataFrame) or not set(ANSWER_COLUMNS) <= set(answers.columns):
        raise InvalidInputError(f"answers must be a DataFrame with columns {ANSWER_COLUMNS}")
    if answers["label"].isna().any():
        raise InvalidInputError("answers have missing labels; drop those rows first")
    dup = answers.duplicated(["item", "labeler"])
    if dup.any():
        row = answers[dup].iloc[0]
        raise InvalidInputError(f"labeler {row['labeler']!r} answered item {row['item']!r} "
                                "more than once; keep one answer per item and labeler")
    return answers


def cohen_kappa(a: Iterable, b: Iterable) -> float:
    """Cohen's kappa of two equally long label sequences (NaN when chance agreement is 1)."""
    a, b = np.asarray(list(a), dtype=object), np.asarray(list(b), dtype=object)
    if len(a) != len(b) or not len(a):
        raise InvalidInputError(f"cohen_kappa needs two non-empty sequences of one length, got "
                                f"{len(a)} and {len(b)}")
    classes = sorted(set(a.tolist()) | set(b.tolist()), key=str)
    p_o = float(np.mean(a == b))
    p_e = sum(float(np.mean(a == c)) * float(np.mean(b == c)) for c in classes)
    return float("nan") if p_e >= 1.0 else (p_o - p_e) / (1.0 - p_e)


def count_table(answers: pd.DataFrame) -> pd.DataFrame:
    """Items x classes counts of answers (``n_ic``), items with at least one answer."""
    answers = _check_answers(answers)
    table = pd.crosstab(answers["item"], answers["label"])
    return table[sorted(table.columns, key=str)]


def fleiss_kappa(counts) -> float:
    """Fleiss' kappa of an items x classes count table (see the module docstring)."""
    n_ic, n_i = _counts(counts)
    p_bar = _p_bar(n_ic, n_i)
    p_c = n_ic.sum(axis=0) / n_i.sum()
    p_e = float((p_c ** 2).sum())
    return float("nan") if p_e >= 1.0 else (p_bar - p_e) / (1.0 - p_e)


def gwet_ac1(counts) -> float:
    """Gwet's AC1 of an items x classes count table (see the module docstring)."""
    n_ic, n_i = _counts(counts)
    q = n_ic.shape[1]
    p_bar = _p_bar(n_ic, n_i)
    if q < 2:
        return 1.0 if p_bar == 1.0 else float("nan")
    pi = (n_ic / n_i[:, None]).mean(axis=0)
    p_e = float((pi * (1.0 - pi)).sum() / (q - 1))
    return float("nan") if p_e >= 1.0 else (p_bar - p_e) / (1.0 - p_e)


def _counts(counts) -> tuple[np.ndarray, np.ndarray]:
    n_ic = np.asarray(counts, dtype=np.float64)
    if n_ic.ndim != 2 or (n_ic < 0).any():
        raise InvalidInputError("counts must be a 2-D table of non-negative counts")
    n_i = n_ic.sum(axis=1)
    keep = n_i >= 2  # an item answered once says nothing about agreement
    if not keep.any():
        raise InvalidInputError("no item has two or more answers: agreement is undefined")
    return n_ic[keep], n_i[keep]


def _p_bar(n_ic: np.ndarray, n_i: np.ndarray) -> float:
    return float(((n_ic * (n_ic - 1)).sum(axis=1) / (n_i * (n_i - 1))).mean())


@dataclass(frozen=True)
class Agreement:
    """Result of :func:`agreement`.

    Attributes
    ----------
    pairs : DataFrame
        ``labeler_a``, ``labeler_b``, ``items`` (answered by both), ``observed`` (share
        equal), ``kappa``.
    overall : dict
        ``items`` (with two or more answers), ``labelers``, ``fleiss_kappa``, ``gwet_ac1``,
        ``observed`` (P_bar).
    per_class : DataFrame
        ``label``, ``answers``, ``fleiss_kappa``, ``gwet_ac1`` (one-vs-rest).
    disagreements : DataFrame
        :func:`disagreements` of the answers.
    """

    pairs: pd.DataFrame
    overall: dict
    per_class: pd.DataFrame
    disagreements: pd.DataFrame


def agreement(answers: pd.DataFrame) -> Agreement:
    """Cohen's kappa per pair, Fleiss' kappa and Gwet's AC1 overall and per class.

    Parameters
    ----------
    answers : DataFrame
        Columns ``item``, ``labeler``, ``label``; one answer per item and labeler.
    """
    answers = _check_answers(answers)
    counts = count_table(answers)
    n_ic, n_i = _counts(counts.to_numpy())
    overall = {"items": len(n_i), "labelers": int(answers["labeler"].nunique()),
               "fleiss_kappa": fleiss_kappa(counts.to_numpy()),
               "gwet_ac1": gwet_ac1(counts.to_numpy()), "observed": _p_bar(n_ic, n_i)}
    per_class = []
    for label in counts.columns:
        one = counts[label].to_numpy()
        binary = np.stack([one, counts.to_numpy().sum(axis=1) - one], axis=1)
        per_class.append({"label": label, "answers": int(one.sum()),
                          "fleiss_kappa": fleiss_kappa(binary), "gwet_ac1": gwet_ac1(binary)})
    return Agreement(_pairs(answers), overall, pd.DataFrame(per_class),
                     disagreements(answers))


def _pairs(answers: pd.DataFrame) -> pd.DataFrame:
    wide = answers.pivot(index="item", columns="labeler", values="label")
    rows = []
    for a, b in combinations(sorted(wide.columns, key=str), 2):
        both = wide[[a, b]].dropna()
        if not len(both):
            continue
        rows.append({"labeler_a": a, "labeler_b": b, "items": len(both),
                     "observed": float((both[a] == both[b]).mean()),
                     "kappa": cohen_kappa(both[a], both[b])})
    return pd.DataFrame(rows, columns=["labeler_a", "labeler_b", "items", "observed", "kappa"])


# -- from the store -----------------------------------------------------------------------------
def answers_table(store: LabelStore, project: str | Project, *,
                  exclude: Iterable[str] = (), exclude_events: Iterable[int] = (),
                  settled: bool = False) -> pd.DataFrame:
    """Each labeler's latest answer per item, from a project's label events.

    A labeler's ``unlabel`` of an item withdraws their answer to it (undo). Labelers named in
    ``exclude`` are left out, and so are the events in ``exclude_events`` and, unless
    ``settled``, the settlings :func:`adjudicate` wrote (:func:`adjudicated_events`): a
    settlement is no answer, while the reviewer's own answers on other items still count.

    Returns
    -------
    DataFrame
        Columns ``item``, ``labeler``, ``label``, ``event_id``, ordered by item then labeler.
    """
    events = store.labels_changed_since(project)
    skip, skip_events = set(exclude), {int(e) for e in exclude_events}
    if not settled:
        skip_events |= set(adjudicated_events(store.open_project(project)))
    latest: dict[tuple[str, str], tuple[Any, int]] = {}
    for event_id, item, action, label, who in zip(events["id"], events["item_id"],
                                                  events["action"], events["label"],
                                                  events["who"], strict=True):
        if who in skip or int(event_id) in skip_events:
            continue
        if action == "label":
            latest[(item, who)] = (label, int(event_id))
        else:
            latest.pop((item, who), None)
    rows = [{"item": item, "labeler": who, "label": label, "event_id": event_id}
            for (item, who), (label, event_id) in latest.items()]
    table = pd.DataFrame(rows, columns=["item", "labeler", "label", "event_id"])
    return table.sort_values(["item", "labeler"], kind="stable").reset_index(drop=True)


def disagreements(answers: pd.DataFrame) -> pd.DataFrame:
    """Items whose answers differ: ``item``, ``answers`` (labeler -> label), ``labels``."""
    answers = _check_answers(answers)
    rows = []
    for item, group in answers.groupby("item", sort=True):
        if group["label"].nunique() > 1:
            rows.append({"item": item, "answers": dict(zip(group["labeler"], group["label"],
                                                           strict=True)),
                         "labels": sorted(set(group["label"]), key=str)})
    return pd.DataFrame(rows, columns=["item", "answers", "labels"])


ADJUDICATED_SETTING = "adjudicated_events"


def adjudicate(store: LabelStore, project: str | Project, item_id: str | int, label: Any, *,
               reviewer: str) -> int:
    """Record a reviewer's settled label for an item as a normal label event; its event id.

    The store's current label becomes ``label`` (so a resumed session, :func:`labelwise.sync`
    and the exports use it); the labelers' earlier answers stay in the history. The event is
    also noted in the project's settings (``settings["adjudicated_events"]``), so that
    :func:`answers_table` leaves exactly the settlings out: a reviewer who also labels keeps
    their own answers in the agreement figures.
    """
    if label is None:
        raise InvalidInputError("an adjudicated label cannot be empty")
    event = store.record(project, item_id, "label", label, who=reviewer)

    def note(settings: dict) -> dict:
        return {**settings, ADJUDICATED_SETTING: [*_event_ids(settings), int(event)]}

    # One atomic read-modify-write: two reviewers settling at once both keep their note.
    store.change_settings(project, note)
    return event


def adjudicated_events(project: Project) -> list[int]:
    """The event ids :func:`adjudicate` wrote for a project (oldest first)."""
    return _event_ids(project.settings)


def _event_ids(settings: dict) -> list[int]:
    return [int(e) for e in settings.get(ADJUDICATED_SETTING, [])]


def open_disagreements(store: LabelStore, project: str | Project) -> tuple[pd.DataFrame,
                                                                           pd.DataFrame]:
    """(open, settled) disagreements of a project, from its events.

    Both have the columns of :func:`disagreements`; ``settled`` also ``label`` and ``reviewer``
    (the settled answer). An item is settled while its current label is an :func:`adjudicate`
    event; a labeler answering again afterwards reopens it.
    """
    current = store.open_project(project)
    settled_events = set(adjudicated_events(current))
    found = disagreements(answers_table(store, current)[list(ANSWER_COLUMNS)])
    labels = store.current_labels(current)
    done = labels[labels["event_id"].astype(int).isin(settled_events)].set_index("item_id")
    is_settled = found["item"].isin(done.index)
    settled = found[is_settled].assign(
        label=lambda t: [done.loc[i, "label"] for i in t["item"]],
        reviewer=lambda t: [done.loc[i, "who"] for i in t["item"]])
    return found[~is_settled].reset_index(drop=True), settled.reset_index(drop=True)


# -- double labeling ----------------------------------------------------------------------------
def check_share(share) -> float:
    """A share in [0, 1] as a float; InvalidInputError otherwise."""
    if isinstance(share, bool) or not isinstance(share, (int, float, np.integer, np.floating)) \
            or not 0.0 <= float(share) <= 1.0:
        raise InvalidInputError(f"the double labeling share must be a number from 0 to 1, "
                                f"got {share!r}")
    return float(share)


def margins(probabilities) -> np.ndarray:
    """Per row, the top class probability minus the second (1 with a single class)."""
    proba = np.asarray(probabilities, dtype=np.float64)
    if proba.ndim != 2 or not np.isfinite(proba).all():
        raise InvalidInputError("probabilities must be a finite 2-D array (items x classes)")
    if proba.shape[1] < 2:
        return np.ones(len(proba))
    top2 = np.sort(proba, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def overlap_items(probabilities, pool_items, share: float, seed: int | None = 0) -> np.ndarray:
    """The items to give a second labeler: the least sure ``share`` of ``pool_items``.

    Parameters
    ----------
    probabilities : array-like of shape (n_items, n_classes)
        The model's class probabilities of every item (e.g. ``session.predict_proba()``).
    pool_items : array-like of int
        The candidates (row indices into ``probabilities``), e.g. the unlabeled items.
    share : float
        From 0 to 1; ``ceil(share * len(pool_items))`` items are chosen (a positive share of a
        non-empty pool gives at least one item).
    seed : int or None, default=0
        Breaks ties between equal margins (uniformly), so a seed gives one answer.

    Returns
    -------
    ndarray of int
        The chosen items, least sure (lowest margin) first.
    """
    share = check_share(share)
    items = np.asarray(pool_items, dtype=np.int64).reshape(-1)
    margin = margins(probabilities)
    if len(items) and (items.min() < 0 or items.max() >= len(margin)):
        raise InvalidInputError(f"pool_items must be rows of probabilities (0 to "
                                f"{len(margin) - 1})")
    if len(np.unique(items)) != len(items):
        raise InvalidInputError("pool_items has repeated items")
    count = min(len(items), math.ceil(share * len(items) - 1e-9))  # 0.1 * 30 is 3, not 4
    tiebreak = np.random.default_rng(seed).permutation(len(items))
    order = np.lexsort((tiebreak, margin[items]))
    return items[order[:count]]


def overlap_share(project: Project) -> float:
    """A project's double labeling share (``settings["overlap_share"]``, 0 when unset)."""
    return check_share(project.settings.get(OVERLAP_SETTING, DEFAULT_OVERLAP_SHARE))


def set_overlap_share(store: LabelStore, project: str | Project, share: float) -> Project:
    """Store a project's double labeling share with its other settings; the updated project."""
    share = check_share(share)
    return store.change_settings(project, lambda settings: {**settings, OVERLAP_SETTING: share})


@dataclass(frozen=True)
class SecondAnswers:
    """Result of :func:`second_answer_due`.

    Attributes
    ----------
    due : int
        How many second answers the project still wants (0 or more).
    candidates : tuple
        The items ``who`` may give one: answered by exactly one labeler, not ``who`` (in the
        order of the answers' items). Listed whether or not any answer is due.
    """

    due: int
    candidates: tuple


def second_answer_due(answers: pd.DataFrame, share: float, who: str) -> SecondAnswers:
    """How many second answers are due, and the items labeler ``who`` may give one to.

    ``due = max(0, ceil(share * answered) - doubled)``, where ``answered`` counts the items
    with an answer from anyone and ``doubled`` those with answers from two or more labelers:
    double labeling asks for a second answer on ``share`` of the answered items, so each
    answer that doubles an item uses up one, and new first answers make room for more.

    Parameters
    ----------
    answers : DataFrame
        Columns ``item``, ``labeler``, ``label`` (e.g. :func:`answers_table`); one answer per
        item and labeler.
    share : float
        The project's double labeling share, from 0 to 1 (:func:`overlap_share`).
    who : str
        The labeler who would give the second answers: never offered their own items.

    Returns
    -------
    SecondAnswers
        ``due`` and ``candidates`` (see :class:`SecondAnswers`).
    """
    share = check_share(share)
    if not isinstance(who, str) or not who:
        raise InvalidInputError(f"who must be a labeler's name, got {who!r}")
    answers = _check_answers(answers)
    labelers = answers.groupby("item", sort=True)["labeler"].agg(lambda names: set(names))
    n_labelers = labelers.map(len)
    # ceil with the same tolerance as overlap_items: 0.1 * 30 is 3, not 4.
    wanted = math.ceil(share * len(labelers) - 1e-9)
    due = max(0, wanted - int((n_labelers >= 2).sum()))
    once = labelers[(n_labelers == 1) & labelers.map(lambda names: who not in names)]
    return SecondAnswers(due, tuple(once.index.tolist()))
