"""One-step kernels of the KL-control solvers, written once for both layouts of p (dense (S, S)
and successor lists (S, K)):

    log_expect(p, lx)[s]  = log sum_s' p(s'|s) exp(lx(s'))          (log-space backup)
    log_law(p, lx)        = log p(s'|s) + lx(s') - log_expect(p, lx)[s]   (the optimal law)
    Operator(w, index)    a weighted adjacency with p's sparsity; apply(op, y)[s] = sum w y
    scaled(p, row, col)   the operator w[s, s'] = p(s'|s) exp(row(s) - col(s')), overflow-free
                          where row(s) - col(s') <= -log p(s'|s) + O(1)

On successor lists the log-space backup shifts every row by its own maximum (K gathers, exact: no
underflow whatever the costs). Dense rows are shifted by the global maximum (one mat-vec), with a
`lax.cond` fallback to a log-sum-exp over every entry when some shifted sum falls below
sqrt(smallest normal), as the tabular kernels do.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from .._core import log, once, safe_log, trustworthy
from ..tabular import Successors


class Operator(NamedTuple):
    """A non-negative (S, S) operator with the sparsity of p: dense weights (S, S) and index
    None, or successor weights (K, S) with their (K, S) index, slot-major: every slot's gather
    then reads contiguous memory (as fast as a CSR mat-vec at S = 1e6, against 1.4x slower
    with (S, K) rows; benchmarks/RESULTS.md)."""

    weights: Float[Array, "N S"]
    index: Int[Array, "K S"] | None


def _gather_sum(w, index, y):
    return sum(w[k] * jnp.take(y, index[k], mode="clip") for k in range(index.shape[0]))


def apply(op: Operator, y: Float[Array, " S"]) -> Float[Array, " S"]:
    """(W y)(s) = sum_s' W[s, s'] y(s'): one mat-vec, or one gather per successor slot.

    On CPU the gathers' sum is computed once into its own buffer (`_core.once`): otherwise
    XLA-CPU fuses it into every consumer inside the Krylov loop and recomputes it there (7x
    slower per iteration at S = 1e5 when measured). Other backends get the plain sum."""
    if op.index is None:
        return op.weights @ y
    w, index = op
    return once(_gather_sum, w, index, y)


def _row_logsumexp(terms):
    """log sum_k exp(terms[s, k]) per row, shifted by the row's maximum (exact, no underflow);
    -inf for a row of -infs."""
    top = jnp.max(terms, axis=1)
    top = jnp.where(jnp.isfinite(top), top, 0)
    total = jnp.sum(jnp.exp(terms - top[:, None]), axis=1)
    return jnp.where(total > 0, top + log(jnp.where(total > 0, total, 1)), -jnp.inf)


def _successor_terms(passive: Successors, log_x):
    return safe_log(passive.prob) + jnp.take(log_x, passive.index, mode="clip")


def log_expect(passive, log_x: Float[Array, " S"]) -> Float[Array, " S"]:
    """log sum_s' p(s'|s) exp(log_x(s')), shape (S,); -inf where every successor has -inf."""
    if isinstance(passive, Successors):
        return _row_logsumexp(_successor_terms(passive, log_x))
    top = jnp.max(log_x)
    top = jnp.where(jnp.isfinite(top), top, 0)
    y = passive @ jnp.exp(log_x - top)

    def fast(log_x):
        return jnp.where(y > 0, top + log(jnp.where(y > 0, y, 1)), -jnp.inf)

    def exact(log_x):
        return jax.nn.logsumexp(safe_log(passive) + log_x[None, :], axis=1)

    return jax.lax.cond(trustworthy(y), fast, exact, log_x)


def log_law(passive, log_x: Float[Array, " S"]) -> Float[Array, "S N"]:
    """log u(s'|s) = log p(s'|s) + log_x(s') - log sum_s'' p(s''|s) exp(log_x(s'')), in p's layout
    ((S, S) or (S, K) over successor slots); -inf where p is zero."""
    if isinstance(passive, Successors):
        terms = _successor_terms(passive, log_x)
        norm = _row_logsumexp(terms)[:, None]  # the terms once: gathers and logs not redone
    else:
        terms = safe_log(passive) + log_x[None, :]
        norm = log_expect(passive, log_x)[:, None]
    return jnp.where(terms > -jnp.inf, terms - norm, -jnp.inf)


def scaled(passive, row: Float[Array, " S"], col: Float[Array, " S"]) -> Operator:
    """W[s, s'] = p(s'|s) exp(row(s) - col(s')) (0 where p is 0), computed from logs."""
    if isinstance(passive, Successors):
        index = passive.index.T
        logw = safe_log(passive.prob.T) + row[None, :] - jnp.take(col, index, mode="clip")
        return Operator(jnp.exp(logw), index)
    logw = safe_log(passive) + row[:, None] - col[None, :]
    return Operator(jnp.exp(logw), None)


def restrict(op: Operator, keep: Array) -> Operator:
    """The operator with the rows and columns of states outside `keep` (S,) set to zero."""
    if op.index is None:
        return Operator(jnp.where(keep[:, None] & keep[None, :], op.weights, 0), None)
    mask = keep[None, :] & jnp.take(keep, op.index, mode="clip")
    return Operator(jnp.where(mask, op.weights, 0), op.index)
