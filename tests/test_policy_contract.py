"""Every policy (fixed product, random, auto, a product with a user's scorer) passes the policy
contract (tests/contract.py); the session hands policies a read-only view only."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from contract import PolicyContract, blobs, user_scorers

from labelwise import (
    AutoPolicy,
    FixedPolicy,
    InvalidInputError,
    LabelingSession,
    RandomPolicy,
    Strategy,
)

__all__ = ["user_scorers"]  # the fixture, used by TestUserProductPolicy


class TestFixedProduct(PolicyContract):
    def make_policy(self):
        return FixedPolicy(Strategy.parse("U*I*D"))


class TestFixedEntropyDiversity(PolicyContract):
    def make_policy(self):
        return FixedPolicy(Strategy.parse("U*D", uncertainty="entropy"))


class TestRandom(PolicyContract):
    def make_policy(self):
        return RandomPolicy()


class TestAuto(PolicyContract):
    def make_policy(self):
        return AutoPolicy(Strategy.parse("auto"))


class TestUserProductPolicy(PolicyContract):
    @pytest.fixture(autouse=True)
    def _user_module(self, user_scorers):
        importlib.import_module("my_scorers")

    def make_policy(self):
        return FixedPolicy(Strategy.parse("U*N"))


def test_the_session_uses_the_policy_of_its_strategy():
    X, y = blobs()
    kinds = {spec: type(LabelingSession(X, spec).policy) for spec in ("U*D", "random", "auto")}
    assert kinds == {"U*D": FixedPolicy, "random": RandomPolicy, "auto": AutoPolicy}
    session = LabelingSession(X, "auto", seed=0)
    for _ in range(5):
        item = session.next()
        session.label(item, y[item])
    policy = session.policy
    session.set_strategy(Strategy.parse("auto"))  # the same auto: its history is kept
    assert session.policy is policy and len(policy.history) == 5


def test_a_policy_picks_what_the_session_picks():
    X, y = blobs()
    session = LabelingSession(X, "U*I*D", seed=4)
    for item in (0, 7, 30):
        session.label(item, y[item])
    twin = LabelingSession(X, "U*I*D", seed=4)
    for item in (0, 7, 30):
        twin.label(item, y[item])
    assert session.next(batch=5) == FixedPolicy(Strategy.parse("U*I*D")).select(
        twin.view(), 5, twin.rng)


def test_the_view_cannot_be_written():
    session = LabelingSession(np.eye(4) + 0.1, "U")
    session.label(0, "a")
    view = session.view()
    with pytest.raises(ValueError, match="read-only"):
        view.in_pool[1] = False
    with pytest.raises(ValueError, match="read-only"):
        view.raw_values(Strategy.parse("U").scorers[0])[0] = 5.0
    assert view.labeled.tolist() == [0] and view.classes == ("a",)


def test_a_fixed_policy_needs_a_product():
    for spec in ("random", "auto"):
        with pytest.raises(InvalidInputError, match="product"):
            FixedPolicy(Strategy.parse(spec))
