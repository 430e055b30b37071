"""Label: the hand-labeling loop over the open dataset."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from labelwise import (
    DEFAULT_UNCERTAINTY,
    UNCERTAINTY_MEASURES,
    DatasetMismatchError,
    LabelwiseError,
    Strategy,
    registered_scorers,
)
from labelwise.dashboard import auth, persistence, state, widgets
from labelwise.dashboard.labeling import LabelDesk, Settings

UNCERTAINTY = {measure: measure.replace("_", " ") for measure in UNCERTAINTY_MEASURES}
DENSITY = {"knn": "kNN (10 nearest)", "global": "global (mean similarity)"}
# Letters ticked on a first visit: the default strategy's (a scorer the user registers is
# offered, not switched on).
DEFAULT_LETTERS = Strategy().factors
SCORES_PER_ROW = 3


def score_names() -> dict[str, str]:
    """``"U uncertainty"`` and so on, for every registered scorer."""
    return {letter: f"{letter} {cls.title}".strip()
            for letter, cls in registered_scorers().items()}


def score_checkboxes(disabled: bool) -> tuple[str, ...]:
    """One checkbox per registered scorer, in rows of three; returns the ticked letters."""
    names = score_names()
    letters = list(names)
    ticked = []
    for start in range(0, len(letters), SCORES_PER_ROW):
        cols = st.sidebar.columns(SCORES_PER_ROW)
        for col, letter in zip(cols, letters[start:start + SCORES_PER_ROW], strict=False):
            key = state.keep(f"use_{letter}", letter in DEFAULT_LETTERS)
            if col.checkbox(letter, key=key, help=names[letter], disabled=disabled):
                ticked.append(letter)
    state.remember(*(f"use_{letter}" for letter in letters))
    return tuple(ticked)


def sidebar_settings() -> tuple[Settings, int]:
    """Strategy and vote settings from the sidebar; returns (settings, batch size)."""
    sb = st.sidebar
    sb.subheader("Strategy")
    auto = sb.toggle("auto: choose the mix per pick", key=state.keep("use_auto", False),
                     help="Starts with U*I*D and switches to U*D once the labels show a strong "
                          "model (labeled neighbours agree, or much of the pool is covered). "
                          "The Label page says which mix picked each item and why.")
    factors = score_checkboxes(disabled=auto)
    uncertainty = sb.selectbox("Uncertainty measure", list(UNCERTAINTY),
                               format_func=UNCERTAINTY.get,
                               key=state.keep("uncertainty", DEFAULT_UNCERTAINTY))
    density = sb.selectbox("Density kind", list(DENSITY), format_func=DENSITY.get,
                           key=state.keep("density"))
    k = sb.number_input("k (neighbours in the vote)", 1, 50, key=state.keep("k", 5))
    weights = sb.selectbox("Vote weights", ["uniform", "similarity"], key=state.keep("weights"))
    sb.subheader("Mode")
    batch = sb.toggle("Batch mode", key=state.keep("batch_mode", False),
                      help="Show several suggestions at once and submit them together.")
    size = sb.slider("Items per batch", 2, 12, key=state.keep("batch_size", 6),
                     disabled=not batch)
    state.remember("use_auto", "uncertainty", "density", "k", "weights", "batch_mode",
                   "batch_size")
    if not factors and not auto:
        sb.caption("No score selected: suggestions are random.")
    settings = Settings(factors, uncertainty, density, int(k), weights, auto)
    return settings, (int(size) if batch else 1)


SEED = 0


def sidebar_project(source, dataset, user: auth.User) -> tuple[str, str]:
    """Project (one per dataset; default: the dataset's name) and labeler name for ``user``.

    The name box is drawn only in a local run: with logins, labels carry the account name.
    Demo visitors get their sandbox's copy of the project (``auth.project_for``).
    """
    sb = st.sidebar
    sb.subheader("Project")
    project_key = f"project_name::{source.key}"
    # A pack's project is named after it; an uploaded dataset's after its content and options.
    default = dataset.name if source.kind == "pack" else source.name
    project = sb.text_input("Project", key=state.keep(project_key, default),
                            help="Labels are saved in this project of the label store; "
                                 "reopening the app resumes it.")
    typed = None
    if user.local:
        typed = sb.text_input("Your name", key=state.keep("who", "labeler"),
                              help="Recorded with each label, so several people can label "
                                   "one project.")
    state.remember(project_key, "who")
    return auth.project_for(user, project.strip() or default), auth.labeler_name(user, typed)


def refusal(user: auth.User, project: str) -> str | None:
    """Why ``user`` may not open ``project``, or None if they may."""
    if not auth.can(user, "view", project):
        # The same words whether or not the project exists: nothing leaks about others' work.
        return (f"Project {widgets.escape_markdown(project)} is not available to your account: "
                "type one of your projects in the sidebar.")
    if auth.can(user, "create", project):
        return None
    existing = {p.name for p in persistence.open_store(persistence.store_path()).list_projects()}
    if project in existing:
        return None
    return (f"Project {widgets.escape_markdown(project)} has not been started, and your role "
            "cannot start a project: ask an administrator.")


def get_desk(source, dataset, settings: Settings, project: str, who: str) -> LabelDesk:
    """This tab's desk for the open dataset (resumed from the store, once per project)."""
    split = state.pool_split(source.key, dataset)
    dens = state.density(source.key + "|pool", settings.density, split.pool.vectors)
    desk = st.session_state.get("desk")
    identity = (source.key, project, who)
    if desk is None or st.session_state.get("desk_identity") != identity:
        with st.spinner(f"Opening project {widgets.escape_markdown(project)}..."):
            link = persistence.link_for(source.key, split, settings, project, who, SEED)
            desk = LabelDesk(split, settings, density_values=dens, seed=SEED, link=link)
        st.session_state["desk"] = desk
        st.session_state["desk_identity"] = identity
    else:
        desk.apply(settings, density_values=dens)
        desk.sync()
    return desk


def run_action(func, *args) -> None:
    """Button callback: do it, or keep the error message for this run.

    Callbacks run before the script, so their time is kept for the label-click benchmark.
    """
    start = time.perf_counter()
    try:
        func(*args)
    except LabelwiseError as exc:
        st.session_state["label_error"] = str(exc)
    st.session_state["timing_action_ms"] = (time.perf_counter() - start) * 1e3


def add_class(desk: LabelDesk) -> None:
    name = st.session_state.get("new_class", "")
    try:
        desk.add_class(name)
        st.session_state["new_class"] = ""
    except LabelwiseError as exc:
        st.session_state["label_error"] = str(exc)


def progress_row(desk: LabelDesk) -> None:
    session = desk.session
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Labeled", session.n_labeled,
              help=f"of {session.n_items} items in the labeling pool")
    acc = desk.holdout_accuracy()
    if desk.split.has_holdout:
        c2.metric("Holdout accuracy", "—" if acc is None else f"{acc:.1%}",
                  help=(f"Accuracy of the kNN model on {len(desk.split.holdout_rows)} items "
                        "kept aside (never suggested) whose true labels are known. Whole "
                        "groups (e.g. all augmented copies of one photo) go to the holdout, so "
                        "near-duplicates of labeled items cannot inflate it."))
    else:
        c2.metric("Holdout accuracy", "n/a", help="This dataset has no ground truth.")
    c3.metric("Skipped", len(desk.skipped))
    c4.metric("Strategy", widgets.escape_markdown(desk.settings.strategy.name),
              help=desk.settings.strategy.label)


