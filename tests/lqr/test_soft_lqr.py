"""Soft LQR against scipy's Riccati solver, forward propagation of moments, and the dense joint
Gaussian posterior of the whole trajectory."""

import jax
import numpy as np
import pytest
import scipy.linalg
import scipy.stats

from control_as_inference.lqr import (
    LinearGaussianSystem,
    QuadraticReward,
    sample_trajectories,
    soft_lqr,
    soft_lqr_infinite,
    trajectory_marginals,
)


def random_problem(rng, n=3, m=2, noise=0.1, linear_terms=True):
    a = np.eye(n) + 0.4 * rng.normal(size=(n, n))
    b = rng.normal(size=(n, m))
    l = rng.normal(size=(n, n))  # noqa: E741
    w = noise * (l @ l.T / n + np.eye(n))
    q = np.diag(rng.uniform(0.5, 2.0, size=n))
    r = np.diag(rng.uniform(0.5, 2.0, size=m))
    cross = 0.1 * rng.normal(size=(n, m))
    q_x = rng.normal(size=n) if linear_terms else None
    q_u = rng.normal(size=m) if linear_terms else None
    mu0 = rng.normal(size=n)
    s0 = 0.2 * np.eye(n)
    system = LinearGaussianSystem(a, b, w, mu0, s0)
    reward = QuadraticReward(q, r, cross, q_x, q_u)
    return system, reward, (a, b, w, q, r, cross, q_x, q_u, mu0, s0)


def dare_gain(a, b, q, r, cross, discount):
    x = scipy.linalg.solve_discrete_are(np.sqrt(discount) * a, np.sqrt(discount) * b, q, r, s=cross)
    h_uu = r + discount * b.T @ x @ b
    return -np.linalg.solve(h_uu, cross.T + discount * b.T @ x @ a), h_uu


