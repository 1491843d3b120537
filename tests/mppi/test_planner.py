"""MPPI against the Gaussian posterior it estimates (closed form and soft LQR), and the
closed loop on gymnasium's Pendulum-v1."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from control_as_inference.envs.double_integrator import (
    double_integrator_matrices,
    double_integrator_step,
)
from control_as_inference.envs.pendulum import angle_normalize
from control_as_inference.lqr import (
    LinearGaussianSystem,
    QuadraticReward,
    soft_lqr,
    trajectory_marginals,
)
from control_as_inference.mppi import (
    MPPIConfig,
    cem_step,
    mppi_init,
    mppi_step,
    pendulum_config,
    pendulum_episode,
    rollout_returns,
)

H = 10
Q = np.diag([1.0, 0.1])
R = np.array([[0.1]])
SIGMA = np.array([[1.0]])
X0 = np.array([1.0, 0.5])


def reward(x, u):
    return -(0.5 * x @ (jnp.asarray(Q) @ x) + 0.5 * u @ (jnp.asarray(R) @ u))


def terminal(x):
    return -0.5 * x @ (jnp.asarray(Q) @ x)


def quadratic_form():
    """R(U) = -(1/2 U'HU + g'U) + const for the double integrator (x_t = a_t + G_t U)."""
    a_mat, b_mat = double_integrator_matrices()
    g_t, a_t = [np.zeros((2, H))], [X0]
    for t in range(H):
        nxt = a_mat @ g_t[-1]
        nxt[:, t] += b_mat[:, 0]
        g_t.append(nxt)
        a_t.append(a_mat @ a_t[-1])
    hess = np.kron(np.eye(H), R)
    grad = np.zeros(H)
    for t in range(H + 1):  # running state cost at t < H and the terminal one at H
        hess += g_t[t].T @ Q @ g_t[t]
        grad += g_t[t].T @ Q @ a_t[t]
    return hess, grad


def posterior_mean(temperature=1.0):
    hess, grad = quadratic_form()
    return -np.linalg.solve(hess + temperature * np.kron(np.eye(H), np.linalg.inv(SIGMA)), grad)


def config(num_samples, **overrides):
    settings = dict(
        horizon=H,
        num_samples=num_samples,
        temperature=1.0,
        noise_cov=SIGMA,
        terminal_reward=terminal,
        warm_start=False,
    )
    settings.update(overrides)
    return MPPIConfig(**settings)


def one_step(cfg, seed, state=None):
    state = mppi_init(cfg) if state is None else state
    _, _, info = mppi_step(
        state, jnp.asarray(X0), jax.random.key(seed), cfg, double_integrator_step, reward
    )
    return np.asarray(info.mean)[:, 0], info


def test_rollout_returns_are_the_quadratic_form(rng):
    hess, grad = quadratic_form()
    actions = rng.normal(size=(7, H, 1))
    returns, states = rollout_returns(
        jnp.asarray(X0), jnp.asarray(actions), config(7), double_integrator_step, reward, True
    )
    u = actions[:, :, 0]
    constant = float(
        rollout_returns(
            jnp.asarray(X0), jnp.zeros((1, H, 1)), config(1), double_integrator_step, reward
        )[0][0]
    )
    expected = -0.5 * np.einsum("ki,ij,kj->k", u, hess, u) - u @ grad + constant
    np.testing.assert_allclose(returns, expected, rtol=1e-10)
    assert states.shape == (7, H + 1, 2)
    np.testing.assert_allclose(states[:, 0], np.broadcast_to(X0, (7, 2)))


def test_one_step_converges_to_the_posterior_mean_like_one_over_sqrt_n():
    mean = posterior_mean()
    assert np.abs(mean).max() > 0.5  # a posterior far from the prior mean 0
    errors = {}
    for n in (1_000, 100_000):
        errors[n] = np.mean(
            [np.sqrt(np.mean((one_step(config(n), seed)[0] - mean) ** 2)) for seed in range(6)]
        )
    est, info = one_step(config(100_000), 99)
    assert np.abs(est - mean).max() < 0.03
    np.testing.assert_allclose(float(jnp.sum(info.weights)), 1.0, rtol=1e-12)
    assert 0.2 * 100_000 < float(info.effective_sample_size) < 100_000
    # 100x the samples, 10x smaller error (the Monte Carlo rate), within a factor 2
    assert 5 < errors[1_000] / errors[100_000] < 20


def test_matches_the_soft_lqr_posterior():
    """The Gaussian prior N(0, Sigma) is the reward -alpha u' Sigma^{-1} u / 2 under a flat
    prior; with deterministic dynamics the soft-LQR action means from x_0 are the posterior mean
    of the whole action sequence."""
    temperature = 0.7
    a_mat, b_mat = double_integrator_matrices()
    system = LinearGaussianSystem(a_mat, b_mat, np.zeros((2, 2)), initial_mean=X0)
    lqr_reward = QuadraticReward(Q, R + temperature * np.linalg.inv(SIGMA))
    sol = soft_lqr(
        system, lqr_reward, H, temperature, "exact", terminal=(Q, np.zeros(2), np.zeros(()))
    )
    lqr_mean = np.asarray(trajectory_marginals(system, sol).action_mean)[:, 0]
    np.testing.assert_allclose(lqr_mean, posterior_mean(temperature), atol=1e-10)
    est, _ = one_step(config(100_000, temperature=temperature), 1)
    assert np.abs(est - lqr_mean).max() < 0.03


def test_importance_correction_for_a_shifted_proposal():
    """Sampling around a nominal U != 0 (as a warm start does) needs the correction
    -U' Sigma^{-1} eps; without it the estimate would be the mean of N(U, Sigma) exp(R/alpha)."""
    hess, grad = quadratic_form()
    mean = posterior_mean()
    nominal = mean + 0.2
    prior_precision = np.kron(np.eye(H), np.linalg.inv(SIGMA))
    wrong = -np.linalg.solve(hess + prior_precision, grad - prior_precision @ nominal)
    assert np.abs(wrong - mean).max() > 0.1
    cfg = config(100_000)
    est, _ = one_step(cfg, 2, mppi_init(cfg, nominal=nominal[:, None]))
    assert np.abs(est - mean).max() < 0.03


