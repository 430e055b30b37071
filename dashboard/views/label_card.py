"""Label: the labeling card on the open dataset's project, committed to the label store.

The app's Label page (``views/label.py`` stays as "Label (classic)" for what the card does not
have yet). Same project naming, store and resume as the classic page. Every answer is committed to
the store before the card hears "saved" (:mod:`labelwise.dashboard.card_store`); the items on
screen are reserved for this browser session, and other labelers' labels arrive on each run.
"""

from __future__ import annotations

import uuid

import streamlit as st

from labelwise import (
    DatasetMismatchError,
    LabelwiseError,
    graph_duplicate_groups,
    holdout_accuracy,
)
from labelwise.dashboard import auth, persistence, state, widgets
from labelwise.dashboard.card import (
    ItemViews,
    labeling_card,
    outbox_desk_id,
    outbox_shown,
    receive_outbox,
)
from labelwise.dashboard.card_store import (
    RENEW_SECONDS,
    Reservations,
    StoreCommit,
    claim_offer,
    label_copies,
    latest_answers,
    relabel,
    sync_count,
    tab_holder,
    undo_copies,
)
from labelwise.dashboard.desk import AnswerRefused, Desk
from labelwise.dashboard.labeling import DEFAULT_MODEL, MODELS, LabelDesk, Settings
from labelwise.dashboard.review_desk import MIN_REVIEW_LABELS, ReviewDesk, reviewable

SEED = 0
DESK_KEY = "card_desk"
#: How many of the labeler's latest answers the page lists under the card.
HISTORY = 10
HISTORY_MESSAGE = "card_history_message"
CARD_KEY = "label_card"
#: The sidebar's mode: label new items, or walk the review queue of likely mistakes.
MODE_KEY = "card_mode"
LABEL_MODE, REVIEW_MODE = "Label", "Review likely mistakes"
REVIEW_KEY = "card_review_desk"
#: The review card has its own key, so it is a card of its own in the browser (its queue of
#: answers and its undo never mix with the labeling card's).
REVIEW_CARD_KEY = "label_card_review"
#: How many rows of the review queue the page lists under the card.
QUEUE_SHOWN = 50


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


def sidebar_model() -> str:
    """The model the card's session predicts with (knn, graph, or auto choosing per label)."""
    model = st.sidebar.selectbox(
        "Model", MODELS, key=state.keep("card_model", DEFAULT_MODEL),
        help="knn: the labeled neighbours vote. graph: labels spread over the pool's "
             "neighbour graph. auto: whichever predicts the labels better (leave-one-out).")
    state.remember("card_model")
    return model if model in MODELS else DEFAULT_MODEL


def sidebar_mode() -> str:
    """Label (new items) or review (the likely mistakes among the labeled ones)."""
    mode = st.sidebar.radio(
        "Mode", (LABEL_MODE, REVIEW_MODE), key=state.keep(MODE_KEY, LABEL_MODE),
        help="Review walks the labels most likely wrong (each judged by the other labels), "
             "most suspect first: keep, change or skip each with the card's keys.")
    state.remember(MODE_KEY)
    return mode if mode in (LABEL_MODE, REVIEW_MODE) else LABEL_MODE


