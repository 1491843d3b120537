"""The files of a run directory other than the log: config.json and the checkpoint.

`checkpoint.eqx` holds the agent state (networks, optimiser states, temperature, replay buffer,
RNG key, step); `checkpoint.json` the loop's position (`LoopState`: the environments' state as
plain data, `env_snapshot`; the observations, the next actions, the running episode returns and
lengths) and the SHA-256 of `checkpoint.eqx`. Nothing in a run directory is unpickled: a
checkpoint of an older version that holds the environments' pickle is refused by `restore_loop`.

Each file is written to a temporary name and renamed, in the order checkpoint.next.json (the new
meta), checkpoint.eqx, then checkpoint.next.json renamed to checkpoint.json: a crash or a kill at
any moment leaves a pair that loads (`load_checkpoint` takes checkpoint.next.json when it is the
one that matches checkpoint.eqx); a damaged checkpoint is refused with a clear error.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from typing import Any, NamedTuple

import equinox as eqx
import numpy as np

from .._core import atomic_write
from .env_snapshot import env_snapshot, restore_env_snapshot

NEXT_META = "checkpoint.next.json"


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
    """config.json of a run directory; ValueError (naming the file) when there is none or it is
    not a JSON object."""
    path = os.path.join(out, "config.json")
    if not os.path.exists(path):
        raise ValueError(f"{out} is not a run directory (no config.json).")
    try:
        with open(path, encoding="utf-8") as handle:
            settings = json.load(handle)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is unreadable or damaged: {error}") from None
    if not isinstance(settings, dict):
        raise ValueError(f"{path} is damaged: not a JSON object of run settings")
    return settings


def save_checkpoint(out: str, state, loop: LoopState) -> None:
    """Write checkpoint.eqx and checkpoint.json, a consistent pair at every moment (module
    docstring)."""
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, state)
    data = buffer.getvalue()
    meta = {
        "step": int(state.step),
        "sha256": hashlib.sha256(data).hexdigest(),
        "env_state": env_snapshot(loop.env),
        "obs": np.asarray(loop.obs).tolist(),
        "action": np.asarray(loop.action).tolist(),
        "episode_return": np.asarray(loop.episode_return, np.float64).tolist(),
        "episode_length": np.asarray(loop.episode_length, np.int64).tolist(),
    }
    atomic_write(os.path.join(out, NEXT_META), json.dumps(meta).encode())
    atomic_write(os.path.join(out, "checkpoint.eqx"), data)
    os.replace(os.path.join(out, NEXT_META), os.path.join(out, "checkpoint.json"))


def _read_meta(path: str):
    with open(path, encoding="utf-8") as handle:
        meta = json.load(handle)
    if not isinstance(meta, dict):
        raise ValueError("not a JSON object")
    return meta


def load_checkpoint(out: str, like):
    """(state, meta) from a run directory, the state in the structure of `like` (a fresh state
    of the same config); ValueError for a missing, damaged or partial checkpoint."""
    eqx_path = os.path.join(out, "checkpoint.eqx")
    json_path = os.path.join(out, "checkpoint.json")
    if not (os.path.exists(eqx_path) and os.path.exists(json_path)):
        raise ValueError(f"{out} has no checkpoint (checkpoint.eqx and checkpoint.json).")
    try:
        meta = _read_meta(json_path)
        with open(eqx_path, "rb") as handle:
            data = handle.read()
    except (OSError, ValueError) as error:
        raise ValueError(f"checkpoint in {out} is unreadable: {json_path}: {error}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != meta.get("sha256") and os.path.exists(os.path.join(out, NEXT_META)):
        try:  # stopped between writing checkpoint.eqx and renaming its meta into place
            following = _read_meta(os.path.join(out, NEXT_META))
        except (OSError, ValueError):
            following = {}
        if following.get("sha256") == digest:
            meta = following
    if digest != meta.get("sha256"):
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
    the saved data state is set on it (`env_snapshot`), or, for a checkpoint of an older version
    whose environments did not pickle, it is reset with seed `seed` + the checkpoint's step
    (their episodes restart). A checkpoint that holds a pickle is refused (ValueError) before
    anything of it is used."""
    if isinstance(meta.get("env"), str):
        raise ValueError(
            f"checkpoint in {out} was written by an older version that stored the environments "
            "as a pickle, which is never loaded (unpickling a file can run any code it names); "
            f"start the run again (cai train ... --out {out} --force)."
        )
    obs = np.asarray(meta["obs"], dtype=env.single_observation_space.dtype)
    if obs.ndim != 2:
        raise ValueError(
            f"checkpoint in {out} was written by an older version (one environment, not a "
            "vector of them); start the run again."
        )
    if meta.get("env_state") is not None:
        try:
            restore_env_snapshot(env, meta["env_state"])
        except ValueError as error:
            raise ValueError(
                f"checkpoint in {out} does not fit its environments: {error}"
            ) from None
    else:
        obs, _ = env.reset(seed=seed + int(meta["step"]))
    return LoopState(
        env,
        obs,
        np.asarray(meta["action"], env.single_action_space.dtype),
        np.asarray(meta["episode_return"], np.float64),
        np.asarray(meta["episode_length"], np.int64),
    )
