"""Closed loop: plan with a JAX model, act in the real environment.

    episode = pendulum_episode(config, key=jax.random.key(0))   # Pendulum-v1 from hanging
    episode = plan_episode(config, "Pendulum-v1", key)          # a gymnasium id with a JAX twin
    episode = plan_episode(config, envs.pendulum_env(), key)    # or a JaxEnv with a model
    episode = run_episode(env, planner, get_state, steps, key)  # any environment

The model is the environment's `envs.JaxModel` (the JAX environment protocol, `envs.as_jax_env`).
Each step reads the true state from the environment, plans one step (timed, compiled once
beforehand), and applies the first action with the environment's own `step` (gymnasium's, or
the JaxEnv's).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._core import check_int
from ..envs import PENDULUM_MODEL, as_jax_env
from .config import MPPIConfig, mppi_init
from .planner import cem_step, mppi_step


class Episode(NamedTuple):
    """One closed-loop episode.

    Attributes:
        states: (T+1, n) true states; actions: (T, m) applied actions; rewards: (T,) the
        environment's rewards; plan_seconds: (T,) wall time of each planning step;
        effective_sample_size: (T,); frames: list of RGB arrays when rendered, else None.
    """

    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    plan_seconds: np.ndarray
    effective_sample_size: np.ndarray
    frames: list | None

    @property
    def total_cost(self) -> float:
        """-sum of the rewards."""
        return float(-np.sum(self.rewards))


def run_episode(
    env,
    planner: Callable,
    planner_state,
    get_state: Callable,
    steps: int,
    key,
    progress: bool = False,
    render: bool = False,
) -> Episode:
    """Run `steps` steps of planning with `planner(planner_state, x, key) -> (action, state,
    info)` on `get_state(env)` and acting with `env.step`. The environment must be reset."""
    from tqdm.auto import tqdm

    check_int("steps", steps, 1)
    x = jnp.asarray(get_state(env))
    # compile outside the timed loop (same shapes, a throwaway key)
    jax.block_until_ready(planner(planner_state, x, jax.random.key(0)))
    states, actions, rewards, seconds, ess = [np.asarray(x)], [], [], [], []
    frames = [env.render()] if render else None
    bar = tqdm(range(steps), desc="planning", disable=not progress, leave=False)
    for _ in bar:
        key, sub = jax.random.split(key)
        start = time.perf_counter()
        action, planner_state, info = planner(planner_state, x, sub)
        action = np.asarray(jax.block_until_ready(action))
        seconds.append(time.perf_counter() - start)
        _, reward, terminated, truncated, _ = env.step(action)
        x = jnp.asarray(get_state(env))
        states.append(np.asarray(x))
        actions.append(action)
        rewards.append(float(reward))
        ess.append(float(info.effective_sample_size))
        if render:
            frames.append(env.render())
        bar.set_postfix(cost=f"{-sum(rewards):.1f}")
        if terminated or truncated:
            break
    return Episode(
        states=np.stack(states),
        actions=np.stack(actions),
        rewards=np.asarray(rewards),
        plan_seconds=np.asarray(seconds),
        effective_sample_size=np.asarray(ess),
        frames=frames,
    )


# the state part of Pendulum-v1's reward, for the end of a planning horizon (`envs.PENDULUM_MODEL`)
pendulum_terminal_reward = PENDULUM_MODEL.terminal_reward


def pendulum_config(num_samples: int = 1000, **overrides) -> MPPIConfig:
    """The usual Pendulum-v1 settings (pytorch_mppi's example): horizon 15, temperature 1,
    noise variance 10, torque bounds +-2, the state cost also at the end of the horizon."""
    settings = dict(
        horizon=15,
        num_samples=num_samples,
        temperature=1.0,
        noise_cov=10.0,
        action_low=-2.0,
        action_high=2.0,
        terminal_reward=pendulum_terminal_reward,
    )
    settings.update(overrides)
    return MPPIConfig(**settings)


def pendulum_episode(
    config: MPPIConfig,
    key,
    steps: int = 200,
    start=(np.pi, 0.0),
    planner: str = "mppi",
    progress: bool = False,
    render: bool = False,
    seed: int = 0,
) -> Episode:
    """Swing up gymnasium's Pendulum-v1 from `start` = (theta, theta_dot) (hanging by default),
    planning with the JAX model of its `envs.JaxEnv` twin (`plan_episode`)."""
    options = EpisodeOptions(planner, progress, render, seed)
    return plan_episode(config, "Pendulum-v1", key, steps, start, options)


class EpisodeOptions(NamedTuple):
    """How `plan_episode` runs: planner "mppi" or "cem", a progress bar, rendered frames
    (gymnasium only), the environment's reset seed."""

    planner: str = "mppi"
    progress: bool = False
    render: bool = False
    seed: int = 0


def plan_episode(
    config: MPPIConfig,
    env,
    key,
    steps: int = 200,
    start=None,
    options: EpisodeOptions | None = None,
) -> Episode:
    """Plan with the JAX model of `env` (`envs.as_jax_env(env, model=True).model`) and act:
    for a gymnasium id with a JAX twin in gymnasium's own environment, whose state
    (`unwrapped.state`) is set to `start` after the reset (None: keep the reset's); for a
    `JaxEnv` in the JaxEnv itself, reset with key `options.seed` (`start` must be None), its
    state read by `model.state`. Episodes end after `steps` steps or when the environment
    ends them; `options` None means `EpisodeOptions()`."""
    options = EpisodeOptions() if options is None else options
    if options.planner not in ("mppi", "cem"):
        raise ValueError(f"planner must be 'mppi' or 'cem', got {options.planner!r}.")
    model = as_jax_env(env, model=True).model
    if isinstance(env, str):
        actor, get_state = _gym_actor(env, steps, start, options)
    else:
        actor, get_state = _JaxActor(env, start, options), model.state
    dtype = config.noise_cov.dtype
    step = mppi_step if options.planner == "mppi" else cem_step
    plan = jax.jit(
        functools.partial(step, config=config, dynamics=model.dynamics, reward=model.reward)
    )
    key, init = jax.random.split(key)
    try:
        return run_episode(
            actor,
            plan,
            mppi_init(config, key=init),
            lambda e: np.asarray(get_state(e.unwrapped.state), dtype=dtype),
            steps,
            key,
            options.progress,
            options.render,
        )
    finally:
        actor.close()


def _gym_actor(env_id: str, steps: int, start, options: EpisodeOptions):
    """gymnasium's environment of `env_id`, reset, its state set to `start` (unless None)."""
    import gymnasium as gym

    env = gym.make(
        env_id, render_mode="rgb_array" if options.render else None, max_episode_steps=steps
    )
    env.reset(seed=options.seed)
    if start is not None:
        env.unwrapped.state = np.asarray(start, dtype=np.float64)
    return env, lambda state: state


class _JaxActor:
    """A `JaxEnv` behind the part of gymnasium's interface that `run_episode` uses (its
    `unwrapped.state` is the JaxEnv's env_state)."""

    def __init__(self, env, start, options: EpisodeOptions):
        if start is not None or options.render:
            raise ValueError(
                "start, render: a JaxEnv starts from its own reset and has no frames; leave "
                "start=None and render=False, or pass a gymnasium id."
            )
        self.env, self.unwrapped = env, self
        self.key, k_reset = jax.random.split(jax.random.key(options.seed))
        self.state = env.reset(k_reset)[1]

    def step(self, action):
        self.key, k_step = jax.random.split(self.key)
        action = jnp.asarray(action, jnp.float32)
        _, self.state, reward, terminated, truncated = self.env.step(k_step, self.state, action)
        return None, float(reward), bool(terminated), bool(truncated), {}

    def close(self) -> None:
        pass


def save_gif(frames, path: str, fps: int = 30) -> None:
    """Write RGB frames as an animated GIF (Pillow, which matplotlib already needs)."""
    from PIL import Image

    images = [Image.fromarray(np.asarray(frame)) for frame in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
