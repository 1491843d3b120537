"""Fitting MaxEnt inverse RL: maximise the objective l of `objective.py` (see its docstring for
the maths and references) over the parameters of a reward model with an optax optimiser.

Each step evaluates l and its gradient with respect to the reward table (alpha times the gap
between demonstrated and expected occupancies), pulls it back through the reward model, and
stops when alpha max |gradient| < tol (for a linear reward: the feature-count gap). A fit that
does not get there warns (`ConvergenceWarning`); one whose objective grows without bound stops
early and says why (`diagnosis.py`).
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array

from .._core import check_int, check_positive
from ..engine import ConvergenceWarning
from ..tabular import TabularMDP, infer, soft_value_iteration
from .diagnosis import (
    check_now,
    default_tolerance,
    not_converged_message,
    recession,
    unbounded_message,
)
from .objective import FitSpec, objective, setup
from .result import IRLResult
from .statistics import DemoStatistics, LinearReward, check_features, reward_table

# created once, so that the jitted step (keyed on the optimiser) compiles once per shape;
# a backtracking (Armijo) line search compiles faster than optax's default zoom (measured in
# benchmarks/RESULTS.md)
_LBFGS = optax.lbfgs(linesearch=optax.scale_by_backtracking_linesearch(max_backtracking_steps=30))
_ADAM = optax.adam(1e-2)


class FitState(NamedTuple):
    """What one optimiser step carries to the next: params (the reward model's arrays),
    opt_state (the optimiser's), v (S,) the last values (the infinite horizon's warm start)."""

    params: Any
    opt_state: Any
    v: Array


class Optimisation(eqx.Module):
    """How the parameters move: optimizer (static: an optax transformation), static (the
    non-array part of the reward model), regularization () lambda of the penalty
    lambda/2 |params|^2."""

    optimizer: Any = eqx.field(static=True)
    static: Any = eqx.field(static=True)
    regularization: Array


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
    tol: float | None = None,
    progress: bool | None = None,
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
            that every policy reaches with some probability but no demonstration visits, or,
            for "variational", transitions better than the dynamics allow: l then grows without
            bound).
        max_iterations: cap on iterations.
        tol: stop when `optimality` < tol (for a linear reward without regularisation, when
            max_f |demonstrated - expected feature counts| < tol). Default (None):
            3 sqrt(eps) (1 + max_f |demonstrated feature counts|), about 1e-6 in float64 and
            1e-2 in float32 for counts of about 20, where the line search still makes progress.
        progress: show a progress bar (on stderr): True always, False never, None (the
            default) only when stderr is a terminal, so that captured output and log files get
            no carriage-return lines.

    Returns:
        An `IRLResult`. Warns with `cai.ConvergenceWarning` when it did not converge; when the
        objective grows without bound (no finite reward fits: `IRLResult.unbounded`) it stops
        early and the warning names what in the demonstrations the model cannot fit.
    """
    mdp, stats, spec = setup(mdp, demonstrations, horizon, temperature, discount, method)
    features, stop = _check_fit(mdp, stats, spec, features, max_iterations, tol, regularization)
    state, how = _initial_state(mdp, features, reward_model, optimizer, regularization)
    problem = _Problem(mdp, stats, features, spec, how)
    run = _iterate(state, problem, stop, progress)
    return _maxent_result(run, problem, stop, method)


class _Problem(NamedTuple):
    """What every step reads: the checked mdp, the demonstrations' statistics, the (S, A, F)
    features, the `FitSpec` and the `Optimisation`."""

    mdp: TabularMDP
    stats: DemoStatistics
    features: Array
    spec: FitSpec
    how: Optimisation


class _Stop(NamedTuple):
    """When the iteration stops: max_iterations, tol on the optimality, and the
    regularization (an unboundedness check only runs without it)."""

    max_iterations: int
    tol: float
    regularization: float


class _Run(NamedTuple):
    """The iteration's outcome: the final `FitState`, the `Record`s, converged, unbounded
    and the last recession check (None if none ran)."""

    state: FitState
    history: list
    converged: bool
    unbounded: bool
    recession: Any


def _check_fit(mdp, stats, spec, features, max_iterations, tol, regularization):
    """(features (S, A, F), `_Stop`) with every setting checked (ValueError naming it)."""
    if spec.horizon is None and stats.end_time.shape[0] == 0:
        raise ValueError(
            "demonstrations given as an occupancy need a finite horizon; pass trajectories for "
            "the infinite horizon."
        )
    features = check_features(features, mdp)
    max_iterations = check_int("max_iterations", max_iterations, 1)
    if tol is None:
        tol = default_tolerance(stats, features, mdp.dtype)
    tol = check_positive("tol", tol)
    if not (isinstance(regularization, numbers.Real) and 0 <= regularization < float("inf")):
        raise ValueError(f"regularization must be a finite number >= 0, got {regularization!r}.")
    return features, _Stop(max_iterations, tol, regularization)


def _initial_state(mdp, features, reward_model, optimizer, regularization):
    """The starting `FitState` and the `Optimisation` (module defaults for None)."""
    if reward_model is None:
        reward_model = LinearReward(jnp.zeros(features.shape[-1], mdp.dtype))
    if optimizer is None:
        optimizer = _LBFGS if isinstance(reward_model, LinearReward) else _ADAM
    params, static = eqx.partition(reward_model, eqx.is_inexact_array)
    with jax.numpy_dtype_promotion("standard"):
        opt_state = optimizer.init(params)
    # strongly typed, like the states `_step` returns: a weakly typed leaf (L-BFGS's
    # num_linesearch_steps) would make the second call compile `_step` a second time
    opt_state = jax.tree_util.tree_map(
        lambda x: jnp.asarray(x, x.dtype) if isinstance(x, jax.Array) else x, opt_state
    )
    state = FitState(params, opt_state, jnp.zeros(mdp.num_states, mdp.dtype))
    return state, Optimisation(optimizer, static, jnp.asarray(regularization, mdp.dtype))


def _iterate(state: FitState, problem: _Problem, stop: _Stop, progress) -> _Run:
    """Optimiser steps until the optimality is below tol, the objective is found unbounded
    (the best state so far is kept), or max_iterations (the state the last record describes
    is kept)."""
    mdp, stats, features, spec, how = problem
    history: list[Record] = []
    best = (-np.inf, state)  # the highest objective so far, and the state it was evaluated at
    converged = unbounded = False
    rec = None
    bar = _progress(stop.max_iterations, progress)
    try:
        for i in range(stop.max_iterations):
            # optax's L-BFGS relies on implicit int32/int64 promotion; allow it for this call
            with jax.numpy_dtype_promotion("standard"):
                next_state, record = _step(state, mdp, stats, features, spec, how)
            history.append(Record(*(float(x) for x in record)))
            last = history[-1]
            bar.set_postfix(objective=f"{last.objective:.5g}", gap=f"{last.feature_gap:.2e}")
            bar.update()
            if not np.isfinite(last.objective):
                raise FloatingPointError(
                    "maxent_irl: the objective became non-finite (the reward diverged); add "
                    "regularization or use a smaller step (optimizer=optax.adam(...))."
                )
            if last.optimality < stop.tol:
                converged = True
                break
            if last.objective > best[0]:
                best = (last.objective, state)
            # (the best, not the last: a failed line search in float32 can jump far off)
            if stop.regularization == 0 and check_now(i, stop.max_iterations):
                reward = reward_table(eqx.combine(best[1].params, how.static), features)
                rec = recession(reward, mdp, stats, spec)
                if rec.unbounded:
                    unbounded, state = True, best[1]
                    break
            if i + 1 == stop.max_iterations:
                break  # keep the parameters the last record describes
            state = next_state
    finally:
        bar.close()
    return _Run(state, history, converged, unbounded, rec)


def _maxent_result(run: _Run, problem: _Problem, stop: _Stop, method) -> IRLResult:
    """The `IRLResult` of a finished iteration, warning (ConvergenceWarning) when it did not
    converge or the objective is unbounded."""
    mdp, stats, features, spec, how = problem
    model = eqx.combine(run.state.params, how.static)
    reward = reward_table(model, features)
    history = run.history
    records = Record(*(np.asarray(x) for x in zip(*history, strict=True)))
    if run.unbounded:
        weights = model.weights if isinstance(model, LinearReward) else None
        impossible = float(stats.log_dynamics) == -np.inf  # (NaN for an occupancy)
        message = unbounded_message(run.recession, spec.method, len(history), weights, impossible)
        warnings.warn(message, ConvergenceWarning, stacklevel=3)
    elif not run.converged:
        message = not_converged_message(
            len(history), stop.tol, records.optimality, records.objective, mdp.dtype
        )
        warnings.warn(message, ConvergenceWarning, stacklevel=3)
    fitted = eqx.tree_at(lambda m: m.reward, mdp, reward)
    if spec.horizon is None:
        solution = soft_value_iteration(fitted, spec.temperature, spec.discount)
    else:
        solution = infer(fitted, spec.horizon, spec.temperature, method, spec.discount)
    return IRLResult(
        reward_model=model,
        reward=reward,
        solution=solution,
        objective=records.objective,
        log_likelihood=records.log_likelihood,
        feature_gap=records.feature_gap,
        optimality=records.optimality,
        converged=run.converged,
        iterations=len(history),
        tol=stop.tol,
        unbounded=run.unbounded,
        method="maxent",
    )


class Record(NamedTuple):
    """One iteration's numbers at its incoming parameters (see `IRLResult`): objective l,
    log_likelihood, feature_gap and optimality, each ()."""

    objective: Any
    log_likelihood: Any
    feature_gap: Any
    optimality: Any


@jax.jit
def _step(
    state: FitState,
    mdp: TabularMDP,
    stats: DemoStatistics,
    features,
    spec: FitSpec,
    how: Optimisation,
):
    """One optimiser step from `state`; returns the next `FitState` and the `Record` of the
    incoming params: l, the log-likelihood, the feature gap max_f |alpha dl/dr . phi_f| and the
    optimality alpha max |grad|.
    """
    params, opt_state, v_init = state
    temperature, regularization = spec.temperature, how.regularization

    def value(reward):
        return objective(reward, mdp, stats, spec, v_init)

    def table(p):
        return reward_table(eqx.combine(p, how.static), features)

    def penalty(p):
        return 0.5 * regularization * sum(jnp.sum(x**2) for x in jax.tree_util.tree_leaves(p))

    def loss(p):
        return -value(table(p))[0] + penalty(p)

    reward, table_vjp = jax.vjp(table, params)
    (value_l, evaluation), grad_r = jax.value_and_grad(value, has_aux=True)(reward)
    (grad_p,) = table_vjp(-grad_r)
    grad_p = jax.tree_util.tree_map(lambda g, x: g + regularization * x, grad_p, params)
    gap = jnp.max(jnp.abs(temperature * jnp.einsum("sa,saf->f", grad_r, features)))
    leaves = jax.tree_util.tree_leaves(grad_p)
    optimality = temperature * jnp.max(jnp.stack([jnp.max(jnp.abs(g)) for g in leaves]))
    updates, opt_state = how.optimizer.update(
        grad_p, opt_state, params, value=-value_l + penalty(params), grad=grad_p, value_fn=loss
    )
    params = optax.apply_updates(params, updates)
    v = jax.lax.stop_gradient(evaluation.v)
    record = Record(value_l, evaluation.log_likelihood, gap, optimality)
    return FitState(params, opt_state, v), record


def _progress(total: int, enabled: bool | None):
    from tqdm.auto import tqdm

    # tqdm's disable=None: only on a terminal
    disable = None if enabled is None else not enabled
    return tqdm(total=total, desc="maxent_irl", disable=disable, leave=False)


__all__ = ["IRLResult", "maxent_irl"]
