"""The reference experiment, reproduced: strategies against random on fruits and tweets.

Three runs, 16 folds each, n_init=2, k=5, uniform votes, seed 0:

- ``fruits_random``: fruits pack, random 90/10 splits (copies of one photo may straddle the
  split, as in the reference), budget 500, target accuracy 0.90;
- ``fruits_group``: fruits pack, group splits over the original photos, budget 500, target 0.90;
- ``tweets``: sentiment140 pack, random 90/10 splits, budget 100, target 0.62;
- ``tweets_long``: the same with budget 400 and only random, U*I*D, U*I and auto, because random
  does not reach 0.62 within 100 labels.

Strategies: random, I*D, and U, U*I, U*D, U*I*D with each uncertainty measure
(least_confidence, margin, entropy), knn density; plus ``auto`` (the adaptive strategy) and
the project's default strategy (duplicates dropped). For each run this writes to
benchmarks/results/:

- ``reference_<run>_results.parquet``: the full table (strategy, fold, n_labeled, accuracy,
  f1, seconds);
- ``reference_<run>_summary.md`` / ``.csv``: labels to the target, efficiency against random,
  AULC, accuracy at 50/100/200/500 labels, step time;
- ``reference_<run>_curves.png``: learning curves of random and U*I*D (each measure);

and, after every run, ``reference_summary.md``: the headline table against the reference
numbers (fruits 0.90: U*I*D 200 vs random 380 labels; tweets 0.621: 42 vs 70).

    python benchmarks/reproduce_reference.py                    # all three runs, 2 jobs
    python benchmarks/reproduce_reference.py --runs tweets --jobs 1
    python benchmarks/reproduce_reference.py --dataset digits   # packs missing: digits stand-in
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from labelwise import LabelingSession, load_dataset, simulate  # noqa: E402
from labelwise.engine.strategy import Strategy  # noqa: E402
from labelwise.studies.charts import learning_curve_chart, save_chart  # noqa: E402
from labelwise.studies.metrics import summary_markdown, summary_table  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
MEASURES = ("least_confidence", "margin", "entropy")
WITH_U = ("U", "U*I", "U*D", "U*I*D")
FOLDS, N_INIT, SEED = 16, 2, 0


@dataclass(frozen=True)
class Run:
    name: str
    dataset: str
    split: str
    budget: int
    target: float
    reference: str


RUNS = {
    "fruits_random": Run("fruits_random", "fruits", "random", 500, 0.90,
                         "U*I*D 200 vs random 380 labels to 0.90"),
    "fruits_group": Run("fruits_group", "fruits", "group", 500, 0.90,
                        "(reference split unknown; group split is the leak-free variant)"),
    "tweets": Run("tweets", "sentiment140", "random", 100, 0.62,
                  "U*I*D 42 vs random 70 labels to 0.621"),
    # Random does not reach 0.62 within 100 labels here: a longer run of the main strategies
    # shows where it does.
    "tweets_long": Run("tweets_long", "sentiment140", "random", 400, 0.62,
                       "U*I*D 42 vs random 70 labels to 0.621"),
}
LONG_RUN_STRATEGIES = ("random", "U*I*D", "U*I", "auto")


def reference_strategies(run: Run) -> list[Strategy]:
    """The reference grid, plus the adaptive ``auto`` strategy and the project default."""
    if run.name == "tweets_long":
        return [Strategy.parse(spec) for spec in LONG_RUN_STRATEGIES]
    out = [Strategy.parse("random"), Strategy.parse("I*D")]
    for measure in MEASURES:
        out += [Strategy.parse(spec, uncertainty=measure) for spec in WITH_U]
    return [*out, Strategy.parse("auto"), default_strategy()]


def run_one(run: Run, dataset_name: str, strategies, jobs: int) -> dict:
    dataset = load_dataset(dataset_name)
    split = run.split if dataset.groups is not None else "random"
    start = time.perf_counter()
    results = simulate(dataset, strategies, folds=FOLDS, split=split, n_init=N_INIT,
                       budget=run.budget, seed=SEED, n_jobs=jobs)
    elapsed = time.perf_counter() - start
    prefix = RESULTS / f"reference_{run.name}"
    results.to_parquet(f"{prefix}_results.parquet", index=False)
    summary = summary_table(results, run.target)
    summary.to_csv(f"{prefix}_summary.csv", index=False)
    header = (f"# Reference run `{run.name}`\n\n{dataset_name} ({len(dataset)} items), {split} "
              f"split, {FOLDS} folds, n_init {N_INIT}, budget {run.budget}, k=5, seed {SEED}; "
              f"{elapsed:.0f} s with {jobs} job(s). Target accuracy {run.target:g}.\n\n")
    Path(f"{prefix}_summary.md").write_text(header + summary_markdown(summary, run.target))
    shown = {"random"} | {Strategy.parse("U*I*D", uncertainty=m).label for m in MEASURES}
    chart = learning_curve_chart(results[results["strategy"].isin(shown)], target=run.target)
    save_chart(chart.properties(title=f"{dataset_name}, {split} split, {FOLDS} folds"),
               f"{prefix}_curves.png")
    return {"run": run.name, "dataset": dataset_name, "split": split, "seconds": elapsed,
            "summary": summary}


def default_strategy() -> Strategy:
    """The strategy a new LabelingSession uses when none is given."""
    return Strategy.parse(inspect.signature(LabelingSession).parameters["strategy"].default)


def goal_verdict(run: Run, summary: pd.DataFrame) -> str:
    """The issue's goals: <= half of random's labels on fruits; beat random on tweets."""
    table = summary.set_index("strategy")
    default = default_strategy().label
    if default not in table.index:
        return f"default strategy {default} not in this run"
    mine, base = table.loc[default, "labels_to_target"], table.loc["random", "labels_to_target"]
    base_text = "not reached" if base != base else f"{base:.0f}"
    if run.dataset == "fruits":
        ok = mine == mine and (base != base or mine <= base / 2)
        return (f"goal (default needs <= half of random's labels): {'met' if ok else 'missed'} "
                f"-- {default}: {_n(mine)} vs random {base_text}")
    ok = mine == mine and (base != base or mine < base)
    ok = ok and table.loc[default, "aulc"] > table.loc["random", "aulc"]
    return (f"goal (default beats random): {'met' if ok else 'missed'} -- {default}: "
            f"{_n(mine)} labels, AULC {table.loc[default, 'aulc']:.3f}; random {base_text}, "
            f"AULC {table.loc['random', 'aulc']:.3f}")


def headline(done: list[dict]) -> str:
    lines = ["# Reference experiment, reproduced", "",
             "`python benchmarks/reproduce_reference.py` (16 folds, n_init 2, k=5, seed 0). "
             "Labels counted include the 2 initial ones. Efficiency = random's labels to the "
             "target / the strategy's ('> x': random never reached the target, so x is a lower "
             f"bound). Project default strategy: {default_strategy().label}.", ""]
    for item in done:
        run, summary = RUNS[item["run"]], item["summary"]
        keep = {"random", default_strategy().label, Strategy.parse("auto").label} | {
            Strategy.parse("U*I*D", uncertainty=m).label for m in MEASURES}
        best = summary.loc[summary["labels_to_target"].idxmin(), "strategy"] if summary[
            "labels_to_target"].notna().any() else None
        shown = summary[summary["strategy"].isin(keep | {best})]
        columns = ["strategy", "labels_to_target", "efficiency", "aulc",
                   *[c for c in summary.columns if c.startswith("accuracy@")],
                   "final_n_labeled", "median_step_ms"]
        lines += [f"## {item['run']}: {item['dataset']}, {item['split']} split, target "
                  f"{run.target:g} ({item['seconds']:.0f} s)", "",
                  f"Reference: {run.reference}.", "", goal_verdict(run, summary), "",
                  summary_markdown(shown[columns], run.target),
                  f"Best here: {best}. Full table: `reference_{item['run']}_summary.md`.", ""]
    return "\n".join(lines)


def _n(value) -> str:
    return "not reached" if value != value else f"{value:.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default=",".join(RUNS),
                        help="comma-separated: " + ", ".join(RUNS))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--dataset", default=None,
                        help="use this pack for every run instead (e.g. digits as a stand-in)")
    args = parser.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    done = []
    for name in args.runs.split(","):
        run = RUNS[name]
        item = run_one(run, args.dataset or run.dataset, reference_strategies(run), args.jobs)
        done.append(item)
        (RESULTS / "reference_summary.md").write_text(headline(done))
        print(f"{name}: {item['seconds']:.0f} s", flush=True)
        print(summary_markdown(item["summary"], run.target), flush=True)
    meta = [{k: v for k, v in item.items() if k != "summary"} for item in done]
    (RESULTS / "reference_runs.json").write_text(json.dumps(meta, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    pd.set_option("display.width", 200)
    sys.exit(main())
