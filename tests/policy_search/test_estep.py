"""The KL-bounded E-step: eta against a bracketing root-finder on the dual's derivative (numpy and
scipy, written independently of the library), the KL of the weights at the bound, the degenerate
sample and bad input."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import logsumexp, softmax

from control_as_inference import policy_search as ps


def numpy_dual(eta, values, epsilon, log_prior=None):
    """g(eta) = eta eps + eta mean_b log sum_j p_bj exp(v_bj / eta), by scipy."""
    if log_prior is None:
        log_prior = np.full(values.shape, -np.log(values.shape[-1]))
    return eta * epsilon + eta * np.mean(logsumexp(log_prior + values / eta, axis=-1))


def numpy_dual_derivative(eta, values, epsilon, log_prior=None):
    """g'(eta) = log Z - E_q[v] / eta + eps, averaged over rows (differentiated by hand)."""
    if log_prior is None:
        log_prior = np.full(values.shape, -np.log(values.shape[-1]))
    log_z = logsumexp(log_prior + values / eta, axis=-1)
    q = softmax(log_prior + values / eta, axis=-1)
    return epsilon + np.mean(log_z - np.sum(q * values, axis=-1) / eta)


def brentq_eta(values, epsilon, log_prior=None):
    return brentq(
        numpy_dual_derivative, 1e-3, 1e4, args=(values, epsilon, log_prior), xtol=1e-14, rtol=1e-14
    )


@pytest.mark.parametrize(("shape", "epsilon"), [((5, 20), 0.1), ((2, 3, 8), 1.0)])
def test_eta_matches_brentq_on_the_derivative_and_the_kl_meets_the_bound(rng, shape, epsilon):
    values = rng.normal(scale=3.0, size=shape)
    sol = ps.solve_temperature(values, epsilon)
    assert bool(sol.active)
    expected = brentq_eta(values, epsilon)
    np.testing.assert_allclose(float(sol.temperature), expected, rtol=1e-8)
    weights = ps.estep_weights(values, sol.temperature)
    np.testing.assert_allclose(np.asarray(weights).sum(-1), 1.0, rtol=1e-12)
    kl = float(jnp.mean(ps.weights_kl(weights)))
    assert abs(kl - epsilon) < 1e-6 and kl <= epsilon + 1e-12
    np.testing.assert_allclose(float(sol.kl), kl, rtol=1e-12)
    # the dual agrees with scipy's, is minimal at eta and its jax.grad vanishes there
    eta = float(sol.temperature)
    for trial in (0.5 * eta, eta, 2.0 * eta):
        np.testing.assert_allclose(
            float(ps.temperature_dual(trial, values, epsilon)),
            numpy_dual(trial, values, epsilon),
            rtol=1e-12,
        )
    g = float(ps.temperature_dual(eta, values, epsilon))
    assert g < float(ps.temperature_dual(0.9 * eta, values, epsilon))
    assert g < float(ps.temperature_dual(1.1 * eta, values, epsilon))
    assert abs(float(jax.grad(ps.temperature_dual)(eta, values, epsilon))) < 1e-8


def test_with_a_prior_the_weights_are_the_optimality_posterior(rng):
    """q ∝ p exp(Q / eta) over all actions of a tabular problem, KL(q || p) = epsilon."""
    q_values = rng.normal(size=(6, 4))
    prior = rng.dirichlet(np.ones(4), size=6)
    prior[0, 1] = 0.0  # an impossible action: zero weight, no NaN
    prior /= prior.sum(-1, keepdims=True)
    with np.errstate(divide="ignore"):
        log_prior = np.log(prior)
    sol = ps.solve_temperature(q_values, 0.2, log_prior)
    np.testing.assert_allclose(float(sol.temperature), brentq_eta(q_values, 0.2, log_prior), 1e-8)
    weights = np.asarray(ps.estep_weights(q_values, sol.temperature, log_prior))
    closed = prior * np.exp(q_values / float(sol.temperature))
    np.testing.assert_allclose(weights, closed / closed.sum(-1, keepdims=True), rtol=1e-10)
    assert weights[0, 1] == 0.0
    kl = np.mean(ps.weights_kl(weights, log_prior))
    assert abs(kl - 0.2) < 1e-6


def test_the_solution_is_jittable_and_vmappable(rng):
    values = rng.normal(size=(3, 4, 10))
    batched = jax.jit(jax.vmap(ps.solve_temperature, in_axes=(0, None)))(values, 0.2)
    for b in range(3):
        np.testing.assert_allclose(batched.temperature[b], brentq_eta(values[b], 0.2), rtol=1e-8)


