"""Review: walk a stored project's likely label mistakes, near-duplicates and "more like this".

* Review queue: the labeled items ranked by how likely their label is wrong (each judged by the
  other labels, :func:`labelwise.engine.quality.suspect_labels`). Keep (the reviewer confirms
  the label: a label event with the same label), change (a class button) or skip; every answer
  is a store event under the reviewer's name, so the model and the exports use it.
* Near-duplicates: pairs and groups of items at or above a cosine threshold (the suggested
  one by default); one action labels a whole group like one of its members.
* More like this: the nearest unlabeled items of an item (or of a text query, for text packs),
  several labeled at once, with one undo for the lot (a store event group: one transaction,
  undone as a whole unless someone changed one of its items since).
* Map: the pool on the Explore page's 2-D map, coloured by the model's prediction; a lasso
  selects items to label together (one event group, undone as a whole like the above).
* Agreement: between the project's labelers (Cohen's kappa per pair, Fleiss' kappa and Gwet's
  AC1 overall and per class, :mod:`labelwise.labels.agreement`), the disagreements to settle
  (a reviewer's settled label becomes the current one; the answers stay in the history) and
  the double labeling share (admins).

Only labelers and admins of a project may write; viewers see the queue. All user text goes
through :func:`labelwise.dashboard.widgets.escape_markdown` (or ``st.text``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import streamlit as st

# The label-quality names (labelwise.engine.quality) are served by labelwise's public façade.
from labelwise import (
    LabelwiseError,
    adjudicate,
    agreement,
    answers_table,
    groups_of_pairs,
    more_like_this,
    nearest_similarities,
    overlap_share,
    resume_session,
    set_overlap_share,
    similar_pairs,
    suggest_threshold,
    suspect_labels,
    sync,
)
from labelwise.dashboard import auth, persistence, state
from labelwise.dashboard.lasso import lasso_map
from labelwise.dashboard.widgets import escape_markdown, format_label, show_item

QUEUE_SHOWN = 200
PAIRS_SHOWN = 8
DISAGREEMENTS_SHOWN = 10
GRID = 12
THUMB = 120
MAP_POINTS = 30_000  # points drawn on the map; labeled items are always among them


@dataclass
class Bulk:
    """One bulk labeling, undoable as a whole.

    ``before``: each item's label before it (None: none), for a session without a store;
    ``group_id``: the store's event group (:meth:`labelwise.LabelStore.record_group`).
    """

    label: str
    before: dict = field(default_factory=dict)
    group_id: int | None = None


# -- the project --------------------------------------------------------------------------------
def choose_project(store, user):
    """The project picked on the page among those the user may view (None: none to show)."""
    projects = [p for p in store.list_projects() if auth.can(user, "view", p.name)]
    if not projects:
        st.info("No project yet: label a few items on the Label page first.")
        return None
    names = [p.name for p in projects]
    name = st.selectbox("Project", names, key="review_project")
    return projects[names.index(name)]


def project_session(store, project):
    """The project's session over its pool (resumed once per tab, synced on each rerun)."""
    if not project.dataset_id.startswith("pack:"):
        raise LabelwiseError(f"project {project.name!r} labels uploaded data: review works on "
                             "built-in packs for now")
    key = f"review_session:{project.name}"
    session = st.session_state.get(key)
    if session is None:
        dataset_id = project.dataset_id
        split = state.pool_split(dataset_id, state.load_pack(dataset_id.split(":", 1)[1]))
        session = resume_session(store, project, split.pool,
                                 fingerprint=persistence.pool_fingerprint(dataset_id, split))
        st.session_state[key] = session
        st.session_state[f"{key}:pool"] = split.pool
    else:
        sync(session)  # other people's labels since the last run
    return session, st.session_state[f"{key}:pool"]


def record(session, item: int, action: str, label=None, *, who: str) -> None:
    """Write one event to the store (committed), then bring the session up to date."""
    link = session.project_link
    link.store.record(link.project, link.ids[item], action, label, who=who)


