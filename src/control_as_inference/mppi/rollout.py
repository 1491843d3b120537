"""Rollouts of a batch of N action sequences from one start state: the returns

    R(U^k) = sum_{t<H} gamma^t r(x_t^k, u_t^k) + gamma^H r_H(x_H^k),   x_{t+1}^k = f(x_t^k, u_t^k),

and, optionally, the states. The planner keeps its samples laid out (H, m, N) ("samples last").

The memory layout of the rollout is chosen per backend, when the computation is lowered
(`jax.lax.platform_dependent`), each beside the other so that the tests compare them:

    cpu        `rollout_samples_last`: states (n, N), every state component a contiguous row of N
               samples, which XLA-CPU vectorises well (measured in benchmarks/RESULTS.md)
    default    `rollout_samples_first`: the plain `jax.vmap` over samples, states (N, n) (the
               reference)

Both compute the same arithmetic per sample and agree to rounding.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .config import MPPIConfig


def rollout_returns(x0, actions, config: MPPIConfig, dynamics, reward, keep_states=False):
    """R(U) for a batch of action sequences from one start state.

    Args:
        x0: (n,) start state.
        actions: (N, H, m) action sequences.
        dynamics: f(x (n,), u (m,)) -> x' (n,); reward: r(x, u) -> ().

    Returns:
        returns (N,) and, with keep_states, states (N, H+1, n) (else None).
    """
    return rollout(x0, jnp.transpose(actions, (1, 2, 0)), config, dynamics, reward, keep_states)


def rollout(x0, actions, config: MPPIConfig, dynamics, reward, keep_states=False):
    """`rollout_returns` for actions laid out (H, m, N), in the layout that suits the backend
    (module docstring). Returns returns (N,) and states (N, H+1, n) or None."""

    def samples_last(x0, actions):
        return rollout_samples_last(x0, actions, config, dynamics, reward, keep_states)

    def samples_first(x0, actions):
        return rollout_samples_first(x0, actions, config, dynamics, reward, keep_states)

    return jax.lax.platform_dependent(x0, actions, cpu=samples_last, default=samples_first)


def _unroll(config: MPPIConfig):
    """The horizon loop is unrolled for short horizons."""
    return True if config.horizon <= 32 else 8


def rollout_samples_last(x0, actions, config: MPPIConfig, dynamics, reward, keep_states=False):
    """The rollout with actions (H, m, N) and states (n, N) (vmap over the last axis): every
    state component is a contiguous row, which XLA-CPU vectorises. Returns returns (N,) and
    states (N, H+1, n) or None."""
    num = actions.shape[-1]
    f = jax.vmap(dynamics, in_axes=(1, 1), out_axes=1)
    r = jax.vmap(reward, in_axes=(1, 1))
    xs = jnp.broadcast_to(x0[:, None], (x0.shape[0], num))

    def step(carry, u_t):
        x, total, scale = carry
        total = total + scale * r(x, u_t)
        x_next = f(x, u_t)
        return (x_next, total, scale * config.discount), (x_next if keep_states else None)

    zero = jnp.zeros((num,), config.noise_cov.dtype)
    one = jnp.ones((), config.noise_cov.dtype)
    (x_h, total, scale), path = jax.lax.scan(step, (xs, zero, one), actions, unroll=_unroll(config))
    if config.terminal_reward is not None:
        total = total + scale * jax.vmap(config.terminal_reward, in_axes=1)(x_h)
    if not keep_states:
        return total, None
    states = jnp.concatenate([xs[None], path], axis=0)  # (H+1, n, N)
    return total, jnp.transpose(states, (2, 0, 1))


def rollout_samples_first(x0, actions, config: MPPIConfig, dynamics, reward, keep_states=False):
    """The reference rollout: actions (H, m, N) read as (H, N, m), states (N, n), a plain
    `jax.vmap` over the samples. Returns returns (N,) and states (N, H+1, n) or None."""
    actions = jnp.transpose(actions, (0, 2, 1))  # (H, N, m)
    num = actions.shape[1]
    f = jax.vmap(dynamics)
    r = jax.vmap(reward)
    xs = jnp.broadcast_to(x0[None, :], (num, x0.shape[0]))

    def step(carry, u_t):
        x, total, scale = carry
        total = total + scale * r(x, u_t)
        x_next = f(x, u_t)
        return (x_next, total, scale * config.discount), (x_next if keep_states else None)

    zero = jnp.zeros((num,), config.noise_cov.dtype)
    one = jnp.ones((), config.noise_cov.dtype)
    (x_h, total, scale), path = jax.lax.scan(step, (xs, zero, one), actions, unroll=_unroll(config))
    if config.terminal_reward is not None:
        total = total + scale * jax.vmap(config.terminal_reward)(x_h)
    if not keep_states:
        return total, None
    return total, jnp.transpose(jnp.concatenate([xs[None], path], axis=0), (1, 0, 2))
