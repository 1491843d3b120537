"""The JAX environment protocol: an environment as pure JAX functions, one type for every family
that acts in or plans with a JAX environment (the jitted agent loop, the sample-based IRL loop,
the MPPI closed loop and the Ray sweeps).

    env = as_jax_env("Pendulum-v1")               # a gymnasium id with a JAX twin, or
    env = as_jax_env(pendulum_env(100))           # a JaxEnv (returned as it is)
    obs, env_state = env.reset(key)
    next_obs, env_state, reward, terminated, truncated = env.step(key, env_state, action)
    x_next = env.model.dynamics(x, u)             # planners: the deterministic model, if any

A `JaxEnv` has pure `reset` and `step` functions without automatic reset, so that the last
observation of an episode reaches a replay buffer (the caller resets). `pendulum_env` is
gymnasium's Pendulum-v1 (`envs.pendulum`): episodes of 200 steps from theta ~ U(-pi, pi),
theta_dot ~ U(-1, 1), observed as (cos theta, sin theta, theta_dot). `linear_gaussian_env` is a
linear-Gaussian system with a quadratic reward (`envs.linear_gaussian`), whose soft-optimal
policy is known in closed form. `from_gymnax` adapts a gymnax environment. Time-limit ends are
truncations (the next state's value is bootstrapped), as in gymnasium; terminations are not.

`as_jax_env` is the one way a learner or planner names an environment: a gymnasium id with a JAX
twin (`JAX_ENV_IDS`) or a `JaxEnv`; anything else is a ValueError naming the choices.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from .._core import check_int
from .linear_gaussian import EPISODE_STEPS as LG_EPISODE_STEPS
from .linear_gaussian import (
    LinearGaussianEnv,
    default_problem,
    linear_gaussian_reset,
    linear_gaussian_step,
)
from .pendulum import (
    observation,
    pendulum_reward,
    pendulum_step,
    pendulum_terminal_reward,
)

PENDULUM_EPISODE_STEPS = 200


class JaxModel(NamedTuple):
    """A deterministic model of an environment's state x (n,) for planners.

    dynamics: (x (n,), u (m,)) -> x' (n,); reward: (x, u) -> (); terminal_reward: x -> () at
    the end of a planning horizon, or None; state: env_state -> x, the model's state inside the
    `JaxEnv`'s env_state.
    """

    dynamics: Callable
    reward: Callable
    terminal_reward: Callable | None = None
    state: Callable | None = None


class JaxEnv(NamedTuple):
    """A continuous-action environment as pure JAX functions (one copy; the loops vmap them).

    reset: key -> (obs (d,), env_state)
    step: (key, env_state, action (m,)) -> (next_obs (d,), env_state, reward (),
          terminated (), truncated ()), with no automatic reset
    obs_dim: d; low, high: (m,) the action box; model: a `JaxModel` for planners, or None.
    """

    reset: Callable
    step: Callable
    obs_dim: int
    low: Any
    high: Any
    model: JaxModel | None = None


def pendulum_reset(key):
    """A start state like gymnasium's Pendulum-v1 reset."""
    k1, k2 = jax.random.split(key)
    theta = jax.random.uniform(k1, (), jnp.float32, -jnp.pi, jnp.pi)
    theta_dot = jax.random.uniform(k2, (), jnp.float32, -1.0, 1.0)
    return jnp.stack([theta, theta_dot])


def pendulum_env(episode_steps: int = PENDULUM_EPISODE_STEPS) -> JaxEnv:
    """gymnasium's Pendulum-v1 as a `JaxEnv`; env_state = (x = (theta, theta_dot), time); its
    model is `envs.pendulum`'s dynamics and reward (the state part of the cost at the end)."""
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

    bound = jnp.array([2.0], jnp.float32)
    return JaxEnv(reset, step, 3, -bound, bound, PENDULUM_MODEL)


def _first(env_state):
    return env_state[0]


# Pendulum-v1's model (`envs.pendulum`) on x = (theta, theta_dot); in pendulum_env's env_state
# (x, time) it is the first entry
PENDULUM_MODEL = JaxModel(pendulum_step, pendulum_reward, pendulum_terminal_reward, _first)


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


# gymnasium ids with a JAX twin: id -> a function of no arguments returning the JaxEnv
JAX_ENV_IDS: dict[str, Callable[[], JaxEnv]] = {"Pendulum-v1": pendulum_env}


def as_jax_env(env, *, name: str = "env", model: bool = False) -> JaxEnv:
    """The `JaxEnv` that `env` names: a gymnasium id with a JAX twin (`JAX_ENV_IDS`) or a
    `JaxEnv` (returned as it is). With `model=True` the environment must also carry a
    `JaxModel` (planners plan with it).

    Raises:
        ValueError: naming the argument `name`, for another id or type, or for an environment
            without a model when one is needed.
    """
    if isinstance(env, str) and env in JAX_ENV_IDS:
        env = JAX_ENV_IDS[env]()
    elif not isinstance(env, JaxEnv):
        raise ValueError(
            f"{name}: expected a gymnasium id with a JAX twin ({', '.join(sorted(JAX_ENV_IDS))})"
            f" or an envs.JaxEnv (e.g. envs.from_gymnax(...)), got {env!r}."
        )
    if model and env.model is None:
        raise ValueError(
            f"{name}: this planner needs the environment's model; give the JaxEnv a "
            "model=envs.JaxModel(dynamics, reward, terminal_reward, state)."
        )
    return env


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


__all__ = [
    "JAX_ENV_IDS",
    "PENDULUM_EPISODE_STEPS",
    "PENDULUM_MODEL",
    "JaxEnv",
    "JaxModel",
    "as_jax_env",
    "check_env",
    "from_gymnax",
    "linear_gaussian_env",
    "pendulum_env",
    "pendulum_reset",
]
