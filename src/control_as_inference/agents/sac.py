"""Soft actor-critic for continuous actions (Haarnoja et al. 2018, "Soft Actor-Critic Algorithms
and Applications"), the variational backup of control as inference learned from samples.

With temperature alpha, a batch (s, a, r, s', d) and a' ~ pi(.|s'), ã ~ pi(.|s):

    critic:       y = r + gamma (1 - d) (min_i Q'_i(s', a') - alpha log pi(a'|s'))
                  L_Q = 1/2 sum_i E[(Q_i(s, a) - y)^2]                    (eq. 5-6)
    actor:        L_pi = E[alpha log pi(ã|s) - min_i Q_i(s, ã)]           (eq. 7, 10)
    temperature:  J(alpha) = E[-alpha log pi(ã|s) - alpha H_target]      (eq. 18)
                  optimised in log alpha; its gradient is -alpha E[log pi + H_target].
                  (stable-baselines3 and SBX minimise -log(alpha) E[log pi + H_target] instead:
                  the same sign, a gradient larger by the factor 1 / alpha; it is
                  `temperature_loss_form="log"`. On Pendulum-v1 it scored slightly higher
                  (measured in benchmarks/RESULTS.md).)
    targets:      Q' <- tau Q + (1 - tau) Q'                               (Polyak)

log pi is the density of the environment's action a = scale tanh(u) + offset, so it includes
-sum log scale. The default H_target = -dim(A) + sum log scale is therefore -dim(A) for the action
rescaled to [-1, 1]^m: the convention in which the heuristic was made (Haarnoja et al.'s code,
stable-baselines3 and SBX compute log pi there). Taking -dim(A) for the unscaled density instead
aims at a less random policy on wide boxes: on Pendulum-v1 (scale 2) it lowered the mean
return (measured in benchmarks/RESULTS.md).

Only the networks' weights train (`common.trainable`): the action box (scale, offset) is the
environment's and stays fixed, and so do the default H_target and the uniform box of the
exploration before learning_starts. log alpha changes only with auto_temperature.

One `update` is one gradient step of all three (critic, actor, temperature, in that order, as in
the paper's algorithm 1; the temperature step reuses the actor step's samples of ã) and the
target update; `update_many` scans several.
"""

from __future__ import annotations

import dataclasses
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array

from .._core import check_positive
from .common import (
    AgentConfig,
    dataclasses_replace,
    gradient_step,
    key_data,
    observe_with,
    optimiser,
    optimiser_init,
    polyak,
    repeat_updates,
    twin_q_loss,
)
from .networks import LinearGaussianActor, QuadraticTwinCritic, TanhGaussianActor, TwinCritic
from .replay import ReplayBuffer, buffer_init, buffer_sample

NETWORKS = ("mlp", "linear_quadratic")


@dataclasses.dataclass(frozen=True, kw_only=True)
class SACConfig(AgentConfig):
    """Hyperparameters (defaults: rl-zoo's Pendulum-v1 settings, with 1e-3 learning rate).

    Attributes:
        learning_rate, batch_size, buffer_size, learning_starts, gamma, tau, hidden, gradient_steps:
            as `common.AgentConfig` (its defaults).
        initial_temperature: alpha at the start; auto_temperature: learn alpha (eq. 18).
        target_entropy: H_target; None means -dim(A) + sum log scale, i.e. -dim(A) for the
            action rescaled to [-1, 1]^m (module docstring).
        temperature_loss_form: "eq18" (Haarnoja et al.'s J(alpha)) or "log" (stable-baselines3's
            and SBX's -log(alpha) E[log pi + H_target]); module docstring.
        networks: "mlp" (a tanh-Gaussian actor and MLP twin critics of widths `hidden`) or
            "linear_quadratic" (the function class of soft LQR: a linear-Gaussian actor with a
            state-independent covariance, no squashing, and quadratic twin critics; `hidden` is
            unused). With it SAC on a linear-Gaussian system reproduces `lqr.soft_lqr_infinite`
            (`networks.LinearGaussianActor`, `envs.linear_gaussian`).
    """

    initial_temperature: float = 1.0
    auto_temperature: bool = True
    target_entropy: float | None = None
    temperature_loss_form: str = "eq18"
    networks: str = "mlp"

    def __post_init__(self):
        super().__post_init__()
        check_positive("initial_temperature", self.initial_temperature)
        if self.target_entropy is not None and not math.isfinite(self.target_entropy):
            raise ValueError(
                f"target_entropy must be finite (or None: -dim(A)), got {self.target_entropy!r}."
            )
        if self.networks not in NETWORKS:
            raise ValueError(
                f"networks must be one of {', '.join(map(repr, NETWORKS))}, got {self.networks!r}."
            )
        if self.temperature_loss_form not in ("eq18", "log"):
            raise ValueError(
                "temperature_loss_form must be 'eq18' or 'log', got "
                f"{self.temperature_loss_form!r}."
            )


