"""Planning as inference by sampling: model predictive path-integral control (MPPI) and the
cross-entropy method (CEM), pure and jittable.

Control as inference over an action sequence U = (u_0, ..., u_{H-1}) with a Gaussian action
prior p(U) = prod_t N(u_t; 0, Sigma) and deterministic dynamics x_{t+1} = f(x_t, u_t) has the
posterior (Williams et al. 2017, "Information theoretic MPC"; Levine 2018, section 4)

    p(U | x_0, e) ∝ p(U) exp(R(U) / alpha),
    R(U) = sum_t gamma^t r(x_t, u_t) + gamma^H r_H(x_H).

MPPI estimates its mean by self-normalised importance sampling from a proposal
q(U) = prod_t N(u_t; nominal_t, Sigma_q): draw eps^k ~ N(0, Sigma_q), u^k = nominal + eps^k
(clipped to the action bounds; eps^k is then the clipped perturbation), and weight

    log w_k = R(U^k) / alpha
              + sum_t [ -1/2 u_t^k' Sigma^{-1} u_t^k + 1/2 eps_t^k' Sigma_q^{-1} eps_t^k ]

which, for Sigma_q = Sigma, is R / alpha - sum_t nominal_t' Sigma^{-1} eps_t^k up to a constant:
the "alpha U' Sigma^{-1} eps" term of MPPI's cost. The weights are normalised by log-sum-exp after
subtracting their maximum. The new mean is nominal + sum_k w_k eps^k. For linear dynamics and a
quadratic reward -(1/2 U'HU + g'U) this converges to the exact posterior mean
-(H + alpha Sigma^{-1})^{-1} g as the number of samples grows (tested), with error ~ 1/sqrt(N).

Options beyond the textbook MPPI: adapting Sigma_q to the weighted spread of the samples
(Sigma_q <- (1 - beta) Sigma_q + beta sum_k w_k (eps^k - mean)(eps^k - mean)', as in MPPI-CMA;
the importance weights stay exact for whatever Sigma_q was used), CEM on the same rollouts
(`cem_step`), and any batch of start states through `jax.vmap`.

The planner's types are in `config.py`; the rollouts, whose memory layout is chosen per backend,
in `rollout.py`.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jaxtyping import Array

from .._core import standard_normal
from .config import MPPIConfig, MPPIInfo, MPPIState
from .rollout import rollout


def _noise(key, chol, config: MPPIConfig):
    """(H, m, N) Gaussian perturbations with covariance chol chol'. The standard normals are
    drawn in float32 (half the random bits of float64) by `_core.standard_normal` (Box-Muller on
    the raw bits: their cost plus about 16% on CPU, where `jax.random.normal` costs 1.5-2.7x
    that; benchmarks/RESULTS.md, issue 23) and cast: a sample is a sample, and the importance
    weights use the perturbations exactly as drawn."""
    h, m, n = config.horizon, config.action_dim, config.num_samples
    if config.noise == "antithetic":  # eps^{k + N/2} = -eps^k (MPPIConfig's docstring)
        z = standard_normal(key, (h, m, n // 2), chol.dtype)
        z = jnp.concatenate([z, -z], axis=-1)
    else:
        z = standard_normal(key, (h, m, n), chol.dtype)
    return jnp.einsum("ij,hjn->hin", chol, z)


def _clip(config: MPPIConfig, u, samples_last: bool = False):
    """Clip actions to the bounds: u is (..., m), or (H, m, N) when samples_last."""
    if config.action_low is None:
        return u
    low, high = config.action_low, config.action_high
    if samples_last:
        low, high = low[:, None], high[:, None]
    shape = (1,) * (u.ndim - low.ndim) + low.shape
    return jnp.clip(u, low.reshape(shape), high.reshape(shape))


def _shift(config: MPPIConfig, mean):
    if not config.warm_start:
        return jnp.zeros_like(mean)
    return jnp.concatenate([mean[1:], jnp.zeros_like(mean[:1])], axis=0)


def _quadratic(precision, v):
    """sum_t v_t' P v_t for v laid out (H, m, N): -> (N,)."""
    return jnp.einsum("tin,ij,tjn->n", v, precision, v)


