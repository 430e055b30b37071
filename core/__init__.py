"""labelwise engine: embeddings -> kNN labeling state -> U, I, D scores -> next item to label.

No Streamlit here: the dashboard, the CLI and notebooks all drive this package.
"""

from core.classifier import KNNClassifier
from core.datasets import Dataset, list_datasets, load_dataset
from core.encoders import get_encoder
from core.errors import (
    EmptyPoolError,
    InvalidInputError,
    LabelwiseError,
    NotFittedError,
    UnknownItemError,
)
from core.export import export_project, load_knn_model, save_knn_model
from core.loaders import guess_columns, load_user_data
from core.metrics import (
    aulc,
    efficiency,
    labels_to_target,
    learning_curves,
    median_step_seconds,
    metric_at,
    summary_table,
)
from core.projects import (
    bind_project,
    dataset_fingerprint,
    label_item,
    resume_session,
    sync,
)
from core.scorers import SCORERS, Scorer, register_scorer
from core.session import LabelingSession
from core.simulation import load_results, save_results, simulate
from core.store import LabelStore
from core.strategy import Strategy

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
    "resume_session",
    "save_knn_model",
    "save_results",
    "simulate",
    "summary_table",
    "sync",
]

__version__ = "0.1.0"
