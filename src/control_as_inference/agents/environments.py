"""Gymnasium environments for the agents: one checked environment, or a vector of copies.

The checks turn gymnasium's assorted errors and unsuitable spaces into a ValueError that names
`env_id`: SAC needs a 1-d Box action space, the discrete agents a Discrete one, and both need
vector observations.
"""

from __future__ import annotations

import functools

from .._core import check_int


def make_env(env_id: str, discrete: bool = False):
    """`gym.make(env_id)`, checked for the agent (discrete or continuous actions). The library's
    own environments ("cai/LinearGaussian-v0") are registered first."""
    import gymnasium as gym

    from ..envs import register_gymnasium

    register_gymnasium()

    try:
        env = gym.make(env_id)
    except Exception as error:  # gymnasium raises several types for unknown ids
        raise ValueError(f"env_id: cannot make {env_id!r}: {error}") from None
    space = env.action_space
    if discrete and not isinstance(space, gym.spaces.Discrete):
        raise ValueError(
            f"env_id: the discrete agents need a Discrete action space; {env_id} has {space}."
        )
    if not discrete and (not isinstance(space, gym.spaces.Box) or len(space.shape) != 1):
        raise ValueError(
            f"env_id: SAC and MPO's Gaussian policy need a continuous (Box) action space; "
            f"{env_id} has {space} (use the discrete agents, dsac or sql, or "
            "MPOConfig(policy='categorical'))."
        )
    if len(env.observation_space.shape) != 1:
        raise ValueError(
            f"env_id: observations must be vectors; {env_id} has {env.observation_space}."
        )
    return env


def make_envs(env_id: str, discrete: bool, num_envs: int):
    """`num_envs` copies of the environment in a gymnasium SyncVectorEnv that resets an ended
    episode in the same step (its last observation goes to info["final_obs"])."""
    import gymnasium as gym
    from gymnasium.vector import AutoresetMode, SyncVectorEnv

    check_int("num_envs", num_envs, 1)
    make_env(env_id, discrete).close()  # registers ours, checks the id and spaces, clearly
    return SyncVectorEnv(
        [functools.partial(gym.make, env_id)] * num_envs, autoreset_mode=AutoresetMode.SAME_STEP
    )