def class_buttons(desk: LabelDesk, item: int, read_only: bool) -> dict[str, str]:
    """One button per class (keys 1-9); returns the shortcut map."""
    shortcuts = {}
    classes = desk.classes
    longest = max((len(str(c)) for c in classes), default=1)
    per_row = max(1, min(len(classes), 6 if longest <= 8 else 4 if longest <= 12 else 3))
    for start in range(0, len(classes), per_row):
        cols = st.columns(per_row)
        for offset, cls in enumerate(classes[start:start + per_row]):
            n = start + offset
            hint = f" :gray[{n + 1}]" if n < 9 else ""
            cols[offset].button(f"{widgets.escape_markdown(cls)}{hint}", key=f"cls_{n}",
                                width="stretch", disabled=read_only,
                                on_click=run_action, args=(desk.label, item, cls))
            if n < 9:
                shortcuts[str(n + 1)] = f"cls_{n}"
    return shortcuts


# The two small charts are plain Vega-Lite specs: building them through Altair validates the
# whole spec against its JSON schema on every run, which cost more than everything else a
# click does (see benchmarks/label_click.py).
def probability_chart(proba: dict) -> tuple[pd.DataFrame, dict]:
    frame = pd.DataFrame({"class": [str(c) for c in proba], "probability": list(proba.values())})
    spec = {
        "mark": {"type": "bar"}, "height": {"step": 22},
        "encoding": {
            "x": {"field": "probability", "type": "quantitative", "scale": {"domain": [0, 1]}},
            "y": {"field": "class", "type": "nominal", "sort": "-x", "title": None},
            "tooltip": [{"field": "class"},
                        {"field": "probability", "type": "quantitative", "format": ".2f"}]}}
    return frame, spec


