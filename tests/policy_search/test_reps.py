"""Episodic REPS: eta against brentq, the KL of the new weights at the bound, the closed-form
tilt of a Gaussian by a quadratic reward (many samples), the loop on a black box and bad input."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import brentq

from control_as_inference import policy_search as ps

from .test_estep import brentq_eta

A = np.array([[2.0, 0.5], [0.5, 1.0]])
B = np.array([1.0, -0.5])
MU = np.array([0.3, 0.2])
SIGMA = np.array([[0.5, 0.1], [0.1, 0.3]])


def quadratic(x):
    return -0.5 * jnp.einsum("ni,ij,nj->n", x, A, x) + x @ B


def tilted(eta):
    """N(mu, Sigma) exp(R / eta), R = -x'Ax/2 + b'x: N(m, S), S = (Sigma^-1 + A/eta)^-1,
    m = S (Sigma^-1 mu + b / eta) (completing the square)."""
    precision = np.linalg.inv(SIGMA)
    cov = np.linalg.inv(precision + A / eta)
    return cov @ (precision @ MU + B / eta), cov


def gaussian_kl(m, s, mu, sigma):
    """KL(N(m, s) || N(mu, sigma)) in closed form."""
    inv = np.linalg.inv(sigma)
    d = m - mu
    logdet = np.linalg.slogdet(sigma)[1] - np.linalg.slogdet(s)[1]
    return 0.5 * (np.trace(inv @ s) + d @ inv @ d - len(m) + logdet)


def test_eta_matches_brentq_and_the_new_weights_meet_the_bound(rng):
    samples = rng.multivariate_normal(MU, SIGMA, size=40)
    returns = np.asarray(quadratic(samples))
    step = ps.reps_update(samples, returns, 0.4)
    np.testing.assert_allclose(float(step.solution.temperature), brentq_eta(returns, 0.4), 1e-8)
    kl = float(ps.weights_kl(step.weights))
    assert bool(step.solution.active) and abs(kl - 0.4) < 1e-6
    w = np.asarray(step.weights)
    np.testing.assert_allclose(step.distribution.mean, w @ samples, rtol=1e-12)
    centred = samples - w @ samples
    np.testing.assert_allclose(step.distribution.cov, (w[:, None] * centred).T @ centred, 1e-12)


def test_many_samples_approach_the_closed_form_tilted_gaussian():
    epsilon = 0.3
    eta = brentq(lambda e: gaussian_kl(*tilted(e), MU, SIGMA) - epsilon, 1e-3, 1e3, xtol=1e-12)
    mean, cov = tilted(eta)
    samples = ps.sample_search_distribution(
        jax.random.key(0), ps.SearchDistribution(jnp.asarray(MU), jnp.asarray(SIGMA)), 200_000
    )
    step = ps.reps_update(samples, quadratic(samples), epsilon)
    np.testing.assert_allclose(float(step.solution.temperature), eta, rtol=0.02)
    np.testing.assert_allclose(step.distribution.mean, mean, atol=0.01)
    np.testing.assert_allclose(step.distribution.cov, cov, atol=0.01)
    # negative controls: the untilted search distribution, and the tilt with b's sign flipped
    assert np.max(np.abs(MU - mean)) > 0.05 and np.max(np.abs(SIGMA - cov)) > 0.05
    precision = np.linalg.inv(SIGMA)
    wrong = np.linalg.inv(precision + A / eta) @ (precision @ MU - B / eta)
    assert np.max(np.abs(np.asarray(step.distribution.mean) - wrong)) > 0.1


@pytest.mark.slow  # about 3 s of CPU: 25 iterations of the loop
def test_run_reps_finds_the_maximum_of_a_quadratic():
    config = ps.REPSConfig(epsilon=0.5, samples=30, iterations=25)
    history = ps.run_reps(quadratic, jax.random.key(3), np.zeros(2), np.eye(2), config)
    optimum = np.linalg.solve(A, B)
    np.testing.assert_allclose(history.means[-1], optimum, atol=1e-3)
    assert history.mean_returns[-1] > history.mean_returns[0]
    np.testing.assert_allclose(history.kls, 0.5, atol=1e-6)
    assert history.means.shape == (26, 2) and history.seconds.shape == (25,)


@pytest.mark.parametrize(
    ("samples", "returns", "epsilon", "message"),
    [
        (np.zeros((4, 2)), np.arange(4.0), 0.0, "epsilon"),
        (np.zeros((4, 2)), np.arange(4.0), -0.5, "epsilon"),
        (np.zeros((1, 2)), np.zeros(1), 0.5, "N >= 2"),
        (np.zeros((3, 2)), np.array([0.0, np.nan, 1.0]), 0.5, "NaN"),
        (np.zeros((3, 2)), np.arange(4.0), 0.5, "samples must have shape"),
    ],
)
def test_bad_update_input_is_named(samples, returns, epsilon, message):
    with pytest.raises(ValueError, match=message):
        ps.reps_update(samples, returns, epsilon)


@pytest.mark.parametrize(
    ("cov", "message"),
    [
        (np.array([[1.0, np.nan], [np.nan, 1.0]]), "finite"),
        (np.array([[1.0, 2.0], [2.0, 1.0]]), "positive definite"),
        (np.array([[1.0, 0.5], [0.0, 1.0]]), "symmetric"),
        (np.eye(3), r"\(d, d\)"),
    ],
)
def test_bad_search_distribution_is_named(cov, message):
    with pytest.raises(ValueError, match=message):
        ps.run_reps(quadratic, jax.random.key(0), np.zeros(2), cov)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"epsilon": 0.0}, "epsilon"), ({"samples": 1}, "samples"), ({"ridge": -1.0}, "ridge")],
)
def test_bad_config_is_named(kwargs, message):
    with pytest.raises(ValueError, match=f"REPSConfig.{message}"):
        ps.REPSConfig(**kwargs)
    with pytest.raises(TypeError):
        ps.REPSConfig(0.5)  # keyword-only
