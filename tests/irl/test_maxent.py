"""MaxEnt IRL against independent answers: brute-force enumeration of the posterior, a numpy
linear solve for the infinite-horizon occupancy, finite differences, and recovery of a known
reward from its own demonstrations."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.test_util import check_grads
from scipy.special import logsumexp

import control_as_inference as cai
from control_as_inference.envs.gridworld import builtin
from control_as_inference.irl import LinearReward, reward_table

from ..tabular.oracles import enumerate_posterior, random_mdp, to_successors


def tiny(rng, sparse=False):
    transitions, _, initial, prior = random_mdp(rng, 3, 2, forbid=False)
    reward = rng.normal(size=(3, 2))
    if sparse:
        successors = cai.Successors(*to_successors(transitions, rng=rng))
        mdp = cai.TabularMDP(successors, reward, initial, prior)
    else:
        mdp = cai.TabularMDP(transitions, reward, initial, prior)
    return mdp, transitions, reward, initial, prior


def random_demos(rng, num, horizon, num_states=3, num_actions=2, variable=True):
    lengths = rng.integers(1, horizon + 1, size=num) if variable else np.full(num, horizon)
    states = rng.integers(0, num_states, size=(num, horizon + 1))
    actions = rng.integers(0, num_actions, size=(num, horizon))
    return cai.as_demonstrations(states, actions, lengths)


# ----------------------------------------------------------------------------- the objective


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_exact_objective_is_the_posterior_log_likelihood_of_prefixes(rng, temperature):
    """Exact, discount 1: l_i + sum_t log T(s_t+1|s_t,a_t) = log p(s_1:T, a_0:T-1 | s_0, e) for
    prefixes of any length T <= H, by enumerating every trajectory; maxent_log_likelihood is that
    log-likelihood."""
    horizon = 3
    mdp, transitions, reward, initial, prior = tiny(rng)
    states, actions, log_w = enumerate_posterior(
        transitions, reward, initial, prior, horizon, temperature
    )
    demos = random_demos(rng, 6, horizon)
    for i in range(demos.num):
        length = int(demos.lengths[i])
        s = np.asarray(demos.states[i, : length + 1])
        a = np.asarray(demos.actions[i, :length])
        same_start = states[:, 0] == s[0]
        prefix = same_start & np.all(states[:, : length + 1] == s, axis=1)
        prefix &= np.all(actions[:, :length] == a, axis=1)
        expected = logsumexp(log_w[prefix]) - logsumexp(log_w[same_start])
        one = cai.as_demonstrations(s[None], a[None])
        ours = cai.irl.maxent_objective(reward, mdp, one, horizon, temperature, method="exact")
        dynamics = sum(np.log(transitions[s[t], a[t], s[t + 1]]) for t in range(length))
        np.testing.assert_allclose(float(ours) + dynamics, expected, rtol=1e-10)
        likelihood = cai.maxent_log_likelihood(
            reward, mdp, one, horizon, temperature, method="exact"
        )
        np.testing.assert_allclose(float(likelihood), expected, rtol=1e-10)


@pytest.mark.parametrize("horizon", [4, None])
def test_variational_objective_is_the_policy_log_likelihood_under_deterministic_dynamics(
    rng, horizon
):
    s, a = 5, 3
    transitions = np.zeros((s, a, s))
    transitions[np.arange(s)[:, None], np.arange(a)[None, :], rng.integers(0, s, (s, a))] = 1
    reward = rng.normal(size=(s, a))
    prior = rng.dirichlet(np.ones(a), size=s)
    mdp = cai.TabularMDP(transitions, reward, action_prior=prior)
    discount = 0.8 if horizon is None else 0.9
    n, t_max = 7, 4
    lengths = rng.integers(1, t_max + 1, size=n)
    states = np.zeros((n, t_max + 1), dtype=int)
    states[:, 0] = rng.integers(0, s, size=n)
    actions = rng.integers(0, a, size=(n, t_max))
    for t in range(t_max):
        states[:, t + 1] = np.argmax(transitions[states[:, t], actions[:, t]], axis=-1)
    demos = cai.as_demonstrations(states, actions, lengths)
    ours = cai.irl.maxent_objective(reward, mdp, demos, horizon, temperature=0.5, discount=discount)
    if horizon is None:
        log_pi = cai.soft_value_iteration(mdp, 0.5, discount).log_policy
        per_step = np.asarray(log_pi)[states[:, :-1], actions]
    else:
        log_pi = cai.infer(mdp, horizon, 0.5, "variational", discount).log_policy
        per_step = np.asarray(log_pi)[np.arange(t_max)[None, :], states[:, :-1], actions]
    weights = discount ** np.arange(t_max)[None, :] * (np.arange(t_max)[None, :] < lengths[:, None])
    np.testing.assert_allclose(float(ours), np.mean(np.sum(weights * per_step, axis=1)), rtol=1e-9)
    # the public per-demonstration likelihood (undiscounted) agrees when discount is 1
    undiscounted = cai.policy_log_likelihood(log_pi, demos)
    mask = np.arange(t_max)[None, :] < lengths[:, None]
    np.testing.assert_allclose(undiscounted, np.sum(mask * per_step, axis=1), rtol=1e-12)
    # and is the log-likelihood (log T = 0 on these deterministic transitions)
    likelihood = cai.maxent_log_likelihood(reward, mdp, demos, horizon, 0.5, discount)
    np.testing.assert_allclose(float(likelihood), np.mean(undiscounted), rtol=1e-9)


# ----------------------------------------------------------------------------- the gradient


def expected_counts_from_starts(mdp, horizon, temperature, method, starts, weights):
    """sum_i w_i E[sum_t p(s_t, a_t | s_0 = starts_i, e)] by one `infer` per start state."""
    total = 0.0
    for s0, w in zip(starts, weights, strict=True):
        one_hot = np.zeros(mdp.num_states)
        one_hot[s0] = 1.0
        m = cai.TabularMDP(mdp.transitions, mdp.reward, one_hot, mdp.action_prior)
        post = cai.infer(m, horizon, temperature, method)
        total = total + w * np.sum(np.asarray(post.state_action_marginals), axis=0)
    return total


@pytest.mark.parametrize("method", ["exact", "variational"])
@pytest.mark.parametrize("sparse", [False, True])
def test_gradient_is_demonstrated_minus_expected_counts(rng, method, sparse):
    horizon, temperature = 4, 0.8
    mdp, *_ = tiny(rng, sparse)
    demos = random_demos(rng, 9, horizon, variable=False)
    features = rng.normal(size=(3, 2, 4))
    theta = jnp.asarray(rng.normal(size=4))

    def objective(theta):
        r = jnp.einsum("saf,f->sa", features, theta)
        return cai.irl.maxent_objective(r, mdp, demos, horizon, temperature, method=method)

    starts, counts = np.unique(np.asarray(demos.states[:, 0]), return_counts=True)
    m = cai.TabularMDP(mdp.transitions, features @ np.asarray(theta), None, mdp.action_prior)
    expected = expected_counts_from_starts(
        m, horizon, temperature, method, starts, counts / demos.num
    )
    demo_features = cai.feature_expectations(demos, features)
    gap = demo_features - cai.feature_expectations(expected, features)
    np.testing.assert_allclose(temperature * jax.grad(objective)(theta), gap, atol=1e-10)
    check_grads(objective, (theta,), order=1, modes=("rev",))


def test_gradient_negative_control_wrong_expectation(rng):
    """The identity is sharp: under stochastic dynamics the variational gradient does not equal
    the exact posterior's counts (a deliberately wrong expectation), nor does the exact one equal
    the variational counts."""
    horizon, temperature = 4, 0.8
    mdp, *_ = tiny(rng)
    demos = random_demos(rng, 9, horizon, variable=False)
    starts, counts = np.unique(np.asarray(demos.states[:, 0]), return_counts=True)
    grads = {
        method: temperature
        * jax.grad(cai.irl.maxent_objective)(
            mdp.reward, mdp, demos, horizon, temperature, method=method
        )
        for method in ("exact", "variational")
    }
    demo_counts = np.zeros((3, 2))
    np.add.at(demo_counts, (np.asarray(demos.states[:, :-1]), np.asarray(demos.actions)), 1)
    demo_counts /= demos.num
    for method, other in (("exact", "variational"), ("variational", "exact")):
        wrong = demo_counts - expected_counts_from_starts(
            mdp, horizon, temperature, other, starts, counts / demos.num
        )
        right = demo_counts - expected_counts_from_starts(
            mdp, horizon, temperature, method, starts, counts / demos.num
        )
        np.testing.assert_allclose(grads[method], right, atol=1e-10)
        assert np.max(np.abs(grads[method] - wrong)) > 1e-3


def numpy_soft_value_iteration(transitions, reward, prior, temperature, discount, iterations):
    v = np.zeros(reward.shape[0])
    for _ in range(iterations):
        q = reward + discount * transitions @ v
        v = temperature * logsumexp(q / temperature, b=prior, axis=1)
    q = reward + discount * transitions @ v
    return v, prior * np.exp((q - v[:, None]) / temperature)


def test_infinite_horizon_gradient_is_the_discounted_occupancy_gap(rng):
    """Implicit gradient of the soft Bellman fixed point: alpha dl/dr(s, a) = demonstrated counts
    - d(s) pi(a|s), where d solves (I - gamma P_pi^T) d = starts - sum_i gamma^T_i e_{s_T_i}
    (a numpy linear solve)."""
    temperature, discount = 0.6, 0.85
    mdp, transitions, reward, _, prior = tiny(rng)
    demos = random_demos(rng, 8, 5)
    _, pi = numpy_soft_value_iteration(transitions, reward, prior, temperature, discount, 3000)
    p_pi = np.einsum("sa,sat->st", pi, transitions)
    states, lengths = np.asarray(demos.states), np.asarray(demos.lengths)
    w = np.zeros(3)
    np.add.at(w, states[:, 0], 1.0 / demos.num)
    np.add.at(w, states[np.arange(demos.num), lengths], -(discount**lengths) / demos.num)
    d = np.linalg.solve(np.eye(3) - discount * p_pi.T, w)
    demo_counts = np.zeros((3, 2))
    mask = np.arange(demos.max_length)[None, :] < lengths[:, None]
    np.add.at(
        demo_counts,
        (states[:, :-1], np.asarray(demos.actions)),
        mask * discount ** np.arange(demos.max_length)[None, :] / demos.num,
    )
    expected = demo_counts - d[:, None] * pi

    def objective(r):
        return cai.irl.maxent_objective(r, mdp, demos, None, temperature, discount)

    r = jnp.asarray(reward)
    np.testing.assert_allclose(temperature * jax.grad(objective)(r), expected, atol=1e-9)
    check_grads(objective, (r,), order=1, modes=("rev",), atol=1e-5, rtol=1e-5)


# ----------------------------------------------------------------------------- recovery


def gridworld_problem(rng, state_action=False, num_features=5):
    mdp = builtin("four-rooms").mdp
    s, a = mdp.num_states, mdp.num_actions
    shape = (s, a, num_features) if state_action else (s, num_features)
    features = rng.normal(size=shape)
    theta = rng.normal(size=num_features)
    reward = features @ theta
    true = cai.TabularMDP(mdp.transitions, reward, initial=mdp.initial)
    return true, features, theta


def visitation(post):
    occ = np.sum(np.asarray(post.state_action_marginals), axis=0)
    return occ / occ.sum()


@pytest.mark.parametrize(
    ("method", "state_action"), [("variational", False), ("variational", True), ("exact", False)]
)
def test_recovers_a_known_linear_reward(rng, method, state_action):
    horizon = 20
    true, features, theta = gridworld_problem(rng, state_action)
    post = cai.infer(true, horizon, 1.0, method)
    states, actions = cai.sample(post, jax.random.key(0), 3000)
    fit = cai.maxent_irl(
        true, features, (states, actions), horizon=horizon, method=method, progress=False
    )
    assert fit.converged and fit.iterations < 100
    np.testing.assert_allclose(np.asarray(fit.reward_model.weights), theta, atol=0.1)
    tv = 0.5 * np.abs(visitation(fit.solution) - visitation(post)).sum()
    assert tv < 0.05
    # held-out demonstrations: the fit explains them as well as the truth does, within noise
    held_s, held_a = cai.sample(post, jax.random.key(1), 3000)
    ll_fit = np.asarray(cai.policy_log_likelihood(fit.solution.log_policy, (held_s, held_a)))
    ll_true = np.asarray(cai.policy_log_likelihood(post.log_policy, (held_s, held_a)))
    difference = ll_true - ll_fit
    assert abs(difference.mean()) < 3 * difference.std() / np.sqrt(len(difference)) + 1e-3


def sample_stationary(rng, mdp, log_policy, num, max_length):
    """Episodes of random lengths from a stationary policy (numpy)."""
    transitions = np.asarray(mdp.dense_transitions())
    pi = np.exp(np.asarray(log_policy))
    lengths = rng.integers(max_length // 3, max_length + 1, size=num)
    states = np.zeros((num, max_length + 1), dtype=int)
    actions = np.zeros((num, max_length), dtype=int)
    states[:, 0] = rng.choice(mdp.num_states, size=num, p=np.asarray(mdp.initial))
    for t in range(max_length):
        u = rng.random((num, 1))
        actions[:, t] = np.minimum((np.cumsum(pi[states[:, t]], 1) < u).sum(1), pi.shape[1] - 1)
        p = transitions[states[:, t], actions[:, t]]
        u = rng.random((num, 1))
        states[:, t + 1] = np.minimum((np.cumsum(p, 1) < u).sum(1), p.shape[1] - 1)
    return cai.as_demonstrations(states, actions, lengths)


def test_recovers_infinite_horizon_reward_from_variable_length_demonstrations(rng):
    discount = 0.9
    true, features, theta = gridworld_problem(rng)
    solution = cai.soft_value_iteration(true, 1.0, discount)
    demos = sample_stationary(rng, true, solution.log_policy, 4000, 30)
    fit = cai.maxent_irl(true, features, demos, horizon=None, discount=discount, progress=False)
    assert fit.converged
    np.testing.assert_allclose(np.asarray(fit.reward_model.weights), theta, atol=0.1)
    gap = np.abs(np.exp(fit.solution.log_policy) - np.exp(solution.log_policy))
    assert np.max(np.sum(gap, axis=1)) / 2 < 0.1  # policies agree in every state


def test_neural_reward_matches_the_visitation(rng):
    horizon = 15
    true, features, _ = gridworld_problem(rng, num_features=3)
    post = cai.infer(true, horizon, 1.0, "variational")
    states, actions = cai.sample(post, jax.random.key(2), 3000)
    model = eqx.nn.MLP(3, "scalar", 16, 1, activation=jnp.tanh, key=jax.random.key(3))
    model = jax.tree_util.tree_map(
        lambda x: x.astype(jnp.float64) if eqx.is_inexact_array(x) else x, model
    )
    fit = cai.maxent_irl(
        true,
        features,
        (states, actions),
        horizon=horizon,
        reward_model=model,
        optimizer=optax.adam(3e-2),
        max_iterations=400,
        tol=1e-3,
        progress=False,
    )
    assert isinstance(fit.reward_model, eqx.nn.MLP)
    assert fit.objective[-1] > fit.objective[0]
    assert fit.log_likelihood[-1] > fit.log_likelihood[0]
    tv = 0.5 * np.abs(visitation(fit.solution) - visitation(post)).sum()
    assert tv < 0.05, tv


def test_occupancy_input_has_the_true_reward_as_its_fixed_point(rng):
    """An (S, A) expected occupancy works like infinitely many demonstrations."""
    horizon = 10
    true, features, theta = gridworld_problem(rng)
    post = cai.infer(true, horizon, 1.0, "variational")
    occupancy = np.sum(np.asarray(post.state_action_marginals), axis=0)
    grad = jax.grad(cai.irl.maxent_objective)(true.reward, true, occupancy, horizon)
    np.testing.assert_allclose(grad, 0.0, atol=1e-12)
    fit = cai.maxent_irl(true, features, occupancy, horizon=horizon, tol=1e-8, progress=False)
    np.testing.assert_allclose(np.asarray(fit.reward_model.weights), theta, atol=1e-5)


def test_reward_table_and_feature_expectations(rng):
    features = rng.normal(size=(4, 2, 3))
    model = LinearReward(jnp.asarray([1.0, -2.0, 0.5]))
    np.testing.assert_allclose(reward_table(model, jnp.asarray(features)), features @ model.weights)
    demos = cai.as_demonstrations([[0, 1, 2], [3, 3]], [[1, 0], [1]])
    by_hand = (features[0, 1] + 0.5 * features[1, 0] + features[3, 1]) / 2
    np.testing.assert_allclose(cai.feature_expectations(demos, features, 0.5), by_hand)
    state_features = features[:, 0, :]
    by_hand = (state_features[0] + state_features[1] + state_features[3]) / 2
    np.testing.assert_allclose(cai.feature_expectations(demos, state_features), by_hand)


# ----------------------------------------------------------------------------- bad input


def test_bad_input_names_the_argument(rng):
    mdp, *_ = tiny(rng)
    features = rng.normal(size=(3, 2, 2))
    good = (np.zeros((2, 3), dtype=int), np.zeros((2, 2), dtype=int))
    cases = [
        (dict(demonstrations=(np.full((2, 3), 7), good[1])), "states"),
        (dict(demonstrations=(good[0], np.full((2, 2), 5))), "actions"),
        (dict(demonstrations=(np.zeros((0, 1), int), np.zeros((0, 0), int))), "empty"),
        (dict(demonstrations=(good[0], np.zeros((2, 3), int))), "states must have shape"),
        (dict(demonstrations=(good[0] * 1.0, good[1])), "integers"),
        (dict(features=rng.normal(size=(3, 5, 2))), "features"),
        (dict(features=np.full((3, 2), np.nan)), "finite"),
        (dict(horizon=1), "horizon"),
        (dict(horizon=None), "discount < 1"),
        (dict(method="exact", horizon=None, discount=0.9), "finite horizon"),
        (dict(method="exact", discount=0.9), "method='exact'"),
        (dict(temperature=0.0), "temperature"),
        (dict(max_iterations=0), "max_iterations"),
        (dict(demonstrations=np.ones((3, 3))), "occupancy"),
    ]
    for overrides, message in cases:
        kwargs = dict(features=features, demonstrations=good, horizon=3, progress=False)
        kwargs.update(overrides)
        with pytest.raises(ValueError, match=message):
            cai.maxent_irl(mdp, **kwargs)
    with pytest.raises(ValueError, match="lengths"):
        cai.as_demonstrations(good[0], good[1], lengths=[0, 2])
    with pytest.raises(ValueError, match=r"states\[1\]"):
        cai.as_demonstrations([[0, 1], [0]], [[1], [0]])
    forbidding = cai.TabularMDP(
        mdp.transitions, mdp.reward, action_prior=np.array([[1.0, 0.0]] * 3)
    )
    with pytest.raises(ValueError, match="forbids"):
        cai.maxent_irl(forbidding, features, (good[0], np.ones((2, 2), int)), horizon=3)


def test_regularised_optimum_balances_gap_and_penalty(rng):
    """KKT of max l - lambda/2 |theta|^2: demonstrated - expected counts = alpha lambda theta."""
    horizon, temperature, lam = 10, 0.5, 0.3
    true, features, _ = gridworld_problem(rng)
    post = cai.infer(true, horizon, temperature, "variational")
    states, actions = cai.sample(post, jax.random.key(4), 500)
    fit = cai.maxent_irl(
        true,
        features,
        (states, actions),
        horizon=horizon,
        temperature=temperature,
        regularization=lam,
        tol=1e-9,
        progress=False,
    )
    assert fit.converged
    theta = np.asarray(fit.reward_model.weights)
    gap = cai.feature_expectations((states, actions), features) - cai.feature_expectations(
        fit.solution, features
    )
    np.testing.assert_allclose(gap, temperature * lam * theta, atol=1e-7)
    assert np.linalg.norm(theta) > 0.1  # not trivially zero


def test_progress_bar_only_on_a_terminal(rng, capsys):
    """progress=None (the default) shows the bar only when stderr is a terminal: captured output
    (here pytest's, as a script's piped to a file) gets no carriage-return lines."""
    mdp = tiny(rng)[0]
    demos = random_demos(rng, 4, 3)
    with pytest.warns(cai.ConvergenceWarning):  # 3 iterations are not enough
        cai.maxent_irl(mdp, np.eye(3), demos, horizon=3, max_iterations=3)
    assert "maxent_irl" not in capsys.readouterr().err
    with pytest.warns(cai.ConvergenceWarning):
        cai.maxent_irl(mdp, np.eye(3), demos, horizon=3, max_iterations=3, progress=True)
    assert "maxent_irl" in capsys.readouterr().err
