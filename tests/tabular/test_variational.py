"""Variational inference (soft Bellman backup), soft value iteration and the hard limit."""

import warnings

import jax.numpy as jnp
import numpy as np
import pytest

import control_as_inference as cai

from .oracles import hard_value_iteration, maxent_objective, random_mdp
from .test_exact import build


@pytest.mark.parametrize("discount", [1.0, 0.85])
@pytest.mark.parametrize("time_varying", [False, True], ids=["stationary", "time-varying"])
def test_value_is_the_maxent_objective_of_its_policy(rng, discount, time_varying):
    horizon, temperature = 4, 0.7
    model = random_mdp(rng, num_states=4, num_actions=3, horizon=horizon if time_varying else None)
    terminal = rng.normal(size=4)
    post = cai.infer(
        build(*model), horizon, temperature, "variational", discount, terminal_value=terminal
    )
    policy = np.asarray(post.policy)
    objective = maxent_objective(*model, policy, temperature, discount, terminal)
    np.testing.assert_allclose(model[2] @ np.asarray(post.v[0]), objective, rtol=1e-12)
    np.testing.assert_allclose(post.log_evidence, objective / temperature, rtol=1e-12)

    # no perturbation of the policy does better (including the exact posterior's policy)
    exact = cai.infer(build(*model), horizon, temperature, "exact", discount, terminal)
    candidates = [np.asarray(exact.policy)]
    for scale in (1e-3, 0.1, 1.0):
        logits = np.log(np.maximum(policy, 1e-300)) + scale * rng.normal(size=policy.shape)
        logits = np.where(policy > 0, logits, -np.inf)
        p = np.exp(logits - logits.max(-1, keepdims=True))
        candidates.append(p / p.sum(-1, keepdims=True))
    for other in candidates:
        assert maxent_objective(*model, other, temperature, discount, terminal) <= objective + 1e-12
    # the negative control: the exact policy is a strictly worse variational solution here
    assert (
        maxent_objective(*model, candidates[0], temperature, discount, terminal) < objective - 1e-6
    )


def test_bound_is_below_exact_evidence(rng):
    for _ in range(5):
        model = random_mdp(rng, num_states=5, num_actions=3)
        mdp = build(*model)
        for temperature in (0.1, 1.0, 10.0):
            exact = cai.infer(mdp, 6, temperature, "exact").log_evidence
            bound = cai.infer(mdp, 6, temperature, "variational").log_evidence
            assert bound <= exact + 1e-12


def test_exact_equals_variational_under_deterministic_dynamics(rng):
    s, a = 5, 3
    transitions = np.eye(s)[rng.integers(0, s, size=(s, a))]
    _, reward, initial, prior = random_mdp(rng, num_states=s, num_actions=a)
    initial = np.eye(s)[2]  # the evidence gap also needs a deterministic start
    mdp = cai.TabularMDP(transitions, reward, initial, prior)
    exact = cai.infer(mdp, 7, 0.5, "exact")
    var = cai.infer(mdp, 7, 0.5, "variational")
    np.testing.assert_allclose(exact.q, var.q, atol=1e-12)
    np.testing.assert_allclose(exact.log_evidence, var.log_evidence, rtol=1e-12)
    np.testing.assert_allclose(exact.state_marginals, var.state_marginals, atol=1e-12)
    # a discount makes the dynamics stochastic (absorption), and the two part
    exact = cai.infer(mdp, 7, 0.5, "exact", discount=0.9)
    var = cai.infer(mdp, 7, 0.5, "variational", discount=0.9)
    assert var.log_evidence < exact.log_evidence - 1e-6


def test_small_temperature_is_hard_value_iteration(rng):
    model = random_mdp(rng, num_states=6, num_actions=3, forbid=False)
    transitions, reward, _, _ = model
    horizon = 8
    uniform = cai.TabularMDP(transitions, reward)
    post = cai.infer(uniform, horizon, 1e-6, "variational")
    hard = hard_value_iteration(transitions, reward, horizon)
    # alpha log(1/A) per step is the most the soft values can lose against the hard ones
    assert np.all(post.v[0] <= hard + 1e-9)
    assert np.all(post.v[0] >= hard - 1e-6 * horizon * np.log(3) - 1e-9)


