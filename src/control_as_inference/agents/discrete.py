"""Discrete actions: soft Q-learning (Haarnoja et al. 2017) and discrete SAC (Christodoulou 2019),
as pure losses, plus a learner on a tabular model that checks both against exact inference.

Soft Q-learning with action prior p(a|s) and temperature alpha (the library's convention; a
uniform prior gives the usual log-sum-exp up to the constant alpha log |A|):

    V'(s') = alpha log sum_a' p(a'|s') exp(Q'(s', a') / alpha)
    y = r + gamma (1 - d) V'(s'),     L = mean_b (Q(s, a) - y)^2

Its fixed point is `soft_value_iteration`'s Q. Discrete SAC replaces the sampled expectations of
SAC by sums over the actions:

    critic:       y = r + gamma (1 - d) sum_a' pi(a'|s') [min_i Q'_i(s', a') - alpha log pi(a'|s')]
    actor:        L_pi = mean_b sum_a pi(a|s) [alpha log pi(a|s) - min_i Q_i(s, a)]
    temperature:  J(alpha) = mean_b [-alpha (sum_a pi(a|s) log pi(a|s) + H_target)]

Its policy's fixed point is the soft-optimal policy with a uniform prior; its Q is the library's
Q plus gamma alpha log |A| / (1 - gamma) (no prior in its entropy bonus). Users report the
target entropy 0.98 log |A| (the paper's) making alpha diverge on some tasks; the default here is
`DEFAULT_TARGET_ENTROPY_SCALE` * log |A|.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array

from .._core import safe_log
from .common import polyak, twin_q_loss

DEFAULT_TARGET_ENTROPY_SCALE = 0.5


def soft_q_target(q_next, log_prior, reward, terminated, gamma, temperature):
    """y = r + gamma (1 - d) V'(s') with V'(s') = alpha log sum_a' p(a'|s') exp(Q'(s', a') / alpha)
    the prior-weighted soft maximum of q_next (B, A); log_prior (B, A) or (1, A), reward and
    terminated (B,) (or scalars)."""
    v_next = temperature * jax.nn.logsumexp(q_next / temperature + log_prior, axis=-1)
    return reward + gamma * (1 - terminated) * v_next


def chosen_q(q, action) -> Array:
    """Q(s_b, a_b) (B,) from the values q (B, A) of every action and integer actions (B,)."""
    return jnp.take_along_axis(q, action[:, None], axis=1)[:, 0]


def soft_q_loss(q, action, target) -> Array:
    """mean_b (Q(s_b, a_b) - y_b)^2 for q (B, A), integer actions (B,) and targets (B,)."""
    return jnp.mean((chosen_q(q, action) - jax.lax.stop_gradient(target)) ** 2)


def discrete_sac_target(q1_next, q2_next, log_pi_next, reward, terminated, gamma, alpha):
    """y = r + gamma (1 - d) sum_a' pi(a'|s') [min_i Q'_i(s', a') - alpha log pi(a'|s')]."""
    pi = jnp.exp(log_pi_next)
    soft = jnp.sum(pi * (jnp.minimum(q1_next, q2_next) - alpha * log_pi_next), axis=-1)
    return reward + gamma * (1 - terminated) * soft


def discrete_actor_loss(log_pi, q1, q2, alpha) -> Array:
    """mean_b sum_a pi(a|s) [alpha log pi(a|s) - min_i Q_i(s, a)] (critics held fixed)."""
    q = jax.lax.stop_gradient(jnp.minimum(q1, q2))
    return jnp.mean(jnp.sum(jnp.exp(log_pi) * (alpha * log_pi - q), axis=-1))


def discrete_temperature_loss(log_alpha, log_pi, target_entropy) -> Array:
    """J(alpha) = mean_b[-alpha (sum_a pi log pi + H_target)], alpha = exp(log_alpha)."""
    neg_entropy = jnp.sum(jnp.exp(log_pi) * log_pi, axis=-1)
    return -jnp.exp(log_alpha) * jnp.mean(jax.lax.stop_gradient(neg_entropy) + target_entropy)


# ----------------------------------------------------------------------------- tabular learners


def _sample_model(mdp, key, batch):
    """(s, a, r, s') with (s, a) uniform and s' ~ T(.|s, a): transitions drawn from the model."""
    k_s, k_a, k_next = jax.random.split(key, 3)
    s = jax.random.randint(k_s, (batch,), 0, mdp.num_states)
    a = jax.random.randint(k_a, (batch,), 0, mdp.num_actions)
    transitions = mdp.dense_transitions()
    s_next = jax.random.categorical(k_next, safe_log(transitions[s, a]))
    return s, a, mdp.reward[s, a], s_next


def _optimiser(learning_rate, updates):
    """SGD with a step decaying 1000-fold over the run (stochastic approximation: the iterates
    average out the sampling noise of the targets as the step shrinks)."""
    return optax.sgd(optax.exponential_decay(learning_rate, updates, 1e-3))


def tabular_soft_q_learning(
    mdp,
    temperature,
    discount,
    key,
    updates=6000,
    batch=256,
    learning_rate=2.0,
    tau=0.05,
):
    """Soft Q-learning of a Q table from model samples (SGD with a decaying step, Polyak target).

    Each of `updates` steps draws `batch` transitions (s, a uniform, s' ~ T(.|s, a)), takes one
    step on mean_b (Q(s, a) - y)^2 with y = `soft_q_target` of the target table, and moves the
    target table by Polyak averaging at rate tau. Returns the learned (S, A) Q table.
    """
    log_prior = mdp.log_action_prior
    q = jnp.zeros((mdp.num_states, mdp.num_actions), mdp.dtype)
    opt = _optimiser(learning_rate, updates)

    def step(carry, key):
        q, target, opt_state = carry
        s, a, r, s_next = _sample_model(mdp, key, batch)
        y = soft_q_target(target[s_next], log_prior[s_next], r, 0.0, discount, temperature)
        grad = jax.grad(lambda q: soft_q_loss(q[s], a, y))(q)
        updates_, opt_state = opt.update(grad, opt_state, q)
        q = optax.apply_updates(q, updates_)
        target = polyak(q, target, tau)
        return (q, target, opt_state), None

    keys = jax.random.split(key, updates)
    (q, _, _), _ = jax.lax.scan(step, (q, q, opt.init(q)), keys)
    return q


def tabular_discrete_sac(
    mdp, temperature, discount, key, updates=8000, batch=256, learning_rate=2.0, tau=0.05
):
    """Discrete SAC with a fixed temperature on tables (twin Q tables, a logits table), from
    model samples. Returns (q1 (S, A), log_pi (S, A))."""
    s_count, a_count = mdp.num_states, mdp.num_actions
    k1, k2, k_run = jax.random.split(key, 3)
    params = {
        "q1": 0.01 * jax.random.normal(k1, (s_count, a_count), mdp.dtype),
        "q2": 0.01 * jax.random.normal(k2, (s_count, a_count), mdp.dtype),
        "logits": jnp.zeros((s_count, a_count), mdp.dtype),
    }
    opt = _optimiser(learning_rate, updates)
    alpha = temperature

    def step(carry, key):
        params, target, opt_state = carry
        s, a, r, s_next = _sample_model(mdp, key, batch)
        log_pi_next = jax.nn.log_softmax(params["logits"][s_next])
        y = discrete_sac_target(
            target["q1"][s_next], target["q2"][s_next], log_pi_next, r, 0.0, discount, alpha
        )

        def loss(p):
            critic = twin_q_loss(chosen_q(p["q1"][s], a), chosen_q(p["q2"][s], a), y)
            log_pi = jax.nn.log_softmax(p["logits"][s])
            actor = discrete_actor_loss(log_pi, p["q1"][s], p["q2"][s], alpha)
            return critic + actor

        grads = jax.grad(loss)(params)
        updates_, opt_state = opt.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates_)
        target = polyak(params, target, tau)
        return (params, target, opt_state), None

    keys = jax.random.split(k_run, updates)
    (params, _, _), _ = jax.lax.scan(step, (params, params, opt.init(params)), keys)
    return params["q1"], jax.nn.log_softmax(params["logits"])