def record_many(session, labels: dict, *, who: str) -> Bulk | None:
    """Label several items at once, undoable as a whole by :func:`undo_bulk`.

    A session tied to a stored project writes one event group (one transaction: all the
    labels or none), then syncs; one without a store is labeled in memory.
    """
    if not labels:
        return None
    current = session.labels
    bulk = Bulk(label=str(next(iter(labels.values()))),
                before={int(item): current.get(int(item)) for item in labels})
    link = session.project_link
    if link is None:
        for item, label in labels.items():
            session.label(int(item), label)
        return bulk
    bulk.group_id = link.store.record_group(
        link.project, [(link.ids[item], label) for item, label in labels.items()], who=who)
    sync(session)
    return bulk


def undo_bulk(session, bulk: Bulk, *, who: str):
    """Put every item of ``bulk`` back as it was (unlabeled, or its earlier label).

    Returns the store's :class:`~labelwise.labels.store.operations.UndoResult` for a stored
    group: its ``message`` says why nothing was changed when it was refused (an item changed
    since, by whom; or undone already). None for a bulk labeling without a store.
    """
    link = session.project_link
    if link is not None and bulk.group_id is not None:
        result = link.store.undo_group(link.project, bulk.group_id, who=who)
        sync(session)  # the undo's events, and whatever refused it
        return result
    now = session.labels
    for item, before in bulk.before.items():
        if before is None and item in now:
            session.unlabel(item)
        elif before is not None:
            session.label(item, before)
    return None


def class_choice(session, key: str) -> str | None:
    """A class picked from the project's classes, or a new one typed in."""
    classes = [str(c) for c in session.classes]
    cols = st.columns(2)
    picked = cols[0].selectbox("Label", classes, key=f"{key}_class", format_func=format_label) \
        if classes else None
    typed = cols[1].text_input("or a new class", key=f"{key}_new").strip()
    return typed or picked


# -- review queue -------------------------------------------------------------------------------
def reviewed_items(session, who: str) -> set[int]:
    """Items this reviewer has answered (current label theirs) or skipped: kept across reloads."""
    link = session.project_link
    current = link.store.current_labels(link.project)
    mine = set(current.loc[current["who"] == who, "item_id"])
    mine |= set(link.store.skipped_items(link.project, who))
    return {link.index_of[i] for i in mine if i in link.index_of}


def queue_tab(session, pool, who: str, can_write: bool) -> None:
    queue = suspect_labels(session)
    if queue.empty:
        st.info("No labels yet: nothing to review.")
        return
    done = reviewed_items(session, who)
    todo = queue[~queue["item"].isin(done)]
    st.caption(f"{len(queue)} labels, {len(queue) - len(todo)} reviewed by you. Score: the "
               "probability of the given label from the other labels alone (low = suspect).")
    if todo.empty:
        st.success("You have reviewed every label.")
    else:
        review_card(session, pool, todo.iloc[0], who, can_write)
    with st.expander("The whole queue"):
        st.dataframe(queue.head(QUEUE_SHOWN).assign(
            label=queue["label"].map(format_label), suggested=queue["suggested"].map(
                format_label)), hide_index=True, width="stretch")


def review_card(session, pool, row: pd.Series, who: str, can_write: bool) -> None:
    item = int(row["item"])
    st.subheader(f"Rank {int(row['rank'])}: item {escape_markdown(session.project_link.ids[item])}")
    left, right = st.columns([1, 2])
    with left:
        show_item(pool, item, width=240)
    with right:
        st.markdown(f"Given label: **{escape_markdown(format_label(row['label']))}**  \n"
                    f"Suggested: **{escape_markdown(format_label(row['suggested']))}**  \n"
                    f"Score: {row['score']:.2f}")
        st.caption(escape_markdown(row["reason"]))
        if not can_write:
            st.caption("Your role can look at the queue but not change labels.")
            return
        cols = st.columns(2)
        if cols[0].button("Keep", key="review_keep", type="primary", width="stretch"):
            record(session, item, "label", row["label"], who=who)
            st.rerun()
        if cols[1].button("Skip", key="review_skip", width="stretch"):
            record(session, item, "skip", who=who)
            st.rerun()
        st.caption("Change to:")
        classes = [c for c in session.classes if c != row["label"]]
        buttons = st.columns(max(1, min(len(classes), 5)))
        for n, cls in enumerate(classes):
            if buttons[n % len(buttons)].button(escape_markdown(format_label(cls)),
                                                key=f"review_change_{n}", width="stretch"):
                record(session, item, "label", cls, who=who)
                st.rerun()


