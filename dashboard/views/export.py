"""Export: a project's labels as CSV, JSON Lines or Label Studio tasks; its kNN model as .npz."""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from labelwise import (
    LabelwiseError,
    export_project,
    labeled_items,
    resume_session,
    save_knn_model,
)
from labelwise.dashboard import auth, persistence, state

FILES = {
    "csv": ("CSV", "text/csv", ".csv"),
    "jsonl": ("JSON Lines", "application/jsonl", ".jsonl"),
    "labelstudio": ("Label Studio tasks (JSON)", "application/json", ".json"),
}


def written(write) -> bytes:
    """Bytes of the file that ``write(path)`` (e.g. a :func:`labelwise.export_project`) writes."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export"
        write(path)
        return path.read_bytes()


def project_session(store, project, dataset_id: str):
    """The live session of ``project``: this tab's desk if it is open, else resumed."""
    desk = st.session_state.get("desk")
    if desk is not None and desk.link is not None and desk.link.project == project.name:
        return desk.session
    if not dataset_id.startswith("pack:"):
        raise LabelwiseError(f"open project {project.name!r} on the Label page first: its "
                             "dataset is not a built-in pack")
    name = dataset_id.split(":", 1)[1]
    split = state.pool_split(dataset_id, state.load_pack(name))
    return resume_session(store, project, split.pool,
                          fingerprint=persistence.pool_fingerprint(dataset_id, split))


def page() -> None:
    st.title("Export")
    try:
        store = persistence.open_store(persistence.store_path())
        projects = store.list_projects()
    except LabelwiseError as exc:
        state.show_error(exc)
        return
    user = auth.current_user()
    if user.role == "admin":  # where the store lives on the server is for admins only
        st.caption(f"Label store: {store.location}")
    # Only the projects this user may see: others' projects (and demo sandboxes) stay hidden.
    projects = [p for p in projects if auth.can(user, "view", p.name)]
    if not projects:
        st.info("No project yet: label a few items on the Label page first.")
        return
    names = [p.name for p in projects]
    desk = st.session_state.get("desk")
    current = desk.link.project if desk is not None and desk.link is not None else names[0]
    name = st.selectbox("Project", names, index=names.index(current) if current in names
                        else 0, key="export_project")
    project = projects[names.index(name)]
    dataset = None
    if project.dataset_id.startswith("pack:"):
        dataset = state.pool_split(project.dataset_id,
                             state.load_pack(project.dataset_id.split(":", 1)[1])).pool
    try:
        table = labeled_items(store, project, dataset)
    except LabelwiseError as exc:
        state.show_error(exc)
        return
    st.metric("Labeled items", len(table))
    if table.empty:
        st.info("This project has no labels yet.")
        return
    st.dataframe(table.head(200), hide_index=True, width="stretch")
    if not auth.can(user, "export", name):
        st.caption(f"Your role ({user.role}) can look at this project but not download it.")
        return
    cols = st.columns(4)
    for col, (fmt, (title, mime, suffix)) in zip(cols, FILES.items(), strict=False):
        data = written(lambda path, f=fmt: export_project(store, project, f, path, dataset))
        col.download_button(title, data, file_name=f"{name}{suffix}", mime=mime,
                            key=f"export_{fmt}", width="stretch")
    try:
        session = project_session(store, project, project.dataset_id)
        model = written(lambda path: save_knn_model(path, session))
    except LabelwiseError as exc:
        cols[3].caption(str(exc))
    else:
        cols[3].download_button("kNN model (.npz)", model, file_name=f"{name}-knn.npz",
                                mime="application/octet-stream", key="export_npz",
                                width="stretch",
                                help="Vectors and labels, no pickle: load it with "
                                     "labelwise.load_knn_model(path), a fitted "
                                     "labelwise.KNNClassifier.")


page()