class CardDesk:
    """A desk over a stored project for one browser session, with its reservations."""

    def __init__(self, source, dataset, project: str, who: str,
                 model: str = DEFAULT_MODEL) -> None:
        split = state.pool_split(source.key, dataset)
        settings = Settings()
        # The pool's stored graph and exact kNN density (read once, cached per dataset).
        parts = state.pool_parts(source.key, split)
        dens = (parts.density if settings.density == "knn"
                else state.pool_density(source.key, settings.density, split, dataset))
        link = persistence.link_for(source.key, split, settings, project, who, SEED)
        # LabelDesk resumes the session from the store and knows this person's skips.
        resumed = LabelDesk(split, settings, density_values=dens, seed=SEED, link=link,
                            model=model, graph=parts.graph)
        session = resumed.session
        self.reservations = Reservations(session, browser_session_id())
        accuracy = None
        if split.has_holdout:
            def accuracy(s):
                return holdout_accuracy(s, split.holdout_vectors, split.holdout_labels)
        commit = StoreCommit(session, who)
        self.desk = Desk(session, split.pool.classes, commit=commit, accuracy=accuracy,
                         exclude=self.reservations.held_by_others, explain=commit.explain,
                         vouch=self.reservations.vouch,
                         # Near-duplicates from the stored graph: no label spent on a copy.
                         copies=() if parts.graph is None else graph_duplicate_groups(parts.graph))
        self.desk.skipped.extend(resumed.skipped)
        self.views = ItemViews(split.pool)
        self.project = project
        self.withheld: set[int] = set()
        self._progress: tuple[int, object] | None = None

    def adopt_tab(self, tab: str, shown: int | None) -> None:
        """Hold items as the card's tab from now on; a reloaded card gets back the item it
        showed (``shown``) when that is still reserved for its tab and unlabeled."""
        holder = tab_holder(tab)
        if holder == self.reservations.holder:
            return
        resumable = (shown is not None and shown < self.desk.session.n_items
                     and self.reservations.holds(shown, holder))
        self.reservations.adopt(holder)
        if resumable:
            self.desk.resume_at(shown)

    def progress(self):
        """The session's progress, recomputed only when the desk changed (its leave-one-out
        accuracy costs O(labels² · d) with the kNN model)."""
        version = self.desk.version
        if self._progress is None or self._progress[0] != version:
            self._progress = (version, self.desk.session.progress())
        return self._progress[1]

    def refresh(self) -> tuple[list, str | None]:
        """One run's store work, in the order that keeps tabs apart: the card's answers in,
        other labelers' labels in, then claim every item the new offer may put on screen.

        Returns what :func:`receive_outbox` returned; ``self.withheld`` holds the offered
        items another session won (the card must not show them).
        """
        # Before the claim: a queue replayed after a restart is vouched for by the tab's
        # reservations, which the claim would replace.
        received = receive_outbox(self.desk, CARD_KEY)
        self.desk.sync(sync_count)
        self.withheld = claim_offer(self.desk, self.reservations)
        return received


def get_card_desk(source, dataset, project: str, who: str,
                  model: str = DEFAULT_MODEL) -> CardDesk:
    identity = (source.key, project, who, model)
    card = st.session_state.get(DESK_KEY)
    if card is None or card.identity != identity:
        if card is not None:
            card.reservations.release()
        with st.spinner(f"Opening project {widgets.escape_markdown(project)}..."):
            card = CardDesk(source, dataset, project, who, model)
        card.identity = identity
        st.session_state[DESK_KEY] = card
    tab = outbox_desk_id(CARD_KEY)
    if tab is not None:  # reservations follow the card's tab id once it is known
        card.adopt_tab(tab, outbox_shown(CARD_KEY))
    return card


@st.fragment(run_every=RENEW_SECONDS)
def keep_reservations(card: CardDesk) -> None:
    """Renew the reservations of the items on screen while the page is open (they expire
    once it is closed); a card waiting for an item another tab won gets a new offer."""
    try:
        card.reservations.renew()
    except LabelwiseError:
        return  # the store is away: the next run of the page claims again
    if card.withheld:
        st.rerun(scope="app")


def get_review_desk(card: CardDesk, who: str) -> ReviewDesk | None:
    """The review of this tab, started (its queue computed) on the first run in review
    mode; None while the project has too few labels to review."""
    review = st.session_state.get(REVIEW_KEY)
    if review is not None and review.desk is card.desk and review.who == who:
        return review
    card.desk.sync(sync_count)  # the queue judges the latest labels
    if not reviewable(card.desk.session):
        return None
    # Reviews show labeled items only: the labeling card's items are free for others
    # meanwhile (Label mode claims again on its next run).
    card.reservations.release()
    with st.spinner("Ranking the labels by how likely they are wrong..."):
        review = ReviewDesk(card.desk, who)
    st.session_state[REVIEW_KEY] = review
    return review


def refresh_review(review: ReviewDesk | None) -> tuple[list, str | None] | None:
    """One review run's store work: the review card's answers in, then others' labels."""
    if review is None:
        return None
    received = receive_outbox(review, REVIEW_CARD_KEY)
    review.sync(sync_count)
    return received


def show_queue(review: ReviewDesk) -> None:
    """The review queue in its order, as plain text (labels and ids are user text)."""
    ids = review.session.project_link.ids
    lines = [f"{s.rank}. {ids[s.item]} \u2014 labeled {s.label}, suggested "
             f"{'none' if s.suggested is None else s.suggested}, score {s.score:.2f}"
             for s in review.queue[:QUEUE_SHOWN]]
    more = len(review.queue) - QUEUE_SHOWN
    with st.expander(f"The review queue ({len(review.queue)} labels, most suspect first)"):
        st.text("\n".join(lines) + (f"\n... and {more} more" if more > 0 else ""))


