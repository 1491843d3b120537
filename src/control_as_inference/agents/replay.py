"""A replay buffer held in JAX arrays (a ring), so that adding and sampling happen inside jit."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array


class ReplayBuffer(eqx.Module):
    """Transitions (s, a, r, s', terminated) in a ring of `capacity` slots.

    Attributes:
        obs, next_obs: (C, n); action: (C, m) floats or (C,) ints; reward, terminated: (C,);
        position: () next slot to write; size: () number of valid slots.
    """

    obs: Array
    action: Array
    reward: Array
    next_obs: Array
    terminated: Array
    position: Array
    size: Array

    @property
    def capacity(self) -> int:
        return self.reward.shape[0]


def buffer_init(capacity: int, obs_dim: int, action_dim: int | None, dtype=jnp.float32):
    """An empty buffer; action_dim None means discrete (integer) actions."""
    action = (
        jnp.zeros((capacity,), jnp.int32)
        if action_dim is None
        else jnp.zeros((capacity, action_dim), dtype)
    )
    return ReplayBuffer(
        obs=jnp.zeros((capacity, obs_dim), dtype),
        action=action,
        reward=jnp.zeros((capacity,), dtype),
        next_obs=jnp.zeros((capacity, obs_dim), dtype),
        terminated=jnp.zeros((capacity,), dtype),
        position=jnp.zeros((), jnp.int32),
        size=jnp.zeros((), jnp.int32),
    )


def buffer_add(buffer: ReplayBuffer, obs, action, reward, next_obs, terminated) -> ReplayBuffer:
    """Write one transition at `position` (overwriting the oldest when full)."""
    one = (obs, action, reward, next_obs, terminated)
    return buffer_add_many(buffer, *(jnp.asarray(x)[None] for x in one))


def buffer_add_many(
    buffer: ReplayBuffer, obs, action, reward, next_obs, terminated
) -> ReplayBuffer:
    """Write n transitions (each argument with a leading axis of n <= capacity, e.g. one step of
    n environments) at slots position, ..., position + n - 1 (mod capacity), in that order."""
    n = reward.shape[0]
    if n > buffer.capacity:
        raise ValueError(f"cannot add {n} transitions at once to a buffer of {buffer.capacity}.")
    i = (buffer.position + jnp.arange(n, dtype=buffer.position.dtype)) % buffer.capacity
    return ReplayBuffer(
        obs=buffer.obs.at[i].set(obs),
        action=buffer.action.at[i].set(action),
        reward=buffer.reward.at[i].set(reward),
        next_obs=buffer.next_obs.at[i].set(next_obs),
        terminated=buffer.terminated.at[i].set(terminated),
        position=(buffer.position + n) % buffer.capacity,
        size=jnp.minimum(buffer.size + n, buffer.capacity),
    )


def buffer_sample(buffer: ReplayBuffer, key, batch_size: int):
    """(obs, action, reward, next_obs, terminated), each with a leading batch axis, drawn
    uniformly with replacement from the valid slots."""
    index = jax.random.randint(key, (batch_size,), 0, jnp.maximum(buffer.size, 1))
    return (
        buffer.obs[index],
        buffer.action[index],
        buffer.reward[index],
        buffer.next_obs[index],
        buffer.terminated[index],
    )
