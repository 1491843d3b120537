"""Maximum (causal) entropy inverse RL on the tabular engine (Ziebart et al. 2008; Ziebart 2010).

Given dynamics, features phi(s, a) in R^F and demonstrations, find reward parameters theta such
that the demonstrations are explained by the posterior of control as inference with reward
r_theta(s, a) (linear: phi(s, a) . theta, or any equinox module applied to phi(s, a)).

The objective, averaged over demonstrations i = 1..N with lengths T_i and w_t = gamma^t, is

    l(theta) = 1/N sum_i [ sum_{t < T_i} w_t (log p(a_t|s_t) + r(s_t, a_t) / alpha)
                           + (w_{T_i} V_{T_i}(s_{T_i}) - V_0(s_0)) / alpha ]

with V the soft values of r_theta (finite horizon H: the backward pass of `infer`, "variational"
by default or "exact"; infinite horizon, H = inf: the fixed point of soft value iteration). Its
gradient with respect to the reward table is a difference of occupancies,

    alpha dl/dr(s, a) = c(s, a) - 1/N sum_i ( E[n_{0:H}(s, a) | s_0 = s_0^i]
                                            - E[n_{T_i:H}(s, a) | s_{T_i} = s_{T_i}^i] ),
    n_{u:v}(s, a) = sum_{u <= t < v} w_t [s_t = s, a_t = a],

with c the demonstrated discounted counts and E the posterior's expectation: its expected counts
over the whole horizon from each demonstration's start state, less its expected counts after the
demonstration's end, restarted at time T_i from the state s_{T_i}^i where the demonstration
stopped. For full-length demonstrations (T_i = H) the second term vanishes; for shorter ones the
bracket equals "the expected counts up to T_i" only on average over the posterior's own s_{T_i}.
For a linear reward alpha grad_theta l is this gap in feature counts.

l is the objective that is maximised; it is a log-likelihood only up to terms that do not depend
on the reward, and may be positive. Given s_0, the demonstrations' log-likelihood
log p(s_{1:T_i}, a_{0:T_i-1} | s_0) under the model (`maxent_log_likelihood`, always <= 0) is

    "exact" (discount 1):  l_i + sum_{t < T_i} log T(s_{t+1}|s_t,a_t)  (the posterior's dynamics
                           p(s'|s,a,e) included)
    "variational":         sum_{t < T_i} [log pi_t(a_t|s_t) + log T(s_{t+1}|s_t,a_t)]

while for "variational" the objective itself is

    l_i = sum_{t < T_i} w_t log pi_t(a_t|s_t)
          + sum_{t < T_i} w_{t+1} (V_{t+1}(s_{t+1}) - E_{s' ~ T(.|s_t,a_t)} V_{t+1}(s')) / alpha:

the second sum vanishes under deterministic dynamics, is zero on average when the transitions
follow T, and grows without bound with the reward's scale when they are systematically better
than T allows (demonstrations that no policy in the true dynamics produces; `diagnosis.py`
detects it). l is concave in a linear theta.

The infinite-horizon gradient is implicit (`jax.lax.custom_root`): the adjoint of the soft
Bellman fixed point is the discounted occupancy, solved by the same kind of iteration.

This module evaluates l and the log-likelihood; `maxent.py` fits l, `statistics.py` reads the
demonstrations, `diagnosis.py` explains fits that do not converge.
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._core import check_int, check_method, is_concrete
from ..engine import Setting, implicit_fixed_point
from ..tabular import Spec, TabularMDP, backup, backward
from .demonstrations import Demonstrations, as_demonstrations, check_demonstrations
from .statistics import (
    DemoStatistics,
    demo_log_dynamics,
    demo_statistics,
    occupancy_statistics,
    policy_log_likelihood,
)


class FitSpec(eqx.Module):
    """The settings of the objective l, validated (`setup`); what every evaluation reads besides
    the model and the demonstrations.

    Attributes:
        setting: the `engine.Setting` (temperature alpha (), discount gamma (), horizon H
            (static; None for the discounted infinite horizon), method (static)); read through
            the properties of the same names.
        max_iterations: cap on the infinite-horizon value iteration (static); it stops at the
            engine's rounding floor (`stationary_value`).
    """

    setting: Setting
    max_iterations: int = eqx.field(static=True, default=1_000_000)

    @property
    def temperature(self) -> Array:
        return self.setting.temperature

    @property
    def discount(self) -> Array:
        return self.setting.discount

    @property
    def horizon(self) -> int | None:
        return self.setting.horizon

    @property
    def method(self) -> str:
        return self.setting.method


def setup(mdp, demonstrations, horizon, temperature, discount, method):
    """Validate the arguments shared by `maxent_objective`, `maxent_log_likelihood` and
    `maxent_irl`.

    Returns:
        (mdp, with a time-invariant reward; `DemoStatistics`; `FitSpec`).
    """
    if not isinstance(mdp, TabularMDP):
        raise ValueError(f"mdp must be a cai.TabularMDP, got {type(mdp).__name__}.")
    check_method(method)
    if horizon is not None:
        horizon = check_int("horizon (or None for the infinite horizon)", horizon, 1)
    if horizon is None and method == "exact":
        raise ValueError(
            "method='exact' needs a finite horizon; the infinite horizon uses soft value "
            "iteration (method='variational')."
        )
    # the infinite horizon's occupancies are geometric sums: discount < 1
    setting = Setting(
        temperature, discount, horizon, method, dtype=mdp.dtype, geometric=horizon is None
    )
    discount = setting.discount
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
        stats = stats._replace(log_dynamics=demo_log_dynamics(mdp, demonstrations))
    else:
        stats = occupancy_statistics(demonstrations, mdp, horizon)
    return mdp, stats, FitSpec(setting)


def stationary_value(mdp: TabularMDP, spec: FitSpec, v_init):
    """Fixed point V (S,) of the variational soft backup, from v_init (S,), differentiable in
    mdp.reward by the implicit function theorem (the engine's `implicit_fixed_point`: the
    tangent system is solved by the same kind of iteration). The iteration stops at the
    rounding floor, a step of 10 eps relative to 1 + max|V| (certified error
    gamma / (1 - gamma) times that step)."""
    backup_spec = Spec.of(mdp, spec.temperature, spec.discount, "variational")

    def residual(v):
        return backup(mdp, backup_spec, v, mdp.reward)[1] - v

    result = implicit_fixed_point(
        residual, v_init, max_iterations=spec.max_iterations, rate=spec.discount
    )
    return result.solution


class Evaluation(NamedTuple):
    """What an evaluation of l yields besides l.

    Attributes:
        v: (S,) V_0 (finite horizon) or the fixed point V (infinite): the next warm start.
        log_likelihood: () 1/N sum_i log p(s_{1:T_i}, a_{0:T_i-1} | s_0) under the model
            (module docstring), <= 0; NaN for an occupancy, which has no trajectories.
    """

    v: Array
    log_likelihood: Array


def solve(mdp: TabularMDP, spec: FitSpec, v_init):
    """The values and policy of mdp.reward: finite horizon V (H+1, S) and log pi (H, S, A) of the
    backward pass; infinite horizon the fixed point V (S,), from v_init (S,), and log pi (S, A)."""
    if spec.horizon is None:
        v = stationary_value(mdp, spec, v_init)
        backup_spec = Spec.of(mdp, spec.temperature, spec.discount, "variational")
        return v, backup(mdp, backup_spec, v, mdp.reward)[2]
    terminal = jnp.zeros(mdp.num_states, mdp.dtype)
    backup_spec = Spec.of(mdp, spec.temperature, spec.discount, spec.method)
    _, vs, log_policy, _ = backward(mdp, backup_spec, spec.horizon, terminal)
    return vs, log_policy


def end_terms(values, stats: DemoStatistics, spec: FitSpec) -> Float[Array, ""]:
    """1/N sum_i (w_{T_i} V_{T_i}(s_{T_i}) - V_0(s_0)) for the values of `solve`."""
    if spec.horizon is None:
        v_end, v_start = values[stats.end_state], values
    else:
        v_end, v_start = values[stats.end_time, stats.end_state], values[0]
    return jnp.sum(stats.end_weight * v_end) - jnp.sum(stats.start * v_start)


def objective(reward, mdp: TabularMDP, stats: DemoStatistics, spec: FitSpec, v_init):
    """(l, `Evaluation`): the objective l (module docstring) of the reward table (S, A), and the
    values and log-likelihood of that reward."""
    mdp = eqx.tree_at(lambda m: m.reward, mdp, reward)
    log_prior = mdp.log_action_prior
    visited = stats.counts > 0  # keep 0 * log 0 out of the sum
    prior_term = jnp.sum(jnp.where(visited, stats.counts * log_prior, 0.0))
    reward_term = jnp.sum(jnp.where(visited, stats.counts * reward, 0.0))
    values, log_policy = solve(mdp, spec, v_init)
    value = prior_term + (reward_term + end_terms(values, stats, spec)) / spec.temperature
    v = values if spec.horizon is None else values[0]
    if stats.demonstrations is None:
        log_likelihood = jnp.asarray(jnp.nan, value.dtype)
    elif spec.method == "exact":  # l_i + sum_t log T = log p(tau_i | s_0, e)
        log_likelihood = value + stats.log_dynamics
    else:
        log_pi = jnp.mean(policy_log_likelihood(log_policy, stats.demonstrations))
        log_likelihood = log_pi + stats.log_dynamics
    return value, Evaluation(v, log_likelihood)


def _evaluate(reward, mdp, demonstrations, horizon, temperature, discount, method):
    mdp, stats, spec = setup(mdp, demonstrations, horizon, temperature, discount, method)
    reward = jnp.asarray(reward, dtype=mdp.dtype)
    if reward.shape != (mdp.num_states, mdp.num_actions):
        raise ValueError(
            f"reward must have shape (S, A) = {(mdp.num_states, mdp.num_actions)}, "
            f"got {reward.shape}."
        )
    return objective(reward, mdp, stats, spec, jnp.zeros(mdp.num_states, mdp.dtype))


def maxent_objective(
    reward,
    mdp: TabularMDP,
    demonstrations,
    horizon=None,
    temperature=1.0,
    discount=1.0,
    method: str = "variational",
) -> Array:
    """The MaxEnt IRL objective l (module docstring) of a reward table: what `maxent_irl`
    maximises. It may be positive; `maxent_log_likelihood` is the log-likelihood.

    Differentiable in `reward`: alpha * jax.grad is the demonstrated minus the posterior's
    expected counts, the latter over the whole horizon from each demonstration's start less
    those after its end from where it stopped (module docstring).

    Args:
        reward: (S, A) reward table (replaces mdp.reward).
        mdp: dynamics, initial distribution (used only for an occupancy input) and action prior.
        demonstrations: `Demonstrations`, a (states, actions) pair, or an (S, A) occupancy.
        horizon: int for finite horizon, None for the discounted infinite horizon.
        temperature, discount, method: as `maxent_irl`.

    Returns:
        () the mean of l_i over the demonstrations.
    """
    return _evaluate(reward, mdp, demonstrations, horizon, temperature, discount, method)[0]


def maxent_log_likelihood(
    reward,
    mdp: TabularMDP,
    demonstrations,
    horizon=None,
    temperature=1.0,
    discount=1.0,
    method: str = "variational",
) -> Array:
    """The demonstrations' log-likelihood given their start states under the model with this
    reward, 1/N sum_i log p(s_{1:T_i}, a_{0:T_i-1} | s_0^i) <= 0 (module docstring):

        "variational": sum_{t < T_i} log pi_t(a_t|s_t) + log T(s_{t+1}|s_t,a_t)  (undiscounted)
        "exact":       the same with the posterior's dynamics p(s_{t+1}|s_t,a_t,e) for T

    -inf when the dynamics give a demonstrated transition probability 0. Not what `maxent_irl`
    maximises (that is `maxent_objective`), but equal to it up to sum log T for "exact" and for
    "variational" under deterministic dynamics with discount 1. Differentiable in `reward`.

    Arguments: as `maxent_objective`; demonstrations must be trajectories, not an occupancy.

    Returns:
        () the mean log-likelihood per demonstration.
    """
    if not isinstance(demonstrations, (tuple, Demonstrations)):
        raise ValueError(
            "demonstrations: an (S, A) occupancy has no trajectories to take the likelihood "
            "of; pass (states, actions) or use maxent_objective."
        )
    return _evaluate(reward, mdp, demonstrations, horizon, temperature, discount, method)[1][1]
