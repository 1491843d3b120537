"""Discrete-action agents on gymnasium: discrete SAC and soft Q-learning with networks, on the
losses of `agents.discrete` (see there for the equations).

- "dsac": a categorical actor, twin Q networks with one output per action, Polyak targets and a
  learned temperature (target entropy `target_entropy_scale` * log |A|).
- "sql": one Q network and its Polyak target; the policy is pi(a|s) ∝ exp(Q(s, a)/alpha) with a
  fixed temperature alpha and a uniform action prior.
"""

from __future__ import annotations

import dataclasses

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
    twin_q_loss,
)
from .discrete import (
    DEFAULT_TARGET_ENTROPY_SCALE,
    chosen_q,
    discrete_actor_loss,
    discrete_sac_target,
    discrete_temperature_loss,
    soft_q_loss,
    soft_q_target,
)
from .networks import MLP, CategoricalActor, DiscreteTwinCritic, mlp
from .replay import ReplayBuffer, buffer_init, buffer_sample

ALGORITHMS = ("dsac", "sql")


@dataclasses.dataclass(frozen=True, kw_only=True)
class DiscreteConfig(AgentConfig):
    """Hyperparameters of the discrete agents (defaults chosen for CartPole-v1).

    Attributes:
        algorithm: "dsac" or "sql".
        learning_rate, batch_size, buffer_size, learning_starts, gamma, tau, hidden, gradient_steps:
            as `common.AgentConfig` (learning_rate, gamma and gradient_steps keep
            its defaults).
        temperature: alpha (sql: fixed; dsac: initial value).
        auto_temperature: dsac learns alpha towards target_entropy_scale * log |A|.
        target_entropy_scale: the fraction of the maximal entropy log |A| aimed at.
    """

    batch_size: int = 128
    buffer_size: int = 100_000
    learning_starts: int = 1000
    tau: float = 0.01
    hidden: tuple = (128, 128)
    algorithm: str = "dsac"
    temperature: float = 0.05
    auto_temperature: bool = True
    target_entropy_scale: float = DEFAULT_TARGET_ENTROPY_SCALE

    def __post_init__(self):
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {self.algorithm!r}.")
        super().__post_init__()
        check_positive("temperature", self.temperature)
        if not 0 < self.target_entropy_scale < 1:
            raise ValueError(
                f"target_entropy_scale must lie in (0, 1), got {self.target_entropy_scale}."
            )


class DiscreteState(eqx.Module):
    """Networks, optimiser states, temperature, buffer, RNG key data and step of a run."""

    actor: CategoricalActor | None
    critic: DiscreteTwinCritic | MLP
    target_critic: DiscreteTwinCritic | MLP
    log_alpha: Array
    actor_opt: optax.OptState
    critic_opt: optax.OptState
    alpha_opt: optax.OptState
    buffer: ReplayBuffer
    key: Array
    step: Array
    num_actions: int = eqx.field(static=True)


def discrete_init(config: DiscreteConfig, obs_dim: int, num_actions: int, key) -> DiscreteState:
    """Fresh networks (target critics = critics), optimisers and an empty buffer; "sql" has no
    actor (its policy is the softmax of Q / alpha)."""
    k_actor, k_critic, k_run = jax.random.split(key_data(key), 3)
    opt = optimiser(config)
    if config.algorithm == "dsac":
        actor = CategoricalActor(obs_dim, num_actions, config.hidden, k_actor)
        critic = DiscreteTwinCritic(obs_dim, num_actions, config.hidden, k_critic)
        actor_opt = optimiser_init(opt, actor)
    else:
        actor, actor_opt = None, ()
        critic = mlp(obs_dim, num_actions, config.hidden, k_critic)
    log_alpha = jnp.log(jnp.asarray(config.temperature, jnp.float32))
    return DiscreteState(
        actor=actor,
        critic=critic,
        target_critic=jax.tree_util.tree_map(jnp.copy, critic),
        log_alpha=log_alpha,
        actor_opt=actor_opt,
        critic_opt=optimiser_init(opt, critic),
        alpha_opt=opt.init(log_alpha),
        buffer=buffer_init(config.buffer_size, obs_dim, None),
        key=k_run,
        step=jnp.zeros((), jnp.int32),
        num_actions=num_actions,
    )


def _log_policy(state: DiscreteState, obs, critic=None):
    """log pi(.|s) (A,) for one observation."""
    if state.actor is not None:
        return state.actor.log_probs(obs)
    q = (critic or state.critic)(obs)
    return jax.nn.log_softmax(q / jnp.exp(state.log_alpha))


