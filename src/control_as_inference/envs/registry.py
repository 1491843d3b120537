"""Environments by name: what `cai` accepts as ENV, for the command line and the library alike.

    loaded = load_env("bridge")              # a built-in gridworld (see BUILTINS)
    loaded = load_env("FrozenLake-v1")       # a gymnasium toy-text model (see GYM_IDS)
    loaded = load_env("maps/room.txt", slip=0.1)   # a text map (see `make_gridworld`)
    loaded = load_env("model.npz")           # arrays transitions, reward[, initial, action_prior]
    loaded.mdp, loaded.env, loaded.goals, loaded.horizon

`read_npz` is the one reader of `.npz` files: it names the file and the missing arrays in a
one-line `ValueError`.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import numpy as np

from ..tabular import TabularMDP
from .gridworld import BUILTINS, builtin, make_gridworld
from .toytext import GymModel, from_gymnasium

GYM_IDS = (
    "FrozenLake-v1",
    "FrozenLake8x8-v1",
    "CliffWalking-v1",
    "CliffWalkingSlippery-v1",
    "Taxi-v4",
)
"""The gymnasium toy-text ids `cai envs` lists (any id with a tabular model `P` loads)."""

GYM_HORIZON = 100
"""Default horizon of a gymnasium model."""

GRID_HORIZON = 30
"""Default horizon of every other environment (gridworlds, text maps, .npz models)."""

FILE_SUFFIXES = (".txt", ".map", ".npz")
"""A name with one of these endings (or a "/" and no "-v") is a file: "not found" if absent."""

MDP_ARRAYS = {"transitions": "(S, A, S)", "reward": "(S, A)"}
MDP_OPTIONAL = {"initial": "(S,)", "action_prior": "(S, A)"}


class LoadedEnv(NamedTuple):
    """An environment loaded by name.

    Attributes:
        name: a label: the gridworld's name, the gymnasium id, or the file name given.
        mdp: the model.
        env: the `GridWorld` or `GymModel` it came from (for drawing and rolling out), or None
            for an `.npz` model.
        goals: states that count as a success in `simulate` (a gridworld's goal cells; empty
            otherwise).
        horizon: the default horizon (`GYM_HORIZON` for gymnasium models, else `GRID_HORIZON`).
    """

    name: str
    mdp: TabularMDP
    env: Any
    goals: tuple[int, ...]
    horizon: int


def default_horizon(env) -> int:
    """`GYM_HORIZON` for a `GymModel`, `GRID_HORIZON` for anything else (None included)."""
    return GYM_HORIZON if isinstance(env, GymModel) else GRID_HORIZON


def load_env(name: str, slip: float | None = None) -> LoadedEnv:
    """Load an environment by name: a built-in gridworld, an existing file (a text map, or an
    `.npz` model read by `load_mdp`) or a gymnasium id (anything with "-v").

    Args:
        name: the built-in's name, the file's path or the gymnasium id.
        slip: the slip probability of a built-in or a text map (default: its own); None for
            a gymnasium id or an `.npz` model (they have dynamics of their own).

    Raises:
        ValueError: one line naming the environment or file, for an unknown name, an unreadable
            file, an invalid map or model, a gymnasium environment without a tabular model, or
            a slip given for a gymnasium id or an `.npz` model.
    """
    overrides = {} if slip is None else {"slip": slip}
    if name in BUILTINS:
        world = builtin(name, **overrides)
        return LoadedEnv(world.name, world.mdp, world, world.goals, GRID_HORIZON)
    if os.path.exists(name):
        if name.endswith(".npz"):
            _no_slip(slip, name, "an .npz model")
            return LoadedEnv(name, load_mdp(name), None, (), GRID_HORIZON)
        try:
            with open(name, encoding="utf-8") as handle:
                text = handle.read()
        except (OSError, UnicodeDecodeError) as error:
            raise ValueError(f"cannot read {name}: {error}") from None
        try:
            world = make_gridworld(text, name=os.path.basename(name), **overrides)
        except ValueError as error:
            raise ValueError(f"{name} is not a valid map: {error}") from None
        return LoadedEnv(world.name, world.mdp, world, world.goals, GRID_HORIZON)
    if name.endswith(FILE_SUFFIXES) or ("/" in name and "-v" not in name):
        raise ValueError(f"{name} not found: no such file")
    if "-v" in name:
        _no_slip(slip, name, "a gymnasium model")
        model = from_gymnasium(name)
        return LoadedEnv(model.env_id, model.mdp, model, (), GYM_HORIZON)
    raise ValueError(
        f"unknown environment {name!r}: not a built-in ({', '.join(BUILTINS)}), a file, or a "
        "gymnasium id; see `cai envs`"
    )


def _no_slip(slip: float | None, name: str, kind: str) -> None:
    """ValueError when a slip probability is given for an environment that has none of its own."""
    if slip is not None:
        raise ValueError(
            f"slip applies to built-in gridworlds and text maps only; {name} is {kind} (its "
            "dynamics are its own: leave --slip out)"
        )


def _describe(arrays: dict[str, str]) -> str:
    items = [f"{name} {shape}" for name, shape in arrays.items()]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def read_npz(
    path: str, required: dict[str, str], optional: dict[str, str] | None = None
) -> dict[str, np.ndarray]:
    """The arrays of an `.npz` file: every `required` one and those of `optional` present.

    Args:
        path: the file.
        required, optional: array name -> its shape as text, e.g. {"reward": "(S, A)"} (used
            in the message when an array is missing).

    Returns:
        A dict of numpy arrays, the required ones first.

    Raises:
        ValueError: "cannot read PATH as .npz: ..." for a missing, corrupt or non-.npz file;
            "PATH lacks the array(s) ...; it needs ..." for missing arrays.
    """
    optional = optional or {}
    try:
        with open(path, "rb") as handle:
            magic = handle.read(6)
    except OSError as error:
        raise ValueError(f"cannot read {path} as .npz: {error}") from None
    if not magic.startswith((b"PK", b"\x93NUMPY")):
        # np.load would try it as a pickle and suggest allow_pickle: wrong, and unsafe advice
        raise ValueError(
            f"cannot read {path} as .npz: it is not an .npz archive (a zip of arrays, as "
            "written by numpy.savez)"
        )
    try:
        data = np.load(path)
    except Exception as error:  # numpy raises several types for corrupt files
        raise ValueError(f"cannot read {path} as .npz: {error}") from None
    if not hasattr(data, "files"):  # np.load gives an ndarray for a .npy file
        raise ValueError(f"cannot read {path} as .npz: it holds a single array, not an archive")
    with data:
        missing = [name for name in required if name not in data.files]
        if missing:
            needs = _describe(required)
            if optional:
                needs += f", optionally {_describe(optional)}"
            raise ValueError(f"{path} lacks the array(s) {', '.join(missing)}; it needs {needs}")
        names = [name for name in (*required, *optional) if name in data.files]
        try:
            return {name: data[name] for name in names}
        except Exception as error:  # a corrupt member
            raise ValueError(f"cannot read {path} as .npz: {error}") from None


def load_mdp(path: str) -> TabularMDP:
    """A `TabularMDP` from an `.npz` file with arrays transitions (S, A, S), reward (S, A) and
    optionally initial (S,), action_prior (S, A).

    Raises:
        ValueError: naming the file, for an unreadable file, missing arrays or an invalid model.
    """
    arrays = read_npz(path, MDP_ARRAYS, MDP_OPTIONAL)
    try:
        return TabularMDP(
            arrays["transitions"],
            arrays["reward"],
            arrays.get("initial"),
            arrays.get("action_prior"),
        )
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
