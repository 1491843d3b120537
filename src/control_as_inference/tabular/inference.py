"""Exact and variational inference in tabular control as inference.

Levine (2018), "Reinforcement Learning and Control as Probabilistic Inference: Tutorial and
Review", sections 2.3 (exact inference) and 3 (variational inference). Messages are kept in log
space and in reward units (multiplied by the temperature alpha):

    V_H(s)        = terminal_value(s)
    exact:        Q_t(s,a) = r_t(s,a) + alpha log(gamma E_{s'~T}[exp(V_{t+1}(s')/alpha)] + 1-gamma)
    variational:  Q_t(s,a) = r_t(s,a) + gamma E_{s'~T}[V_{t+1}(s')]
    V_t(s)        = alpha log sum_a p(a|s) exp(Q_t(s,a)/alpha)
    log pi_t(a|s) = log p(a|s) + (Q_t(s,a) - V_t(s))/alpha

A discount gamma < 1 is an absorbing zero-reward state entered with probability 1 - gamma at every
step; marginals are then those of the S real states and sum to the probability of not yet being
absorbed (gamma^t for variational inference).

The backward pass is one reverse `lax.scan`, the forward pass one forward `lax.scan`, both over the
shared kernels of `_kernels`.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._core import (
    check_discount,
    check_int,
    check_method,
    check_temperature,
    is_concrete,
    log,
    safe_log,
    soft_maximum,
    trustworthy,
)
from . import _kernels
from .mdp import TabularMDP


class Posterior(eqx.Module):
    """The trajectory posterior p(tau | e_{0:H-1} = 1) (exact) or its variational approximation.

    Attributes:
        q: (H, S, A) soft Q-values Q_t(s, a), reward units.
        v: (H+1, S) soft values V_t(s); v[H] is the terminal value.
        log_policy: (H, S, A) log pi_t(a|s) = log p(a|s) + (Q_t - V_t)/temperature.
        log_evidence: () exact: log p(e_{0:H-1} = 1) = log sum_s p0(s) exp(V_0(s)/temperature);
            variational: the lower bound sum_s p0(s) V_0(s) / temperature.
        state_marginals: (H+1, S) p(s_t = s | e) under the posterior (exact: with the posterior
            start state and dynamics; variational: p0 and the true dynamics).
        state_action_marginals: (H, S, A) p(s_t = s, a_t = a | e).
        log_initial: (S,) log of the posterior start distribution
            (exact: p0(s) exp(V_0(s)/temperature) normalised; variational: log p0).
        log_continuation: (H, S, A) exact: log(gamma E[exp((V_{t+1} - max V_{t+1})/alpha)] + (1 -
            gamma) exp(-max V_{t+1}/alpha)), the normaliser of the posterior dynamics with V_{t+1}
            shifted by its maximum; variational: zeros.
        mdp, temperature, discount, method: what was inferred.
    """

    q: Float[Array, "H S A"]
    v: Float[Array, "H+1 S"]
    log_policy: Float[Array, "H S A"]
    log_evidence: Float[Array, ""]
    state_marginals: Float[Array, "H+1 S"]
    state_action_marginals: Float[Array, "H S A"]
    log_initial: Float[Array, " S"]
    log_continuation: Float[Array, "H S A"]
    mdp: TabularMDP
    temperature: Float[Array, ""]
    discount: Float[Array, ""]
    method: str = eqx.field(static=True)

    @property
    def horizon(self) -> int:
        return self.q.shape[0]

    @property
    def policy(self) -> Float[Array, "H S A"]:
        """pi_t(a|s), shape (H, S, A)."""
        return jnp.exp(self.log_policy)


def check_horizon(horizon) -> int:
    return check_int("horizon", horizon, 0)


def check_terminal_value(terminal_value, mdp: TabularMDP) -> Array:
    if terminal_value is None:
        return jnp.zeros((mdp.num_states,), mdp.dtype)
    terminal_value = jnp.asarray(terminal_value, dtype=mdp.dtype)
    if terminal_value.shape != (mdp.num_states,):
        raise ValueError(
            f"terminal_value must have shape (S,) = ({mdp.num_states},), "
            f"got {terminal_value.shape}."
        )
    if is_concrete(terminal_value) and not jnp.all(jnp.isfinite(terminal_value)):
        raise ValueError("terminal_value must be finite (no NaN or inf).")
    return terminal_value


def check_reward_horizon(mdp: TabularMDP, horizon: int) -> None:
    if mdp.time_varying and mdp.reward.shape[0] != horizon:
        raise ValueError(
            f"reward is time-varying with {mdp.reward.shape[0]} steps but horizon is "
            f"{horizon}; they must be equal."
        )


def stepwise_reward(mdp: TabularMDP, horizon: int) -> Float[Array, "H S A"]:
    """The reward at every step, (H, S, A)."""
    check_reward_horizon(mdp, horizon)
    if mdp.time_varying:
        return mdp.reward
    return jnp.broadcast_to(mdp.reward, (horizon, *mdp.reward.shape))


def infer(
    mdp: TabularMDP,
    horizon,
    temperature=1.0,
    method: str = "exact",
    discount=1.0,
    terminal_value=None,
) -> Posterior:
    """Backward and forward messages of tabular control as inference.

    Args:
        mdp: the model.
        horizon: H >= 0, number of decisions (a Python int).
        temperature: alpha > 0 (scalar; may be traced, e.g. under `jax.vmap`: a traced value
            is checked when the computation runs, which then raises instead of returning NaN;
            see `check_traced`).
        method: "exact" (sum-product on the graphical model: optimistic posterior dynamics and
            start state) or "variational" (soft Bellman backup with the true dynamics; maximum
            entropy RL).
        discount: gamma in (0, 1], see the module docstring (traced: as temperature).
        terminal_value: (S,) V_H, zeros if None.

    Returns:
        A `Posterior`; see its fields for shapes and maths.

    Works under `jax.jit` (horizon and method static) and `jax.vmap` (e.g. over a batch of
    rewards or temperatures).
    """
    args = check_arguments(mdp, horizon, temperature, method, discount, terminal_value)
    return _infer(mdp, args)


class InferenceArgs(eqx.Module):
    """`infer`'s arguments once checked: horizon and method are static (Python values, part of
    the jit cache key), the others arrays of the model's dtype."""

    horizon: int = eqx.field(static=True)
    temperature: Float[Array, ""]
    discount: Float[Array, ""]
    terminal_value: Float[Array, " S"]
    method: str = eqx.field(static=True)


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


