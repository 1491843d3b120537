"""Adversarial inverse RL (Fu, Luo and Levine 2018, "Learning Robust Rewards with Adversarial
Inverse Reinforcement Learning"), with the discriminator as pure functions and a tabular fit
whose generator is exact soft value iteration.

The discriminator of a transition (s, a, s') against a policy pi with action prior p is

    D(s, a, s') = exp(f / alpha) / (exp(f / alpha) + pi(a|s) / p(a|s)),
    f(s, a, s') = g(s) + gamma h(s') - h(s)              (gamma h(s') -> 0 after a termination)

so logit D = f / alpha - log(pi(a|s) / p(a|s)) (`airl_logits`; alpha = 1 and a uniform prior
absorbed into f give the paper's exp f / (exp f + pi)). The discriminator minimises the
logistic loss (`airl_discriminator_loss`)

    L = - E_{expert}[log D] - E_{pi}[log (1 - D)],

and the generator maximises the entropy-regularised return of log D - log(1 - D) times alpha,
i.e. of f with temperature alpha (`soft_value_iteration` on E_{s'}[f(s, a, s')]). At the
optimum pi is the expert's soft-optimal policy and D = 1/2, so f is the expert's soft advantage
Q(s,a) - V(s). With deterministic dynamics and a state-only reward r this decomposes uniquely
(Fu et al. Theorem C.1): g = r + c and h = V + c' on every state the data reach, with
c = (1 - gamma) c' (the loss is invariant to g -> g + (1 - gamma) c, h -> h + c: the returned
fit is normalised to mean_s h(s) = 0). With stochastic dynamics, an action-dependent g, or a
shaping discount other than the MDP's the decomposition does not hold
(tests/irl/test_airl.py measures all three).

`airl_irl` fits tabular g (S,) and h (S,) to demonstrations (or to an exact occupancy) by
alternating `steps` Adam steps on L, with both expectations exact given the data (the
expert's over its empirical (s, a, s') counts, the generator's over its exact occupancy from
the same start states and for the same lengths), and one exact soft value iteration.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float

from .._core import check_int, check_positive, is_concrete
from ..engine import ConvergenceWarning, Setting
from ..tabular import TabularMDP, soft_value_iteration
from .demonstrations import Demonstrations, as_demonstrations, check_demonstrations
from .result import IRLResult


def shaped_reward(g, h, h_next, discount, terminated=0.0):
    """f = g + gamma (1 - d) h(s') - h(s), elementwise over any common batch shape (...,).

    Args:
        g: (...,) the reward term g(s) (or g(s, a)).
        h, h_next: (...,) the shaping term at s and at s'.
        discount: gamma.
        terminated: (...,) 1.0 where s' ends the episode (no value after it), else 0.0.
    """
    return g + discount * (1.0 - terminated) * h_next - h


def airl_logits(f, log_policy, temperature=1.0, log_prior=0.0):
    """logit D = f / alpha - (log pi(a|s) - log p(a|s)); (...,) from (...,) inputs.

    D = sigmoid(logit) = exp(f/alpha) / (exp(f/alpha) + pi/p) is the probability that the
    transition is the expert's."""
    return f / temperature - (log_policy - log_prior)


def airl_discriminator_loss(expert_logits, policy_logits, expert_weights=None, policy_weights=None):
    """L = - sum_i w_i log D_i (expert) - sum_j v_j log(1 - D_j) (policy), a scalar ().

    Args:
        expert_logits: (N,) logits of the expert's transitions.
        policy_logits: (M,) logits of the generator's transitions.
        expert_weights, policy_weights: (N,), (M,) non-negative weights summing to one
            (occupancies); None for the plain means.
    """
    log_d = jax.nn.log_sigmoid(expert_logits)
    log_not_d = jax.nn.log_sigmoid(-policy_logits)
    expert = jnp.mean(log_d) if expert_weights is None else jnp.sum(expert_weights * log_d)
    policy = jnp.mean(log_not_d) if policy_weights is None else jnp.sum(policy_weights * log_not_d)
    return -(expert + policy)


class TabularAIRL(eqx.Module):
    """Tabular discriminator parameters: g (S,) (or (S, A) for the action-dependent variant,
    the negative control) and h (S,)."""

    g: Float[Array, "S ..."]
    h: Float[Array, " S"]

    def f(self, discount) -> Float[Array, "S A S"]:
        """f[s, a, s'] = g(s[, a]) + gamma h(s') - h(s)."""
        g = self.g[:, None, None] if self.g.ndim == 1 else self.g[:, :, None]
        return shaped_reward(g, self.h[:, None, None], self.h[None, None, :], discount)


class _Data(NamedTuple):
    """The fixed inputs of the tabular fit: expert (S, A, S) weights of the demonstrated
    transitions (sum 1); starts (N, S) start distributions; lengths (N,) steps (0: infinite)."""

    expert: Array
    starts: Array
    lengths: Array


def discounted_occupancy(transitions, policy, starts, lengths, discount, max_length: int):
    """(S, A) normalised discounted occupancy sum_i sum_{t < T_i} gamma^t P_i(s_t, a_t) of a
    stationary policy (S, A) in dynamics (S, A, S), from start distributions starts (N, S) for
    lengths (N,); max_length = 0 means T_i = infinity (a linear solve,
    d = (I - gamma P_pi^T)^{-1} p0)."""
    if max_length == 0:
        p_pi = jnp.einsum("sa,sat->st", policy, transitions)
        eye = jnp.eye(p_pi.shape[0], dtype=p_pi.dtype)
        d = jnp.linalg.solve(eye - discount * p_pi.T, jnp.sum(starts, axis=0))
        joint = d[:, None] * policy
        return joint / jnp.sum(joint)

    def step(p, t):
        live = (t < lengths).astype(p.dtype)[:, None]
        joint = jnp.sum(
            discount ** t.astype(p.dtype) * live[:, :, None] * p[:, :, None] * policy[None], axis=0
        )
        return jnp.einsum("ns,sa,sat->nt", p, policy, transitions), joint

    _, joints = jax.lax.scan(step, starts, jnp.arange(max_length))
    total = jnp.sum(joints, axis=0)
    return total / jnp.sum(total)


def _expert_data(mdp, demonstrations, discount) -> tuple[_Data, int]:
    transitions = np.asarray(mdp.dense_transitions())
    if isinstance(demonstrations, (np.ndarray, jax.Array)) and np.ndim(demonstrations) == 2:
        rho = np.asarray(demonstrations, dtype=float)
        if rho.shape != (mdp.num_states, mdp.num_actions):
            raise ValueError(
                f"demonstrations: an occupancy must have shape (S, A) = "
                f"{(mdp.num_states, mdp.num_actions)}, got {rho.shape}."
            )
        if not np.isfinite(rho).all() or (rho < 0).any() or rho.sum() <= 0:
            raise ValueError(
                "demonstrations: an occupancy must be finite, non-negative and not all zero."
            )
        expert = rho[:, :, None] * transitions / rho.sum()
        starts = np.asarray(mdp.initial)[None]
        return _Data(expert, starts, np.zeros(1, int)), 0
    if not isinstance(demonstrations, Demonstrations):
        demonstrations = as_demonstrations(*demonstrations)
    check_demonstrations(demonstrations, mdp.action_prior, None)
    states = np.asarray(demonstrations.states)
    actions = np.asarray(demonstrations.actions)
    lengths = np.asarray(demonstrations.lengths)
    expert = np.zeros(transitions.shape)
    for i in range(states.shape[0]):
        t = np.arange(lengths[i])
        np.add.at(expert, (states[i, t], actions[i, t], states[i, t + 1]), discount**t)
    starts = np.eye(mdp.num_states)[states[:, 0]]
    return _Data(expert / expert.sum(), starts, lengths), int(lengths.max())


def airl_irl(
    mdp: TabularMDP,
    demonstrations,
    *,
    temperature=1.0,
    discount=0.9,
    state_only: bool = True,
    shaping_discount=None,
    rounds: int = 1000,
    steps: int = 5,
    learning_rate=0.01,
    optimizer=None,
    tol=1e-3,
) -> IRLResult:
    """Tabular AIRL with an exact generator (module docstring).

    Args:
        mdp: dynamics, action prior and (for an occupancy input) the start distribution;
            its reward is ignored.
        demonstrations: `Demonstrations`, a (states, actions) pair, or an (S, A) array of the
            expert's state-action occupancy (any scale) from mdp.initial, discounted by
            `discount`, infinite horizon.
        temperature: alpha > 0, of the generator and of D; may be traced (`jax.vmap` over
            temperatures: the result's arrays gain a batch axis, `converged` is then an array
            and no warning is issued).
        discount: gamma in (0, 1) of the generator, of the occupancies and of f.
        state_only: g(s) (True) or g(s, a) (False: the action-dependent negative control).
        shaping_discount: the gamma in f; default `discount` (another value is a negative
            control).
        rounds: alternations of discriminator steps and soft value iteration.
        steps: optimiser steps on the discriminator loss per round.
        learning_rate: Adam's step size (scale-free: plain gradient descent needed a step
            tuned to the model size and temperature, and diverged on a 4 x 5 grid).
        optimizer: an optax transformation in place of Adam(learning_rate).
        tol: converged when, in the last round, max |gradient of L| < tol and the
            generator's policy moved by less than tol (max |change of pi(a|s)|).

    Returns:
        `IRLResult` with method "airl": reward_model the fitted `TabularAIRL` (normalised to
        mean h = 0), reward the (S, A) table g (broadcast over actions when state-only),
        value h (S,), solution the generator's `SoftValueSolution` on E_{s'}[f], objective
        the per-round -L, optimality the per-round max |gradient|. Warns with
        `ConvergenceWarning` when it did not converge.

    Raises:
        ValueError: naming the argument, for demonstrations out of range or forbidden by the
            action prior, an occupancy of the wrong shape or with negative or non-finite
            entries, or a non-positive temperature, discount outside (0, 1) or counts < 1.
    """
    settings = (temperature, discount, shaping_discount, steps, learning_rate, optimizer)
    fit = _fit_settings(mdp, *settings)
    rounds = check_int("rounds", rounds, 1)
    tol = check_positive("tol", tol)
    # the expert's occupancy is weighted in numpy
    data, max_length = _expert_data(mdp, demonstrations, float(fit.setting.discount))
    data = _Data(*(jnp.asarray(x) for x in data))
    fit = fit._replace(max_length=max_length)
    shape = (mdp.num_states,) if state_only else (mdp.num_states, mdp.num_actions)
    params = TabularAIRL(jnp.zeros(shape, mdp.dtype), jnp.zeros(mdp.num_states, mdp.dtype))
    # optax's Adam relies on implicit int32/float promotion; allow it for this call
    with jax.numpy_dtype_promotion("standard"):
        (params, solution), history = _fit(params, mdp, data, fit, rounds)
    return _airl_result(mdp, (params, solution), history, fit, rounds, tol)


def _fit_settings(mdp, temperature, discount, shaping_discount, steps, learning_rate, optimizer):
    """The checked settings as a `_Fit` (ValueError naming a bad one); max_length 0 (the
    caller sets it from the demonstrations); optimizer None is Adam(learning_rate)."""
    dtype = mdp.dtype
    setting = Setting(temperature, discount, None, "variational", dtype=dtype, geometric=True)
    shaping = (
        setting.discount
        if shaping_discount is None
        else jnp.asarray(check_positive("shaping_discount", shaping_discount), dtype)
    )
    steps = check_int("steps", steps, 1)
    lr = check_positive("learning_rate", learning_rate)
    return _Fit(setting, shaping, 0, steps, optax.adam(lr) if optimizer is None else optimizer)


def _airl_result(mdp, fitted, history, fit: _Fit, rounds: int, tol) -> IRLResult:
    """The `IRLResult` of the fitted (parameters, generator's solution), the parameters
    normalised to mean h = 0, warning (ConvergenceWarning) when the last round's gradient or
    policy change is not below tol."""
    params, solution = fitted
    objective, optimality, moved = history
    shaping = fit.shaping
    params = TabularAIRL(
        params.g - (1 - shaping) * jnp.mean(params.h), params.h - jnp.mean(params.h)
    )
    converged = (optimality[-1] < tol) & (moved[-1] < tol)
    if is_concrete(converged):  # else traced (a vmap over temperature): arrays, no warning
        objective, optimality, moved = (np.asarray(x) for x in (objective, optimality, moved))
        converged = bool(converged)
    if is_concrete(converged) and not converged:
        warnings.warn(
            f"airl_irl did not converge in {rounds} rounds: the discriminator's gradient is "
            f"{optimality[-1]:.3g} and the policy moved by {moved[-1]:.3g} in the last round "
            f"(tol {tol:g}); raise rounds or steps, or lower learning_rate if it oscillates.",
            ConvergenceWarning,
            stacklevel=3,
        )
    g = (
        params.g
        if params.g.ndim == 2
        else jnp.broadcast_to(params.g[:, None], mdp.action_prior.shape)
    )
    return IRLResult(
        reward_model=params,
        reward=g,
        solution=solution,
        objective=objective,
        optimality=optimality,
        converged=converged,
        iterations=rounds,
        tol=tol,
        method="airl",
        value=params.h,
    )


class _Fit(NamedTuple):
    """What the tabular fit reads besides the model and the data: the `engine.Setting`
    (temperature and discount: arrays, may be traced), the shaping discount (array), the
    longest demonstration (0: infinite), the optimiser steps per round and the optimiser."""

    setting: Setting
    shaping: Array
    max_length: int
    steps: int
    optimizer: optax.GradientTransformation


def _generator(params: TabularAIRL, mdp: TabularMDP, fit: _Fit) -> tuple:
    """Exact soft value iteration on E_{s'}[f]: (SoftValueSolution, (S, A, S) f)."""
    transitions = mdp.dense_transitions()
    f = params.f(fit.shaping)
    reward = jnp.einsum("sat,sat->sa", transitions, f)
    solution = soft_value_iteration(
        eqx.tree_at(lambda m: m.reward, mdp, reward),
        fit.setting.temperature,
        fit.setting.discount,
    )
    return solution, f


def _tabular_loss(params: TabularAIRL, mdp, data: _Data, log_policy, policy_weights, fit: _Fit):
    """L over all (s, a, s'): expert weights data.expert (S, A, S), generator weights
    policy_weights (S, A, S); D from f of params and log_policy (S, A)."""
    logits = airl_logits(
        params.f(fit.shaping),
        log_policy[:, :, None],
        fit.setting.temperature,
        mdp.log_action_prior[:, :, None],
    ).reshape(-1)
    return airl_discriminator_loss(
        logits, logits, data.expert.reshape(-1), policy_weights.reshape(-1)
    )


@eqx.filter_jit
def _fit(params, mdp, data, fit: _Fit, rounds):
    optimizer = fit.optimizer
    transitions = mdp.dense_transitions()

    def round_(carry, _):
        params, opt_state, solution = carry
        rho = discounted_occupancy(
            transitions,
            solution.policy,
            data.starts,
            data.lengths,
            fit.setting.discount,
            fit.max_length,
        )
        weights = rho[:, :, None] * transitions

        def step(inner, _):
            p, s = inner
            loss, grad = jax.value_and_grad(_tabular_loss)(
                p, mdp, data, solution.log_policy, weights, fit
            )
            updates, s = optimizer.update(grad, s)
            return (optax.apply_updates(p, updates), s), (loss, grad)

        (params, opt_state), (losses, grads) = jax.lax.scan(
            step, (params, opt_state), None, fit.steps
        )
        last = jax.tree_util.tree_map(lambda x: x[-1], grads)
        optimality = jnp.max(
            jnp.stack([jnp.max(jnp.abs(x)) for x in jax.tree_util.tree_leaves(last)])
        )
        new_solution, _ = _generator(params, mdp, fit)
        moved = jnp.max(jnp.abs(jnp.exp(new_solution.log_policy) - solution.policy))
        return (params, opt_state, new_solution), (-losses[-1], optimality, moved)

    solution, _ = _generator(params, mdp, fit)
    carry = (params, optimizer.init(params), solution)
    (params, _, solution), history = jax.lax.scan(round_, carry, None, rounds)
    return (params, solution), history


__all__ = [
    "TabularAIRL",
    "airl_discriminator_loss",
    "airl_irl",
    "airl_logits",
    "discounted_occupancy",
    "shaped_reward",
]
