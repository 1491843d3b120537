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
                  `temperature_loss_form="log"`. On Pendulum-v1 it scored about 1.3 higher,
                  `benchmarks/RESULTS.md`.)
    targets:      Q' <- tau Q + (1 - tau) Q'                               (Polyak)

log pi is the density of the environment's action a = scale tanh(u) + offset, so it includes
-sum log scale. The default H_target = -dim(A) + sum log scale is therefore -dim(A) for the action
rescaled to [-1, 1]^m: the convention in which the heuristic was made (Haarnoja et al.'s code,
stable-baselines3 and SBX compute log pi there). Taking -dim(A) for the unscaled density instead
aims at a less random policy on wide boxes: on Pendulum-v1 (scale 2) it cost about 10 in mean
return (three seeds, -180.7 against -171.0; `benchmarks/RESULTS.md`).

One `update` is one gradient step of all three (critic, actor, temperature, in that order, as in
the paper's algorithm 1; the temperature step reuses the actor step's samples of ã) and the
target update; `update_many` scans several.
"""

from __future__ import annotations

import dataclasses
import numbers

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array

from .networks import TanhGaussianActor, TwinCritic
from .replay import ReplayBuffer, buffer_add_many, buffer_init, buffer_sample


@dataclasses.dataclass(frozen=True)
class SACConfig:
    """Hyperparameters (defaults: rl-zoo's Pendulum-v1 settings, with 1e-3 learning rate).

    Attributes:
        learning_rate: Adam step size of actor, critic and temperature.
        batch_size, buffer_size: minibatch and replay capacity (batch <= buffer).
        learning_starts: uniform random actions and no updates before this many steps.
        gamma: discount; tau: Polyak rate of the target critics.
        hidden: widths of the hidden layers of every network.
        initial_temperature: alpha at the start; auto_temperature: learn alpha (eq. 18).
        target_entropy: H_target; None means -dim(A) + sum log scale, i.e. -dim(A) for the
            action rescaled to [-1, 1]^m (module docstring).
        gradient_steps: updates per step of the environments (`train.train`).
        temperature_loss_form: "eq18" (Haarnoja et al.'s J(alpha)) or "log" (stable-baselines3's
            and SBX's -log(alpha) E[log pi + H_target]); module docstring.
    """

    learning_rate: float = 1e-3
    batch_size: int = 256
    buffer_size: int = 1_000_000
    learning_starts: int = 100
    gamma: float = 0.99
    tau: float = 0.005
    hidden: tuple = (256, 256)
    initial_temperature: float = 1.0
    auto_temperature: bool = True
    target_entropy: float | None = None
    gradient_steps: int = 1
    temperature_loss_form: str = "eq18"

    def __post_init__(self):
        check_learning_settings(self)
        check_positive("initial_temperature", self.initial_temperature)
        if self.temperature_loss_form not in ("eq18", "log"):
            raise ValueError(
                "temperature_loss_form must be 'eq18' or 'log', got "
                f"{self.temperature_loss_form!r}."
            )


def check_learning_settings(config) -> None:
    """The settings every agent shares: ValueError naming the one that is out of range."""
    check_positive("learning_rate", config.learning_rate)
    for name in ("batch_size", "buffer_size", "gradient_steps"):
        check_int(name, getattr(config, name), 1)
    check_int("learning_starts", config.learning_starts, 0)
    if config.batch_size > config.buffer_size:
        raise ValueError(
            f"batch_size ({config.batch_size}) must not exceed buffer_size ({config.buffer_size})."
        )
    if not 0 <= config.gamma <= 1:
        raise ValueError(f"gamma must lie in [0, 1], got {config.gamma}.")
    if not 0 < config.tau <= 1:
        raise ValueError(f"tau must lie in (0, 1], got {config.tau}.")
    if not config.hidden or not all(isinstance(h, int) and h > 0 for h in config.hidden):
        raise ValueError(f"hidden must be a tuple of positive ints, got {config.hidden!r}.")


def check_positive(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"{name} must be a number > 0, got {value!r}.")


def check_int(name, value, low):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}.")


class SACState(eqx.Module):
    """Everything a run carries: networks, optimiser states, temperature, buffer, RNG, step."""

    actor: TanhGaussianActor
    critic: TwinCritic
    target_critic: TwinCritic
    log_alpha: Array
    actor_opt: optax.OptState
    critic_opt: optax.OptState
    alpha_opt: optax.OptState
    buffer: ReplayBuffer
    key: Array  # raw uint32 key data (serialisable)
    step: Array


def optimiser(config) -> optax.GradientTransformation:
    return optax.adam(config.learning_rate)


def sac_init(config: SACConfig, obs_dim: int, low, high, key) -> SACState:
    """Fresh networks (target critics = critics), optimisers and an empty buffer."""
    key = jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key
    k_actor, k_critic, k_run = jax.random.split(key, 3)
    actor = TanhGaussianActor(obs_dim, low, high, config.hidden, k_actor)
    critic = TwinCritic(obs_dim, actor.scale.shape[0], config.hidden, k_critic)
    log_alpha = jnp.log(jnp.asarray(config.initial_temperature, jnp.float32))
    opt = optimiser(config)
    return SACState(
        actor=actor,
        critic=critic,
        target_critic=jax.tree_util.tree_map(jnp.copy, critic),  # own buffers (donation)
        log_alpha=log_alpha,
        actor_opt=opt.init(eqx.filter(actor, eqx.is_inexact_array)),
        critic_opt=opt.init(eqx.filter(critic, eqx.is_inexact_array)),
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
    target = jax.lax.stop_gradient(reward + gamma * (1 - terminated) * soft_value)
    q1, q2 = jax.vmap(critic)(obs, action)
    return 0.5 * (jnp.mean((q1 - target) ** 2) + jnp.mean((q2 - target) ** 2))


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

    q_loss, grads = eqx.filter_value_and_grad(critic_objective)(state.critic)
    updates, critic_opt = opt.update(grads, state.critic_opt, state.critic)
    critic = eqx.apply_updates(state.critic, updates)

    def actor_objective(actor):
        return _actor_loss_and_log_pi(actor, critic, alpha, obs, k_actor)

    (pi_loss, log_pi), grads = eqx.filter_value_and_grad(actor_objective, has_aux=True)(state.actor)
    updates, actor_opt = opt.update(grads, state.actor_opt, state.actor)
    actor = eqx.apply_updates(state.actor, updates)

    # the temperature step uses the actor's samples of this update (algorithm 1's order)
    log_alpha, alpha_opt = state.log_alpha, state.alpha_opt
    if config.auto_temperature:
        grad = jax.grad(temperature_loss)(
            log_alpha, log_pi, target_entropy, config.temperature_loss_form
        )
        updates, alpha_opt = opt.update(grad, alpha_opt, log_alpha)
        log_alpha = optax.apply_updates(log_alpha, updates)

    target_critic = jax.tree_util.tree_map(
        lambda q, t: config.tau * q + (1 - config.tau) * t if eqx.is_inexact_array(q) else q,
        critic,
        state.target_critic,
    )
    new = dataclasses_replace(
        state,
        actor=actor,
        critic=critic,
        target_critic=target_critic,
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


def dataclasses_replace(module, **changes):
    """A copy of an equinox module with some fields replaced."""
    names = tuple(changes)
    return eqx.tree_at(
        lambda m: tuple(getattr(m, n) for n in names), module, tuple(changes[n] for n in names)
    )


def update_many(state: SACState, config: SACConfig, num: int) -> tuple[SACState, dict]:
    """`num` updates in one `lax.scan`; returns the metrics of the last."""
    return repeat_updates(update, state, config, num)


def repeat_updates(update_fn, state, config, num: int):
    """`num` calls of update_fn(state, config) -> (state, metrics) in one `lax.scan`; returns the
    metrics of the last."""

    def body(s, _):
        return update_fn(s, config)

    state, metrics = jax.lax.scan(body, state, None, length=num)
    return state, jax.tree_util.tree_map(lambda x: x[-1], metrics)


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


def observe_with(act_fn, update_fn, state, config, transitions, next_obs_for_action):
    """The store-learn-act step shared by the agents (`observe_many`): act_fn(state, obs (n, d),
    config) -> (actions, state); update_fn(state, config) -> (state, metrics)."""
    n = transitions[2].shape[0]
    buffer = buffer_add_many(state.buffer, *transitions)
    state = dataclasses_replace(state, buffer=buffer, step=state.step + n)

    def learn(s):
        return repeat_updates(update_fn, s, config, config.gradient_steps)

    def skip(s):
        metrics = jax.eval_shape(lambda: learn(s)[1])
        return s, jax.tree_util.tree_map(lambda x: jnp.full(x.shape, jnp.nan, x.dtype), metrics)

    state, metrics = jax.lax.cond(state.step >= config.learning_starts, learn, skip, state)
    action, state = act_fn(state, next_obs_for_action, config)
    return state, action, metrics