@functools.partial(jax.jit, static_argnames=("dynamics", "reward"))
def mppi_step(
    state: MPPIState, x, key, config: MPPIConfig, dynamics, reward
) -> tuple[Array, MPPIState, MPPIInfo]:
    """One MPPI planning step from state x (module docstring).

    Args:
        state: `MPPIState` from `mppi_init` or the previous step.
        x: (n,) the current state.
        key: a `jax.random` key.
        config: `MPPIConfig`.
        dynamics: f(x, u) -> x', a pure JAX function (hashable: a module-level function).
        reward: r(x, u) -> ().

    Returns:
        action (m,) to apply (clipped to the bounds), the next `MPPIState`, and `MPPIInfo`.
    """
    nominal, cov = state.nominal, state.covariance
    h, m = config.horizon, config.action_dim
    if config.adapt_covariance:
        chol, proposal_precision = jnp.linalg.cholesky(cov), jnp.linalg.inv(cov)
    else:  # the proposal is the prior: factors computed once, in the config
        chol, proposal_precision = config.noise_chol, config.noise_precision
    eps = _noise(key, chol, config)  # (H, m, N)
    actions = _clip(config, nominal[:, :, None] + eps, samples_last=True)
    eps = actions - nominal[:, :, None]
    returns, states = rollout(x, actions, config, dynamics, reward, config.return_rollouts)

    log_w = (
        returns / config.temperature
        - 0.5 * _quadratic(config.noise_precision, actions)
        + 0.5 * _quadratic(proposal_precision, eps)
    )
    log_w = log_w - jnp.max(log_w)
    weights = jnp.exp(log_w - jax.nn.logsumexp(log_w))
    delta = jnp.einsum("k,tmk->tm", weights, eps)
    mean = nominal + delta

    if config.adapt_covariance:
        centred = eps - delta[:, :, None]
        spread = jnp.einsum("k,tik,tjk->ij", weights, centred, centred) / h
        jitter = 1e-6 * jnp.eye(m, dtype=cov.dtype) * jnp.trace(config.noise_cov) / m
        rate = config.adaptation_rate
        cov = (1 - rate) * cov + rate * (spread + jitter)
        cov = 0.5 * (cov + cov.T)

    info = MPPIInfo(
        mean=mean,
        weights=weights,
        effective_sample_size=1.0 / jnp.sum(weights**2),
        returns=returns,
        actions=jnp.transpose(actions, (2, 0, 1)) if config.return_rollouts else None,
        states=states,
    )
    action = _clip(config, mean[0])
    return action, MPPIState(nominal=_shift(config, mean), covariance=cov), info


@functools.partial(jax.jit, static_argnames=("dynamics", "reward", "num_elites", "iterations"))
def cem_step(
    state: MPPIState,
    x,
    key,
    config: MPPIConfig,
    dynamics,
    reward,
    num_elites: int = 100,
    iterations: int = 3,
) -> tuple[Array, MPPIState, MPPIInfo]:
    """One cross-entropy-method planning step on the same rollouts as `mppi_step`.

    Each of `iterations` rounds samples N sequences from N(mean, Sigma_q), keeps the
    `num_elites` with the highest R(U) and refits the mean (per step) and the covariance (shared
    over steps) to them. The covariance restarts from config.noise_cov at every planning step.
    `config.temperature` is not used (CEM is the temperature -> 0 limit of the same idea).
    """
    if not 1 <= num_elites <= config.num_samples:
        raise ValueError(
            f"num_elites must lie in [1, num_samples = {config.num_samples}], got {num_elites}."
        )
    h, m = config.horizon, config.action_dim
    jitter = 1e-6 * jnp.eye(m, dtype=config.noise_cov.dtype) * jnp.trace(config.noise_cov) / m

    def refit(carry, key):
        mean, cov = carry
        eps = _noise(key, jnp.linalg.cholesky(cov), config)
        actions = _clip(config, mean[:, :, None] + eps, samples_last=True)  # (H, m, N)
        returns, _ = rollout(x, actions, config, dynamics, reward)
        _, elite = jax.lax.top_k(returns, num_elites)
        chosen = actions[:, :, elite]
        new_mean = jnp.mean(chosen, axis=-1)
        centred = chosen - new_mean[:, :, None]
        new_cov = jnp.einsum("tik,tjk->ij", centred, centred) / (num_elites * h) + jitter
        weights = jnp.zeros(returns.shape, cov.dtype).at[elite].set(1.0 / num_elites)
        return (new_mean, new_cov), (returns, weights, actions)

    keys = jax.random.split(key, iterations)
    (mean, _), (returns, weights, actions) = jax.lax.scan(
        refit, (state.nominal, config.noise_cov), keys
    )
    states = None
    last = jnp.transpose(actions[-1], (2, 0, 1))  # (N, H, m)
    if config.return_rollouts:
        _, states = rollout(x, actions[-1], config, dynamics, reward, True)
    info = MPPIInfo(
        mean=mean,
        weights=weights[-1],
        effective_sample_size=jnp.asarray(float(num_elites), mean.dtype),
        returns=returns[-1],
        actions=last if config.return_rollouts else None,
        states=states,
    )
    next_state = MPPIState(nominal=_shift(config, mean), covariance=config.noise_cov)
    return _clip(config, mean[0]), next_state, info
