"""Policy metrics and policy sampling against brute force, hand computations and frequencies."""

import itertools

import jax
import numpy as np
import pytest

import control_as_inference.tabular as tab
from control_as_inference.tabular import (
    Successors,
    TabularMDP,
    expected_entropy,
    expected_return,
    expected_value,
    sample_policy,
)

from .oracles import random_mdp, to_successors


def enumerated_return(transitions, reward, initial, policy, horizon, discount):
    """E[sum_t gamma^t r_t] by summing over every (s_0, a_0, ..., s_{H-1}, a_{H-1})."""
    s, a = reward.shape[-2:]
    total = 0.0
    for path in itertools.product(range(s), range(a), repeat=horizon):
        states, actions = path[0::2], path[1::2]
        prob = initial[states[0]]
        ret = 0.0
        for t in range(horizon):
            st, at = states[t], actions[t]
            pi_t = policy if policy.ndim == 2 else policy[t]
            r_t = reward if reward.ndim == 2 else reward[t]
            prob *= pi_t[st, at]
            if t + 1 < horizon:
                prob *= transitions[st, at, states[t + 1]]
            if pi_t[st, at] > 0:
                ret += discount**t * r_t[st, at]
        total += prob * ret
    return total


def random_policy(rng, shape):
    return rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])


@pytest.mark.parametrize("time_varying", [False, True])
@pytest.mark.parametrize("discount", [1.0, 0.8])
def test_expected_return_matches_enumeration(rng, time_varying, discount):
    horizon = 3
    transitions, reward, initial, _ = random_mdp(
        rng, 3, 2, horizon=horizon if time_varying else None
    )
    mdp = TabularMDP(transitions, reward, initial)
    policy = random_policy(rng, (horizon, 3, 2) if time_varying else (3, 2))
    # the forbidden action (-inf reward) is never taken
    policy[..., 0, :] = [0.0, 1.0]
    with np.errstate(divide="ignore"):
        log_policy = np.log(policy)
    expected = enumerated_return(transitions, reward, initial, policy, horizon, discount)
    got = expected_return(mdp, mdp.reward, log_policy, horizon, discount)
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-12)
    # negative control: one step fewer is a different number
    assert expected_return(mdp, mdp.reward, log_policy, horizon - 1, discount) != pytest.approx(
        expected, rel=1e-3
    )


def test_expected_return_of_a_posterior_is_its_marginal_reward(rng):
    """Variational inference, gamma = 1: the expected return is sum_t,s,a p_t(s, a) r(s, a)."""
    transitions, reward, initial, prior = random_mdp(rng, 4, 3)
    mdp = TabularMDP(transitions, reward, initial, prior)
    post = tab.infer(mdp, 5, 0.7, "variational")
    marginal = np.asarray(post.state_action_marginals)
    with np.errstate(invalid="ignore"):
        expected = np.sum(np.where(marginal > 0, marginal * reward, 0.0))
    got = expected_return(mdp, mdp.reward, post.log_policy, 5)
    assert got == pytest.approx(expected, rel=1e-10)


def test_expected_return_checks_its_arguments(rng):
    transitions, reward, initial, _ = random_mdp(rng, 3, 2, forbid=False)
    mdp = TabularMDP(transitions, reward, initial)
    with pytest.raises(ValueError, match="horizon"):
        expected_return(mdp, mdp.reward, np.zeros((3, 2)), -1)
    with pytest.raises(ValueError, match="log_policy must have shape"):
        expected_return(mdp, mdp.reward, np.zeros((2, 3)), 3)
    with pytest.raises(ValueError, match="covers 2 steps"):
        expected_return(mdp, mdp.reward, np.zeros((2, 3, 2)), 3)


class Fake:
    """Just the fields the metrics read."""

    def __init__(self, log_policy, state_marginals, v=None):
        self.log_policy, self.state_marginals, self.v = log_policy, state_marginals, v


