"""SAC (or MPO, `mpo.MPOConfig`) fully in JAX: acting in a JAX environment and learning are one
`lax.scan`, copies of the environment and seeds are `vmap`ped (the idea of purejaxrl's
`make_train`).

    train = make_pendulum_train(SACConfig(), steps=20_000)
    state, returns = jax.jit(train)(jax.random.key(0))               # one seed
    states, returns = jax.jit(jax.vmap(train))(jax.random.split(key, 8))  # eight at once
    train = make_train(SACConfig(), from_gymnax(*gymnax.make("Pendulum-v1")), 20_000, num_envs=4)

An environment is a `JaxEnv`: pure `reset` and `step` functions without automatic reset, so that
the last observation of an episode reaches the replay buffer (the loop resets). `pendulum_env` is
gymnasium's Pendulum-v1 (`envs.pendulum`): episodes of 200 steps from theta ~ U(-pi, pi),
theta_dot ~ U(-1, 1), observed as (cos theta, sin theta, theta_dot). `linear_gaussian_env` is a
linear-Gaussian system with a quadratic reward (`envs.linear_gaussian`), whose soft-optimal policy
is known in closed form. `from_gymnax` adapts a gymnax environment. Time-limit ends are
truncations (the next state's value is bootstrapped), as in gymnasium; terminations are not.

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
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from .._core import check_int
from ..envs.linear_gaussian import EPISODE_STEPS as LG_EPISODE_STEPS
from ..envs.linear_gaussian import (
    LinearGaussianEnv,
    default_problem,
    linear_gaussian_reset,
    linear_gaussian_step,
)
from ..envs.pendulum import observation, pendulum_reward, pendulum_step
from .common import dataclasses_replace
from .mpo import MPOConfig, mpo_act_many, mpo_init, mpo_update_many
from .replay import buffer_add_many
from .sac import SACConfig, act_many, sac_init, update_many

EPISODE_STEPS = 200


class JaxEnv(NamedTuple):
    """A continuous-action environment as pure JAX functions (one copy; the loop vmaps them).

    reset: key -> (obs (d,), env_state)
    step: (key, env_state, action (m,)) -> (next_obs (d,), env_state, reward (),
          terminated (), truncated ()), with no automatic reset
    obs_dim: d; low, high: (m,) the action box.
    """

    reset: Callable
    step: Callable
    obs_dim: int
    low: Any
    high: Any


def pendulum_reset(key):
    """A start state like gymnasium's Pendulum-v1 reset."""
    k1, k2 = jax.random.split(key)
    theta = jax.random.uniform(k1, (), jnp.float32, -jnp.pi, jnp.pi)
    theta_dot = jax.random.uniform(k2, (), jnp.float32, -1.0, 1.0)
    return jnp.stack([theta, theta_dot])


def pendulum_env(episode_steps: int = EPISODE_STEPS) -> JaxEnv:
    """gymnasium's Pendulum-v1 as a `JaxEnv`; env_state = (x = (theta, theta_dot), time)."""
    check_int("episode_steps", episode_steps, 1)

    def reset(key):
        x = pendulum_reset(key)
        return observation(x), (x, jnp.zeros((), jnp.int32))

    def step(key, env_state, action):
        x, t = env_state
        reward = pendulum_reward(x, action)
        x_next = pendulum_step(x, action).astype(jnp.float32)
        truncated = t + 1 >= episode_steps
        return observation(x_next), (x_next, t + 1), reward, jnp.zeros((), bool), truncated

    return JaxEnv(reset, step, 3, jnp.array([-2.0], jnp.float32), jnp.array([2.0], jnp.float32))


