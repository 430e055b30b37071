"""labelwise: embeddings -> kNN labeling state -> U, I, D scores -> next item to label.

The package has five layers, each importing only the ones below it (``tests/test_layers.py``
enforces this)::

    cli        the ``labelwise`` command (argparse only)
    labels     label store, projects, exports
    studies    strategy comparisons: folds, runners, results, metrics, charts
    data       datasets, encoders, packs, user-file loaders
    engine     vectors, neighbours, kNN state, scorers, strategies, policies, session

``import labelwise`` loads the engine only; everything else is imported on first use of its
name (PEP 562), so notebooks and workers that only label do not pay for pandas I/O, the
encoders, the store or the charts. No Streamlit here: the dashboard (``labelwise.dashboard``),
the CLI and notebooks all drive this package.
"""

from __future__ import annotations

if __name__ != "labelwise":  # pragma: no cover - guards a checkout's folder name
    raise ImportError(
        f"this folder is the package 'labelwise' (imported here as {__name__!r}); install it "
        "with `pip install -e .` and write `import labelwise`")

import importlib
from typing import TYPE_CHECKING, Any

from .engine.scorers import SCORERS, Scorer, register_scorer, registered_scorers
from .engine.session import LabelingSession
from .engine.strategy import Strategy
from .errors import (
    EmptyPoolError,
    InvalidInputError,
    LabelwiseError,
    NotFittedError,
    UnknownItemError,
)

# Public names served on first use: name -> module (relative to this package).
_LAZY = {
    "KNNClassifier": "engine.classifier",
    "Dataset": "data.datasets",
    "list_datasets": "data.datasets",
    "load_dataset": "data.datasets",
    "get_encoder": "data.encoders",
    "guess_columns": "data.loaders",
    "load_user_data": "data.loaders",
    "aulc": "studies.metrics",
    "efficiency": "studies.metrics",
    "labels_to_target": "studies.metrics",
    "learning_curves": "studies.metrics",
    "median_step_seconds": "studies.metrics",
    "metric_at": "studies.metrics",
    "summary_table": "studies.metrics",
    "load_results": "studies.simulation",
    "save_results": "studies.simulation",
    "simulate": "studies.simulation",
    "LabelStore": "labels.store",
    "bind_project": "labels.projects",
    "dataset_fingerprint": "labels.projects",
    "label_item": "labels.projects",
    "resume_session": "labels.projects",
    "sync": "labels.projects",
    "export_project": "labels.export",
    "load_knn_model": "labels.export",
    "save_knn_model": "labels.export",
}

if TYPE_CHECKING:  # for type checkers and IDEs; at run time these load lazily
    from .data.datasets import Dataset, list_datasets, load_dataset
    from .data.encoders import get_encoder
    from .data.loaders import guess_columns, load_user_data
    from .engine.classifier import KNNClassifier
    from .labels.export import export_project, load_knn_model, save_knn_model
    from .labels.projects import (
        bind_project,
        dataset_fingerprint,
        label_item,
        resume_session,
        sync,
    )
    from .labels.store import LabelStore
    from .studies.metrics import (
        aulc,
        efficiency,
        labels_to_target,
        learning_curves,
        median_step_seconds,
        metric_at,
        summary_table,
    )
    from .studies.simulation import load_results, save_results, simulate


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'labelwise' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "SCORERS",
    "Dataset",
    "EmptyPoolError",
    "InvalidInputError",
    "KNNClassifier",
    "LabelStore",
    "LabelingSession",
    "LabelwiseError",
    "NotFittedError",
    "Scorer",
    "Strategy",
    "UnknownItemError",
    "aulc",
    "bind_project",
    "dataset_fingerprint",
    "efficiency",
    "export_project",
    "get_encoder",
    "guess_columns",
    "label_item",
    "labels_to_target",
    "learning_curves",
    "list_datasets",
    "load_dataset",
    "load_knn_model",
    "load_results",
    "load_user_data",
    "median_step_seconds",
    "metric_at",
    "register_scorer",
    "registered_scorers",
    "resume_session",
    "save_knn_model",
    "save_results",
    "simulate",
    "summary_table",
    "sync",
]

__version__ = "0.1.0"
