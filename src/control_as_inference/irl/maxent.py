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
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float

from ..tabular import _kernels
from ..tabular.inference import (
    Posterior,
    backward,
    check_discount,
    check_horizon,
    check_temperature,
    infer,
)
from ..tabular.mdp import TabularMDP, _is_concrete
from ..tabular.value_iteration import SoftValueSolution, soft_value_iteration
from .demonstrations import Demonstrations, as_demonstrations, check_demonstrations

# ----------------------------------------------------------------------------- reward models


class LinearReward(eqx.Module):
    """r(s, a) = phi(s, a) . weights."""

    weights: Float[Array, " F"]

    def __call__(self, phi: Float[Array, " F"]) -> Float[Array, ""]:
        return phi @ self.weights


def reward_table(model, features: Float[Array, "S A F"]) -> Float[Array, "S A"]:
    """Apply a reward model (a callable from a (F,) feature vector to a scalar) to every (s, a)."""
    s, a, f = features.shape
    return jax.vmap(model)(features.reshape(s * a, f)).reshape(s, a)


def check_features(features, mdp: TabularMDP) -> Array:
    """(S, A, F) features; (S, F) state features are broadcast over actions."""
    features = jnp.asarray(features, dtype=mdp.dtype)
    s, a = mdp.num_states, mdp.num_actions
    if features.ndim == 2 and features.shape[0] == s:
        features = jnp.broadcast_to(features[:, None, :], (s, a, features.shape[1]))
    if features.ndim != 3 or features.shape[:2] != (s, a) or features.shape[2] == 0:
        raise ValueError(
            f"features must have shape (S, A, F) = ({s}, {a}, F) or (S, F) = ({s}, F) with "
            f"F >= 1; got {features.shape}."
        )
    if _is_concrete(features) and not bool(jnp.all(jnp.isfinite(features))):
        raise ValueError("features must be finite (no NaN or inf).")
    return features


# ----------------------------------------------------------------------------- statistics


class DemoStatistics(NamedTuple):
    """What the objective needs from the demonstrations (averaged over them).

    Attributes:
        counts: (S, A) 1/N sum_i sum_{t < T_i} gamma^t [s_t = s, a_t = a].
        start: (S,) 1/N sum_i [s_0 = s].
        end_time: (M,) T_i; end_state: (M,) s_{T_i}; end_weight: (M,) gamma^{T_i} / N.
    """

    counts: Array
    start: Array
    end_time: Array
    end_state: Array
    end_weight: Array


def demo_statistics(demos: Demonstrations, num_states, num_actions, discount, dtype):
    mask = demos.mask().astype(dtype)
    t = jnp.arange(demos.max_length, dtype=dtype)
    weights = mask * discount ** t[None, :] / demos.num
    counts = (
        jnp.zeros((num_states, num_actions), dtype)
        .at[demos.states[:, :-1], demos.actions]
        .add(weights)
    )
    start = jnp.zeros(num_states, dtype).at[demos.states[:, 0]].add(1.0 / demos.num)
    end_state = jnp.take_along_axis(demos.states, demos.lengths[:, None], axis=1)[:, 0]
    end_weight = discount ** demos.lengths.astype(dtype) / demos.num
    return DemoStatistics(counts, start, demos.lengths, end_state, end_weight)


def occupancy_statistics(occupancy, mdp: TabularMDP, horizon):
    """Statistics of an expected occupancy: (S, A) discounted counts of one full-length
    demonstration started from mdp.initial (its end value is the terminal value 0)."""
    occupancy = jnp.asarray(occupancy, dtype=mdp.dtype)
    if occupancy.shape != (mdp.num_states, mdp.num_actions):
        raise ValueError(
            "demonstrations given as an occupancy must have shape (S, A) = "
            f"{(mdp.num_states, mdp.num_actions)}; got {occupancy.shape}."
        )
    if _is_concrete(occupancy) and not bool(
        jnp.all(jnp.isfinite(occupancy)) and jnp.all(occupancy >= 0)
    ):
        raise ValueError("demonstrations given as an occupancy must be finite and >= 0.")
    empty = jnp.zeros((0,), dtype=int)
    return DemoStatistics(occupancy, mdp.initial, empty, empty, jnp.zeros((0,), mdp.dtype))