def linear_gaussian_env(
    system=None, reward=None, episode_steps: int = LG_EPISODE_STEPS, action_bound: float = 5.0
) -> JaxEnv:
    """A linear-Gaussian system with a quadratic reward (`envs.linear_gaussian`; None, None for
    its default double integrator) as a `JaxEnv`; env_state = (x, time). Observations are x;
    actions are not clipped (the box only bounds the exploration before learning_starts)."""
    if (system is None) != (reward is None):
        raise ValueError("give both system and reward, or neither (the default problem).")
    if system is None:
        system, reward = default_problem()
    env = LinearGaussianEnv(system, reward, episode_steps, action_bound)  # validates
    m = system.action_dim

    def reset(key):
        x = linear_gaussian_reset(system, key)
        return x, (x, jnp.zeros((), jnp.int32))

    def step(key, env_state, action):
        x, t = env_state
        x_next, reward_value = linear_gaussian_step(system, reward, key, x, action)
        truncated = t + 1 >= env.episode_steps
        return x_next, (x_next, t + 1), reward_value, jnp.zeros((), bool), truncated

    bound = jnp.full(m, action_bound, jnp.float32)
    return JaxEnv(reset, step, system.state_dim, -bound, bound)


def from_gymnax(env, params=None) -> JaxEnv:
    """A gymnax environment with a Box action space as a `JaxEnv` (e.g. `from_gymnax(*gymnax.make(
    "Pendulum-v1"))`). It uses gymnax's `reset_env` and `step_env`, which do not reset
    automatically (gymnax's `step` returns the reset observation in place of the last one).
    gymnax's done is split: truncated when the time limit is reached (`state.time >=
    params.max_steps_in_episode`), terminated otherwise (an episode that terminates exactly at
    the time limit counts as truncated)."""
    params = env.default_params if params is None else params
    space = env.action_space(params)
    if not (hasattr(space, "low") and hasattr(space, "high")):
        raise ValueError(f"env: SAC needs a continuous (Box) action space, got {space!r}.")
    shape = tuple(space.shape) or (1,)
    low = jnp.broadcast_to(jnp.asarray(space.low, jnp.float32), shape)
    high = jnp.broadcast_to(jnp.asarray(space.high, jnp.float32), shape)
    obs_shape = env.observation_space(params).shape
    if len(obs_shape) != 1:
        raise ValueError(f"env: observations must be vectors, got shape {obs_shape}.")

    def reset(key):
        return env.reset_env(key, params)

    def step(key, env_state, action):
        action = action.reshape(space.shape)
        obs, env_state, reward, done, _ = env.step_env(key, env_state, action, params)
        truncated = jnp.asarray(env_state.time >= params.max_steps_in_episode)
        return obs, env_state, reward, jnp.logical_and(done, ~truncated), truncated

    return JaxEnv(reset, step, obs_shape[0], low, high)


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


def check_env(env: JaxEnv) -> None:
    """Reset `env` and step it once from the middle of its action box (eagerly, keys 0 and 1): a
    ValueError when the reward or an observation is not finite (skipped when the functions close
    over traced values)."""
    low, high = jnp.asarray(env.low, jnp.float32), jnp.asarray(env.high, jnp.float32)
    if not isinstance(low, jax.core.Tracer) and not isinstance(high, jax.core.Tracer):
        if not (bool(jnp.all(jnp.isfinite(low))) and bool(jnp.all(jnp.isfinite(high)))):
            raise ValueError(
                f"low, high: the action box must be finite (got {low}, {high}): the Gaussian "
                "actors squash into it; give the JaxEnv finite bounds."
            )
    obs, env_state = env.reset(jax.random.key(0))
    action = (low + high) / 2
    next_obs, _, reward, _, _ = env.step(jax.random.key(1), env_state, action)
    for field, value in (("observation", obs), ("reward", reward), ("observation", next_obs)):
        if isinstance(value, jax.core.Tracer):
            return
        if not bool(jnp.all(jnp.isfinite(value))):
            raise ValueError(
                f"{field}: the environment returned a non-finite {field} ({value}) after a reset "
                "and one step from the middle of the action box; rewards and observations must "
                "be finite numbers: fix the JaxEnv's reset or step."
            )


def make_train(config: SACConfig | MPOConfig, env: JaxEnv, steps: int, num_envs: int = 1):
    """A pure function key -> (final state, (steps / num_envs, num_envs) episode returns)
    (module docstring); config is SAC's or MPO's (a Gaussian policy). The environment is checked
    first (`check_env`)."""
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
