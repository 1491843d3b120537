"""The log-space kernels over a transition model, written once for both layouts (dense (*R, S)
and `Successors` (*R, K); see `transitions`). With rows R ((S, A) for an MDP, (S,) for KL
control's passive dynamics):

    expect(T, x)[r]            = sum_s' T(s'|r) x(s')                        (mat-vec, backward)
    log_expect_exact(T, lx)[r] = log sum_s' T(s'|r) exp(lx(s'))              (log-sum-exp, exact)
    log_expect(T, lx)[r]       = the same, fast: lists shifted row by row; dense shifted by
                                 max lx (one mat-vec) with the exact fallback
    log_law(T, lx)[r, n]       = log T(s'|r) + lx(s') - log_expect(T, lx)[r]  (posterior dynamics)
    push(T, w)[s']             = sum_r w(r) T(s'|r)                          (forward)
    log_push(T, lw)[s']        = log sum_r exp(lw(r)) T(s'|r)                (exact forward)

    Operator(weights, index)   a non-negative square (S, S) operator with T's sparsity (rows (S,)),
                               for linear solves: apply_operator(op, y)[s] = sum_s' W[s, s'] y(s')
    scaled_operator(T, row, col), restrict_operator(op, keep)

Log space is kept without eps clamping: messages run as linear mat-vecs (dense) or one gather per
successor slot (lists) on max-shifted exponentials, with no (*R, S) temporary. When some entry of
a shifted result falls below sqrt(smallest normal) -- where underflow could lose precision -- a
`lax.cond` switches that step to a log-sum-exp over every entry, so a log-space result is -inf
only where the true sum is zero. Every such predicate is reduced over a `jax.vmap` batch as well
(`_core.all_of`): a batch takes the fast branch when every member may, the exact one otherwise,
instead of the select a batched predicate would make of the cond (both branches run).

On successor lists XLA-CPU fuses the weighted sum of the K gathers into every consumer and
recomputes it there; `_core.once` keeps it one loop written once (on CPU only: the choice is made
per backend). Every logarithm of a per-row array goes through the core's `log` (a vectorisable
float64 kernel on CPU, `jnp.log` elsewhere).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from .._core import all_of, log, log_threshold, safe_log, trustworthy
from .._core import once as _once  # a module name: benchmarks/kernels.py patches it
from .transitions import Successors


def gather_sum(index, prob, x: Float[Array, " S"]) -> Float[Array, "*R"]:
    """sum_k prob[r, k] x(index[r, k]), one gather per slot k (XLA runs these far faster than one
    (*R, K) gather followed by a reduction). Indices are in range (checked by
    `check_transitions`); "clip" keeps XLA from materialising in-range masks."""
    return sum(
        prob[..., k] * jnp.take(x, index[..., k], mode="clip") for k in range(index.shape[-1])
    )


def expect(transitions, x: Float[Array, " S"]) -> Float[Array, "*R"]:
    """E_{s' ~ T(.|r)}[x(s')], shape (*R,)."""
    if isinstance(transitions, Successors):
        return _once(gather_sum, transitions.index, transitions.prob, x)
    *rows, s = transitions.shape
    return (transitions.reshape(-1, s) @ x).reshape(rows)


def _last_axis(x: Float[Array, " S"], dense) -> Array:
    """x shaped (1, ..., 1, S) to broadcast over a dense (*R, S) model's rows."""
    return x.reshape((1,) * (dense.ndim - 1) + x.shape)


def log_expect_exact(transitions, log_x: Float[Array, " S"]) -> Float[Array, "*R"]:
    """log E_{s' ~ T(.|r)}[exp(log_x(s'))], shape (*R,), as a log-sum-exp over every entry (the
    fallback of the fast paths; no mat-vec)."""
    if isinstance(transitions, Successors):
        terms = safe_log(transitions.prob) + log_x[transitions.index]
        return jax.nn.logsumexp(terms, axis=-1)
    return jax.nn.logsumexp(safe_log(transitions) + _last_axis(log_x, transitions), axis=-1)


def _row_logsumexp(terms):
    """log sum_k exp(terms[r, k]) per row, shifted by the row's maximum (exact, no underflow);
    -inf for a row of -infs."""
    top = jnp.max(terms, axis=-1)
    top = jnp.where(jnp.isfinite(top), top, 0)
    total = jnp.sum(jnp.exp(terms - top[..., None]), axis=-1)
    return jnp.where(total > 0, top + log(jnp.where(total > 0, total, 1)), -jnp.inf)


def _successor_terms(transitions: Successors, log_x):
    return safe_log(transitions.prob) + jnp.take(log_x, transitions.index, mode="clip")


def log_expect(transitions, log_x: Float[Array, " S"]) -> Float[Array, "*R"]:
    """log sum_s' T(s'|r) exp(log_x(s')), shape (*R,); -inf where every successor has -inf.

    Successor lists: every row shifted by its own maximum (exact whatever the spread of log_x).
    Dense: shifted by max log_x, one mat-vec, and `log_expect_exact` where that underflows."""
    if isinstance(transitions, Successors):
        return _row_logsumexp(_successor_terms(transitions, log_x))
    top = jnp.max(log_x)
    top = jnp.where(jnp.isfinite(top), top, 0)
    y = expect(transitions, jnp.exp(log_x - top))

    def fast(log_x):
        return jnp.where(y > 0, top + log(jnp.where(y > 0, y, 1)), -jnp.inf)

    return jax.lax.cond(
        trustworthy(y), fast, functools.partial(log_expect_exact, transitions), log_x
    )


