"""Soft LQG against independent oracles.

(a) the Kalman filter: Gaussian conditioning of the whole (x, y) joint, built in covariance form
    from the noises (filtered and predicted moments, the marginal likelihood);
(b) the exact policy over beliefs: the posterior p(u_t | y_{0:t}, u_{0:t-1}, e_{0:H-1}) of the
    whole graphical model in information form (numpy), every step, including a cross term N;
(c) the variational value: the trace formula V^b_0 = V_0(mu_0) - 1/2 tr(P_0 (Sigma_0 - S_0)) - e_0
    (module docstring) against the closed-loop propagation, and Monte Carlo within its interval;
(d) the stationary filter against scipy's solve_discrete_are (the dual), the controller against
    scipy's control DARE and the policy covariance alpha (R + B'PB)^-1.
Negative controls: a wrong sensor noise fails (a); certainty equivalence with the exact soft LQR
gain fails (b) (separation does not hold for exact inference), and perturbed policies lower the
variational value (separation holds there).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
import scipy.stats

import control_as_inference as cai
from control_as_inference.pomdp import closed_loop

lqr, pomdp = cai.lqr, cai.pomdp


def model(seed=0, n=3, m=2, p=2, cross=True):
    rng = np.random.default_rng(seed)
    A = np.eye(n) + 0.2 * rng.normal(size=(n, n))
    B = rng.normal(size=(n, m))
    W = 0.1 * np.eye(n) + 0.05 * (lambda g: g @ g.T)(rng.normal(size=(n, n)))
    mean0, cov0 = rng.normal(size=n), 0.5 * np.eye(n)
    system = lqr.LinearGaussianSystem(A, B, W, mean0, cov0)
    Q = (lambda g: g @ g.T + 0.5 * np.eye(n))(rng.normal(size=(n, n)))
    R = (lambda g: g @ g.T + np.eye(m))(rng.normal(size=(m, m)))
    N = 0.2 * rng.normal(size=(n, m)) if cross else None
    reward = lqr.QuadraticReward(Q, R, N, rng.normal(size=n), rng.normal(size=m))
    C = rng.normal(size=(p, n))
    V = 0.3 * np.eye(p) + 0.05 * (lambda g: g @ g.T)(rng.normal(size=(p, p)))
    return system, pomdp.LinearGaussianObservation(C, V), reward


def arrays(system, observation, reward):
    f = lambda x: np.asarray(x, np.float64)  # noqa: E731
    return dict(
        A=f(system.A), B=f(system.B), W=f(system.W), mu0=f(system.initial_mean),
        S0=f(system.initial_cov), C=f(observation.C), V=f(observation.V), Q=f(reward.Q),
        R=f(reward.R), N=f(reward.N), qx=f(reward.q_x), qu=f(reward.q_u),
    )  # fmt: skip


# ------------------------------------------------------------------ (a) the Kalman filter


def conditioned_moments(M, T, actions, ys):
    """Covariance-form oracle: x_t and y_t as linear maps of the independent noises
    (x_0 - mu_0, w_0, ..., w_{T-2}, v_0, ..., v_{T-1}); the moments of x_t given y_{0:j}."""
    n, p = M["A"].shape[0], M["C"].shape[0]
    dims = [n] + [n] * (T - 1) + [p] * T
    cov = scipy.linalg.block_diag(M["S0"], *[M["W"]] * (T - 1), *[M["V"]] * T)
    offsets = np.cumsum([0, *dims])
    x_maps, x_means = [], []
    x_map = np.zeros((n, offsets[-1]))
    x_map[:, :n] = np.eye(n)
    x_mean = M["mu0"].copy()
    for t in range(T):
        x_maps.append(x_map.copy())
        x_means.append(x_mean.copy())
        if t < T - 1:
            x_map = M["A"] @ x_map
            x_map[:, offsets[1 + t] : offsets[2 + t]] += np.eye(n)
            x_mean = M["A"] @ x_mean + M["B"] @ actions[t]
    y_maps = []
    for t in range(T):
        y_map = M["C"] @ x_maps[t]
        y_map[:, offsets[T + t] : offsets[T + t + 1]] += np.eye(p)
        y_maps.append(y_map)
    y_means = [M["C"] @ x for x in x_means]

    def given(t, j):  # x_t | y_{0:j}
        if j < 0:
            return x_means[t], x_maps[t] @ cov @ x_maps[t].T
        Y = np.concatenate(y_maps[: j + 1])
        gain = np.linalg.solve(Y @ cov @ Y.T, Y @ cov @ x_maps[t].T).T
        residual = np.concatenate(ys[: j + 1]) - np.concatenate(y_means[: j + 1])
        return x_means[t] + gain @ residual, x_maps[t] @ cov @ x_maps[
            t
        ].T - gain @ Y @ cov @ x_maps[t].T

    Y = np.concatenate(y_maps)
    loglik = scipy.stats.multivariate_normal(np.concatenate(y_means), Y @ cov @ Y.T).logpdf(
        np.concatenate(ys)
    )
    return given, loglik


@pytest.mark.parametrize("seed", [0, 1])
def test_kalman_filter_is_gaussian_conditioning(seed):
    system, observation, reward = model(seed)
    M, T = arrays(system, observation, reward), 6
    rng = np.random.default_rng(10 + seed)
    actions, ys = rng.normal(size=(T - 1, 2)), rng.normal(size=(T, 2))
    out = pomdp.kalman_filter(system, observation, ys, actions)
    given, loglik = conditioned_moments(M, T, actions, ys)
    for t in range(T):
        for (mean, cov), (got_mean, got_cov) in [
            (given(t, t), (out.filtered_means[t], out.filtered_covariances[t])),
            (given(t, t - 1), (out.predicted_means[t], out.predicted_covariances[t])),
        ]:
            np.testing.assert_allclose(got_mean, mean, rtol=1e-10, atol=1e-10)
            np.testing.assert_allclose(got_cov, cov, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(out.marginal_loglik, loglik, rtol=1e-10)
    # negative control: a filter that believes the sensor twice as noisy is off
    wrong = pomdp.LinearGaussianObservation(observation.C, 2 * observation.V)
    bad = pomdp.kalman_filter(system, wrong, ys, actions)
    assert np.abs(np.asarray(bad.filtered_means) - given(T - 1, T - 1)[0]).max() > 1e-3


def test_the_filters_covariances_are_soft_lqgs():
    system, observation, reward = model(2)
    sol = pomdp.soft_lqg(system, observation, reward, 5, 0.7)
    ys, us = np.zeros((5, 2)), np.zeros((4, 2))
    out = pomdp.kalman_filter(system, observation, ys, us)
    np.testing.assert_allclose(sol.filtered_covariances, out.filtered_covariances, rtol=1e-12)
    np.testing.assert_allclose(sol.predicted_covariances[:5], out.predicted_covariances, rtol=1e-12)


# ----------------------------------------------------------- (b) the exact policy over beliefs


def exact_posterior_of_action(M, H, alpha, t0, ys, past_actions):
    """p(u_t0 | y_{0:t0}, u_{0:t0-1}, e_{0:H-1}) in information form over every variable
    (x_0..x_H, u_0..u_{H-1}): the prior, the dynamics, the seen observations and the factors
    exp(r / alpha); the past actions fixed, everything else integrated out."""
    n, m = M["B"].shape
    size = (H + 1) * n + H * m
    J, h = np.zeros((size, size)), np.zeros(size)
    xs = lambda t: slice(t * n, (t + 1) * n)  # noqa: E731
    us = lambda t: slice((H + 1) * n + t * m, (H + 1) * n + (t + 1) * m)  # noqa: E731

    def add(rows, matrix, target, precision):  # -1/2 (L z - target)' precision (L z - target)
        L = np.zeros((matrix[0].shape[0], size))
        for block, part in zip(rows, matrix, strict=True):
            L[:, block] += part
        J[:] += L.T @ precision @ L
        h[:] += L.T @ precision @ target

    add([xs(0)], [np.eye(n)], M["mu0"], np.linalg.inv(M["S0"]))
    W_inv, V_inv = np.linalg.inv(M["W"]), np.linalg.inv(M["V"])
    for t in range(H):
        add([xs(t + 1), xs(t), us(t)], [np.eye(n), -M["A"], -M["B"]], np.zeros(n), W_inv)
        if t <= t0:
            add([xs(t)], [M["C"]], ys[t], V_inv)
        # r(x, u) / alpha = -(1/2 z'Hz + g'z) / alpha, z = (x_t, u_t)
        Hz = np.block([[M["Q"], M["N"]], [M["N"].T, M["R"]]]) / alpha
        idx = np.r_[np.arange(size)[xs(t)], np.arange(size)[us(t)]]
        J[np.ix_(idx, idx)] += Hz
        h[idx] -= np.concatenate([M["qx"], M["qu"]]) / alpha
    fixed = np.array([i for t in range(t0) for i in np.arange(size)[us(t)]], dtype=int)
    free = np.setdiff1d(np.arange(size), fixed)
    values = np.concatenate(past_actions[:t0]) if t0 else np.zeros(0)
    h_free = h[free] - J[np.ix_(free, fixed)] @ values
    cov = np.linalg.inv(J[np.ix_(free, free)])
    mean = cov @ h_free
    where = np.searchsorted(free, np.arange(size)[us(t0)])
    return mean[where], cov[np.ix_(where, where)]


def exact_belief_means(sol, ys, actions):
    """m_t along one history, by the solution's own filter (`first_mean`, `next_mean`)."""
    means = [sol.first_mean(ys[0])]
    for t in range(len(ys) - 1):
        means.append(sol.next_mean(t, means[-1], actions[t], ys[t + 1]))
    return means


