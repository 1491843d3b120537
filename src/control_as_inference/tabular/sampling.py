"""Sampling trajectories from the posterior and scoring them.

The posterior over trajectories factorises as (Levine 2018, section 2.3)

    p(tau | e) = q(s_0) prod_t pi_t(a_t|s_t) q_t(s_{t+1}|s_t, a_t)

exact:       q(s_0) ∝ p0(s_0) exp(V_0(s_0)/alpha),  q_t(s'|s,a) ∝ T(s'|s,a) exp(V_{t+1}(s')/alpha)
variational: q(s_0) = p0(s_0),                      q_t(s'|s,a) = T(s'|s,a)

With discount < 1 trajectories are conditioned on never entering the absorbing state (see
`inference`), so q_t(s'|s,a) is as above, normalised over the S real states.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike
from jaxtyping import Array, Float, Int, Shaped

from .._core import check_int, is_concrete, safe_log
from .inference import Posterior


def _log_next(post: Posterior, t_value: Array, states: Array, actions: Array):
    """Log posterior dynamics from (states, actions), each (n,): (n, S) or (n, K) log-probs.

    Returns (log_probs, successor_index_or_None).
    """
    mdp = post.mdp
    if mdp.is_sparse:
        index = mdp.transitions.index[states, actions]  # (n, K)
        logits = safe_log(mdp.transitions.prob[states, actions])
    else:
        index = None
        logits = safe_log(mdp.transitions[states, actions])  # (n, S)
    if post.method == "exact":
        shifted = (t_value - jnp.max(t_value)) / post.temperature
        logits = logits + (shifted[index] if index is not None else shifted[None, :])
    return logits - jax.nn.logsumexp(logits, axis=-1, keepdims=True), index


def sample(
    post: Posterior, key: Array, num: int
) -> tuple[Int[Array, "num H1"], Int[Array, "num H"]]:
    """Draw `num` trajectories from the posterior.

    Args:
        post: result of `infer`.
        key: a `jax.random` key (required; there is no default seed).
        num: number of trajectories (a Python int >= 1).

    Returns:
        states (num, H+1) and actions (num, H), integer arrays.
    """
    return _sample(post, key, check_int("num", num, 1))


@functools.partial(jax.jit, static_argnames=("num",))
def _sample(post: Posterior, key, num):
    horizon = post.horizon
    key_start, key_steps = jax.random.split(key)
    s0 = jax.random.categorical(key_start, post.log_initial, shape=(num,))

    def step(s, inputs):
        step_key, log_pi_t, v_next = inputs
        key_action, key_state = jax.random.split(step_key)
        a = jax.random.categorical(key_action, log_pi_t[s], axis=-1)
        log_next, index = _log_next(post, v_next, s, a)
        choice = jax.random.categorical(key_state, log_next, axis=-1)
        s_next = choice if index is None else jnp.take_along_axis(index, choice[:, None], 1)[:, 0]
        return s_next, (s, a)

    keys = jax.random.split(key_steps, horizon)
    s_last, (states, actions) = jax.lax.scan(step, s0, (keys, post.log_policy, post.v[1:]))
    states = jnp.concatenate([states, s_last[None, :]], axis=0)
    return states.T, actions.T


def log_prob(
    post: Posterior, states: Shaped[ArrayLike, "*num H1"], actions: Shaped[ArrayLike, "*num H"]
) -> Float[Array, "*num"]:
    """log p(tau | e) of trajectories under the posterior (see the module docstring).

    Args:
        post: result of `infer`.
        states: (..., H+1) state indices.
        actions: (..., H) action indices.

    Returns:
        (...,) log-probabilities; -inf for trajectories the posterior cannot produce.
    """
    states = jnp.asarray(states)
    actions = jnp.asarray(actions)
    horizon, num_states, num_actions = post.horizon, post.mdp.num_states, post.mdp.num_actions
    if states.shape[-1:] != (horizon + 1,) or actions.shape != (*states.shape[:-1], horizon):
        raise ValueError(
            f"states must have shape (..., H+1) and actions (..., H) with H = {horizon}; got "
            f"{states.shape} and {actions.shape}."
        )
    for name, x, bound in (("states", states, num_states), ("actions", actions, num_actions)):
        if not jnp.issubdtype(x.dtype, jnp.integer):
            raise ValueError(f"{name} must hold integer indices, got dtype {x.dtype}.")
        if is_concrete(x) and x.size and (int(np.min(x)) < 0 or int(np.max(x)) >= bound):
            raise ValueError(f"{name} must lie in [0, {bound}).")
    batch = states.shape[:-1]
    flat = _log_prob(post, states.reshape(-1, horizon + 1), actions.reshape(-1, horizon))
    return flat.reshape(batch)


@jax.jit
def _log_prob(post: Posterior, states, actions):
    def step(total, inputs):
        s, a, s_next, log_pi_t, v_next = inputs
        log_next, index = _log_next(post, v_next, s, a)
        if index is None:
            trans = jnp.take_along_axis(log_next, s_next[:, None], axis=1)[:, 0]
        else:
            hit = index == s_next[:, None]
            trans = jax.nn.logsumexp(jnp.where(hit, log_next, -jnp.inf), axis=-1)
        return total + log_pi_t[s, a] + trans, None

    start = post.log_initial[states[:, 0]]
    total, _ = jax.lax.scan(
        step,
        start,
        (states[:, :-1].T, actions.T, states[:, 1:].T, post.log_policy, post.v[1:]),
    )
    return total