# ----------------------------------------------------------------------------- objective


def _stationary_value(mdp: TabularMDP, temperature, discount, v_init, tol, max_iterations):
    """Fixed point of the variational soft backup, differentiable in mdp.reward by the implicit
    function theorem (the tangent system is solved by the same kind of iteration)."""
    log_prior = _kernels.safe_log(mdp.action_prior)

    def residual(v):
        return (
            _kernels.soft_maximum(
                mdp.reward + discount * _kernels.expect(mdp.transitions, v), log_prior, temperature
            )[0]
            - v
        )

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


def _value_terms(mdp, stats, horizon, temperature, discount, method, v_init, tol, max_iter):
    """(sum_i w_{T_i} V_{T_i}(s_{T_i}) - V_0(s_0)) / N and the values (for warm starts)."""
    if horizon is None:
        v = _stationary_value(mdp, temperature, discount, v_init, tol, max_iter)
        v_end = v[stats.end_state]
        v_start = v
    else:
        terminal = jnp.zeros(mdp.num_states, mdp.dtype)
        _, vs, _, _ = backward(mdp, horizon, temperature, discount, terminal, method == "exact")
        v_end = vs[stats.end_time, stats.end_state]
        v_start = vs[0]
        v = v_start
    return jnp.sum(stats.end_weight * v_end) - jnp.sum(stats.start * v_start), v


def _objective(reward, mdp, stats, horizon, temperature, discount, method, v_init, tol, max_iter):
    mdp = eqx.tree_at(lambda m: m.reward, mdp, reward)
    log_prior = _kernels.safe_log(mdp.action_prior)
    visited = stats.counts > 0  # keep 0 * log 0 out of the sum
    prior_term = jnp.sum(jnp.where(visited, stats.counts * log_prior, 0.0))
    reward_term = jnp.sum(jnp.where(visited, stats.counts * reward, 0.0))
    values, v = _value_terms(
        mdp, stats, horizon, temperature, discount, method, v_init, tol, max_iter
    )
    return prior_term + (reward_term + values) / temperature, v


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
    setup = _setup(mdp, demonstrations, horizon, temperature, discount, method)
    reward = jnp.asarray(reward, dtype=mdp.dtype)
    if reward.shape != (mdp.num_states, mdp.num_actions):
        raise ValueError(
            f"reward must have shape (S, A) = {(mdp.num_states, mdp.num_actions)}, "
            f"got {reward.shape}."
        )
    mdp, stats, horizon, temperature, discount = setup
    v_init = jnp.zeros(mdp.num_states, mdp.dtype)
    tol = 10 * float(jnp.finfo(mdp.dtype).eps)
    return _objective(
        reward, mdp, stats, horizon, temperature, discount, method, v_init, tol, 1_000_000
    )[0]


def _setup(mdp, demonstrations, horizon, temperature, discount, method):
    if not isinstance(mdp, TabularMDP):
        raise ValueError(f"mdp must be a cai.TabularMDP, got {type(mdp).__name__}.")
    if method not in ("exact", "variational"):
        raise ValueError(f"method must be 'exact' or 'variational', got {method!r}.")
    if horizon is not None:
        horizon = check_horizon(horizon)
        if horizon == 0:
            raise ValueError("horizon must be >= 1 (or None for the infinite horizon).")
    temperature = check_temperature(temperature, mdp.dtype)
    discount = check_discount(discount, mdp.dtype)
    if horizon is None and method == "exact":
        raise ValueError(
            "method='exact' needs a finite horizon; the infinite horizon uses soft value "
            "iteration (method='variational')."
        )
    if horizon is None and _is_concrete(discount) and float(discount) >= 1:
        raise ValueError("horizon=None (infinite) needs discount < 1.")
    if method == "exact" and _is_concrete(discount) and float(discount) != 1:
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
    return mdp, stats, horizon, temperature, discount