@pytest.mark.parametrize("seed", [0, 3])
def test_the_exact_policy_is_the_posterior_over_the_action(seed):
    system, observation, reward = model(seed)
    M, H, alpha = arrays(system, observation, reward), 4, 0.8
    sol = pomdp.soft_lqg(system, observation, reward, H, alpha, method="exact")
    rng = np.random.default_rng(20 + seed)
    ys, actions = rng.normal(size=(H, 2)), rng.normal(size=(H, 2))
    means = exact_belief_means(sol, ys, actions)
    for t in range(H):
        want_mean, want_cov = exact_posterior_of_action(M, H, alpha, t, ys, actions)
        got_mean, got_cov = sol.policy(t, means[t])
        np.testing.assert_allclose(got_mean, want_mean, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(got_cov, want_cov, rtol=1e-9, atol=1e-9)
        if t > 0:
            # negative control: certainty equivalence with exact soft LQR's gain (the Kalman
            # filter's mean, the fully observed policy) is not the posterior
            plain = pomdp.kalman_filter(system, observation, ys[: t + 1], actions[:t])
            m_t = plain.filtered_means[t]
            naive = sol.control.K[t] @ m_t + sol.control.k[t]
            assert np.abs(np.asarray(naive) - want_mean).max() > 1e-3
            assert np.abs(np.asarray(sol.control.Sigma[t]) - want_cov).max() > 1e-4


def test_exact_with_a_nearly_perfect_sensor_is_exact_soft_lqr():
    system, _, reward = model(4)
    sensor = pomdp.LinearGaussianObservation(np.eye(3), 1e-9 * np.eye(3))
    sol = pomdp.soft_lqg(system, sensor, reward, 5, 0.5, method="exact")
    np.testing.assert_allclose(sol.K, sol.control.K, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(sol.Sigma, sol.control.Sigma, rtol=1e-6, atol=1e-6)
    # and a noisy one is not: the gain shrinks and the spread grows with the uncertainty
    noisy = pomdp.soft_lqg(
        system, pomdp.LinearGaussianObservation(np.eye(3), np.eye(3)), reward, 5, 0.5, "exact"
    )
    assert np.abs(np.asarray(noisy.K - noisy.control.K)).max() > 1e-2
    grown = np.linalg.eigvalsh(np.asarray(noisy.Sigma - noisy.control.Sigma))
    assert grown.min() > -1e-12 and grown.max() > 1e-3


# ------------------------------------------------------- (c) the variational value and the loop


def trace_formula_value(sol, M):
    """V^b_0 averaged over y_0 (module docstring), from soft LQR's solution and the filter."""
    P, p, c = (np.asarray(x) for x in (sol.control.P, sol.control.p, sol.control.c))
    S = np.asarray(sol.filtered_covariances)
    pred = np.asarray(sol.predicted_covariances)
    gamma, H = float(sol.discount), sol.horizon
    e = 0.5 * np.trace(P[H] @ pred[H])
    for t in reversed(range(H)):
        after = pred[t + 1] - (S[t + 1] if t + 1 < H else pred[H]) - M["W"]
        e = 0.5 * np.trace(M["Q"] @ S[t]) + gamma * (e + 0.5 * np.trace(P[t + 1] @ after))
    mu0 = M["mu0"]
    v0 = -(0.5 * mu0 @ P[0] @ mu0 + p[0] @ mu0 + c[0])
    return v0 - 0.5 * np.trace(P[0] @ (M["S0"] - S[0])) - e


@pytest.mark.parametrize("discount", [1.0, 0.9])
def test_the_variational_value_is_the_trace_formula(discount):
    system, observation, reward = model(5)
    sol = pomdp.soft_lqg(system, observation, reward, 8, 0.6, discount=discount)
    M = arrays(system, observation, reward)
    np.testing.assert_allclose(sol.value, trace_formula_value(sol, M), rtol=1e-10)
    # separation: the policy is soft LQR's on the belief mean
    np.testing.assert_array_equal(sol.K, sol.control.K)
    np.testing.assert_array_equal(sol.Sigma, sol.control.Sigma)


@pytest.mark.parametrize("field", ["K", "k", "Sigma"])
def test_perturbing_the_variational_policy_lowers_its_value(field):
    system, observation, reward = model(6)
    sol = pomdp.soft_lqg(system, observation, reward, 6, 0.6)
    steps = closed_loop.model_steps(system, reward, 6)
    rng = np.random.default_rng(7)
    for _ in range(5):
        change = 0.05 * rng.normal(size=getattr(sol, field).shape)
        if field == "Sigma":
            change = change @ np.swapaxes(change, -1, -2)  # stays a covariance
        other = eqx.tree_at(lambda s: getattr(s, field), sol, getattr(sol, field) + change)
        other = eqx.tree_at(
            lambda s: (s.expected_return, s.entropy),
            other,
            (
                closed_loop.expected_return(other, steps),
                0.5 * jnp.linalg.slogdet(2 * jnp.pi * jnp.e * other.Sigma)[1],
            ),
        )
        assert other.value < sol.value - 1e-9


@pytest.mark.parametrize("method", ["variational", "exact"])
def test_monte_carlo_closed_loop_return_is_within_the_interval(method):
    system, observation, reward = model(8)
    sol = pomdp.soft_lqg(system, observation, reward, 10, 0.5, method)
    rollouts = pomdp.simulate_lqg(sol, jax.random.key(0), 20_000)
    returns = np.asarray(rollouts.returns)
    error = returns.std() / np.sqrt(returns.size)
    assert abs(returns.mean() - float(sol.expected_return)) < 4 * error, (returns.mean(), error)
    if method == "variational":  # and the soft objective lies in the interval of the trace formula
        bonus = float(sol.temperature) * float(np.sum(np.asarray(sol.entropy)))  # discount 1
        trace = trace_formula_value(sol, arrays(system, observation, reward))
        assert abs(returns.mean() + bonus - trace) < 4 * error, (returns.mean() + bonus, trace)
    # the rewards are the model's at the sampled states and actions
    x, u = np.asarray(rollouts.states[0, 3]), np.asarray(rollouts.actions[0, 3])
    np.testing.assert_allclose(rollouts.rewards[0, 3], reward(x, u), rtol=1e-12)
    # the means are the filter's on the sampled observations (variational: the plain filter)
    if method == "variational":
        plain = pomdp.kalman_filter(
            system, observation, rollouts.observations[1], rollouts.actions[1, :-1]
        )
        np.testing.assert_allclose(rollouts.means[1], plain.filtered_means, rtol=1e-9, atol=1e-9)


def test_the_exact_policy_scores_below_the_variational_on_the_max_ent_objective():
    """The variational policy maximises the max-ent objective over policies of the history; the
    exact posterior is optimistic (it reads the optimality variables as evidence), not optimal."""
    system, observation, reward = model(9)
    variational = pomdp.soft_lqg(system, observation, reward, 8, 0.5)
    exact = pomdp.soft_lqg(system, observation, reward, 8, 0.5, "exact")
    assert float(exact.value) < float(variational.value)


# -------------------------------------------------------------------- (d) the stationary solution


def test_the_stationary_filter_and_controller_are_scipys_riccati_solutions():
    system, observation, reward = model(11, cross=False)
    M, alpha = arrays(system, observation, reward), 0.4
    sol = pomdp.soft_lqg_infinite(system, observation, reward, alpha)
    assert bool(sol.converged)
    dual = scipy.linalg.solve_discrete_are(M["A"].T, M["C"].T, M["W"], M["V"])
    np.testing.assert_allclose(sol.predicted_covariance, dual, rtol=1e-8)
    gain = dual @ M["C"].T @ np.linalg.inv(M["C"] @ dual @ M["C"].T + M["V"])
    np.testing.assert_allclose(sol.gain, gain, rtol=1e-8)
    P = scipy.linalg.solve_discrete_are(M["A"], M["B"], M["Q"], M["R"])
    H_uu = M["R"] + M["B"].T @ P @ M["B"]
    np.testing.assert_allclose(
        sol.control.K, -np.linalg.solve(H_uu, M["B"].T @ P @ M["A"]), rtol=1e-8
    )
    np.testing.assert_allclose(sol.control.Sigma, alpha * np.linalg.inv(H_uu), rtol=1e-8)
    # the finite-horizon filter settles on the same gain
    long = pomdp.soft_lqg(system, observation, reward, 200, alpha)
    np.testing.assert_allclose(long.gains[-1], gain, rtol=1e-8)
    np.testing.assert_allclose(long.K[0], sol.control.K, rtol=1e-8)


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "C, V, words",
    [
        (np.ones((2, 3)), np.array([[1.0, 0.0], [0.0, -1.0]]), "V must be positive definite"),
        (np.ones((2, 3)), np.array([[1.0, 0.5], [0.0, 1.0]]), "V must be symmetric"),
        (np.full((2, 3), np.nan), np.eye(2), "C contains NaN"),
        (np.ones((2, 3)), np.eye(3), "V must have shape"),
        (np.ones(3), np.eye(1), "C must be a (p, n) matrix"),
    ],
)
def test_a_bad_sensor_is_refused_naming_the_field(C, V, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        pomdp.LinearGaussianObservation(C, V)


def test_mismatched_shapes_are_refused():
    system, observation, reward = model(0)
    wide = pomdp.LinearGaussianObservation(np.ones((2, 4)), np.eye(2))
    with pytest.raises(ValueError, match=r"observation\.C must have n = 3 columns"):
        pomdp.soft_lqg(system, wide, reward, 3)
    with pytest.raises(ValueError, match="actions must have shape"):
        pomdp.kalman_filter(system, observation, np.zeros((4, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="observations must have shape"):
        pomdp.kalman_filter(system, observation, np.zeros((4, 3)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="discount"):
        pomdp.soft_lqg(system, observation, reward, 3, 1.0, "exact", discount=0.9)


@pytest.mark.parametrize("method", ["variational", "exact"])
def test_the_stationary_solution_is_the_long_horizons_early_steps(method):
    """The infinite-horizon policy over beliefs and filter (tilted for the exact method) are
    where the finite-horizon ones settle, far from both ends of a long horizon."""
    system, observation, reward = model(12, cross=False)
    stationary = pomdp.soft_lqg_infinite(system, observation, reward, 0.6, method)
    assert bool(stationary.converged) and bool(stationary.control.converged)
    long = pomdp.soft_lqg(system, observation, reward, 300, 0.6, method)
    t = 150  # the filter has settled from the start, the controller from the end
    for finite, infinite in [
        (long.K[t], stationary.K),
        (long.k[t], stationary.k),
        (long.Sigma[t], stationary.Sigma),
        (long.filtered_covariances[t], stationary.filtered_covariance),
        (long.tilted_covariances[t], stationary.tilted_covariance),
        (long.predicted_covariances[t], stationary.predicted_covariance),
    ]:
        np.testing.assert_allclose(finite, infinite, rtol=1e-8, atol=1e-10)
    if method == "exact":  # the separation fails here too
        assert np.abs(np.asarray(stationary.K - stationary.control.K)).max() > 1e-2


def test_a_time_varying_episode_is_filtered_with_its_own_stack():
    """The filter takes the first T - 1 steps of an (H, ...) stack: an episode of a `soft_lqg`
    solution over H steps (T = H observations) is filtered as the simulation filtered it."""
    system, observation, reward = model(13)
    rng = np.random.default_rng(13)
    horizon = 5
    A = np.asarray(system.A)[None] + 0.05 * rng.normal(size=(horizon, 3, 3))
    varying = lqr.LinearGaussianSystem(
        A, system.B, system.W, system.initial_mean, system.initial_cov
    )
    sol = pomdp.soft_lqg(varying, observation, reward, horizon, 0.5)
    episodes = pomdp.simulate_lqg(sol, jax.random.key(1), 2)
    ys, us = episodes.observations[0], episodes.actions[0, :-1]
    out = pomdp.kalman_filter(varying, observation, ys, us)
    np.testing.assert_allclose(out.filtered_means, episodes.means[0], rtol=1e-9, atol=1e-9)
    first = pomdp.kalman_filter(varying, observation, ys[:1], np.zeros((0, 2)))
    np.testing.assert_allclose(first.filtered_means[0], episodes.means[0, 0], rtol=1e-9)
    with pytest.raises(ValueError, match="the time-varying A has 5 steps"):
        pomdp.kalman_filter(varying, observation, np.zeros((7, 2)), np.zeros((6, 2)))


def test_bad_data_and_steps_are_refused_naming_them():
    system, observation, reward = model(0)
    with pytest.raises(ValueError, match="observations must have shape"):
        pomdp.kalman_filter(system, observation, 0.0, np.zeros((0, 2)))
    with pytest.raises(ValueError, match="observations contain NaN"):
        pomdp.kalman_filter(system, observation, np.full((2, 2), np.nan), np.zeros((1, 2)))
    sol = pomdp.soft_lqg(system, observation, reward, 3, 0.5)
    with pytest.raises(ValueError, match=r"t must be in \[0, 3\)"):
        sol.policy(3, np.zeros(3))
    with pytest.raises(ValueError, match=r"t must be in \[0, 2\)"):
        sol.next_mean(2, np.zeros(3), np.zeros(2), np.zeros(2))
    stacked = lqr.QuadraticReward(np.asarray(reward.Q), np.stack([np.asarray(reward.R)] * 4))
    with pytest.raises(ValueError, match="time-invariant system and reward"):
        pomdp.soft_lqg_infinite(system, observation, stacked)
    # a small but positive-definite sensor noise is a sensor noise
    assert pomdp.LinearGaussianObservation([[1.0]], [[1e-12]]).V[0, 0] == 1e-12
