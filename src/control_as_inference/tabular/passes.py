"""The one-step kernels of tabular inference and the scans over them.

Levine (2018), sections 2.3 and 3; the recursions are in `inference`'s module docstring. One
backward step (`backup`) turns V_{t+1} into (Q_t, V_t, log pi_t, log_cont_t); one forward step
(`propagate`) turns p(s_t | e) into p(s_{t+1} | e) and p(s_t, a_t | e).

    backward_kept   the reverse scan: V (H+1, S) and the (H, S, A) messages asked for
    forward_kept    the forward scan over given messages: p(s_t | e) and, if asked, p(s_t, a_t | e)

`backward` and `forward` are the all-messages forms. A message not kept is recomputed by running
`backward_kept` again from V_H asking for it: the same scan, so the same bits (XLA-CPU rounds
float32 differently when the same step is compiled into a different loop, e.g. one reading V_{t+1}
from the stored values: tests/tabular/test_posterior_memory.py).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._core import check_method, log, safe_log, soft_maximum, trustworthy
from ..engine import compact, expect, log_expect_exact, log_push, push
from .mdp import TabularMDP

MESSAGES = ("q", "log_policy", "log_continuation")
MARGINALS = ("state_marginals", "state_action_marginals")


class Spec(eqx.Module):
    """What every backward and forward step of one inference call reads besides the model:

    temperature alpha (), discount gamma (), log_prior = log p(a|s) (S, A) (computed once, outside
    the loops) and exact (static: sum-product with posterior dynamics, or the variational backup
    with the true dynamics). A pytree, so it may cross `jax.jit` and `lax.scan` boundaries.
    """

    temperature: Float[Array, ""]
    discount: Float[Array, ""]
    log_prior: Float[Array, "S A"]
    exact: bool = eqx.field(static=True)

    @classmethod
    def of(cls, mdp: TabularMDP, temperature, discount, method: str) -> Spec:
        exact = check_method(method) == "exact"
        dtype = mdp.dtype
        return cls(
            jnp.asarray(temperature, dtype),
            jnp.asarray(discount, dtype),
            mdp.log_action_prior,
            exact,
        )


def compacted(mdp: TabularMDP) -> TabularMDP:
    """mdp with its transitions in the hot loops' layout (`engine.compact`: 32-bit successor
    indices; the same values, so the same bits); called once, before a scan over the steps."""
    return eqx.tree_at(lambda m: m.transitions, mdp, compact(mdp.transitions))


def evidence(mdp: TabularMDP, spec: Spec, v0):
    """(log_evidence, log q(s_0)): exact log sum_s p0(s) exp(V_0(s)/alpha) and the posterior
    start; variational the bound sum_s p0(s) V_0(s)/alpha and log p0."""
    log_p0 = safe_log(mdp.initial)
    if not spec.exact:
        return jnp.sum(mdp.initial * v0) / spec.temperature, log_p0
    top = jnp.max(v0)
    log_start = log_p0 + (v0 - top) / spec.temperature
    log_norm = jax.nn.logsumexp(log_start)
    return top / spec.temperature + log_norm, log_start - log_norm


def backup(mdp: TabularMDP, spec: Spec, v_next, r_t):
    """One backward step: (q_t, v_t, log_pi_t, log_cont_t) from V_{t+1} and r_t (see `Posterior`);
    log_cont_t is () for variational inference, which does not need it."""
    alpha = spec.temperature
    if spec.exact:
        top = jnp.max(v_next)
        log_x = (v_next - top) / alpha
        log_cont = continuation(mdp.transitions, log_x, -top / alpha, spec.discount)
        q_t = r_t + (top + alpha * log_cont)
    else:
        log_cont = ()
        q_t = r_t + spec.discount * expect(mdp.transitions, v_next)
    v_t, log_pi_t = soft_maximum(q_t, spec.log_prior, alpha)
    return q_t, v_t, log_pi_t, log_cont


def continuation(transitions, log_x, log_stop, discount):
    """log(gamma E_{s'~T(.|s,a)}[exp(log_x(s'))] + (1 - gamma) exp(log_stop)), shape (S, A),
    for max log_x = 0 (so 1 >= E >= the smallest T entry times e^{min log_x}).

    One mat-vec or gather and one log per (s, a): with m = max(log_stop, 0) when gamma < 1
    (else m = 0 and c0 = 0, whatever log_stop) the sum is e^m (c E + c0) with c = gamma e^-m and
    c0 = (1 - gamma) e^(log_stop - m), both at most 1. Where some c E + c0 falls below
    sqrt(smallest normal) the step is redone as log-sum-exps (the engine's `log_expect_exact`).
    """
    stopping = discount < 1
    m = jnp.where(stopping, jnp.maximum(log_stop, 0), 0)
    c0 = jnp.where(stopping, (1 - discount) * jnp.exp(jnp.where(stopping, log_stop - m, 0)), 0)
    y = expect(transitions, jnp.exp(log_x))
    z = discount * jnp.exp(-m) * y + c0

    def fast(log_x):
        del log_x
        return m + log(z)

    def exact(log_x):
        log_e = log_expect_exact(transitions, log_x)
        return jnp.logaddexp(jnp.log(discount) + log_e, jnp.log1p(-discount) + log_stop)

    return jax.lax.cond(trustworthy(z), fast, exact, log_x)


def propagate(mdp: TabularMDP, spec: Spec, p_t, log_pi_t, log_cont_t, v_next):
    """One forward step: (p_{t+1}, p(s_t, a_t | e)) from p(s_t | e), with the posterior dynamics
    (exact) or the true dynamics (variational)."""
    alpha, discount = spec.temperature, spec.discount
    joint = p_t[:, None] * jnp.exp(log_pi_t)
    if not spec.exact:
        return discount * push(mdp.transitions, joint), joint
    # p(s'|s,a,e) = gamma T(s'|s,a) exp((V' - max V')/alpha) / exp(log_cont)
    top = jnp.max(v_next)
    log_w = safe_log(p_t)[:, None] + log_pi_t - log_cont_t  # log of S, not S x A, values
    log_next = jnp.log(discount) + (v_next - top) / alpha
    p_next = jnp.exp(log_next + log_push(mdp.transitions, log_w))
    # Conserve mass exactly: p(not absorbed | s,a,e) = 1 - (1-gamma) e^{-top/alpha} / e^{log_cont}.
    # (In float32 with |V|/alpha ~ 1e7 the entries carry O(1) log errors; their total need not.)
    survive = jnp.sum(joint * -jnp.expm1(jnp.log1p(-discount) - top / alpha - log_cont_t))
    total = jnp.sum(p_next)
    p_next = p_next * jnp.where(total > 0, survive / jnp.where(total > 0, total, 1), 1)
    return p_next, joint


def backward_kept(mdp: TabularMDP, spec: Spec, horizon: int, terminal_value, keep=MESSAGES):
    """The backward pass, one reverse `lax.scan` over the H steps, keeping only what is asked.

    Args:
        keep: names among `MESSAGES` (static) to stack over the steps; "log_continuation" is
            never kept for variational inference (it is zero there).

    Returns:
        v (H+1, S) and a dict of the kept (H, S, A) messages.
    """
    keep = tuple(n for n in keep if spec.exact or n != "log_continuation")
    mdp = compacted(mdp)

    def step(carry, t):
        v_next, v = carry
        r_t = mdp.reward[t] if mdp.time_varying else mdp.reward
        q_t, v_t, log_pi_t, log_cont_t = backup(mdp, spec, v_next, r_t)
        found = {"q": q_t, "log_policy": log_pi_t, "log_continuation": log_cont_t}
        return (v_t, v.at[t].set(v_t)), {name: found[name] for name in keep}

    # V_t is written in place into the (H+1, S) result, whose row H is the terminal value: no
    # stacked copy of the H rows and no concatenation afterwards (timed in benchmarks/RESULTS.md)
    v = jnp.zeros((horizon + 1, mdp.num_states), terminal_value.dtype)
    v = v.at[horizon].set(terminal_value)
    carry = (terminal_value, v)
    (_, v), kept = jax.lax.scan(step, carry, jnp.arange(horizon), reverse=True)
    return v, kept


def backward(mdp: TabularMDP, spec: Spec, horizon: int, terminal_value):
    """The backward pass keeping every message: q (H, S, A), v (H+1, S), log_policy (H, S, A) and
    log_continuation (H, S, A) (zeros for variational inference; see `Posterior`)."""
    v, kept = backward_kept(mdp, spec, horizon, terminal_value)
    q = kept["q"]
    log_cont = kept["log_continuation"] if spec.exact else jnp.zeros_like(q)
    return q, v, kept["log_policy"], log_cont


def forward_kept(mdp: TabularMDP, spec: Spec, v, log_initial, given: dict, joint=True):
    """The forward pass: one `lax.scan` propagating p(s_t | e) with the posterior dynamics (exact)
    or the true dynamics (variational).

    Args:
        given: the (H, S, A) messages "log_policy" and, exact, "log_continuation" (as kept by
            `backward_kept`; others are ignored).
        joint: (static) whether to stack p(s_t, a_t | e).

    Returns state_marginals (H+1, S) and state_action_marginals (H, S, A) (None unless joint).
    """

    mdp = compacted(mdp)

    def step(p_t, inputs):
        log_pi_t, log_cont_t, v_next = inputs
        p_next, joint_t = propagate(mdp, spec, p_t, log_pi_t, log_cont_t, v_next)
        return p_next, (p_t, joint_t if joint else None)

    log_cont = given["log_continuation"] if spec.exact else given["log_policy"]  # unread
    inputs = (given["log_policy"], log_cont, v[1:])
    p_h, (state_marginals, sa_marginals) = jax.lax.scan(step, jnp.exp(log_initial), inputs)
    return jnp.concatenate([state_marginals, p_h[None, :]], axis=0), sa_marginals


def forward(mdp: TabularMDP, spec: Spec, v, log_policy, log_cont, log_initial):
    """The forward pass reading every message (as `backward` returns them).

    Returns state_marginals (H+1, S) and state_action_marginals (H, S, A).
    """
    given = {"log_policy": log_policy, "log_continuation": log_cont}
    return forward_kept(mdp, spec, v, log_initial, given)