@pytest.mark.parametrize("discount", [1.0, 0.9])
def test_mean_gain_is_the_riccati_gain(rng, discount):
    system, reward, (a, b, w, q, r, cross, *_) = random_problem(rng, linear_terms=False)
    gain, h_uu = dare_gain(a, b, q, r, cross, discount)
    for temperature in (0.01, 1.0, 10.0):
        stationary = soft_lqr_infinite(system, reward, temperature, "variational", discount)
        np.testing.assert_allclose(stationary.K, gain, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(
            stationary.Sigma, temperature * np.linalg.inv(h_uu), rtol=1e-9, atol=1e-14
        )
        finite = soft_lqr(system, reward, 400, temperature, "variational", discount)
        np.testing.assert_allclose(finite.K[0], gain, rtol=1e-9, atol=1e-12)
    # the mean gain ignores W; the covariance too (variational)
    louder = LinearGaussianSystem(a, b, 10 * w)
    other = soft_lqr(louder, reward, 50, 2.0, "variational", discount)
    base = soft_lqr(system, reward, 50, 2.0, "variational", discount)
    np.testing.assert_allclose(other.K, base.K, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(other.Sigma, base.Sigma, rtol=1e-12, atol=1e-14)
    # a negative control: a wrong discount gives a different gain
    wrong = soft_lqr(system, reward, 400, 1.0, "variational", discount * 0.9)
    assert np.max(np.abs(wrong.K[0] - gain)) > 1e-3


def maxent_objective(params, K, k, Sigma, temperature, discount):
    """E[sum_t gamma^t (r + alpha entropy(pi_t))] by propagating means and covariances."""
    a, b, w, q, r, cross, q_x, q_u, mu, s = params
    n, m = b.shape
    q_x = np.zeros(n) if q_x is None else q_x
    q_u = np.zeros(m) if q_u is None else q_u
    big = np.block([[q, cross], [cross.T, r]])
    total = 0.0
    for t in range(len(K)):
        mean = np.concatenate([mu, K[t] @ mu + k[t]])
        cov = np.block([[s, s @ K[t].T], [K[t] @ s, K[t] @ s @ K[t].T + Sigma[t]]])
        expected_reward = -(
            0.5 * (np.trace(big @ cov) + mean @ big @ mean) + q_x @ mu + q_u @ mean[n:]
        )
        entropy = 0.5 * np.linalg.slogdet(2 * np.pi * np.e * Sigma[t])[1]
        total += discount**t * (expected_reward + temperature * entropy)
        closed = a + b @ K[t]
        mu = a @ mu + b @ (K[t] @ mu + k[t])
        s = closed @ s @ closed.T + b @ Sigma[t] @ b.T + w
    return total


@pytest.mark.parametrize("discount", [1.0, 0.85])
def test_value_is_the_maxent_objective_of_its_policy(rng, discount):
    system, reward, params = random_problem(rng)
    temperature, horizon = 0.7, 6
    sol = soft_lqr(system, reward, horizon, temperature, "variational", discount)
    K, k, Sigma = (np.asarray(x) for x in (sol.K, sol.k, sol.Sigma))
    objective = maxent_objective(params, K, k, Sigma, temperature, discount)
    np.testing.assert_allclose(float(sol.log_evidence) * temperature, objective, rtol=1e-10)
    for scale in (1e-3, 1e-1):
        worse_K = K + scale * rng.normal(size=K.shape)
        assert maxent_objective(params, worse_K, k, Sigma, temperature, discount) < objective
        worse_k = k + scale * rng.normal(size=k.shape)
        assert maxent_objective(params, K, worse_k, Sigma, temperature, discount) < objective
        for factor in (1 - scale, 1 + scale):
            worse = maxent_objective(params, K, k, Sigma * factor, temperature, discount)
            assert worse < objective


def joint_posterior(params, horizon, temperature):
    """The dense Gaussian posterior over z = (x_0, u_0, x_1, ..., u_{H-1}, x_H): its mean,
    covariance and log normaliser (the log evidence). Matrices may be (H, ...) stacks."""
    a, b, w, q, r, cross, q_x, q_u, mu0, s0 = params

    def at(x, t):  # a matrix, or the t-th of a time-varying stack
        return x[t] if np.ndim(x) == 3 else x

    n, m = np.shape(b)[-2:]
    size = (horizon + 1) * n + horizon * m
    x_at = lambda t: slice(t * (n + m), t * (n + m) + n)  # noqa: E731
    u_at = lambda t: slice(t * (n + m) + n, t * (n + m) + n + m)  # noqa: E731
    J = np.zeros((size, size))
    h = np.zeros(size)
    s0_inv = np.linalg.inv(s0)
    J[x_at(0), x_at(0)] += s0_inv
    h[x_at(0)] += s0_inv @ mu0
    const = -0.5 * mu0 @ s0_inv @ mu0 - 0.5 * np.linalg.slogdet(2 * np.pi * s0)[1]
    for t in range(horizon):
        a_t, b_t, w_t, q_t, r_t, c_t = (at(x, t) for x in (a, b, w, q, r, cross))
        qx_t = q_x[t] if np.ndim(q_x) == 2 else q_x
        qu_t = q_u[t] if np.ndim(q_u) == 2 else q_u
        xs, us, nxt = x_at(t), u_at(t), x_at(t + 1)
        J[xs, xs] += q_t / temperature
        J[us, us] += r_t / temperature
        J[xs, us] += c_t / temperature
        J[us, xs] += c_t.T / temperature
        h[xs] -= qx_t / temperature
        h[us] -= qu_t / temperature
        g = np.zeros((n, size))
        g[:, xs], g[:, us], g[:, nxt] = -a_t, -b_t, np.eye(n)
        J += g.T @ np.linalg.inv(w_t) @ g
        const -= 0.5 * np.linalg.slogdet(2 * np.pi * w_t)[1]
    cov = np.linalg.inv(J)
    mean = cov @ h
    log_z = const + 0.5 * size * np.log(2 * np.pi) - 0.5 * np.linalg.slogdet(J)[1] + 0.5 * h @ mean
    return mean, cov, log_z, x_at, u_at


def test_exact_policy_is_the_joint_gaussian_conditional(rng):
    system, reward, params = random_problem(rng, n=2, m=2, noise=0.5)
    horizon, temperature = 4, 0.6
    sol = soft_lqr(system, reward, horizon, temperature, "exact")
    mean, cov, log_z, x_at, u_at = joint_posterior(params, horizon, temperature)
    for t in range(horizon):
        xs, us = x_at(t), u_at(t)
        gain = cov[us, xs] @ np.linalg.inv(cov[xs, xs])
        np.testing.assert_allclose(sol.K[t], gain, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(sol.k[t], mean[us] - gain @ mean[xs], rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(
            sol.Sigma[t], cov[us, us] - gain @ cov[xs, us], rtol=1e-8, atol=1e-12
        )
    np.testing.assert_allclose(sol.log_evidence, log_z, rtol=1e-9)
    # the variational policy is not the posterior conditional (noise makes exact optimistic)
    var = soft_lqr(system, reward, horizon, temperature, "variational")
    assert np.max(np.abs(var.K[0] - sol.K[0])) > 1e-4
    assert var.log_evidence < sol.log_evidence


def test_bad_input_names_the_matrix(rng):
    a, b = np.eye(2), np.ones((2, 1))
    with pytest.raises(ValueError, match="W"):
        LinearGaussianSystem(a, b, -np.eye(2))
    with pytest.raises(ValueError, match="W"):
        LinearGaussianSystem(a, b, np.array([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="B"):
        LinearGaussianSystem(a, np.ones((3, 1)), np.eye(2))
    with pytest.raises(ValueError, match="A"):
        LinearGaussianSystem(np.ones((2, 3)), b, np.eye(2))
    with pytest.raises(ValueError, match="Q"):
        QuadraticReward(-np.eye(2), np.eye(1))
    with pytest.raises(ValueError, match="R"):
        QuadraticReward(np.eye(2), np.zeros((1, 1)))
    with pytest.raises(ValueError, match="N"):
        QuadraticReward(np.eye(2), np.eye(1), N=np.ones((1, 2)))
    system = LinearGaussianSystem(a, b, 0.1 * np.eye(2))
    reward = QuadraticReward(np.eye(2), np.eye(1))
    for temperature in (0.0, -1.0):
        with pytest.raises(ValueError, match="temperature"):
            soft_lqr(system, reward, 5, temperature)
    with pytest.raises(ValueError, match="horizon"):
        soft_lqr(system, reward, 0)
    with pytest.raises(ValueError, match="discount"):
        soft_lqr(system, reward, 5, 1.0, "exact", 0.9)
    with pytest.raises(ValueError, match="match"):
        soft_lqr(system, QuadraticReward(np.eye(3), np.eye(1)), 5)
    with pytest.raises(ValueError, match="method"):
        soft_lqr(system, reward, 5, method="magic")


def test_exact_marginals_are_the_joint_gaussian_marginals(rng):
    system, reward, params = random_problem(rng, n=2, m=2, noise=0.5)
    horizon, temperature = 4, 0.6
    sol = soft_lqr(system, reward, horizon, temperature, "exact")
    marg = trajectory_marginals(system, sol)
    mean, cov, _, x_at, u_at = joint_posterior(params, horizon, temperature)
    for t in range(horizon + 1):
        xs = x_at(t)
        np.testing.assert_allclose(marg.state_mean[t], mean[xs], rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(marg.state_cov[t], cov[xs, xs], rtol=1e-8, atol=1e-10)
    for t in range(horizon):
        us = u_at(t)
        np.testing.assert_allclose(marg.action_mean[t], mean[us], rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(marg.action_cov[t], cov[us, us], rtol=1e-8, atol=1e-10)


def test_time_varying_matches_the_joint_gaussian(rng):
    horizon, temperature, n, m = 3, 0.8, 2, 1
    a = np.eye(n) + 0.3 * rng.normal(size=(horizon, n, n))
    b = rng.normal(size=(horizon, n, m))
    w = np.stack([0.3 * np.eye(n) * (t + 1) for t in range(horizon)])
    q = np.stack([np.eye(n) * (1 + t) for t in range(horizon)])
    r = np.stack([np.eye(m) * (2 - 0.5 * t) for t in range(horizon)])
    cross = 0.1 * rng.normal(size=(horizon, n, m))
    q_x, q_u = rng.normal(size=(horizon, n)), rng.normal(size=(horizon, m))
    mu0, s0 = rng.normal(size=n), 0.3 * np.eye(n)
    system = LinearGaussianSystem(a, b, w, mu0, s0)
    reward = QuadraticReward(q, r, cross, q_x, q_u)
    sol = soft_lqr(system, reward, horizon, temperature, "exact")
    params = (a, b, w, q, r, cross, q_x, q_u, mu0, s0)
    _, cov, log_z, x_at, u_at = joint_posterior(params, horizon, temperature)
    for t in range(horizon):
        xs, us = x_at(t), u_at(t)
        gain = cov[us, xs] @ np.linalg.inv(cov[xs, xs])
        np.testing.assert_allclose(sol.K[t], gain, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(sol.log_evidence, log_z, rtol=1e-9)
    with pytest.raises(ValueError, match="steps"):
        soft_lqr(system, reward, horizon + 1, temperature)
    # a stack of one repeated matrix is the time-invariant problem
    same, same_reward, _ = random_problem(rng, n=2, m=1)
    stacked = LinearGaussianSystem(
        np.stack([same.A] * 5), np.stack([same.B] * 5), same.W, same.initial_mean
    )
    one = soft_lqr(same, same_reward, 5, 0.5)
    many = soft_lqr(stacked, same_reward, 5, 0.5)
    np.testing.assert_allclose(many.K, one.K, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("method", ["exact", "variational"])
def test_samples_match_the_marginals(rng, method):
    system, reward, _ = random_problem(rng, n=2, m=1, noise=0.3)
    sol = soft_lqr(system, reward, 5, 0.5, method)
    marg = trajectory_marginals(system, sol)
    num = 100_000
    states, actions = sample_trajectories(system, sol, jax.random.key(0), num)
    assert states.shape == (num, 6, 2) and actions.shape == (num, 5, 1)
    for t in range(6):
        sd = np.sqrt(np.diag(marg.state_cov[t]))
        assert np.all(np.abs(states[:, t].mean(0) - marg.state_mean[t]) < 5 * sd / np.sqrt(num))
        # the standard error of a covariance entry is about sqrt(s_ii s_jj / num)
        tolerance = 5 * np.sqrt(np.outer(sd, sd) ** 2 / num)
        assert np.all(np.abs(np.cov(states[:, t].T) - marg.state_cov[t]) <= tolerance)
    np.testing.assert_allclose(actions.mean(0), marg.action_mean, atol=0.02)


def test_variational_marginals_follow_the_true_dynamics(rng):
    system, reward, params = random_problem(rng, n=2, m=2)
    a, b, w, *_ = params
    sol = soft_lqr(system, reward, 4, 0.7, "variational")
    marg = trajectory_marginals(system, sol)
    mu, s = params[-2], params[-1]
    for t in range(4):
        np.testing.assert_allclose(marg.state_mean[t], mu, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(marg.state_cov[t], s, rtol=1e-10, atol=1e-12)
        K, k, Sigma = (np.asarray(x[t]) for x in (sol.K, sol.k, sol.Sigma))
        mu, s = a @ mu + b @ (K @ mu + k), (a + b @ K) @ s @ (a + b @ K).T + b @ Sigma @ b.T + w


def test_gain_matches_python_control_dlqr(rng):
    control = pytest.importorskip("control")
    _, reward, (a, b, _, q, r, cross, *_) = random_problem(rng, linear_terms=False)
    system = LinearGaussianSystem(a, b, 0.1 * np.eye(3))
    gain, _, _ = control.dlqr(a, b, q, r, cross)  # u = -K x
    stationary = soft_lqr_infinite(system, reward, 0.5)
    np.testing.assert_allclose(stationary.K, -gain, rtol=1e-9, atol=1e-12)


def test_tabular_engine_approaches_soft_lqr_as_the_grid_is_refined():
    """A scalar system discretised on finer and finer grids, solved by the tabular engine."""
    import control_as_inference as cai

    a, b, noise, q, r, temperature, horizon = 0.9, 0.5, 0.04, 1.0, 0.5, 0.3, 4
    sol = soft_lqr(
        LinearGaussianSystem([[a]], [[b]], [[noise]]),
        QuadraticReward([[q]], [[r]]),
        horizon,
        temperature,
    )
    errors = []
    for points, actions in ((15, 9), (61, 31)):
        x = np.linspace(-3, 3, points)
        u = np.linspace(-4, 4, actions)
        mean = a * x[:, None] + b * u[None, :]  # (S, A)
        edges = np.concatenate([[-np.inf], (x[1:] + x[:-1]) / 2, [np.inf]])
        cdf = scipy.stats.norm.cdf((edges[None, None, :] - mean[..., None]) / np.sqrt(noise))
        transitions = np.diff(cdf, axis=-1)
        transitions /= transitions.sum(-1, keepdims=True)
        reward = -(0.5 * q * x[:, None] ** 2 + 0.5 * r * u[None, :] ** 2)
        post = cai.infer(cai.TabularMDP(transitions, reward), horizon, temperature, "variational")
        inner = np.abs(x) <= 1.0
        policy = np.asarray(post.policy[0])[inner]
        policy_mean = policy @ u
        errors.append(np.max(np.abs(policy_mean - float(sol.K[0, 0, 0]) * x[inner])))
        # the value's shape (its constant depends on the action grid's measure)
        v = np.asarray(post.v[0])[inner]
        v_lqr = -0.5 * float(sol.P[0, 0, 0]) * x[inner] ** 2
        errors[-1] = max(errors[-1], np.ptp(v - v_lqr))
    assert errors[1] < errors[0] / 2, errors
    assert errors[1] < 1e-6, errors
    # a negative control: the exact (optimistic) gain is measurably different here
    exact = soft_lqr(
        LinearGaussianSystem([[a]], [[b]], [[noise]]),
        QuadraticReward([[q]], [[r]]),
        horizon,
        temperature,
        "exact",
    )
    wrong = np.max(np.abs(policy_mean - float(exact.K[0, 0, 0]) * x[inner]))
    assert wrong > 100 * errors[1], (wrong, errors)
