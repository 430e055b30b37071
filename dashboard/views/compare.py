"""Compare: simulate strategies against random sampling and read their learning curves.

The simulation runs in a background thread of this tab (a :class:`Job` kept in
``st.session_state``); the script only follows it with a progress bar, so a click ends that
script run, never the simulation. Cancel stops it after the strategy x fold run in progress
(``simulate`` calls its progress hook after each one); going to another page and back
neither stops nor forgets it. Settings (widgets drawn through
:func:`labelwise.dashboard.state.keep`) and the last results survive page switches.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import streamlit as st

from labelwise import (
    DEFAULT_UNCERTAINTY,
    DENSITY_KINDS,
    UNCERTAINTY_MEASURES,
    LabelwiseError,
    SimulationStopped,
    Strategy,
    expand_strategies,
    learning_curve_chart,
    product_names,
    simulate,
    summary_table,
)
from labelwise.dashboard import state, widgets

UNCERTAINTY = {measure: measure.replace("_", " ") for measure in UNCERTAINTY_MEASURES}
RESULTS = "compare_results"
JOB = "compare_job"
POLL_SECONDS = 0.25
BASELINE = "random"
# Every setting of the form, with its first-visit value (None: the widget's first option).
DEFAULTS = {"cmp_combos": ["U*I*D", "U"], "cmp_measures": [DEFAULT_UNCERTAINTY],
            "cmp_density": None, "cmp_split": None, "cmp_folds": 4, "cmp_budget": 100,
            "cmp_batch": 1, "cmp_test": 0.1, "cmp_init": 2, "cmp_k": 5, "cmp_seed": 0}

log = logging.getLogger(__name__)


@dataclass
class Job:
    """One simulation running (or finished) in a background thread of this tab."""

    source: str
    params: dict
    stop: threading.Event = field(default_factory=threading.Event)
    done: int = 0
    total: int = 0
    results: pd.DataFrame | None = None
    error: str | None = None
    cancelled: bool = False
    thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def progress(self, done: int, total: int) -> None:
        """simulate()'s progress hook: how many strategy x fold runs are done."""
        self.done, self.total = done, total


def work(job: Job, dataset) -> None:
    """The thread's body: never touches Streamlit (it has no script context)."""
    p = job.params
    try:
        job.results = simulate(dataset, p["strategies"], folds=p["folds"],
                               test_size=p["test_size"], split=p["split"], n_init=p["n_init"],
                               budget=p["budget"], batch=p["batch"], k=p["k"], seed=p["seed"],
                               progress=job.progress, should_stop=job.stop.is_set)
    except SimulationStopped as stopped:  # Cancel: simulate stops within one label step
        job.done, job.total = stopped.done, stopped.total
        job.cancelled = True
    except LabelwiseError as exc:
        job.error = str(exc)
    except Exception as exc:  # a bug: its traceback goes to the console, a message to the page
        log.exception("the comparison failed")
        job.error = f"The comparison failed unexpectedly ({type(exc).__name__})."


def start(dataset, source: str, params: dict) -> Job:
    """Start the simulation in a daemon thread (it ends with the server, never blocks it)."""
    job = Job(source=source, params=params)
    job.thread = threading.Thread(target=work, args=(job, dataset), daemon=True,
                                  name="labelwise-compare")
    st.session_state[JOB] = job
    job.thread.start()
    return job


def chosen_strategies(combos: list[str], measures: list[str], density: str) -> list[Strategy]:
    """Every chosen combination, once per uncertainty measure when it uses U."""
    if not combos:
        return []
    return expand_strategies(combos, uncertainty=measures or [DEFAULT_UNCERTAINTY],
                             density=density)