class SACState(eqx.Module):
    """Everything a run carries: networks, optimiser states, temperature, buffer, RNG, step."""

    actor: TanhGaussianActor | LinearGaussianActor
    critic: TwinCritic | QuadraticTwinCritic
    target_critic: TwinCritic | QuadraticTwinCritic
    log_alpha: Array
    actor_opt: optax.OptState
    critic_opt: optax.OptState
    alpha_opt: optax.OptState
    buffer: ReplayBuffer
    key: Array  # raw uint32 key data (serialisable)
    step: Array


def sac_init(config: SACConfig, obs_dim: int, low, high, key) -> SACState:
    """Fresh networks (target critics = critics), optimisers and an empty buffer."""
    k_actor, k_critic, k_run = jax.random.split(key_data(key), 3)
    if config.networks == "linear_quadratic":
        actor = LinearGaussianActor(obs_dim, low, high, k_actor)
        critic = QuadraticTwinCritic(obs_dim, actor.scale.shape[0], k_critic)
    else:
        actor = TanhGaussianActor(obs_dim, low, high, config.hidden, k_actor)
        critic = TwinCritic(obs_dim, actor.scale.shape[0], config.hidden, k_critic)
    log_alpha = jnp.log(jnp.asarray(config.initial_temperature, jnp.float32))
    opt = optimiser(config)
    return SACState(
        actor=actor,
        critic=critic,
        target_critic=jax.tree_util.tree_map(jnp.copy, critic),  # own buffers (donation)
        log_alpha=log_alpha,
        actor_opt=optimiser_init(opt, actor),  # the trunk's weights: not the action box
        critic_opt=optimiser_init(opt, critic),
        alpha_opt=opt.init(log_alpha),
        buffer=buffer_init(config.buffer_size, obs_dim, actor.scale.shape[0]),
        key=k_run,
        step=jnp.zeros((), jnp.int32),
    )


# ----------------------------------------------------------------------------- losses


def critic_loss(critic, target_critic, actor, alpha, batch, key, gamma) -> Array:
    """L_Q = 1/2 sum_i mean_b (Q_i(s, a) - y)^2 with the soft target y (module docstring)."""
    obs, action, reward, next_obs, terminated = batch
    next_action, next_log_pi = actor.sample_batch(next_obs, key)
    q1_next, q2_next = jax.vmap(target_critic)(next_obs, next_action)
    soft_value = jnp.minimum(q1_next, q2_next) - alpha * next_log_pi
    target = reward + gamma * (1 - terminated) * soft_value
    q1, q2 = jax.vmap(critic)(obs, action)
    return twin_q_loss(q1, q2, target)


def actor_loss(actor, critic, alpha, obs, key) -> Array:
    """L_pi = mean_b [alpha log pi(ã|s) - min_i Q_i(s, ã)], ã reparameterised."""
    return _actor_loss_and_log_pi(actor, critic, alpha, obs, key)[0]


def _actor_loss_and_log_pi(actor, critic, alpha, obs, key):
    action, log_pi = actor.sample_batch(obs, key)
    q1, q2 = jax.vmap(critic)(obs, action)
    return jnp.mean(alpha * log_pi - jnp.minimum(q1, q2)), log_pi


def temperature_loss(log_alpha, log_pi, target_entropy, form: str = "eq18") -> Array:
    """J(alpha) = mean_b[-alpha (log pi(ã|s) + H_target)] (eq. 18), alpha = exp(log_alpha);
    form "log": mean_b[-log(alpha) (log pi(ã|s) + H_target)] (stable-baselines3, SBX)."""
    weight = jnp.exp(log_alpha) if form == "eq18" else log_alpha
    return -weight * jnp.mean(jax.lax.stop_gradient(log_pi) + target_entropy)


# ----------------------------------------------------------------------------- updates


def default_target_entropy(scale, target_entropy=None):
    """H_target: the given value, or -dim(A) for the action rescaled to [-1, 1]^m, which is
    -dim(A) + sum log scale for the density of the environment's action."""
    if target_entropy is not None:
        return target_entropy
    return -scale.shape[0] + jnp.sum(jnp.log(jax.lax.stop_gradient(scale)))


