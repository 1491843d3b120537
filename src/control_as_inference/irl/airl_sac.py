"""AIRL on a continuous-action JAX environment with our SAC as the generator (the discriminator
of `airl.py` with MLPs for g and h).

One round of `airl_sac` is, all inside one jitted function:

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
from ..agents.common import dataclasses_replace, key_data
from ..agents.jax_train import JaxEnv
from ..agents.networks import mlp, tanh_gaussian_log_prob
from ..agents.replay import buffer_add, buffer_sample
from ..agents.sac import SACConfig, SACState, act_many, sac_init, update_many
from ..engine import ConvergenceWarning
from .airl import airl_discriminator_loss, airl_logits, shaped_reward
from .demonstrations import check_trajectories
from .result import IRLResult
from .round_checkpoint import read_round_checkpoint, round_checkpoint_path, write_round_checkpoint


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


class _Carry(NamedTuple):
    sac: SACState
    nets: AIRLNetworks
    opt_state: optax.OptState
    obs: Array
    env_state: object
    episode_return: Array
    key: Array  # raw uint32 key data (serialisable)


def airl_sac(
    env: JaxEnv,
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
    """AIRL with SAC as the generator (module docstring).

    Args:
        env: the environment (its reward is only logged, never learned from).
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
        ValueError: bad settings or demonstrations, resume without checkpoint_dir, or a
            checkpoint of other settings. FileNotFoundError: resume and no checkpoint.
    """
    from tqdm.auto import tqdm

    steps = check_int("steps", steps, 1)
    config = AIRLConfig() if config is None else config
    rounds = -(-steps // check_int("round_steps", config.round_steps, 1))
    # a buffer no larger than the run: every round relabels all of it
    size = rounds * config.round_steps
    if sac_config is None:  # alpha = 1: the generator maximises E[f - log pi], AIRL's objective
        sac_config = SACConfig(buffer_size=size, initial_temperature=1.0, auto_temperature=False)
    check_positive("learning_rate", config.learning_rate)
    if not isinstance(demonstrations, ContinuousDemos):
        raise ValueError("demonstrations: pass the result of continuous_demonstrations(...).")
    action_dim = int(np.shape(env.low)[0])
    demonstrations = continuous_demonstrations(
        *demonstrations, obs_dim=env.obs_dim, action_dim=action_dim
    )
    expert = tuple(jnp.asarray(x) for x in demonstrations.transitions())
    path = round_checkpoint_path(checkpoint_dir, "airl.eqx", resume)
    k_sac, k_nets, k_env, key = jax.random.split(key, 4)
    nets = AIRLNetworks(env.obs_dim, config.hidden, k_nets)
    optimizer = optax.adam(config.learning_rate)
    sac = sac_init(sac_config, env.obs_dim, env.low, env.high, k_sac)
    obs, env_state = env.reset(k_env)
    opt_state = optimizer.init(eqx.filter(nets, eqx.is_inexact_array))
    obs, zero = obs.astype(jnp.float32), jnp.zeros((), jnp.float32)
    carry = _Carry(sac, nets, opt_state, obs, env_state, zero, key_data(key))
    objective = []
    if resume:
        carry, objective = read_round_checkpoint(path, carry)
        if len(objective) > rounds:
            raise ValueError(
                f"steps: the checkpoint at {path} has {len(objective)} rounds, more than the "
                f"{rounds} of steps={steps}: resume with the same or a larger steps."
            )
    run = _round_fn(env, sac_config, config, optimizer)
    disable = None if progress is None else not progress
    bar = tqdm(total=rounds, initial=len(objective), desc="airl_sac", disable=disable, leave=False)
    try:
        for _ in range(len(objective), rounds):
            # optax's Adam relies on implicit int32/float promotion; allow it for this call
            with jax.numpy_dtype_promotion("standard"):
                carry, (loss, _) = run(carry, expert)
            objective.append(-float(loss))
            bar.set_postfix(objective=f"{objective[-1]:.4g}")
            bar.update()
            if path is not None:
                write_round_checkpoint(path, carry, objective)
    finally:
        bar.close()
    objective = np.asarray(objective)
    if objective[-1] > -0.9:
        warnings.warn(
            f"airl_sac: the discriminator separates expert and generator at the end (-L = "
            f"{objective[-1]:.3g}, chance is -1.386): the generator has not caught up; the "
            "learned reward may not yet explain the demonstrations. Train longer.",
            ConvergenceWarning,
            stacklevel=2,
        )
    return IRLResult(
        reward_model=carry.nets,
        solution=carry.sac,
        objective=objective,
        iterations=len(objective),
        method="airl",
        value=carry.nets.h,
    )


def _round_fn(env: JaxEnv, sac_config: SACConfig, config: AIRLConfig, optimizer):
    gamma = sac_config.gamma

    @eqx.filter_jit
    def run(carry: _Carry, expert):
        nets = carry.nets
        buffer = carry.sac.buffer
        relabelled = nets.f(buffer.obs, buffer.next_obs, gamma)
        sac = dataclasses_replace(carry.sac, buffer=dataclasses_replace(buffer, reward=relabelled))

        def env_step(c, _):
            sac, obs, env_state, episode_return, key = c
            key, k_step, k_reset = jax.random.split(key, 3)
            action, sac = act_many(sac, obs[None], sac_config)
            next_obs, env_state, reward, terminated, truncated = env.step(
                k_step, env_state, action[0]
            )
            next_obs = next_obs.astype(jnp.float32)
            learned = nets.f(obs[None], next_obs[None], gamma, terminated.astype(jnp.float32)[None])
            buffer = _add(sac.buffer, obs, action[0], learned[0], next_obs, terminated)
            sac = dataclasses_replace(sac, buffer=buffer, step=sac.step + 1)
            sac = jax.lax.cond(
                sac.step >= sac_config.learning_starts,
                lambda s: update_many(s, sac_config, sac_config.gradient_steps)[0],
                lambda s: s,
                sac,
            )
            episode_return = episode_return + reward.astype(jnp.float32)
            done = jnp.logical_or(terminated, truncated)
            logged = jnp.where(done, episode_return, jnp.nan)
            reset_obs, reset_state = env.reset(k_reset)
            obs = jnp.where(done, reset_obs.astype(jnp.float32), next_obs)
            env_state = jax.tree_util.tree_map(
                lambda a, b: jnp.where(done, a, b), reset_state, env_state
            )
            return (sac, obs, env_state, jnp.where(done, 0.0, episode_return), key), logged

        start = (
            sac,
            carry.obs.astype(jnp.float32),
            carry.env_state,
            carry.episode_return,
            carry.key,
        )
        (sac, obs, env_state, episode_return, key), returns = jax.lax.scan(
            env_step, start, None, length=config.round_steps
        )

        def disc_step(c, k):
            nets, opt_state = c
            k_e, k_p = jax.random.split(k)
            index = jax.random.randint(k_e, (config.batch_size,), 0, expert[0].shape[0])
            expert_batch = tuple(x[index] for x in expert)
            policy_batch = buffer_sample(sac.buffer, k_p, config.batch_size)
            policy_batch = (policy_batch[0], policy_batch[1], policy_batch[3])
            loss, grads = eqx.filter_value_and_grad(airl_network_loss)(
                nets, sac.actor, expert_batch, policy_batch, gamma
            )
            updates, opt_state = optimizer.update(grads, opt_state)
            return (eqx.apply_updates(nets, updates), opt_state), loss

        key, k_disc = jax.random.split(key)
        (nets, opt_state), losses = jax.lax.scan(
            disc_step, (nets, carry.opt_state), jax.random.split(k_disc, config.discriminator_steps)
        )
        new = _Carry(sac, nets, opt_state, obs, env_state, episode_return, key)
        return new, (jnp.mean(losses), returns)

    return run


def _add(buffer, obs, action, reward, next_obs, terminated):
    return buffer_add(buffer, obs, action, reward, next_obs, terminated.astype(jnp.float32))


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
    "airl_network_loss",
    "airl_sac",
    "continuous_demonstrations",
    "learned_reward_env",
]
