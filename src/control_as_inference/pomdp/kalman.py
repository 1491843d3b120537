"""The Kalman filter of a `cai.lqr` system seen through y = C x + v (module docstring of
`lqg`): the sensor, the filter over data, its data-independent covariance step and the stationary
filter (the Riccati equation on the engine's `fixed_point`)."""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._core import float_dtype, is_concrete
from ..engine import SolverResult, fixed_point
from ..lqr import LinearGaussianSystem


class LinearGaussianObservation(eqx.Module):
    """y = C x + v, v ~ N(0, V).

    Args:
        C: (p, n) the sensor matrix; V: (p, p) symmetric positive definite noise covariance.

    Raises:
        ValueError: naming the matrix, for wrong shapes, NaN or inf, asymmetric or not positive
            definite V.
    """

    C: Float[Array, "p n"]
    V: Float[Array, "p p"]

    def __init__(self, C, V):
        dtype = float_dtype(C, V)
        C, V = jnp.asarray(C, dtype), jnp.asarray(V, dtype)
        if C.ndim != 2 or C.shape[0] == 0:
            raise ValueError(f"C must be a (p, n) matrix with p >= 1, got shape {C.shape}.")
        if V.shape != (C.shape[0],) * 2:
            raise ValueError(f"V must have shape (p, p) = {(C.shape[0],) * 2}, got {V.shape}.")
        for name, x in (("C", C), ("V", V)):
            if is_concrete(x) and not np.isfinite(np.asarray(x)).all():
                raise ValueError(f"{name} contains NaN or inf.")
        if is_concrete(V):
            v = np.asarray(V, np.float64)
            scale = 1 + np.abs(v).max()
            if not np.allclose(v, v.T, atol=1e-9 * scale):
                raise ValueError("V must be symmetric; use (V + V.T) / 2.")
            eigenvalues = np.linalg.eigvalsh(v)
            low = eigenvalues.min()
            if low <= 1e-12 * max(eigenvalues.max(), 0.0):
                raise ValueError(
                    f"V must be positive definite (smallest eigenvalue {low:.3g}): every sensor "
                    "needs noise; a noiseless sensor is the limit of a small V."
                )
        self.C, self.V = C, V

    @property
    def observation_dim(self) -> int:
        return self.C.shape[0]


class KalmanFiltered(NamedTuple):
    """The Kalman filter's moments (dynamax's names), T observations.

    Attributes:
        marginal_loglik: () log p(y_{0:T-1} | u_{0:T-2}).
        filtered_means: (T, n) m_t; filtered_covariances: (T, n, n) S_t.
        predicted_means: (T, n) m_{t|t-1}; predicted_covariances: (T, n, n) Sigma_{t|t-1}.
    """

    marginal_loglik: Float[Array, ""]
    filtered_means: Float[Array, "T n"]
    filtered_covariances: Float[Array, "T n n"]
    predicted_means: Float[Array, "T n"]
    predicted_covariances: Float[Array, "T n n"]


def _first_steps(x, steps: int, name: str):
    """A (max(steps, 1), ...) stack of a system matrix: a time-invariant one broadcast, the first
    steps of a time-varying one."""
    rank = 2
    if x.ndim == rank:
        return jnp.broadcast_to(x, (max(steps, 1), *x.shape))
    if x.shape[0] < steps:
        raise ValueError(
            f"the time-varying {name} has {x.shape[0]} steps; filtering T observations needs "
            f"T - 1 = {steps}."
        )
    return x[: max(steps, 1)]


