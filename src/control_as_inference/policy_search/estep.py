"""The E-step of policy search as inference: reweight samples by exp(value / eta) under a KL bound.

Every method of this family (REPS, MPO, EM planning with a trust region) solves the same problem
per state (or per context) b:

    maximise_q   E_q[v_b]   subject to   KL(q_b || p_b) <= epsilon,   q_b a distribution

over N sample values v_b = values[b, :] (episode returns R_i, or Q(s, a_j) for actions a_j drawn
from the old policy) with the sample distribution p_b (uniform 1/N by default, or exp(log_prior),
e.g. pi_old(a|s) over all actions of a tabular problem). Its solution is the optimality posterior

    q_b(j) = p_b(j) exp(v_bj / eta) / sum_k p_b(k) exp(v_bk / eta)

with one temperature eta > 0 for all b, the minimiser of the convex dual (Peters et al. 2010, eq. 7;
Abdolmaleki et al. 2018, eq. 4), the bound averaged over the leading axes as in MPO:

    g(eta)  = eta epsilon + eta mean_b log sum_j p_b(j) exp(v_bj / eta)
    g'(eta) = epsilon - mean_b KL(q_b^eta || p_b)

KL(q^eta || p) falls monotonically from log(1 / p(argmax v)) (eta -> 0: the greedy choice) to 0
(eta -> inf), so g' has one root when epsilon is below mean_b log(1 / p_b(argmax)), and otherwise
the bound cannot bind: the dual increases everywhere, the minimiser is eta -> 0 (greedy weights,
whose KL is below epsilon), and `solve_temperature` returns its documented lower limit with
`active = False`. All values equal (a degenerate sample) is the extreme case: KL = 0 for every eta.

The functions are pure JAX (jit, vmap, grad); argument checks run when the inputs are concrete.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float

from .._core import check_positive, float_dtype, is_concrete

# The temperature is searched in [_MIN_RATIO * eta_max, eta_max], eta_max = 2 spread / epsilon.
_MIN_RATIO = 1e-12
_ITERATIONS = 100  # bisection steps on log eta: the bracket (27.6 wide) shrinks below float64 eps


class TemperatureSolution(NamedTuple):
    """The temperature of a KL-bounded E-step (`solve_temperature`).

    temperature: () eta > 0, finite. With `active`, mean_b KL(q_b || p_b) = epsilon at this eta
        (up to the bisection's resolution, never above epsilon beyond the dtype's rounding);
        without, the documented lower limit of the search, _MIN_RATIO * 2 spread / epsilon
        (spread := 1 when all values are equal), where the weights are greedy to working precision.
    kl: () mean_b KL(q_b || p_b) of the weights at `temperature` (<= epsilon).
    active: () bool, whether the KL bound binds (a root of g' was found in the search interval).
    """

    temperature: Float[Array, ""]
    kl: Float[Array, ""]
    active: Bool[Array, ""]


def _check(values, epsilon, log_prior):
    """Values as a float array of shape (..., N >= 2), the prior's log-probabilities (uniform by
    default) broadcast to it; ValueError naming the setting for bad input."""
    dtype = float_dtype(values, log_prior)
    values = jnp.asarray(values, dtype=dtype)
    if values.ndim == 0 or values.shape[-1] < 2:
        raise ValueError(
            f"values must have shape (..., N) with N >= 2 samples on the last axis, got shape "
            f"{values.shape}; a KL-bounded reweighting needs at least two samples."
        )
    if values.size == 0:
        raise ValueError(
            f"values must have at least one row of samples, got shape {values.shape} (an empty "
            "leading axis): there is nothing to reweight."
        )
    if is_concrete(values) and not np.all(np.isfinite(np.asarray(values))):
        raise ValueError(
            "values (sample returns or Q-values) contain NaN or inf; a NaN or infinite return "
            "gives no E-step weights: remove or clip those samples."
        )
    if is_concrete(epsilon) and not (
        jnp.ndim(epsilon) == 0 and float(epsilon) > 0 and np.isfinite(float(epsilon))
    ):
        raise ValueError(f"epsilon (the KL bound) must be a finite scalar > 0, got {epsilon!r}.")
    if log_prior is None:
        log_prior = np.full(values.shape, -np.log(values.shape[-1]), dtype=dtype)
    else:
        log_prior = jnp.broadcast_to(jnp.asarray(log_prior, dtype=dtype), values.shape)
        if is_concrete(log_prior) and not np.all(np.asarray(log_prior) < np.inf):
            raise ValueError("log_prior must be log-probabilities (< inf, -inf for zero mass).")
        if is_concrete(log_prior):
            total = np.asarray(jax.nn.logsumexp(log_prior, axis=-1))
            if not np.allclose(total, 0.0, atol=1e-4):
                raise ValueError(
                    "log_prior must be normalised over the last axis (logsumexp = 0; an all -inf "
                    "row has no mass): pass log pi_old(a|s), e.g. jax.nn.log_softmax(logits)."
                )
    return values, jnp.asarray(epsilon, dtype=dtype), log_prior


def _log_normaliser(values, eta, log_prior):
    """log sum_j p(j) exp(v_j / eta), (...,), with the max subtracted: (v - max v) / eta <= 0."""
    top = jnp.max(jnp.where(log_prior > -jnp.inf, values, -jnp.inf), axis=-1, keepdims=True)
    shifted = jax.nn.logsumexp(log_prior + (values - top) / eta, axis=-1)
    return shifted + top[..., 0] / eta


def _mean_kl(values, eta, log_prior):
    """mean_b KL(q_b^eta || p_b), q^eta = p exp(v / eta) / Z, from the log-weights."""
    top = jnp.max(jnp.where(log_prior > -jnp.inf, values, -jnp.inf), axis=-1, keepdims=True)
    log_q = jax.nn.log_softmax(log_prior + (values - top) / eta, axis=-1)
    q = jnp.exp(log_q)
    terms = jnp.where(q > 0, q * (log_q - log_prior), 0.0)
    return jnp.mean(jnp.maximum(jnp.sum(terms, axis=-1), 0.0))  # >= 0, as KL is


def temperature_dual(
    eta: Float[ArrayLike, ""],
    values: Float[ArrayLike, "... N"],
    epsilon: Float[ArrayLike, ""],
    log_prior: Float[ArrayLike, "... N"] | None = None,
) -> Float[Array, ""]:
    """The dual g(eta) of the KL-bounded E-step, convex in eta > 0.

        g(eta) = eta epsilon + eta mean_b log sum_j p_b(j) exp(v_bj / eta)

    values: (..., N) sample values (returns R_j, or Q(s, a_j)); the mean runs over all leading
    axes b. log_prior: (..., N) log p_b(j), default log(1/N) (samples drawn from p), so the sum is
    mean_j exp(v_bj / eta). Computed with the maximum subtracted (no overflow for small eta).
    g'(eta) = epsilon - mean_b KL(q_b || p_b) (module docstring); differentiable in eta and values.
    """
    values, epsilon, log_prior = _check(values, epsilon, log_prior)
    return _dual(jnp.asarray(eta, dtype=values.dtype), values, epsilon, log_prior)


@jax.jit
def _dual(eta, values, epsilon, log_prior):
    return eta * epsilon + eta * jnp.mean(_log_normaliser(values, eta, log_prior))


def estep_weights(
    values: Float[ArrayLike, "... N"],
    eta: Float[ArrayLike, ""],
    log_prior: Float[ArrayLike, "... N"] | None = None,
) -> Float[Array, "... N"]:
    """Normalised E-step weights q_b(j) = p_b(j) exp(v_bj / eta) / sum_k p_b(k) exp(v_bk / eta).

    values: (..., N); eta > 0; log_prior (..., N) defaults to uniform, when this is
    softmax(values / eta) over the last axis. Returns (..., N), each row summing to 1.
    """
    values, _, log_prior = _check(values, 1.0, log_prior)
    if is_concrete(eta) and not (jnp.ndim(eta) == 0 and 0 < float(eta) < np.inf):
        raise ValueError(f"eta (the E-step temperature) must be a finite scalar > 0, got {eta!r}.")
    return _weights(values, jnp.asarray(eta, dtype=values.dtype), log_prior)


@jax.jit
def _weights(values, eta, log_prior):
    top = jnp.max(jnp.where(log_prior > -jnp.inf, values, -jnp.inf), axis=-1, keepdims=True)
    return jax.nn.softmax(log_prior + (values - top) / eta, axis=-1)  # shifted: exact ratios


def weights_kl(
    weights: Float[ArrayLike, "... N"], log_prior: Float[ArrayLike, "... N"] | None = None
) -> Float[Array, " *batch"]:
    """KL(q_b || p_b) = sum_j q_b(j) log(q_b(j) / p_b(j)) per leading index b, 0 log 0 = 0.

    With the default uniform p_b = 1/N (samples drawn from p): sum_j w_j log(N w_j).
    weights: (..., N), rows summing to 1. Returns (...).
    """
    weights = jnp.asarray(weights, dtype=float_dtype(weights, log_prior))
    if log_prior is None:
        log_prior = -np.log(weights.shape[-1])
    return _kl(weights, jnp.asarray(log_prior, dtype=weights.dtype))


@jax.jit
def _kl(weights, log_prior):
    safe = jnp.where(weights > 0, weights, 1.0)
    terms = jnp.where(weights > 0, weights * (jnp.log(safe) - log_prior), 0.0)
    return jnp.maximum(jnp.sum(terms, axis=-1), 0.0)  # rounding may dip below 0; KL cannot


def solve_temperature(
    values: Float[ArrayLike, "... N"],
    epsilon: Float[ArrayLike, ""],
    log_prior: Float[ArrayLike, "... N"] | None = None,
    *,
    iterations: int = _ITERATIONS,
) -> TemperatureSolution:
    """The eta minimising `temperature_dual`: the root of mean_b KL(q_b^eta || p_b) = epsilon.

    Bisection on log eta (KL is monotone in eta, so it cannot fail) over the bracket
        eta_max = 2 spread / epsilon,   spread = max_b (max_j v_bj - min_j v_bj)  (over p_b > 0)
        eta_min = 1e-12 eta_max
    KL(q^eta || p) <= E_q[v]/eta - E_p[v]/eta <= spread / eta (Jensen: log E_p e^{v/eta} >= E_p v /
    eta), so KL <= epsilon / 2 at eta_max and the root, if any, lies below it. If KL(eta_min) <=
    epsilon the bound cannot bind (module docstring): eta_min is returned with active = False; all
    values equal (spread 0) gives spread := 1 and active = False: the weights are p itself for any
    eta. The returned eta is the bracket's upper end, so its KL never exceeds epsilon (beyond the
    dtype's rounding: float32 may report epsilon (1 + 1e-6)).

    values: (..., N), N >= 2, finite; epsilon > 0; log_prior: (..., N) or None (uniform).
    iterations: bisection steps (100: below float64 resolution). Jit- and vmap-able (checks
    need concrete inputs). Raises ValueError for epsilon <= 0, N < 2, NaN or infinite values.
    """
    values, epsilon, log_prior = _check(values, epsilon, log_prior)
    return _solve(values, epsilon, log_prior, iterations)


@functools.partial(jax.jit, static_argnums=3)
def _solve(values, epsilon, log_prior, iterations):
    """Bisection of `solve_temperature` on checked arrays (compiled once per shape)."""
    support = log_prior > -jnp.inf
    top = jnp.max(jnp.where(support, values, -jnp.inf), axis=-1)
    bottom = jnp.min(jnp.where(support, values, jnp.inf), axis=-1)
    spread = jnp.max(top - bottom)
    spread = jnp.where(spread > 0, spread, jnp.ones_like(spread))
    log_hi = jnp.log(2 * spread / epsilon)
    log_lo = log_hi + jnp.log(jnp.asarray(_MIN_RATIO, dtype=values.dtype))

    def excess(log_eta):
        return _mean_kl(values, jnp.exp(log_eta), log_prior) - epsilon

    active = excess(log_lo) > 0

    def step(_, bracket):
        lo, hi = bracket
        mid = 0.5 * (lo + hi)
        above = excess(mid) > 0  # KL too large: eta must grow
        return jnp.where(above, mid, lo), jnp.where(above, hi, mid)

    _, log_hi = jax.lax.fori_loop(0, iterations, step, (log_lo, log_hi))
    eta = jnp.exp(jnp.where(active, log_hi, log_lo))
    return TemperatureSolution(eta, _mean_kl(values, eta, log_prior), active)


def awr_weights(
    advantages: Float[ArrayLike, "... N"],
    temperature: Float[ArrayLike, ""],
    *,
    max_weight: float = 20.0,
) -> Float[Array, "... N"]:
    """Advantage-weighted regression's weights (Peng et al. 2019): the E-step with a fixed
    temperature beta instead of a KL bound, unnormalised and clipped as in the paper,

        w_j = min(exp(A_j / beta), max_weight).

    Normalised over the last axis and without clipping they equal
    `estep_weights(advantages, beta)`; the M-step is the policy's weighted log-likelihood
    sum_j w_j log pi(a_j | s_j). advantages: (..., N) finite; temperature beta > 0 and finite;
    max_weight > 0 (inf: no clipping). Raises ValueError naming the setting otherwise.
    """
    if is_concrete(temperature) and not (
        np.ndim(temperature) == 0 and 0 < float(temperature) < np.inf
    ):
        raise ValueError(
            f"temperature (AWR's beta) must be a finite scalar > 0, got {temperature!r}."
        )
    check_positive("max_weight", max_weight, finite=False)  # inf: no clipping
    values, _, _ = _check(advantages, 1.0, None)
    temperature = jnp.asarray(temperature, dtype=values.dtype)
    return jnp.minimum(jnp.exp(values / temperature), jnp.asarray(max_weight, values.dtype))
