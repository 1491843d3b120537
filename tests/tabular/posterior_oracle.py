"""The posterior as `infer` computed it before it could keep less (commit e223e2c), frozen.

The backward scan here stacks q, log pi and the continuation for every step and the forward scan
reads them back: the straightforward computation the lean posterior must reproduce bit for bit
(tests/tabular/test_posterior_memory.py). Only the scans are copied; the one-step kernels
(the engine's kernels, `soft_maximum`, `trustworthy`) are the library's, unchanged by that work.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from control_as_inference._core import log, safe_log, soft_maximum, trustworthy
from control_as_inference.engine import kernels as _kernels
from control_as_inference.tabular.inference import Spec, evidence


def continuation(transitions, log_x, log_stop, discount):
    stopping = discount < 1
    m = jnp.where(stopping, jnp.maximum(log_stop, 0), 0)
    c0 = jnp.where(stopping, (1 - discount) * jnp.exp(jnp.where(stopping, log_stop - m, 0)), 0)
    y = _kernels.expect(transitions, jnp.exp(log_x))
    z = discount * jnp.exp(-m) * y + c0

    def fast(log_x):
        del log_x
        return m + log(z)

    def exact(log_x):
        log_e = _kernels.log_expect_exact(transitions, log_x)
        return jnp.logaddexp(jnp.log(discount) + log_e, jnp.log1p(-discount) + log_stop)

    return jax.lax.cond(trustworthy(z), fast, exact, log_x)


def backup(mdp, spec, v_next, r_t):
    alpha = spec.temperature
    if spec.exact:
        top = jnp.max(v_next)
        log_x = (v_next - top) / alpha
        log_cont = continuation(mdp.transitions, log_x, -top / alpha, spec.discount)
        q_t = r_t + (top + alpha * log_cont)
    else:
        log_cont = ()
        q_t = r_t + spec.discount * _kernels.expect(mdp.transitions, v_next)
    v_t, log_pi_t = soft_maximum(q_t, spec.log_prior, alpha)
    return q_t, v_t, log_pi_t, log_cont


def propagate(mdp, spec, p_t, log_pi_t, log_cont_t, v_next):
    alpha, discount = spec.temperature, spec.discount
    joint = p_t[:, None] * jnp.exp(log_pi_t)
    if not spec.exact:
        return discount * _kernels.push(mdp.transitions, joint), joint
    top = jnp.max(v_next)
    log_w = safe_log(p_t)[:, None] + log_pi_t - log_cont_t
    log_next = jnp.log(discount) + (v_next - top) / alpha
    p_next = jnp.exp(log_next + _kernels.log_push(mdp.transitions, log_w))
    survive = jnp.sum(joint * -jnp.expm1(jnp.log1p(-discount) - top / alpha - log_cont_t))
    total = jnp.sum(p_next)
    p_next = p_next * jnp.where(total > 0, survive / jnp.where(total > 0, total, 1), 1)
    return p_next, joint


def backward(mdp, spec, horizon, terminal_value):
    def step(carry, t):
        v_next, v = carry
        r_t = mdp.reward[t] if mdp.time_varying else mdp.reward
        q_t, v_t, log_pi_t, log_cont = backup(mdp, spec, v_next, r_t)
        return (v_t, v.at[t].set(v_t)), (q_t, log_pi_t, log_cont)

    v = jnp.zeros((horizon + 1, mdp.num_states), terminal_value.dtype)
    v = v.at[horizon].set(terminal_value)
    (_, v), outputs = jax.lax.scan(step, (terminal_value, v), jnp.arange(horizon), reverse=True)
    q, log_policy, log_cont = outputs
    if not spec.exact:
        log_cont = jnp.zeros_like(q)
    return q, v, log_policy, log_cont


def forward(mdp, spec, v, log_policy, log_cont, log_initial):
    def step(p_t, inputs):
        log_pi_t, log_cont_t, v_next = inputs
        p_next, joint = propagate(mdp, spec, p_t, log_pi_t, log_cont_t, v_next)
        return p_next, (p_t, joint)

    p_h, (state_marginals, sa_marginals) = jax.lax.scan(
        step, jnp.exp(log_initial), (log_policy, log_cont, v[1:])
    )
    return jnp.concatenate([state_marginals, p_h[None, :]], axis=0), sa_marginals


@functools.partial(jax.jit, static_argnums=(4, 5))
def _oracle(mdp, temperature, discount, terminal_value, horizon, method):
    spec = Spec.of(mdp, temperature, discount, method)
    q, v, log_policy, log_cont = backward(mdp, spec, horizon, terminal_value)
    log_evidence, log_initial = evidence(mdp, spec, v[0])
    state_marginals, sa_marginals = forward(mdp, spec, v, log_policy, log_cont, log_initial)
    return {
        "q": q,
        "v": v,
        "log_policy": log_policy,
        "log_evidence": log_evidence,
        "state_marginals": state_marginals,
        "state_action_marginals": sa_marginals,
        "log_initial": log_initial,
        "log_continuation": log_cont,
    }


def oracle_posterior(mdp, horizon, temperature=1.0, method="exact", discount=1.0, terminal=None):
    """Every field of the old `Posterior`, as a dict of arrays."""
    dtype = mdp.dtype
    terminal = (
        jnp.zeros(mdp.num_states, dtype) if terminal is None else jnp.asarray(terminal, dtype)
    )
    return _oracle(mdp, jnp.asarray(temperature, dtype), jnp.asarray(discount, dtype), terminal,
               horizon, method)  # fmt: skip