def test_negative_control_a_wrong_derivative_gives_another_eta(rng):
    """The brentq oracle can tell: forgetting the log Z term (a common slip) moves the root."""
    values = rng.normal(scale=3.0, size=(5, 20))

    def wrong(eta):
        q = softmax(values / eta, axis=-1)
        return 0.1 - np.mean(np.sum(q * values, axis=-1) / eta - np.mean(values, -1) / eta)

    eta = float(ps.solve_temperature(values, 0.1).temperature)
    assert abs(brentq(wrong, 1e-3, 1e4) - eta) > 1e-3 * eta


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_degenerate_samples_give_a_finite_eta_and_a_flag(dtype):
    equal = np.full((4, 7), 2.5, dtype=dtype)
    sol = ps.solve_temperature(equal, 0.1)
    assert not bool(sol.active) and np.isfinite(sol.temperature) and float(sol.temperature) > 0
    weights = ps.estep_weights(equal, sol.temperature)
    np.testing.assert_allclose(weights, 1 / 7, rtol=1e-6)
    assert float(sol.kl) == 0.0
    # a bound looser than the greedy KL, log N (one best sample): cannot bind, greedy weights
    values = np.arange(5.0, dtype=dtype)
    loose = ps.solve_temperature(values, 2.0)  # log 5 = 1.609 < 2
    assert not bool(loose.active) and np.isfinite(loose.temperature)
    weights = np.asarray(ps.estep_weights(values, loose.temperature))
    assert np.all(np.isfinite(weights)) and weights[-1] > 1 - 1e-6
    assert float(loose.kl) <= 2.0
    # just below log 5 it binds and meets the bound
    tight = ps.solve_temperature(values.astype(np.float64), 1.5)
    assert bool(tight.active) and abs(float(tight.kl) - 1.5) < 1e-6


def test_float32_meets_the_bound_to_float32_precision(rng):
    values = rng.normal(size=(64, 16)).astype(np.float32)
    sol = ps.solve_temperature(values, 0.1)
    assert sol.temperature.dtype == jnp.float32 and bool(sol.active)
    assert abs(float(sol.kl) - 0.1) < 1e-4 and float(sol.kl) <= 0.1 + 1e-6
    np.testing.assert_allclose(float(sol.temperature), brentq_eta(values.astype(float), 0.1), 1e-4)


@pytest.mark.parametrize(
    ("values", "epsilon", "message"),
    [
        (np.zeros(5), 0.0, "epsilon"),
        (np.zeros(5), -1.0, "epsilon"),
        (np.zeros(5), float("nan"), "epsilon"),
        (np.zeros(5), float("inf"), "epsilon"),
        (np.zeros(1), 0.1, "N >= 2"),
        (np.zeros((3, 1)), 0.1, "N >= 2"),
        (np.array([0.0, np.nan, 1.0]), 0.1, "NaN"),
        (np.array([0.0, np.inf, 1.0]), 0.1, "NaN or inf"),
    ],
)
def test_bad_input_names_the_setting(values, epsilon, message):
    with pytest.raises(ValueError, match=message):
        ps.solve_temperature(values, epsilon)
    with pytest.raises(ValueError, match=message):
        ps.temperature_dual(1.0, values, epsilon)


def test_a_bad_eta_or_an_unnormalised_prior_is_named():
    values = np.array([0.0, 1.0])
    for eta in (0.0, -1.0, float("inf")):
        with pytest.raises(ValueError, match="eta"):
            ps.estep_weights(values, eta)
    for log_prior in (np.zeros(2), np.full(2, -np.inf)):
        with pytest.raises(ValueError, match="normalised"):
            ps.solve_temperature(values, 0.1, log_prior=log_prior)
    ps.solve_temperature(values, 0.1, log_prior=np.log([0.3, 0.7]))  # a normalised one is fine


def test_awr_weights_are_the_fixed_temperature_e_step_clipped(rng):
    advantages = rng.normal(size=(3, 10))
    weights = np.asarray(ps.awr_weights(advantages, 0.7, max_weight=1e9))
    np.testing.assert_allclose(weights, np.exp(advantages / 0.7), rtol=1e-12)
    normalised = weights / weights.sum(-1, keepdims=True)
    np.testing.assert_allclose(normalised, ps.estep_weights(advantages, 0.7), rtol=1e-12)
    clipped = np.asarray(ps.awr_weights(10 * advantages, 0.7))  # the paper's clip at 20
    assert clipped.max() == 20.0 and np.all(clipped > 0)
    # negative control: the clip changes the normalised weights where it binds
    assert (
        np.max(
            np.abs(
                clipped / clipped.sum(-1, keepdims=True) - ps.estep_weights(10 * advantages, 0.7)
            )
        )
        > 1e-3
    )
    for bad, message in ((dict(temperature=0.0), "beta"), (dict(max_weight=-1.0), "max_weight")):
        with pytest.raises(ValueError, match=message):
            ps.awr_weights(advantages, **{"temperature": 0.7, **bad})
    with pytest.raises(ValueError, match="NaN"):
        ps.awr_weights(np.array([0.0, np.nan]), 1.0)
