"""Training on gymnasium environments: start a run, resume it, load it.

    result = train(SACConfig(), "Pendulum-v1", jax.random.key(0), steps=20_000, out="runs/a")
    result = resume("runs/a", steps=40_000)          # continue as if never interrupted
    returns = evaluate_agent(result.state, "Pendulum-v1", episodes=10)
    state, settings = load_run("runs/a")             # a run's checkpoint and config.json
    returns = evaluate_agent(state, "Pendulum-v1", config=run_config(settings))
    result = train(SACConfig(), "Pendulum-v1", key, steps=20_000, num_envs=4)  # vectorised

The environments run in a gymnasium `SyncVectorEnv` of `num_envs` copies (1 by default) that
resets an ended episode in the same step. Each loop step steps every copy once, stores their
`num_envs` transitions, makes the agent's `gradient_steps` updates (the update-to-data ratio is
gradient_steps / num_envs, as in stable-baselines3 with train_freq 1) and acts for all copies in
one call (`loop`). `steps` and the step column of the log count environment steps
(transitions), so a run ends at the first multiple of num_envs at or past `steps`.

A run directory holds `config.json` (the agent's settings, the environment, the seed),
`log.csv` (one row per finished episode, of any copy: step, return, length, losses,
temperature, entropy; `logger`, which also writes TensorBoard events when tensorboardX is
installed) and a checkpoint, written atomically and checked on reading (`checkpoint`). Ctrl-C
saves a checkpoint and returns cleanly (`interrupt`). Resuming restores the environment from its
pickle (classic-control environments pickle), so a resumed run is bit-identical to an
uninterrupted one on CPU (tested).
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

from .._core import check_int
from .checkpoint import (
    LoopState,
    load_checkpoint,
    read_run_settings,
    restore_loop,
    write_run_settings,
)
from .environments import make_envs
from .logger import RunLogger
from .loop import RunPlan, TrainResult, run
from .registry import agent_of, config_dict, config_from, log_fields, promotion


def train(
    config,
    env_id: str,
    key,
    steps: int,
    out: str | None = None,
    checkpoint_every: int = 5000,
    seed: int = 0,
    progress: bool | None = None,
    num_envs: int = 1,
) -> TrainResult:
    """Train an agent on a gymnasium environment for `steps` environment steps.

    Args:
        config: `SACConfig` (a 1-d Box action space, e.g. "Pendulum-v1") or `DiscreteConfig`
            (discrete SAC or soft Q-learning; a Discrete action space, e.g. "CartPole-v1") or
            `MPOConfig` (policy "gaussian": a Box action space; "categorical": a Discrete one).
        env_id: a gymnasium id.
        key: a `jax.random` key (networks, exploration, minibatches).
        steps: total environment steps.
        out: run directory for config.json, log.csv and checkpoints (None: nothing written).
        checkpoint_every: steps between checkpoints (and at the end, and on Ctrl-C).
        seed: the reset seed of the first environment copy (copy i gets seed + i).
        progress: show a progress bar (steps/s and the recent return) on stderr: True always,
            False never, None (the default) only when stderr is a terminal.
        num_envs: environment copies stepped together (module docstring).
    """
    agent = agent_of(config)
    steps = check_int("steps", steps, 1)
    env = make_envs(env_id, agent.discrete, num_envs)
    if num_envs > config.buffer_size:
        raise ValueError(
            f"num_envs ({num_envs}) must not exceed buffer_size ({config.buffer_size})."
        )
    obs, _ = env.reset(seed=seed)
    with promotion():
        state = agent.init(config, env.single_observation_space, env.single_action_space, key)
        action, state = agent.act(state, jnp.asarray(obs), config, False)
    if out is not None:
        os.makedirs(out, exist_ok=True)
        settings = {
            "agent": agent.name,
            "env_id": env_id,
            "seed": seed,
            "steps": steps,
            "checkpoint_every": checkpoint_every,
            "num_envs": num_envs,
            "config": config_dict(config),
        }
        write_run_settings(out, settings)
    loop = LoopState(env, obs, np.asarray(action), np.zeros(num_envs), np.zeros(num_envs, np.int64))
    plan = RunPlan(config, steps, out, checkpoint_every, progress)
    return run(plan, state, loop, RunLogger.start(out, log_fields(config)))


def _restore(out: str):
    """(run settings, config, env, state, checkpoint meta) of a run directory; env is a fresh
    vector of the run's environments."""
    settings = read_run_settings(out)
    config = config_from(settings["agent"], settings["config"])
    agent = agent_of(config)
    env = make_envs(settings["env_id"], agent.discrete, settings.get("num_envs", 1))
    with promotion():
        spaces = env.single_observation_space, env.single_action_space
        like = agent.init(config, *spaces, jax.random.key(0))
    state, meta = load_checkpoint(out, like)
    return settings, config, env, state, meta


def resume(out: str, steps: int | None = None, progress: bool | None = None) -> TrainResult:
    """Continue the run in `out` from its checkpoint up to `steps` (default: the planned total)."""
    settings, config, env, state, meta = _restore(out)
    loop = restore_loop(out, meta, env, settings["seed"])
    steps = settings["steps"] if steps is None else steps
    plan = RunPlan(config, steps, out, settings["checkpoint_every"], progress)
    return run(plan, state, loop, RunLogger.resume(out, meta["step"]))


def load_run(out: str):
    """(state, run settings) of the checkpoint in a run directory; the settings are those of
    config.json (`run_config` turns them into the agent's config)."""
    settings, _, env, state, _ = _restore(out)
    env.close()
    return state, settings


def run_config(settings: dict):
    """The agent's config (`SACConfig` or `DiscreteConfig`) in a run's settings: `load_run`'s
    second value, or the run directory's config.json read as JSON."""
    return config_from(settings["agent"], settings["config"])