# -- near-duplicates ----------------------------------------------------------------------------
@st.cache_data(show_spinner="Finding each item's nearest neighbours...", max_entries=4)
def _candidates(dataset_id: str, _vectors: np.ndarray) -> tuple[np.ndarray, float, pd.DataFrame]:
    """Top-1 similarities, the slider's floor and every pair above it: searched once per pool,
    so moving the slider only filters."""
    top1 = nearest_similarities(_vectors)
    low = float(np.floor(min(np.quantile(top1, 0.5), suggest_threshold(top1=top1)) * 100) / 100)
    return top1, low, similar_pairs(_vectors, low)


def duplicates_tab(session, pool, dataset_id: str, who: str, can_write: bool) -> None:
    top1, low, candidates = _candidates(dataset_id, session.vectors)
    suggested = suggest_threshold(top1=top1)
    threshold = st.slider("Cosine similarity at least", min_value=low, max_value=1.0,
                          value=min(max(suggested, low), 1.0), step=0.001, format="%.3f",
                          key="review_threshold",
                          help=f"Suggested {suggested:.4f}: items whose nearest neighbour is "
                               "far closer than nearest neighbours usually are in this pool "
                               "(4 robust standard deviations of log distance).")
    pairs = candidates[candidates["similarity"] >= threshold]
    groups = groups_of_pairs(pairs, session.n_items)
    st.caption(f"{len(pairs)} pairs and {len(groups)} groups ({sum(map(len, groups))} items) "
               f"at {threshold:.3f}.")
    for _, pair in pairs.head(PAIRS_SHOWN).iterrows():
        cols = st.columns([1, 1, 2])
        for col, item in zip(cols[:2], (int(pair["a"]), int(pair["b"])), strict=True):
            with col:
                show_item(pool, item, width=THUMB, caption=None)
                col.caption(_item_caption(session, item))
        cols[2].caption(f"similarity {pair['similarity']:.4f}")
    if groups:
        group_panel(session, pool, groups, who, can_write)


def _item_caption(session, item: int) -> str:
    label = session.labels.get(item)
    text = escape_markdown(session.project_link.ids[item])
    return f"{text}: {escape_markdown(format_label(label))}" if label is not None else \
        f"{text}: unlabeled"


def group_panel(session, pool, groups: list, who: str, can_write: bool) -> None:
    st.subheader("Groups")
    n = st.number_input("Group", min_value=1, max_value=len(groups), value=1, step=1,
                        key="review_group") - 1
    group = groups[int(n)]
    cols = st.columns(min(len(group), 6))
    for k, item in enumerate(group[:GRID]):
        with cols[k % len(cols)]:
            show_item(pool, int(item), width=THUMB)
            st.caption(_item_caption(session, int(item)))
    labeled = [int(i) for i in group if int(i) in session.labels]
    if not can_write or not labeled:
        if not labeled:
            st.caption("No item of this group is labeled yet.")
        return
    ids = session.project_link.ids
    model = st.selectbox("Label the group like", labeled, key="review_group_model",
                         format_func=lambda i: f"{ids[i]} ({format_label(session.labels[i])})")
    label = session.labels[model]
    others = {int(i): label for i in group if session.labels.get(int(i)) != label}
    if st.button(f"Label the group like this one ({len(others)} items)",
                 key="review_group_apply", disabled=not others):
        st.session_state["review_bulk"] = record_many(session, others, who=who)
        st.rerun()


# -- more like this -----------------------------------------------------------------------------
def query_vector(pool, text: str):
    """The pool encoder's embedding of a text query (text packs only)."""
    from labelwise import get_encoder

    encoder = pool.metadata.get("encoder")
    if pool.kind != "text" or not encoder:
        raise LabelwiseError("a text query needs a text pack with its encoder")
    return get_encoder(encoder).encode([text])[0]


