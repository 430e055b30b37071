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
    SimulationStopped,
    UnknownItemError,
)

# Public names served on first use: name -> module (relative to this package).
_LAZY = {
    "NotFittedError": "errors",  # builds on scikit-learn, which costs a second to import
    "KNNClassifier": "engine.classifier",
    "GraphClassifier": "engine.classifier",
    "SessionProgress": "engine.session",
    "ModelChoice": "engine.graph",
    "GraphModel": "engine.graph",
    "PoolGraph": "engine.graph",
    "choose_model": "engine.graph",
    "StoppingMonitor": "engine.stopping",
    "Dataset": "data.datasets",
    "list_datasets": "data.catalog",
    "load_dataset": "data.catalog",
    "get_encoder": "data.encoders",
    "thumbnail_jpeg": "data.images",
    "guess_columns": "data.loaders",
    "load_user_data": "data.loaders",
    "resolve_server_path": "data.loaders",
    "describe_embedding_time": "data.estimates",
    "embedding_seconds": "data.estimates",
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
    "ProjectExistsError": "labels.store",
    "bind_project": "labels.projects",
    "dataset_fingerprint": "labels.projects",
    "label_item": "labels.projects",
    "resume_session": "labels.projects",
    "sync": "labels.projects",
    "export_project": "labels.export",
    "load_knn_model": "labels.export",
    "save_knn_model": "labels.export",
    # The strategy contract (scorers, strategies, policies, the read-only view) and what the
    # dashboard needs besides.
    "DEFAULT_UNCERTAINTY": "engine.scorers",
    "DENSITY_KINDS": "engine.scorers",
    "UNCERTAINTY_MEASURES": "engine.scorers",
    "load_scorer_modules": "engine.scorers",
    "pool_density": "engine.scorers",
    "unregister_scorer": "engine.scorers",
    "expand_strategies": "engine.strategy",
    "product_names": "engine.strategy",
    "LabeledView": "engine.view",
    "Policy": "engine.policies",
    "FixedPolicy": "engine.policies",
    "RandomPolicy": "engine.policies",
    "AutoPolicy": "engine.auto",
    "available_packs": "data.packs",
    "make_folds": "studies.folds",
    "holdout_accuracy": "studies.evaluation",
    "holdout_scores": "studies.evaluation",
    "learning_curve_chart": "studies.charts",
    "DatasetMismatchError": "labels.projects",
    "skip_item": "labels.projects",
    "strategy_settings": "labels.projects",
    "unlabel_item": "labels.projects",
    "default_store_path": "labels.store",
    "default_store_location": "labels.store",
    "labeled_items": "labels.export",
    # Logins and roles for a shared dashboard (labels/accounts.py).
    "User": "labels.accounts",
    "LoginThrottle": "labels.accounts",
    "authenticate": "labels.accounts",
    "can": "labels.accounts",
    "load_accounts": "labels.accounts",
    "visible_projects": "labels.accounts",
    # Label quality (issue 15): likely mistakes, duplicates, look-alikes, agreement.
    "suspect_labels": "engine.quality",
    "more_like_this": "engine.quality",
    "near_duplicate_groups": "engine.quality",
    "similar_pairs": "engine.quality",
    "graph_duplicate_groups": "engine.quality",
    "groups_of_pairs": "engine.quality",
    "nearest_similarities": "engine.quality",
    "suggest_threshold": "engine.quality",
    "exact_duplicate_groups": "data.duplicates",
    "content_hashes": "data.duplicates",
    "agreement": "labels.agreement",
    "answers_table": "labels.agreement",
    "adjudicate": "labels.agreement",
    "overlap_items": "labels.agreement",
    "second_answer_due": "labels.agreement",
    "overlap_share": "labels.agreement",
    "set_overlap_share": "labels.agreement",
    "open_disagreements": "labels.agreement",
    "labelstudio_tasks": "labels.export",
    "labelstudio_config": "labels.export",
    # Stored or cached pool graphs and densities (packs ship them; uploads are cached).
    "PoolParts": "data.pools",
    "pool_graph_for": "data.pools",
    "pool_density_for": "data.pools",
    "pool_parts_for": "data.pools",
    "holdout_rows": "data.splits",
}

