"""Soft LQR against scipy's Riccati solver, forward propagation of moments, and the dense joint
Gaussian posterior of the whole trajectory."""

import numpy as np
import pytest
import scipy.linalg

from control_as_inference.lqr import (
    LinearGaussianSystem,
    QuadraticReward,
    soft_lqr,
    soft_lqr_infinite,
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
    """The dense Gaussian posterior over z = (x_0, u_0, x_1, ..., u_{H-1}, x_H): precision J,
    linear term h, and log of the normaliser (the log evidence)."""
    a, b, w, q, r, cross, q_x, q_u, mu0, s0 = params
    n, m = b.shape
    size = (horizon + 1) * n + horizon * m
    x_at = lambda t: slice(t * (n + m), t * (n + m) + n)  # noqa: E731
    u_at = lambda t: slice(t * (n + m) + n, t * (n + m) + n + m)  # noqa: E731
    J = np.zeros((size, size))
    h = np.zeros(size)
    s0_inv = np.linalg.inv(s0)
    w_inv = np.linalg.inv(w)
    J[x_at(0), x_at(0)] += s0_inv
    h[x_at(0)] += s0_inv @ mu0
    const = -0.5 * mu0 @ s0_inv @ mu0 - 0.5 * np.linalg.slogdet(2 * np.pi * s0)[1]
    for t in range(horizon):
        xs, us, nxt = x_at(t), u_at(t), x_at(t + 1)
        J[xs, xs] += q / temperature
        J[us, us] += r / temperature
        J[xs, us] += cross / temperature
        J[us, xs] += cross.T / temperature
        h[xs] -= q_x / temperature
        h[us] -= q_u / temperature
        g = np.zeros((n, size))
        g[:, xs], g[:, us], g[:, nxt] = -a, -b, np.eye(n)
        J += g.T @ w_inv @ g
        const -= 0.5 * np.linalg.slogdet(2 * np.pi * w)[1]
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
