"""Training on gymnasium environments: a loop, evaluation, CSV logs, checkpoints and resume.

    result = train(SACConfig(), "Pendulum-v1", jax.random.key(0), steps=20_000, out="runs/a")
    result = resume("runs/a", steps=40_000)          # continue as if never interrupted
    returns = evaluate(result.state, "Pendulum-v1", episodes=10)
    result = train(SACConfig(), "Pendulum-v1", key, steps=20_000, num_envs=4)  # vectorised

The environments run in a gymnasium `SyncVectorEnv` of `num_envs` copies (1 by default) that
resets an ended episode in the same step. Each loop step steps every copy once, stores their
`num_envs` transitions, makes the agent's `gradient_steps` updates (the update-to-data ratio is
gradient_steps / num_envs, as in stable-baselines3 with train_freq 1) and acts for all copies in
one call. `steps` and the step column of the log count environment steps (transitions), so a
run ends at the first multiple of num_envs at or past `steps`.

A run directory holds `config.json` (the agent's settings, the environment, the seed),
`log.csv` (one row per finished episode, of any copy: step, return, length, losses,
temperature, entropy)
and a checkpoint: `checkpoint.eqx` (networks, optimiser states, temperature, replay buffer, RNG
key, step) with `checkpoint.json` (the environments' pickled state and the loop's position, and
the SHA-256 of `checkpoint.eqx`). Both files are written to a temporary name and renamed, so a
crash mid-write leaves the previous checkpoint intact; a damaged or partial checkpoint is
refused with a clear error. With tensorboardX installed (the `tensorboard` extra) the same
per-episode numbers also go to TensorBoard event files in `tensorboard/` (`tensorboard --logdir
runs`); a resumed run purges the events after its checkpoint. Ctrl-C saves a checkpoint and
returns cleanly. Resuming restores the
environment from its pickle (classic-control environments pickle), so a resumed run is
bit-identical to an uninterrupted one on CPU (tested).
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import functools
import hashlib
import json
import os
import pickle
import signal
import threading
import time
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .discrete_agent import (
    DiscreteConfig,
    discrete_act,
    discrete_act_many,
    discrete_init,
    discrete_observe_many,
)
from .sac import SACConfig, SACState, act_many, check_int, observe_many, sac_init

LOG_FIELDS = (
    "step",
    "return",
    "length",
    "critic_loss",
    "actor_loss",
    "temperature",
    "entropy",
    "seconds",
)


class TrainResult(NamedTuple):
    """state: the final agent state (`SACState` or `DiscreteState`); history: one dict per
    finished episode (as log.csv); interrupted: True when stopped by Ctrl-C (a checkpoint was
    saved)."""

    state: Any
    history: list
    interrupted: bool


def _make_env(env_id: str, discrete: bool = False):
    import gymnasium as gym

    try:
        env = gym.make(env_id)
    except Exception as error:  # gymnasium raises several types for unknown ids
        raise ValueError(f"env_id: cannot make {env_id!r}: {error}") from None
    space = env.action_space
    if discrete and not isinstance(space, gym.spaces.Discrete):
        raise ValueError(
            f"env_id: the discrete agents need a Discrete action space; {env_id} has {space}."
        )
    if not discrete and (not isinstance(space, gym.spaces.Box) or len(space.shape) != 1):
        raise ValueError(
            f"env_id: SAC needs a continuous (Box) action space; {env_id} has {space} "
            "(use the discrete agents, dsac or sql)."
        )
    if len(env.observation_space.shape) != 1:
        raise ValueError(
            f"env_id: observations must be vectors; {env_id} has {env.observation_space}."
        )
    return env


def _make_envs(env_id: str, discrete: bool, num_envs: int):
    """`num_envs` copies of the environment in a gymnasium SyncVectorEnv that resets an ended
    episode in the same step (its last observation goes to info["final_obs"])."""
    import gymnasium as gym
    from gymnasium.vector import AutoresetMode, SyncVectorEnv

    check_int("num_envs", num_envs, 1)
    _make_env(env_id, discrete).close()  # checks the id and the spaces, with clear errors
    return SyncVectorEnv(
        [functools.partial(gym.make, env_id)] * num_envs, autoreset_mode=AutoresetMode.SAME_STEP
    )


class _Agent(NamedTuple):
    """How the loop drives one kind of agent."""

    init: Any  # (config, observation space, action space, key) -> state
    act: Any  # jitted (state, obs (n, d), config, deterministic) -> (actions, state)
    discrete: bool


AGENTS = {
    "sac": _Agent(
        lambda c, obs_space, action_space, key: sac_init(
            c, obs_space.shape[0], action_space.low, action_space.high, key
        ),
        jax.jit(act_many, static_argnums=(2, 3)),
        False,
    ),
    "discrete": _Agent(
        lambda c, obs_space, action_space, key: discrete_init(
            c, obs_space.shape[0], int(action_space.n), key
        ),
        jax.jit(discrete_act_many, static_argnums=(2, 3)),
        True,
    ),
}


def _agent_of(config) -> _Agent:
    if isinstance(config, SACConfig):
        return AGENTS["sac"]
    if isinstance(config, DiscreteConfig):
        return AGENTS["discrete"]
    raise ValueError(
        f"config must be a SACConfig or a DiscreteConfig, got {type(config).__name__}."
    )


def _observe_from_packed(state, config, packed):
    """The agent's observe_many on one float32 array (n, width), a row [obs, action, reward,
    next_obs, terminated, act_obs] per environment: one host-to-device transfer per loop step
    instead of six."""
    discrete = isinstance(config, DiscreteConfig)
    m = 1 if discrete else state.actor.scale.shape[0]
    d = (packed.shape[1] - m - 2) // 3
    obs, action = packed[:, :d], packed[:, d : d + m]
    reward, next_obs = packed[:, d + m], packed[:, d + m + 1 : 2 * d + m + 1]
    terminated, act_obs = packed[:, 2 * d + m + 1], packed[:, 2 * d + m + 2 :]
    transitions = (
        obs,
        action[:, 0].astype(jnp.int32) if discrete else action,
        reward,
        next_obs,
        terminated,
    )
    step = discrete_observe_many if discrete else observe_many
    return step(state, config, transitions, act_obs)


_observe_packed = jax.jit(_observe_from_packed, static_argnums=1, donate_argnums=0)


def _promotion():
    """optax's Adam mixes its float32 state with int counters; allow the implicit promotions it
    relies on while tracing (the library itself is clean under strict promotion)."""
    return jax.numpy_dtype_promotion("standard")


def _config_dict(config) -> dict:
    d = dataclasses.asdict(config)
    d["hidden"] = list(d["hidden"])
    return d


def _config_from(agent: str, d: dict):
    d = dict(d)
    d["hidden"] = tuple(d["hidden"])
    return SACConfig(**d) if agent == "sac" else DiscreteConfig(**d)


def _atomic_write(path: str, data: bytes) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class _Loop(NamedTuple):
    """Where the loop stands between two steps (saved with a checkpoint); one row or entry per
    environment copy."""

    env: Any  # the SyncVectorEnv
    obs: np.ndarray  # (n, d)
    action: np.ndarray  # (n, m) floats or (n,) ints
    episode_return: np.ndarray  # (n,)
    episode_length: np.ndarray  # (n,)


def save_checkpoint(out: str, state, loop: _Loop) -> None:
    """Write checkpoint.eqx then checkpoint.json, each atomically (module docstring)."""
    import io

    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, state)
    data = buffer.getvalue()
    _atomic_write(os.path.join(out, "checkpoint.eqx"), data)
    try:
        env_pickle = base64.b64encode(pickle.dumps(loop.env)).decode("ascii")
    except Exception:  # an environment that does not pickle: resume resets it
        env_pickle = None
    meta = {
        "step": int(state.step),
        "sha256": hashlib.sha256(data).hexdigest(),
        "env": env_pickle,
        "obs": np.asarray(loop.obs).tolist(),
        "action": np.asarray(loop.action).tolist(),
        "episode_return": np.asarray(loop.episode_return, np.float64).tolist(),
        "episode_length": np.asarray(loop.episode_length, np.int64).tolist(),
    }
    _atomic_write(os.path.join(out, "checkpoint.json"), json.dumps(meta).encode())


def load_checkpoint(out: str, like):
    """(state, meta) from a run directory; ValueError for a missing, damaged or partial one."""
    eqx_path = os.path.join(out, "checkpoint.eqx")
    json_path = os.path.join(out, "checkpoint.json")
    if not (os.path.exists(eqx_path) and os.path.exists(json_path)):
        raise ValueError(f"{out} has no checkpoint (checkpoint.eqx and checkpoint.json).")
    try:
        with open(json_path, encoding="utf-8") as handle:
            meta = json.load(handle)
        with open(eqx_path, "rb") as handle:
            data = handle.read()
    except (OSError, ValueError) as error:
        raise ValueError(f"checkpoint in {out} is unreadable: {error}") from None
    if hashlib.sha256(data).hexdigest() != meta.get("sha256"):
        raise ValueError(
            f"checkpoint in {out} is damaged or partial: checkpoint.eqx does not match the "
            "checksum in checkpoint.json."
        )
    import io

    try:
        state = eqx.tree_deserialise_leaves(io.BytesIO(data), like)
    except Exception as error:  # wrong shapes or a truncated stream
        raise ValueError(f"checkpoint in {out} does not fit this configuration: {error}") from None
    return state, meta


def _read_log(out: str) -> list[dict]:
    path = os.path.join(out, "log.csv")
    if not os.path.exists(path):
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def train(
    config,
    env_id: str,
    key,
    steps: int,
    out: str | None = None,
    checkpoint_every: int = 5000,
    seed: int = 0,
    progress: bool = True,
    num_envs: int = 1,
) -> TrainResult:
    """Train an agent on a gymnasium environment for `steps` environment steps.

    Args:
        config: `SACConfig` (a 1-d Box action space, e.g. "Pendulum-v1") or `DiscreteConfig`
            (discrete SAC or soft Q-learning; a Discrete action space, e.g. "CartPole-v1").
        env_id: a gymnasium id.
        key: a `jax.random` key (networks, exploration, minibatches).
        steps: total environment steps.
        out: run directory for config.json, log.csv and checkpoints (None: nothing written).
        checkpoint_every: steps between checkpoints (and at the end, and on Ctrl-C).
        seed: the reset seed of the first environment copy (copy i gets seed + i).
        progress: show a progress bar (steps/s and the recent return).
        num_envs: environment copies stepped together (module docstring).
    """
    agent = _agent_of(config)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}.")
    env = _make_envs(env_id, agent.discrete, num_envs)
    if num_envs > config.buffer_size:
        raise ValueError(
            f"num_envs ({num_envs}) must not exceed buffer_size ({config.buffer_size})."
        )
    obs, _ = env.reset(seed=seed)
    with _promotion():
        state = agent.init(config, env.single_observation_space, env.single_action_space, key)
        action, state = agent.act(state, jnp.asarray(obs), config, False)
    if out is not None:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "config.json"), "w", encoding="utf-8") as handle:
            json.dump(
                {
                    "agent": "discrete" if agent.discrete else "sac",
                    "env_id": env_id,
                    "seed": seed,
                    "steps": steps,
                    "checkpoint_every": checkpoint_every,
                    "num_envs": num_envs,
                    "config": _config_dict(config),
                },
                handle,
                indent=1,
            )
        with open(os.path.join(out, "log.csv"), "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerow(LOG_FIELDS)
    loop = _Loop(env, obs, np.asarray(action), np.zeros(num_envs), np.zeros(num_envs, np.int64))
    return _run(config, state, loop, steps, out, checkpoint_every, progress, history=[])


def _restore(out: str):
    """(run settings, config, agent, env, state, checkpoint meta) of a run directory."""
    path = os.path.join(out, "config.json")
    if not os.path.exists(path):
        raise ValueError(f"{out} is not a run directory (no config.json).")
    with open(path, encoding="utf-8") as handle:
        run = json.load(handle)
    config = _config_from(run["agent"], run["config"])
    agent = _agent_of(config)
    env = _make_envs(run["env_id"], agent.discrete, run.get("num_envs", 1))
    with _promotion():
        spaces = env.single_observation_space, env.single_action_space
        like = agent.init(config, *spaces, jax.random.key(0))
    state, meta = load_checkpoint(out, like)
    return run, config, agent, env, state, meta


def resume(out: str, steps: int | None = None, progress: bool = True) -> TrainResult:
    """Continue the run in `out` from its checkpoint up to `steps` (default: the planned total)."""
    from gymnasium.vector import VectorEnv

    run, config, _, env, state, meta = _restore(out)
    obs = np.asarray(meta["obs"], dtype=env.single_observation_space.dtype)
    if obs.ndim != 2:
        raise ValueError(
            f"checkpoint in {out} was written by an older version (one environment, not a "
            "vector of them); start the run again."
        )
    if meta["env"] is not None:
        env.close()  # the saved environments replace the fresh ones
        env = pickle.loads(base64.b64decode(meta["env"]))
        if not isinstance(env, VectorEnv):
            raise ValueError(f"checkpoint in {out} holds no vector environment; start again.")
    else:  # environments that did not pickle restart their episodes
        obs, _ = env.reset(seed=run["seed"] + int(meta["step"]))
    action = np.asarray(meta["action"], env.single_action_space.dtype)
    loop = _Loop(
        env,
        obs,
        action,
        np.asarray(meta["episode_return"], np.float64),
        np.asarray(meta["episode_length"], np.int64),
    )
    steps = run["steps"] if steps is None else steps
    history = [row for row in _read_log(out) if row["step"] <= meta["step"]]
    _rewrite_log(out, history)
    return _run(config, state, loop, steps, out, run["checkpoint_every"], progress, history)


def _rewrite_log(out, history):
    """Drop log rows written after the checkpoint (they will be written again)."""
    with open(os.path.join(out, "log.csv"), "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(LOG_FIELDS)
        for row in history:
            writer.writerow([_cell(row[f]) for f in LOG_FIELDS])


def _cell(x):
    return int(x) if float(x).is_integer() and abs(x) < 2**53 else float(x)


def _tensorboard(out, start_step: int):
    """A TensorBoard writer in out/tensorboard when tensorboardX is installed, else None. Events
    after start_step (written before a crash, and to be written again) are purged."""
    if out is None:
        return None
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        return None
    # tensorboardX names files by the second: a suffix keeps two writers of one second apart
    # and in order (TensorBoard reads the files sorted by name)
    suffix = f".{time.time_ns():020d}"
    directory = os.path.join(out, "tensorboard")
    return SummaryWriter(directory, purge_step=start_step or None, filename_suffix=suffix)


def _run(config, state, loop, steps, out, checkpoint_every, progress, history) -> TrainResult:
    from tqdm.auto import tqdm

    env, obs, action, episode_return, episode_length = loop
    n = env.num_envs
    start_step = int(state.step)
    board = _tensorboard(out, start_step)
    started = time.perf_counter()
    bar = tqdm(total=steps, initial=start_step, desc="sac", disable=not progress, unit="step")
    interrupted = False
    step = start_step
    # Ctrl-C sets a flag that the loop reads between steps: an interrupt inside a jitted call
    # would leave the state's donated buffers deleted, with nothing valid to save. A second
    # Ctrl-C interrupts at once.
    stop = []
    previous = _catch_sigint(stop)
    with _promotion():
        try:
            while step < steps:
                if stop:
                    interrupted = True
                    if out is not None:
                        save_checkpoint(
                            out, state, _Loop(env, obs, action, episode_return, episode_length)
                        )
                    break
                # a copy whose episode ended is reset in this step: next_obs holds its new first
                # observation and info["final_obs"] the last one of the ended episode
                next_obs, reward, terminated, truncated, info = env.step(action)
                done = terminated | truncated
                last_obs = next_obs
                if done.any():
                    last_obs = next_obs.copy()
                    for i in np.flatnonzero(done):
                        last_obs[i] = info["final_obs"][i]
                episode_return = episode_return + reward
                episode_length = episode_length + 1
                packed = np.concatenate(
                    [
                        obs,
                        action.reshape(n, -1),
                        reward[:, None],
                        last_obs,
                        terminated[:, None],
                        next_obs,
                    ],
                    axis=1,
                    dtype=np.float32,
                )
                state, next_action, metrics = _observe_packed(state, config, packed)
                step += n
                for i in np.flatnonzero(done):
                    row = {
                        "step": step,
                        "return": float(episode_return[i]),
                        "length": int(episode_length[i]),
                    }
                    row.update({k: float(v) for k, v in metrics.items()})
                    row["seconds"] = time.perf_counter() - started
                    history.append(row)
                    if out is not None:
                        with open(
                            os.path.join(out, "log.csv"), "a", newline="", encoding="utf-8"
                        ) as handle:
                            csv.writer(handle).writerow([_cell(row[f]) for f in LOG_FIELDS])
                    if board is not None:
                        for name in LOG_FIELDS[1:]:
                            board.add_scalar(f"train/{name}", row[name], step)
                if done.any():
                    episode_return = np.where(done, 0.0, episode_return)
                    episode_length = np.where(done, 0, episode_length)
                    recent = np.mean([r["return"] for r in history[-10:]])
                    bar.set_postfix(recent_return=f"{recent:.1f}")
                obs, action = next_obs, np.asarray(next_action)
                bar.update(n)
                crossed = step // checkpoint_every > (step - n) // checkpoint_every
                if out is not None and (crossed or step >= steps):
                    save_checkpoint(
                        out, state, _Loop(env, obs, action, episode_return, episode_length)
                    )
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
            bar.close()
            if board is not None:
                board.close()
    return TrainResult(state, history, interrupted)


def _catch_sigint(stop: list):
    """Install a SIGINT handler that appends to `stop` (main thread only); returns the previous
    handler, or None when signals cannot be handled here."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum, frame):
        stop.append(signum)
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C: at once

    return signal.signal(signal.SIGINT, handler)


def evaluate(state, env_id: str, episodes: int = 10, seed: int = 1000) -> np.ndarray:
    """Returns of `episodes` episodes with the deterministic policy (SAC: the mean action;
    discrete agents: the most probable action)."""
    discrete = not isinstance(state, SACState)
    env = _make_env(env_id, discrete)
    if discrete:
        config = DiscreteConfig(algorithm="dsac" if state.actor is not None else "sql")
        with _promotion():
            policy = jax.jit(lambda s, obs: discrete_act(s, obs, config, True)[0])
    else:
        policy = jax.jit(lambda s, obs: s.actor.deterministic(obs))
    returns = []
    with _promotion():
        for i in range(episodes):
            obs, _ = env.reset(seed=seed + i)
            total, done = 0.0, False
            while not done:
                action = np.asarray(policy(state, obs))
                action = action if action.ndim else int(action)
                obs, reward, terminated, truncated, _ = env.step(action)
                total += float(reward)
                done = terminated or truncated
            returns.append(total)
    return np.asarray(returns)


def load_run(out: str):
    """(state, run settings) of the checkpoint in a run directory."""
    run, _, _, _, state, _ = _restore(out)
    return state, run
