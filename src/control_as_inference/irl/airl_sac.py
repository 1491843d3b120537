"""AIRL on a continuous-action JAX environment with our SAC as the generator (the discriminator
of `airl.py` with MLPs for g and h).

One round of `airl_sac` is a round of the sample-based IRL loop (`irl.sample_loop`, shared with
GCL) with AIRL's discriminator as its `RewardLearner` (`airl_learner`), all inside one jitted
function:

1. relabel the replay buffer with the current f(s, a, s') = g(s) + gamma h(s') - h(s) (SAC is
   off-policy: its stored rewards must be those of the current discriminator);
2. `round_steps` environment steps of SAC on the reward f (the env's own reward is only
   logged), each with `config.gradient_steps` SAC updates;
3. `discriminator_steps` Adam steps on the logistic loss of `airl_discriminator_loss`, expert
   batches drawn uniformly from the demonstrated transitions and generator batches from the
   replay buffer (off-policy, as in Kostrikov et al.'s DAC), with logit D = f - log pi(a|s)
   of the current SAC actor (temperature 1 in f's units; SAC's own temperature weighs the
   entropy bonus of the generator's objective, which AIRL's reward f - log pi fixes at 1: the
   default SAC settings fix it at 1 too).

The reward to re-optimise elsewhere is g(s) (`learned_reward_env` swaps it into an environment);
h is the shaping term (the soft value up to a constant where the theory of `airl.py` holds).
Demonstrations are continuous arrays (`continuous_demonstrations`, `.npz` files with states
(N, T+1, d), actions (N, T, m) and optional lengths (N,)).
Checkpoints (`checkpoint_dir`): after every round the whole state (g, h, their Adam state, the
SAC state with its buffer, the environment's state and observation, the running episode return,
the RNG key) and the round's curve are written (`irl.round_checkpoint`); `resume=True` continues
from them, and the resumed run equals an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array

from .._core import check_int, check_positive
from ..agents import SACConfig, buffer_sample, mlp, tanh_gaussian_log_prob
from ..engine import ConvergenceWarning
from ..envs import JaxEnv, as_jax_env
from .airl import airl_discriminator_loss, airl_logits, shaped_reward
from .demonstrations import check_trajectories
from .result import IRLResult
from .round_checkpoint import round_checkpoint_path
from .sample_loop import (
    RewardLearner,
    RoundCarry,
    RoundPlan,
    adam_steps,
    init_carry,
    make_round,
    run_rounds,
)


class ContinuousDemos(NamedTuple):
    """N demonstrations padded to T steps: states (N, T+1, d), actions (N, T, m), lengths (N,)
    the number of actions of each (entries past them are ignored)."""

    states: Array
    actions: Array
    lengths: Array

    def transitions(self):
        """(obs (M, d), actions (M, m), next_obs (M, d)) of the M = sum lengths valid steps."""
        states, actions = np.asarray(self.states), np.asarray(self.actions)
        valid = np.arange(actions.shape[1])[None] < np.asarray(self.lengths)[:, None]
        return states[:, :-1][valid], actions[valid], states[:, 1:][valid]


def continuous_demonstrations(
    states, actions, lengths=None, *, obs_dim: int, action_dim: int, min_transitions: int = 2
) -> ContinuousDemos:
    """Check and pack continuous demonstrations.

    Raises:
        ValueError: naming the array, for shapes other than (N, T+1, obs_dim), (N, T,
            action_dim) and (N,), lengths outside [1, T], non-finite values in the steps
            used, or fewer than `min_transitions` demonstrated transitions.
    """
    states, actions, lengths = check_trajectories(
        states, actions, lengths, obs_dim, action_dim, "environment"
    )
    states, actions = states.astype(np.float32), actions.astype(np.float32)
    demos = ContinuousDemos(states, actions, lengths)
    obs, act, next_obs = demos.transitions()
    for name, x in (("states", np.concatenate([obs, next_obs])), ("actions", act)):
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{name} contains NaN or inf; drop or repair those demonstrations.")
    if obs.shape[0] < min_transitions:
        raise ValueError(
            f"too few demonstrations: {obs.shape[0]} demonstrated transitions, fewer than the "
            f"{min_transitions} the discriminator's batches need; add demonstrations."
        )
    return demos


class AIRLNetworks(eqx.Module):
    """g: MLP d -> 1 (the state-only reward), h: MLP d -> 1 (the shaping term)."""

    g: eqx.Module
    h: eqx.Module

    def __init__(self, obs_dim: int, hidden, key):
        k1, k2 = jax.random.split(key)
        self.g = mlp(obs_dim, 1, hidden, k1)
        self.h = mlp(obs_dim, 1, hidden, k2)

    def reward(self, obs):
        """g(s) for a batch (B, d) -> (B,)."""
        return jax.vmap(self.g)(jnp.asarray(obs, jnp.float32))[:, 0]

    def f(self, obs, next_obs, discount, terminated=0.0):
        """f(s, a, s') = g(s) + gamma (1 - d) h(s') - h(s) for batches (B, d) -> (B,)."""
        obs, next_obs = jnp.asarray(obs, jnp.float32), jnp.asarray(next_obs, jnp.float32)
        h, h_next = jax.vmap(self.h)(obs)[:, 0], jax.vmap(self.h)(next_obs)[:, 0]
        return shaped_reward(self.reward(obs), h, h_next, discount, terminated)


def actor_log_prob(actor, obs, action):
    """log pi(a|s) of a tanh-Gaussian actor for batches (B, d), (B, m) -> (B,); actions on the
    box's edge are moved 1e-6 inside it (tanh^-1 of +-1 is infinite)."""
    dtype = actor.scale.dtype
    obs, action = jnp.asarray(obs, dtype), jnp.asarray(action, dtype)
    mean, log_std = jax.vmap(actor.distribution)(obs)
    y = jnp.clip((action - actor.offset[None]) / actor.scale[None], -1.0 + 1e-6, 1.0 - 1e-6)
    return jax.vmap(tanh_gaussian_log_prob, in_axes=(0, 0, 0, None))(
        jnp.arctanh(y), mean, log_std, actor.scale
    )


