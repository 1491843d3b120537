"""Guided cost learning on a continuous-action JAX environment: a neural reward r_theta(s, a)
(equinox MLP) learned with the importance-sampled objective of `gcl.py`, our SAC as the
adaptive sampler.

One round of `gcl_irl` is a round of the sample-based IRL loop (`irl.sample_loop`, shared with
AIRL) with GCL's cost as its `RewardLearner` (`gcl_learner`), in one jitted function:

1. relabel SAC's replay buffer with the current r_theta (SAC is off-policy) and run
   `sampler_steps` environment steps of SAC on r_theta (the env's own reward is only logged);
2. draw `samples` trajectories of `segment` steps from the current (stochastic) SAC actor, with
   log q_sampler(tau) = sum_t log pi(a_t|s_t) (`actor_log_prob`);
3. `cost_steps` Adam steps on -`gcl_objective`: demonstrations' segments against the samples
   and the demonstrations' own segments (the paper's mixture), each weighted by the mixture in
   the set's own proportions, q = (n_s q_sampler + n_d q_demo) / (n_s + n_d) (n_s = `samples`,
   n_d the demonstration segments), q_demo a linear-Gaussian policy
   a ~ N(W s + b, Sigma) fitted to the demonstrations by least squares (Finn et al. 2016 fit
   a density to the demonstrations in the same way). The action prior is flat and the dynamics
   terms cancel, so log p_0 - log q is minus the policies' terms; temperature 1 in r's units.

Only the reward network is the result: re-optimise it elsewhere with `learned_reward_env`.
Checkpoints (`checkpoint_dir`): every round the reward network, its optimiser, the SAC state and
the round are written, each file atomically (`irl.round_checkpoint`); `resume=True` continues
from them.
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._core import check_int
from ..agents import SACConfig, mlp
from ..envs import JaxEnv, as_jax_env
from .airl_sac import actor_episode, actor_log_prob, continuous_demonstrations
from .gcl import gcl_objective, mixture_log_prob
from .result import IRLResult
from .round_checkpoint import round_checkpoint_path
from .sample_loop import RewardLearner, RoundPlan, adam_steps, init_carry, make_round, run_rounds


class GCLReward(eqx.Module):
    """r_theta(s, a): an MLP (d + m) -> 1; `__call__` on single vectors (d,), (m,), `batch` on
    (B, d), (B, m) -> (B,)."""

    net: eqx.Module

    def __init__(self, obs_dim: int, action_dim: int, hidden, key):
        self.net = mlp(obs_dim + action_dim, 1, hidden, key)

    def __call__(self, obs, action):
        x = jnp.concatenate([jnp.asarray(obs, jnp.float32), jnp.asarray(action, jnp.float32)])
        return self.net(x)[0]

    def batch(self, obs, action):
        return jax.vmap(self)(obs, action)


def _demo_density(obs, actions):
    """Least-squares linear-Gaussian fit a ~ N(W s + b, Sigma) to (M, d), (M, m) -> log q(a|s)."""
    x = np.concatenate([obs, np.ones((obs.shape[0], 1))], 1)
    coef, *_ = np.linalg.lstsq(x, actions, rcond=None)
    resid = actions - x @ coef
    m = actions.shape[1]
    cov = np.cov(resid.T).reshape(m, m) + 1e-3 * np.eye(m)
    chol = np.linalg.cholesky(cov)
    whiten = jnp.asarray(np.linalg.inv(chol).T, jnp.float32)
    const = float(-np.log(np.diag(chol)).sum() - 0.5 * m * np.log(2 * np.pi))
    coef = jnp.asarray(coef, jnp.float32)

    def log_q(s, a):  # (B, d), (B, m) -> (B,)
        mean = jnp.concatenate([s, jnp.ones((s.shape[0], 1), s.dtype)], 1) @ coef
        z = (a - mean) @ whiten
        return const - 0.5 * jnp.sum(z**2, axis=1)

    return log_q


def _segments(states, actions, lengths, segment):
    """The demonstrations cut into K whole windows of `segment` steps: (K, segment+1, d),
    (K, segment, m)."""
    xs, us = [], []
    for x, u, n in zip(states, actions, lengths, strict=True):
        for start in range(0, int(n) - segment + 1, segment):
            xs.append(x[start : start + segment + 1])
            us.append(u[start : start + segment])
    if not xs:
        raise ValueError(
            f"segment = {segment} is longer than every demonstration; pass a smaller segment."
        )
    return jnp.asarray(np.stack(xs)), jnp.asarray(np.stack(us))


class GCLConfig(NamedTuple):
    """`gcl_irl`'s per-round settings: sampler_steps SAC environment steps, cost_steps Adam
    steps on the reward, `samples` sampled trajectories of `segment` steps (demonstrations are
    cut into windows of this length); the reward MLP's `hidden` widths and `learning_rate`."""

    sampler_steps: int = 2000
    cost_steps: int = 20
    samples: int = 16
    segment: int = 20
    hidden: tuple = (64, 64)
    learning_rate: float = 1e-3


