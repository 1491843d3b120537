"""Environments as `TabularMDP`s: gridworlds from text maps, named built-ins, the exact models
of gymnasium's toy-text environments, and a registry that loads any of them by name; and the JAX
environment protocol (`JaxEnv`, `as_jax_env`) that the agents, MPPI, the sweeps and the
sample-based IRL act in."""

from .gridworld import (
    ACTIONS,
    BUILTINS,
    MOVES,
    GridMixin,
    GridWorld,
    MapWarning,
    builtin,
    make_gridworld,
)
from .jax_env import (
    JAX_ENV_IDS,
    PENDULUM_EPISODE_STEPS,
    PENDULUM_MODEL,
    JaxEnv,
    JaxModel,
    as_jax_env,
    check_env,
    from_gymnax,
    linear_gaussian_env,
    pendulum_env,
    pendulum_reset,
)
from .linear_gaussian import default_problem as double_integrator_problem
from .linear_gaussian import register as register_gymnasium
from .registry import (
    GRID_HORIZON,
    GYM_HORIZON,
    GYM_IDS,
    LoadedEnv,
    default_horizon,
    load_env,
    load_mdp,
    read_npz,
)
from .toytext import Evaluation, GymModel, evaluate_policy, from_gymnasium, simulate

__all__ = [
    "ACTIONS",
    "BUILTINS",
    "GRID_HORIZON",
    "GYM_HORIZON",
    "GYM_IDS",
    "JAX_ENV_IDS",
    "MOVES",
    "PENDULUM_EPISODE_STEPS",
    "PENDULUM_MODEL",
    "Evaluation",
    "GridMixin",
    "GridWorld",
    "GymModel",
    "JaxEnv",
    "JaxModel",
    "LoadedEnv",
    "MapWarning",
    "as_jax_env",
    "builtin",
    "check_env",
    "default_horizon",
    "double_integrator_problem",
    "evaluate_policy",
    "from_gymnasium",
    "from_gymnax",
    "linear_gaussian_env",
    "load_env",
    "load_mdp",
    "make_gridworld",
    "pendulum_env",
    "pendulum_reset",
    "read_npz",
    "register_gymnasium",
    "simulate",
]


def __getattr__(name: str):
    if name == "evaluate":  # renamed: the library had two public evaluate functions
        import warnings

        warnings.warn(
            "control_as_inference.envs.evaluate is now evaluate_policy; the old name "
            "goes in the next release.",
            DeprecationWarning,
            stacklevel=2,
        )
        return evaluate_policy
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