def log_law(transitions, log_x: Float[Array, " S"]) -> Float[Array, "*R N"]:
    """log u(s'|r) = log T(s'|r) + log_x(s') - log sum_s'' T(s''|r) exp(log_x(s'')), in T's
    layout ((*R, S), or (*R, K) over successor slots); -inf where T is zero."""
    if isinstance(transitions, Successors):
        terms = _successor_terms(transitions, log_x)
        norm = _row_logsumexp(terms)[..., None]  # the terms once: gathers and logs not redone
    else:
        terms = safe_log(transitions) + _last_axis(log_x, transitions)
        norm = log_expect(transitions, log_x)[..., None]
    return jnp.where(terms > -jnp.inf, terms - norm, -jnp.inf)


def push(transitions, w: Float[Array, "*R"]) -> Float[Array, " S"]:
    """sum_r w(r) T(s'|r), shape (S,)."""
    if isinstance(transitions, Successors):
        num_states = w.shape[0]
        mass = (transitions.prob * w[..., None]).ravel()
        return jax.ops.segment_sum(mass, transitions.index.ravel(), num_segments=num_states)
    s = transitions.shape[-1]
    # `vector @ matrix` keeps XLA-CPU on its fast path; `matrix.T @ vector` does not (many times
    # slower when last measured; see benchmarks/RESULTS.md)
    return w.reshape(-1) @ transitions.reshape(-1, s)


def _log_push_exact(transitions, log_w: Float[Array, "*R"]) -> Float[Array, " S"]:
    """log_push as a log-sum-exp over every entry."""
    if isinstance(transitions, Successors):
        num_states = log_w.shape[0]
        terms = (safe_log(transitions.prob) + log_w[..., None]).ravel()
        ids = transitions.index.ravel()
        most = jax.ops.segment_max(terms, ids, num_segments=num_states)
        most = jnp.where(jnp.isfinite(most), most, 0)
        z = jax.ops.segment_sum(jnp.exp(terms - most[ids]), ids, num_segments=num_states)
        return jnp.where(z > 0, log(jnp.where(z > 0, z, 1)) + most, -jnp.inf)
    s = transitions.shape[-1]
    terms = safe_log(transitions.reshape(-1, s)) + log_w.reshape(-1, 1)
    return jax.nn.logsumexp(terms, axis=0)


def log_push(transitions, log_w: Float[Array, "*R"]) -> Float[Array, " S"]:
    """log sum_r exp(log_w(r)) T(s'|r), shape (S,), exact in log space.

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


class Operator(NamedTuple):
    """A non-negative (S, S) operator with the sparsity of a (S,)-row model: dense weights (S, S)
    and index None, or successor weights (K, S) with their (K, S) index, slot-major: every slot's
    gather then reads contiguous memory (as fast as a CSR mat-vec at S = 1e6, against 1.4x slower
    with (S, K) rows; benchmarks/RESULTS.md)."""

    weights: Float[Array, "N S"]
    index: Int[Array, "K S"] | None


def _slot_gather_sum(w, index, y):
    return sum(w[k] * jnp.take(y, index[k], mode="clip") for k in range(index.shape[0]))


def apply_operator(op: Operator, y: Float[Array, " S"]) -> Float[Array, " S"]:
    """(W y)(s) = sum_s' W[s, s'] y(s'): one mat-vec, or one gather per successor slot.

    On CPU the gathers' sum is computed once into its own buffer (`_core.once`): otherwise
    XLA-CPU fuses it into every consumer inside a Krylov loop and recomputes it there (7x slower
    per iteration at S = 1e5 when measured). Other backends get the plain sum."""
    if op.index is None:
        return op.weights @ y
    w, index = op
    return _once(_slot_gather_sum, w, index, y)


def scaled_operator(transitions, row: Float[Array, " S"], col: Float[Array, " S"]) -> Operator:
    """W[s, s'] = T(s'|s) exp(row(s) - col(s')) (0 where T is 0), computed from logs; rows (S,),
    overflow-free where row(s) - col(s') <= -log T(s'|s) + O(1)."""
    if isinstance(transitions, Successors):
        index = transitions.index.T
        logw = safe_log(transitions.prob.T) + row[None, :] - jnp.take(col, index, mode="clip")
        return Operator(jnp.exp(logw), index)
    logw = safe_log(transitions) + row[:, None] - col[None, :]
    return Operator(jnp.exp(logw), None)


def restrict_operator(op: Operator, keep: Array) -> Operator:
    """The operator with the rows and columns of states outside `keep` (S,) set to zero."""
    if op.index is None:
        return Operator(jnp.where(keep[:, None] & keep[None, :], op.weights, 0), None)
    mask = keep[None, :] & jnp.take(keep, op.index, mode="clip")
    return Operator(jnp.where(mask, op.weights, 0), op.index)
