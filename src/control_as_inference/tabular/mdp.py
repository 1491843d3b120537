"""The tabular model: a finite MDP with an action prior, as immutable arrays.

Control as inference (Levine 2018, "Reinforcement Learning and Control as Probabilistic
Inference") attaches to every step an optimality variable with p(e_t = 1 | s, a) =
exp(r(s, a) / temperature). `TabularMDP` holds everything of that model except the temperature and
the horizon, which belong to the inference call.

Validation happens on construction and raises `ValueError` naming the field. Value checks
(normalisation, NaN, signs) need concrete arrays; inside `jax.jit` or `jax.vmap` only shapes are
checked, so build the model outside the transformation when the data are untrusted.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._core import float_dtype, is_concrete, safe_log
from ..engine import Successors, check_distribution, check_transitions, dense_transitions


class TabularMDP(eqx.Module):
    """A finite MDP with an action prior, the model of tabular control as inference.

    The trajectory prior is p(tau) = p0(s_0) prod_t p(a_t|s_t) T(s_{t+1}|s_t, a_t) and the
    optimality likelihood p(e_t = 1 | s_t, a_t) = exp(r_t(s_t, a_t) / temperature).

    Args:
        transitions: dense (S, A, S) array T[s, a, s'] or `Successors(index, prob)` of shape
            (S, A, K).
        reward: (S, A) stationary reward, (S,) state reward broadcast over actions, or (H, S, A)
            time-varying reward (the horizon of inference must then be H). -inf forbids an action;
            NaN and +inf are rejected.
        initial: (S,) initial distribution p0; uniform if None.
        action_prior: (S, A) prior p(a|s); uniform if None. A zero forbids the action.

    Raises:
        ValueError: naming the field, for wrong shapes, NaN, negative or unnormalised
            probabilities, +inf rewards, out-of-range successor indices, or a state whose every
            action is forbidden.
    """

    transitions: Float[Array, "S A S"] | Successors
    reward: Float[Array, "S A"] | Float[Array, "H S A"]
    initial: Float[Array, " S"]
    action_prior: Float[Array, "S A"]

    def __init__(self, transitions, reward, initial=None, action_prior=None):
        sparse = isinstance(transitions, Successors)
        prob = transitions.prob if sparse else transitions
        dtype = float_dtype(prob, reward, initial, action_prior)
        transitions = check_transitions(transitions, dtype, "transitions", ("S", "A"))
        num_states, num_actions = (transitions.index if sparse else transitions).shape[:2]

        reward = jnp.asarray(reward, dtype=dtype)
        if reward.shape == (num_states,):
            reward = jnp.broadcast_to(reward[:, None], (num_states, num_actions))
        if reward.shape[-2:] != (num_states, num_actions) or reward.ndim not in (2, 3):
            raise ValueError(
                f"reward must have shape (S, A) = {(num_states, num_actions)}, (S,) or (H, S, A); "
                f"got {reward.shape}."
            )

        if initial is None:
            initial = jnp.full((num_states,), 1.0 / num_states, dtype=dtype)
        initial = jnp.asarray(initial, dtype=dtype)
        if initial.shape != (num_states,):
            raise ValueError(
                f"initial must have shape (S,) = ({num_states},), got {initial.shape}."
            )
        check_distribution("initial", initial, dtype)

        if action_prior is None:
            action_prior = jnp.full((num_states, num_actions), 1.0 / num_actions, dtype=dtype)
        action_prior = jnp.asarray(action_prior, dtype=dtype)
        if action_prior.shape != (num_states, num_actions):
            raise ValueError(
                f"action_prior must have shape (S, A) = {(num_states, num_actions)}, "
                f"got {action_prior.shape}."
            )
        check_distribution("action_prior", action_prior, dtype)
        _check_reward(reward, action_prior)

        self.transitions = transitions
        self.reward = reward
        self.initial = initial
        self.action_prior = action_prior

    @property
    def num_states(self) -> int:
        return self.action_prior.shape[0]

    @property
    def num_actions(self) -> int:
        return self.action_prior.shape[1]

    @property
    def dtype(self):
        return self.action_prior.dtype

    @property
    def log_action_prior(self) -> Float[Array, "S A"]:
        """log p(a|s), -inf where the prior is zero (computed on each access: read it once,
        outside any loop)."""
        return safe_log(self.action_prior)

    @property
    def is_sparse(self) -> bool:
        return isinstance(self.transitions, Successors)

    @property
    def time_varying(self) -> bool:
        """True when the reward is (H, S, A)."""
        return self.reward.ndim == 3

    def dense_transitions(self) -> Float[Array, "S A S"]:
        """T[s, a, s'] as a dense array (adds up repeated successor indices)."""
        return dense_transitions(self.transitions)


def _check_reward(reward, action_prior) -> None:
    if not (is_concrete(reward) and is_concrete(action_prior)):
        return
    r = np.asarray(reward, dtype=np.float64)
    if np.isnan(r).any():
        where = tuple(int(i) for i in np.argwhere(np.isnan(r))[0])
        raise ValueError(f"reward contains NaN at {where}; use -inf to forbid an action.")
    if (r == np.inf).any():
        where = tuple(int(i) for i in np.argwhere(r == np.inf)[0])
        raise ValueError(f"reward is +inf at {where}; rewards must be finite or -inf (forbidden).")
    allowed = (r > -np.inf) & (np.asarray(action_prior) > 0)
    dead = ~allowed.any(axis=-1)
    if dead.any():
        where = tuple(int(i) for i in np.argwhere(dead)[0])
        state = where[-1]
        at = f" at time {where[0]}" if r.ndim == 3 else ""
        raise ValueError(
            f"reward: every action of state {state}{at} is forbidden (reward -inf or "
            "action_prior 0); give at least one action a finite reward and positive prior."
        )
