"""labelwise engine: embeddings -> kNN labeling state -> U, I, D scores -> next item to label.

No Streamlit here: the dashboard, the CLI and notebooks all drive this package.
"""

from core.classifier import KNNClassifier
from core.datasets import Dataset, list_datasets, load_dataset
from core.errors import (
    EmptyPoolError,
    InvalidInputError,
    LabelwiseError,
    NotFittedError,
    UnknownItemError,
)
from core.scorers import SCORERS, Scorer, register_scorer
from core.session import LabelingSession
from core.strategy import Strategy

__all__ = [
    "SCORERS",
    "Dataset",
    "EmptyPoolError",
    "InvalidInputError",
    "KNNClassifier",
    "LabelingSession",
    "LabelwiseError",
    "NotFittedError",
    "Scorer",
    "Strategy",
    "UnknownItemError",
    "list_datasets",
    "load_dataset",
    "register_scorer",
]

__version__ = "0.1.0"