def kalman_filter(
    system: LinearGaussianSystem, observation: LinearGaussianObservation, observations, actions
) -> KalmanFiltered:
    """The Kalman filter over y_{0:T-1} with the actions u_{0:T-2} between them (module doc).

    Args:
        system, observation: the model; time-varying system matrices are (H, ...) stacks with
            H >= T - 1, of which the first T - 1 steps are used (an episode of a `soft_lqg`
            solution over H steps has T = H observations).
        observations: (T, p) y_t; actions: (T - 1, m) u_t (applied between y_t and y_{t+1}).

    Raises:
        ValueError: for wrong shapes, NaN or inf in the data, or a stack shorter than T - 1.
    """
    dtype = system.A.dtype
    ys = jnp.asarray(observations, dtype)
    us = jnp.asarray(actions, dtype)
    if ys.ndim != 2 or ys.shape[0] < 1 or ys.shape[1] != observation.observation_dim:
        raise ValueError(
            f"observations must have shape (T, p) = (T, {observation.observation_dim}), T >= 1; "
            f"got {ys.shape}."
        )
    steps = ys.shape[0] - 1
    if us.shape != (steps, system.action_dim):
        raise ValueError(
            f"actions must have shape (T - 1, m) = {(steps, system.action_dim)}, got {us.shape}."
        )
    for name, x in (("observations", ys), ("actions", us)):
        if is_concrete(x) and not np.isfinite(np.asarray(x)).all():
            raise ValueError(f"{name} contain NaN or inf.")
    A, B, W = (_first_steps(x, steps, name) for x, name in zip(
        (system.A, system.B, system.W), ("A", "B", "W"), strict=True))  # fmt: skip
    C, V = observation.C, observation.V

    def step(carry, inputs):
        mean, cov, loglik = carry
        y, A_t, B_t, W_t, u = inputs
        S = C @ cov @ C.T + V
        residual = y - C @ mean
        loglik += jax.scipy.stats.multivariate_normal.logpdf(residual, jnp.zeros_like(y), S)
        gain = kalman_gain(cov, C, V)
        filtered_mean = mean + gain @ residual
        filtered_cov = joseph(cov, gain, C, V)
        out = (filtered_mean, filtered_cov, mean, cov)
        predicted = symmetric(A_t @ filtered_cov @ A_t.T + W_t)
        return (A_t @ filtered_mean + B_t @ u, predicted, loglik), out

    pad = jnp.zeros((1, system.action_dim), dtype)  # the step after the last y moves nothing out
    inputs = (
        ys,
        *(jnp.concatenate([x[:steps], x[:1]]) for x in (A, B, W)),
        jnp.concatenate([us, pad]),
    )
    start = (system.initial_mean, system.initial_cov, jnp.zeros((), dtype))
    (_, _, loglik), (m, S, m_pred, cov_pred) = jax.lax.scan(step, start, inputs)
    return KalmanFiltered(loglik, m, S, m_pred, cov_pred)


@eqx.filter_jit
def stationary_filter(A, W, C, V, tilt, tol, max_iterations) -> SolverResult:
    """The filter's Riccati equation Sigma = A S~ A' + W, S the filtered covariance of Sigma and
    S~ = S (I + tilt S)^{-1} (tilt Q / alpha for the exact method's factor of e_t, None for the
    plain filter), iterated by the engine's `fixed_point` from W."""

    def riccati(predicted):
        filtered = joseph(predicted, kalman_gain(predicted, C, V), C, V)
        return symmetric(A @ tilted_covariance(filtered, tilt) @ A.T + W)

    return fixed_point(riccati, W, tol=tol, max_iterations=max_iterations)


def tilted_covariance(filtered, tilt):
    """S (I + tilt S)^{-1}: the covariance after a quadratic factor exp(-x' tilt x / 2); S itself
    when tilt is None."""
    if tilt is None:
        return filtered
    eye = jnp.eye(filtered.shape[-1], dtype=filtered.dtype)
    return symmetric(jnp.linalg.solve(eye + filtered @ tilt, filtered))


def exact_belief_policy(K, k, Sigma, P, p, S, alpha):
    """(K^b, k^b, Sigma^b) of the exact posterior over the action for a belief N(m, S) (the `lqg`
    module docstring): the belief tilted by exp(V(x) / alpha), V(x) = -(x'Px/2 + p'x + c), then
    pushed through pi(u | x) = N(K x + k, Sigma):

        M = (I + S P / alpha)^{-1},  K^b = K M,  k^b = k - K M S p / alpha,
        Sigma^b = Sigma + K M S K'
    """
    eye = jnp.eye(S.shape[-1], dtype=S.dtype)
    gain = K @ jnp.linalg.solve(eye + S @ P / alpha, eye)
    return gain, k - gain @ (S @ p) / alpha, symmetric(Sigma + gain @ S @ K.T)


def symmetric(M):
    return 0.5 * (M + jnp.swapaxes(M, -1, -2))


def kalman_gain(predicted, C, V):
    """G = Sigma C' (C Sigma C' + V)^{-1}, by a solve with the symmetric innovation covariance."""
    return jnp.linalg.solve(C @ predicted @ C.T + V, C @ predicted).T


def joseph(predicted, gain, C, V):
    """(I - G C) Sigma (I - G C)' + G V G': symmetric and PSD in floating point."""
    reduce = jnp.eye(predicted.shape[-1], dtype=predicted.dtype) - gain @ C
    return symmetric(reduce @ predicted @ reduce.T + gain @ V @ gain.T)


def update_mean(predicted_mean, gain, C, observation):
    return predicted_mean + gain @ (
        jnp.asarray(observation, predicted_mean.dtype) - C @ predicted_mean
    )
