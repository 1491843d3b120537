"""The sample-based IRL loop with a SAC generator, written once: AIRL (`airl_sac`) and guided
cost learning (`gcl_irl`) are two choices of its `RewardLearner`.

One round, all inside one jitted function (`make_round`):

1. relabel SAC's replay buffer with the current learned reward (SAC is off-policy: its stored
   rewards must be those of the current discriminator or cost), `learner.relabel`;
2. `round_steps` steps of SAC in the `envs.JaxEnv` on the learned reward `learner.reward` (the
   environment's own reward is only logged), each with `sac_config.gradient_steps` updates once
   `learning_starts` steps are stored;
3. `learner.fit`: the discriminator's or cost's own optimiser steps on the demonstrations
   against the generator (a fresh key; AIRL: batches from the buffer, GCL: sampled episodes),
   returning the round's objective.

The loop's whole state between rounds is a `RoundCarry`; `run_rounds` runs the rounds with a
progress bar and writes a checkpoint after each (`irl.round_checkpoint`), so that a resumed run
equals an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array

from .._core import dataclasses_replace, key_data
from ..agents import SACConfig, SACState, act_many, buffer_add, sac_init, update_many
from ..envs import JaxEnv
from .round_checkpoint import read_round_checkpoint, write_round_checkpoint


class RewardLearner(NamedTuple):
    """The pluggable part of the loop: a learned reward (a discriminator or a cost) `model`.

    relabel: (model, buffer) -> (B,) rewards of the whole replay buffer;
    reward: (model, obs (d,), action (m,), next_obs (d,), terminated ()) -> () the generator's
        reward for one step;
    fit: (model, opt_state, sac, key, data) -> (model, opt_state, objective ()) the round's
        updates of the model against the generator `sac` (a `SACState`), `data` the
        demonstrations as the round function's argument.
    """

    relabel: Callable
    reward: Callable
    fit: Callable


class RoundCarry(NamedTuple):
    """The loop's state between rounds (an equinox pytree; what a checkpoint holds).

    sac: the generator's `SACState` (networks, optimisers, replay buffer); model, opt_state:
    the learned reward and its optimiser's state; obs (d,), env_state: where the environment
    is; episode_return (): the running return of the environment's own reward, or None where
    it is not logged; key: raw uint32 key data (serialisable).
    """

    sac: SACState
    model: eqx.Module
    opt_state: optax.OptState
    obs: Array
    env_state: object
    episode_return: Array | None
    key: Array


class RoundPlan(NamedTuple):
    """How `run_rounds` runs: `rounds` in all, the checkpoint `path` (None: none), the progress
    bar's `desc` and `progress` (True always, False never, None only on a terminal)."""

    rounds: int
    path: str | None = None
    desc: str = "irl"
    progress: bool | None = None


def init_carry(
    env: JaxEnv, sac_config: SACConfig, model, optimizer, key, log_returns: bool = True
) -> RoundCarry:
    """A fresh state: `model` a function key -> the learned reward's module; key split four
    ways (SAC, model, environment, the loop's key)."""
    k_sac, k_model, k_env, key = jax.random.split(key, 4)
    module = model(k_model)
    sac = sac_init(sac_config, env.obs_dim, env.low, env.high, k_sac)
    obs, env_state = env.reset(k_env)
    opt_state = optimizer.init(eqx.filter(module, eqx.is_inexact_array))
    episode_return = jnp.zeros((), jnp.float32) if log_returns else None
    obs = obs.astype(jnp.float32)
    return RoundCarry(sac, module, opt_state, obs, env_state, episode_return, key_data(key))


def make_round(env: JaxEnv, sac_config: SACConfig, learner: RewardLearner, round_steps: int):
    """The jitted round (module docstring): (carry, data) -> (carry, (objective (),
    returns (round_steps,) the environment's episode returns where episodes ended, NaN
    elsewhere; None without logged returns))."""

    @eqx.filter_jit
    def run(carry: RoundCarry, data):
        model = carry.model
        buffer = carry.sac.buffer
        relabelled = dataclasses_replace(buffer, reward=learner.relabel(model, buffer))
        sac = dataclasses_replace(carry.sac, buffer=relabelled)
        act = _env_step(env, sac_config, learner, model)
        start = (sac, carry.obs.astype(jnp.float32), carry.env_state, carry.episode_return)
        (sac, obs, env_state, episode_return, key), returns = jax.lax.scan(
            act, (*start, carry.key), None, length=round_steps
        )
        key, k_fit = jax.random.split(key)
        model, opt_state, objective = learner.fit(model, carry.opt_state, sac, k_fit, data)
        new = RoundCarry(sac, model, opt_state, obs, env_state, episode_return, key)
        return new, (objective, returns)

    return run