def why_chart(percentiles: pd.Series, factors: tuple[str, ...]) -> tuple[pd.DataFrame, dict]:
    names = score_names()
    frame = pd.DataFrame({
        "score": [names.get(s, s) for s in percentiles.index],
        "percentile": percentiles.to_numpy(),
        "used": ["in strategy" if s in factors else "not used" for s in percentiles.index]})
    spec = {
        "mark": {"type": "bar"}, "height": {"step": 24},
        "encoding": {
            "x": {"field": "percentile", "type": "quantitative", "scale": {"domain": [0, 100]},
                  "title": "percentile among unlabeled items"},
            "y": {"field": "score", "type": "nominal", "sort": None, "title": None},
            "color": {"field": "used", "type": "nominal",
                      "scale": {"domain": ["in strategy", "not used"],
                                "range": ["#2f6f4f", "#b8c4bc"]},
                      "legend": {"orient": "bottom", "title": None}},
            "tooltip": [{"field": "score"}, {"field": "used"},
                        {"field": "percentile", "type": "quantitative", "format": ".0f"}]}}
    return frame, spec


def neighbours(desk: LabelDesk, item: int) -> None:
    table = desk.session.explain(item)
    if table.empty:
        st.caption("No labeled neighbours yet.")
        return
    pool = desk.split.pool
    if "image" in pool.items.columns:
        cols = st.columns(len(table))
        for col, row in zip(cols, table.itertuples(), strict=True):
            with col:
                label = widgets.markdown_label(row.label)
                widgets.show_item(pool, int(row.item), width=90,
                                  caption=f"{label} · {row.similarity:.2f}")
    else:
        st.dataframe(pd.DataFrame({
            "label": [str(v) for v in table["label"]],
            "similarity": table["similarity"].round(3),
            "item": [widgets.item_text(pool, int(i), limit=120) for i in table["item"]]}),
            hide_index=True, width="stretch")


def single(desk: LabelDesk, read_only: bool) -> None:
    item = desk.suggest(1)[0]
    pool = desk.split.pool
    left, right = st.columns([3, 2], gap="large")
    with left:
        st.subheader("Label this item")
        widgets.show_item(pool, item, width=360)
        st.caption(f"item {widgets.escape_markdown(pool.items['id'].iat[item])}")
        shortcuts = class_buttons(desk, item, read_only)
        b1, b2, b3, b4 = st.columns([1, 1, 2, 1], vertical_alignment="bottom")
        b1.button("Skip :gray[s]", key="skip_btn", width="stretch", disabled=read_only,
                  on_click=run_action, args=(desk.skip, item))
        b2.button("Undo :gray[u]", key="undo_btn", width="stretch",
                  disabled=read_only or not desk.history,
                  on_click=run_action, args=(desk.undo,))
        b3.text_input("New class", key="new_class", placeholder="name of a new class",
                      disabled=read_only)
        b4.button("Add class", key="add_class_btn", width="stretch", disabled=read_only,
                  on_click=add_class, args=(desk,))
        shortcuts.update({"s": "skip_btn", "u": "undo_btn"})
        widgets.keyboard_shortcuts(shortcuts)
        st.caption("Keys: 1-9 label with a class, u undo, s skip.")
    with right:
        predicted, proba = desk.prediction(item)
        st.subheader("Prediction")
        if predicted is None:
            st.caption("No labels yet: the model has nothing to vote with.")
        else:
            st.write(f"Predicted: **{widgets.markdown_label(predicted)}**")
            st.vega_lite_chart(*probability_chart(proba), width="stretch")
        st.subheader("Why this item")
        factors = picked_by(desk, item)
        st.vega_lite_chart(*why_chart(desk.why(item), factors), width="stretch")
        st.subheader("Nearest labeled neighbours")
        neighbours(desk, item)


def picked_by(desk: LabelDesk, item: int) -> tuple[str, ...]:
    """Say which strategy picked ``item`` (for auto: the mix and why); return its letters."""
    session = desk.session
    strategy = session.picking_strategy(item)
    if strategy is None:
        return ()
    if desk.settings.auto:
        st.markdown(f"Picked by **{widgets.escape_markdown(strategy.label)}** (auto)")
        st.caption(widgets.escape_markdown(session.explain_strategy(decisions=False)["reason"]))
    return strategy.factors


SKIP_CHOICE = "(skip)"


def batch_key(item: int) -> str:
    return f"batch_{item}"


def accept_hints(hints: dict[int, object]) -> None:
    """Button callback: put the model's prediction in every answer box (one action); the
    person still submits them."""
    for item, hint in hints.items():
        st.session_state[batch_key(item)] = hint


