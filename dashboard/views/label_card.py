"""Label (card): the labeling card on the open dataset's project, committed to the label store.

Same project naming, store and resume as the classic Label page. Every answer is committed to
the store before the card hears "saved" (:mod:`labelwise.dashboard.card_store`); the items on
screen are reserved for this browser session, and other labelers' labels arrive on each run.
"""

from __future__ import annotations

import uuid

import streamlit as st

from labelwise import DatasetMismatchError, LabelwiseError, holdout_accuracy
from labelwise.dashboard import auth, persistence, state, widgets
from labelwise.dashboard.card import ItemViews, labeling_card, outbox_desk_id
from labelwise.dashboard.card_store import Reservations, StoreCommit, sync_count, tab_holder
from labelwise.dashboard.desk import Desk
from labelwise.dashboard.labeling import LabelDesk, Settings

SEED = 0
DESK_KEY = "card_desk"
CARD_KEY = "label_card"
#: Attempts at holding the shown item when another session wins it at the same moment.
HOLD_ATTEMPTS = 3


def browser_session_id() -> str:
    """This browser session's id (Streamlit's session id): what reservations belong to."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is not None and ctx.session_id:
        return f"session:{ctx.session_id}"
    return st.session_state.setdefault("card_holder", f"session:{uuid.uuid4().hex}")


def sidebar_project(source, dataset) -> tuple[str, str]:
    """Project and labeler, named as on the classic Label page (the same widget state)."""
    sb = st.sidebar
    sb.subheader("Project")
    project_key = f"project_name::{source.key}"
    default = dataset.name if source.kind == "pack" else source.name
    typed = sb.text_input("Project", key=state.keep(project_key, default),
                          help="Labels are saved in this project of the label store.")
    user = auth.current_user()
    typed_who = sb.text_input("Your name", key=state.keep("who", "labeler"),
                              disabled=not user.local)
    state.remember(project_key, "who")
    project = auth.project_for(user, typed.strip() or default)
    return project, auth.labeler_name(user, typed_who) or "labeler"


class CardDesk:
    """A desk over a stored project for one browser session, with its reservations."""

    def __init__(self, source, dataset, project: str, who: str) -> None:
        split = state.pool_split(source.key, dataset)
        settings = Settings()
        dens = state.density(source.key + "|pool", settings.density, split.pool.vectors)
        link = persistence.link_for(source.key, split, settings, project, who, SEED)
        # LabelDesk resumes the session from the store and knows this person's skips.
        resumed = LabelDesk(split, settings, density_values=dens, seed=SEED, link=link)
        session = resumed.session
        self.reservations = Reservations(session, browser_session_id())
        accuracy = None
        if split.has_holdout:
            def accuracy(s):
                return holdout_accuracy(s, split.holdout_vectors, split.holdout_labels)
        commit = StoreCommit(session, who)
        self.desk = Desk(session, split.pool.classes, commit=commit, accuracy=accuracy,
                         exclude=self.reservations.held_by_others, explain=commit.explain,
                         vouch=self.reservations.vouch)
        self.desk.skipped.extend(resumed.skipped)
        self.views = ItemViews(split.pool)
        self.project = project

    def refresh(self) -> None:
        """Other labelers' labels in, then hold the shown items (moving on if one is taken)."""
        self.desk.sync(sync_count)
        for _ in range(HOLD_ATTEMPTS):
            offer = self.desk.offer()
            shown = [offer.current.item, *(p.item for p in offer.after_label),
                     None if offer.after_skip is None else offer.after_skip.item]
            granted = self.reservations.hold(shown)
            if offer.current.item is None or offer.current.item in granted:
                return
            self.desk.sync(lambda _session: 0)  # another session won it: choose again


def get_card_desk(source, dataset, project: str, who: str) -> CardDesk:
    identity = (source.key, project, who)
    card = st.session_state.get(DESK_KEY)
    if card is None or card.identity != identity:
        if card is not None:
            card.reservations.release()
        with st.spinner(f"Opening project {widgets.escape_markdown(project)}..."):
            card = CardDesk(source, dataset, project, who)
        card.identity = identity
        st.session_state[DESK_KEY] = card
    tab = outbox_desk_id(CARD_KEY)
    if tab is not None:  # reservations follow the card's tab id once it is known
        card.reservations.adopt(tab_holder(tab))
    card.refresh()
    return card


def add_class(card: CardDesk) -> None:
    name = str(st.session_state.get("card_new_class", "")).strip()
    if name:
        card.desk.add_class(name)
    st.session_state["card_new_class"] = ""


def page() -> None:
    try:
        source = state.current_source()
        dataset = state.current_dataset()
        project, who = sidebar_project(source, dataset)
        if not auth.can(auth.current_user(), "label", project):
            st.error("Your account may not label this project.")
            return
        card = get_card_desk(source, dataset, project, who)
    except DatasetMismatchError as exc:
        state.show_error(exc)
        st.info("Type another project name in the sidebar to start a new project.")
        return
    except LabelwiseError as exc:
        state.show_error(exc)
        return
    st.title(f"Label (card) · {widgets.escape_markdown(dataset.name)}")
    st.caption("Keys: 1-9, 0 and letters for the classes · Enter or space accepts the model's "
               "prediction · s skips · u undoes your latest answer.")
    run = labeling_card(card.desk, card.views, scope=f"{source.key}|{project}", key=CARD_KEY)
    offer = run.offer
    if offer.current.item is None:
        st.success("All items labeled. Undo (u) brings your latest answer back; the labels "
                   "are in the store, ready to export.")
        st.page_link("views/export.py", label="Export the labels", icon=":material/download:")
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    left.text_input("New class", key="card_new_class", placeholder="name of a new class")
    right.button("Add class", key="card_add_class", on_click=add_class, args=(card,))
    st.caption(f"Project {widgets.escape_markdown(project)} · labeling as "
               f"{widgets.escape_markdown(who)} · {offer.n_labeled} of {offer.n_items} labeled")


page()
