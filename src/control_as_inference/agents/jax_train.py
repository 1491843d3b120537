"""SAC (or MPO, `mpo.MPOConfig`) fully in JAX: acting in a JAX environment and learning are one
`lax.scan`, copies of the environment and seeds are `vmap`ped (the idea of purejaxrl's
`make_train`).

    train = make_pendulum_train(SACConfig(), steps=20_000)
    state, returns = jax.jit(train)(jax.random.key(0))               # one seed
    states, returns = jax.jit(jax.vmap(train))(jax.random.split(key, 8))  # eight at once
    train = make_train(SACConfig(), from_gymnax(*gymnax.make("Pendulum-v1")), 20_000, num_envs=4)

An environment is an `envs.JaxEnv` (the JAX environment protocol of `envs.jax_env`: pure `reset`
and `step` functions without automatic reset, so that the last observation of an episode reaches
the replay buffer; the loop resets), or a gymnasium id with a JAX twin ("Pendulum-v1").
`JaxEnv`, `pendulum_env`, `linear_gaussian_env`, `from_gymnax` and `check_env` live in `envs`;
the names here are kept for existing code.

With `num_envs` N each scan step acts for N copies, stores N transitions and makes
`config.gradient_steps` updates (update-to-data ratio gradient_steps / N, as `train.train`);
`steps` counts transitions and must be a multiple of N. `returns` is (steps / N, N): a copy's
episode return at the step where the episode ended, NaN elsewhere.

Non-finite rewards: `make_train` resets the environment and steps it once from the middle of the
action box (eagerly, keys 0 and 1) and refuses a non-finite reward or observation with a
ValueError. Inside the scan no Python runs, so a reward that turns non-finite later cannot raise:
that episode's return is logged as -inf (never NaN, which means "no episode ended here"), so that
a mean over the logged returns shows it; the networks are then NaN too.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from .._core import check_int
from ..envs import PENDULUM_EPISODE_STEPS as EPISODE_STEPS
from ..envs import (
    JaxEnv,
    as_jax_env,
    check_env,
    from_gymnax,
    linear_gaussian_env,
    pendulum_env,
    pendulum_reset,
)
from .common import dataclasses_replace
from .mpo import MPOConfig, mpo_act_many, mpo_init, mpo_update_many
from .replay import buffer_add_many
from .sac import SACConfig, act_many, sac_init, update_many


def _agent_functions(config):
    """(init(config, obs_dim, low, high, key), act_many, update_many) of the agent of a config:
    SAC, or MPO with a Gaussian policy (a JaxEnv's actions are a box)."""
    if not isinstance(config, MPOConfig):
        return sac_init, act_many, update_many
    if config.policy != "gaussian":
        raise ValueError(
            "policy: a JaxEnv has a Box action space; use MPOConfig(policy='gaussian')."
        )

    def init(c, obs_dim, low, high, key):
        return mpo_init(c, obs_dim, key, low=low, high=high)

    return init, mpo_act_many, mpo_update_many


def make_train(config: SACConfig | MPOConfig, env: JaxEnv | str, steps: int, num_envs: int = 1):
    """A pure function key -> (final state, (steps / num_envs, num_envs) episode returns)
    (module docstring); config is SAC's or MPO's (a Gaussian policy); env a `JaxEnv` or a
    gymnasium id with a JAX twin (`envs.as_jax_env`). The environment is checked first
    (`check_env`)."""
    env = as_jax_env(env)
    check_int("steps", steps, 1)
    check_int("num_envs", num_envs, 1)
    if steps % num_envs:
        raise ValueError(f"steps ({steps}) must be a multiple of num_envs ({num_envs}).")
    if num_envs > config.buffer_size:
        raise ValueError(f"num_envs ({num_envs}) must not exceed buffer_size.")
    n, loop_steps = num_envs, steps // num_envs
    init, act, learn_many = _agent_functions(config)
    check_env(env)

    def train(key):
        k_init, k_env, key = jax.random.split(key, 3)
        state = init(config, env.obs_dim, env.low, env.high, k_init)
        obs, env_state = jax.vmap(env.reset)(jax.random.split(k_env, n))

        def step(carry, _, learn: bool):
            state, obs, env_state, episode_return, key = carry
            key, k_step, k_reset = jax.random.split(key, 3)
            obs = obs.astype(jnp.float32)
            action, state = act(state, obs, config)
            next_obs, env_state, reward, terminated, truncated = jax.vmap(env.step)(
                jax.random.split(k_step, n), env_state, action
            )
            next_obs, reward = next_obs.astype(jnp.float32), reward.astype(jnp.float32)
            transitions = (obs, action, reward, next_obs, terminated.astype(jnp.float32))
            buffer = buffer_add_many(state.buffer, *transitions)
            state = dataclasses_replace(state, buffer=buffer, step=state.step + n)
            if learn:
                state = learn_many(state, config, config.gradient_steps)[0]
            episode_return = episode_return + reward
            done = jnp.logical_or(terminated, truncated)
            finite = jnp.where(jnp.isfinite(episode_return), episode_return, -jnp.inf)
            logged = jnp.where(done, finite, jnp.nan)
            reset_obs, reset_state = jax.vmap(env.reset)(jax.random.split(k_reset, n))

            def where_done(new, old):
                return jnp.where(done.reshape(-1, *(1,) * (old.ndim - 1)), new, old)

            obs = where_done(reset_obs.astype(jnp.float32), next_obs)
            env_state = jax.tree_util.tree_map(where_done, reset_state, env_state)
            episode_return = jnp.where(done, 0.0, episode_return)
            return (state, obs, env_state, episode_return, key), logged

        # two scans instead of a cond on the step count: before learning_starts only act and
        # store (the first update comes at the first step count >= learning_starts, as in
        # `observe_many`); a cond would become a select of both branches under vmap
        warmup = min(max(-(-config.learning_starts // n) - 1, 0), loop_steps)
        carry = (state, obs, env_state, jnp.zeros(n, jnp.float32), key)
        carry, first = jax.lax.scan(
            functools.partial(step, learn=False), carry, None, length=warmup
        )
        carry, rest = jax.lax.scan(
            functools.partial(step, learn=True), carry, None, length=loop_steps - warmup
        )
        return carry[0], jnp.concatenate([first, rest])

    return train


def make_pendulum_train(config: SACConfig | MPOConfig, steps: int, num_envs: int = 1):
    """`make_train` on `pendulum_env()`."""
    return make_train(config, pendulum_env(), steps, num_envs)


__all__ = [
    "EPISODE_STEPS",
    "JaxEnv",
    "check_env",
    "from_gymnax",
    "linear_gaussian_env",
    "make_pendulum_train",
    "make_train",
    "pendulum_env",
    "pendulum_reset",
]