def submit_batch(desk: LabelDesk, items: list[int]) -> None:
    """Button callback: store the answers the person chose; empty boxes stay unlabeled."""
    for item in items:
        choice = st.session_state.get(batch_key(item))
        if choice is None:
            continue
        if choice == SKIP_CHOICE:
            run_action(desk.skip, item)
        else:
            run_action(desk.label, item, choice)
    # A full batch next (the items left empty are still unlabeled and may come back in it).
    desk.suggestions = None


def batch(desk: LabelDesk, size: int, read_only: bool) -> None:
    """Several items at once. Every answer starts empty, with the model's prediction as a
    hint beside it, so a submitted label is always one the person chose (or accepted)."""
    items = desk.suggest(size)
    pool = desk.split.pool
    classes = desk.classes
    predicted = desk.session.predict(items) if desk.session.classes else None
    hints = {} if predicted is None else {
        # The option itself (not the model's numpy scalar), so the box shows it as chosen.
        item: classes[classes.index(guess)]
        for item, guess in zip(items, predicted, strict=True) if guess in classes}
    st.subheader(f"Label {len(items)} items")
    per_row = 3
    for start in range(0, len(items), per_row):
        cols = st.columns(per_row)
        for col, item in zip(cols, items[start:start + per_row], strict=False):
            with col, st.container(border=True):
                item_id = widgets.escape_markdown(pool.items["id"].iat[item])
                widgets.show_item(pool, item, width=200, caption=f"item {item_id}")
                st.selectbox("Label", [SKIP_CHOICE, *classes], index=None, key=batch_key(item),
                             placeholder="choose a label", format_func=str,
                             disabled=read_only)
                if item in hints:
                    st.caption(f"model says: {widgets.escape_markdown(str(hints[item]))}")
    chosen = sum(st.session_state.get(batch_key(item)) is not None for item in items)
    hint_col, submit_col = st.columns(2)
    hint_col.button("Accept all hints", key="accept_hints", on_click=accept_hints,
                    args=(hints,), disabled=read_only or not hints,
                    help="Fill every answer with the model's prediction; then Submit.")
    submit_col.button("Submit the chosen answers", type="primary", key="submit_batch",
                      on_click=submit_batch, args=(desk, list(items)), disabled=read_only,
                      help="Stores the answers you chose; empty ones stay unlabeled.")
    st.caption(f"{chosen} of {len(items)} answered")


def page() -> None:
    start = st.session_state.get("timing_run_start", time.perf_counter())
    settings, size = sidebar_settings()
    try:
        source = state.current_source()
        dataset = state.current_dataset()
        user = auth.current_user()
        project, who = sidebar_project(source, dataset, user)
        refused = refusal(user, project)
        if refused is not None:
            st.title(f"Label · {widgets.escape_markdown(dataset.name)}")
            st.warning(refused)
            return
        desk = get_desk(source, dataset, settings, project, who)
    except DatasetMismatchError as exc:
        state.show_error(exc)
        st.info("Type another project name in the sidebar to start a new project for this "
                "dataset.")
        return
    except LabelwiseError as exc:
        state.show_error(exc)
        return
    st.title(f"Label · {widgets.escape_markdown(dataset.name)}")
    if "fallback_note" in st.session_state:
        st.info(st.session_state["fallback_note"])
    error = st.session_state.pop("label_error", None)
    if error:
        st.error(error)
    progress_row(desk)
    read_only = not auth.can(user, "label", project)
    if read_only:
        st.caption("You can look at this project but not change it: your role "
                   f"({user.role}) does not label {widgets.escape_markdown(project)}.")
    try:
        if size > 1:
            batch(desk, size, read_only)
        else:
            single(desk, read_only)
    except LabelwiseError as exc:
        state.show_error(exc)
    disagreements(desk)
    # Server time of this run of the page, read by benchmarks/label_click.py.
    st.session_state["timing_page_ms"] = (time.perf_counter() - start) * 1e3


def disagreements(desk: LabelDesk) -> None:
    """Items that different labelers labeled differently (the latest label is current)."""
    link = desk.link
    if link is None:
        return
    table = link.store.disagreements(link.project)
    title = f"Disagreements between labelers ({table['item_id'].nunique()} items)"
    with st.expander(title, expanded=False):
        if table.empty:
            st.caption("None so far: no item has two different labels from two people.")
        else:
            st.dataframe(table.astype(str), hide_index=True, width="stretch")
        where = ""
        if auth.current_user().role == "admin":  # the server's file layout is for admins only
            where = f" in {widgets.escape_markdown(link.store.location)}"
        st.caption(f"Project {widgets.escape_markdown(link.project)}{where}")


page()
