"""Tabular MPO with exact Q: the E-step against its closed form, the KL bound met on each step,
convergence to the hard optimum (alpha = 0, pymdptoolbox as peer) and to soft value iteration's
policy (alpha > 0), faster as the bound loosens."""

from __future__ import annotations

import numpy as np
import pytest

import control_as_inference as cai
from control_as_inference import policy_search as ps

from . import oracles

DISCOUNT = 0.9


@pytest.fixture(scope="module")
def problem():
    transitions, reward, initial = oracles.random_mdp(np.random.default_rng(11))
    return transitions, reward, initial, cai.TabularMDP(transitions, reward, initial)


def test_soft_policy_evaluation_matches_the_linear_solve_and_soft_value_iteration(problem, rng):
    transitions, reward, _initial, mdp = problem
    policy = rng.dirichlet(np.ones(3), size=7)
    penalty = 0.5 * (np.log(policy) - np.log(1 / 3))
    q, v = ps.soft_policy_evaluation(mdp, np.log(policy), DISCOUNT, 0.5)
    q_ref, v_ref = oracles.evaluate(transitions, reward, policy, DISCOUNT, penalty)
    np.testing.assert_allclose(v, v_ref, rtol=1e-11)
    np.testing.assert_allclose(q, q_ref, rtol=1e-11)
    # soft value iteration's Q is the soft Q of its own policy
    soft = cai.soft_value_iteration(mdp, 0.5, DISCOUNT)
    q_soft, v_soft = ps.soft_policy_evaluation(mdp, soft.log_policy, DISCOUNT, 0.5)
    np.testing.assert_allclose(q_soft, soft.q, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(v_soft, soft.v, rtol=1e-10, atol=1e-10)


def test_one_step_is_the_closed_form_e_step_at_the_bound(problem):
    transitions, reward, _initial, mdp = problem
    result = ps.tabular_mpo(mdp, DISCOUNT, epsilon=0.05, iterations=1)
    eta = float(result.eta[0])
    q, _ = oracles.evaluate(transitions, reward, np.full((7, 3), 1 / 3), DISCOUNT)
    closed = np.exp(q / eta)  # pi_0 uniform: q(a|s) ∝ exp(Q^pi0(s, a) / eta)
    closed /= closed.sum(-1, keepdims=True)
    np.testing.assert_allclose(np.exp(result.log_policy), closed, rtol=1e-10)
    kl = np.mean(np.sum(closed * np.log(3 * closed), axis=-1))
    assert bool(result.active[0]) and abs(kl - 0.05) < 1e-6


def test_plain_mpo_meets_the_bound_and_reaches_the_hard_optimum(problem):
    mdptoolbox = pytest.importorskip("mdptoolbox.mdp")
    transitions, reward, initial, mdp = problem
    peer = mdptoolbox.PolicyIteration(np.transpose(transitions, (1, 0, 2)), reward, DISCOUNT)
    peer.run()
    optimum = initial @ np.asarray(peer.V)
    needed = []
    for epsilon in (0.02, 0.2, 1.0, 2.0):  # log 3 = 1.1: 2.0 cannot bind on the first step
        result = ps.tabular_mpo(mdp, DISCOUNT, epsilon=epsilon, iterations=60)
        kl, active, values = map(np.asarray, (result.kl, result.active, result.values))
        assert np.all(np.abs(kl[active] - epsilon) < 1e-6) and np.all(kl <= epsilon + 1e-9)
        assert np.all(np.diff(values) >= -1e-10)  # monotone improvement
        np.testing.assert_array_equal(np.argmax(result.log_policy, axis=1), peer.policy)
        np.testing.assert_allclose(values[-1], optimum, rtol=1e-9)
        needed.append(int(np.argmax(values > optimum - 1e-6)))
    # a looser bound needs fewer iterations while it binds; beyond log A the first step is a
    # near-greedy jump at the floor min_eta, which can land on a worse policy (slower again)
    assert needed[0] > needed[1] > needed[2]
    assert needed[3] > needed[2]


@pytest.mark.slow  # about 4 s of CPU: eight runs of up to 80 iterations
def test_with_an_entropy_weight_it_converges_to_soft_value_iterations_policy(problem):
    *_, mdp = problem
    soft = cai.soft_value_iteration(mdp, 0.5, DISCOUNT)
    errors = []
    for epsilon in (0.02, 0.2, 1000.0):
        result = ps.tabular_mpo(mdp, DISCOUNT, epsilon=epsilon, temperature=0.5, iterations=80)
        np.testing.assert_allclose(np.exp(result.log_policy), soft.policy, atol=1e-9)
        short = ps.tabular_mpo(mdp, DISCOUNT, epsilon=epsilon, temperature=0.5, iterations=3)
        errors.append(np.max(np.abs(np.exp(short.log_policy) - soft.policy)))
        assert np.all(np.diff(np.asarray(result.values)) >= -1e-10)  # soft values improve
    assert errors[0] > errors[1] > errors[2]  # faster as the bound loosens
    # negative control: plain MPO (no entropy weight) is not the soft policy
    plain = ps.tabular_mpo(mdp, DISCOUNT, epsilon=0.2, iterations=80)
    assert np.max(np.abs(np.exp(plain.log_policy) - soft.policy)) > 0.05


def test_a_fixed_eta_is_mirror_ascent_from_the_prior(problem):
    transitions, reward, _initial, mdp = problem
    result = ps.tabular_mpo(mdp, DISCOUNT, eta=2.0, iterations=3)
    log_pi = np.full((7, 3), -np.log(3))
    for _ in range(3):  # pi_{k+1} ∝ pi_k exp(Q^{pi_k} / eta)
        q, _ = oracles.evaluate(transitions, reward, np.exp(log_pi), DISCOUNT)
        log_pi = log_pi + q / 2.0
        log_pi -= np.log(np.sum(np.exp(log_pi), axis=-1, keepdims=True))
    np.testing.assert_allclose(result.log_policy, log_pi, rtol=1e-10)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epsilon": 0.0}, "epsilon"),
        ({"epsilon": 0.1, "eta": 1.0}, "not both"),
        ({"eta": -1.0}, "eta"),
        ({"temperature": -1.0}, "temperature"),
        ({"discount": 1.0}, "discount"),
    ],
)
def test_bad_settings_are_named(problem, kwargs, message):
    kwargs = {"discount": DISCOUNT, **kwargs}
    with pytest.raises(ValueError, match=message):
        ps.tabular_mpo(problem[3], **kwargs)
