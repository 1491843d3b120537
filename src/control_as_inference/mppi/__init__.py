"""Sampling-based planning as inference: MPPI and CEM in JAX, and a closed-loop runner."""

from .closed_loop import (
    Episode,
    EpisodeOptions,
    pendulum_config,
    pendulum_episode,
    pendulum_terminal_reward,
    plan_episode,
    run_episode,
    save_gif,
)
from .config import MPPIConfig, MPPIInfo, MPPIState, mppi_init
from .planner import cem_step, mppi_step
from .rollout import rollout_returns

__all__ = [
    "Episode",
    "EpisodeOptions",
    "MPPIConfig",
    "MPPIInfo",
    "MPPIState",
    "cem_step",
    "mppi_init",
    "mppi_step",
    "pendulum_config",
    "pendulum_episode",
    "pendulum_terminal_reward",
    "plan_episode",
    "rollout_returns",
    "run_episode",
    "save_gif",
]
