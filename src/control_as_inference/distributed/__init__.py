"""Beyond one machine: tabular inference sharded over a device mesh, sweeps on Ray."""

from .sharding import shard_mdp, state_spec

__all__ = ["shard_mdp", "state_spec"]
