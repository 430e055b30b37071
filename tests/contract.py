"""Contract tests every scorer and every policy inherits (after scikit-activeml's
``template_query_strategy.py``): a test class for a new scorer subclasses :class:`ScorerContract`,
one for a new policy :class:`PolicyContract`, and gets every check below.

Also the user's own scorer module of the README (``my_scorers``, letter N), written to a
temporary folder on ``PYTHONPATH`` by the :func:`user_scorers` fixture.
"""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

import oracle
from labelwise import (
    Dataset,
    LabelingSession,
    Policy,
    Scorer,
    Strategy,
    registered_scorers,
    simulate,
    unregister_scorer,
)
from labelwise.engine.scorers import DiversityScorer, UncertaintyScorer

# -- the user's own scorer module ---------------------------------------------------------------
USER_MODULE = "my_scorers"
USER_SOURCE = textwrap.dedent('''
    """A scorer of my own: labelwise picks it up by its letter N."""

    import numpy as np
    from labelwise import Scorer, register_scorer


    @register_scorer
    class NoveltyScorer(Scorer):
        """n: how far an item is from its nearest labeled item, squared."""

        letter, column, title, mode = "N", "n", "novelty", "dynamic"

        def compute(self, view, rows=None):
            far = np.where(np.isfinite(view.max_sim), 1.0 - view.max_sim, 2.0)
            return far.astype(np.float64) ** 2
''')


def novelty_oracle(X, order) -> np.ndarray:
    """Brute force of the user's N: (1 - max similarity to a labeled item)^2, 4 with none."""
    if not order:
        return np.full(len(X), 4.0)
    return (1.0 - np.max(X.astype(np.float64) @ X[order].T.astype(np.float64), axis=1)) ** 2