def more_tab(session, pool, who: str, can_write: bool) -> None:
    ids = session.project_link.ids
    cols = st.columns(2)
    item_id = cols[0].text_input("Item id", key="review_more_item",
                                 value=str(ids[session.labeled[-1]]) if session.n_labeled
                                 else str(ids[0]))
    text = cols[1].text_input("or a text query", key="review_more_text").strip() \
        if pool.kind == "text" else ""
    try:
        source = query_vector(pool, text) if text else session.project_link.index_of[item_id]
    except KeyError:
        st.warning(f"No item with id {escape_markdown(item_id)} in this pool.")
        return
    except LabelwiseError as exc:
        state.show_error(exc)
        return
    found = more_like_this(session, source, GRID)
    if found.empty:
        st.info("Every item is labeled.")
        return
    grid = st.columns(4)
    for k, (item, sim) in enumerate(zip(found["item"], found["similarity"], strict=True)):
        with grid[k % 4]:
            show_item(pool, int(item), width=THUMB)
            st.caption(f"{escape_markdown(ids[item])} · {sim:.3f}")
    if not can_write:
        return
    chosen = st.multiselect("Items to label", [str(ids[i]) for i in found["item"]],
                            default=[str(ids[i]) for i in found["item"]],
                            key=f"review_more_pick_{item_id}_{text}")
    label = class_choice(session, "review_more")
    if st.button(f"Label {len(chosen)} items", key="review_more_apply",
                 disabled=not (chosen and label)):
        index_of = session.project_link.index_of
        st.session_state["review_bulk"] = record_many(
            session, {index_of[i]: label for i in chosen}, who=who)
        st.rerun()


# -- map (lasso) --------------------------------------------------------------------------------
def map_tab(session, pool, dataset_id: str, who: str, can_write: bool) -> None:
    """The pool on a 2-D map (the Explore page's), coloured by the model's prediction; a
    lasso selects items to label together, as one undoable event group."""
    xy = state.layout(dataset_id + "|pool", pool)
    rows = state.drawn_rows(session.n_items, session.labeled, MAP_POINTS)
    classes = list(session.classes)
    # Each point's class code (None, no prediction yet: the code after the classes), in
    # array passes: this runs on every rerun of the tab, for up to MAP_POINTS points.
    codes = (pd.Categorical(session.predict(rows), categories=classes).codes if classes
             else np.full(len(rows), -1))
    colour = np.where(codes < 0, len(classes), codes)
    legend = [format_label(c) for c in classes]
    if (codes < 0).any():
        legend.append("no prediction yet")
    round_key = "review_map_round"
    token = f"{session.project_link.project}:{st.session_state.get(round_key, 0)}"
    st.caption("Each point is an item, placed by the first two principal components of its "
               "vector (as on the Explore page) and coloured by the model's prediction; "
               "squares are labeled. Drag a lasso around items to label them together."
               + (f" Showing {len(rows):,} of {session.n_items:,} items."
                  if len(rows) < session.n_items else ""))
    chosen = lasso_map(xy[rows], rows=rows, colour=colour,
                       labeled=np.isin(rows, session.labeled), legend=legend, token=token,
                       key="review_map")
    if not chosen:
        return
    fresh = [r for r in chosen if not session.is_labeled(r)]
    done = len(chosen) - len(fresh)
    st.markdown(f"**{len(chosen)} selected**: {len(fresh)} unlabeled"
                + (f", {done} labeled already" if done else "") + ".")
    relabel = done > 0 and can_write and st.checkbox(
        f"Also relabel the {done} labeled items", key="review_map_relabel",
        help="Off: only the unlabeled items of the selection get the label.")
    targets = chosen if relabel else fresh
    grid = st.columns(6)
    ids = session.project_link.ids
    for k, item in enumerate(targets[:GRID]):
        with grid[k % 6]:
            show_item(pool, int(item), width=THUMB)
            st.caption(_item_caption(session, int(item)))
    if len(targets) > GRID:
        st.caption(f"... and {len(targets) - GRID} more: "
                   + escape_markdown(", ".join(str(ids[i]) for i in targets[GRID:GRID + 20]))
                   + (" ..." if len(targets) > GRID + 20 else ""))
    if not can_write:
        return
    label = class_choice(session, "review_map")
    if st.button(f"Label {len(targets)} items", key="review_map_apply", type="primary",
                 disabled=not (targets and label)):
        st.session_state["review_bulk"] = record_many(
            session, {int(i): label for i in targets}, who=who)
        st.session_state[round_key] = st.session_state.get(round_key, 0) + 1  # empty the lasso
        st.rerun()


