"""Finite-horizon, average-cost and discounted KL control, all in log space.

Todorov (2009), "Efficient computation of optimal actions" (PNAS), with G = diag(exp(-q)):

    finite horizon   z_t = G P z_{t+1},  z_H = exp(-final_cost)         (one backward scan)
    average cost     lambda z = G P z,   lambda = exp(-c), c the average cost per step
                     (the principal eigenpair, by power iteration)
    discounted       z = G (P z)^gamma                                  (fixed-point iteration)

Each backup is log z <- -q + log sum_s' p(s'|s) exp(log z(s')) (`_kernels.log_expect`), so costs
of 1e4 neither underflow nor give 0/0. In the finite-horizon problem terminal states keep
z_t = exp(-q) (the episode has ended there); the average-cost and discounted problems use every
state's row of p and ignore the terminal mask.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._core import check_discount, check_int, is_concrete
from ..engine import fixed_point
from . import _kernels
from .first_exit import KLSolution, check_tol, warn_unconverged
from .model import LMDP, log_passive


class AverageCostSolution(KLSolution):
    """`KLSolution` of the average-cost problem, plus

    Attributes:
        average_cost: () c = -log lambda, the optimal average cost per step; log_z is the
            principal eigenvector normalised to max log_z = 0 (v is the differential cost-to-go,
            min v = 0).
    """

    average_cost: Float[Array, ""]


def _backup(lmdp: LMDP, log_z):
    return -lmdp.cost + _kernels.log_expect(lmdp.passive, log_z)


def finite_horizon(lmdp: LMDP, horizon, final_cost=None) -> KLSolution:
    """z_t = G P z_{t+1} for t = H-1, ..., 0 from z_H = exp(-final_cost), in log space.

    Args:
        lmdp: the model.
        horizon: H >= 0 (a Python int).
        final_cost: (S,) cost at time H; default the model's cost at terminal states and 0
            elsewhere. Terminal states keep log z_t = -q for t < H.

    Returns:
        A `KLSolution` with log_z (H+1, S) and log_policy (H, S, S) or (H, S, K): u*_t uses
        z_{t+1}; it is also `cai.infer` of `to_tabular(lmdp)` at temperature 1 with
        terminal_value = -final_cost on interior states.
    """
    horizon = check_int("horizon", horizon, 0)
    if final_cost is None:
        final_cost = jnp.where(lmdp.terminal, lmdp.cost, 0)
    final_cost = jnp.asarray(final_cost, lmdp.dtype)
    if final_cost.shape != (lmdp.num_states,):
        raise ValueError(
            f"final_cost must have shape (S,) = ({lmdp.num_states},), got {final_cost.shape}."
        )
    if is_concrete(final_cost) and not bool(jnp.all(jnp.isfinite(final_cost))):
        raise ValueError("final_cost must be finite (no NaN or inf).")
    return _finite_horizon(lmdp, final_cost, horizon=horizon)


@functools.partial(jax.jit, static_argnames=("horizon",))
def _finite_horizon(lmdp: LMDP, final_cost, horizon: int) -> KLSolution:
    terminal = lmdp.terminal
    passive_log = log_passive(lmdp)

    def step(log_next, _):
        law = _kernels.log_law(lmdp.passive, log_next)
        log_z = jnp.where(terminal, -lmdp.cost, _backup(lmdp, log_next))
        return log_z, (log_z, jnp.where(terminal[:, None], passive_log, law))

    last = -final_cost
    _, (log_z, log_policy) = jax.lax.scan(step, last, None, length=horizon, reverse=True)
    log_z = jnp.concatenate([log_z, last[None]])
    zero = jnp.asarray(0)
    exact = jnp.zeros((), lmdp.dtype)
    return KLSolution(
        log_z=log_z,
        log_policy=log_policy,
        converged=jnp.asarray(True),
        iterations=zero,
        residual=exact,
        matvecs=zero,
        sweeps=jnp.asarray(horizon),
        error=exact,
    )


def discounted(lmdp: LMDP, discount, tol: float | None = None, max_iterations: int = 10_000):
    """The discounted problem v = q + min_u [KL(u||p) + gamma E_u v]: z = G (P z)^gamma.

    Iterates log z <- -q + gamma log (P z) from log z = 0, a gamma-contraction in the sup norm of
    log z, so Banach's bound error = gamma / (1 - gamma) max |log z_k+1 - log z_k| bounds
    max |log z_k+1 - log z*|. Stops when error <= tol (1 + max |log z_k+1|); default tol 1e-12
    (float64) or 1e-6 (float32). The optimal law is u*(s'|s) ∝ p(s'|s) z(s')^gamma.

    Returns:
        A `KLSolution` (log_z (S,); sweeps = iterations; residual the last max |change|; error
        the bound above).
    """
    discount = check_discount(discount, lmdp.dtype)
    tol = check_tol(tol, lmdp.dtype, 1e-12, 1e-6)
    max_iterations = check_int("max_iterations", max_iterations, 1)
    sol = _discounted(lmdp, discount, jnp.asarray(tol, lmdp.dtype), max_iterations=max_iterations)
    warn_unconverged(sol, "discounted", "lower the discount or raise max_iterations.")
    return sol


@functools.partial(jax.jit, static_argnames=("max_iterations",))
def _discounted(lmdp: LMDP, discount, tol, max_iterations: int) -> KLSolution:
    def backup(log_z):
        return -lmdp.cost + discount * _kernels.log_expect(lmdp.passive, log_z)

    zeros = jnp.zeros((lmdp.num_states,), lmdp.dtype)
    # a discount-contraction in the sup norm: the layer's Banach bound
    result = fixed_point(backup, zeros, tol=tol, max_iterations=max_iterations, rate=discount)
    log_z = result.solution
    log_policy = _kernels.log_law(lmdp.passive, discount * log_z)
    return KLSolution(
        log_z=log_z,
        log_policy=log_policy,
        converged=result.converged,
        iterations=result.iterations,
        residual=result.residual,
        matvecs=jnp.asarray(0),
        sweeps=result.iterations,
        error=result.error,
    )


def average_cost(lmdp: LMDP, tol: float | None = None, max_iterations: int = 100_000):
    """The average-cost problem: the principal eigenpair lambda z = G P z, by power iteration.

    log y = -q + log (P z_k), log z_k+1 = log y - max log y (so max z = 1). Certified stop:
    Collatz-Wielandt, min (log y - log z_k) <= log lambda <= max (log y - log z_k), bounds the
    average cost by that span (computed once more at the end); the eigenvector's error
    max |log z_k - log z*| is `engine.fixed_point`'s estimate from the observed rate rho of
    d_k = max |log z_k - log z_k-1| (power iteration converges at rate |lambda_2 / lambda_1|).
    error = the larger of the two; converged when error <= tol (1 + max |log z|), default tol
    1e-10 (float64) or 1e-5 (float32). p must be irreducible and aperiodic (e.g. every state
    with a self-transition). Terminal flags are ignored.

    Returns:
        An `AverageCostSolution` (average_cost = -log lambda at the middle of the bracket;
        log_z (S,) with max 0; residual the span; error as above).
    """
    tol = check_tol(tol, lmdp.dtype, 1e-10, 1e-5)
    max_iterations = check_int("max_iterations", max_iterations, 1)
    sol = _average_cost(lmdp, jnp.asarray(tol, lmdp.dtype), max_iterations=max_iterations)
    warn_unconverged(sol, "average_cost", "p must be irreducible and aperiodic.")
    return sol


@functools.partial(jax.jit, static_argnames=("max_iterations",))
def _average_cost(lmdp: LMDP, tol, max_iterations: int) -> AverageCostSolution:
    def gain(log_z):  # log (G P z)(s) - log z(s)
        return _backup(lmdp, log_z) - log_z

    def step(log_z):
        new = gain(log_z) + log_z
        return new - jnp.max(new)

    zeros = jnp.zeros((lmdp.num_states,), lmdp.dtype)
    result = fixed_point(step, zeros, tol=tol, max_iterations=max_iterations)  # rate estimated
    log_z = result.solution
    bracket = gain(log_z)  # Collatz-Wielandt: min <= log lambda <= max
    low, high = jnp.min(bracket), jnp.max(bracket)
    error = jnp.maximum(result.error, high - low)
    log_policy = _kernels.log_law(lmdp.passive, log_z)
    return AverageCostSolution(
        log_z=log_z,
        log_policy=log_policy,
        converged=result.converged & (high - low <= tol * (1 + jnp.max(jnp.abs(log_z)))),
        iterations=result.iterations,
        residual=high - low,
        matvecs=jnp.asarray(0),
        sweeps=result.iterations + 1,
        error=error,
        average_cost=-(low + high) / 2,
    )
