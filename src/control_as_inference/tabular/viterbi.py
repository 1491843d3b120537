"""The most probable trajectory: max-product (Viterbi) on the control-as-inference model.

    argmax_tau  log p0(s_0) + sum_t [log p(a_t|s_t) + r_t(s_t,a_t)/alpha + log T(s_{t+1}|s_t,a_t)]
                + V_H(s_H)/alpha

is the hard counterpart of exact inference: it picks the luckiest successor as well as the best
action, so under stochastic dynamics it is optimistic (Levine 2018, section 2.3). Backward messages

    M_H(s)      = V_H(s)/alpha
    M_t(s)      = max_a [log p(a|s) + r_t(s,a)/alpha + max_s' (log T(s'|s,a) + M_{t+1}(s'))]

then a forward pass of argmaxes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Int

from .._core import check_temperature, safe_log
from .inference import check_horizon, check_terminal_value, stepwise_reward
from .mdp import TabularMDP


def most_probable_trajectory(
    mdp: TabularMDP, horizon, temperature=1.0, terminal_value=None
) -> tuple[Int[Array, " H1"], Int[Array, " H"]]:
    """The single most probable (state, action) trajectory of p(tau | e).

    Args:
        mdp: the model.
        horizon: H >= 0 (Python int).
        temperature: alpha > 0.
        terminal_value: (S,) V_H, zeros if None.

    Returns:
        states (H+1,) and actions (H,), integer arrays. Ties go to the lowest index.
    """
    horizon = check_horizon(horizon)
    temperature = check_temperature(temperature, mdp.dtype)
    terminal_value = check_terminal_value(terminal_value, mdp)
    return _viterbi(mdp, stepwise_reward(mdp, horizon), temperature, terminal_value)


@jax.jit
def _viterbi(mdp: TabularMDP, reward, temperature, terminal_value):
    log_prior = mdp.log_action_prior
    if mdp.is_sparse:
        index, prob = mdp.transitions
        # T(idx_k | s, a) adds up repeated successors: sum_k' prob_k' [idx_k' == idx_k]
        same = index[..., :, None] == index[..., None, :]  # (S, A, K, K)
        log_t = safe_log(jnp.sum(jnp.where(same, prob[..., None, :], 0), axis=-1))
    else:
        index = None
        log_t = safe_log(mdp.transitions)  # (S, A, S)

    def backward_step(m_next, r_t):
        to_next = log_t + (m_next[index] if index is not None else m_next[None, None, :])
        best_next = jnp.argmax(to_next, axis=-1)
        score = log_prior + r_t / temperature + jnp.max(to_next, axis=-1)
        best_action = jnp.argmax(score, axis=-1)
        if index is not None:
            best_next = jnp.take_along_axis(index, best_next[..., None], axis=-1)[..., 0]
        return jnp.max(score, axis=-1), (best_action, best_next)

    m_0, (best_action, best_next) = jax.lax.scan(
        backward_step, terminal_value / temperature, reward, reverse=True
    )
    s_0 = jnp.argmax(safe_log(mdp.initial) + m_0)

    def forward_step(s, choices):
        best_action_t, best_next_t = choices
        a = best_action_t[s]
        return best_next_t[s, a], (s, a)

    s_last, (states, actions) = jax.lax.scan(forward_step, s_0, (best_action, best_next))
    return jnp.concatenate([states, s_last[None]]), actions
