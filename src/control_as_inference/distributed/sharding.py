"""Tabular inference on a device mesh: the model sharded over the state axis.

    mesh = jax.make_mesh((jax.device_count(),), ("states",))
    sharded = cai.shard_mdp(mdp, mesh)        # every device holds S / D states' rows
                                              # (the mesh's axes are used as Auto axes)
    post = cai.infer(sharded, horizon, ...)   # the same functions, the same results

`shard_mdp` places each array of the model with its state axis split over one mesh axis: dense
transitions T[s, a, s'] by rows s, successor lists (index, prob) by s, the reward, the initial
distribution and the action prior by s. `infer`, `infer_summary`, `soft_value_iteration`,
`sample`, ... are unchanged: they are jitted, and XLA's SPMD partitioner keeps every (S, ...)
array sharded the same way and moves only S-vectors between devices: the backward pass
all-gathers V_{t+1} (S numbers) per step, the forward pass reduces the pushed-forward mass. The
outputs come back sharded over the state axis too. Nothing of the model's size is gathered on one
device (`tests/distributed` checks the compiled program).

Several processes (one per host or per accelerator) work the same way after
`jax.distributed.initialize(...)`: build the mesh over `jax.devices()` (every process's devices)
and call the same code in every process (see `examples/sharded_inference.py`). `shard_mdp`
copies each device's rows from a model every process holds in host memory; for a model too
large for one host, build the global arrays yourself with `jax.make_array_from_callback` and
pass them to `TabularMDP`, which then skips its value checks (it cannot see other processes'
shards), as it does under `jax.jit`.
"""

from __future__ import annotations

import equinox as eqx
import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ..tabular import Successors, TabularMDP


def state_spec(ndim: int, state_axis: int, mesh_axis: str) -> PartitionSpec:
    """A PartitionSpec splitting dimension `state_axis` of an `ndim`-array over `mesh_axis`."""
    spec = [None] * ndim
    spec[state_axis] = mesh_axis
    return PartitionSpec(*spec)


def shard_mdp(mdp, mesh, axis=None) -> TabularMDP:
    """Place `mdp` on `mesh` with its state axis split over the mesh axis `axis`.

    Args:
        mdp: a `TabularMDP` held in this process.
        mesh: a `jax.sharding.Mesh`.
        axis: the mesh axis to split the states over (default: the mesh's first axis).

    Returns:
        The same model with sharded arrays (`jax.Array`s with `NamedSharding`).

    Raises:
        ValueError: if `axis` is not an axis of the mesh or its size does not divide S.
    """
    if not isinstance(mdp, TabularMDP):
        raise ValueError(f"mdp must be a cai.TabularMDP, got {type(mdp).__name__}.")
    if not isinstance(mesh, Mesh):
        raise ValueError(f"mesh must be a jax.sharding.Mesh, got {type(mesh).__name__}.")
    axis = mesh.axis_names[0] if axis is None else axis
    if axis not in mesh.axis_names:
        raise ValueError(f"axis {axis!r} is not an axis of the mesh {tuple(mesh.axis_names)}.")
    # XLA's partitioner places the intermediate results (Auto axes); an Explicit mesh (the
    # default of jax.make_mesh in recent JAX) would make every contraction over the sharded
    # state axis ask for an output sharding by hand.
    auto = (jax.sharding.AxisType.Auto,) * len(mesh.axis_names)
    if tuple(getattr(mesh, "axis_types", auto)) != auto:
        mesh = Mesh(mesh.devices, mesh.axis_names, axis_types=auto)
    devices = mesh.shape[axis]
    if mdp.num_states % devices:
        raise ValueError(
            f"mesh: axis {axis!r} has {devices} devices, which does not divide the "
            f"{mdp.num_states} states; pad the model with unreachable states to a multiple of "
            f"{devices} or use a mesh whose size divides {mdp.num_states}."
        )

    def place(x, state_axis):
        x = np.asarray(x) if getattr(x, "is_fully_addressable", True) else x
        sharding = NamedSharding(mesh, state_spec(x.ndim, state_axis, axis))
        if isinstance(x, jax.Array):
            return jax.device_put(x, sharding)
        return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

    if mdp.is_sparse:
        transitions = Successors(
            index=place(mdp.transitions.index, 0), prob=place(mdp.transitions.prob, 0)
        )
    else:
        transitions = place(mdp.transitions, 0)
    reward = place(mdp.reward, 1 if mdp.time_varying else 0)
    return eqx.tree_at(
        lambda m: (m.transitions, m.reward, m.initial, m.action_prior),
        mdp,
        (transitions, reward, place(mdp.initial, 0), place(mdp.action_prior, 0)),
    )
