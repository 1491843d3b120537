"""Learning from samples: soft actor-critic (continuous) in JAX, with a gymnasium training loop."""

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
