"""``labelwise simulate``: compare labeling strategies against random on a labeled dataset.

Example::

    labelwise simulate --dataset fruits --strategies random,U,U*I*D --folds 16 --budget 500 \\
        --split group --target 0.9 --out results/

writes ``results/results.csv`` (one row per strategy, fold and labeled count),
``results/summary.md`` (labels to the target, efficiency against random, AULC, accuracy at
checkpoints, step time) and the learning curves as ``results/curves.html`` and ``.png``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

from ..engine.scorers import (
    DEFAULT_UNCERTAINTY,
    DENSITY_KINDS,
    SCORERS_ENV,
    UNCERTAINTY_MEASURES,
    load_scorer_modules,
    registered_scorers,
)
from ..errors import InvalidInputError


def register(subparsers) -> None:
    """Add the ``simulate`` sub-command."""
    parser = subparsers.add_parser(
        "simulate",
        help="compare labeling strategies against random by simulation",
        description="Simulate labeling with each strategy on repeated train/test splits of a "
        "labeled dataset (the oracle answers with the true label) and compare learning "
        "curves against random sampling, which is always included.",
    )
    parser.add_argument("--dataset", required=True,
                        help="built-in pack name (e.g. fruits, digits), a pack folder, or your "
                        "own labeled file or image folder (see labelwise.load_user_data)")
    parser.add_argument("--label-column", default=None,
                        help="your file's column of true labels (guessed when omitted)")
    parser.add_argument("--text-column", default=None,
                        help="your file's text column, for texts embedded on the fly")
    # Scorer modules named in the environment add their letters to the help below; a module
    # that fails to import is reported when the command runs, not while building the parser.
    with contextlib.suppress(InvalidInputError):
        load_scorer_modules()
    letters = ", ".join(f"{letter} ({cls.title or cls.__name__})"
                        for letter, cls in registered_scorers().items())
    parser.add_argument("--scorers", action="append", default=[], metavar="MODULE",
                        help="import MODULE (on PYTHONPATH) first, so the scorers it registers "
                        f"can be used in --strategies; repeatable (also: {SCORERS_ENV}=a,b)")
    parser.add_argument("--strategies", default="random,U*I*D",
                        help="comma-separated strategies: products of the score letters "
                        f"{letters}, or random, or auto; e.g. random,U,U*I*D,auto "
                        "(default: %(default)s)")
    parser.add_argument("--uncertainty", default=DEFAULT_UNCERTAINTY,
                        help="uncertainty measure(s) for strategies using U, comma-separated: "
                        f"{', '.join(UNCERTAINTY_MEASURES)} (default: %(default)s)")
    parser.add_argument("--density", default="knn",
                        help="density kind(s) for strategies using I, comma-separated: "
                        f"{', '.join(DENSITY_KINDS)} (default: %(default)s)")
    parser.add_argument("--model", choices=["knn", "graph", "auto"], default="auto",
                        help="the sessions' model: the kNN vote, label spreading on each fold "
                        "pool's 10-NN graph, or auto (graph or kNN, chosen from the labels by "
                        "leave-one-out) (default: %(default)s)")
    parser.add_argument("--folds", type=int, default=16, help="train/test splits (default: 16)")
    parser.add_argument("--test-size", type=float, default=0.1,
                        help="test fraction of each split (default: 0.1)")
    parser.add_argument("--split", choices=["random", "group"], default="random",
                        help="group: keep each item group on one side (default: random)")
    parser.add_argument("--n-init", type=int, default=2,
                        help="random items labeled first, same for all strategies (default: 2)")
    parser.add_argument("--budget", type=int, default=500,
                        help="labels asked by each strategy after the initial ones (default: 500)")
    parser.add_argument("--batch", type=int, default=1, help="labels per step (default: 1)")
    parser.add_argument("--k", type=int, default=5, help="kNN neighbours (default: 5)")
    parser.add_argument("--weights", choices=["uniform", "similarity"], default="uniform",
                        help="kNN vote weights (default: uniform)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="parallel joblib workers over (strategy, fold) tasks; -1: all cores")
    parser.add_argument("--scheduler", default=None,
                        help="dask.distributed scheduler address (e.g. tcp://host:8786) to run "
                        "the tasks on a cluster instead")
    parser.add_argument("--target", type=float, default=0.9,
                        help="accuracy to reach, for 'labels to target' (default: 0.9)")
    parser.add_argument("--out", default="results",
                        help="output folder (default: ./results)")
    parser.add_argument("--format", choices=["csv", "parquet"], default="csv",
                        help="format of the results table (default: csv)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def load_for_simulation(spec: str, label_column: str | None = None,
                        text_column: str | None = None):
    """A built-in pack name, a pack folder, or a user's labeled file or image folder.

    Users' files go through :func:`labelwise.data.loaders.load_user_data` (embeddings tables, text
    tables
    embedded on the fly, image folders); they need a label column, the oracle's answers.
    """
    from ..data.catalog import load_dataset

    path = Path(spec)
    if not path.exists() or (path / "metadata.json").is_file():
        return load_dataset(spec)
    from ..data.loaders import load_user_data

    # The command line is where big jobs go: the server's size limits do not apply here.
    dataset = load_user_data(path, label_column=label_column, text_column=text_column,
                             max_bytes=None, max_items=None, max_values=None)
    if dataset.labels is None:
        raise InvalidInputError(
            f"{spec!r} has no label column, so there is nothing to simulate against; name it "
            "with --label-column")
    return dataset


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ..engine.strategy import expand_strategies
    from ..studies.charts import learning_curve_chart, save_chart
    from ..studies.metrics import summary_table
    from ..studies.simulation import save_results, simulate

    load_scorer_modules()
    load_scorer_modules(args.scorers)
    strategies = expand_strategies(args.strategies, uncertainty=args.uncertainty,
                                   density=args.density)
    dataset = load_for_simulation(args.dataset, args.label_column, args.text_column)
    out = Path(args.out)
    bar = tqdm(total=None, unit="task", desc=f"simulating {dataset.name}",
               disable=args.quiet, file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    start = time.perf_counter()
    try:
        results = simulate(dataset, strategies, folds=args.folds, test_size=args.test_size,
                           split=args.split, n_init=args.n_init, budget=args.budget,
                           batch=args.batch, k=args.k, weights=args.weights, seed=args.seed,
                           n_jobs=args.jobs, scheduler=args.scheduler, progress=progress,
                           model=args.model)
    finally:
        bar.close()
    elapsed = time.perf_counter() - start
    table = save_results(results, out / f"results.{args.format}")
    summary = summary_table(results, args.target)
    markdown = _summary_document(dataset.name, args, summary, elapsed)
    (out / "summary.md").write_text(markdown, encoding="utf-8")
    chart = learning_curve_chart(results, target=args.target).properties(
        title=f"{dataset.name}: {args.split} split, {args.folds} folds, mean and 95% CI")
    save_chart(chart, out / "curves.html")
    save_chart(chart, out / "curves.png")
    print(markdown)
    print(f"wrote {table}, {out / 'summary.md'}, {out / 'curves.html'}, {out / 'curves.png'}")
    return 0


def _summary_document(name: str, args: argparse.Namespace, summary, elapsed: float) -> str:
    from ..studies.metrics import summary_markdown

    settings = (f"dataset `{name}`, {args.split} split, {args.folds} folds, test size "
                f"{args.test_size:g}, n_init {args.n_init}, budget {args.budget}, batch "
                f"{args.batch}, k={args.k}, {args.weights} weights, model {args.model}, "
                f"seed {args.seed}")
    return (f"# Strategy comparison: {name}\n\n{settings}.\n\n"
            f"Target accuracy {args.target:g}; efficiency = random's labels to the target "
            "divided by the strategy's; AULC = mean accuracy over the labeling run.\n\n"
            f"{summary_markdown(summary, args.target)}\n"
            f"Simulated in {elapsed:.1f} s with {args.jobs} job(s)"
            f"{' on ' + args.scheduler if args.scheduler else ''}.\n")
