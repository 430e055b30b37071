"""``labelwise export PROJECT --format FORMAT --out FILE`` (formats: :data:`FORMATS`)."""

from __future__ import annotations

import argparse
import importlib
import sys

from ..data.datasets import Dataset
from ..errors import InvalidInputError
from ..labels.export import FORMATS, PREDICTIONS, export_project
from ..labels.store import LabelStore, Project

#: Formats that cannot be written without the project's dataset.
NEEDS_DATASET = ("npz", "imagefolder")
#: Formats that carry the items' content: the project's dataset is loaded when it can be.
CONTENT_FORMATS = ("parquet", "labelstudio", "labelstudio-config")


def _load_dataset(name_or_path: str) -> Dataset:
    # Imported on use: the loaders live in the data packs module, which may pull heavier
    # dependencies than an export of labels needs.
    loader = getattr(importlib.import_module("labelwise.data.catalog"), "load_dataset", None)
    if loader is None:
        raise InvalidInputError("this labelwise has no dataset loader; cannot load "
                                f"{name_or_path!r} for the export")
    # The dashboard names built-in packs "pack:<name>"; uploads ("custom:...") need --dataset.
    if name_or_path.startswith("custom:"):
        raise InvalidInputError(
            f"the project's dataset {name_or_path!r} was uploaded in the dashboard; give the "
            "same data with --dataset PATH")
    return loader(name_or_path.removeprefix("pack:"))


def _dataset_for(args: argparse.Namespace, project: Project) -> Dataset | None:
    """The dataset the export needs or can use (None: labels and item ids only)."""
    if args.dataset:
        return _load_dataset(args.dataset)
    if args.format in NEEDS_DATASET or args.with_items or args.predictions != "none":
        return _load_dataset(project.dataset_id)
    if args.format in CONTENT_FORMATS:
        try:
            return _load_dataset(project.dataset_id)
        except InvalidInputError as exc:
            print(f"labelwise: note: exporting item ids without their content ({exc})",
                  file=sys.stderr)
    return None


def _export(args: argparse.Namespace) -> int:
    store = LabelStore(args.data_dir)
    project = store.open_project(args.project)
    dataset = _dataset_for(args, project)
    path = export_project(store, project, args.format, args.out, dataset=dataset,
                          predictions=args.predictions, image_prefix=args.image_prefix)
    n = len(store.current_labels(project))
    print(f"wrote {n} labels of project {project.name!r} as {args.format} to {path}")
    return 0


def register(subparsers) -> None:
    """Add the ``export`` sub-command."""
    cmd = subparsers.add_parser(
        "export", help="export a labeling project's labels, items or kNN model",
        description="Write the current labels of PROJECT (from the labeling store): csv (for "
                    "spreadsheets: cells starting with = + - @ tab CR or ' get a leading '), "
                    "jsonl, parquet (Hugging Face datasets style, with the items' text or "
                    "images), labelstudio (task JSON, optionally with the model's "
                    "predictions), labelstudio-config (the labeling config XML), imagefolder "
                    "(a zip of one folder per class), or the kNN model as npz (loadable with "
                    "labelwise.labels.export.load_knn_model, no pickle).")
    cmd.add_argument("project", metavar="PROJECT")
    cmd.add_argument("--format", choices=FORMATS, required=True)
    cmd.add_argument("--out", required=True, help="file to write")
    cmd.add_argument("--data-dir", default=None,
                     help="labeling store folder or file (default: $LABELWISE_DATA_DIR, "
                          "else ./labelwise-data)")
    cmd.add_argument("--dataset", default=None,
                     help="dataset pack name or path (default: the project's dataset id); "
                          "needed for npz and imagefolder, used by parquet and labelstudio")
    cmd.add_argument("--with-items", action="store_true",
                     help="csv and jsonl: add each item's text or image path from the dataset")
    cmd.add_argument("--predictions", choices=PREDICTIONS, default="none",
                     help="labelstudio: add the kNN model's predictions with scores to the "
                          "unlabeled items or to all items (default: none)")
    cmd.add_argument("--image-prefix", default=None, metavar="PREFIX",
                     help="labelstudio: give each image as PREFIX + its path (e.g. "
                          "'/data/local-files/?d=photos/') instead of embedding it as a "
                          "data URI")
    cmd.set_defaults(func=_export)