# ----------------------------------------------------------------------------- expectations


def feature_expectations(source, features, discount=1.0) -> Float[Array, " F"]:
    """Expected (discounted) feature counts sum_t gamma^t phi(s_t, a_t).

    Args:
        source: `Demonstrations` (or a (states, actions) pair): the mean over trajectories of
            sum_{t < T_i} gamma^t phi(s_t, a_t); a `Posterior`: sum_t sum_{s,a}
            p(s_t = s, a_t = a | e) phi(s, a) (its marginals already carry the discount, so
            `discount` is ignored); or an (S, A) occupancy array: sum_{s,a} occ(s, a) phi(s, a).
        features: (S, A, F), or (S, F) state features.
        discount: gamma for demonstrations.

    Returns:
        (F,) feature expectations.
    """
    features = jnp.asarray(features)
    if features.ndim == 2:
        features = features[:, None, :]
    if isinstance(source, Posterior):
        occupancy = jnp.sum(source.state_action_marginals, axis=0)
    elif isinstance(source, Demonstrations) or isinstance(source, tuple):
        demos = as_demonstrations(*source) if not isinstance(source, Demonstrations) else source
        s, a = features.shape[0], max(features.shape[1], int(jnp.max(demos.actions)) + 1)
        occupancy = demo_statistics(demos, s, a, discount, features.dtype).counts
    else:
        occupancy = jnp.asarray(source)
    if occupancy.ndim != 2 or occupancy.shape[0] != features.shape[0]:
        raise ValueError(
            f"features of shape {features.shape} do not match an occupancy of shape "
            f"{occupancy.shape}; features must be (S, A, F) or (S, F)."
        )
    features = jnp.broadcast_to(features, (*occupancy.shape, features.shape[-1]))
    return jnp.einsum("sa,saf->f", occupancy, features)


def policy_log_likelihood(log_policy, demonstrations) -> Float[Array, " N"]:
    """sum_{t < T_i} log pi_t(a_t | s_t) for each demonstration.

    Args:
        log_policy: (H, S, A) time-indexed (e.g. `Posterior.log_policy`) or (S, A) stationary
            (e.g. `SoftValueSolution.log_policy`).
        demonstrations: `Demonstrations` or a (states, actions) pair.
    """
    demos = demonstrations
    if not isinstance(demos, Demonstrations):
        demos = as_demonstrations(*demos)
    log_policy = jnp.asarray(log_policy)
    if log_policy.ndim == 2:
        per_step = log_policy[demos.states[:, :-1], demos.actions]
    else:
        if demos.max_length > log_policy.shape[0]:
            raise ValueError(
                f"demonstrations have {demos.max_length} steps but log_policy only "
                f"{log_policy.shape[0]}."
            )
        t = jnp.arange(demos.max_length)[None, :]
        per_step = log_policy[t, demos.states[:, :-1], demos.actions]
    return jnp.sum(jnp.where(demos.mask() > 0, per_step, 0.0), axis=1)


# ----------------------------------------------------------------------------- fitting

# created once, so that the jitted step (keyed on the optimiser) compiles once per shape;
# a backtracking (Armijo) line search compiles about 1 s faster than optax's default zoom
_LBFGS = optax.lbfgs(linesearch=optax.scale_by_backtracking_linesearch(max_backtracking_steps=30))
_ADAM = optax.adam(1e-2)


@dataclasses.dataclass(frozen=True)
class IRLResult:
    """What `maxent_irl` returns.

    Attributes:
        reward_model: the fitted model (`LinearReward` or the module passed in).
        reward: (S, A) the fitted reward table.
        solution: `Posterior` (finite horizon) or `SoftValueSolution` (infinite) of the fit.
        log_likelihood: (iterations,) the objective l before each step (without the penalty).
        feature_gap: (iterations,) max_f |demonstrated - expected feature counts|.
        optimality: (iterations,) alpha max |gradient of the penalised objective| over the
            parameters; for a linear reward without regularisation this is the feature gap.
        converged: whether the optimality fell below tol.
        iterations: number of optimiser steps taken.
    """

    reward_model: Any
    reward: Array
    solution: Posterior | SoftValueSolution
    log_likelihood: np.ndarray
    feature_gap: np.ndarray
    optimality: np.ndarray
    converged: bool
    iterations: int