def discrete_update(state: DiscreteState, config: DiscreteConfig):
    """One gradient step on a sampled minibatch: the critic ("sql": soft Q-learning's loss;
    "dsac": the twin-Q error on discrete SAC's target), then for "dsac" the actor and the
    temperature, then the Polyak target (`agents.discrete` has the equations)."""
    opt = optimiser(config)
    key, k_batch = jax.random.split(state.key)
    obs, action, reward, next_obs, terminated = buffer_sample(
        state.buffer, k_batch, config.batch_size
    )
    alpha = jnp.exp(state.log_alpha)
    log_uniform = -jnp.log(float(state.num_actions)) * jnp.ones(state.num_actions, jnp.float32)

    if config.algorithm == "sql":
        q_next = jax.vmap(state.target_critic)(next_obs)
        target = soft_q_target(
            q_next, log_uniform[None, :], reward, terminated, config.gamma, alpha
        )

        def critic_objective(critic):
            return soft_q_loss(jax.vmap(critic)(obs), action, target)

    else:
        q1_next, q2_next = jax.vmap(state.target_critic)(next_obs)
        log_pi_next = jax.vmap(state.actor.log_probs)(next_obs)
        target = discrete_sac_target(
            q1_next, q2_next, log_pi_next, reward, terminated, config.gamma, alpha
        )

        def critic_objective(critic):
            q1, q2 = jax.vmap(critic)(obs)
            return twin_q_loss(chosen_q(q1, action), chosen_q(q2, action), target)

    q_loss, critic, critic_opt = gradient_step(
        opt, critic_objective, state.critic, state.critic_opt
    )
    changes = {"critic": critic, "critic_opt": critic_opt}
    metrics = {"critic_loss": q_loss, "temperature": alpha}

    if config.algorithm == "dsac":
        q1, q2 = jax.vmap(critic)(obs)

        def actor_objective(actor):
            log_pi = jax.vmap(actor.log_probs)(obs)
            return discrete_actor_loss(log_pi, q1, q2, alpha), log_pi

        (pi_loss, log_pi), actor, actor_opt = gradient_step(
            opt, actor_objective, state.actor, state.actor_opt, has_aux=True
        )
        changes.update(actor=actor, actor_opt=actor_opt)
        metrics["actor_loss"] = pi_loss
        if config.auto_temperature:
            target_entropy = config.target_entropy_scale * jnp.log(float(state.num_actions))
            grad = jax.grad(discrete_temperature_loss)(state.log_alpha, log_pi, target_entropy)
            updates, alpha_opt = opt.update(grad, state.alpha_opt, state.log_alpha)
            changes.update(
                log_alpha=optax.apply_updates(state.log_alpha, updates), alpha_opt=alpha_opt
            )
        metrics["entropy"] = -jnp.mean(jnp.sum(jnp.exp(log_pi) * log_pi, axis=-1))
    else:
        metrics["actor_loss"] = jnp.float32(jnp.nan)
        log_pi = jax.vmap(lambda o: _log_policy(state, o, critic))(obs)
        metrics["entropy"] = -jnp.mean(jnp.sum(jnp.exp(log_pi) * log_pi, axis=-1))

    changes["target_critic"] = polyak(critic, state.target_critic, config.tau)
    changes["key"] = key
    return dataclasses_replace(state, **changes), metrics


def discrete_act(state: DiscreteState, obs, config: DiscreteConfig, deterministic: bool = False):
    """(action, state): uniform before learning_starts, then a sample of pi (or its mode)."""
    action, state = discrete_act_many(state, jnp.asarray(obs)[None], config, deterministic)
    return action[0], state


def discrete_act_many(
    state: DiscreteState, obs, config: DiscreteConfig, deterministic: bool = False
):
    """`discrete_act` for n observations (n, obs_dim): actions (n,). For n = 1 the draws are
    those of `discrete_act`."""
    obs = jnp.asarray(obs, jnp.float32)
    log_pi = jax.vmap(lambda o: _log_policy(state, o))(obs)
    if deterministic:
        return jnp.argmax(log_pi, axis=-1), state
    key, k_pi, k_uniform = jax.random.split(state.key, 3)
    sampled = jax.random.categorical(k_pi, log_pi)
    uniform = jax.random.randint(k_uniform, sampled.shape, 0, state.num_actions)
    action = jnp.where(state.step < config.learning_starts, uniform, sampled)
    return action, dataclasses_replace(state, key=key)


def discrete_observe(state: DiscreteState, config: DiscreteConfig, transition, next_obs):
    """Store a transition, learn if past learning_starts, choose the next action."""
    many = tuple(jnp.asarray(x)[None] for x in transition)
    state, action, metrics = discrete_observe_many(state, config, many, jnp.asarray(next_obs)[None])
    return state, action[0], metrics


def discrete_observe_many(state: DiscreteState, config: DiscreteConfig, transitions, next_obs):
    """`discrete_observe` for one step of n environments (as `sac.observe_many`)."""
    return observe_with(discrete_act_many, discrete_update, state, config, transitions, next_obs)
