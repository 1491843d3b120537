"""One-step kernels shared by the backward and forward passes.

Every kernel is written once for both transition formats (dense `(S, A, S)` and `Successors`):

    expect(T, x)[s, a]            = sum_s' T(s'|s,a) x(s')                  (backward)
    log_expect_exact(T, lx)[s, a] = log sum_s' T(s'|s,a) exp(lx(s'))        (exact fallback)
    push(T, w)[s']                = sum_{s,a} w(s,a) T(s'|s,a)               (forward)
    log_push(T, lw)[s']           = log sum_{s,a} exp(lw(s,a)) T(s'|s,a)     (exact forward)

Log-space messages run as linear mat-vecs (dense) or one gather per successor slot (successor
lists) on max-shifted exponentials, with no (S, A, S) temporary. When some entry of such a
shifted result falls below sqrt(smallest normal) -- where underflow could lose precision -- a
`lax.cond` switches that step to a log-sum-exp over every entry (`log_expect_exact`, the exact
branch of `log_push`), so a log-space result is -inf only where the true sum is zero.

The predicate of every such cond is reduced over a `jax.vmap` batch as well (`all_of`): a
batch takes the fast branch when every member may, and the exact one (right for all) otherwise,
instead of the select that a batched predicate would turn the cond into (both branches run).

On successor lists XLA-CPU fuses the weighted sum of the K gathers into every consumer and
recomputes it there; `_once` keeps it one loop written once (on CPU only: the choice is made
per backend). Every logarithm on a per-state or per-(state, action) array goes through the
core's `log` (a vectorisable float64 kernel on CPU, `jnp.log` elsewhere).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._core import all_of, log, log_threshold, safe_log
from .._core import once as _once  # a module name: benchmarks/kernels.py patches it
from .mdp import Successors


def _gather_sum(index, prob, x: Float[Array, " S"]) -> Float[Array, "S A"]:
    """sum_k prob[s, a, k] x(index[s, a, k]), one gather per k (XLA runs these far faster than
    one (S, A, K) gather followed by a reduction). Indices are in range (checked by
    `TabularMDP`); "clip" keeps XLA from materialising in-range masks."""
    return sum(
        prob[..., k] * jnp.take(x, index[..., k], mode="clip") for k in range(index.shape[-1])
    )


def expect(transitions, x: Float[Array, " S"]) -> Float[Array, "S A"]:
    """E_{s' ~ T(.|s,a)}[x(s')], shape (S, A)."""
    if isinstance(transitions, Successors):
        return _once(_gather_sum, transitions.index, transitions.prob, x)
    s, a, _ = transitions.shape
    return (transitions.reshape(s * a, s) @ x).reshape(s, a)


def log_expect_exact(transitions, log_x: Float[Array, " S"]) -> Float[Array, "S A"]:
    """log E_{s' ~ T(.|s,a)}[exp(log_x(s'))], shape (S, A), as a log-sum-exp over every entry
    (the fallback of the exact backward step; no mat-vec)."""
    if isinstance(transitions, Successors):
        terms = safe_log(transitions.prob) + log_x[transitions.index]
        return jax.nn.logsumexp(terms, axis=-1)
    return jax.nn.logsumexp(safe_log(transitions) + log_x[None, None, :], axis=-1)


def push(transitions, w: Float[Array, "S A"]) -> Float[Array, " S"]:
    """sum_{s,a} w(s,a) T(s'|s,a), shape (S,)."""
    if isinstance(transitions, Successors):
        num_states = w.shape[0]
        mass = (transitions.prob * w[:, :, None]).ravel()
        return jax.ops.segment_sum(mass, transitions.index.ravel(), num_segments=num_states)
    s, a, _ = transitions.shape
    # `vector @ matrix` keeps XLA-CPU on its fast path; `matrix.T @ vector` does not (many times
    # slower when last measured; see benchmarks/RESULTS.md)
    return w.reshape(s * a) @ transitions.reshape(s * a, s)


def _log_push_exact(transitions, log_w: Float[Array, "S A"]) -> Float[Array, " S"]:
    """log_push as a log-sum-exp over every entry."""
    if isinstance(transitions, Successors):
        num_states = log_w.shape[0]
        terms = (safe_log(transitions.prob) + log_w[:, :, None]).ravel()
        ids = transitions.index.ravel()
        most = jax.ops.segment_max(terms, ids, num_segments=num_states)
        most = jnp.where(jnp.isfinite(most), most, 0)
        z = jax.ops.segment_sum(jnp.exp(terms - most[ids]), ids, num_segments=num_states)
        return jnp.where(z > 0, log(jnp.where(z > 0, z, 1)) + most, -jnp.inf)
    s, a, _ = transitions.shape
    terms = safe_log(transitions.reshape(s * a, s)) + log_w.reshape(s * a, 1)
    return jax.nn.logsumexp(terms, axis=0)


def log_push(transitions, log_w: Float[Array, "S A"]) -> Float[Array, " S"]:
    """log sum_{s,a} exp(log_w(s,a)) T(s'|s,a), shape (S,), exact in log space.

    A state may be unreachable (a true zero): when some entry of the shifted push falls below the
    threshold, a second push of the support indicator tells true zeros from underflow before the
    exact branch is taken.
    """
    top = jnp.max(log_w)
    top = jnp.where(jnp.isfinite(top), top, 0)
    y = push(transitions, jnp.exp(log_w - top))
    large = y >= log_threshold(y.dtype)

    def fast(log_w):
        del log_w
        return jnp.where(y > 0, log(jnp.where(y > 0, y, 1)) + top, -jnp.inf)

    def check_support(log_w):
        reach = push(transitions, (log_w > -jnp.inf).astype(log_w.dtype))
        exact = functools.partial(_log_push_exact, transitions)
        return jax.lax.cond(all_of(large | (reach == 0)), fast, exact, log_w)

    return jax.lax.cond(all_of(large), fast, check_support, log_w)