def maxent_irl(
    mdp: TabularMDP,
    features,
    demonstrations,
    *,
    horizon=None,
    temperature=1.0,
    discount=1.0,
    method: str = "variational",
    reward_model=None,
    optimizer=None,
    regularization=0.0,
    max_iterations: int = 500,
    tol: float = 1e-6,
    progress: bool = True,
) -> IRLResult:
    """Fit a reward so that the posterior explains the demonstrations (module docstring).

    Args:
        mdp: dynamics, action prior and (for an occupancy input) the initial distribution; its
            reward is ignored. Forbid actions with a zero action_prior.
        features: (S, A, F) state-action features or (S, F) state features.
        demonstrations: `Demonstrations` (see `as_demonstrations` for trajectories of different
            lengths), a (states, actions) pair of (N, T+1), (N, T) arrays, or an (S, A) array of
            expected discounted state-action counts of one full-length demonstration started
            from mdp.initial (needs a finite horizon).
        horizon: H for a finite horizon (every demonstration starts at t = 0 and has at most
            H actions), or None for the discounted infinite horizon (soft value iteration).
        temperature: alpha > 0.
        discount: gamma in (0, 1]; < 1 for the infinite horizon; 1 for method="exact".
        method: "variational" (maximum causal entropy, the default) or "exact" (finite horizon).
        reward_model: None for `LinearReward` starting at zero weights, or an equinox module
            mapping a (F,) feature vector to a scalar (e.g. `eqx.nn.MLP(F, "scalar", ...)`),
            used as the initial point.
        optimizer: an optax transformation; default L-BFGS with a backtracking line search for
            the linear reward (the objective is concave) and Adam(1e-2) for other models.
        regularization: lambda >= 0, maximise l - lambda/2 |params|^2. Needed when the
            demonstrations' counts cannot be matched exactly (e.g. one-hot features and a state
            that every policy reaches with some probability but no demonstration visits: l then
            grows without bound as that state's reward goes to -inf).
        max_iterations: cap on optimiser steps.
        tol: stop when `optimality` < tol (for a linear reward without regularisation, when
            max_f |demonstrated - expected feature counts| < tol).
        progress: show a progress bar.

    Returns:
        An `IRLResult`.
    """
    mdp, stats, horizon, temperature, discount = _setup(
        mdp, demonstrations, horizon, temperature, discount, method
    )
    if horizon is None and stats.end_time.shape[0] == 0:
        raise ValueError(
            "demonstrations given as an occupancy need a finite horizon; pass trajectories for "
            "the infinite horizon."
        )
    features = check_features(features, mdp)
    if isinstance(max_iterations, bool) or not isinstance(max_iterations, numbers.Integral):
        raise ValueError(f"max_iterations must be a Python int >= 1, got {max_iterations!r}.")
    if max_iterations < 1:
        raise ValueError(f"max_iterations must be >= 1, got {max_iterations}.")
    if not (isinstance(tol, numbers.Real) and tol > 0):
        raise ValueError(f"tol must be a positive number, got {tol!r}.")
    if not (isinstance(regularization, numbers.Real) and regularization >= 0):
        raise ValueError(f"regularization must be a number >= 0, got {regularization!r}.")
    if reward_model is None:
        reward_model = LinearReward(jnp.zeros(features.shape[-1], mdp.dtype))
    if optimizer is None:
        if isinstance(reward_model, LinearReward):
            optimizer = _LBFGS
        else:
            optimizer = _ADAM
    params, static = eqx.partition(reward_model, eqx.is_inexact_array)
    with jax.numpy_dtype_promotion("standard"):
        opt_state = optimizer.init(params)
    v = jnp.zeros(mdp.num_states, mdp.dtype)
    tol_v = jnp.asarray(10 * float(jnp.finfo(mdp.dtype).eps), mdp.dtype)
    step = functools.partial(
        _step, optimizer=optimizer, static=static, horizon=horizon, method=method
    )

    lls, gaps, optimality = [], [], []
    converged = False
    bar = _progress(max_iterations, progress)
    try:
        for _ in range(max_iterations):
            # optax's L-BFGS relies on implicit int32/int64 promotion; allow it for this call
            with jax.numpy_dtype_promotion("standard"):
                params, opt_state, v, ll, gap, opt = step(
                    params,
                    opt_state,
                    v,
                    mdp,
                    stats,
                    features,
                    temperature,
                    discount,
                    tol_v,
                    jnp.asarray(regularization, mdp.dtype),
                )
            lls.append(float(ll))
            gaps.append(float(gap))
            optimality.append(float(opt))
            bar.set_postfix(log_likelihood=f"{lls[-1]:.5g}", gap=f"{gaps[-1]:.2e}")
            bar.update()
            if not np.isfinite(lls[-1]):
                raise FloatingPointError(
                    "maxent_irl: the objective became non-finite (the reward diverged); add "
                    "regularization or use a smaller step (optimizer=optax.adam(...))."
                )
            if optimality[-1] < tol:
                converged = True
                break
    finally:
        bar.close()

    model = eqx.combine(params, static)
    reward = reward_table(model, features)
    fitted = eqx.tree_at(lambda m: m.reward, mdp, reward)
    if horizon is None:
        solution = soft_value_iteration(fitted, temperature, discount)
    else:
        solution = infer(fitted, horizon, temperature, method, discount)
    return IRLResult(
        reward_model=model,
        reward=reward,
        solution=solution,
        log_likelihood=np.asarray(lls),
        feature_gap=np.asarray(gaps),
        optimality=np.asarray(optimality),
        converged=converged,
        iterations=len(lls),
    )


