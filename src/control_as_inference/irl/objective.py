"""Maximum (causal) entropy inverse RL on the tabular engine (Ziebart et al. 2008; Ziebart 2010).

Given dynamics, features phi(s, a) in R^F and demonstrations, find reward parameters theta such
that the demonstrations are explained by the posterior of control as inference with reward
r_theta(s, a) (linear: phi(s, a) . theta, or any equinox module applied to phi(s, a)).

The objective, averaged over demonstrations i = 1..N with lengths T_i and w_t = gamma^t, is

    l(theta) = 1/N sum_i [ sum_{t < T_i} w_t (log p(a_t|s_t) + r(s_t, a_t) / alpha)
                           + (w_{T_i} V_{T_i}(s_{T_i}) - V_0(s_0)) / alpha ]

with V the soft values of r_theta (finite horizon: the backward pass of `infer`, "variational"
by default or "exact"; infinite horizon: the fixed point of soft value iteration). Its gradient
with respect to the reward table is the difference of occupancies,

    alpha dl/dr(s, a) = [demonstrated discounted counts of (s, a)] - [posterior's expected counts
                        from the demonstrations' start states and up to their lengths],

so for a linear reward alpha grad_theta l is the feature-count gap. For "exact" inference (which
needs discount 1) l is log p(tau | s_0, e) up to reward-free dynamics terms; for "variational" it
is the maximum causal entropy dual, which equals sum_t w_t log pi_t(a_t|s_t) when the dynamics are
deterministic (and does in expectation over the demonstrated transitions otherwise). It is
concave in a linear theta. Variable lengths need no padding semantics: a trajectory that stops
at T_i contributes V_{T_i} of where it stopped.

The infinite-horizon gradient is implicit (`jax.lax.custom_root`): the adjoint of the soft
Bellman fixed point is the discounted occupancy, solved by the same kind of iteration.

This module evaluates l; `maxent.py` fits it, `statistics.py` reads the demonstrations.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._core import (
    check_discount,
    check_int,
    check_method,
    check_temperature,
    is_concrete,
)
from ..tabular.inference import Spec, backup, backward
from ..tabular.mdp import TabularMDP
from .demonstrations import Demonstrations, as_demonstrations, check_demonstrations
from .statistics import DemoStatistics, demo_statistics, occupancy_statistics


class FitSpec(eqx.Module):
    """The settings of the objective l, validated (`setup`); what every evaluation reads besides
    the model and the demonstrations.

    Attributes:
        temperature: () alpha; discount: () gamma.
        tol: () relative tolerance of the infinite-horizon value iteration (and its adjoint).
        horizon: H (static), or None for the discounted infinite horizon.
        method: "variational" or "exact" (static).
        max_iterations: cap on the infinite-horizon value iteration (static).
    """

    temperature: Float[Array, ""]
    discount: Float[Array, ""]
    tol: Float[Array, ""]
    horizon: int | None = eqx.field(static=True)
    method: str = eqx.field(static=True)
    max_iterations: int = eqx.field(static=True, default=1_000_000)


def setup(mdp, demonstrations, horizon, temperature, discount, method):
    """Validate the arguments shared by `maxent_log_likelihood` and `maxent_irl`.

    Returns:
        (mdp, with a time-invariant reward; `DemoStatistics`; `FitSpec`).
    """
    if not isinstance(mdp, TabularMDP):
        raise ValueError(f"mdp must be a cai.TabularMDP, got {type(mdp).__name__}.")
    check_method(method)
    if horizon is not None:
        horizon = check_int("horizon (or None for the infinite horizon)", horizon, 1)
    temperature = check_temperature(temperature, mdp.dtype)
    discount = check_discount(discount, mdp.dtype)
    if horizon is None and method == "exact":
        raise ValueError(
            "method='exact' needs a finite horizon; the infinite horizon uses soft value "
            "iteration (method='variational')."
        )
    if horizon is None and is_concrete(discount) and float(discount) >= 1:
        raise ValueError("horizon=None (infinite) needs discount < 1.")
    if method == "exact" and is_concrete(discount) and float(discount) != 1:
        raise ValueError(
            "method='exact' with discount < 1 treats the discount as termination, which "
            "demonstrations do not show; use discount=1 or method='variational'."
        )
    if mdp.time_varying:
        mdp = eqx.tree_at(lambda m: m.reward, mdp, mdp.reward[0])
    if isinstance(demonstrations, tuple) and not isinstance(demonstrations, Demonstrations):
        demonstrations = as_demonstrations(*demonstrations)
    if isinstance(demonstrations, Demonstrations):
        check_demonstrations(demonstrations, mdp.action_prior, horizon)
        stats = demo_statistics(
            demonstrations, mdp.num_states, mdp.num_actions, discount, mdp.dtype
        )
    else:
        stats = occupancy_statistics(demonstrations, mdp, horizon)
    tol = jnp.asarray(10 * float(jnp.finfo(mdp.dtype).eps), mdp.dtype)
    return mdp, stats, FitSpec(temperature, discount, tol, horizon, method)


def stationary_value(mdp: TabularMDP, spec: FitSpec, v_init):
    """Fixed point V (S,) of the variational soft backup, from v_init (S,), differentiable in
    mdp.reward by the implicit function theorem (the tangent system is solved by the same kind
    of iteration)."""
    backup_spec = Spec.of(mdp, spec.temperature, spec.discount, "variational")
    tol, max_iterations = spec.tol, spec.max_iterations

    def residual(v):
        return backup(mdp, backup_spec, v, mdp.reward)[1] - v

    def iterate(step, x0):  # x <- x + step(x) until the step is below tol (relative)
        def not_done(carry):
            x, i, size = carry
            return (i < max_iterations) & (size > tol * (1 + jnp.max(jnp.abs(x))))

        def body(carry):
            x, i, _ = carry
            dx = step(x)
            return x + dx, i + 1, jnp.max(jnp.abs(dx))

        inf = jnp.asarray(jnp.inf, x0.dtype)
        return jax.lax.while_loop(not_done, body, (x0, jnp.asarray(0), inf))[0]

    def solve(f, x0):
        return iterate(f, x0)

    def linear_solve(g, y):  # g(x) = (gamma P_pi - I) x, or its transpose: x <- x + g(x) - y
        return iterate(lambda x: g(x) - y, jnp.zeros_like(y))

    def tangent_solve(g, y):  # reverse mode transposes g and solves with the same iteration
        return jax.lax.custom_linear_solve(g, y, linear_solve, linear_solve)

    return jax.lax.custom_root(residual, v_init, solve, tangent_solve)


def value_terms(mdp: TabularMDP, stats: DemoStatistics, spec: FitSpec, v_init):
    """(sum_i w_{T_i} V_{T_i}(s_{T_i}) - V_0(s_0)) / N and the values (S,) (for warm starts)."""
    if spec.horizon is None:
        v = stationary_value(mdp, spec, v_init)
        v_end = v[stats.end_state]
        v_start = v
    else:
        terminal = jnp.zeros(mdp.num_states, mdp.dtype)
        backup_spec = Spec.of(mdp, spec.temperature, spec.discount, spec.method)
        _, vs, _, _ = backward(mdp, backup_spec, spec.horizon, terminal)
        v_end = vs[stats.end_time, stats.end_state]
        v_start = vs[0]
        v = v_start
    return jnp.sum(stats.end_weight * v_end) - jnp.sum(stats.start * v_start), v


def objective(reward, mdp: TabularMDP, stats: DemoStatistics, spec: FitSpec, v_init):
    """(l, V): the objective l (module docstring) of the reward table (S, A), and the values (S,)
    of that reward (for warm starts)."""
    mdp = eqx.tree_at(lambda m: m.reward, mdp, reward)
    log_prior = mdp.log_action_prior
    visited = stats.counts > 0  # keep 0 * log 0 out of the sum
    prior_term = jnp.sum(jnp.where(visited, stats.counts * log_prior, 0.0))
    reward_term = jnp.sum(jnp.where(visited, stats.counts * reward, 0.0))
    values, v = value_terms(mdp, stats, spec, v_init)
    return prior_term + (reward_term + values) / spec.temperature, v


def maxent_log_likelihood(
    reward,
    mdp: TabularMDP,
    demonstrations,
    horizon=None,
    temperature=1.0,
    discount=1.0,
    method: str = "variational",
) -> Array:
    """The MaxEnt IRL objective l (module docstring) of a reward table, per demonstration.

    Differentiable in `reward`: alpha * jax.grad gives demonstrated minus expected occupancy.

    Args:
        reward: (S, A) reward table (replaces mdp.reward).
        mdp: dynamics, initial distribution (used only for an occupancy input) and action prior.
        demonstrations: `Demonstrations`, a (states, actions) pair, or an (S, A) occupancy.
        horizon: int for finite horizon, None for the discounted infinite horizon.
        temperature, discount, method: as `maxent_irl`.

    Returns:
        () the mean of l_i over the demonstrations.
    """
    mdp, stats, spec = setup(mdp, demonstrations, horizon, temperature, discount, method)
    reward = jnp.asarray(reward, dtype=mdp.dtype)
    if reward.shape != (mdp.num_states, mdp.num_actions):
        raise ValueError(
            f"reward must have shape (S, A) = {(mdp.num_states, mdp.num_actions)}, "
            f"got {reward.shape}."
        )
    v_init = jnp.zeros(mdp.num_states, mdp.dtype)
    return objective(reward, mdp, stats, spec, v_init)[0]