def settings_form(dataset, running: bool) -> dict | None:
    """The comparison settings; returns them when the Run button was pressed.

    No widget gets a default argument: its value comes from ``st.session_state`` (set by
    :func:`state.keep`), which is what keeps it across pages and spares Streamlit's
    "default value but also set via the Session State API" warning.
    """
    names = product_names()
    if "cmp_combos" in st.session_state:  # a scorer module may have gone since
        st.session_state["cmp_combos"] = [c for c in st.session_state["cmp_combos"]
                                          if c in names]
    # Copies: a list default must not be shared with (and changed through) session state.
    keys = {key: state.keep(key, list(default) if isinstance(default, list) else default)
            for key, default in DEFAULTS.items()}
    with st.form("compare_form", border=True):
        c1, c2, c3 = st.columns(3)
        # Every product of the registered scorers: a scorer of the user's own shows up here.
        combos = c1.multiselect("Strategies (compared against random)", names,
                                key=keys["cmp_combos"])
        measures = c1.multiselect("Uncertainty measures", list(UNCERTAINTY),
                                  format_func=UNCERTAINTY.get, key=keys["cmp_measures"],
                                  help="Strategies using U run once per measure.")
        density = c1.selectbox("Density kind", list(DENSITY_KINDS), key=keys["cmp_density"])
        splits = ["random", "group"] if dataset.groups is not None else ["random"]
        if st.session_state.get("cmp_split") not in (None, *splits):
            st.session_state["cmp_split"] = "random"
        split = c1.selectbox("Split", splits, key=keys["cmp_split"],
                             help="group keeps all copies of one original item on one side "
                                  "of each train/test split.")
        folds = c2.number_input("Folds", 2, 64, key=keys["cmp_folds"])
        budget = c2.number_input("Label budget", 5, 5000, step=10, key=keys["cmp_budget"])
        batch = c2.number_input("Batch (labels per step)", 1, 100, key=keys["cmp_batch"])
        test_size = c3.slider("Test fraction", 0.05, 0.5, step=0.05, key=keys["cmp_test"])
        n_init = c3.number_input("Random labels to start", 1, 100, key=keys["cmp_init"])
        k = c3.number_input("k", 1, 50, key=keys["cmp_k"])
        seed = c3.number_input("Seed", 0, 10**6, key=keys["cmp_seed"])
        run = st.form_submit_button("Run comparison", type="primary", disabled=running)
    state.remember(*DEFAULTS)
    if not run:
        return None
    return dict(strategies=chosen_strategies(combos, measures, density), folds=int(folds),
                budget=int(budget), batch=int(batch), test_size=float(test_size),
                split=split, n_init=int(n_init), k=int(k), seed=int(seed))


def follow(job: Job) -> None:
    """Show the job's progress until it ends, with a Cancel button.

    Any click (Cancel, a widget, another page) ends this run of the script at its next
    Streamlit call, but not the job: the next run (this page again, now or later) follows
    it on. Cancel sets the job's stop flag on that next run.
    """
    panel = st.empty()  # cleared when the job ends: no Cancel button once nothing runs
    with panel.container():
        if st.button("Cancel", key="cmp_cancel", icon=":material/stop_circle:"):
            job.stop.set()
        bar = st.progress(0.0, text="Starting the simulation...")
    while job.running:
        bar.progress(job.done / job.total if job.total else 0.0, text=progress_text(job))
        job.thread.join(POLL_SECONDS)
    panel.empty()


def progress_text(job: Job) -> str:
    if job.stop.is_set():
        return "Cancelling: the strategy x fold run in progress finishes first..."
    if not job.total:
        return "Preparing the simulation (folds, similarities, densities)..."
    return f"Simulated {job.done} of {job.total} strategy x fold runs"


def collect(job: Job) -> None:
    """A finished job: keep its results (per dataset) and say how it ended."""
    if job.results is not None:
        st.session_state[RESULTS] = {
            "source": job.source, "results": job.results,
            "params": {k: v for k, v in job.params.items() if k != "strategies"}}
        st.session_state[JOB] = None
        return
    if job.cancelled:
        st.info(f"Comparison cancelled after {job.done} of {job.total} strategy x fold runs. "
                "The results shown (if any) are those of the previous run.",
                icon=":material/stop_circle:")
    elif job.error:
        st.error(job.error, icon=":material/error:")


def efficiency_text(labels: float, final: float, base_labels: float,
                    base_final: float) -> str:
    """Efficiency against random as text, a bound when a curve never reached the target.

    ``labels``/``base_labels``: labels to target (NaN: not reached); ``final``/``base_final``:
    the last labeled count of each run (a curve that never reached the target would need more).
    """
    if np.isnan(base_labels) and np.isnan(labels):
        return "neither reached"
    if np.isnan(base_labels):  # random needs more than its whole run: a lower bound
        return f"> {base_final / labels:.2f}x"
    if np.isnan(labels):  # this strategy needs more than its whole run: an upper bound
        return f"< {base_labels / final:.2f}x"
    return f"{base_labels / labels:.2f}x"


def labels_text(labels: float, final: float) -> str:
    """Labels to target as text: more than the whole run when it was never reached."""
    return f"> {final:.0f} (not reached)" if np.isnan(labels) else f"{labels:.0f}"


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """summary_table with labels to target and efficiency as text, bounds marked ">"/"<"."""
    shown = table.copy()
    base = table.set_index("strategy").loc[BASELINE] if (
        table["strategy"] == BASELINE).any() else None
    shown["labels_to_target"] = [labels_text(n, f) for n, f in zip(
        table["labels_to_target"], table["final_n_labeled"], strict=True)]
    if base is None:
        shown["efficiency"] = "—"
    else:
        shown["efficiency"] = [
            efficiency_text(n, f, base["labels_to_target"], base["final_n_labeled"])
            for n, f in zip(table["labels_to_target"], table["final_n_labeled"], strict=True)]
    return shown


