"""Episodic relative entropy policy search (Peters, Muelling and Altun 2010) with a Gaussian
search distribution over parameters.

One iteration, with samples x_i ~ p = N(mu, Sigma) (i = 1..N) and their returns R_i:

    E-step   q(x_i) ∝ exp(R_i / eta) (relative to p: the samples carry p),
             eta = argmin_eta  eta epsilon + eta log mean_i exp(R_i / eta)  (`solve_temperature`)
             so that KL(q || p) = sum_i w_i log(N w_i) = epsilon when the bound binds
    M-step   weighted maximum likelihood: mu' = sum_i w_i x_i,
             Sigma' = sum_i w_i (x_i - mu')(x_i - mu')^T + ridge I

On a quadratic reward R(x) = -1/2 x^T A x + b^T x the exact (infinite-sample) tilt of
p = N(mu, Sigma) is Gaussian again: log q = -1/2 x^T (Sigma^-1 + A / eta) x
+ x^T (Sigma^-1 mu + b / eta) + const, so q = N(m, S) with

    S = (Sigma^-1 + A / eta)^-1,   m = S (Sigma^-1 mu + b / eta)

(when Sigma^-1 + A / eta is positive definite), and the weighted-ML refit of many samples
approaches (m, S), with eta the root of KL(N(m, S) || N(mu, Sigma)) = epsilon (tested).

`run_reps` runs the loop on a black-box objective (a Python callable on an (N, d) batch).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._core import check_int, check_positive, float_dtype, is_concrete
from .estep import TemperatureSolution, _solve


class SearchDistribution(NamedTuple):
    """A Gaussian search distribution N(mean, cov) over d parameters: mean (d,), cov (d, d)."""

    mean: Float[Array, " d"]
    cov: Float[Array, "d d"]


class REPSStep(NamedTuple):
    """One REPS update (`reps_update`): the refit distribution, the E-step's temperature
    solution and the normalised sample weights w (N,)."""

    distribution: SearchDistribution
    solution: TemperatureSolution
    weights: Float[Array, " N"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class REPSConfig:
    """Settings of `run_reps`.

    epsilon: the KL bound of each iteration (> 0).
    samples: parameter samples per iteration (>= 2).
    iterations: number of iterations (>= 1).
    ridge: added to the diagonal of every refit covariance (>= 0; 0 is plain weighted ML).
    """

    epsilon: float = 0.5
    samples: int = 50
    iterations: int = 50
    ridge: float = 0.0

    def __post_init__(self):
        check_positive("REPSConfig.epsilon", self.epsilon)
        check_int("REPSConfig.samples", self.samples, 2)
        check_int("REPSConfig.iterations", self.iterations, 1)
        if not (isinstance(self.ridge, float | int) and self.ridge >= 0):
            raise ValueError(f"REPSConfig.ridge must be a number >= 0, got {self.ridge!r}.")


class REPSHistory(NamedTuple):
    """The record of `run_reps` (K iterations).

    distribution: the final `SearchDistribution`.
    means: (K + 1, d) the search mean before each iteration and at the end.
    mean_returns: (K,) the average return of each iteration's samples.
    temperatures: (K,) eta of each E-step.
    kls: (K,) KL(q || p) of each E-step's sample weights (= epsilon where the bound binds).
    seconds: (K,) wall-clock seconds of each iteration (sampling, objective and update).
    """

    distribution: SearchDistribution
    means: np.ndarray
    mean_returns: np.ndarray
    temperatures: np.ndarray
    kls: np.ndarray
    seconds: np.ndarray


def check_search_distribution(mean, cov) -> SearchDistribution:
    """mean (d,) and cov (d, d) as arrays; ValueError unless cov is finite, symmetric and
    positive definite (checked when concrete)."""
    dtype = float_dtype(mean, cov)
    mean, cov = jnp.asarray(mean, dtype=dtype), jnp.asarray(cov, dtype=dtype)
    if mean.ndim != 1 or cov.shape != (mean.shape[0], mean.shape[0]):
        raise ValueError(
            f"mean must have shape (d,) and cov (d, d); got {mean.shape} and {cov.shape}."
        )
    if is_concrete(mean) and not bool(jnp.all(jnp.isfinite(mean))):
        raise ValueError("mean of the search distribution must be finite.")
    if is_concrete(cov):
        c = np.asarray(cov, dtype=np.float64)
        if not np.all(np.isfinite(c)):
            raise ValueError("cov of the search distribution must be finite.")
        if not np.allclose(c, c.T, rtol=1e-6, atol=1e-12):
            raise ValueError("cov of the search distribution must be symmetric.")
        if np.any(np.linalg.eigvalsh(c) <= 0):
            raise ValueError(
                "cov of the search distribution must be positive definite (its smallest "
                f"eigenvalue is {np.linalg.eigvalsh(c)[0]:.3g}); add a ridge."
            )
    return SearchDistribution(mean, cov)


def _check_samples(samples, returns):
    dtype = float_dtype(samples, returns)
    samples, returns = jnp.asarray(samples, dtype), jnp.asarray(returns, dtype)
    if returns.ndim != 1 or returns.shape[0] < 2:
        raise ValueError(
            f"returns must have shape (N,) with N >= 2 samples, got {returns.shape}: REPS "
            "needs at least two samples per iteration."
        )
    if samples.ndim != 2 or samples.shape[0] != returns.shape[0]:
        raise ValueError(
            f"samples must have shape (N, d) = ({returns.shape[0]}, d), got {samples.shape}."
        )
    if is_concrete(returns) and not bool(jnp.all(jnp.isfinite(returns))):
        raise ValueError(
            "returns contain NaN or inf: the objective failed on some samples; drop them or "
            "give them a finite (low) return."
        )
    return samples, returns


def weighted_gaussian_fit(samples, weights, ridge=0.0) -> SearchDistribution:
    """Weighted maximum likelihood of a Gaussian: mean = sum_i w_i x_i, cov = sum_i w_i
    (x_i - mean)(x_i - mean)^T + ridge I. samples (N, d), weights (N,) summing to 1."""
    samples = jnp.asarray(samples)
    weights = jnp.asarray(weights, dtype=samples.dtype)
    mean = weights @ samples
    centred = samples - mean[None]
    cov = (weights[:, None] * centred).T @ centred
    cov = 0.5 * (cov + cov.T) + ridge * jnp.eye(samples.shape[1], dtype=samples.dtype)
    return SearchDistribution(mean, cov)


def reps_update(samples, returns, epsilon: float, *, ridge: float = 0.0) -> REPSStep:
    """One episodic REPS iteration (module docstring) on samples (N, d) drawn from the current
    search distribution and their returns (N,). Raises ValueError for epsilon <= 0, N < 2, NaN
    or infinite returns."""
    check_positive("epsilon (the KL bound)", epsilon)
    samples, returns = _check_samples(samples, returns)
    return _update(samples, returns, jnp.asarray(epsilon, returns.dtype), ridge)


@jax.jit
def _update(samples, returns, epsilon, ridge) -> REPSStep:
    log_prior = jnp.full(returns.shape, -jnp.log(returns.shape[0]), dtype=returns.dtype)
    solution = _solve(returns, epsilon, log_prior, 100)
    weights = jax.nn.softmax((returns - jnp.max(returns)) / solution.temperature)
    return REPSStep(weighted_gaussian_fit(samples, weights, ridge), solution, weights)


def sample_search_distribution(key, distribution: SearchDistribution, num: int):
    """num (>= 1) samples (num, d) of N(mean, cov), by its Cholesky factor. `key`: a JAX PRNG
    key (required)."""
    mean, cov = distribution
    noise = jax.random.normal(key, (num, mean.shape[0]), dtype=mean.dtype)
    return mean[None] + noise @ jnp.linalg.cholesky(cov).T


def run_reps(
    objective: Callable,
    key,
    mean,
    cov,
    config: REPSConfig | None = None,
) -> REPSHistory:
    """Maximise a black-box objective with episodic REPS.

    Args:
        objective: a callable on a (N, d) batch of parameters returning (N,) returns (numpy or
            JAX; it is called outside of jit, so it may be any Python code).
        key: a JAX PRNG key (required; split once per iteration).
        mean, cov: the initial search distribution N(mean, cov), (d,) and (d, d) positive
            definite.
        config: a `REPSConfig` (default `REPSConfig()`).

    Returns:
        `REPSHistory` with the per-iteration mean return, eta, KL and seconds.
    """
    config = REPSConfig() if config is None else config
    distribution = check_search_distribution(mean, cov)
    means, returns_, etas, kls, seconds = [np.asarray(distribution.mean)], [], [], [], []
    for _ in range(config.iterations):
        start = time.perf_counter()
        key, draw = jax.random.split(key)
        samples = sample_search_distribution(draw, distribution, config.samples)
        returns = jnp.asarray(objective(samples), dtype=samples.dtype).reshape(-1)
        step = reps_update(samples, returns, config.epsilon, ridge=config.ridge)
        distribution = check_search_distribution(*step.distribution)
        distribution.mean.block_until_ready()
        seconds.append(time.perf_counter() - start)
        means.append(np.asarray(distribution.mean))
        returns_.append(float(jnp.mean(returns)))
        etas.append(float(step.solution.temperature))
        kls.append(float(step.solution.kl))
    return REPSHistory(
        distribution, *(np.asarray(x) for x in (means, returns_, etas, kls, seconds))
    )
