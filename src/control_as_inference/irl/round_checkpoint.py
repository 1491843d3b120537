"""A checkpoint of an IRL loop that runs in rounds: the loop's whole state (an equinox pytree of
arrays: networks, optimiser states, SAC state, RNG key data, ...) and its learning curve.

Two files: `NAME` holds (state, round) by equinox serialisation, `NAME.json` the curve (one
float per round, at least `round` of them). The json is written first and each file atomically
(temporary name, then rename), so a crash at any moment leaves a pair that resumes: a curve one
round ahead of the state is cut to the state's round.
"""

from __future__ import annotations

import io
import json
import os

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._core import atomic_write


def round_checkpoint_path(checkpoint_dir: str | None, name: str, resume: bool) -> str | None:
    """`checkpoint_dir/name`, or None without a checkpoint_dir.

    Raises:
        ValueError: resume without a checkpoint_dir.
        FileNotFoundError: resume and no checkpoint there (naming the path).
    """
    if checkpoint_dir is None:
        if resume:
            raise ValueError(
                "resume=True needs checkpoint_dir: pass the directory the interrupted run wrote "
                "its checkpoint to."
            )
        return None
    path = os.path.join(checkpoint_dir, name)
    if resume and not (os.path.exists(path) and os.path.exists(path + ".json")):
        raise FileNotFoundError(
            f"resume: no checkpoint at {path}; run once with checkpoint_dir={checkpoint_dir!r} "
            "and without resume first."
        )
    return path


def write_round_checkpoint(path: str, state, curve) -> None:
    """Write the curve (R floats) to `path.json`, then (state, R) to `path`, each atomically."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    curve = [float(x) for x in curve]
    atomic_write(path + ".json", json.dumps({"round": len(curve), "objective": curve}).encode())
    data = io.BytesIO()
    eqx.tree_serialise_leaves(data, (state, jnp.asarray(len(curve), jnp.int32)))
    atomic_write(path, data.getvalue())


def read_round_checkpoint(path: str, like):
    """(state, curve) from `path` (written by `write_round_checkpoint`), the state in the
    structure of `like` (a fresh state of the same settings); curve a list of `round` floats.

    Raises:
        ValueError: a checkpoint that does not fit `like` (other settings) or is damaged.
    """
    fix = "resume with the settings it was written with, or start afresh in another checkpoint_dir"
    try:
        with open(path + ".json", encoding="utf-8") as handle:
            curve = json.load(handle)["objective"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"checkpoint at {path} is unreadable or damaged: {error!r}") from None
    try:
        with open(path, "rb") as handle:
            state, rounds = eqx.tree_deserialise_leaves(handle, (like, jnp.zeros((), jnp.int32)))
    except Exception as error:  # another shape (equinox checks it) or a truncated stream
        raise ValueError(
            f"checkpoint at {path} does not fit this run's settings or is damaged ({error}); {fix}."
        ) from None
    for got, want in zip(
        jax.tree_util.tree_leaves(state), jax.tree_util.tree_leaves(like), strict=True
    ):
        if np.shape(got) != np.shape(want) or jnp.result_type(got) != jnp.result_type(want):
            raise ValueError(
                f"checkpoint at {path} does not fit this run's settings (an array "
                f"{jnp.result_type(got)}{list(np.shape(got))} where this run has "
                f"{jnp.result_type(want)}{list(np.shape(want))}); {fix}."
            )
    rounds = int(rounds)
    if len(curve) < rounds:
        raise ValueError(f"checkpoint at {path} is damaged: its curve is shorter than its round.")
    return state, [float(x) for x in curve[:rounds]]


__all__ = ["read_round_checkpoint", "round_checkpoint_path", "write_round_checkpoint"]
