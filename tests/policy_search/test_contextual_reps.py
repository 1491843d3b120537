"""Contextual REPS: the joint dual over (eta, theta) against scipy's minimiser, both optimality
conditions (KL = epsilon, feature means kept), and recovery of a known linear optimal mapping."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import logsumexp

from control_as_inference import policy_search as ps

GAIN = np.array([[1.0, -0.5], [0.3, 2.0]])
OFFSET = np.array([0.5, -1.0])


def objective(contexts, x):
    """R(c, x) = -|x - (G c + o)|^2: the optimal mapping is x*(c) = G c + o."""
    return -jnp.sum((x - (contexts @ GAIN.T + OFFSET[None])) ** 2, axis=1)


def numpy_dual(z, features, returns, epsilon):
    """g(eta = exp(z_0), theta = z_1:), written with scipy."""
    eta, theta = np.exp(z[0]), z[1:]
    values = returns - features @ theta
    log_mean = logsumexp(values / eta) - np.log(len(values))
    return eta * epsilon + theta @ features.mean(0) + eta * log_mean


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(5)
    contexts = rng.uniform(-1, 1, size=(300, 2))
    x = rng.normal(size=(300, 2))
    return contexts, x, np.asarray(objective(contexts, x))


@pytest.mark.slow  # about 6 s of CPU: compiling the Newton solver of the joint dual
def test_the_joint_dual_matches_scipy_and_meets_both_conditions(batch):
    contexts, x, returns = batch
    step = ps.contextual_reps_update(contexts, x, returns, 0.5)
    features = np.asarray(ps.quadratic_features(contexts))
    start = np.concatenate([[0.0], np.zeros(features.shape[1])])
    peer = minimize(numpy_dual, start, args=(features, returns, 0.5), method="BFGS", tol=1e-12)
    ours = np.concatenate([[np.log(float(step.temperature))], np.asarray(step.theta)])
    ours_value = numpy_dual(ours, features, returns, 0.5)
    assert ours_value <= peer.fun + 1e-9  # at least as low as scipy's minimum
    np.testing.assert_allclose(float(step.temperature), np.exp(peer.x[0]), rtol=1e-4)
    np.testing.assert_allclose(step.theta, peer.x[1:], rtol=1e-3, atol=1e-3)
    w = np.asarray(step.weights)
    assert bool(step.active) and abs(np.sum(w * np.log(len(w) * w)) - 0.5) < 1e-6
    np.testing.assert_allclose(w @ features, features.mean(0), atol=1e-8)  # contexts kept
    # negative control: without the baseline (theta = 0) the context means drift
    plain = ps.estep_weights(returns, ps.solve_temperature(returns, 0.5).temperature)
    assert np.max(np.abs(np.asarray(plain) @ features - features.mean(0))) > 0.05
    # the M-step is weighted least squares of x on (1, c)
    design = np.concatenate([np.ones((300, 1)), contexts], axis=1)
    coef = np.linalg.lstsq(np.sqrt(w)[:, None] * design, np.sqrt(w)[:, None] * x, rcond=None)[0]
    np.testing.assert_allclose(step.policy.offset, coef[0], rtol=1e-8)
    np.testing.assert_allclose(step.policy.gain, coef[1:].T, rtol=1e-8)


@pytest.mark.slow  # about 10 s: 25 iterations (and a second compilation for 100 samples)
def test_contextual_reps_recovers_the_linear_optimal_mapping():
    policy = ps.LinearGaussianPolicy(np.zeros(2), np.zeros((2, 2)), np.eye(2))

    def contexts(key, n):
        return jax.random.uniform(key, (n, 2), minval=-1.0, maxval=1.0, dtype=jnp.float64)

    steps = ps.run_contextual_reps(
        objective, contexts, jax.random.key(1), policy, samples=100, iterations=25
    )
    final = steps[-1].policy
    np.testing.assert_allclose(final.gain, GAIN, atol=1e-3)
    np.testing.assert_allclose(final.offset, OFFSET, atol=1e-3)
    assert all(abs(float(s.kl) - 0.5) < 1e-6 for s in steps[:10])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"epsilon": 0.0}, "epsilon"),
        ({"returns": np.array([0.0, np.nan, 1.0])}, "NaN"),
        ({"contexts": np.zeros((2, 2))}, "contexts must have shape"),
    ],
)
def test_bad_input_is_named(change, message):
    kwargs = {
        "contexts": np.zeros((3, 2)),
        "samples": np.zeros((3, 2)),
        "returns": np.arange(3.0),
        "epsilon": 0.5,
        **change,
    }
    with pytest.raises(ValueError, match=message):
        ps.contextual_reps_update(**kwargs)
