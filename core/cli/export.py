"""``labelwise export PROJECT --format csv|jsonl|labelstudio|npz --out FILE``."""

from __future__ import annotations

import argparse
import importlib

from ..data.datasets import Dataset
from ..errors import InvalidInputError
from ..labels.export import FORMATS, export_project
from ..labels.store import LabelStore


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


def _export(args: argparse.Namespace) -> int:
    store = LabelStore(args.data_dir)
    project = store.open_project(args.project)
    dataset = None
    if args.format == "npz" or args.dataset or args.with_items:
        dataset = _load_dataset(args.dataset or project.dataset_id)
    path = export_project(store, project, args.format, args.out, dataset=dataset)
    n = len(store.current_labels(project))
    print(f"wrote {n} labels of project {project.name!r} as {args.format} to {path}")
    return 0


def register(subparsers) -> None:
    """Add the ``export`` sub-command."""
    cmd = subparsers.add_parser(
        "export", help="export a labeling project's labels or kNN model",
        description="Write the current labels of PROJECT (from the labeling store) as CSV, "
                    "JSON Lines or Label Studio task JSON, or its kNN model as .npz "
                    "(loadable with labelwise.labels.export.load_knn_model, no pickle).")
    cmd.add_argument("project", metavar="PROJECT")
    cmd.add_argument("--format", choices=FORMATS, required=True)
    cmd.add_argument("--out", required=True, help="file to write")
    cmd.add_argument("--data-dir", default=None,
                     help="labeling store folder or file (default: $LABELWISE_DATA_DIR, "
                          "else ./labelwise-data)")
    cmd.add_argument("--dataset", default=None,
                     help="dataset pack name or path (default: the project's dataset id); "
                          "needed for npz")
    cmd.add_argument("--with-items", action="store_true",
                     help="add each item's text or image path from the dataset")
    cmd.set_defaults(func=_export)
