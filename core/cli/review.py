"""``labelwise review PROJECT``: the review queue of likely label mistakes of a stored project.

Each labeled item is judged by the kNN vote of the *other* labels (leave-one-out,
:func:`labelwise.engine.quality.suspect_labels`), or with ``--model graph`` by label spreading
without its own label; the queue is printed (top ``--top``) and, with
``--out``, written whole as CSV or JSON.
"""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.datasets import Dataset, ids_as_text
from ..engine.quality import suspect_labels
from ..engine.session import LabelingSession
from ..errors import InvalidInputError
from ..labels.store import LabelStore, Project

FORMATS = ("csv", "json")
COLUMNS = ["rank", "item_id", "label", "suggested", "score", "reason", "who", "item"]


def load_project_dataset(name_or_path: str) -> Dataset:
    """The dataset a project names (``pack:<name>`` or a pack name or path)."""
    if name_or_path.startswith("custom:"):
        raise InvalidInputError(
            f"the project's dataset {name_or_path!r} was uploaded in the dashboard; give the "
            "same data with --dataset PATH")
    # Imported on use: the catalog pulls the pack loaders, which a --help does not need.
    catalog = importlib.import_module("labelwise.data.catalog")
    return catalog.load_dataset(name_or_path.removeprefix("pack:"))


def session_from_labels(store: LabelStore, project: str | Project, dataset: Dataset, *,
                        k: int | None = None, weights: str | None = None) -> tuple:
    """A session over ``dataset`` holding the project's current labels, in event order.

    The dashboard labels a pool that leaves a holdout out, so a project's fingerprint may not
    match the whole pack; the queue only needs the labeled items' vectors, found by item id.

    Returns
    -------
    (LabelingSession, ndarray of item ids per pool index, DataFrame of current labels)
    """
    project = store.open_project(project)
    settings = project.settings
    current = store.current_labels(project)
    ids = ids_as_text(dataset.ids)
    where = {item: n for n, item in enumerate(ids.tolist())}
    missing = [i for i in current["item_id"] if i not in where]
    if missing:
        raise InvalidInputError(
            f"{len(missing)} labeled items of project {project.name!r} are not in dataset "
            f"{dataset.name!r} (e.g. {missing[0]!r}): give the project's data with --dataset")
    session = LabelingSession(dataset.vectors, "random",
                              k=settings.get("k", 5) if k is None else k,
                              weights=weights or settings.get("weights", "uniform"))
    session.label_many([where[i] for i in current["item_id"]], current["label"].tolist())
    return session, ids, current


def review_queue(store: LabelStore, project: str | Project, dataset: Dataset, *,
                 k: int | str | None = None, weights: str | None = None,
                 model: str = "knn") -> pd.DataFrame:
    """The project's review queue with item ids and who gave each label (columns
    :data:`COLUMNS`); ``model`` ``"knn"`` (leave-one-out vote) or ``"graph"`` (label spreading
    on the dataset's kNN graph, built here)."""
    session, ids, current = session_from_labels(
        store, project, dataset, k=k if isinstance(k, int) else None, weights=weights)
    queue = suspect_labels(session, k=k, weights=weights, model=model)
    queue["item_id"] = ids[queue["item"].to_numpy()]
    who = dict(zip(current["item_id"], current["who"], strict=True))
    queue["who"] = [who[i] for i in queue["item_id"]]
    return queue[COLUMNS]


def write_queue(queue: pd.DataFrame, path: str | Path, fmt: str) -> Path:
    """Write the queue as CSV or JSON (a list of records); returns the path."""
    path = Path(path)
    if fmt == "csv":
        queue.to_csv(path, index=False)
    elif fmt == "json":
        records = [{k: _plain(v) for k, v in row.items()} for row in queue.to_dict("records")]
        path.write_text(json.dumps(records, indent=1, ensure_ascii=False) + "\n")
    else:
        raise InvalidInputError(f"format must be one of {FORMATS}, got {fmt!r}")
    return path


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def _parse_k(text: str | None):
    if text is None or text == "auto":
        return text
    try:
        value = int(text)
    except ValueError as exc:
        raise InvalidInputError(f"--k must be a positive integer or 'auto', got {text!r}") from exc
    if value < 1:
        raise InvalidInputError(f"--k must be a positive integer or 'auto', got {text!r}")
    return value


def _review(args: argparse.Namespace) -> int:
    store = LabelStore(args.data_dir)
    project = store.open_project(args.project)
    dataset = load_project_dataset(args.dataset or project.dataset_id)
    queue = review_queue(store, project, dataset, k=_parse_k(args.k), weights=args.weights,
                         model=args.model)
    if not len(queue):
        print(f"project {project.name!r} has no labels yet: nothing to review")
        return 0
    shown = queue.head(args.top)
    with pd.option_context("display.max_colwidth", 60, "display.width", 160):
        print(shown.drop(columns=["item"]).to_string(index=False))
    if args.out:
        fmt = args.format or Path(args.out).suffix.lstrip(".").lower() or "csv"
        path = write_queue(queue, args.out, fmt)
        print(f"wrote the review queue of {len(queue)} labels of project {project.name!r} as "
              f"{fmt} to {path}")
    return 0


def register(subparsers) -> None:
    """Add the ``review`` sub-command."""
    cmd = subparsers.add_parser(
        "review", help="rank a project's labels by how likely they are wrong",
        description="Judge every label of PROJECT (from the labeling store) by the kNN vote of "
                    "the other labels (leave-one-out) and list the most suspect first: item, "
                    "label, suggested label, score (probability of the given label from the "
                    "other labels), reason.")
    cmd.add_argument("project", metavar="PROJECT")
    cmd.add_argument("--data-dir", default=None,
                     help="labeling store folder, file or postgresql:// URL (default: "
                          "$LABELWISE_STORE, $LABELWISE_DATA_DIR, else ./labelwise-data)")
    cmd.add_argument("--dataset", default=None,
                     help="dataset pack name or path (default: the project's dataset id)")
    cmd.add_argument("--top", type=int, default=20, help="rows to print (default 20)")
    cmd.add_argument("--out", default=None, help="write the whole queue to this file")
    cmd.add_argument("--format", choices=FORMATS, default=None,
                     help="file format (default: from --out's extension, else csv)")
    cmd.add_argument("--k", default=None,
                     help="neighbours of the vote: an integer or 'auto' (default 15)")
    cmd.add_argument("--weights", choices=("uniform", "similarity"), default=None,
                     help="vote weights (default similarity)")
    cmd.add_argument("--model", choices=("knn", "graph"), default="knn",
                     help="judge by the kNN vote (default) or by label spreading on the "
                          "dataset's kNN graph (slower; found more flipped labels on fruits "
                          "and digits, benchmarks/results/label_quality.md)")
    cmd.set_defaults(func=_review)
