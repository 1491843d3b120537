"""Composition: the composite controller equals the problem solved for the mixed terminal cost."""

from __future__ import annotations

import numpy as np
import pytest

import control_as_inference as cai
from control_as_inference import kl

from . import oracles


def two_goal_problems(rng, sparse=False):
    passive, cost, terminal = oracles.random_lmdp(rng, 8, num_terminal=3, sparse_k=4)
    goals = np.flatnonzero(terminal)
    finals = np.full((2, 8), 4.0)
    finals[0, goals[0]], finals[1, goals[1]] = 0.0, 0.5  # each task prefers one goal
    finals[:, goals[2]] = [3.0, 6.0]
    if sparse:
        index, prob = oracles.successor_lists(passive)
        passive = cai.Successors(index, prob)
    models = [kl.LMDP(passive, np.where(terminal, f, cost), terminal) for f in finals]
    return models, finals, terminal


@pytest.mark.parametrize("sparse", [False, True])
def test_composite_equals_the_direct_solve_of_the_mixed_cost(rng, sparse):
    models, finals, terminal = two_goal_problems(rng, sparse)
    parts = [kl.first_exit(m, method="direct") for m in models]  # rounding-level components
    weights = np.array([0.3, 2.0])
    composite = kl.compose(parts, weights)
    mixed = kl.mixed_cost(finals, weights)
    lmdp = models[0]
    mixed_lmdp = kl.LMDP(lmdp.passive, np.where(terminal, mixed, lmdp.cost), terminal)
    direct = kl.first_exit(mixed_lmdp, method="direct")
    np.testing.assert_allclose(composite.log_z, direct.log_z, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(composite.policy, direct.policy, atol=1e-12)
    np.testing.assert_allclose(np.exp(composite.log_mixture).sum(axis=0), 1, rtol=1e-12)
    # negative controls: averaging the cost-to-go, or mixing the laws with constant weights
    naive_v = (weights[:, None] * np.stack([p.v for p in parts])).sum(0) / weights.sum()
    assert np.max(np.abs(naive_v - direct.v)) > 1e-2
    constant = (weights[:, None, None] * np.stack([p.policy for p in parts])).sum(0) / 2.3
    assert np.max(np.abs(constant - direct.policy)[~terminal]) > 1e-3


def test_compose_refuses_bad_weights(rng):
    models, _, _ = two_goal_problems(rng)
    parts = [kl.first_exit(m) for m in models]
    with pytest.raises(ValueError, match="weights must have shape"):
        kl.compose(parts, [1.0])
    with pytest.raises(ValueError, match="not all 0"):
        kl.compose(parts, [0.0, -1.0])


def test_soft_q_composition_is_exact_on_deterministic_models(rng):
    models, finals, terminal = two_goal_problems(rng)
    weights = np.array([0.7, 0.4])
    tabs = [kl.to_tabular(m) for m in models]
    qs = np.stack([cai.soft_value_iteration(t, 1.0, 1.0).q for t in tabs])
    composite = kl.compose_soft_q(tabs[0], qs, weights)
    mixed = np.where(terminal, kl.mixed_cost(finals, weights), models[0].cost)
    direct = cai.soft_value_iteration(
        kl.to_tabular(kl.LMDP(models[0].passive, mixed, terminal)), 1.0, 1.0
    )
    # interior states (absorbing ones are 0 in every task, shifted by log sum w in the composite)
    allowed = (np.asarray(tabs[0].action_prior) > 0) & ~terminal[:, None]
    np.testing.assert_allclose(composite.q[allowed], direct.q[allowed], rtol=1e-10)
    np.testing.assert_allclose(composite.v[~terminal], direct.v[~terminal], rtol=1e-10)
    np.testing.assert_allclose(np.exp(composite.log_policy), direct.policy, atol=1e-10)
    # negative control: a weighted average of the Q-functions is not the mixed task's Q
    average = (weights[:, None, None] * qs).sum(0) / weights.sum()
    assert np.max(np.abs(average - direct.q)[allowed]) > 1e-2


def test_soft_q_composition_refuses_stochastic_models(rng):
    transitions, reward, _, _ = oracles_tabular(rng)
    mdp = cai.TabularMDP(transitions, reward)
    with pytest.raises(ValueError, match="deterministic"):
        kl.compose_soft_q(mdp, np.zeros((2, *reward.shape)), [1.0, 1.0])


def oracles_tabular(rng):
    from ..tabular.oracles import random_mdp

    return random_mdp(rng, 4, 2, forbid=False)
