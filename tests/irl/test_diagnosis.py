"""MaxEnt IRL says when it fails (issue 16, part 3): demonstrations that no finite reward fits are
detected and explained, non-convergence warns, the reported log-likelihood is one, the default
tolerance is reachable, and the gradient for demonstrations of different lengths is stated
exactly. Oracles are numpy: hard value iteration, sums of log-probabilities, one `infer` per
start or end state."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import control_as_inference as cai

from .test_maxent import random_demos, tiny

HORIZON = 10


def readme_mdp():
    """The README's first block: 4 states, 2 actions, a reward outside the features' span."""
    rng = np.random.default_rng(0)
    mdp = cai.TabularMDP(rng.dirichlet(np.ones(4), size=(4, 2)), rng.normal(size=(4, 2)))
    return mdp, rng.normal(size=(4, 3))


@pytest.fixture(scope="module")
def optimistic_demos():
    """The issue's demonstrations: samples of the exact posterior (optimistic transitions)."""
    mdp, _ = readme_mdp()
    post = cai.infer(mdp, horizon=HORIZON, temperature=0.5, method="exact")
    return cai.sample(post, jax.random.key(0), 100)


def consistent_problem(dtype=np.float64, num=500):
    """A reward in the span of state-action features and demonstrations of its variational
    posterior: the maximum-likelihood reward exists (the README's IRL block)."""
    rng = np.random.default_rng(0)
    transitions = rng.dirichlet(np.ones(4), size=(4, 2)).astype(dtype)
    features = rng.normal(size=(4, 2, 3)).astype(dtype)
    mdp = cai.TabularMDP(transitions, features @ np.array([1.0, -0.5, 0.25], dtype))
    expert = cai.infer(mdp, horizon=HORIZON, method="variational")
    return mdp, features, cai.sample(expert, jax.random.key(0), num)


def hard_best(transitions, reward, starts, horizon):
    """numpy: max over policies of E[sum_t r] from each start, in the true dynamics."""
    v = np.zeros(reward.shape[0])
    for _ in range(horizon):
        v = np.max(reward + transitions @ v, axis=1)
    return v[starts]


def demo_log_likelihood(log_policy, transitions, states, actions):
    """numpy: mean_i sum_t log pi_t(a_t|s_t) + log T(s_t+1|s_t,a_t), full-length demos."""
    states, actions = np.asarray(states), np.asarray(actions)
    t = np.arange(actions.shape[1])[None, :]
    log_pi = np.asarray(log_policy)[t, states[:, :-1], actions]
    log_t = np.log(np.asarray(transitions)[states[:, :-1], actions, states[:, 1:]])
    return np.mean(np.sum(log_pi + log_t, axis=1))


# ----------------------------------------------------------------------------- no finite reward


def test_optimistic_demonstrations_stop_with_an_explanation(optimistic_demos):
    """The issue's repro: before, 500 iterations, weights ~1e5, `log_likelihood` +7e5, silence.
    Now: a ConvergenceWarning that names the cause and the options, early, and a numpy oracle
    confirms that no policy in the true dynamics collects what the demonstrations collect along
    the fitted reward (so the objective really is unbounded)."""
    mdp, features = readme_mdp()
    states, actions = optimistic_demos
    with pytest.warns(cai.ConvergenceWarning, match="grows without bound") as record:
        fit = cai.maxent_irl(mdp, features, (states, actions), horizon=HORIZON)
    message = str(record[0].message)
    for part in ("no finite reward fits", "method='exact'", "regularization > 0", "collect"):
        assert part in message, message
    assert fit.unbounded and not fit.converged and fit.iterations <= 20
    r = np.asarray(fit.reward) / np.max(np.abs(np.asarray(fit.reward)))
    demonstrated = np.mean(np.sum(r[np.asarray(states[:, :-1]), np.asarray(actions)], axis=1))
    best = np.mean(hard_best(np.asarray(mdp.transitions), r, np.asarray(states[:, 0]), HORIZON))
    assert demonstrated > best + 0.1
    assert f"{demonstrated:.4g}" in message and f"{best:.4g}" in message
    # the objective is not a log-likelihood (positive here); log_likelihood is one
    assert fit.objective[-1] > 0
    assert np.all(fit.log_likelihood <= 0)
    expected = demo_log_likelihood(fit.solution.log_policy, mdp.transitions, states, actions)
    np.testing.assert_allclose(fit.log_likelihood[-1], expected, rtol=1e-9)