@pytest.fixture
def user_scorers(tmp_path, monkeypatch):
    """The user's module, importable here and in any process started from here."""
    folder = tmp_path / "user_code"
    folder.mkdir()
    (folder / f"{USER_MODULE}.py").write_text(USER_SOURCE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("PYTHONPATH", str(folder))
    yield folder
    if "N" in registered_scorers():
        unregister_scorer("N")
    sys.modules.pop(USER_MODULE, None)


# -- data ---------------------------------------------------------------------------------------
def blobs(n: int = 60, d: int = 8, n_classes: int = 3, seed: int = 0):
    """Gaussian blobs: continuous similarities, so no exact ties between neighbours."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    X = rng.normal(size=(n_classes, d))[y] * 2 + rng.normal(size=(n, d))
    return X, np.array([f"c{c}" for c in y], dtype=object)


def as_dataset(X, y) -> Dataset:
    return Dataset(name="blobs", vectors=np.asarray(X, dtype=np.float32), labels=y,
                   items=pd.DataFrame({"id": np.arange(len(y))}), kind="points")


def uncertainty_oracle(X, order, labels, classes, k, weights, measure) -> np.ndarray:
    nbrs = oracle.neighbors(X, order, k)
    P = oracle.exact_probabilities(nbrs, labels, list(classes), weights)
    return np.array([oracle.uncertainty(P[i], measure) for i in range(len(X))])


def poisoned(scorer: Scorer) -> Scorer:
    """The same scorer, with wild values on labeled items (which must never matter)."""
    base = type(scorer)

    def compute(self, view, rows=None):
        values = np.array(base.compute(self, view, rows), dtype=np.float64)
        labeled = ~view.in_pool if rows is None else ~view.in_pool[rows]
        values[labeled] = np.where(np.arange(labeled.sum()) % 2, 1e9, -1e9)
        return values

    cls = type(f"Poisoned{base.__name__}", (base,), {"compute": compute})
    out = cls.__new__(cls)
    out.__dict__.update(scorer.__dict__)
    return out


# -- scorers ------------------------------------------------------------------------------------
class ScorerContract:
    """Checks every registered scorer must pass. Subclasses define :meth:`make_scorer` and
    :meth:`oracle_values` (brute force of the raw values from the labels)."""

    k = 4
    weights = "uniform"
    n_labels = 9

    def make_scorer(self) -> Scorer:
        raise NotImplementedError

    def oracle_values(self, X, order, labels, classes) -> np.ndarray:
        raise NotImplementedError

    # helpers
    def partner(self) -> Scorer:
        scorer = self.make_scorer()
        return UncertaintyScorer("entropy") if scorer.letter == "D" else DiversityScorer()

    def labeled(self, strategy, seed=0, n_labels=None):
        X, y = blobs()
        # The oracles are the kNN vote's.
        session = LabelingSession(X, strategy, k=self.k, weights=self.weights, seed=seed,
                                  model="knn")
        order = [int(i) for i in np.random.default_rng(7).choice(
            len(X), self.n_labels if n_labels is None else n_labels, replace=False)]
        for item in order:
            session.label(item, y[item])
        return session, order, y

    def loop(self, session, y, steps=12) -> list:
        picks = []
        for _ in range(steps):
            item = session.next()
            session.label(item, y[item])
            picks.append(item)
        picks.append(session.next(batch=4))
        return picks

    # the contract
    def test_is_registered_under_its_letter(self):
        scorer = self.make_scorer()
        assert registered_scorers()[scorer.letter] is type(scorer)
        assert Strategy.parse(scorer.letter).factors == (scorer.letter,)

    @pytest.mark.parametrize("n_labels", [0, 1, 9])
    def test_one_finite_value_per_item(self, n_labels):
        scorer = self.make_scorer()
        session, _, _ = self.labeled(Strategy((scorer,)), n_labels=n_labels)
        values = np.asarray(scorer.compute(session.view()), dtype=np.float64)
        assert values.shape == (session.n_items,)
        assert np.isfinite(values).all()

    def test_cache_mode_is_honest(self):
        scorer = self.make_scorer()
        session, _, y = self.labeled(Strategy((scorer,)))
        view = session.view()
        before = np.array(scorer.compute(view))
        if scorer.mode == "incremental":  # the rows asked for equal the full computation
            rows = np.array([3, 10, 11, 40])
            np.testing.assert_array_equal(scorer.compute(view, rows), before[rows])
        session.label(int(session.pool[0]), y[int(session.pool[0])])
        fresh = np.array(scorer.compute(session.view()))
        if scorer.mode == "static":  # the pool only: labels change nothing
            np.testing.assert_array_equal(fresh, before)
        # Whatever the mode, the session's cached values are the fresh ones.
        np.testing.assert_allclose(session.raw_score(scorer), fresh, atol=1e-12)

    @pytest.mark.parametrize("model", ["graph", "auto"])
    def test_cached_values_stay_fresh_under_the_graph_model(self, model):
        # The graph model changes the probabilities of rows the kNN state did not touch: the
        # session must still patch every row an incremental scorer depends on.
        scorer = self.make_scorer()
        X, y = blobs()
        session = LabelingSession(X, Strategy((scorer,)), k=self.k, weights=self.weights,
                                  seed=0, model=model)
        steps = [("label", i) for i in range(0, 24, 2)] + [
            ("relabel", 4), ("unlabel", 6), ("next", None), ("label", 31), ("unlabel", 0)]
        for action, item in steps:
            if action == "next":
                item, action = session.next(), "label"
            if action == "label":
                session.label(item, y[item])
            elif action == "relabel":
                session.label(item, "other")
            else:
                session.unlabel(item)
            fresh = np.array(scorer.compute(session.view()))
            np.testing.assert_allclose(session.raw_score(scorer), fresh, atol=1e-12,
                                       err_msg=f"after {action} {item}")

    def test_scores_and_picks_are_pool_only(self):
        scorer = self.make_scorer()
        plain, _, y = self.labeled(Strategy((scorer, self.partner())))
        wild, _, _ = self.labeled(Strategy((poisoned(scorer), self.partner())))
        got, want = wild.scores(), plain.scores()
        assert got.index.tolist() == plain.pool.tolist()
        for column in (scorer.letter, "S"):
            np.testing.assert_array_equal(got[column].to_numpy(), want[column].to_numpy())
        assert self.loop(wild, y) == self.loop(plain, y)

    def test_same_seed_same_picks(self):
        scorer = self.make_scorer()
        runs = []
        for _ in range(2):
            session, _, y = self.labeled(Strategy((scorer,)), seed=3)
            runs.append(self.loop(session, y))
        assert runs[0] == runs[1]
        picks = [*runs[0][:-1], *runs[0][-1]]
        assert len(set(picks)) == len(picks)

    def test_agrees_with_the_oracle_in_a_product(self):
        scorer, partner = self.make_scorer(), self.partner()
        session, order, y = self.labeled(Strategy((scorer, partner)))
        X = session.vectors
        labels = {i: y[i] for i in order}
        pool = session.pool
        raw = self.oracle_values(X, order, labels, session.classes)[pool]
        partner_raw = partner_oracle(partner)(X, order, labels, session.classes, self.k,
                                              self.weights)[pool]
        got = session.scores()
        np.testing.assert_allclose(got[scorer.column].to_numpy(), raw, atol=1e-5)
        expected = oracle.cdf(raw) * oracle.cdf(partner_raw)
        np.testing.assert_allclose(got[scorer.letter].to_numpy(), oracle.cdf(raw), atol=1e-9)
        np.testing.assert_allclose(got["S"].to_numpy(), expected, atol=1e-9)
        assert session.next() in pool[np.isclose(expected, expected.max(), atol=1e-9)]

    def test_runs_in_simulate_with_two_jobs(self):
        strategy = Strategy((self.make_scorer(),))
        dataset = as_dataset(*blobs(n=120))
        kwargs = dict(folds=2, budget=6, seed=1)
        serial = simulate(dataset, [strategy], **kwargs)
        parallel = simulate(dataset, [strategy], n_jobs=2, **kwargs)
        assert set(serial["strategy"]) == {"random", strategy.label}
        pd.testing.assert_frame_equal(serial.drop(columns="seconds"),
                                      parallel.drop(columns="seconds"))


def partner_oracle(partner: Scorer):
    """Brute force of the partner scorer a contract test multiplies with."""
    if isinstance(partner, UncertaintyScorer):
        return lambda X, order, labels, classes, k, weights: uncertainty_oracle(
            X, order, labels, classes, k, weights, partner.measure)
    return lambda X, order, labels, classes, k, weights: oracle.diversity(X, order)


# -- policies -----------------------------------------------------------------------------------
class PolicyContract:
    """Checks every policy must pass. Subclasses define :meth:`make_policy`."""

    def make_policy(self) -> Policy:
        raise NotImplementedError

    def session(self, n_labels=6):
        X, y = blobs(n=80)
        session = LabelingSession(X, "U*I*D", k=4, seed=0)
        for item in range(0, 80, 80 // max(n_labels, 1))[:n_labels]:
            session.label(item, y[item])
        return session, y

    @pytest.mark.parametrize("count", [1, 3, 10])
    @pytest.mark.parametrize("n_labels", [0, 6])
    def test_picks_distinct_pool_items(self, count, n_labels):
        session, _ = self.session(n_labels)
        picks = self.make_policy().select(session.view(), count, np.random.default_rng(0))
        assert len(picks) == count == len(set(picks))
        assert all(isinstance(p, int) for p in picks)
        assert set(picks) <= set(session.pool.tolist())

    def test_the_whole_pool_in_one_batch(self):
        session, _ = self.session()
        n_pool = len(session.pool)
        picks = self.make_policy().select(session.view(), n_pool, np.random.default_rng(0))
        assert sorted(picks) == session.pool.tolist()

    def test_same_seed_same_picks(self):
        runs = []
        for _ in range(2):
            session, y = self.session()
            policy, rng, picks = self.make_policy(), np.random.default_rng(5), []
            for _ in range(8):
                item = policy.select(session.view(), 1, rng)[0]
                session.label(item, y[item])
                picks.append(item)
            picks.append(policy.select(session.view(), 4, rng))
            runs.append(picks)
        assert runs[0] == runs[1]

    def test_selection_leaves_the_state_unchanged(self):
        session, _ = self.session()
        view = session.view()
        names = ("vectors", "in_pool", "codes", "label_seq", "max_sim", "neighbor_sim",
                 "neighbor_idx", "neighbor_seq", "neighbor_cls")
        before = {name: getattr(view, name).copy() for name in names}
        self.make_policy().select(view, 5, np.random.default_rng(0))
        after = session.view()
        for name in names:
            np.testing.assert_array_equal(getattr(after, name), before[name], err_msg=name)
            assert not getattr(view, name).flags.writeable, name
        assert session.n_labeled == 6
