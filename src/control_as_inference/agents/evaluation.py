"""Evaluation of a trained agent on its gymnasium environment, with the deterministic policy."""

from __future__ import annotations

import jax
import numpy as np

from .discrete_agent import DiscreteConfig, discrete_act
from .environments import make_env
from .registry import promotion
from .sac import SACState


def evaluate_agent(state, env_id: str, episodes: int = 10, seed: int = 1000) -> np.ndarray:
    """Returns (episodes,) of `episodes` episodes with the deterministic policy (SAC: the mean
    action; discrete agents: the most probable action); episode i is reset with seed + i."""
    discrete = not isinstance(state, SACState)
    env = make_env(env_id, discrete)
    if discrete:
        config = DiscreteConfig(algorithm="dsac" if state.actor is not None else "sql")
        with promotion():
            policy = jax.jit(lambda s, obs: discrete_act(s, obs, config, True)[0])
    else:
        policy = jax.jit(lambda s, obs: s.actor.deterministic(obs))
    returns = []
    with promotion():
        for i in range(episodes):
            obs, _ = env.reset(seed=seed + i)
            total, done = 0.0, False
            while not done:
                action = np.asarray(policy(state, obs))
                action = action if action.ndim else int(action)
                obs, reward, terminated, truncated, _ = env.step(action)
                total += float(reward)
                done = terminated or truncated
            returns.append(total)
    return np.asarray(returns)
