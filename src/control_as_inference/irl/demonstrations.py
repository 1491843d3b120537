"""Demonstrations: padded state/action index arrays with a length per trajectory.

Demonstration i is s_0, a_0, s_1, ..., a_{T_i - 1}, s_{T_i}; trajectories of different lengths
are padded to the longest one. Entries beyond a trajectory's length are ignored (they are zero
in arrays this module builds).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Int

from .._core import is_concrete


class Demonstrations(NamedTuple):
    """N demonstrated trajectories, padded.

    Attributes:
        states: (N, T+1) integer state indices s_t.
        actions: (N, T) integer action indices a_t.
        lengths: (N,) number of actions T_i of each trajectory, 1 <= T_i <= T; the states of
            trajectory i are states[i, :T_i + 1].
    """

    states: Int[Array, "N T1"]
    actions: Int[Array, "N T"]
    lengths: Int[Array, " N"]

    @property
    def num(self) -> int:
        return self.actions.shape[0]

    @property
    def max_length(self) -> int:
        return self.actions.shape[1]

    def mask(self) -> Array:
        """(N, T) 1.0 where step t < T_i, else 0.0."""
        return (jnp.arange(self.max_length)[None, :] < self.lengths[:, None]).astype(float)


def as_demonstrations(states, actions, lengths=None) -> Demonstrations:
    """Build `Demonstrations` from padded arrays or from lists of different lengths.

    Args:
        states: (N, T+1) integer array, or a sequence of N integer sequences; trajectory i
            has one state more than it has actions.
        actions: (N, T) integer array, or a sequence of N integer sequences.
        lengths: (N,) action counts for padded arrays; default T for every trajectory.
            Must be None when states and actions are given as lists.

    Raises:
        ValueError: naming the argument, for empty input, mismatched lengths or shapes,
            non-integer indices or lengths outside [1, T].
    """
    if isinstance(states, Demonstrations):
        return states
    ragged = _is_ragged(states) or _is_ragged(actions)
    if ragged:
        if lengths is not None:
            raise ValueError(
                "lengths: leave it None when states and actions are lists of trajectories; "
                "it is read from the lists."
            )
        states, actions, lengths = _pad(states, actions)
    else:
        states = np.asarray(states)
        actions = np.asarray(actions)
        if actions.ndim == 1 and states.ndim == 1:  # one trajectory
            states, actions = states[None], actions[None]
        if actions.ndim != 2 or states.ndim != 2:
            raise ValueError(
                f"states and actions must be (N, T+1) and (N, T) arrays or lists of "
                f"trajectories; got shapes {states.shape} and {actions.shape}."
            )
        if actions.shape[0] == 0 or actions.shape[1] == 0:
            raise ValueError(
                f"demonstrations are empty: actions has shape {actions.shape}; give at least "
                "one trajectory with at least one action."
            )
        if states.shape != (actions.shape[0], actions.shape[1] + 1):
            raise ValueError(
                f"states must have shape (N, T+1) = {(actions.shape[0], actions.shape[1] + 1)} "
                f"for actions of shape (N, T) = {actions.shape}; got {states.shape}."
            )
        if lengths is None:
            lengths = np.full(actions.shape[0], actions.shape[1])
        lengths = np.asarray(lengths)
        if lengths.shape != (actions.shape[0],):
            raise ValueError(
                f"lengths must have shape (N,) = ({actions.shape[0]},), got {lengths.shape}."
            )
    for name, x in (("states", states), ("actions", actions), ("lengths", lengths)):
        if not np.issubdtype(np.asarray(x).dtype, np.integer):
            raise ValueError(f"{name} must hold integers, got dtype {np.asarray(x).dtype}.")
    if lengths.min() < 1 or lengths.max() > actions.shape[1]:
        raise ValueError(
            f"lengths must lie in [1, {actions.shape[1]}] (at least one action, at most the "
            f"padded length); found values in [{lengths.min()}, {lengths.max()}]."
        )
    return Demonstrations(jnp.asarray(states), jnp.asarray(actions), jnp.asarray(lengths))


def _is_ragged(x) -> bool:
    return (
        isinstance(x, Sequence)
        and not isinstance(x, str)
        and len(x) > 0
        and all(np.ndim(item) == 1 for item in x)
    )


def _pad(states, actions):
    if not (_is_ragged(states) and _is_ragged(actions)):
        raise ValueError(
            "states and actions must both be lists of 1-d index sequences (one per trajectory)."
        )
    if len(states) != len(actions):
        raise ValueError(
            f"states and actions must list the same number of trajectories; got {len(states)} "
            f"and {len(actions)}."
        )
    lengths = np.array([len(a) for a in actions])
    for i, (s, a) in enumerate(zip(states, actions, strict=True)):
        if len(a) == 0:
            raise ValueError(f"actions[{i}] is empty; every trajectory needs at least one action.")
        if len(s) != len(a) + 1:
            raise ValueError(
                f"states[{i}] must have len(actions[{i}]) + 1 = {len(a) + 1} entries (the state "
                f"after the last action included); got {len(s)}."
            )
    horizon = int(lengths.max())
    padded_states = np.zeros((len(actions), horizon + 1), dtype=np.asarray(states[0]).dtype)
    padded_actions = np.zeros((len(actions), horizon), dtype=np.asarray(actions[0]).dtype)
    for i, (s, a) in enumerate(zip(states, actions, strict=True)):
        padded_states[i, : len(s)] = s
        padded_actions[i, : len(a)] = a
    return padded_states, padded_actions, lengths


def check_demonstrations(demos: Demonstrations, action_prior, horizon: int | None) -> None:
    """Indices in range and allowed by the action prior; lengths within a finite horizon."""
    num_states, num_actions = action_prior.shape
    if horizon is not None and demos.max_length > horizon:
        longest = int(np.max(np.asarray(demos.lengths)))
        if longest > horizon:
            raise ValueError(
                f"demonstrations: a trajectory has {longest} actions but horizon is {horizon}; "
                "raise the horizon or use horizon=None (infinite, discounted)."
            )
    if not (is_concrete(demos.states) and is_concrete(demos.actions)):
        return
    states = np.asarray(demos.states)
    actions = np.asarray(demos.actions)
    lengths = np.asarray(demos.lengths)
    t = np.arange(actions.shape[1])
    valid_a = t[None, :] < lengths[:, None]
    valid_s = np.concatenate([np.ones_like(valid_a[:, :1]), valid_a], axis=1)
    for name, x, valid, n in (
        ("states", states, valid_s, num_states),
        ("actions", actions, valid_a, num_actions),
    ):
        bad = valid & ((x < 0) | (x >= n))
        if bad.any():
            i, j = (int(k) for k in np.argwhere(bad)[0])
            raise ValueError(
                f"demonstrations.{name}[{i}, {j}] = {int(x[i, j])} is out of range [0, {n})."
            )
    prior = np.asarray(action_prior)[np.where(valid_a, states[:, :-1], 0), actions * valid_a]
    bad = valid_a & (prior <= 0)
    if bad.any():
        i, j = (int(k) for k in np.argwhere(bad)[0])
        raise ValueError(
            f"demonstrations: trajectory {i} takes action {int(actions[i, j])} in state "
            f"{int(states[i, j])} at step {j}, which the mdp's action_prior forbids (zero "
            "probability); no reward can explain it."
        )


def check_trajectories(states, actions, lengths, state_dim: int, action_dim: int, owner: str):
    """Shapes of continuous (possibly ragged) demonstrations: states (N, T+1, state_dim),
    actions (N, T, action_dim) with N >= 1, lengths (N,) integers in [1, T] (default all T).
    `owner` names where the dimensions come from in the messages ("environment" with d,
    "system" with n). Returns (states, actions, lengths) as numpy arrays; ValueError naming the
    array otherwise. Finiteness and counts are the caller's (they depend on the method)."""
    symbol = "d" if owner == "environment" else "n"
    states, actions = np.asarray(states), np.asarray(actions)
    if actions.ndim != 3 or actions.shape[-1] != action_dim or actions.shape[0] == 0:
        raise ValueError(
            f"actions must have shape (N, T, m) with m = {action_dim} (the {owner}'s action "
            f"dimension) and N >= 1; got {actions.shape}."
        )
    num, length = actions.shape[:2]
    if states.shape != (num, length + 1, state_dim):
        raise ValueError(
            f"states must have shape (N, T+1, {symbol}) = {(num, length + 1, state_dim)} for "
            f"actions of shape {actions.shape} and the {owner}'s {symbol} = {state_dim}; got "
            f"{states.shape}."
        )
    lengths = np.full(num, length) if lengths is None else np.asarray(lengths)
    if lengths.shape != (num,) or not np.issubdtype(lengths.dtype, np.integer):
        raise ValueError(f"lengths must be (N,) = ({num},) integers, got {lengths.shape}.")
    if lengths.min() < 1 or lengths.max() > length:
        raise ValueError(
            f"lengths must lie in [1, T = {length}]; got [{lengths.min()}, {lengths.max()}]."
        )
    return states, actions, lengths
