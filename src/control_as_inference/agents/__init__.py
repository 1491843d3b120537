"""Learning from samples: soft actor-critic (continuous), discrete SAC, soft Q-learning and MPO
in JAX, with a gymnasium training loop and a fully jitted path on the JAX pendulum.

    sac.py, discrete_agent.py  the agents (state, update, act, observe)
    mpo.py, mpo_losses.py      MPO (E-step by `policy_search`, KL-bounded M-step), Gaussian or
                               categorical policy
    common.py                  what every agent does (shared settings, Polyak, twin-Q error, ...)
    discrete.py                discrete losses; tabular learners checked against exact answers
    networks.py, replay.py     equinox networks, a replay buffer in JAX arrays
    train.py                   train, resume, load_run, run_config over loop.py (the loop),
                               checkpoint.py, logger.py, interrupt.py, registry.py and
                               environments.py
    evaluation.py              evaluate_agent: returns of the deterministic policy
    jax_train.py               acting and learning in one `lax.scan` on a JAX environment

Building blocks for learners built on SAC (the sample-based IRL loop of `irl` uses them):
`act_many`, the replay buffer (`ReplayBuffer`, `buffer_add`, `buffer_sample`), `mlp` and
`tanh_gaussian_log_prob`.
"""

from .discrete_agent import DiscreteConfig, DiscreteState
from .evaluation import evaluate_agent
from .logger import read_log
from .mpo import MPOConfig, MPOState, mpo_init, mpo_update
from .networks import mlp, tanh_gaussian_log_prob
from .replay import ReplayBuffer, buffer_add, buffer_sample
from .sac import (
    SACConfig,
    SACState,
    act,
    act_many,
    actor_loss,
    critic_loss,
    observe,
    sac_init,
    temperature_loss,
    update,
    update_many,
)
from .train import TrainResult, load_run, resume, run_config, train

__all__ = [
    "DiscreteConfig",
    "DiscreteState",
    "MPOConfig",
    "MPOState",
    "ReplayBuffer",
    "SACConfig",
    "SACState",
    "TrainResult",
    "act",
    "act_many",
    "actor_loss",
    "buffer_add",
    "buffer_sample",
    "critic_loss",
    "evaluate_agent",
    "load_run",
    "mlp",
    "mpo_init",
    "mpo_update",
    "observe",
    "read_log",
    "resume",
    "run_config",
    "sac_init",
    "tanh_gaussian_log_prob",
    "temperature_loss",
    "train",
    "update",
    "update_many",
]


def __getattr__(name: str):
    if name == "evaluate":  # renamed: the library had two public evaluate functions
        import warnings

        warnings.warn(
            "control_as_inference.agents.evaluate is now evaluate_agent; the old name "
            "goes in the next release.",
            DeprecationWarning,
            stacklevel=2,
        )
        return evaluate_agent
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
