"""The agents the training loop can drive, how their configs travel through config.json, and the
packing of one loop step's transitions into a single array.

    AGENTS["sac"]       SACConfig       a 1-d Box action space
    AGENTS["discrete"]  DiscreteConfig  a Discrete action space ("dsac" or "sql")
    AGENTS["mpo"]       MPOConfig       a 1-d Box action space (policy "gaussian"), or a
                                        Discrete one (policy "categorical": `agent_of` gives
                                        the entry with discrete=True)
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .discrete_agent import DiscreteConfig, discrete_act_many, discrete_init, discrete_observe_many
from .logger import LOG_FIELDS
from .mpo import MPOConfig, mpo_act_many, mpo_init, mpo_observe_many
from .sac import SACConfig, act_many, observe_many, sac_init


class Agent(NamedTuple):
    """How the loop drives one kind of agent."""

    name: str  # its key in AGENTS and the "agent" of config.json
    init: Any  # (config, observation space, action space, key) -> state
    act: Any  # jitted (state, obs (n, d), config, deterministic) -> (actions, state)
    discrete: bool


AGENTS = {
    "sac": Agent(
        "sac",
        lambda c, obs_space, action_space, key: sac_init(
            c, obs_space.shape[0], action_space.low, action_space.high, key
        ),
        jax.jit(act_many, static_argnums=(2, 3)),
        False,
    ),
    "discrete": Agent(
        "discrete",
        lambda c, obs_space, action_space, key: discrete_init(
            c, obs_space.shape[0], int(action_space.n), key
        ),
        jax.jit(discrete_act_many, static_argnums=(2, 3)),
        True,
    ),
    "mpo": Agent(
        "mpo",
        lambda c, obs_space, action_space, key: _mpo_init(c, obs_space, action_space, key),
        jax.jit(mpo_act_many, static_argnums=(2, 3)),
        False,
    ),
}


def _mpo_init(config, obs_space, action_space, key):
    """`mpo_init` from gymnasium spaces: a Box gives the action box, a Discrete the count."""
    if hasattr(action_space, "n"):
        return mpo_init(config, obs_space.shape[0], key, num_actions=int(action_space.n))
    return mpo_init(config, obs_space.shape[0], key, low=action_space.low, high=action_space.high)


def agent_of(config) -> Agent:
    """The entry of AGENTS for a config; ValueError for anything but the two config types."""
    if isinstance(config, SACConfig):
        return AGENTS["sac"]
    if isinstance(config, DiscreteConfig):
        return AGENTS["discrete"]
    if isinstance(config, MPOConfig):
        return AGENTS["mpo"]._replace(discrete=config.policy == "categorical")
    raise ValueError(
        "config must be a SACConfig, a DiscreteConfig or an MPOConfig, got "
        f"{type(config).__name__}."
    )


MPO_LOG_FIELDS = {
    "gaussian": (
        "kl_estep",
        "kl_mean",
        "kl_covariance",
        "multiplier_mean",
        "multiplier_covariance",
    ),
    "categorical": ("kl_estep", "kl_policy", "multiplier_policy"),
}
"""MPO's own columns of log.csv after `logger.LOG_FIELDS` (its temperature column is eta)."""


def log_fields(config) -> tuple:
    """The columns of a run's log.csv: `logger.LOG_FIELDS`, then MPO's own metrics."""
    if isinstance(config, MPOConfig):
        return (*LOG_FIELDS, *MPO_LOG_FIELDS[config.policy])
    return LOG_FIELDS


def is_discrete(config) -> bool:
    """Whether the config's agent acts on a Discrete action space."""
    return agent_of(config).discrete


def promotion():
    """optax's Adam mixes its float32 state with int counters; allow the implicit promotions it
    relies on while tracing (the library itself is clean under strict promotion)."""
    return jax.numpy_dtype_promotion("standard")


def config_dict(config) -> dict:
    """The config as a JSON-ready dict (config.json)."""
    d = dataclasses.asdict(config)
    d["hidden"] = list(d["hidden"])
    return d


def config_from(agent: str, d: dict):
    """The config back from `config_dict`'s dict and the agent's name."""
    d = dict(d)
    d["hidden"] = tuple(d["hidden"])
    if agent == "mpo":
        return MPOConfig(**d)
    return SACConfig(**d) if agent == "sac" else DiscreteConfig(**d)


def pack_transitions(obs, action, reward, last_obs, terminated, next_obs) -> np.ndarray:
    """One float32 array (n, width) with a row [obs, action, reward, last_obs, terminated,
    next_obs] per environment: obs, last_obs, next_obs (n, d), action (n, m) or (n,), reward and
    terminated (n,). last_obs is the transition's next observation, next_obs the one to act on
    (they differ where an episode was reset)."""
    n = obs.shape[0]
    parts = [obs, action.reshape(n, -1), reward[:, None], last_obs, terminated[:, None], next_obs]
    return np.concatenate(parts, axis=1, dtype=np.float32)


def _observe_from_packed(state, config, packed):
    """The agent's observe_many on `pack_transitions`' array: one host-to-device transfer per
    loop step instead of six."""
    discrete = is_discrete(config)
    m = 1 if discrete else state.actor.scale.shape[0]
    d = (packed.shape[1] - m - 2) // 3
    obs, action = packed[:, :d], packed[:, d : d + m]
    reward, next_obs = packed[:, d + m], packed[:, d + m + 1 : 2 * d + m + 1]
    terminated, act_obs = packed[:, 2 * d + m + 1], packed[:, 2 * d + m + 2 :]
    transitions = (
        obs,
        action[:, 0].astype(jnp.int32) if discrete else action,
        reward,
        next_obs,
        terminated,
    )
    if isinstance(config, MPOConfig):
        step = mpo_observe_many
    else:
        step = discrete_observe_many if discrete else observe_many
    return step(state, config, transitions, act_obs)


# (state, config, packed) -> (state, next actions, metrics); the state's buffers are donated
observe_packed = jax.jit(_observe_from_packed, static_argnums=1, donate_argnums=0)
