"""Metrics of a tabular policy in the true dynamics, and trajectories drawn from it.

    expected_return(mdp, reward, log_policy, horizon, discount)
        = E[ sum_{t<H} gamma^t r_t(s_t, a_t) ],  s_0 ~ p0, a_t ~ pi_t(.|s_t), s' ~ T(.|s_t, a_t)
    expected_entropy(post)[t] = E_{s ~ p_t}[ -sum_a pi_t(a|s) log pi_t(a|s) ]
    expected_value(post)[t]   = E_{s ~ p_t}[ V_t(s) ]
    states, actions = sample_policy(mdp, log_policy, key, num, horizon)

The expectations propagate the state distribution forward in numpy (float64, exact up to
rounding); `sample_policy` draws from p0, pi and T in one `lax.scan` and consumes its key exactly
as `sample` does for a variational posterior, so that the two give the same trajectories for
the same policy and key.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Int

from .._core import check_int, safe_log
from .mdp import TabularMDP


def expected_return(mdp: TabularMDP, reward, log_policy, horizon: int, discount=1.0) -> float:
    """E[sum_{t<H} gamma^t r_t(s_t, a_t)] of a policy in the true dynamics of `mdp`.

    Args:
        mdp: the model (its initial distribution and transitions; its reward is not used).
        reward: (S, A) or (H, S, A) the reward to score, e.g. `mdp.reward` or a recovered one.
        log_policy: (S, A) stationary or (H, S, A) time-varying log pi_t(a|s).
        horizon: number of steps H (a Python int >= 0).
        discount: gamma; step t is weighted by gamma^t (the survival probability of the
            absorbing-state reading of a discount).

    Returns:
        The expected return, a float. Actions of probability 0 contribute nothing, even where
        their reward is -inf.
    """
    horizon = check_int("horizon", horizon, 0)
    reward = np.asarray(reward)
    policy = np.exp(np.asarray(log_policy))
    for name, x in (("reward", reward), ("log_policy", policy)):
        if x.ndim not in (2, 3) or x.shape[-2:] != (mdp.num_states, mdp.num_actions):
            raise ValueError(
                f"{name} must have shape (S, A) or (H, S, A) with S, A = {mdp.num_states}, "
                f"{mdp.num_actions}; got {x.shape}."
            )
        if x.ndim == 3 and x.shape[0] < horizon:
            raise ValueError(f"{name} covers {x.shape[0]} steps; horizon is {horizon}.")
    transitions = np.asarray(mdp.dense_transitions())
    p = np.asarray(mdp.initial)
    total = 0.0
    for t in range(horizon):
        pi_t = policy if policy.ndim == 2 else policy[t]
        r_t = reward if reward.ndim == 2 else reward[t]
        joint = p[:, None] * pi_t
        with np.errstate(invalid="ignore"):  # 0 * -inf where a forbidden action is never taken
            total += discount**t * np.sum(np.where(joint > 0, joint * r_t, 0.0))
        p = np.einsum("sa,sat->t", joint, transitions)
    return float(total)


def expected_entropy(post) -> np.ndarray:
    """(H,) E_{s ~ p_t}[entropy of pi_t(.|s)] in nats, over the posterior state marginals
    (normalised, so that a discount's absorption does not shrink it).

    Args:
        post: a `Posterior` (its log_policy (H, S, A) and state_marginals (H+1, S)).
    """
    log_pi = np.asarray(post.log_policy)
    pi = np.exp(log_pi)
    with np.errstate(invalid="ignore"):  # 0 * -inf for actions of probability 0
        entropy = -np.sum(np.where(pi > 0, pi * log_pi, 0.0), axis=-1)  # (H, S)
    p = np.asarray(post.state_marginals)[:-1]
    return np.sum(p * entropy, axis=-1) / np.sum(p, axis=-1)


def expected_value(post) -> np.ndarray:
    """(H+1,) E_{s ~ p_t}[V_t(s)] over the normalised posterior state marginals.

    Args:
        post: a `Posterior` (its v (H+1, S) and state_marginals (H+1, S)).
    """
    p = np.asarray(post.state_marginals)
    return np.sum(p * np.asarray(post.v), axis=-1) / np.sum(p, axis=-1)


def sample_policy(
    mdp: TabularMDP, log_policy, key: Array, num: int, horizon: int
) -> tuple[Int[Array, "num H1"], Int[Array, "num H"]]:
    """Draw `num` trajectories of `horizon` steps from a policy in the true dynamics:
    s_0 ~ p0, a_t ~ pi_t(.|s_t), s_{t+1} ~ T(.|s_t, a_t).

    Args:
        mdp: the model (dense or sparse transitions).
        log_policy: (S, A) stationary or (H, S, A) time-varying log pi(a|s), with H = horizon.
        key: a `jax.random` key.
        num: number of trajectories (a Python int >= 1).
        horizon: number of steps (a Python int >= 0).

    Returns:
        states (num, H+1) and actions (num, H), integer arrays; the same as
        `sample(post, key, num)` for a variational posterior `post` with this policy.
    """
    num = check_int("num", num, 1)
    horizon = check_int("horizon", horizon, 0)
    log_policy = jnp.asarray(log_policy, dtype=mdp.dtype)
    shape = (mdp.num_states, mdp.num_actions)
    if log_policy.shape not in (shape, (horizon, *shape)):
        raise ValueError(
            f"log_policy must have shape (S, A) or (H, S, A) = {(horizon, *shape)}; got "
            f"{log_policy.shape}."
        )
    log_policy = jnp.broadcast_to(log_policy, (horizon, *shape))
    return _sample_policy(mdp, log_policy, key, num)


@functools.partial(jax.jit, static_argnames=("num",))
def _sample_policy(mdp: TabularMDP, log_policy, key, num):
    key_start, key_steps = jax.random.split(key)
    s0 = jax.random.categorical(key_start, safe_log(mdp.initial), shape=(num,))

    def step(s, inputs):
        step_key, log_pi_t = inputs
        key_action, key_state = jax.random.split(step_key)
        a = jax.random.categorical(key_action, log_pi_t[s], axis=-1)
        if mdp.is_sparse:
            index = mdp.transitions.index[s, a]  # (num, K)
            logits = safe_log(mdp.transitions.prob[s, a])
        else:
            logits = safe_log(mdp.transitions[s, a])  # (num, S)
        logits = logits - jax.nn.logsumexp(logits, axis=-1, keepdims=True)
        choice = jax.random.categorical(key_state, logits, axis=-1)
        if mdp.is_sparse:
            choice = jnp.take_along_axis(index, choice[:, None], 1)[:, 0]
        return choice, (s, a)

    keys = jax.random.split(key_steps, log_policy.shape[0])
    s_last, (states, actions) = jax.lax.scan(step, s0, (keys, log_policy))
    states = jnp.concatenate([states, s_last[None, :]], axis=0)
    return states.T, actions.T