def test_adapted_proposal_keeps_the_weights_exact():
    """With a proposal covariance different from the prior (as after adaptation), the weights
    -1/2 u' Sigma^{-1} u + 1/2 eps' Sigma_q^{-1} eps still target the same posterior; and one
    adaptation step moves Sigma_q towards the posterior spread."""
    cfg = config(100_000, adapt_covariance=True, adaptation_rate=1.0)
    state = mppi_init(cfg)
    state = type(state)(nominal=state.nominal, covariance=jnp.asarray([[0.8]]))
    est, _ = one_step(cfg, 3, state)
    assert np.abs(est - posterior_mean()).max() < 0.05
    _, new_state, _ = mppi_step(
        mppi_init(cfg), jnp.asarray(X0), jax.random.key(4), cfg, double_integrator_step, reward
    )
    hess, _ = quadratic_form()
    posterior_cov = np.linalg.inv(hess + np.kron(np.eye(H), np.linalg.inv(SIGMA)))
    np.testing.assert_allclose(
        float(new_state.covariance[0, 0]), np.mean(np.diag(posterior_cov)), rtol=0.05
    )


def test_cem_finds_the_maximiser_of_the_return():
    hess, grad = quadratic_form()
    best = -np.linalg.solve(hess, grad)
    cfg = config(2000)
    _, _, info = cem_step(
        mppi_init(cfg),
        jnp.asarray(X0),
        jax.random.key(5),
        cfg,
        double_integrator_step,
        reward,
        num_elites=100,
        iterations=15,
    )
    assert np.abs(np.asarray(info.mean)[:, 0] - best).max() < 0.1


def test_warm_start_bounds_and_batched_start_states():
    cfg = config(500, warm_start=True, action_low=-0.3, action_high=0.3, return_rollouts=True)
    state = mppi_init(cfg)
    action, nxt, info = mppi_step(
        state, jnp.asarray(X0), jax.random.key(6), cfg, double_integrator_step, reward
    )
    assert np.all(np.abs(np.asarray(info.actions)) <= 0.3 + 1e-12)
    assert abs(float(action[0])) <= 0.3
    np.testing.assert_allclose(nxt.nominal[:-1], info.mean[1:])
    np.testing.assert_allclose(nxt.nominal[-1], 0.0)
    assert info.states.shape == (500, H + 1, 2)
    # vmap over start states and keys equals a loop
    starts = jnp.asarray([[1.0, 0.5], [-0.5, 0.0], [0.2, -1.0]])
    keys = jax.random.split(jax.random.key(7), 3)
    plan = functools.partial(mppi_step, config=cfg, dynamics=double_integrator_step, reward=reward)
    batched = jax.vmap(plan, in_axes=(None, 0, 0))(state, starts, keys)[0]
    looped = jnp.stack([plan(state, x, k)[0] for x, k in zip(starts, keys, strict=True)])
    np.testing.assert_allclose(batched, looped, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(noise_cov=[[1.0, 2.0], [2.0, 1.0]]), "positive definite"),
        (dict(noise_cov=[[1.0, 0.5], [0.0, 1.0]]), "symmetric"),
        (dict(horizon=0), "horizon"),
        (dict(num_samples=2.5), "num_samples"),
        (dict(temperature=0.0), "temperature"),
        (dict(temperature=-1.0), "temperature"),
        (dict(action_low=1.0, action_high=-1.0), "reversed"),
        (dict(action_low=1.0), "together"),
        (dict(discount=1.5), "discount"),
        (dict(adaptation_rate=0.0), "adaptation_rate"),
    ],
)
def test_bad_configuration_raises(overrides, message):
    settings = dict(horizon=5, num_samples=10)
    settings.update(overrides)
    with pytest.raises(ValueError, match=message):
        MPPIConfig(**settings)


def test_pendulum_swings_up_and_stays_balanced():
    """From hanging still, 200 steps of Pendulum-v1 (gymnasium's step; planning with the JAX
    model): upright by step 100 and within 0.1 rad for the last 80 steps."""
    episode = pendulum_episode(pendulum_config(1000), jax.random.key(0), 200, (math.pi, 0.0))
    theta = np.abs(np.asarray(angle_normalize(episode.states[:, 0])))
    assert theta[0] == pytest.approx(math.pi)
    assert np.all(theta[-80:] < 0.1)
    assert np.argmax(theta < 0.2) < 100
    assert episode.total_cost < 400
    assert episode.plan_seconds.shape == (200,)
