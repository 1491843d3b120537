"""Learning from samples: soft actor-critic (continuous), discrete SAC and soft Q-learning in
JAX, with a gymnasium training loop and a fully jitted path on the JAX pendulum."""

from .discrete_agent import DiscreteConfig, DiscreteState
from .sac import (
    SACConfig,
    SACState,
    act,
    actor_loss,
    critic_loss,
    observe,
    sac_init,
    temperature_loss,
    update,
    update_many,
)
from .train import TrainResult, evaluate, load_run, resume, train

__all__ = [
    "DiscreteConfig",
    "DiscreteState",
    "SACConfig",
    "SACState",
    "TrainResult",
    "act",
    "actor_loss",
    "critic_loss",
    "evaluate",
    "load_run",
    "observe",
    "resume",
    "sac_init",
    "temperature_loss",
    "train",
    "update",
    "update_many",
]