def bounds_note(summary: pd.DataFrame, target: float) -> str | None:
    """In words, when random never reached the target: which efficiencies are lower bounds."""
    rows = summary.set_index("strategy")
    if BASELINE not in rows.index or not np.isnan(rows.loc[BASELINE, "labels_to_target"]):
        return None
    base = rows.loc[BASELINE]
    bounds = [
        widgets.escape_markdown(f"{name} " + efficiency_text(
            row["labels_to_target"], row["final_n_labeled"], base["labels_to_target"],
            base["final_n_labeled"]))
        for name, row in rows.iterrows()
        if name != BASELINE and not np.isnan(row["labels_to_target"])]
    if not bounds:
        return None
    return (f"Random did not reach {target:.0%} within its {base['final_n_labeled']:.0f} labels, "
            "so these efficiencies are lower bounds: " + "; ".join(bounds) + ".")


def show_results(saved: dict) -> None:
    results = saved["results"]
    p = saved["params"]
    st.caption(f"Last run: {results['strategy'].nunique()} strategies, {p['folds']} folds, "
               f"budget {p['budget']}, batch {p['batch']}, {p['split']} split, test fraction "
               f"{p['test_size']:g}, seed {p['seed']}. Bands: 95% confidence interval of the "
               "mean over folds.")
    best = float(results.groupby("strategy")["accuracy"].mean().max())
    target = st.slider("Target accuracy", 0.30, 1.0, step=0.01,
                       key=state.keep("cmp_target", round(min(0.99, max(0.5, best)), 2)),
                       help="Moves the dashed guide lines and the labels-to-target column; "
                            "the simulation is not rerun.")
    state.remember("cmp_target")
    chart = learning_curve_chart(results, target=target, width=860, height=400)
    # Vega's own palette: the theme's two blues made random and U*I*D hard to tell apart.
    st.altair_chart(chart, width="content", theme=None, key="compare_chart")
    summary = summary_table(results, target=target)
    table = display_table(summary)
    st.dataframe(table, hide_index=True, width="stretch", key="compare_table", column_config={
        "labels_to_target": st.column_config.TextColumn(
            f"labels to {target:.0%}", help="Mean curve's first labeled count at the target; "
            "'> n (not reached)': not within the n labels of the run"),
        "efficiency": st.column_config.TextColumn(
            "efficiency vs random",
            help="random's labels to target / this strategy's: 2.00x = half the labels. "
                 "'> x': random never reached the target, so x (its whole run / this "
                 "strategy's labels) is a lower bound; '< x': this strategy never did."),
        "aulc": st.column_config.NumberColumn("AULC", format="%.3f",
                                              help="Area under the mean learning curve"),
    })
    note = bounds_note(summary, target)
    if note:
        st.caption(note)
    st.download_button("Download results (CSV)", results.to_csv(index=False).encode("utf-8"),
                       file_name="labelwise-comparison.csv", mime="text/csv",
                       key="compare_csv")
    with st.expander("Settings of this run"):
        st.json(saved["params"])


def page() -> None:
    st.title("Compare strategies")
    try:
        dataset = state.current_dataset()
        source = state.current_source().key
    except LabelwiseError as exc:
        state.show_error(exc)
        return
    name = widgets.escape_markdown(dataset.name)
    st.caption(f"Dataset: {name} ({len(dataset):,} items). Each fold splits the data "
               "into a pool and a test part; an oracle answers with the true labels.")
    if dataset.labels is None:
        st.warning("This dataset has no ground-truth labels, so strategies cannot be simulated.")
        return
    job = st.session_state.get(JOB)
    was_running = job is not None and job.running
    params = settings_form(dataset, running=was_running)
    if params is not None:
        if was_running or (job is not None and job.running):
            st.warning("A comparison is running: cancel it or wait for it to finish.")
        elif not params["strategies"]:
            st.error("Choose at least one strategy to compare against random.")
        else:
            job = start(dataset, source, params)
    if job is not None and job.running:
        follow(job)
        if was_running:
            st.rerun()  # the form above was drawn disabled: draw it again, enabled
    if job is not None and job.source == source:
        collect(job)
    saved = st.session_state.get(RESULTS)
    if saved is not None and saved["source"] == source:
        show_results(saved)
    elif params is None:
        st.info("Choose strategies and press Run comparison.")


page()