@pytest.mark.parametrize("options", [dict(method="exact"), dict(regularization=0.01)])
def test_the_options_the_warning_names_fit_the_same_demonstrations(optimistic_demos, options):
    mdp, features = readme_mdp()
    with warnings.catch_warnings():
        warnings.simplefilter("error", cai.ConvergenceWarning)
        fit = cai.maxent_irl(mdp, features, optimistic_demos, horizon=HORIZON, **options)
    assert fit.converged and not fit.unbounded
    assert np.all(fit.log_likelihood <= 0)


def test_unbounded_growth_is_found_in_the_infinite_horizon_too(optimistic_demos):
    mdp, features = readme_mdp()
    with pytest.warns(cai.ConvergenceWarning, match="grows without bound"):
        fit = cai.maxent_irl(mdp, features, optimistic_demos, horizon=None, discount=0.9)
    assert fit.unbounded and fit.iterations <= 20


# ----------------------------------------------------------------------------- convergence


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_default_tolerance_is_reached_on_consistent_demonstrations(dtype):
    """Before, float32 fits stalled above tol=1e-6 (e.g. at 3.7e-6) and reported converged=False;
    the default now scales with the precision and the feature counts."""
    mdp, features, demos = consistent_problem(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error", cai.ConvergenceWarning)
        fit = cai.maxent_irl(mdp, features, demos, horizon=HORIZON)
    assert fit.converged and fit.optimality[-1] < fit.tol
    counts = np.asarray(cai.feature_expectations(demos, features))
    eps = np.finfo(dtype).eps
    assert fit.tol == pytest.approx(3 * np.sqrt(eps) * (1 + np.max(np.abs(counts))), rel=1e-5)
    if dtype == np.float64:
        assert fit.tol < 1e-6


def test_the_old_default_is_out_of_reach_in_float32():
    """The negative control of the test above: tol=1e-6, the old default, stalls in float32."""
    mdp, features, demos = consistent_problem(np.float32)
    with pytest.warns(cai.ConvergenceWarning, match="did not converge in 40 iterations"):
        fit = cai.maxent_irl(mdp, features, demos, horizon=HORIZON, tol=1e-6, max_iterations=40)
    assert not fit.converged and np.min(fit.optimality) > 1e-6


def test_running_out_of_iterations_warns():
    mdp, features, demos = consistent_problem()
    with pytest.warns(cai.ConvergenceWarning, match="did not converge in 2 iterations"):
        fit = cai.maxent_irl(mdp, features, demos, horizon=HORIZON, max_iterations=2)
    assert not fit.converged and not fit.unbounded and fit.iterations == 2


# ----------------------------------------------------------------------------- log-likelihood


def test_log_likelihood_history_matches_the_returned_reward():
    """The last entry describes the returned reward: an independent numpy sum of log pi + log T
    over the demonstrations (negative control: the objective differs from it)."""
    mdp, features, (states, actions) = consistent_problem(num=300)
    fit = cai.maxent_irl(mdp, features, (states, actions), horizon=HORIZON)
    expected = demo_log_likelihood(fit.solution.log_policy, mdp.transitions, states, actions)
    np.testing.assert_allclose(fit.log_likelihood[-1], expected, rtol=1e-9)
    assert abs(fit.objective[-1] - expected) > 1.0
    ours = cai.maxent_log_likelihood(fit.reward, mdp, (states, actions), HORIZON)
    np.testing.assert_allclose(float(ours), expected, rtol=1e-9)


@pytest.mark.parametrize("sparse", [False, True])
def test_log_likelihood_of_an_impossible_transition_is_minus_infinity(sparse):
    transitions = np.array([[[1.0, 0.0], [0.5, 0.5]], [[0.0, 1.0], [1.0, 0.0]]])
    if sparse:  # the same dynamics as successor lists, with zero-probability entries
        index = np.array([[[0, 1], [0, 1]], [[1, 0], [0, 1]]])
        prob = np.array([[[1.0, 0.0], [0.5, 0.5]], [[1.0, 0.0], [1.0, 0.0]]])
        transitions = cai.Successors(index, prob)
    mdp = cai.TabularMDP(transitions, np.zeros((2, 2)))
    reward = jnp.zeros((2, 2))
    possible = (np.array([[0, 1, 1]]), np.array([[1, 0]]))  # probabilities 0.5 and 1
    ok = float(cai.maxent_log_likelihood(reward, mdp, possible, 2))
    np.testing.assert_allclose(ok, np.log(0.5) + 2 * np.log(0.5), rtol=1e-12)
    impossible = (np.array([[0, 1, 0]]), np.array([[0, 0]]))  # T(1 | 0, a0) = 0
    assert float(cai.maxent_log_likelihood(reward, mdp, impossible, 2)) == -np.inf


def test_log_likelihood_refuses_an_occupancy():
    mdp, *_ = tiny(np.random.default_rng(0))
    with pytest.raises(ValueError, match="occupancy"):
        cai.maxent_log_likelihood(mdp.reward, mdp, np.ones((3, 2)) / 6, 3)


# ----------------------------------------------------------------------------- ragged gradient


def expected_counts(mdp, start, horizon, temperature, method):
    """sum_t p(s_t, a_t | s_0 = start, e) over a horizon (one `infer`); zero for horizon 0."""
    if horizon == 0:
        return np.zeros((mdp.num_states, mdp.num_actions))
    one_hot = np.zeros(mdp.num_states)
    one_hot[start] = 1.0
    m = cai.TabularMDP(mdp.transitions, mdp.reward, one_hot, mdp.action_prior)
    post = cai.infer(m, horizon, temperature, method)
    return np.sum(np.asarray(post.state_action_marginals), axis=0)


@pytest.mark.parametrize("method", ["variational", "exact"])
def test_ragged_gradient_counts_the_expected_features_after_each_end(rng, method):
    """alpha dl/dr = demonstrated counts - sum_i (expected counts over the whole horizon from
    s_0^i - expected counts of the remaining H - T_i steps from s_T_i^i) / N; negative control:
    "expected counts up to the demonstrations' lengths" is not the gradient."""
    horizon, temperature = 4, 0.8
    mdp, *_ = tiny(rng)
    demos = random_demos(rng, 8, horizon)
    assert np.any(np.asarray(demos.lengths) < horizon)
    grad = temperature * jax.grad(cai.irl.maxent_objective)(
        mdp.reward, mdp, demos, horizon, temperature, method=method
    )
    states, actions = np.asarray(demos.states), np.asarray(demos.actions)
    lengths = np.asarray(demos.lengths)
    demonstrated = np.zeros((3, 2))
    up_to_length = np.zeros((3, 2))
    exact = np.zeros((3, 2))
    for i, length in enumerate(lengths):
        np.add.at(demonstrated, (states[i, :length], actions[i, :length]), 1 / demos.num)
        whole = expected_counts(mdp, states[i, 0], horizon, temperature, method)
        after = expected_counts(mdp, states[i, length], horizon - length, temperature, method)
        exact += (whole - after) / demos.num
        one_hot = np.zeros(3)
        one_hot[states[i, 0]] = 1.0
        m = cai.TabularMDP(mdp.transitions, mdp.reward, one_hot, mdp.action_prior)
        marginals = np.asarray(cai.infer(m, horizon, temperature, method).state_action_marginals)
        up_to_length += np.sum(marginals[:length], axis=0) / demos.num
    np.testing.assert_allclose(grad, demonstrated - exact, atol=1e-10)
    assert np.max(np.abs(grad - (demonstrated - up_to_length))) > 1e-3