def undo_bar(session, who: str) -> None:
    bulk = st.session_state.get("review_bulk")
    if bulk is None:
        return
    st.caption(f"Last bulk labeling: {len(bulk.before)} items as "
               f"{escape_markdown(bulk.label)}.")
    if st.button("Undo the bulk labeling", key="review_undo_bulk"):
        result = undo_bulk(session, bulk, who=who)
        if result is not None and not result.undone:
            # Plain text: the message names items, labels and labelers.
            st.warning(escape_markdown(result.message))
            if result.status == "already_undone":
                st.session_state["review_bulk"] = None
            return  # kept after a change since: undoable once that change is undone
        st.session_state["review_bulk"] = None
        st.rerun()


# -- agreement ----------------------------------------------------------------------------------
def _number(value) -> str:
    return "—" if value != value else f"{value:.3f}"  # NaN: undefined (e.g. one class only)


def agreement_tab(store, project, session, pool, user, who: str) -> None:
    project = store.open_project(project)  # fresh settings (the share, the settlings)
    answers = answers_table(store, project)  # settlings left out: they are no answers
    st.caption("Each labeler's latest answer per item; settlings are not answers.")
    try:
        result = agreement(answers[["item", "labeler", "label"]])
    except LabelwiseError:
        st.info("No item has answers from two labelers yet: agreement needs double labeling "
                "(see the share below).")
        result = None
    if result is not None:
        agreement_tables(result)
        adjudication_list(store, project, session, pool, answers, result.disagreements, who,
                          auth.can(user, "label", project.name))
    overlap_panel(store, project, user)


def agreement_tables(result) -> None:
    overall = result.overall
    cols = st.columns(4)
    cols[0].metric("Items with two or more answers", overall["items"])
    cols[1].metric("Observed agreement", _number(overall["observed"]))
    cols[2].metric("Fleiss' kappa", _number(overall["fleiss_kappa"]))
    cols[3].metric("Gwet's AC1", _number(overall["gwet_ac1"]))
    st.caption("Why AC1 as well: kappa subtracts the agreement expected by chance from the "
               "class shares, so when one class dominates, two labelers who almost always agree "
               "can still get a kappa near zero (the kappa paradox); Gwet's AC1 does not "
               "collapse there.")
    st.markdown("**Cohen's kappa per pair of labelers** (over the items both answered)")
    pairs = result.pairs
    st.table(pd.DataFrame({
        "labeler A": pairs["labeler_a"].map(format_label),
        "labeler B": pairs["labeler_b"].map(format_label), "items": pairs["items"],
        "observed": pairs["observed"].map(_number), "kappa": pairs["kappa"].map(_number)}))
    st.markdown("**Per class** (the class against all others)")
    per_class = result.per_class
    st.table(pd.DataFrame({
        "class": per_class["label"].map(format_label), "answers": per_class["answers"],
        "Fleiss' kappa": per_class["fleiss_kappa"].map(_number),
        "Gwet's AC1": per_class["gwet_ac1"].map(_number)}))


def settled_items(store, project, answers: pd.DataFrame) -> dict:
    """Item id -> (label, reviewer) of items whose current label is a settlement.

    Settlements are left out of ``answers``, so an item is settled exactly when its current
    label event is none of its answers (a labeler answering again reopens it).
    """
    answered = set(answers["event_id"].astype(int))
    current = store.current_labels(project)
    done = current[~current["event_id"].astype(int).isin(answered)]
    return {i: (label, who) for i, label, who in zip(done["item_id"], done["label"],
                                                     done["who"], strict=True)}