if TYPE_CHECKING:  # for type checkers and IDEs; at run time these load lazily
    from .data.catalog import list_datasets, load_dataset
    from .data.datasets import Dataset
    from .data.duplicates import content_hashes, exact_duplicate_groups
    from .data.encoders import get_encoder
    from .data.estimates import describe_embedding_time, embedding_seconds
    from .data.images import thumbnail_jpeg
    from .data.loaders import guess_columns, load_user_data, resolve_server_path
    from .data.packs import available_packs
    from .data.pools import PoolParts, pool_density_for, pool_graph_for, pool_parts_for
    from .data.splits import holdout_rows
    from .engine.auto import AutoPolicy
    from .engine.classifier import GraphClassifier, KNNClassifier
    from .engine.graph import GraphModel, ModelChoice, PoolGraph, choose_model
    from .engine.policies import FixedPolicy, Policy, RandomPolicy
    from .engine.quality import (
        graph_duplicate_groups,
        groups_of_pairs,
        more_like_this,
        near_duplicate_groups,
        nearest_similarities,
        similar_pairs,
        suggest_threshold,
        suspect_labels,
    )
    from .engine.scorers import (
        DEFAULT_UNCERTAINTY,
        DENSITY_KINDS,
        UNCERTAINTY_MEASURES,
        load_scorer_modules,
        pool_density,
        unregister_scorer,
    )
    from .engine.session import SessionProgress
    from .engine.stopping import StoppingMonitor
    from .engine.strategy import expand_strategies, product_names
    from .engine.view import LabeledView
    from .errors import NotFittedError
    from .labels.accounts import (
        LoginThrottle,
        User,
        authenticate,
        can,
        load_accounts,
        visible_projects,
    )
    from .labels.agreement import (
        adjudicate,
        agreement,
        answers_table,
        open_disagreements,
        overlap_items,
        overlap_share,
        second_answer_due,
        set_overlap_share,
    )
    from .labels.export import (
        export_project,
        labeled_items,
        labelstudio_config,
        labelstudio_tasks,
        load_knn_model,
        save_knn_model,
    )
    from .labels.projects import (
        DatasetMismatchError,
        bind_project,
        dataset_fingerprint,
        label_item,
        resume_session,
        skip_item,
        strategy_settings,
        sync,
        unlabel_item,
    )
    from .labels.store import (
        LabelStore,
        ProjectExistsError,
        default_store_location,
        default_store_path,
    )
    from .studies.charts import learning_curve_chart
    from .studies.evaluation import holdout_accuracy, holdout_scores
    from .studies.folds import make_folds
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
    "DEFAULT_UNCERTAINTY",
    "DENSITY_KINDS",
    "SCORERS",
    "UNCERTAINTY_MEASURES",
    "AutoPolicy",
    "Dataset",
    "DatasetMismatchError",
    "EmptyPoolError",
    "FixedPolicy",
    "GraphClassifier",
    "GraphModel",
    "InvalidInputError",
    "KNNClassifier",
    "LabelStore",
    "LabeledView",
    "LabelingSession",
    "LabelwiseError",
    "LoginThrottle",
    "ModelChoice",
    "NotFittedError",
    "Policy",
    "PoolGraph",
    "PoolParts",
    "ProjectExistsError",
    "RandomPolicy",
    "Scorer",
    "SessionProgress",
    "SimulationStopped",
    "StoppingMonitor",
    "Strategy",
    "UnknownItemError",
    "User",
    "adjudicate",
    "agreement",
    "answers_table",
    "aulc",
    "authenticate",
    "available_packs",
    "bind_project",
    "can",
    "choose_model",
    "content_hashes",
    "dataset_fingerprint",
    "default_store_location",
    "default_store_path",
    "describe_embedding_time",
    "efficiency",
    "embedding_seconds",
    "exact_duplicate_groups",
    "expand_strategies",
    "export_project",
    "get_encoder",
    "graph_duplicate_groups",
    "groups_of_pairs",
    "guess_columns",
    "holdout_accuracy",
    "holdout_rows",
    "holdout_scores",
    "label_item",
    "labeled_items",
    "labels_to_target",
    "labelstudio_config",
    "labelstudio_tasks",
    "learning_curve_chart",
    "learning_curves",
    "list_datasets",
    "load_accounts",
    "load_dataset",
    "load_knn_model",
    "load_results",
    "load_scorer_modules",
    "load_user_data",
    "make_folds",
    "median_step_seconds",
    "metric_at",
    "more_like_this",
    "near_duplicate_groups",
    "nearest_similarities",
    "open_disagreements",
    "overlap_items",
    "overlap_share",
    "pool_density",
    "pool_density_for",
    "pool_graph_for",
    "pool_parts_for",
    "product_names",
    "register_scorer",
    "registered_scorers",
    "resolve_server_path",
    "resume_session",
    "save_knn_model",
    "save_results",
    "second_answer_due",
    "set_overlap_share",
    "similar_pairs",
    "simulate",
    "skip_item",
    "strategy_settings",
    "suggest_threshold",
    "summary_table",
    "suspect_labels",
    "sync",
    "thumbnail_jpeg",
    "unlabel_item",
    "unregister_scorer",
    "visible_projects",
]

__version__ = "0.1.0"