@functools.partial(jax.jit, static_argnames=("optimizer", "static", "horizon", "method"))
def _step(
    params,
    opt_state,
    v_init,
    mdp,
    stats,
    features,
    temperature,
    discount,
    tol_v,
    regularization,
    *,
    optimizer,
    static,
    horizon,
    method,
):
    """One optimiser step; returns l, the feature gap and the optimality at the incoming params."""

    def objective(reward):
        return _objective(
            reward, mdp, stats, horizon, temperature, discount, method, v_init, tol_v, 1_000_000
        )

    def table(p):
        return reward_table(eqx.combine(p, static), features)

    def penalty(p):
        return 0.5 * regularization * sum(jnp.sum(x**2) for x in jax.tree_util.tree_leaves(p))

    def loss(p):
        return -objective(table(p))[0] + penalty(p)

    reward, table_vjp = jax.vjp(table, params)
    (ll, v), grad_r = jax.value_and_grad(objective, has_aux=True)(reward)
    (grad_p,) = table_vjp(-grad_r)
    grad_p = jax.tree_util.tree_map(lambda g, x: g + regularization * x, grad_p, params)
    gap = jnp.max(jnp.abs(temperature * jnp.einsum("sa,saf->f", grad_r, features)))
    leaves = jax.tree_util.tree_leaves(grad_p)
    optimality = temperature * jnp.max(jnp.stack([jnp.max(jnp.abs(g)) for g in leaves]))
    updates, opt_state = optimizer.update(
        grad_p, opt_state, params, value=-ll + penalty(params), grad=grad_p, value_fn=loss
    )
    params = optax.apply_updates(params, updates)
    return params, opt_state, jax.lax.stop_gradient(v), ll, gap, optimality


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="maxent_irl", disable=not enabled, leave=False)


__all__ = [
    "IRLResult",
    "LinearReward",
    "feature_expectations",
    "maxent_irl",
    "maxent_log_likelihood",
    "policy_log_likelihood",
    "reward_table",
]