def update(state: SACState, config: SACConfig) -> tuple[SACState, dict]:
    """One gradient step on a sampled minibatch (module docstring)."""
    opt = optimiser(config)
    key, k_batch, k_critic, k_actor = jax.random.split(state.key, 4)
    batch = buffer_sample(state.buffer, k_batch, config.batch_size)
    obs = batch[0]
    target_entropy = default_target_entropy(state.actor.scale, config.target_entropy)
    alpha = jnp.exp(state.log_alpha)

    def critic_objective(critic):
        return critic_loss(
            critic, state.target_critic, state.actor, alpha, batch, k_critic, config.gamma
        )

    q_loss, critic, critic_opt = gradient_step(
        opt, critic_objective, state.critic, state.critic_opt
    )

    def actor_objective(actor):
        return _actor_loss_and_log_pi(actor, critic, alpha, obs, k_actor)

    # only the trunk trains: the action box (scale, offset) is the environment's, not a parameter
    (pi_loss, log_pi), actor, actor_opt = gradient_step(
        opt, actor_objective, state.actor, state.actor_opt, has_aux=True
    )

    # the temperature step uses the actor's samples of this update (algorithm 1's order)
    log_alpha, alpha_opt = state.log_alpha, state.alpha_opt
    if config.auto_temperature:
        grad = jax.grad(temperature_loss)(
            log_alpha, log_pi, target_entropy, config.temperature_loss_form
        )
        updates, alpha_opt = opt.update(grad, alpha_opt, log_alpha)
        log_alpha = optax.apply_updates(log_alpha, updates)

    new = dataclasses_replace(
        state,
        actor=actor,
        critic=critic,
        target_critic=polyak(critic, state.target_critic, config.tau),
        log_alpha=log_alpha,
        actor_opt=actor_opt,
        critic_opt=critic_opt,
        alpha_opt=alpha_opt,
        key=key,
    )
    return new, {
        "critic_loss": q_loss,
        "actor_loss": pi_loss,
        "temperature": alpha,
        "entropy": -jnp.mean(log_pi),
    }


def update_many(state: SACState, config: SACConfig, num: int) -> tuple[SACState, dict]:
    """`num` updates in one `lax.scan`; returns the metrics of the last."""
    return repeat_updates(update, state, config, num)


def act(state: SACState, obs, config: SACConfig, deterministic: bool = False):
    """(action, state): uniform in the box before learning_starts, then pi's sample (or its
    mean action when deterministic)."""
    action, state = act_many(state, jnp.asarray(obs)[None], config, deterministic)
    return action[0], state


def act_many(state: SACState, obs, config: SACConfig, deterministic: bool = False):
    """`act` for n observations (n, obs_dim) at once (n environments): actions (n, m). One key
    split per call; for n = 1 the draws are those of `act`."""
    obs = jnp.asarray(obs, state.actor.scale.dtype)
    if deterministic:
        return jax.vmap(state.actor.deterministic)(obs), state
    key, k_pi, k_uniform = jax.random.split(state.key, 3)
    shape = (obs.shape[0], *state.actor.scale.shape)
    eps = jax.random.normal(k_pi, shape, state.actor.scale.dtype)
    action, _ = jax.vmap(state.actor.sample_from_noise)(obs, eps)
    low = state.actor.offset - state.actor.scale
    uniform = jax.random.uniform(k_uniform, shape, action.dtype, low, low + 2 * state.actor.scale)
    action = jnp.where(state.step < config.learning_starts, uniform, action)
    return action, dataclasses_replace(state, key=key)


def observe(state: SACState, config: SACConfig, transition, next_obs_for_action):
    """Store a transition, learn if past learning_starts, and choose the next action.

    Args:
        transition: (obs, action, reward, next_obs, terminated) of the step just taken.
        next_obs_for_action: the observation to act on next (the reset one after an episode).

    Returns:
        (state, next action, metrics).
    """
    many = tuple(jnp.asarray(x)[None] for x in transition)
    state, action, metrics = observe_many(
        state, config, many, jnp.asarray(next_obs_for_action)[None]
    )
    return state, action[0], metrics


def observe_many(state: SACState, config: SACConfig, transitions, next_obs_for_action):
    """`observe` for one step of n environments: each part of `transitions` and
    `next_obs_for_action` has a leading axis n. The step count grows by n; then
    `config.gradient_steps` updates (once learning_starts is reached) and n next actions."""
    return observe_with(act_many, update, state, config, transitions, next_obs_for_action)
