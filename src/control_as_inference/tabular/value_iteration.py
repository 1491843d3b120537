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

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from .._core import check_int
from ..engine import Setting, fixed_point, warn_unconverged
from .inference import Spec, backup
from .mdp import TabularMDP


class SoftValueSolution(eqx.Module):
    """Stationary soft-optimal solution.

    Attributes:
        q: (S, A) soft Q-values.
        v: (S,) soft values.
        log_policy: (S, A) log pi(a|s) = log p(a|s) + (Q - V)/temperature.
        converged: () whether `error` <= tol * (1 + max |V|) (module `engine.solvers`).
        iterations: () number of backups done.
        residual: () the last max |V_k+1 - V_k|.
        error: () the bound on max |V - V*| against the true fixed point V*: for discount
            gamma < 1, gamma / (1 - gamma) * residual (certified, exact arithmetic); for
            discount 1 the same with gamma estimated from successive residuals (an estimate).
    """

    q: Float[Array, "S A"]
    v: Float[Array, " S"]
    log_policy: Float[Array, "S A"]
    converged: Bool[Array, ""]
    iterations: Int[Array, ""]
    residual: Float[Array, ""]
    error: Float[Array, ""]

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
        tol: tolerance on the error max |V - V*| relative to 1 + max |V| (V* the true fixed
            point): stop when gamma / (1 - gamma) * max |V_k+1 - V_k| <= tol (1 + max |V_k+1|)
            (gamma estimated from successive residuals when discount = 1: then the stop is an
            estimate, not a bound, and a slow mode hidden under a fast one can pass it early;
            check `error` against an independent solve where it matters). Default None: the
            rounding floor, a residual of 10 machine epsilons of the model's dtype relative to
            1 + max |V|, i.e. an error bound of 10 eps gamma / (1 - gamma) (1 + max |V|); rounding
            alone puts the computed fixed point about eps (1 + max |V|) / (1 - gamma) off.
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
    setting = Setting(temperature, discount, None, "variational", dtype=mdp.dtype)
    temperature, discount = setting.temperature, setting.discount
    if tol is not None and not (isinstance(tol, numbers.Real) and 0 < tol < float("inf")):
        raise ValueError(f"tol must be a finite positive number or None, got {tol!r}.")
    max_iterations = check_int("max_iterations", max_iterations, 1)
    tol = None if tol is None else jnp.asarray(tol, mdp.dtype)
    sol = _iterate(mdp, temperature, discount, tol, max_iterations)
    warn_unconverged(
        sol,
        "soft_value_iteration",
        "With discount = 1 the values diverge unless every policy reaches a zero-reward "
        "absorbing state; lower the discount, raise max_iterations or tol.",
    )
    return sol


@functools.partial(jax.jit, static_argnames=("max_iterations",))
def _iterate(mdp, temperature, discount, tol, max_iterations) -> SoftValueSolution:
    """V_k+1 = B(V_k) from V_0 = 0 on the engine's `fixed_point` (rate gamma in the sup norm)."""
    spec = Spec.of(mdp, temperature, discount, "variational")

    def variational_backup(v):
        q, v_new, log_pi, _ = backup(mdp, spec, v, mdp.reward)
        return q, v_new, log_pi

    v0 = jnp.zeros((mdp.num_states,), mdp.dtype)
    result = fixed_point(
        lambda v: variational_backup(v)[1],
        v0,
        tol=tol,
        max_iterations=max_iterations,
        rate=discount,
        distance=lambda new, old: jnp.max(jnp.abs(new - old)),
        norm=lambda v: jnp.max(jnp.abs(v)),
    )
    v = result.solution
    q, _, log_pi = variational_backup(v)
    return SoftValueSolution(
        q=q,
        v=v,
        log_policy=log_pi,
        converged=result.converged,
        iterations=result.iterations,
        residual=result.residual,
        error=result.error,
    )
