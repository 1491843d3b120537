"""The MPPI planner's types: its frozen settings (`MPPIConfig`), the state it carries between
steps (`MPPIState`), its diagnostics (`MPPIInfo`) and the initial state (`mppi_init`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._core import check_discount, check_int, check_scalar, check_temperature, is_concrete
from ..engine import Setting, checked_when_run

NOISE_MODES = ("plain", "antithetic")
BEST_SAMPLE = (
    "a small temperature keeps only the best samples (its limit is the best sampled sequence)"
)


class MPPIConfig(eqx.Module):
    """Frozen planner settings (validated on construction).

    Args:
        horizon: H >= 1 planning steps.
        num_samples: N >= 1 sampled action sequences per step.
        temperature: alpha > 0.
        noise_cov: (m, m) symmetric positive definite Sigma: the action prior N(0, Sigma) and the
            initial sampling covariance; a scalar or (m,) vector means a diagonal.
        action_low, action_high: (m,) bounds (both or neither); sampled actions are clipped.
        discount: gamma in (0, 1].
        terminal_reward: r_H(x) -> () or None.
        warm_start: start the next step from the current plan shifted by one step (the last
            action becomes the prior mean 0); otherwise every step starts from 0.
        adapt_covariance: adapt Sigma_q to the weighted samples with rate `adaptation_rate`.
        adaptation_rate: beta in (0, 1].
        return_rollouts: put the sampled actions and states in `info` (for plots; costs time).
        noise: how the N perturbations are drawn, one of `NOISE_MODES`:
            "plain"       N independent draws eps^k ~ N(0, Sigma_q).
            "antithetic"  N/2 independent draws and their negatives (N must be even): eps^k and
                          eps^{k + N/2} = -eps^k. Each eps^k is still N(0, Sigma_q), so every term
                          of MPPI's self-normalised estimate sum_k w_k eps^k / sum_k w_k has the
                          expectation it has under plain sampling; numerator and denominator are
                          averages of N/2 i.i.d. pairs and converge almost surely, hence so does
                          their ratio: the estimate stays consistent (bias O(1/N), as plain). The
                          pairs cancel the odd part of w(eps) eps, the error's leading term when
                          the reward is locally linear around the nominal. Half the random bits.
    """

    horizon: int = eqx.field(static=True)
    num_samples: int = eqx.field(static=True)
    temperature: Float[Array, ""]
    noise_cov: Float[Array, "m m"]
    noise_chol: Float[Array, "m m"]
    noise_precision: Float[Array, "m m"]
    action_low: Float[Array, " m"] | None
    action_high: Float[Array, " m"] | None
    discount: Float[Array, ""]
    terminal_reward: Callable | None = eqx.field(static=True)
    warm_start: bool = eqx.field(static=True)
    adapt_covariance: bool = eqx.field(static=True)
    adaptation_rate: Float[Array, ""]
    return_rollouts: bool = eqx.field(static=True)
    noise: str = eqx.field(static=True)

    def __init__(
        self,
        horizon,
        num_samples,
        temperature=1.0,
        noise_cov=1.0,
        action_low=None,
        action_high=None,
        discount=1.0,
        terminal_reward=None,
        warm_start: bool = True,
        adapt_covariance: bool = False,
        adaptation_rate=0.5,
        return_rollouts: bool = False,
        noise: str = "plain",
        dtype=None,
    ):
        horizon, num_samples = _check_sampling(horizon, num_samples, noise)
        dtype = dtype or jnp.asarray(1.0).dtype
        cov = _check_noise_cov(noise_cov)
        action_low, action_high = _check_bounds(action_low, action_high, cov.shape[0], dtype)
        temperature, discount = checked_when_run(  # the engine's checks (engine.Setting)
            check_temperature(temperature, dtype, BEST_SAMPLE), check_discount(discount, dtype)
        )
        rate = check_scalar("adaptation_rate", adaptation_rate, dtype)
        if is_concrete(rate) and not (0 < rate <= 1):
            raise ValueError(f"adaptation_rate must lie in (0, 1], got {float(rate)}.")
        if terminal_reward is not None and not callable(terminal_reward):
            raise ValueError("terminal_reward must be a function x -> scalar, or None.")
        self.horizon = horizon
        self.num_samples = num_samples
        self.temperature = temperature
        self.noise_cov = jnp.asarray(cov, dtype)
        self.noise_chol = jnp.asarray(np.linalg.cholesky(cov), dtype)
        self.noise_precision = jnp.asarray(np.linalg.inv(cov), dtype)
        self.action_low = action_low
        self.action_high = action_high
        self.discount = discount
        self.terminal_reward = terminal_reward
        self.warm_start = bool(warm_start)
        self.adapt_covariance = bool(adapt_covariance)
        self.adaptation_rate = rate
        self.return_rollouts = bool(return_rollouts)
        self.noise = noise

    @property
    def action_dim(self) -> int:
        return self.noise_cov.shape[0]

    @property
    def setting(self) -> Setting:
        """Temperature, discount and horizon as the `engine.Setting` (method "exact": the
        importance weights exp(R / alpha) are the trajectory posterior's)."""
        return Setting.unchecked(self.temperature, self.discount, self.horizon, "exact")


def _check_sampling(horizon, num_samples, noise) -> tuple[int, int]:
    """(H, N) as ints >= 1; the noise mode known, N even for antithetic pairs."""
    horizon = check_int("horizon", horizon, 1)
    num_samples = check_int("num_samples", num_samples, 1)
    if noise not in NOISE_MODES:
        raise ValueError(f"noise must be one of {NOISE_MODES}, got {noise!r}.")
    if noise == "antithetic" and num_samples % 2:
        raise ValueError(
            f"noise='antithetic' draws samples in pairs: num_samples must be even, got "
            f"{num_samples} (use {num_samples + 1})."
        )
    return horizon, num_samples


def _check_noise_cov(noise_cov) -> np.ndarray:
    """Sigma as a float64 (m, m) symmetric positive definite matrix (a scalar or (m,) vector: a
    diagonal)."""
    cov = np.asarray(noise_cov, dtype=np.float64)
    if cov.ndim == 0:
        cov = cov.reshape(1, 1)
    elif cov.ndim == 1:
        cov = np.diag(cov)
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1] or cov.shape[0] == 0:
        raise ValueError(
            f"noise_cov must be a scalar, an (m,) diagonal or an (m, m) matrix; got shape "
            f"{np.shape(noise_cov)}."
        )
    if not np.all(np.isfinite(cov)) or not np.allclose(cov, cov.T, atol=1e-12):
        raise ValueError("noise_cov must be finite and symmetric.")
    if np.linalg.eigvalsh(cov).min() <= 0:
        raise ValueError(
            f"noise_cov must be positive definite (smallest eigenvalue "
            f"{np.linalg.eigvalsh(cov).min():.3g})."
        )
    return cov


