"""Export: a project's labels with their items (CSV, JSON Lines, Parquet, Label Studio, image
folders) and its kNN model (.npz), each behind its own download button."""

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
from labelwise.dashboard.widgets import escape_markdown

# format -> (button, MIME type, file ending, help); built on click when ``deferred``.
FILES = {
    "csv": ("CSV", "text/csv", ".csv",
            "For spreadsheets. Cells starting with =, +, -, @, a tab, a CR or ' get a leading "
            "' so they show as text, never run as formulas (remove it to get the exact text; "
            "JSON Lines and Parquet keep it as is)."),
    "jsonl": ("JSON Lines", "application/jsonl", ".jsonl",
              "One JSON object per labeled item, the exact texts."),
    "parquet": ("Parquet (Hugging Face)", "application/vnd.apache.parquet", ".parquet",
                "Columns id, text or image, label and label_id, with the class names in the "
                "Hugging Face datasets metadata: datasets.load_dataset('parquet', ...)."),
    "labelstudio": ("Label Studio tasks (JSON)", "application/json", ".json",
                    "Task import JSON: the items, your labels as annotations, and the model's "
                    "predictions as chosen below."),
    "labelstudio-config": ("Label Studio config (XML)", "application/xml", ".xml",
                           "The labeling config to paste into the Label Studio project "
                           "(Settings, Labeling Interface, Code)."),
    "imagefolder": ("Image folders (zip)", "application/zip", ".zip",
                    "One folder per class with its labeled images, plus manifest.csv; "
                    "folder and file names made safe."),
}
# Built when the button is clicked (images and model predictions make them large or slow).
DEFERRED = {"parquet", "labelstudio", "imagefolder"}
PREDICTIONS = {"No predictions": "none", "Unlabeled items": "unlabeled", "All items": "all"}


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


def holds_images(dataset) -> bool:
    """Whether ``dataset``'s items hold image bytes (what the image-folder export packs)."""
    return bool(dataset is not None and "image" in dataset.items.columns and len(dataset.items)
            and isinstance(dataset.items["image"].iloc[0], (bytes, bytearray)))


def export_options(dataset) -> dict:
    """The Label Studio options chosen on the page (predictions, image prefix)."""
    if dataset is None:
        return {}
    cols = st.columns(2)
    choice = cols[0].selectbox(
        "Label Studio predictions", list(PREDICTIONS), key="export_predictions",
        help="Add the kNN model's predicted class and its score (probability) to the tasks "
             "of the unlabeled items, or of all items.")
    options = {"predictions": PREDICTIONS[choice]}
    if holds_images(dataset):
        prefix = cols[1].text_input(
            "Label Studio image prefix", key="export_image_prefix",
            placeholder="empty: images embedded as data URIs",
            help="Give each image as this prefix + its path instead, e.g. "
                 "/data/local-files/?d=photos/ for Label Studio's local file storage.")
        if prefix.strip():
            options["image_prefix"] = prefix.strip()
    return options


def download_buttons(store, project, dataset, options: dict) -> None:
    """One download button per format (image folders only for images), then the model's."""
    formats = [f for f in FILES if f != "imagefolder" or holds_images(dataset)]
    cols = st.columns(4)
    name = project.name
    for n, fmt in enumerate(formats):
        title, mime, suffix, help_text = FILES[fmt]
        kwargs = options if fmt == "labelstudio" else {}

        def build(f=fmt, kw=kwargs) -> bytes:
            return written(lambda path: export_project(store, project, f, path, dataset, **kw))

        try:
            data = build if fmt in DEFERRED else build()
        except LabelwiseError as exc:
            cols[n % 4].caption(f"{title}: {escape_markdown(str(exc))}")
            continue
        # No rerun on a download: it would rebuild every file and renew the deferred ones.
        cols[n % 4].download_button(title, data, file_name=f"{name}{suffix}", mime=mime,
                                    key=f"export_{fmt}", width="stretch", help=help_text,
                                    on_click="ignore")
    model_button(store, project, cols[len(formats) % 4])


def model_button(store, project, col) -> None:
    """The kNN model's download button (or why there is none)."""
    try:
        session = project_session(store, project, project.dataset_id)
        model = written(lambda path: save_knn_model(path, session))
    except LabelwiseError as exc:
        col.caption(escape_markdown(str(exc)))
        return
    col.download_button("kNN model (.npz)", model, file_name=f"{project.name}-knn.npz",
                        mime="application/octet-stream", key="export_npz", width="stretch",
                        on_click="ignore",
                        help="Vectors and labels, no pickle: load it with "
                             "labelwise.load_knn_model(path), a fitted labelwise.KNNClassifier.")


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
        st.caption(f"Label store: {escape_markdown(str(store.location))}")
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
        st.caption(f"Your role ({escape_markdown(user.role)}) can look at this project but "
                   "not download it.")
        return
    st.caption("CSV is for spreadsheets: a cell starting with =, +, -, @, a tab, a CR or ' "
               "gets a leading ' so it shows as text and never runs as a formula. JSON Lines "
               "and Parquet keep every text exactly.")
    download_buttons(store, project, dataset, export_options(dataset))


page()