def check_arguments(mdp, horizon, temperature, method, discount, terminal_value) -> InferenceArgs:
    """Validate `infer`'s arguments (ValueError naming the field; traced values are checked
    when the computation runs, `check_traced`)."""
    check_method(method)
    horizon = check_horizon(horizon)
    temperature, discount = check_traced(
        check_temperature(temperature, mdp.dtype), check_discount(discount, mdp.dtype)
    )
    terminal_value = check_terminal_value(terminal_value, mdp)
    check_reward_horizon(mdp, horizon)
    return InferenceArgs(horizon, temperature, discount, terminal_value, method)


TRACED_TEMPERATURE = "temperature must be finite and > 0 (checked on a traced value)"
TRACED_DISCOUNT = "discount must lie in (0, 1] (checked on a traced value)"


def check_traced(temperature, discount):
    """(temperature, discount), each checked when the computation runs if it is traced.

    Under `jax.jit`, `jax.vmap` or `jax.grad` Python cannot see a traced value, so the
    ValueError of `check_temperature` / `check_discount` cannot be raised, and temperature 0
    would give NaN. `equinox.error_if` puts the check into the computation instead: running it
    raises a runtime error with the message (`equinox.EquinoxRuntimeError` under
    `equinox.filter_jit`, JAX's runtime error under `jax.jit`; EQX_ON_ERROR=nan in the
    environment returns NaN instead). Concrete values were checked already and cost nothing.
    """
    if not is_concrete(temperature):
        bad = ~((temperature > 0) & jnp.isfinite(temperature))
        temperature = eqx.error_if(temperature, bad, TRACED_TEMPERATURE)
    if not is_concrete(discount):
        bad = ~((discount > 0) & (discount <= 1))
        discount = eqx.error_if(discount, bad, TRACED_DISCOUNT)
    return temperature, discount


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


@jax.jit
def _infer(mdp: TabularMDP, args: InferenceArgs) -> Posterior:
    spec = Spec.of(mdp, args.temperature, args.discount, args.method)
    q, v, log_policy, log_cont = backward(mdp, spec, args.horizon, args.terminal_value)
    log_evidence, log_initial = evidence(mdp, spec, v[0])
    state_marginals, sa_marginals = forward(mdp, spec, v, log_policy, log_cont, log_initial)
    return Posterior(
        q=q,
        v=v,
        log_policy=log_policy,
        log_evidence=log_evidence,
        state_marginals=state_marginals,
        state_action_marginals=sa_marginals,
        log_initial=log_initial,
        log_continuation=log_cont,
        mdp=mdp,
        temperature=args.temperature,
        discount=args.discount,
        method=args.method,
    )


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
        q_t = r_t + spec.discount * _kernels.expect(mdp.transitions, v_next)
    v_t, log_pi_t = soft_maximum(q_t, spec.log_prior, alpha)
    return q_t, v_t, log_pi_t, log_cont