def review_page(card: CardDesk, review: ReviewDesk | None, received, scope: str,
                who: str) -> None:
    """The Label page in review mode: the card walks the queue of likely mistakes."""
    st.caption("Review: the class keys set the label (the current label's key keeps it) · "
               "Enter or space keeps the current label · s skips · u undoes your latest "
               "review answer. The card's Model line is the current label, with the "
               "probability the other labels give it.")
    show_progress(card.progress())
    if review is None:
        st.info(f"Review needs labeled items: label at least {MIN_REVIEW_LABELS} first "
                f"({card.desk.session.n_labeled} so far).")
        return
    run = labeling_card(review, review.view_of(card.views), scope=f"{scope}|review",
                        key=REVIEW_CARD_KEY, received=received, wording=REVIEW_WORDING)
    counts = review.counts()
    if run.offer.current.item is None:
        others = f", {counts['gone']} relabeled by others meanwhile" if counts["gone"] else ""
        st.success(f"Review done: {counts['kept']} kept, {counts['changed']} changed, "
                   f"{counts['skipped']} skipped{others}. Undo (u) brings your latest review "
                   "answer back; switch to Label and back for a new queue.")
    st.caption(f"Reviewing as {widgets.escape_markdown(who)} · {run.offer.n_labeled} of "
               f"{run.offer.n_items} in the queue walked · {counts['kept']} kept, "
               f"{counts['changed']} changed")
    show_queue(review)
    show_history(card, who, "Your latest answers (review and labeling)")


def show_progress(progress) -> None:
    """Labeled of the pool, the model in use, its estimated accuracy and the stopping advice
    (:meth:`labelwise.LabelingSession.progress`)."""
    labeled, model, accuracy, kappa = st.columns(4)
    labeled.metric("Labeled", f"{progress.n_labeled} of {progress.n_items}")
    model.metric("Model", progress.model)
    accuracy.metric("Accuracy on your labels", "—" if progress.estimated_accuracy is None
                    else f"{progress.estimated_accuracy:.1%}",
                    help="Leave-one-out on your labels: each labeled item predicted from the "
                         "others. Pessimistic, since the picked items are the hard ones.")
    kappa.metric("Stable", ("yes" if progress.stable else "not yet") if progress.kappa is None
                 else f"{'yes' if progress.stable else 'not yet'} (κ {progress.kappa:.2f})")
    st.caption(f"{widgets.escape_markdown(progress.recommendation)} · "
               f"{widgets.escape_markdown(progress.model_reason)}")


def change_label(card: CardDesk, who: str, item: int, label, shown) -> None:
    """History button callback: relabel ``item`` from the ``shown`` label to ``label``
    through the store (refused if anyone changed it since the button was drawn)."""
    try:
        relabel(card.desk, who, item, label, shown=shown)
    except (AnswerRefused, LabelwiseError) as exc:
        st.session_state[HISTORY_MESSAGE] = str(getattr(exc, "message", exc))


#: The card's words in review mode: the hinted class is the item's current label, the count
#: is of the queue walked.
REVIEW_WORDING = {"prediction": "Labeled ", "progress": "Reviewed",
                  "finish": "Review done: the queue is walked."}
COPIES_MESSAGE = "card_copies_message"
COPIES_GROUP = "card_copies_group"
# The card leaves keys with Alt, Ctrl or Meta alone (its own keys are plain digits and letters),
# so these reach Streamlit's button shortcuts whatever has the focus.
GIVE_COPIES_KEY = "Alt+G"
UNDO_COPIES_KEY = "Alt+Z"


def show_copies(card: CardDesk, who: str) -> None:
    """The near-copies of the labeler's latest item: not suggested, labeled in one click."""
    message = st.session_state.pop(COPIES_MESSAGE, None)
    if message:
        st.info(widgets.escape_markdown(message))
    if st.session_state.get(COPIES_GROUP) is not None:
        st.button("Undo the near-copies' labels", key="card_copies_undo",
                  on_click=take_back_copies, args=(card, who), shortcut=UNDO_COPIES_KEY)
    latest = latest_answers(card.desk.session, who, 1)
    copies = card.desk.copies_of(latest[0]) if latest else []
    if not copies:
        return
    label = card.desk.session.labels[latest[0]]
    st.caption(f"Your latest item has {len(copies)} near-copies in the pool (cosine similarity "
               "above the pool's suggested near-duplicate threshold); they are not suggested.")
    st.button(f"Give them “{widgets.escape_markdown(str(label))}” too", key="card_copies",
              on_click=give_copies, args=(card, who, latest[0]), shortcut=GIVE_COPIES_KEY)