def test_small_temperature_matches_pymdptoolbox(rng):
    mdptoolbox = pytest.importorskip("mdptoolbox.mdp")
    transitions, reward, _, _ = random_mdp(rng, num_states=6, num_actions=3, forbid=False)
    horizon, discount = 10, 0.9
    peer = mdptoolbox.FiniteHorizon(np.transpose(transitions, (1, 0, 2)), reward, discount, horizon)
    peer.run()
    post = cai.infer(cai.TabularMDP(transitions, reward), horizon, 1e-7, "variational", discount)
    np.testing.assert_allclose(post.v[0], peer.V[:, 0], atol=1e-5)
    np.testing.assert_array_equal(np.argmax(post.q, axis=-1), peer.policy.T)

    # policy iteration evaluates its policy exactly (a linear solve)
    pi = mdptoolbox.PolicyIteration(np.transpose(transitions, (1, 0, 2)), reward, discount)
    pi.run()
    sol = cai.soft_value_iteration(cai.TabularMDP(transitions, reward), 1e-7, discount)
    np.testing.assert_allclose(sol.v, pi.V, atol=1e-5)
    np.testing.assert_array_equal(np.argmax(sol.q, axis=-1), pi.policy)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "successors"])
def test_long_discounted_horizon_converges_to_soft_value_iteration(rng, sparse):
    model = random_mdp(rng, num_states=5, num_actions=3)
    mdp = build(*model, sparse=sparse, rng=rng)
    sol = cai.soft_value_iteration(mdp, 0.5, 0.9)
    assert bool(sol.converged) and int(sol.iterations) < 10_000
    post = cai.infer(mdp, 400, 0.5, "variational", 0.9)
    np.testing.assert_allclose(post.v[0], sol.v, atol=1e-10)
    np.testing.assert_allclose(post.q[0], sol.q, atol=1e-10)
    finite = np.isfinite(sol.log_policy)
    np.testing.assert_allclose(post.log_policy[0][finite], sol.log_policy[finite], atol=1e-10)
    # the fixed point really is one: one more backup changes nothing
    q = np.asarray(mdp.reward) + 0.9 * np.einsum("sat,t->sa", model[0], np.asarray(sol.v))
    with np.errstate(divide="ignore"):
        v = 0.5 * np.log(np.sum(model[3] * np.exp(q / 0.5), axis=1))
    np.testing.assert_allclose(v, sol.v, atol=1e-10)


def test_soft_value_iteration_float32(rng):
    model = random_mdp(rng, num_states=5, num_actions=3)
    sol32 = cai.soft_value_iteration(build(*model, dtype=np.float32), 0.5, 0.9)
    sol64 = cai.soft_value_iteration(build(*model), 0.5, 0.9)
    assert sol32.v.dtype == jnp.float32 and bool(sol32.converged)
    np.testing.assert_allclose(sol32.v, sol64.v, rtol=1e-4)


def test_soft_value_iteration_warns_when_it_cannot_converge(rng):
    transitions, _, _, _ = random_mdp(rng)
    mdp = cai.TabularMDP(transitions, np.ones((3, 2)))  # discount 1, positive rewards: V grows
    with pytest.warns(cai.ConvergenceWarning, match="did not converge"):
        sol = cai.soft_value_iteration(mdp, 1.0, 1.0, max_iterations=200)
    assert not bool(sol.converged) and int(sol.iterations) == 200


def test_soft_value_iteration_converges_with_absorbing_state_and_no_discount():
    # a chain 0 -> 1 -> 2 (absorbing, reward 0), step cost -1
    t = np.zeros((3, 1, 3))
    t[0, 0, 1] = t[1, 0, 2] = t[2, 0, 2] = 1.0
    mdp = cai.TabularMDP(t, np.array([[-1.0], [-1.0], [0.0]]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sol = cai.soft_value_iteration(mdp, 1.0, 1.0)
    np.testing.assert_allclose(sol.v, [-2.0, -1.0, 0.0], atol=1e-12)
