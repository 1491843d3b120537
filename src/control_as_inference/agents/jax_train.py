"""SAC fully in JAX: acting in a JAX environment and learning are one `lax.scan`, and seeds are
`vmap`ped (the idea of purejaxrl's `make_train`).

    train = make_pendulum_train(SACConfig(), steps=20_000)
    state, returns = jax.jit(train)(jax.random.key(0))               # one seed
    states, returns = jax.jit(jax.vmap(train))(jax.random.split(key, 8))  # eight at once

The environment is `envs.pendulum` (gymnasium Pendulum-v1's equations): episodes of 200 steps
from theta ~ U(-pi, pi), theta_dot ~ U(-1, 1), observed as (cos theta, sin theta, theta_dot);
time-limit ends are truncations (the value of the next state is bootstrapped), as in gymnasium.
`returns` is (steps,) with an episode's return at its last step and NaN elsewhere.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from ..envs.pendulum import observation, pendulum_reward, pendulum_step
from .replay import buffer_add
from .sac import SACConfig, act, dataclasses_replace, sac_init, update_many

EPISODE_STEPS = 200


def pendulum_reset(key):
    """A start state like gymnasium's Pendulum-v1 reset."""
    k1, k2 = jax.random.split(key)
    theta = jax.random.uniform(k1, (), jnp.float32, -jnp.pi, jnp.pi)
    theta_dot = jax.random.uniform(k2, (), jnp.float32, -1.0, 1.0)
    return jnp.stack([theta, theta_dot])


def make_pendulum_train(config: SACConfig, steps: int):
    """A pure function key -> (final SACState, (steps,) episode returns) (module docstring)."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}.")

    def train(key):
        k_init, k_env = jax.random.split(key)
        state = sac_init(config, 3, jnp.array([-2.0]), jnp.array([2.0]), k_init)
        x = pendulum_reset(k_env)

        def step(carry, _, learn: bool):
            state, x, t, episode_return, key = carry
            key, k_reset = jax.random.split(key)
            obs = observation(x).astype(jnp.float32)
            action, state = act(state, obs, config)
            reward = pendulum_reward(x, action).astype(jnp.float32)
            x_next = pendulum_step(x, action).astype(jnp.float32)
            next_obs = observation(x_next).astype(jnp.float32)
            buffer = buffer_add(state.buffer, obs, action, reward, next_obs, jnp.float32(0.0))
            state = dataclasses_replace(state, buffer=buffer, step=state.step + 1)
            if learn:
                state = update_many(state, config, config.gradient_steps)[0]
            episode_return = episode_return + reward
            done = t + 1 == EPISODE_STEPS
            logged = jnp.where(done, episode_return, jnp.nan)
            x = jnp.where(done, pendulum_reset(k_reset), x_next)
            t = jnp.where(done, 0, t + 1)
            episode_return = jnp.where(done, 0.0, episode_return)
            return (state, x, t, episode_return, key), logged

        # two scans instead of a cond on the step count: before learning_starts only act and
        # store (the first update happens at step learning_starts, as in `observe`); a cond would
        # become a select of both branches under vmap
        warmup = min(max(config.learning_starts - 1, 0), steps)
        carry = (state, x, jnp.asarray(0), jnp.float32(0.0), k_env)
        carry, first = jax.lax.scan(
            functools.partial(step, learn=False), carry, None, length=warmup
        )
        carry, rest = jax.lax.scan(
            functools.partial(step, learn=True), carry, None, length=steps - warmup
        )
        return carry[0], jnp.concatenate([first, rest])

    return train