def airl_network_loss(nets: AIRLNetworks, actor, expert, policy, discount):
    """The logistic loss () of `airl_discriminator_loss` on expert and policy batches, each
    (obs (B, d), actions (B, m), next_obs (B, d)); logit = f - log pi(a|s) of `actor`."""

    def logits(batch):
        obs, action, next_obs = batch
        log_pi = jax.lax.stop_gradient(actor_log_prob(actor, obs, action))
        return airl_logits(nets.f(obs, next_obs, discount), log_pi)

    return airl_discriminator_loss(logits(expert), logits(policy))


@dataclasses.dataclass(frozen=True)
class AIRLConfig:
    """round_steps: environment steps per round; discriminator_steps and batch_size: Adam
    steps and batch per round; learning_rate: the discriminator's; hidden: widths of g and h."""

    round_steps: int = 500
    discriminator_steps: int = 20
    batch_size: int = 256
    learning_rate: float = 1e-3
    hidden: tuple = (64, 64)


def airl_sac(
    env: JaxEnv | str,
    demonstrations,
    key,
    *,
    steps: int = 30_000,
    sac_config: SACConfig | None = None,
    config: AIRLConfig | None = None,
    checkpoint_dir: str | None = None,
    resume: bool = False,
    progress: bool | None = None,
) -> IRLResult:
    """AIRL with SAC as the generator (module docstring), on the loop of `irl.sample_loop`.

    Args:
        env: the environment, a `JaxEnv` or a gymnasium id with a JAX twin (`envs.as_jax_env`;
            its reward is only logged, never learned from).
        demonstrations: from `continuous_demonstrations`.
        key: a `jax.random` key.
        steps: environment steps in all (rounded up to whole rounds).
        sac_config: the generator's settings. Default `SACConfig()` with a fixed temperature
            1 (the generator then maximises AIRL's E[f - log pi]; with the learned temperature
            the policy sharpened, log pi grew faster than f could follow and the discriminator
            loss rose to 3.5 on Pendulum-v1) and a buffer as large as the run (every round
            relabels all of it); its gamma is f's.
        config: the discriminator's settings (`AIRLConfig`).
        checkpoint_dir, resume: write a checkpoint (`checkpoint_dir/airl.eqx` and `.json`)
            after every round; continue from it (with the settings it was written with: a
            different buffer or network size is a ValueError; `steps` may grow only with an
            explicit `sac_config.buffer_size`, since the default buffer holds `steps`).
        progress: a tqdm bar of the rounds (True always, False never, None only on a terminal).

    Returns:
        `IRLResult` with method "airl": reward_model the `AIRLNetworks` (reward g via
        `.reward`), value its h, solution the final `SACState`, objective the per-round -L
        (log 4 = 1.386 is a discriminator at chance), converged False (a stochastic game has
        no stopping statistic; the ConvergenceWarning of a discriminator that beats the
        generator at the end, -L > -0.9, says so).

    Raises:
        ValueError: bad settings, environment or demonstrations, resume without
            checkpoint_dir, or a checkpoint of other settings. FileNotFoundError: resume and no
            checkpoint.
    """
    env = as_jax_env(env)
    steps = check_int("steps", steps, 1)
    config = AIRLConfig() if config is None else config
    rounds = -(-steps // check_int("round_steps", config.round_steps, 1))
    if sac_config is None:  # alpha = 1: the generator maximises E[f - log pi], AIRL's objective
        # a buffer no larger than the run: every round relabels all of it
        size = rounds * config.round_steps
        sac_config = SACConfig(buffer_size=size, initial_temperature=1.0, auto_temperature=False)
    check_positive("learning_rate", config.learning_rate)
    expert = _expert_transitions(env, demonstrations)
    path = round_checkpoint_path(checkpoint_dir, "airl.eqx", resume)
    optimizer = optax.adam(config.learning_rate)
    carry = init_carry(
        env, sac_config, lambda k: AIRLNetworks(env.obs_dim, config.hidden, k), optimizer, key
    )
    learner = airl_learner(sac_config.gamma, config, optimizer)
    run = make_round(env, sac_config, learner, config.round_steps)
    plan = RoundPlan(rounds, path, "airl_sac", progress)
    carry, curve = run_rounds(run, carry, expert, plan, resume)
    return _airl_result(carry, np.asarray(curve))


def _expert_transitions(env: JaxEnv, demonstrations):
    """The demonstrated (obs (M, d), actions (M, m), next_obs (M, d)), checked against env."""
    if not isinstance(demonstrations, ContinuousDemos):
        raise ValueError("demonstrations: pass the result of continuous_demonstrations(...).")
    action_dim = int(np.shape(env.low)[0])
    demonstrations = continuous_demonstrations(
        *demonstrations, obs_dim=env.obs_dim, action_dim=action_dim
    )
    return tuple(jnp.asarray(x) for x in demonstrations.transitions())


def _airl_result(carry: RoundCarry, objective) -> IRLResult:
    """The `IRLResult` of the final state, with a ConvergenceWarning when the discriminator
    still separates expert and generator."""
    if objective[-1] > -0.9:
        warnings.warn(
            f"airl_sac: the discriminator separates expert and generator at the end (-L = "
            f"{objective[-1]:.3g}, chance is -1.386): the generator has not caught up; the "
            "learned reward may not yet explain the demonstrations. Train longer.",
            ConvergenceWarning,
            stacklevel=3,
        )
    return IRLResult(
        reward_model=carry.model,
        solution=carry.sac,
        objective=objective,
        iterations=len(objective),
        method="airl",
        value=carry.model.h,
    )


def airl_learner(gamma, config: AIRLConfig, optimizer) -> RewardLearner:
    """AIRL's discriminator as the `RewardLearner` of `irl.sample_loop`: the generator's reward
    f(s, a, s') = g(s) + gamma (1 - d) h(s') - h(s); each round `config.discriminator_steps`
    optimiser steps on `airl_network_loss`, expert batches drawn uniformly from the
    demonstrated transitions (the round's `data`) and generator batches from the replay
    buffer; the objective is the mean -L of those steps."""

    def relabel(nets, buffer):
        return nets.f(buffer.obs, buffer.next_obs, gamma)

    def reward(nets, obs, action, next_obs, terminated):
        ended = terminated.astype(jnp.float32)[None]
        return nets.f(obs[None], next_obs[None], gamma, ended)[0]

    def fit(nets, opt_state, sac, key, expert):
        def loss(nets, k):
            k_e, k_p = jax.random.split(k)
            index = jax.random.randint(k_e, (config.batch_size,), 0, expert[0].shape[0])
            expert_batch = tuple(x[index] for x in expert)
            policy_batch = buffer_sample(sac.buffer, k_p, config.batch_size)
            policy_batch = (policy_batch[0], policy_batch[1], policy_batch[3])
            return airl_network_loss(nets, sac.actor, expert_batch, policy_batch, gamma)

        keys = jax.random.split(key, config.discriminator_steps)
        nets, opt_state, losses = adam_steps(loss, optimizer, nets, opt_state, keys)
        return nets, opt_state, -jnp.mean(losses)

    return RewardLearner(relabel, reward, fit)


def learned_reward_env(env: JaxEnv, reward_fn) -> JaxEnv:
    """`env` with its reward replaced by reward_fn(obs (d,), action (m,), next_obs (d,)) -> ();
    env_state becomes (the inner state, the current observation)."""

    def reset(key):
        obs, state = env.reset(key)
        return obs, (state, obs)

    def step(key, env_state, action):
        state, obs = env_state
        next_obs, state, _, terminated, truncated = env.step(key, state, action)
        reward = reward_fn(obs, action, next_obs)
        return next_obs, (state, next_obs), reward, terminated, truncated

    return JaxEnv(reset, step, env.obs_dim, env.low, env.high)


def actor_episode(actor, env: JaxEnv, key, length: int, deterministic: bool = True):
    """One episode of `length` steps of `actor` in `env`: (return (), states (length+1, d),
    actions (length, m)); the mean action when deterministic, else a sample."""
    obs, state = env.reset(key)

    def body(c, k):
        obs, state = c
        obs = obs.astype(jnp.float32)
        if deterministic:
            action = actor.deterministic(obs)
        else:
            action = actor.sample(obs, k)[0]
        next_obs, state, reward, _, _ = env.step(k, state, action)
        return (next_obs, state), (obs, action, reward, next_obs.astype(jnp.float32))

    _, (obs_seq, actions, rewards, next_seq) = jax.lax.scan(
        body, (obs, state), jax.random.split(key, length)
    )
    states = jnp.concatenate([obs_seq, next_seq[-1:]], axis=0)
    return jnp.sum(rewards), states, actions


__all__ = [
    "AIRLConfig",
    "AIRLNetworks",
    "ContinuousDemos",
    "actor_episode",
    "actor_log_prob",
    "airl_learner",
    "airl_network_loss",
    "airl_sac",
    "continuous_demonstrations",
    "learned_reward_env",
]