def test_expected_entropy_and_value_by_hand():
    with np.errstate(divide="ignore"):
        log_policy = np.log(
            np.array(
                [
                    [[0.5, 0.5], [1.0, 0.0]],  # t = 0: entropies ln 2 and 0
                    [[0.25, 0.75], [0.5, 0.5]],  # t = 1
                ]
            )
        )
    # unnormalised marginals (a discount's absorption): only their proportions count
    marginals = np.array([[0.25, 0.25], [0.1, 0.3], [0.2, 0.2]])
    v = np.array([[1.0, 3.0], [2.0, 6.0], [0.0, 4.0]])
    entropy = expected_entropy(Fake(log_policy, marginals))
    h = -(0.25 * np.log(0.25) + 0.75 * np.log(0.75))
    np.testing.assert_allclose(entropy, [np.log(2) / 2, 0.25 * h + 0.75 * np.log(2)], rtol=1e-14)
    np.testing.assert_allclose(expected_value(Fake(log_policy, marginals, v)), [2.0, 5.0, 2.0])


def test_expected_entropy_of_the_prior_is_log_actions(rng):
    """No reward: the posterior policy is the uniform prior at every step."""
    transitions, _, initial, _ = random_mdp(rng, 4, 3)
    post = tab.infer(TabularMDP(transitions, np.zeros((4, 3)), initial), 6, 1.0)
    np.testing.assert_allclose(expected_entropy(post), np.log(3), rtol=1e-12)
    np.testing.assert_allclose(expected_value(post), 0.0, atol=1e-12)


def test_sample_policy_frequencies_match_the_policy(rng):
    transitions, reward, initial, _ = random_mdp(rng, 3, 2, forbid=False)
    mdp = TabularMDP(transitions, reward, initial)
    policy = random_policy(rng, (3, 2))
    horizon, num = 4, 40_000
    states, actions = sample_policy(mdp, np.log(policy), jax.random.key(3), num, horizon)
    assert states.shape == (num, horizon + 1) and actions.shape == (num, horizon)
    states, actions = np.asarray(states), np.asarray(actions)
    p = initial
    for t in range(horizon):
        joint = p[:, None] * policy  # p(s_t = s, a_t = a)
        freq = np.zeros((3, 2))
        np.add.at(freq, (states[:, t], actions[:, t]), 1.0 / num)
        np.testing.assert_allclose(freq, joint, atol=4 * np.sqrt(0.25 / num))
        p = np.einsum("sa,sat->t", joint, transitions)
    # the action frequencies given the state are the policy (negative control: not uniform)
    for s in range(3):
        taken = actions[states[:, :-1] == s]
        assert abs(np.mean(taken) - policy[s, 1]) < 5 * np.sqrt(0.25 / taken.size)
    assert np.max(np.abs(policy[:, 1] - 0.5)) > 0.05


@pytest.mark.parametrize("sparse", [False, True])
def test_sample_policy_is_sample_of_a_variational_posterior(rng, sparse):
    """The same key and policy give the same trajectories as `sample` (variational: the true
    start distribution and dynamics)."""
    transitions, reward, initial, prior = random_mdp(rng, 4, 3, sparse_k=2 if sparse else None)
    model = Successors(*to_successors(transitions)) if sparse else transitions
    mdp = TabularMDP(model, reward, initial, prior)
    post = tab.infer(mdp, 6, 0.5, "variational")
    key = jax.random.key(11)
    expected = tab.sample(post, key, 50)
    got = sample_policy(mdp, post.log_policy, key, 50, 6)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])


def test_sample_policy_checks_its_arguments(rng):
    transitions, reward, initial, _ = random_mdp(rng, 3, 2, forbid=False)
    mdp = TabularMDP(transitions, reward, initial)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="num"):
        sample_policy(mdp, np.zeros((3, 2)), key, 0, 3)
    with pytest.raises(ValueError, match="log_policy must have shape"):
        sample_policy(mdp, np.zeros((4, 3, 2)), key, 5, 3)
