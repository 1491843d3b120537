"""Beyond one machine: tabular inference sharded over a device mesh, sweeps on Ray."""

from .sharding import shard_mdp, state_spec
from .sweep import grid, mppi_task, plot_sweep, run_sweep, solve_task, write_table

__all__ = [
    "grid",
    "mppi_task",
    "plot_sweep",
    "run_sweep",
    "shard_mdp",
    "solve_task",
    "state_spec",
    "write_table",
]