def _check_bounds(action_low, action_high, m: int, dtype):
    """(low, high) as (m,) arrays of dtype with low < high, or (None, None)."""
    if (action_low is None) != (action_high is None):
        raise ValueError("action_low and action_high must be given together (or neither).")
    if action_low is None:
        return None, None
    action_low = np.broadcast_to(np.asarray(action_low, dtype=np.float64), (m,))
    action_high = np.broadcast_to(np.asarray(action_high, dtype=np.float64), (m,))
    if np.any(np.isnan(action_low)) or np.any(np.isnan(action_high)):
        raise ValueError("action_low and action_high must not be NaN.")
    if np.any(action_low >= action_high):
        raise ValueError(
            f"action bounds reversed or empty: action_low {action_low} must be < "
            f"action_high {action_high}."
        )
    return jnp.asarray(action_low, dtype), jnp.asarray(action_high, dtype)


class MPPIState(eqx.Module):
    """What a planner carries between steps.

    Attributes:
        nominal: (H, m) the mean action sequence the next step samples around.
        covariance: (m, m) the sampling covariance Sigma_q.
    """

    nominal: Float[Array, "H m"]
    covariance: Float[Array, "m m"]


class MPPIInfo(NamedTuple):
    """Diagnostics of one planning step.

    Attributes:
        mean: (H, m) the posterior mean estimate (before shifting for the warm start).
        weights: (N,) normalised importance weights (CEM: 1/elites on the elites of the last
            iteration).
        effective_sample_size: () 1 / sum_k w_k^2.
        returns: (N,) R(U^k) of every sample.
        actions: (N, H, m) sampled sequences, or None unless `return_rollouts`.
        states: (N, H+1, n) their rollouts, or None unless `return_rollouts`.
    """

    mean: Array
    weights: Array
    effective_sample_size: Array
    returns: Array
    actions: Array | None
    states: Array | None


def mppi_init(config: MPPIConfig, nominal=None, key=None) -> MPPIState:
    """The initial planner state with covariance Sigma and nominal actions `nominal` (H, m), or
    a draw from the action prior N(0, Sigma) when a `key` is given (not clipped: it is only the
    centre of the first proposal), or zeros. A random start breaks ties of symmetric problems (a
    pendulum hanging still can swing either way; from zeros the first weighted averages of left
    and right swings partly cancel: over 30 seeds of the pendulum benchmark the median cost was
    373.3 from zeros, 370.2 from a random start)."""
    shape = (config.horizon, config.action_dim)
    dtype = config.noise_cov.dtype
    if nominal is not None and key is not None:
        raise ValueError("give nominal or key, not both.")
    if key is not None:
        nominal = jax.random.normal(key, shape, dtype) @ config.noise_chol.T
    if nominal is None:
        nominal = jnp.zeros(shape, dtype)
    nominal = jnp.asarray(nominal, dtype)
    if nominal.shape != shape:
        raise ValueError(f"nominal must have shape (H, m) = {shape}, got {nominal.shape}.")
    return MPPIState(nominal=nominal, covariance=config.noise_cov)
