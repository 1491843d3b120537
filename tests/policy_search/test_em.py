"""Planning by EM: the likelihood is (1 - gamma) times the rescaled value (against an independent
linear solve), EM never decreases it, and the greedy variant reaches pymdptoolbox's optimum."""

from __future__ import annotations

import numpy as np
import pytest

import control_as_inference as cai
from control_as_inference import policy_search as ps

from . import oracles

DISCOUNT = 0.9


@pytest.fixture(scope="module")
def problem():
    transitions, reward, initial = oracles.random_mdp(np.random.default_rng(7))
    return transitions, reward, initial, cai.TabularMDP(transitions, reward, initial)


def rescaled(reward):
    return (reward - reward.min()) / (reward.max() - reward.min())


def test_likelihood_is_one_minus_gamma_times_the_rescaled_value(problem, rng):
    transitions, reward, initial, mdp = problem
    policy = rng.dirichlet(np.ones(3), size=7)
    messages = ps.em_messages(mdp, np.log(policy), DISCOUNT)
    q, v = oracles.evaluate(transitions, rescaled(reward), policy, DISCOUNT)
    np.testing.assert_allclose(float(messages.likelihood), (1 - DISCOUNT) * initial @ v, rtol=1e-11)
    np.testing.assert_allclose(messages.q, q, rtol=1e-11)
    # the forward message is the discounted occupancy and gives the same likelihood
    occupancy = np.linalg.solve(
        np.eye(7) - DISCOUNT * np.einsum("sa,sat->st", policy, transitions).T, initial
    )
    np.testing.assert_allclose(messages.occupancy, occupancy, rtol=1e-11)
    forward = (1 - DISCOUNT) * np.sum(occupancy[:, None] * policy * rescaled(reward))
    np.testing.assert_allclose(float(messages.likelihood), forward, rtol=1e-11)
    # negative control: message sums cut at 5 terms miss the geometric tail and fail the check
    short = ps.em_messages(mdp, np.log(policy), DISCOUNT, horizon=5)
    assert abs(float(short.likelihood) - (1 - DISCOUNT) * initial @ v) > 1e-3


def test_em_never_decreases_the_likelihood_and_stays_below_the_optimum(problem):
    transitions, reward, initial, mdp = problem
    plan = ps.em_planning(mdp, DISCOUNT, iterations=60)
    likelihood = np.asarray(plan.likelihood)
    assert np.all(np.diff(likelihood) >= -1e-12)
    assert likelihood[-1] > likelihood[0] + 0.05
    _, v_opt = oracles.evaluate(
        transitions,
        rescaled(reward),
        oracles.greedy(ps.em_planning(mdp, DISCOUNT, iterations=20, greedy=True).q),
        DISCOUNT,
    )
    assert likelihood[-1] <= (1 - DISCOUNT) * initial @ v_opt + 1e-12
    # each likelihood is that of the policy at that iteration (checked for the last one)
    _, v = oracles.evaluate(transitions, rescaled(reward), np.exp(plan.log_policy), DISCOUNT)
    np.testing.assert_allclose(likelihood[-1], (1 - DISCOUNT) * initial @ v, rtol=1e-11)


def test_greedy_em_reaches_the_value_iteration_optimum(problem):
    mdptoolbox = pytest.importorskip("mdptoolbox.mdp")
    transitions, reward, _initial, mdp = problem
    plan = ps.em_planning(mdp, DISCOUNT, iterations=20, greedy=True)
    policy = np.exp(np.asarray(plan.log_policy))
    peer = mdptoolbox.ValueIteration(np.transpose(transitions, (1, 0, 2)), reward, DISCOUNT, 1e-10)
    peer.run()
    np.testing.assert_array_equal(np.argmax(policy, axis=1), peer.policy)
    exact = mdptoolbox.PolicyIteration(np.transpose(transitions, (1, 0, 2)), reward, DISCOUNT)
    exact.run()
    _, v = oracles.evaluate(transitions, reward, policy, DISCOUNT)  # the original reward
    np.testing.assert_allclose(v, exact.V, rtol=1e-9)
    assert np.all(np.diff(np.asarray(plan.likelihood)) >= -1e-12)


@pytest.mark.slow  # about 3 s of CPU: 300 EM iterations
def test_reward_weighted_em_approaches_the_same_optimum(problem):
    *_, mdp = problem
    greedy = ps.em_planning(mdp, DISCOUNT, iterations=20, greedy=True)
    slow = ps.em_planning(mdp, DISCOUNT, iterations=300)
    assert float(slow.likelihood[-1]) > float(greedy.likelihood[-1]) - 5e-3
    assert float(slow.likelihood[-1]) <= float(greedy.likelihood[-1]) + 1e-12


def test_forbidden_actions_are_never_taken(problem):
    transitions, reward, initial, _ = problem
    reward = reward.copy()
    best = np.argmax(reward[0])
    reward[0, best] = -np.inf
    mdp = cai.TabularMDP(transitions, reward, initial)
    for greedy in (False, True):
        plan = ps.em_planning(mdp, DISCOUNT, iterations=10, greedy=greedy)
        assert np.exp(float(plan.log_policy[0, best])) == 0.0
        assert np.all(np.isfinite(plan.likelihood))
    # also from a given initial policy that puts mass on the forbidden action
    uniform = np.full(reward.shape, -np.log(reward.shape[1]))
    plan = ps.em_planning(mdp, DISCOUNT, iterations=10, log_policy=uniform)
    assert np.exp(float(plan.log_policy[0, best])) == 0.0
    only = np.full(reward.shape, -np.inf)
    only[:, 0] = 0.0
    only[0] = -np.inf
    only[0, best] = 0.0
    with pytest.raises(ValueError, match="forbidden"):
        ps.em_planning(mdp, DISCOUNT, iterations=1, log_policy=only)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"discount": 1.0}, "discount"),
        ({"discount": 0.0}, "discount"),
        ({"iterations": 0}, "iterations"),
        ({"horizon": 0}, "horizon"),
    ],
)
def test_bad_settings_are_named(problem, kwargs, message):
    kwargs = {"discount": DISCOUNT, **kwargs}
    with pytest.raises(ValueError, match=message):
        ps.em_planning(problem[3], **kwargs)


def test_time_varying_reward_is_rejected(problem):
    transitions, reward, initial, _ = problem
    mdp = cai.TabularMDP(transitions, np.stack([reward, reward]), initial)
    with pytest.raises(ValueError, match="stationary"):
        ps.em_planning(mdp, DISCOUNT)
