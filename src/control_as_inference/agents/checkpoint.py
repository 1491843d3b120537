"""The files of a run directory other than the log: config.json and the checkpoint.

`checkpoint.eqx` holds the agent state (networks, optimiser states, temperature, replay buffer,
RNG key, step); `checkpoint.json` the loop's position (`LoopState`: the environments' pickle,
the observations, the next actions, the running episode returns and lengths) and the SHA-256 of
`checkpoint.eqx`. Both are written to a temporary name and renamed, so a crash mid-write leaves
the previous checkpoint intact; a damaged or partial checkpoint is refused with a clear error.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import pickle
from typing import Any, NamedTuple

import equinox as eqx
import numpy as np

from .._core import atomic_write


class LoopState(NamedTuple):
    """Where the loop stands between two steps (saved with a checkpoint); one row or entry per
    environment copy."""

    env: Any  # the SyncVectorEnv
    obs: np.ndarray  # (n, d)
    action: np.ndarray  # (n, m) floats or (n,) ints
    episode_return: np.ndarray  # (n,)
    episode_length: np.ndarray  # (n,)


def write_run_settings(out: str, run: dict) -> None:
    """config.json: the agent's name and settings, the environment, the seed, the plan."""
    with open(os.path.join(out, "config.json"), "w", encoding="utf-8") as handle:
        json.dump(run, handle, indent=1)


def read_run_settings(out: str) -> dict:
    """config.json of a run directory; ValueError when there is none."""
    path = os.path.join(out, "config.json")
    if not os.path.exists(path):
        raise ValueError(f"{out} is not a run directory (no config.json).")
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def save_checkpoint(out: str, state, loop: LoopState) -> None:
    """Write checkpoint.eqx then checkpoint.json, each atomically (module docstring)."""
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, state)
    data = buffer.getvalue()
    atomic_write(os.path.join(out, "checkpoint.eqx"), data)
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
    atomic_write(os.path.join(out, "checkpoint.json"), json.dumps(meta).encode())


def load_checkpoint(out: str, like):
    """(state, meta) from a run directory, the state in the structure of `like` (a fresh state
    of the same config); ValueError for a missing, damaged or partial checkpoint."""
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
    try:
        state = eqx.tree_deserialise_leaves(io.BytesIO(data), like)
    except Exception as error:  # wrong shapes or a truncated stream
        raise ValueError(
            f"checkpoint in {out} does not fit this configuration, or an older version wrote "
            f"it (SAC's optimiser state no longer holds the action box): {error}"
        ) from None
    return state, meta


def restore_loop(out: str, meta: dict, env, seed: int) -> LoopState:
    """The loop's position from a checkpoint's meta. `env` is a fresh vector of environments:
    the pickled one replaces it (and it is closed), or, where the environments did not pickle,
    it is reset with seed `seed` + the checkpoint's step (their episodes restart)."""
    from gymnasium.vector import VectorEnv

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
    else:
        obs, _ = env.reset(seed=seed + int(meta["step"]))
    return LoopState(
        env,
        obs,
        np.asarray(meta["action"], env.single_action_space.dtype),
        np.asarray(meta["episode_return"], np.float64),
        np.asarray(meta["episode_length"], np.int64),
    )
