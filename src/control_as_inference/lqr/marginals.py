"""The soft-LQR trajectory posterior forward in time: Gaussian marginals of x_t and u_t, and
samples.

Variational: x_0 ~ N(mu_0, Sigma_0), the policy and the true dynamics. Exact: the start state and
every transition are tilted by exp(V(x)/alpha) (optimism), one formula for both (`tilt`).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._core import check_int
from .model import LinearGaussianSystem, SoftLQRSolution
from .riccati import psd_factor


class TrajectoryMarginals(eqx.Module):
    """Gaussian marginals of the trajectory posterior.

    Attributes:
        state_mean: (H+1, n); state_cov: (H+1, n, n); action_mean: (H, m); action_cov: (H, m, m).
    """

    state_mean: Float[Array, "H1 n"]
    state_cov: Float[Array, "H1 n n"]
    action_mean: Float[Array, "H m"]
    action_cov: Float[Array, "H m m"]


class Tilt(NamedTuple):
    """x ~ N(m, C) times exp(-(1/2 x'Px + p'x)/alpha), normalised, is N(gain (m - shift), cov):

        gain = (I + C P/alpha)^{-1} (n, n),  shift = C p/alpha (n,),
        cov = (I + C P/alpha)^{-1} C = (C^{-1} + P/alpha)^{-1} (n, n), symmetrised.

    gain is linear in m, so a random m ~ N(mean, spread) gives x ~ N(gain (mean - shift),
    gain spread gain' + cov).
    """

    gain: Array
    shift: Array
    cov: Array


def tilt(cov, P, p, temperature) -> Tilt:
    """The exact posterior's tilt of a Gaussian with covariance `cov` (n, n) by the value
    exp(V(x)/alpha), V(x) = -(1/2 x'Px + p'x + c) (see `Tilt`). For x_0: cov = Sigma_0 and V_0;
    for x_{t+1} given (x_t, u_t): cov = W_t and V_{t+1}, i.e.
    p(x'|x,u,e) = N((I + W P/alpha)^{-1} (A x + B u - W p/alpha), (I + W P/alpha)^{-1} W)."""
    eye = jnp.eye(P.shape[0], dtype=P.dtype)
    gain = jnp.linalg.solve(eye + cov @ P / temperature, eye)
    tilted = gain @ cov
    return Tilt(gain, cov @ p / temperature, 0.5 * (tilted + tilted.T))


def start_distribution(system: LinearGaussianSystem, sol: SoftLQRSolution):
    """(mean (n,), cov (n, n)) of x_0 under the posterior."""
    mean, cov = system.initial_mean, system.initial_cov
    if sol.method != "exact":
        return mean, cov
    start = tilt(cov, sol.P[0], sol.p[0], sol.temperature)
    return start.gain @ (mean - start.shift), start.cov


def trajectory_marginals(system: LinearGaussianSystem, sol: SoftLQRSolution) -> TrajectoryMarginals:
    """Means and covariances of x_t and u_t under the posterior.

    Variational: x_0 ~ N(mu_0, Sigma_0), the policy and the true dynamics. Exact: the posterior
    start state and dynamics are tilted by exp(V_{t}(x)/alpha) (optimism):
    p(x'|x,u,e) = N((I + W P/alpha)^{-1} (A x + B u - W p/alpha), (I + W P/alpha)^{-1} W).
    """
    horizon = sol.K.shape[0]
    A, B, W = system.steps(horizon)
    exact = sol.method == "exact"
    temperature = sol.temperature

    def step(carry, inputs):
        mean, cov = carry
        A_t, B_t, W_t, K, k, Sigma, P_next, p_next = inputs
        u_mean = K @ mean + k
        u_cov = K @ cov @ K.T + Sigma
        closed = A_t + B_t @ K
        next_mean = A_t @ mean + B_t @ u_mean
        spread = closed @ cov @ closed.T + B_t @ Sigma @ B_t.T  # of A x + B u
        if exact:  # p(x'|x,u,e): the Gaussian step tilted by exp(V_{t+1}(x')/alpha)
            noise = tilt(W_t, P_next, p_next, temperature)
            next_mean = noise.gain @ (next_mean - noise.shift)
            next_cov = noise.gain @ spread @ noise.gain.T + noise.cov
        else:
            next_cov = spread + W_t
        return (next_mean, next_cov), (mean, cov, u_mean, u_cov)

    inputs = (A, B, W, sol.K, sol.k, sol.Sigma, sol.P[1:], sol.p[1:])
    start = start_distribution(system, sol)
    (last_mean, last_cov), (means, covs, u_means, u_covs) = jax.lax.scan(step, start, inputs)
    return TrajectoryMarginals(
        state_mean=jnp.concatenate([means, last_mean[None]]),
        state_cov=jnp.concatenate([covs, last_cov[None]]),
        action_mean=u_means,
        action_cov=u_covs,
    )


def sample_trajectories(system: LinearGaussianSystem, sol: SoftLQRSolution, key, num: int):
    """Draw `num` trajectories from the posterior (see `trajectory_marginals` for its dynamics).

    Returns states (num, H+1, n) and actions (num, H, m).
    """
    return _sample(system, sol, key, check_int("num", num, 1))


def _gaussian(key, mean, cov, num):
    """(num, n) draws of N(mean, cov); cov may be singular (a known start): no Cholesky."""
    n = cov.shape[-1]
    root, _ = psd_factor(cov)
    return mean[None, :] + jax.random.normal(key, (num, n), cov.dtype) @ root.T


@functools.partial(jax.jit, static_argnames=("num",))
def _sample(system, sol, key, num):
    horizon = sol.K.shape[0]
    A, B, W = system.steps(horizon)
    exact = sol.method == "exact"
    temperature = sol.temperature
    key, start = jax.random.split(key)
    x0 = _gaussian(start, *start_distribution(system, sol), num)

    def step(x, inputs):
        step_key, A_t, B_t, W_t, K, k, Sigma, P_next, p_next = inputs
        key_u, key_x = jax.random.split(step_key)
        u = x @ K.T + k[None, :] + _gaussian(key_u, jnp.zeros_like(k), Sigma, num)
        m = x @ A_t.T + u @ B_t.T
        if exact:
            noise = tilt(W_t, P_next, p_next, temperature)
            m = (m - noise.shift[None, :]) @ noise.gain.T
            noise_cov = noise.cov
        else:
            noise_cov = 0.5 * (W_t + W_t.T)
        x_next = m + _gaussian(key_x, jnp.zeros_like(p_next), noise_cov, num)
        return x_next, (x, u)

    keys = jax.random.split(key, horizon)
    inputs = (keys, A, B, W, sol.K, sol.k, sol.Sigma, sol.P[1:], sol.p[1:])
    last, (xs, us) = jax.lax.scan(step, x0, inputs)
    states = jnp.concatenate([xs, last[None]])
    return jnp.moveaxis(states, 0, 1), jnp.moveaxis(us, 0, 1)
