"""MPPI's noise modes (`MPPIConfig(noise=...)`): antithetic pairs are pairs, keep the estimate
consistent (it converges to the exact Gaussian posterior mean) and reduce its error at equal
samples; bad modes are refused."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from control_as_inference.envs.double_integrator import double_integrator_step
from control_as_inference.mppi import MPPIConfig, mppi_init, mppi_step

from .test_planner import X0, config, one_step, posterior_mean, reward


def test_bad_modes_are_refused():
    with pytest.raises(ValueError, match="noise must be one of"):
        MPPIConfig(horizon=3, num_samples=8, noise="sobol")
    with pytest.raises(ValueError, match="num_samples must be even"):
        MPPIConfig(horizon=3, num_samples=7, noise="antithetic")
    assert MPPIConfig(horizon=3, num_samples=7).noise == "plain"


def test_antithetic_samples_come_in_mirrored_pairs():
    cfg = config(64, noise="antithetic", return_rollouts=True)
    state = mppi_init(cfg, nominal=0.3 * jnp.ones((cfg.horizon, 1)))
    _, _, info = mppi_step(
        state, jnp.asarray(X0), jax.random.key(0), cfg, double_integrator_step, reward
    )
    u = np.asarray(info.actions)  # (N, H, m), no bounds: u = nominal + eps
    np.testing.assert_allclose(u[:32] + u[32:], 0.6, atol=1e-12)
    assert np.abs(u[:32] - u[32:]).min() > 0  # not one sample repeated
    # negative control: plain draws are not mirrored
    _, _, plain = mppi_step(
        state,
        jnp.asarray(X0),
        jax.random.key(0),
        config(64, return_rollouts=True),
        double_integrator_step,
        reward,
    )
    p = np.asarray(plain.actions)
    assert np.abs(p[:32] + p[32:] - 0.6).max() > 0.5


def test_antithetic_is_consistent_and_more_accurate_at_equal_samples():
    """Consistent: the exact posterior mean at 1e5 samples (the plain sampler's oracle bound).
    More accurate where the reward is nearly linear over the proposal's spread (temperature 5:
    the pairs cancel the odd part of w(eps) eps); never worse far from it (temperature 1, the
    posterior mean 0.6 prior standard deviations from the nominal 0)."""
    est, _ = one_step(config(100_000, noise="antithetic"), 7)
    assert np.abs(est - posterior_mean()).max() < 0.03

    def rmse(noise, temperature):
        mean = posterior_mean(temperature)
        errs = [
            one_step(config(1_000, noise=noise, temperature=temperature), s)[0] - mean
            for s in range(8)
        ]
        return float(np.sqrt(np.mean(np.square(errs))))

    # measured: 0.0307 (plain) against 0.0102; 0.0424 against 0.0415
    assert rmse("antithetic", 5.0) < 0.5 * rmse("plain", 5.0)
    assert rmse("antithetic", 1.0) < 1.1 * rmse("plain", 1.0)