def adjudication_list(store, project, session, pool, answers: pd.DataFrame,
                      found: pd.DataFrame, who: str, can_settle: bool) -> None:
    st.subheader("Disagreements")
    settled = settled_items(store, project, answers)
    still_open = found[~found["item"].isin(settled)].reset_index(drop=True)
    closed = found[found["item"].isin(settled)]
    st.caption(f"{len(still_open)} open, {len(closed)} settled. Settling records the label "
               "under your name: the model and the exports use it; every answer stays in the "
               "history.")
    if not can_settle:
        st.caption("Your role can see the disagreements but not settle them.")
    for n, row in still_open.head(DISAGREEMENTS_SHOWN).iterrows():
        with st.container(border=True, key=f"agree_item_{n}"):
            disagreement_card(store, project, session, pool, row, n, who, can_settle)
    if len(closed):
        with st.expander(f"Settled ({len(closed)})"):
            for item_id in closed["item"]:
                label, reviewer = settled[item_id]
                st.markdown(f"Item {escape_markdown(item_id)}: "
                            f"**{escape_markdown(format_label(label))}** "
                            f"(settled by {escape_markdown(reviewer)})")
                history_table(store, project, item_id)


def disagreement_card(store, project, session, pool, row: pd.Series, n: int, who: str,
                      can_settle: bool) -> None:
    item_id = row["item"]
    st.markdown(f"**Item {escape_markdown(item_id)}**")
    left, right = st.columns([1, 2])
    with left:
        index = session.project_link.index_of.get(item_id)
        if index is None:
            st.caption("Not in this pool.")
        else:
            show_item(pool, int(index), width=THUMB)
    with right:
        for labeler, label in row["answers"].items():
            st.markdown(f"{escape_markdown(labeler)}: "
                        f"**{escape_markdown(format_label(label))}**")
        if not can_settle:
            return
        classes = list(dict.fromkeys([*session.classes, *row["labels"]]))
        st.caption("Settle as:")
        buttons = st.columns(max(1, min(len(classes), 5)))
        for k, cls in enumerate(classes):
            if buttons[k % len(buttons)].button(escape_markdown(format_label(cls)),
                                                key=f"agree_settle_{n}_{k}", width="stretch"):
                adjudicate(store, project, item_id, cls, reviewer=who)
                st.rerun()


def history_table(store, project, item_id) -> None:
    """Every event of one item, oldest first: the labelers' answers and the settlement."""
    events = store.events(project)
    mine = events[events["item_id"] == item_id]
    st.table(pd.DataFrame({"who": mine["who"].map(format_label), "action": mine["action"],
                           "label": mine["label"].map(format_label), "at": mine["at"]}))


def overlap_panel(store, project, user) -> None:
    st.subheader("Double labeling")
    share = overlap_share(project)
    st.caption(f"Share of items that get a second labeler: {share:.0%} (the items where the "
               "model is least sure, lowest margin between its two likeliest classes).")
    if user.role != "admin":
        return
    percent = st.number_input("Double labeling share (%)", min_value=0, max_value=100, step=1,
                              value=round(share * 100), key="agree_overlap_share")
    if st.button("Save the share", key="agree_overlap_save",
                 disabled=percent == round(share * 100)):
        # A read-modify-write in one transaction: a reviewer settling meanwhile keeps the note.
        set_overlap_share(store, project, percent / 100)
        st.rerun()


def page() -> None:
    st.title("Review")
    user = auth.current_user()
    try:
        store = persistence.open_store(persistence.store_path())
        project = choose_project(store, user)
        if project is None:
            return
        session, pool = project_session(store, project)
    except LabelwiseError as exc:
        state.show_error(exc)
        return
    who = auth.labeler_name(user)
    can_write = auth.can(user, "label", project.name)
    undo_bar(session, who)
    tabs = {
        "Review queue": lambda: queue_tab(session, pool, who, can_write),
        "Near-duplicates": lambda: duplicates_tab(session, pool, project.dataset_id, who,
                                                  can_write),
        "More like this": lambda: more_tab(session, pool, who, can_write),
        "Map": lambda: map_tab(session, pool, project.dataset_id, who, can_write),
        "Agreement": lambda: agreement_tab(store, project, session, pool, user, who),
    }
    # Stateful tabs: the open one stays open across reruns (e.g. after a bulk labeling) and
    # is the only one whose content runs.
    containers = st.tabs(list(tabs), key="review_tab", on_change="rerun")
    try:
        for container, show in zip(containers, tabs.values(), strict=True):
            if container.open:
                with container:
                    show()
    except LabelwiseError as exc:
        state.show_error(exc)


page()
