"""Every registered scorer passes the scorer contract (tests/contract.py), and the registry
refuses a letter that is taken."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from contract import ScorerContract, novelty_oracle, uncertainty_oracle, user_scorers

import oracle
from labelwise import InvalidInputError, Scorer, Strategy, register_scorer, registered_scorers
from labelwise.engine.scorers import DensityScorer, DiversityScorer, UncertaintyScorer

__all__ = ["user_scorers"]  # the fixture, used by TestUserNovelty


class TestMarginUncertainty(ScorerContract):
    def make_scorer(self):
        return UncertaintyScorer("margin")

    def oracle_values(self, X, order, labels, classes):
        return uncertainty_oracle(X, order, labels, classes, self.k, self.weights, "margin")


class TestEntropyUncertaintySimilarityWeights(ScorerContract):
    weights = "similarity"

    def make_scorer(self):
        return UncertaintyScorer("entropy")

    def oracle_values(self, X, order, labels, classes):
        return uncertainty_oracle(X, order, labels, classes, self.k, self.weights, "entropy")


class TestLeastConfidenceUncertainty(ScorerContract):
    def make_scorer(self):
        return UncertaintyScorer("least_confidence")

    def oracle_values(self, X, order, labels, classes):
        return uncertainty_oracle(X, order, labels, classes, self.k, self.weights,
                                  "least_confidence")


class TestKnnDensity(ScorerContract):
    def make_scorer(self):
        return DensityScorer("knn")

    def oracle_values(self, X, order, labels, classes):
        return oracle.knn_density(X)


class TestGlobalDensity(ScorerContract):
    def make_scorer(self):
        return DensityScorer("global")

    def oracle_values(self, X, order, labels, classes):
        return oracle.global_density(X)


class TestDiversity(ScorerContract):
    def make_scorer(self):
        return DiversityScorer()

    def oracle_values(self, X, order, labels, classes):
        return oracle.diversity(X, order)


class TestUserNovelty(ScorerContract):
    """The README's scorer from a user's own module (tests/contract.py writes it)."""

    @pytest.fixture(autouse=True)
    def _user_module(self, user_scorers):
        self.module = importlib.import_module("my_scorers")

    def make_scorer(self):
        return self.module.NoveltyScorer()

    def oracle_values(self, X, order, labels, classes):
        return novelty_oracle(X, order)


CONTRACTS = [TestMarginUncertainty, TestEntropyUncertaintySimilarityWeights,
             TestLeastConfidenceUncertainty, TestKnnDensity, TestGlobalDensity, TestDiversity]


def test_every_built_in_scorer_has_a_contract_test():
    covered = {type(cls().make_scorer()) for cls in CONTRACTS}
    assert set(registered_scorers().values()) <= covered


def test_a_taken_letter_is_refused_and_the_built_in_stays():
    class Impostor(Scorer):
        letter, column, mode = "U", "impostor", "dynamic"

        def compute(self, view, rows=None):
            return np.zeros(view.n_items)

    with pytest.raises(InvalidInputError, match="'U' is taken"):
        register_scorer(Impostor)
    assert registered_scorers()["U"] is UncertaintyScorer
    assert register_scorer(UncertaintyScorer) is UncertaintyScorer  # the same class again


@pytest.mark.parametrize(("attrs", "message"), [
    ({"letter": "uu", "column": "x"}, "one capital"),
    ({"letter": "S", "column": "x"}, "reserved"),
    ({"letter": "Q", "column": "u"}, "column 'u' is taken"),
    ({"letter": "Q", "column": "Not ok"}, "lower-case"),
    ({"letter": "Q", "column": "q", "mode": "sometimes"}, "unknown mode"),
])
def test_malformed_scorers_are_refused(attrs, message):
    cls = type("Bad", (Scorer,), attrs)
    with pytest.raises(InvalidInputError, match=message):
        register_scorer(cls)
    assert "Q" not in registered_scorers()


def test_scorers_own_their_parameters_and_the_strategy_follows_them():
    strategy = Strategy((DiversityScorer(), UncertaintyScorer("entropy")))
    assert strategy.factors == ("U", "D") and strategy.uncertainty == "entropy"
    assert strategy.label == "U*D (entropy)"
    assert strategy == Strategy.parse("D*U", uncertainty="entropy")
    assert Strategy.parse("U*I*D", uncertainty="margin", density="knn").scorers == (
        UncertaintyScorer("margin"), DensityScorer("knn"), DiversityScorer())
    with pytest.raises(InvalidInputError, match="uncertainty must be"):
        UncertaintyScorer("gini")
