"""A scorer defined in a user's own module (as the README shows) works everywhere: in a
session, in simulate(n_jobs=2), in the CLI and on the dashboard's Label and Compare pages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from contract import USER_MODULE, as_dataset, blobs, novelty_oracle, user_scorers
from streamlit.testing.v1 import AppTest

import oracle
from labelwise import (
    InvalidInputError,
    LabelingSession,
    Strategy,
    load_scorer_modules,
    registered_scorers,
    simulate,
)
from labelwise.cli.main import main
from labelwise.dashboard.state import Source

__all__ = ["user_scorers"]
APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")


def test_a_session_uses_the_users_scorer(user_scorers):
    assert load_scorer_modules(USER_MODULE) == [USER_MODULE]
    assert list(registered_scorers()) == ["U", "I", "D", "N"]
    X, y = blobs()
    session = LabelingSession(X, "U*N", k=3, seed=0)
    for _ in range(6):
        item = session.next()
        session.label(item, y[item])
    scores = session.scores()
    assert {"n", "N"} <= set(scores.columns)
    labeled = [int(i) for i in session.labeled]
    np.testing.assert_allclose(scores["n"], novelty_oracle(session.vectors, labeled)[
        session.pool], atol=1e-6)
    np.testing.assert_allclose(scores["S"], scores["U"] * scores["N"])
    np.testing.assert_allclose(scores["N"], oracle.cdf(scores["n"].to_numpy()))


def test_an_unknown_module_or_letter_is_a_clear_error(user_scorers):
    with pytest.raises(InvalidInputError, match="no_such_scorers"):
        load_scorer_modules("no_such_scorers")
    with pytest.raises(InvalidInputError, match="unknown score letter"):
        Strategy.parse("U*N")  # the module is not loaded yet


def test_simulate_with_two_jobs_equals_serial(user_scorers):
    load_scorer_modules(USER_MODULE)
    dataset = as_dataset(*blobs(n=150))
    kwargs = dict(folds=2, budget=8, seed=2)
    serial = simulate(dataset, "U*N", **kwargs)
    parallel = simulate(dataset, "U*N", n_jobs=2, **kwargs)
    assert serial["strategy"].unique().tolist() == ["random", "U*N (margin)"]
    pd.testing.assert_frame_equal(serial.drop(columns="seconds"),
                                  parallel.drop(columns="seconds"))


def test_the_cli_loads_the_module_named_by_the_option(user_scorers, tmp_path):
    out = tmp_path / "out"
    code = main(["simulate", "--scorers", USER_MODULE, "--dataset", "digits", "--strategies",
                 "U*N,D", "--folds", "2", "--budget", "6", "--out", str(out), "--quiet"])
    assert code == 0
    table = pd.read_csv(out / "results.csv")
    assert table["strategy"].unique().tolist() == ["random", "U*N (margin)", "D"]


def test_a_fresh_cli_process_loads_the_module_from_the_environment(user_scorers, tmp_path):
    """As a user runs it: a new process, the module on PYTHONPATH, two joblib workers."""
    out = tmp_path / "out"
    env = {**os.environ, "LABELWISE_SCORERS": USER_MODULE}
    run = subprocess.run(
        [sys.executable, "-m", "labelwise.cli.main", "simulate", "--dataset", "moons",
         "--strategies", "U*N", "--folds", "2", "--budget", "5", "--jobs", "2", "--out",
         str(out), "--quiet"], env=env, capture_output=True, text=True, timeout=300,
        check=False)
    assert run.returncode == 0, run.stderr
    table = pd.read_csv(out / "results.csv")
    assert table["strategy"].unique().tolist() == ["random", "U*N (margin)"]
    help_text = subprocess.run([sys.executable, "-m", "labelwise.cli.main", "simulate",
                                "--help"], env=env, capture_output=True, text=True,
                               timeout=300, check=True).stdout
    assert "N (novelty)" in " ".join(help_text.split())


# -- the dashboard -----------------------------------------------------------------------------
@pytest.fixture
def app_with_user_scorers(user_scorers, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LABELWISE_DATA_DIR", raising=False)
    monkeypatch.setenv("LABELWISE_SCORERS", USER_MODULE)

    def open_page(page: str, pack: str = "moons") -> AppTest:
        at = AppTest.from_file(APP, default_timeout=300)
        at.session_state["dataset_source"] = Source("pack", pack)
        at.switch_page(page)
        at.run()
        assert not at.exception, at.exception
        return at

    return open_page


def strategy_metric(at: AppTest) -> str:
    return next(m.value for m in at.metric if m.label == "Strategy").replace("\\", "")


def test_the_label_page_offers_the_users_scorer(app_with_user_scorers):
    at = app_with_user_scorers("views/label.py")
    assert at.checkbox(key="use_N").value is False  # offered, not switched on
    assert strategy_metric(at) == "U*I*D"
    at.checkbox(key="use_N").check().run()
    at.checkbox(key="use_I").uncheck().run()
    assert strategy_metric(at) == "U*D*N"
    for n in range(3):
        at.button(key=f"cls_{n % 2}").click().run()
    assert next(m.value for m in at.metric if m.label == "Labeled") == "3"
    assert not at.exception


def test_the_compare_page_simulates_the_users_scorer(app_with_user_scorers):
    at = app_with_user_scorers("views/compare.py")
    combos = at.multiselect(key="cmp_combos")
    assert "U*N" in combos.options and "U*I*D*N" in combos.options
    combos.set_value(["U*N"])
    at.number_input(key="cmp_folds").set_value(2)
    at.number_input(key="cmp_budget").set_value(10)
    at.button[0].click().run()  # the form's submit button
    assert not at.exception and not at.error
    results = at.session_state["compare_results"]["results"]
    assert results["strategy"].unique().tolist() == ["random", "U*N (margin)"]
