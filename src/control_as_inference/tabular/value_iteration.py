"""Soft value iteration: the infinite-horizon fixed point of the variational (soft Bellman) backup.

    Q(s,a) = r(s,a) + gamma E_{s'~T}[V(s')]
    V(s)   = alpha log sum_a p(a|s) exp(Q(s,a)/alpha)

(Ziebart 2010, "Modeling Purposeful Adaptive Behavior with the Principle of Maximum Causal
Entropy"; Haarnoja et al. 2017, "Reinforcement Learning with Deep Energy-Based Policies"). For
gamma < 1 the backup is a gamma-contraction in the sup norm; for gamma = 1 it converges only when
every policy reaches a zero-reward absorbing set.
"""

from __future__ import annotations

import functools
import numbers
import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from .._core import check_discount, check_int, check_temperature, is_concrete
from .inference import Spec, backup
from .mdp import TabularMDP


class ConvergenceWarning(RuntimeWarning):
    """Soft value iteration stopped at max_iterations before reaching its tolerance."""


class SoftValueSolution(eqx.Module):
    """Stationary soft-optimal solution.

    Attributes:
        q: (S, A) soft Q-values.
        v: (S,) soft values.
        log_policy: (S, A) log pi(a|s) = log p(a|s) + (Q - V)/temperature.
        converged: () whether max |V_k+1 - V_k| <= tol * (1 + max |V_k+1|).
        iterations: () number of backups done.
        residual: () the last max |V_k+1 - V_k|.
    """

    q: Float[Array, "S A"]
    v: Float[Array, " S"]
    log_policy: Float[Array, "S A"]
    converged: Bool[Array, ""]
    iterations: Int[Array, ""]
    residual: Float[Array, ""]

    @property
    def policy(self) -> Float[Array, "S A"]:
        return jnp.exp(self.log_policy)


def soft_value_iteration(
    mdp: TabularMDP,
    temperature=1.0,
    discount=0.99,
    tol: float | None = None,
    max_iterations: int = 10_000,
) -> SoftValueSolution:
    """Iterate the soft Bellman backup from V = 0 to its fixed point.

    Args:
        mdp: the model; its reward must be stationary (S, A).
        temperature: alpha > 0.
        discount: gamma in (0, 1].
        tol: relative tolerance on the residual max |V_k+1 - V_k| / (1 + max |V_k+1|); default
            10 machine epsilons of the model's dtype. For discount < 1 the distance to the fixed
            point is at most residual * discount / (1 - discount).
        max_iterations: cap on the number of backups.

    Returns:
        A `SoftValueSolution`. When it has not converged a `ConvergenceWarning` is issued (outside
        of jax transformations).
    """
    if mdp.time_varying:
        raise ValueError(
            "reward: soft_value_iteration needs a stationary (S, A) reward, got a time-varying "
            f"{mdp.reward.shape} one; use infer for finite horizons."
        )
    temperature = check_temperature(temperature, mdp.dtype)
    discount = check_discount(discount, mdp.dtype)
    if tol is None:
        tol = 10 * float(jnp.finfo(mdp.dtype).eps)
    if not (isinstance(tol, numbers.Real) and tol > 0):
        raise ValueError(f"tol must be a positive number, got {tol!r}.")
    max_iterations = check_int("max_iterations", max_iterations, 1)
    sol = _iterate(mdp, temperature, discount, jnp.asarray(tol, mdp.dtype), max_iterations)
    if is_concrete(sol.converged) and not bool(sol.converged):
        warnings.warn(
            f"soft_value_iteration did not converge in {int(sol.iterations)} iterations "
            f"(residual {float(sol.residual):.3g}). With discount = 1 the values diverge unless "
            "every policy reaches a zero-reward absorbing state; lower the discount or raise "
            "max_iterations.",
            ConvergenceWarning,
            stacklevel=2,
        )
    return sol


@functools.partial(jax.jit, static_argnames=("max_iterations",))
def _iterate(mdp, temperature, discount, tol, max_iterations) -> SoftValueSolution:
    spec = Spec.of(mdp, temperature, discount, "variational")

    def variational_backup(v):
        q, v_new, log_pi, _ = backup(mdp, spec, v, mdp.reward)
        return q, v_new, log_pi

    def not_done(carry):
        _, i, residual, scale = carry
        return (i < max_iterations) & (residual > tol * (1 + scale))

    def body(carry):
        v, i, _, _ = carry
        _, v_new, _ = variational_backup(v)
        residual = jnp.max(jnp.abs(v_new - v))
        return v_new, i + 1, residual, jnp.max(jnp.abs(v_new))

    v0 = jnp.zeros((mdp.num_states,), mdp.dtype)
    inf = jnp.asarray(jnp.inf, mdp.dtype)
    v, iterations, residual, scale = jax.lax.while_loop(
        not_done, body, (v0, jnp.asarray(0), inf, jnp.zeros((), mdp.dtype))
    )
    q, _, log_pi = variational_backup(v)
    return SoftValueSolution(
        q=q,
        v=v,
        log_policy=log_pi,
        converged=residual <= tol * (1 + scale),
        iterations=iterations,
        residual=residual,
    )
