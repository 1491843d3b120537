"""Evaluation of a trained agent on its gymnasium environment, with the deterministic policy."""

from __future__ import annotations

import jax
import numpy as np

from .discrete_agent import DiscreteConfig, discrete_act
from .environments import make_env
from .mpo import MPOConfig, MPOState, mpo_act_many
from .registry import promotion
from .sac import SACConfig, SACState


def evaluate_agent(
    state, env_id: str, episodes: int = 10, seed: int = 1000, *, config=None
) -> np.ndarray:
    """Returns (episodes,) of `episodes` episodes with the deterministic policy (SAC: the mean
    action; discrete agents: the most probable action); episode i is reset with seed + i.

    config: the agent's config (`SACConfig` or `DiscreteConfig`), e.g. a run's own
    (`run_config(load_run(out)[1])`); ValueError when it does not fit the state (another kind
    of agent, or dsac for a state without an actor, sql for one with). None: the state's own
    kind (a discrete state with an actor is discrete SAC, one without is soft Q-learning);
    the deterministic policy reads only the networks.
    """
    if isinstance(state, MPOState):  # MPO: the Gaussian's mean action, or the likeliest one
        discrete = state.num_actions > 0
    else:
        discrete = not isinstance(state, SACState)
    config = check_config(state, config)
    env = make_env(env_id, discrete)
    if isinstance(state, MPOState):
        with promotion():
            policy = jax.jit(lambda s, obs: mpo_act_many(s, obs[None], config, True)[0][0])
    elif discrete:
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


def check_config(state, config):
    """The config the state was trained with: `config` once checked against the state, or
    (None) one of the state's own kind (module docstring of `evaluate_agent`)."""
    if isinstance(state, MPOState):
        policy = "categorical" if state.num_actions else "gaussian"
        if config is None:
            return MPOConfig(policy=policy)
        if not isinstance(config, MPOConfig) or config.policy != policy:
            raise ValueError(
                f"config is a {type(config).__name__} but the state is an MPO agent's with a "
                f"{policy} policy (MPOState); pass the run's own config."
            )
        return config
    if isinstance(state, SACState):
        if config is not None and not isinstance(config, SACConfig):
            raise ValueError(
                f"config is a {type(config).__name__} but the state is a SAC agent's "
                "(SACState); pass the run's own config."
            )
        return config
    algorithm = "dsac" if state.actor is not None else "sql"
    if config is None:
        return DiscreteConfig(algorithm=algorithm)
    if not isinstance(config, DiscreteConfig) or config.algorithm != algorithm:
        name = getattr(config, "algorithm", "sac")
        raise ValueError(
            f"config is for {name} but the state is a {algorithm} agent's (a discrete state "
            f"{'with' if state.actor is not None else 'without'} an actor); pass the run's own "
            "config."
        )
    return config
