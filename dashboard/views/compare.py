"""Compare: simulate strategies against random sampling and read their learning curves."""

from __future__ import annotations

import streamlit as st

from labelwise import (
    DEFAULT_UNCERTAINTY,
    DENSITY_KINDS,
    UNCERTAINTY_MEASURES,
    LabelwiseError,
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


def chosen_strategies(combos: list[str], measures: list[str], density: str) -> list[Strategy]:
    """Every chosen combination, once per uncertainty measure when it uses U."""
    if not combos:
        return []
    return expand_strategies(combos, uncertainty=measures or [DEFAULT_UNCERTAINTY],
                             density=density)


def settings_form(dataset) -> dict | None:
    """The comparison settings; returns them when the Run button was pressed."""
    with st.form("compare_form", border=True):
        c1, c2, c3 = st.columns(3)
        # Every product of the registered scorers: a scorer of the user's own shows up here.
        combos = c1.multiselect("Strategies (compared against random)", product_names(),
                                default=["U*I*D", "U"], key="cmp_combos")
        measures = c1.multiselect("Uncertainty measures", list(UNCERTAINTY),
                                  default=[DEFAULT_UNCERTAINTY], format_func=UNCERTAINTY.get,
                                  key="cmp_measures",
                                  help="Strategies using U run once per measure.")
        density = c1.selectbox("Density kind", list(DENSITY_KINDS), key="cmp_density")
        splits = ["random", "group"] if dataset.groups is not None else ["random"]
        split = c1.selectbox("Split", splits, key="cmp_split",
                             help="group keeps all copies of one original item on one side "
                                  "of each train/test split.")
        folds = c2.number_input("Folds", 2, 64, 4, key="cmp_folds")
        budget = c2.number_input("Label budget", 5, 5000, 100, step=10, key="cmp_budget")
        batch = c2.number_input("Batch (labels per step)", 1, 100, 1, key="cmp_batch")
        test_size = c3.slider("Test fraction", 0.05, 0.5, 0.1, 0.05, key="cmp_test")
        n_init = c3.number_input("Random labels to start", 1, 100, 2, key="cmp_init")
        k = c3.number_input("k", 1, 50, 5, key="cmp_k")
        seed = c3.number_input("Seed", 0, 10**6, 0, key="cmp_seed")
        run = st.form_submit_button("Run comparison", type="primary")
    if not run:
        return None
    return dict(strategies=chosen_strategies(combos, measures, density), folds=int(folds),
                budget=int(budget), batch=int(batch), test_size=float(test_size),
                split=split, n_init=int(n_init), k=int(k), seed=int(seed))


def run(dataset, params: dict) -> None:
    bar = st.progress(0.0, text="Starting the simulation...")

    def progress(done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=f"Simulated {done} of {total} strategy x fold runs")

    results = simulate(dataset, params["strategies"], folds=params["folds"],
                       test_size=params["test_size"], split=params["split"],
                       n_init=params["n_init"], budget=params["budget"], batch=params["batch"],
                       k=params["k"], seed=params["seed"], progress=progress)
    bar.empty()
    st.session_state[RESULTS] = {"source": state.current_source().key, "results": results,
                                 "params": {k: v for k, v in params.items() if k != "strategies"}}


def show_results(saved: dict) -> None:
    results = saved["results"]
    p = saved["params"]
    st.caption(f"Last run: {results['strategy'].nunique()} strategies, {p['folds']} folds, "
               f"budget {p['budget']}, batch {p['batch']}, {p['split']} split, test fraction "
               f"{p['test_size']:g}, seed {p['seed']}. Bands: 95% confidence interval of the "
               "mean over folds.")
    best = float(results.groupby("strategy")["accuracy"].mean().max())
    default = round(min(0.99, max(0.5, best)), 2)
    target = st.slider("Target accuracy", 0.30, 1.0, default, 0.01, key=state.keep("cmp_target"),
                       help="Moves the dashed guide lines and the labels-to-target column; "
                            "the simulation is not rerun.")
    state.remember("cmp_target")
    chart = learning_curve_chart(results, target=target, width=860, height=400)
    # Vega's own palette: the theme's two blues made random and U*I*D hard to tell apart.
    st.altair_chart(chart, width="content", theme=None, key="compare_chart")
    table = summary_table(results, target=target)
    st.dataframe(table, hide_index=True, width="stretch", column_config={
        "labels_to_target": st.column_config.NumberColumn(
            f"labels to {target:.0%}", help="Mean curve's first labeled count at the target "
            "(empty: not reached within the budget)"),
        "efficiency": st.column_config.NumberColumn(
            "efficiency vs random", format="%.2f",
            help="random's labels to target / this strategy's: 2.0 = half the labels"),
        "aulc": st.column_config.NumberColumn("AULC", format="%.3f",
                                              help="Area under the mean learning curve"),
    })
    st.download_button("Download results (CSV)", results.to_csv(index=False).encode("utf-8"),
                       file_name="labelwise-comparison.csv", mime="text/csv",
                       key="compare_csv")
    with st.expander("Settings of this run"):
        st.json(saved["params"])


def page() -> None:
    st.title("Compare strategies")
    try:
        dataset = state.current_dataset()
    except LabelwiseError as exc:
        state.show_error(exc)
        return
    name = widgets.escape_markdown(dataset.name)
    st.caption(f"Dataset: {name} ({len(dataset):,} items). Each fold splits the data "
               "into a pool and a test part; an oracle answers with the true labels.")
    if dataset.labels is None:
        st.warning("This dataset has no ground-truth labels, so strategies cannot be simulated.")
        return
    params = settings_form(dataset)
    if params is not None:
        if not params["strategies"]:
            st.error("Choose at least one strategy to compare against random.")
        else:
            try:
                run(dataset, params)
            except LabelwiseError as exc:
                state.show_error(exc)
    saved = st.session_state.get(RESULTS)
    if saved is not None and saved["source"] == state.current_source().key:
        show_results(saved)
    elif params is None:
        st.info("Choose strategies and press Run comparison.")


page()
