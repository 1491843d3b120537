"""Planning by expectation maximisation on a tabular MDP (Toussaint and Storkey 2006).

The discounted MDP is read as a mixture of finite-horizon models: a horizon T is drawn from the
geometric prior P(T) = (1 - gamma) gamma^T, the policy runs for T steps, and a single binary
"optimality" event R is emitted at the last step with probability

    p(R = 1 | s_T, a_T) = r̂(s_T, a_T) = (r(s_T, a_T) - r_min) / (r_max - r_min)  in [0, 1]

(`rescale_reward`; -inf rewards are forbidden actions, probability 0 and never taken). The
likelihood of a policy pi is then

    L(pi) = sum_T P(T) E_pi[r̂(s_T, a_T)] = (1 - gamma) sum_s p0(s) V̂^pi(s)

with V̂^pi the discounted value of the rescaled reward. The E-step computes two message sums
(`em_messages`), truncated after `horizon` terms (the geometric prior's tail mass gamma^(H+1)):

    backward  β_0 = r̂,
              β_{k+1}(s, a) = r̂(s, a) + gamma sum_s' T(s'|s, a) sum_a' pi(a'|s') β_k(s', a')
              β_H -> Q̂^pi(s, a) = sum_tau gamma^tau E[r̂(s_tau, a_tau) | s_0 = s, a_0 = a]
    forward   α_0 = p0,  α_{k+1}(s') = p0(s') + gamma sum_{s, a} α_k(s) pi(a|s) T(s'|s, a)
              α_H -> sum_t gamma^t p(s_t = s)   (the discounted occupancy)

and L = (1 - gamma) sum_s p0(s) sum_a pi(a|s) β(s, a) = (1 - gamma) sum_{s,a} α(s) pi(a|s) r̂(s, a).
The posterior weight of (s_t = s, a_t = a), summed over t and T >= t, is
(1 - gamma) α(s) pi(a|s) Q̂^pi(s, a) / L, so the M-step maximising the expected complete-data
log-likelihood is the reward-weighted update

    pi_new(a|s) ∝ pi(a|s) Q̂^pi(s, a)          (kept unchanged where Q̂(s, .) = 0)

and EM never decreases L. The greedy variant pi_new(a|s) = 1[a = argmax_a Q̂^pi(s, a)] (over the
allowed actions) is policy iteration on the rescaled reward; it reaches the optimal policy, which
an affine rescaling of the reward does not change.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._core import check_discount, check_int, is_concrete, safe_log
from ..tabular import TabularMDP


class EMMessages(NamedTuple):
    """The E-step of EM planning for one policy (`em_messages`).

    q: (S, A) the backward message sum β, Q̂^pi of the rescaled reward (truncated at `horizon`).
    occupancy: (S,) the forward message sum α(s) = sum_t gamma^t p(s_t = s), total 1 / (1 - gamma).
    likelihood: () L(pi) = p(R = 1 | pi) = (1 - gamma) p0 · V̂^pi.
    """

    q: Float[Array, "S A"]
    occupancy: Float[Array, " S"]
    likelihood: Float[Array, ""]


class EMPlan(NamedTuple):
    """The result of `em_planning`.

    log_policy: (S, A) log pi of the last policy (-inf for actions of probability 0).
    likelihood: (iterations + 1,) L(pi_k) of the initial policy and after each EM iteration.
    q: (S, A) Q̂ of the last policy (rescaled reward).
    occupancy: (S,) discounted state occupancy of the last policy.
    """

    log_policy: Float[Array, "S A"]
    likelihood: Float[Array, " K"]
    q: Float[Array, "S A"]
    occupancy: Float[Array, " S"]


def rescale_reward(reward: Float[Array, "S A"]) -> Float[Array, "S A"]:
    """r̂ = (r - r_min) / (r_max - r_min) over the finite rewards: the probability of the
    optimality event. -inf (a forbidden action) maps to 0; if every finite reward is equal, r̂ = 1
    (every policy is optimal, L = 1)."""
    reward = jnp.asarray(reward)
    finite = jnp.isfinite(reward)
    low = jnp.min(jnp.where(finite, reward, jnp.inf))
    high = jnp.max(jnp.where(finite, reward, -jnp.inf))
    width = jnp.where(high > low, high - low, 1.0)
    scaled = jnp.where(high > low, (reward - low) / width, 1.0)
    return jnp.where(finite, scaled, 0.0)


def _check_mdp(mdp, discount, horizon):
    """The discount as a float in (0, 1), the truncation horizon (default: tail mass below 1e-13
    in float64, 1e-7 in float32)."""
    if not isinstance(mdp, TabularMDP):
        raise ValueError(f"mdp must be a cai.TabularMDP, got {type(mdp).__name__}.")
    if mdp.time_varying:
        raise ValueError(
            f"reward: EM planning needs a stationary (S, A) reward, got shape {mdp.reward.shape}."
        )
    if isinstance(discount, bool) or not isinstance(discount, float | int):
        raise ValueError(
            f"discount must be a Python number (the geometric prior over horizons), got "
            f"{discount!r}."
        )
    check_discount(discount, mdp.dtype, geometric=True)
    if horizon is None:
        tail = 1e-13 if mdp.dtype == jnp.float64 else 1e-7
        horizon = max(1, math.ceil(math.log(tail) / math.log(discount)))
    return float(discount), check_int("horizon", horizon, 1)


def _messages(transitions, reward, initial, policy, discount, horizon):
    """β and α by `horizon` steps of their recursions (module docstring), and L."""

    def step(carry, _):
        beta, alpha = carry
        beta = reward + discount * jnp.einsum("sat,tb,tb->sa", transitions, policy, beta)
        alpha = initial + discount * jnp.einsum("s,sa,sat->t", alpha, policy, transitions)
        return (beta, alpha), None

    (beta, alpha), _ = jax.lax.scan(step, (reward, initial), None, length=horizon)
    likelihood = (1 - discount) * jnp.sum(initial[:, None] * policy * beta)
    return EMMessages(beta, alpha, likelihood)


def em_messages(
    mdp: TabularMDP, log_policy, discount: float, *, horizon: int | None = None
) -> EMMessages:
    """The E-step of EM planning: backward and forward message sums of a stationary policy.

    Args:
        mdp: the model; its reward (S, A) is rescaled by `rescale_reward`.
        log_policy: (S, A) log pi(a|s).
        discount: gamma in (0, 1), the parameter of the geometric prior over horizons.
        horizon: number of terms of the message sums (default: the geometric tail below 1e-13
            in float64, 1e-7 in float32).

    Returns:
        `EMMessages` (q = Q̂^pi, occupancy, likelihood).
    """
    discount, horizon = _check_mdp(mdp, discount, horizon)
    policy = jnp.exp(jnp.asarray(log_policy, dtype=mdp.dtype))
    if policy.shape != mdp.reward.shape:
        raise ValueError(f"log_policy must have shape {mdp.reward.shape}, got {policy.shape}.")
    return _jit_messages(
        mdp.dense_transitions(), rescale_reward(mdp.reward), mdp.initial, policy, discount, horizon
    )


_jit_messages = jax.jit(_messages, static_argnums=(4, 5))


def em_planning(
    mdp: TabularMDP,
    discount: float,
    *,
    iterations: int = 100,
    greedy: bool = False,
    horizon: int | None = None,
    log_policy=None,
) -> EMPlan:
    """Plan by EM: alternate `em_messages` and the M-step (module docstring) `iterations` times.

    Args:
        mdp: the model (stationary reward; -inf rewards and zero action-prior entries are
            forbidden actions).
        discount: gamma in (0, 1).
        iterations: number of EM iterations (a Python int >= 1).
        greedy: False for the reward-weighted M-step pi ∝ pi Q̂; True for the greedy one,
            argmax_a Q̂ (policy iteration).
        horizon: truncation of the message sums (see `em_messages`).
        log_policy: (S, A) initial log pi; default the action prior restricted to the allowed
            actions. Its mass on forbidden actions is removed (renormalised); the reward-weighted
            update never gives mass to an action outside its support.

    Returns:
        `EMPlan`, with L(pi_k) for k = 0..iterations (non-decreasing, up to rounding).
    """
    discount, horizon = _check_mdp(mdp, discount, horizon)
    iterations = check_int("iterations", iterations, 1)
    allowed = (mdp.action_prior > 0) & (mdp.reward > -jnp.inf)
    if log_policy is None:
        policy = jnp.where(allowed, mdp.action_prior, 0.0)
    else:
        policy = jnp.exp(jnp.asarray(log_policy, dtype=mdp.dtype))
        if policy.shape != mdp.reward.shape:
            raise ValueError(f"log_policy must have shape {mdp.reward.shape}, got {policy.shape}.")
        if is_concrete(policy) and not np.allclose(np.sum(policy, -1), 1.0, atol=1e-6):
            raise ValueError("log_policy must be normalised over actions: sum_a pi(a|s) = 1.")
        # forbidden actions keep no mass (their Q-hat counts the future, so the M-step would)
        policy = jnp.where(allowed, policy, 0.0)
        if is_concrete(policy) and not np.all(np.sum(policy, -1) > 0):
            raise ValueError(
                "log_policy puts all its mass on forbidden actions (reward -inf or action prior 0) "
                "in some state: give it mass on an allowed action there."
            )
    policy = policy / jnp.sum(policy, axis=-1, keepdims=True)
    arrays = (mdp.dense_transitions(), rescale_reward(mdp.reward), mdp.initial, allowed)
    return _em_loop(arrays, policy, discount, horizon, iterations, greedy)


@functools.partial(jax.jit, static_argnums=(2, 3, 4, 5))
def _em_loop(arrays, policy, discount, horizon, iterations, greedy) -> EMPlan:
    transitions, reward, initial, allowed = arrays

    def m_step(policy, q):
        if greedy:
            best = jnp.argmax(jnp.where(allowed, q, -jnp.inf), axis=-1)
            return jax.nn.one_hot(best, q.shape[-1], dtype=q.dtype)
        weighted = policy * q
        total = jnp.sum(weighted, axis=-1, keepdims=True)
        return jnp.where(total > 0, weighted / jnp.where(total > 0, total, 1.0), policy)

    def iteration(policy, _):
        messages = _messages(transitions, reward, initial, policy, discount, horizon)
        return m_step(policy, messages.q), messages.likelihood

    policy, history = jax.lax.scan(iteration, policy, None, length=iterations)
    final = _messages(transitions, reward, initial, policy, discount, horizon)
    likelihood = jnp.concatenate([history, final.likelihood[None]])
    return EMPlan(safe_log(policy), likelihood, final.q, final.occupancy)