def gcl_irl(
    demonstrations,
    env_id="Pendulum-v1",
    *,
    steps: int = 20,
    seed: int = 0,
    sampler_steps: int = 2000,
    cost_steps: int = 20,
    samples: int = 16,
    segment: int = 20,
    hidden=(64, 64),
    learning_rate: float = 1e-3,
    sac_config: SACConfig | None = None,
    checkpoint_dir: str | None = None,
    resume: bool = False,
    progress: bool | None = None,
) -> IRLResult:
    """Guided cost learning with SAC (module docstring), on the loop of `irl.sample_loop`.

    Args:
        demonstrations: (states (N, T+1, d), actions (N, T, m)[, lengths (N,)]) or
            `continuous_demonstrations(...)`.
        env_id: a gymnasium id with a JAX twin ("Pendulum-v1") or a `JaxEnv`
            (`envs.as_jax_env`).
        steps: rounds (each: sampler_steps SAC steps, then cost_steps reward updates).
        seed: the random seed.
        sampler_steps, cost_steps, samples, segment, hidden, learning_rate: `GCLConfig`.
        sac_config: the sampler's settings (default `SACConfig()` with a buffer of the run).
        checkpoint_dir, resume: write a checkpoint every round; continue from it.
        progress: a tqdm bar (None: only on a terminal).

    Returns:
        `IRLResult` with method "gcl": reward_model the `GCLReward`, solution the final
        `SACState`, objective the per-round GCL estimate of the log-likelihood per
        demonstration segment; converged False (no stopping statistic).
    """
    config = GCLConfig(sampler_steps, cost_steps, samples, segment, hidden, learning_rate)
    env = as_jax_env(env_id, name="env_id")
    steps = check_int("steps", steps, 1)
    check_int("sampler_steps", sampler_steps, 1)
    m = int(np.shape(env.low)[0])
    demos = continuous_demonstrations(*demonstrations, obs_dim=env.obs_dim, action_dim=m)
    obs, act, _ = demos.transitions()
    log_q_demo = _demo_density(obs, act)
    demo = _segments(demos.states, demos.actions, demos.lengths, segment)
    path = round_checkpoint_path(checkpoint_dir, "gcl.eqx", resume)
    sac_config = sac_config or SACConfig(buffer_size=max(steps * sampler_steps, 256))
    optimizer = optax.adam(learning_rate)
    carry = init_carry(
        env,
        sac_config,
        lambda k: GCLReward(env.obs_dim, m, hidden, k),
        optimizer,
        jax.random.key(seed),
        log_returns=False,
    )
    learner = gcl_learner(env, config, optimizer, log_q_demo)
    run = make_round(env, sac_config, learner, sampler_steps)
    carry, curve = run_rounds(run, carry, demo, RoundPlan(steps, path, "gcl_irl", progress), resume)
    return IRLResult(
        reward_model=carry.model,
        solution=carry.sac,
        objective=np.asarray(curve),
        iterations=len(curve),
        method="gcl",
    )


def gcl_learner(env: JaxEnv, config: GCLConfig, optimizer, log_q_demo) -> RewardLearner:
    """Guided cost learning's reward r_theta(s, a) as the `RewardLearner` of `irl.sample_loop`:
    each round `config.samples` episodes of `config.segment` steps from the stochastic SAC
    actor, then `config.cost_steps` optimiser steps on -`gcl_objective` of the demonstrated
    segments (the round's `data`: states (K, segment+1, d), actions (K, segment, m)) against
    the samples and the demonstrations, weighted by the mixture of the sampler and
    `log_q_demo` in the set's own proportions; the objective is the last step's estimate."""

    def relabel(reward, buffer):
        return reward.batch(buffer.obs, buffer.action)

    def step_reward(reward, obs, action, next_obs, terminated):
        return reward(obs, action)

    def fit(reward, opt_state, sac, key, demo):
        demo_x, demo_u = demo

        def episode(k):
            return actor_episode(sac.actor, env, k, config.segment, deterministic=False)

        _, xs, us = jax.vmap(episode)(jax.random.split(key, config.samples))
        all_x, all_u = jnp.concatenate([xs, demo_x]), jnp.concatenate([us, demo_u])
        flat_x = all_x[:, :-1].reshape(-1, all_x.shape[-1])
        flat_u = all_u.reshape(-1, all_u.shape[-1])
        shape = all_u.shape[:2]
        log_sampler = jnp.sum(actor_log_prob(sac.actor, flat_x, flat_u).reshape(shape), 1)
        log_demo = jnp.sum(log_q_demo(flat_x, flat_u).reshape(shape), 1)
        counts = (config.samples, demo_x.shape[0])  # the set's own proportions, not 1/2 each
        log_mix = jax.lax.stop_gradient(mixture_log_prob(log_sampler, log_demo, counts=counts))

        def loss(reward, _):
            sampled = jnp.sum(reward.batch(flat_x, flat_u).reshape(shape), 1)
            demonstrated = jnp.sum(jax.vmap(reward.batch)(demo_x[:, :-1], demo_u), 1)
            return -gcl_objective(demonstrated, sampled, log_mix)

        reward, opt_state, values = adam_steps(
            loss, optimizer, reward, opt_state, None, config.cost_steps
        )
        return reward, opt_state, -values[-1]

    return RewardLearner(relabel, step_reward, fit)


__all__ = ["GCLConfig", "GCLReward", "gcl_irl", "gcl_learner"]
