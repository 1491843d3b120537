"""The discrete POMDP: hidden states, actions, observations, and the classic Tiger problem.

    s_0 ~ b_0,   a_t ~ p(a),   s_{t+1} ~ T(.|s_t, a_t),   o_{t+1} ~ O(.|s_{t+1}, a_t)
    p(e_t = 1 | s_t, a_t) = exp(r(s_t, a_t) / temperature)

The agent sees the observations, never the state: what it knows at step t is its belief
b_t(s) = p(s_t = s | a_{0:t-1}, o_{1:t}) (`belief_update`).
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._core import float_dtype, is_concrete, safe_log
from ..engine import Successors, check_distribution, check_transitions, dense_transitions


class POMDP(eqx.Module):
    """A finite partially observed MDP with an action prior.

    Args:
        transitions: dense (S, A, S) array T[s, a, s'] or `Successors(index, prob)` of shape
            (S, A, K), validated by the engine's `check_transitions` (stored dense: the belief
            filter reads whole rows).
        observations: (S, O) O[s', o] = p(o | s'), or (S, A, O) O[s', a, o] = p(o | s', a): the
            observation emitted by the state reached, after the action taken. Each row must
            sum to one (the engine's `check_distribution`); stored as (S, A, O).
        reward: (S, A) r(s, a), finite (this slice has no forbidden actions).
        initial: (S,) initial belief b_0; uniform if None.
        action_prior: (A,) prior p(a) over actions; uniform if None. A prior over beliefs
            cannot depend on the unseen state, hence one row, not tabular's (S, A).

    Raises:
        ValueError: naming the field, for wrong shapes, NaN or inf, negative or unnormalised
            probabilities, or a zero action prior everywhere.
    """

    transitions: Float[Array, "S A S"]
    observations: Float[Array, "S A O"]
    reward: Float[Array, "S A"]
    initial: Float[Array, " S"]
    action_prior: Float[Array, " A"]

    def __init__(self, transitions, observations, reward, initial=None, action_prior=None):
        prob = transitions.prob if isinstance(transitions, Successors) else transitions
        dtype = float_dtype(prob, observations, reward, initial, action_prior)
        transitions = dense_transitions(check_transitions(transitions, dtype))
        num_states, num_actions = transitions.shape[:2]
        self.transitions = transitions
        self.observations = _observations(observations, num_states, num_actions, dtype)
        self.reward = _reward(reward, num_states, num_actions, dtype)
        self.initial = _distribution("initial", initial, (num_states,), dtype)
        self.action_prior = _distribution("action_prior", action_prior, (num_actions,), dtype)

    @property
    def num_states(self) -> int:
        return self.transitions.shape[0]

    @property
    def num_actions(self) -> int:
        return self.transitions.shape[1]

    @property
    def num_observations(self) -> int:
        return self.observations.shape[2]

    @property
    def dtype(self):
        return self.transitions.dtype

    @property
    def log_action_prior(self) -> Float[Array, " A"]:
        """log p(a), -inf where the prior is zero."""
        return safe_log(self.action_prior)


def terminal_values(pomdp: POMDP, terminal_value) -> Float[Array, " S"]:
    """v_H(s) (S,) checked: zeros if None; a ValueError for a wrong shape, NaN or inf."""
    if terminal_value is None:
        return jnp.zeros(pomdp.num_states, pomdp.dtype)
    terminal_value = jnp.asarray(terminal_value, pomdp.dtype)
    if terminal_value.shape != (pomdp.num_states,):
        raise ValueError(
            f"terminal_value must have shape (S,) = ({pomdp.num_states},), "
            f"got {terminal_value.shape}."
        )
    if is_concrete(terminal_value) and not np.isfinite(np.asarray(terminal_value)).all():
        raise ValueError("terminal_value contains NaN or inf.")
    return terminal_value


def check_step(t, count: int):
    """t checked against a count of stored steps when it is a Python int (JAX would clamp an
    index out of range to the last step)."""
    if isinstance(t, int) and not 0 <= t < count:
        raise ValueError(f"t must be in [0, {count}), got {t}.")
    return t


def _observations(observations, num_states, num_actions, dtype):
    observations = jnp.asarray(observations, dtype=dtype)
    if observations.ndim == 2 and observations.shape[0] == num_states:
        observations = jnp.broadcast_to(
            observations[:, None, :], (num_states, num_actions, observations.shape[1])
        )
    if observations.shape[:2] != (num_states, num_actions) or observations.ndim != 3:
        raise ValueError(
            f"observations must have shape (S, O) or (S, A, O) with (S, A) = "
            f"{(num_states, num_actions)}; got {observations.shape}."
        )
    if observations.shape[2] == 0:
        raise ValueError("observations must have at least one observation (O >= 1).")
    check_distribution("observations", observations, dtype)
    return observations


def _reward(reward, num_states, num_actions, dtype):
    reward = jnp.asarray(reward, dtype=dtype)
    if reward.shape != (num_states, num_actions):
        raise ValueError(
            f"reward must have shape (S, A) = {(num_states, num_actions)}, got {reward.shape}."
        )
    if is_concrete(reward) and not np.isfinite(np.asarray(reward)).all():
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(np.asarray(reward)))[0])
        raise ValueError(f"reward is not finite at {where}; POMDP rewards must be finite.")
    return reward


def _distribution(name, p, shape, dtype):
    p = jnp.full(shape, 1.0 / shape[0], dtype=dtype) if p is None else jnp.asarray(p, dtype)
    if p.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {p.shape}.")
    check_distribution(name, p, dtype)
    return p


def tiger(listen_accuracy=0.85, listen=-1.0, treasure=10.0, tiger_reward=-100.0) -> POMDP:
    """The Tiger problem (Kaelbling, Littman and Cassandra 1998).

    States: 0 tiger behind the left door, 1 behind the right. Actions: 0 listen, 1 open left,
    2 open right. Observations: 0 hear left, 1 hear right. Listening costs `listen` and hears
    the tiger's side with probability `listen_accuracy`; opening the tiger's door gives
    `tiger_reward`, the other `treasure`, and resets the problem (the tiger is placed anew,
    uniformly, and the observation is uninformative). Initial belief uniform.
    """
    p = listen_accuracy
    reset = jnp.full((2, 2), 0.5)
    transitions = jnp.stack([jnp.eye(2), reset, reset], axis=1)  # (S, A, S)
    heard = jnp.array([[p, 1 - p], [1 - p, p]])  # O[s', o] after listening
    observations = jnp.stack([heard, reset, reset], axis=1)  # (S, A, O)
    reward = jnp.array(
        [[listen, tiger_reward, treasure], [listen, treasure, tiger_reward]]
    )  # (S, A)
    return POMDP(transitions, observations, reward)
