"""Z-learning: the first-exit desirability learned from sampled transitions.

Todorov (2009), "Efficient computation of optimal actions" (PNAS): from a transition s -> s' of
the passive dynamics,

    z(s) <- (1 - eta) z(s) + eta exp(-q(s)) z(s'),

a stochastic approximation of z = G P z; from a transition of any other law u (off-policy), the
target is importance-weighted by p(s'|s) / u(s'|s). Terminal states keep z = exp(-q). Kept in
log space (log z(s) <- logaddexp(log(1-eta) + log z(s), log eta - q(s) + log z(s') + log w)), so
large costs do not underflow. The step size at the n-th visit of s is eta = c / (c + n): the first
visit replaces the initial guess, and sum eta = inf, sum eta^2 < inf as stochastic approximation
needs.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from .._core import check_int, check_positive, safe_log
from .model import LMDP, check_exits, log_passive


class Transitions(NamedTuple):
    """Sampled transitions: state (N,), next_state (N,) and log_weight (N,) = log p(s'|s) -
    log u(s'|s) (0 for samples of the passive dynamics)."""

    state: Int[Array, " N"]
    next_state: Int[Array, " N"]
    log_weight: Float[Array, " N"]


class ZLearning(NamedTuple):
    """log_z (S,) the learned log desirability (an unvisited interior state keeps its initial
    value) and visits (S,) how many updates each state received."""

    log_z: Float[Array, " S"]
    visits: Int[Array, " S"]


def sample_transitions(lmdp: LMDP, key, num: int, log_law=None) -> Transitions:
    """Simulate `num` transitions of first-exit episodes under p (or the law u given as log_law,
    in p's layout, e.g. a `KLSolution.log_policy`): episodes start at a uniformly drawn interior
    state and restart there when they reach a terminal state.

    Args:
        lmdp: the model (with terminal states).
        key: a jax.random key (required).
        num: number of transitions (a Python int).
        log_law: (S, S) or (S, K) log u in p's layout; None: the passive dynamics.
    """
    check_exits(lmdp)
    num = check_int("num", num, 1)
    log_p = log_passive(lmdp)
    log_u = log_p if log_law is None else jnp.asarray(log_law, lmdp.dtype)
    if log_u.shape != log_p.shape:
        raise ValueError(f"log_law must have p's layout {log_p.shape}, got {log_u.shape}.")
    return _sample(lmdp, key, log_p, log_u, num=num)


@functools.partial(jax.jit, static_argnames=("num",))
def _sample(lmdp: LMDP, key, log_p, log_u, num: int) -> Transitions:
    interior = ~lmdp.terminal
    log_start = jnp.where(interior, 0.0, -jnp.inf)
    start_key, key = jax.random.split(key)
    s0 = jax.random.categorical(start_key, log_start)

    def step(s, key):
        pick, restart = jax.random.split(key)
        slot = jax.random.categorical(pick, log_u[s])
        nxt = lmdp.passive.index[s, slot] if lmdp.is_sparse else slot
        fresh = jax.random.categorical(restart, log_start)
        following = jnp.where(lmdp.terminal[nxt], fresh, nxt)
        return following, (s, nxt, log_p[s, slot] - log_u[s, slot])

    _, (state, nxt, log_w) = jax.lax.scan(step, s0, jax.random.split(key, num))
    return Transitions(state, nxt, log_w)


def z_learning(lmdp: LMDP, samples: Transitions, step_scale: float = 10.0, init=None) -> ZLearning:
    """Z-learning over the samples in order (see the module docstring).

    Args:
        lmdp: the model; its terminal states keep log z = -q.
        samples: `Transitions` (from `sample_transitions` or any source).
        step_scale: c > 0 in eta = c / (c + n).
        init: (S,) initial log z of interior states; default 0.

    Returns:
        `ZLearning(log_z (S,), visits (S,))`.
    """
    c = check_positive("step_scale", step_scale)
    init = (
        jnp.zeros((lmdp.num_states,), lmdp.dtype) if init is None else jnp.asarray(init, lmdp.dtype)
    )
    if init.shape != (lmdp.num_states,):
        raise ValueError(f"init must have shape (S,) = ({lmdp.num_states},), got {init.shape}.")
    return _z_learning(lmdp, samples, jnp.asarray(c, lmdp.dtype), init)


@jax.jit
def _z_learning(lmdp: LMDP, samples: Transitions, c, init) -> ZLearning:
    log_z0 = jnp.where(lmdp.terminal, -lmdp.cost, init)

    def step(carry, sample):
        log_z, visits = carry
        s, nxt, log_w = sample
        eta = c / (c + visits[s].astype(c.dtype))
        target = jnp.log(eta) - lmdp.cost[s] + log_z[nxt] + log_w
        new = jnp.logaddexp(safe_log(1 - eta) + log_z[s], target)
        new = jnp.where(lmdp.terminal[s], log_z[s], new)
        return (log_z.at[s].set(new), visits.at[s].add(1)), None

    visits = jnp.zeros((lmdp.num_states,), jnp.int32)
    (log_z, visits), _ = jax.lax.scan(step, (log_z0, visits), tuple(samples))
    return ZLearning(log_z, visits)