def continuation(transitions, log_x, log_stop, discount):
    """log(gamma E_{s'~T(.|s,a)}[exp(log_x(s'))] + (1 - gamma) exp(log_stop)), shape (S, A),
    for max log_x = 0 (so 1 >= E >= the smallest T entry times e^{min log_x}).

    One mat-vec or gather and one log per (s, a): with m = max(log_stop, 0) when gamma < 1
    (else m = 0 and c0 = 0, whatever log_stop) the sum is e^m (c E + c0) with c = gamma e^-m and
    c0 = (1 - gamma) e^(log_stop - m), both at most 1. Where some c E + c0 falls below
    sqrt(smallest normal) the step is redone as log-sum-exps (`_kernels.log_expect_exact`).
    """
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


def propagate(mdp: TabularMDP, spec: Spec, p_t, log_pi_t, log_cont_t, v_next):
    """One forward step: (p_{t+1}, p(s_t, a_t | e)) from p(s_t | e), with the posterior dynamics
    (exact) or the true dynamics (variational)."""
    alpha, discount = spec.temperature, spec.discount
    joint = p_t[:, None] * jnp.exp(log_pi_t)
    if not spec.exact:
        return discount * _kernels.push(mdp.transitions, joint), joint
    # p(s'|s,a,e) = gamma T(s'|s,a) exp((V' - max V')/alpha) / exp(log_cont)
    top = jnp.max(v_next)
    log_w = safe_log(p_t)[:, None] + log_pi_t - log_cont_t  # log of S, not S x A, values
    log_next = jnp.log(discount) + (v_next - top) / alpha
    p_next = jnp.exp(log_next + _kernels.log_push(mdp.transitions, log_w))
    # Conserve mass exactly: p(not absorbed | s,a,e) = 1 - (1-gamma) e^{-top/alpha} / e^{log_cont}.
    # (In float32 with |V|/alpha ~ 1e7 the entries carry O(1) log errors; their total need not.)
    survive = jnp.sum(joint * -jnp.expm1(jnp.log1p(-discount) - top / alpha - log_cont_t))
    total = jnp.sum(p_next)
    p_next = p_next * jnp.where(total > 0, survive / jnp.where(total > 0, total, 1), 1)
    return p_next, joint


def backward(mdp: TabularMDP, spec: Spec, horizon: int, terminal_value):
    """The backward pass: one reverse `lax.scan` over the H steps.

    Returns q (H, S, A), v (H+1, S), log_policy (H, S, A) and log_continuation (H, S, A) (see
    `Posterior`).
    """

    def step(carry, t):
        v_next, v = carry
        r_t = mdp.reward[t] if mdp.time_varying else mdp.reward
        q_t, v_t, log_pi_t, log_cont = backup(mdp, spec, v_next, r_t)
        return (v_t, v.at[t].set(v_t)), (q_t, log_pi_t, log_cont)

    # V_t is written in place into the (H+1, S) result, whose row H is the terminal value: no
    # stacked copy of the H rows and no concatenation afterwards (timed in benchmarks/RESULTS.md)
    v = jnp.zeros((horizon + 1, mdp.num_states), terminal_value.dtype)
    v = v.at[horizon].set(terminal_value)
    carry = (terminal_value, v)
    (_, v), outputs = jax.lax.scan(step, carry, jnp.arange(horizon), reverse=True)
    q, log_policy, log_cont = outputs
    if not spec.exact:
        log_cont = jnp.zeros_like(q)
    return q, v, log_policy, log_cont


def forward(mdp: TabularMDP, spec: Spec, v, log_policy, log_cont, log_initial):
    """The forward pass: one `lax.scan` propagating p(s_t | e) with the posterior dynamics (exact)
    or the true dynamics (variational).

    Returns state_marginals (H+1, S) and state_action_marginals (H, S, A).
    """

    def step(p_t, inputs):
        log_pi_t, log_cont_t, v_next = inputs
        p_next, joint = propagate(mdp, spec, p_t, log_pi_t, log_cont_t, v_next)
        return p_next, (p_t, joint)

    p_h, (state_marginals, sa_marginals) = jax.lax.scan(
        step, jnp.exp(log_initial), (log_policy, log_cont, v[1:])
    )
    return jnp.concatenate([state_marginals, p_h[None, :]], axis=0), sa_marginals