def give_copies(card: CardDesk, who: str, item: int) -> None:
    try:
        count, group = label_copies(card.desk, who, item)
        st.session_state[COPIES_GROUP] = group
        st.session_state[COPIES_MESSAGE] = f"{count} near-copies labeled."
    except (AnswerRefused, LabelwiseError) as exc:
        st.session_state[COPIES_MESSAGE] = str(getattr(exc, "message", exc))


def take_back_copies(card: CardDesk, who: str) -> None:
    group = st.session_state.get(COPIES_GROUP)
    try:
        result = undo_copies(card.desk, who, group)
        st.session_state[COPIES_MESSAGE] = result.message
        if result.undone or result.status == "already_undone":
            st.session_state[COPIES_GROUP] = None
    except LabelwiseError as exc:
        st.session_state[COPIES_MESSAGE] = str(exc)


def show_history(card: CardDesk, who: str, title: str = "Your latest answers") -> None:
    """The labeler's latest answers with their item, each label changeable in place.

    A change is a button per class in a popover, not a select box: a button reports only a
    click, while a select box redrawn after the label changed (by a review answer, or by
    someone else) could report its old value and set the item back to it.
    """
    # The message first: a refused change may have been the last item of the list.
    message = st.session_state.pop(HISTORY_MESSAGE, None)
    if message:
        st.warning(widgets.escape_markdown(message))
    items = latest_answers(card.desk.session, who, HISTORY)
    if not items:
        return
    st.subheader(title)
    classes = list(card.desk.classes)
    labels = card.desk.session.labels
    for item in items:
        view = card.views(item)
        label = labels[item]
        picture, text, choice = st.columns([1, 3, 2], vertical_alignment="center")
        if "src" in view:
            picture.image(view["src"], width=64)
        text.text(view["id"] if "src" in view else f"{view['id']}: {view['text']}"[:200])
        with choice.popover(widgets.escape_markdown(str(label)), width="stretch",
                            help="Change this label"):
            for k, cls in enumerate(classes):
                # ``label`` rides along: a click on a button drawn before the label changed
                # is refused ("changed since") instead of applied to a label nobody saw.
                st.button(widgets.escape_markdown(str(cls)), key=f"card_hist_{item}_{k}",
                          disabled=cls == label, width="stretch", on_click=change_label,
                          args=(card, who, item, cls, label))


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
        model = sidebar_model()
        mode = sidebar_mode()
        if not auth.can(auth.current_user(), "label", project):
            st.error("Your account may not label this project.")
            return
        card = get_card_desk(source, dataset, project, who, model)
        if mode == REVIEW_MODE:
            review = get_review_desk(card, who)
            received = refresh_review(review)
        else:
            st.session_state.pop(REVIEW_KEY, None)  # the next review computes a new queue
            received = card.refresh()
    except DatasetMismatchError as exc:
        state.show_error(exc)
        st.info("Type another project name in the sidebar to start a new project.")
        return
    except LabelwiseError as exc:
        state.show_error(exc)
        return
    st.title(f"Label · {widgets.escape_markdown(dataset.name)}")
    if mode == REVIEW_MODE:
        review_page(card, review, received, f"{source.key}|{project}", who)
        return
    st.caption("Keys: 1-9, 0 and letters for the classes · Enter or space accepts the model's "
               "prediction · s skips · u undoes your latest answer · Alt+G gives your latest "
               "item's label to its near-copies.")
    show_progress(card.progress())
    run = labeling_card(card.desk, card.views, scope=f"{source.key}|{project}", key=CARD_KEY,
                        received=received, withheld=card.withheld)
    keep_reservations(card)
    offer = run.offer
    if offer.current.item is None and offer.n_labeled == offer.n_items:
        st.success("All items labeled. Undo (u) brings your latest answer back; the labels "
                   "are in the store, ready to export.")
        st.page_link("views/export.py", label="Export the labels", icon=":material/download:")
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    left.text_input("New class", key="card_new_class", placeholder="name of a new class")
    right.button("Add class", key="card_add_class", on_click=add_class, args=(card,))
    st.caption(f"Project {widgets.escape_markdown(project)} · labeling as "
               f"{widgets.escape_markdown(who)} · {offer.n_labeled} of {offer.n_items} labeled")
    show_copies(card, who)
    show_history(card, who)


page()
