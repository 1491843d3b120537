"""Guided cost learning on a continuous-action JAX environment: a neural reward r_theta(s, a)
(equinox MLP) learned with the importance-sampled objective of `gcl.py`, our SAC as the
adaptive sampler.

One round of `gcl_irl` (one jitted function):

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

import os
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array

from .._core import check_int
from ..agents.common import dataclasses_replace
from ..agents.jax_train import JaxEnv, pendulum_env
from ..agents.networks import mlp
from ..agents.replay import buffer_add
from ..agents.sac import SACConfig, SACState, act_many, sac_init, update_many
from .airl_sac import actor_episode, actor_log_prob, continuous_demonstrations
from .gcl import gcl_objective, mixture_log_prob
from .result import IRLResult
from .round_checkpoint import read_round_checkpoint, write_round_checkpoint


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


class _Carry(NamedTuple):
    sac: SACState
    reward: GCLReward
    opt_state: optax.OptState
    obs: Array
    env_state: object
    key: Array


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
    """Guided cost learning with SAC (module docstring).

    Args:
        demonstrations: (states (N, T+1, d), actions (N, T, m)[, lengths (N,)]) or
            `continuous_demonstrations(...)`.
        env_id: "Pendulum-v1" or a `JaxEnv`.
        steps: rounds (each: sampler_steps SAC steps, then cost_steps reward updates).
        seed: the random seed.
        sampler_steps, cost_steps, samples, segment: per round: SAC environment steps, Adam
            steps on the reward, sampled trajectories, and their length (demonstrations are cut
            into windows of this length).
        hidden, learning_rate: the reward MLP's widths and Adam step size.
        sac_config: the sampler's settings (default `SACConfig()` with a buffer of the run).
        checkpoint_dir, resume: write a checkpoint every round; continue from it.
        progress: a tqdm bar (None: only on a terminal).

    Returns:
        `IRLResult` with method "gcl": reward_model the `GCLReward`, solution the final
        `SACState`, objective the per-round GCL estimate of the log-likelihood per
        demonstration segment; converged False (no stopping statistic).
    """
    from tqdm.auto import tqdm

    steps = check_int("steps", steps, 1)
    sampler_steps = check_int("sampler_steps", sampler_steps, 1)
    env = pendulum_env() if env_id == "Pendulum-v1" else env_id
    if not isinstance(env, JaxEnv):
        raise ValueError(f"env_id must be 'Pendulum-v1' or a JaxEnv, got {env_id!r}.")
    m = int(np.shape(env.low)[0])
    demos = continuous_demonstrations(*demonstrations, obs_dim=env.obs_dim, action_dim=m)
    obs, act, _ = demos.transitions()
    log_q_demo = _demo_density(obs, act)
    demo_x, demo_u = _segments(demos.states, demos.actions, demos.lengths, segment)
    path = None if checkpoint_dir is None else os.path.join(checkpoint_dir, "gcl.eqx")
    if resume and (path is None or not os.path.exists(path)):
        raise FileNotFoundError(f"resume: no checkpoint at {path}; run without resume first.")
    sac_config = sac_config or SACConfig(buffer_size=max(steps * sampler_steps, 256))
    key = jax.random.key(seed)
    k_sac, k_net, k_env, key = jax.random.split(key, 4)
    reward = GCLReward(env.obs_dim, m, hidden, k_net)
    optimizer = optax.adam(learning_rate)
    sac = sac_init(sac_config, env.obs_dim, env.low, env.high, k_sac)
    first_obs, env_state = env.reset(k_env)
    opt_state = optimizer.init(eqx.filter(reward, eqx.is_inexact_array))
    first_obs = first_obs.astype(jnp.float32)
    carry = _Carry(sac, reward, opt_state, first_obs, env_state, jax.random.key_data(key))
    start, curve = 0, []
    if resume:
        carry, curve = read_round_checkpoint(path, carry)
        start = len(curve)
    sizes = (samples, segment, sampler_steps, cost_steps)
    run = _round_fn(env, sac_config, optimizer, log_q_demo, sizes)
    disable = None if progress is None else not progress
    bar = tqdm(total=steps, initial=start, desc="gcl_irl", disable=disable, leave=False)
    try:
        for _ in range(start, steps):
            with jax.numpy_dtype_promotion("standard"):
                carry, value = run(carry, demo_x, demo_u)
            curve.append(float(value))
            bar.set_postfix(objective=f"{curve[-1]:.4g}")
            bar.update()
            if path is not None:
                write_round_checkpoint(path, carry, curve)
    finally:
        bar.close()
    return IRLResult(
        reward_model=carry.reward,
        solution=carry.sac,
        objective=np.asarray(curve),
        iterations=len(curve),
        method="gcl",
    )


def _round_fn(env, sac_config, optimizer, log_q_demo, sizes):
    samples, segment, sampler_steps, cost_steps = sizes

    @eqx.filter_jit
    def run(carry: _Carry, demo_x, demo_u):
        r = carry.reward
        buffer = carry.sac.buffer
        sac = dataclasses_replace(
            carry.sac, buffer=dataclasses_replace(buffer, reward=r.batch(buffer.obs, buffer.action))
        )

        def env_step(c, _):
            sac, obs, env_state, key = c
            key, k_step, k_reset = jax.random.split(key, 3)
            action, sac = act_many(sac, obs[None], sac_config)
            next_obs, env_state, _, terminated, truncated = env.step(k_step, env_state, action[0])
            next_obs = next_obs.astype(jnp.float32)
            done = terminated.astype(jnp.float32)
            buf = buffer_add(sac.buffer, obs, action[0], r(obs, action[0]), next_obs, done)
            sac = dataclasses_replace(sac, buffer=buf, step=sac.step + 1)
            sac = jax.lax.cond(
                sac.step >= sac_config.learning_starts,
                lambda s: update_many(s, sac_config, sac_config.gradient_steps)[0],
                lambda s: s,
                sac,
            )
            done = jnp.logical_or(terminated, truncated)
            reset_obs, reset_state = env.reset(k_reset)
            obs = jnp.where(done, reset_obs.astype(jnp.float32), next_obs)
            env_state = jax.tree_util.tree_map(
                lambda a, b: jnp.where(done, a, b), reset_state, env_state
            )
            return (sac, obs, env_state, key), None

        key = jax.random.wrap_key_data(carry.key)
        (sac, obs, env_state, key), _ = jax.lax.scan(
            env_step, (sac, carry.obs, carry.env_state, key), None, length=sampler_steps
        )
        key, k_samples = jax.random.split(key)
        episode = lambda k: actor_episode(sac.actor, env, k, segment, deterministic=False)  # noqa: E731
        _, xs, us = jax.vmap(episode)(jax.random.split(k_samples, samples))
        all_x = jnp.concatenate([xs, demo_x])
        all_u = jnp.concatenate([us, demo_u])
        flat_x = all_x[:, :-1].reshape(-1, all_x.shape[-1])
        flat_u = all_u.reshape(-1, all_u.shape[-1])
        shape = all_u.shape[:2]
        log_sampler = jnp.sum(actor_log_prob(sac.actor, flat_x, flat_u).reshape(shape), 1)
        log_demo = jnp.sum(log_q_demo(flat_x, flat_u).reshape(shape), 1)
        counts = (samples, demo_x.shape[0])  # the set's own proportions, not 1/2 each
        log_mix = jax.lax.stop_gradient(mixture_log_prob(log_sampler, log_demo, counts=counts))

        def loss(reward):
            sampled = jnp.sum(reward.batch(flat_x, flat_u).reshape(shape), 1)
            demo = jnp.sum(jax.vmap(reward.batch)(demo_x[:, :-1], demo_u), 1)
            return -gcl_objective(demo, sampled, log_mix)

        def cost_step(c, _):
            reward, opt_state = c
            value, grads = eqx.filter_value_and_grad(loss)(reward)
            updates, opt_state = optimizer.update(grads, opt_state)
            return (eqx.apply_updates(reward, updates), opt_state), -value

        (reward, opt_state), values = jax.lax.scan(
            cost_step, (r, carry.opt_state), None, length=cost_steps
        )
        new = _Carry(sac, reward, opt_state, obs, env_state, jax.random.key_data(key))
        return new, values[-1]

    return run


__all__ = ["GCLReward", "gcl_irl"]