def _env_step(env: JaxEnv, sac_config: SACConfig, learner: RewardLearner, model):
    """One environment step of SAC on the learned reward, for `lax.scan`."""

    def step(c, _):
        sac, obs, env_state, episode_return, key = c
        key, k_step, k_reset = jax.random.split(key, 3)
        action, sac = act_many(sac, obs[None], sac_config)
        next_obs, env_state, reward, terminated, truncated = env.step(k_step, env_state, action[0])
        next_obs = next_obs.astype(jnp.float32)
        learned = learner.reward(model, obs, action[0], next_obs, terminated)
        ended = terminated.astype(jnp.float32)
        buffer = buffer_add(sac.buffer, obs, action[0], learned, next_obs, ended)
        sac = dataclasses_replace(sac, buffer=buffer, step=sac.step + 1)
        sac = jax.lax.cond(
            sac.step >= sac_config.learning_starts,
            lambda s: update_many(s, sac_config, sac_config.gradient_steps)[0],
            lambda s: s,
            sac,
        )
        done = jnp.logical_or(terminated, truncated)
        logged = None
        if episode_return is not None:
            episode_return = episode_return + reward.astype(jnp.float32)
            logged = jnp.where(done, episode_return, jnp.nan)
            episode_return = jnp.where(done, 0.0, episode_return)
        reset_obs, reset_state = env.reset(k_reset)
        obs = jnp.where(done, reset_obs.astype(jnp.float32), next_obs)
        env_state = jax.tree_util.tree_map(
            lambda a, b: jnp.where(done, a, b), reset_state, env_state
        )
        return (sac, obs, env_state, episode_return, key), logged

    return step


def run_rounds(run, carry: RoundCarry, data, plan: RoundPlan, resume: bool = False):
    """Run `plan.rounds` rounds of `run` (from `make_round`) from `carry`, or from the
    checkpoint at `plan.path` when `resume`; a checkpoint after every round. Returns (carry,
    curve: the rounds' objectives, a list of floats).

    Raises:
        ValueError: a checkpoint of other settings (`read_round_checkpoint`), or one with more
            rounds than `plan.rounds` (named as `steps`, the drivers' argument).
    """
    from tqdm.auto import tqdm

    curve = []
    if resume:
        carry, curve = read_round_checkpoint(plan.path, carry)
        if len(curve) > plan.rounds:
            raise ValueError(
                f"steps: the checkpoint at {plan.path} has {len(curve)} rounds, more than the "
                f"{plan.rounds} of this run: resume with the same or a larger steps."
            )
    disable = None if plan.progress is None else not plan.progress
    bar = tqdm(total=plan.rounds, initial=len(curve), desc=plan.desc, disable=disable, leave=False)
    try:
        for _ in range(len(curve), plan.rounds):
            # optax's Adam relies on implicit int32/float promotion; allow it for this call
            with jax.numpy_dtype_promotion("standard"):
                carry, (objective, _) = run(carry, data)
            curve.append(float(objective))
            bar.set_postfix(objective=f"{curve[-1]:.4g}")
            bar.update()
            if plan.path is not None:
                write_round_checkpoint(plan.path, carry, curve)
    finally:
        bar.close()
    return carry, curve


def adam_steps(loss, optimizer, model, opt_state, xs, length: int | None = None):
    """`lax.scan` of Adam (any optax `optimizer`) steps on loss(model, x) over the leading axis
    of `xs` (or `length` steps of loss(model, None)): (model, opt_state, values (steps,))."""

    def step(c, x):
        model, opt_state = c
        value, grads = eqx.filter_value_and_grad(loss)(model, x)
        updates, opt_state = optimizer.update(grads, opt_state)
        return (eqx.apply_updates(model, updates), opt_state), value

    (model, opt_state), values = jax.lax.scan(step, (model, opt_state), xs, length=length)
    return model, opt_state, values


__all__ = [
    "RewardLearner",
    "RoundCarry",
    "RoundPlan",
    "adam_steps",
    "init_carry",
    "make_round",
    "run_rounds",
]
