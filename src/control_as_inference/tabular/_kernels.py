"""One-step kernels shared by the backward and forward passes.

Every kernel is written once for both transition formats (dense `(S, A, S)` and `Successors`):

    expect(T, x)[s, a]         = sum_s' T(s'|s,a) x(s')                    (variational backward)
    log_expect(T, lx)[s, a]    = log sum_s' T(s'|s,a) exp(lx(s'))          (exact backward)
    push(T, w)[s']             = sum_{s,a} w(s,a) T(s'|s,a)                 (variational forward)
    log_push(T, lw)[s']        = log sum_{s,a} exp(lw(s,a)) T(s'|s,a)       (exact forward)

The log-space kernels are exact in pure log space. They run as one mat-vec (dense) or one
gather per successor slot (successor lists) on max-shifted exponentials, with no (S, A, S)
temporary. When some row's shifted sum falls below sqrt(smallest normal) -- where underflow could
lose precision -- a `lax.cond` switches that step to a log-sum-exp over every entry, so a
log-space result is -inf only where the true sum is zero. Under `jax.vmap` the cond becomes a
select and both branches run: batched exact inference is correct but pays for the fallback.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .mdp import Successors


def safe_log(p: Array) -> Array:
    """log p with log 0 = -inf and a finite gradient wherever p > 0."""
    positive = p > 0
    return jnp.where(positive, jnp.log(jnp.where(positive, p, 1)), -jnp.inf)


def _log_matvec(matrix: Float[Array, "M N"], log_x: Float[Array, " K"], *, transpose: bool):
    """log(matrix @ exp(log_x)) (K = N), or log(exp(log_x) @ matrix) with transpose (K = M), for a
    non-negative matrix, stably (see the module docstring).

    Without transpose every row must have support (rows of T sum to one and log_x is finite).
    With it a column may be exactly zero: when some column falls below the threshold, a second
    product with the support indicator tells true zeros from underflow. (`vector @ matrix` keeps
    XLA on its fast path; `matrix.T @ vector` does not.)
    """
    top = jnp.max(log_x)
    top = jnp.where(jnp.isfinite(top), top, 0)
    scaled = jnp.exp(log_x - top)
    y = scaled @ matrix if transpose else matrix @ scaled
    trustworthy = y >= _threshold(matrix.dtype)

    def fast(matrix, log_x):
        del matrix, log_x
        return jnp.where(y > 0, jnp.log(jnp.where(y > 0, y, 1)) + top, -jnp.inf)

    def exact(matrix, log_x):
        terms = safe_log(matrix) + (log_x[:, None] if transpose else log_x[None, :])
        return jax.nn.logsumexp(terms, axis=0 if transpose else 1)

    def check_support(matrix, log_x):
        reach = (log_x > -jnp.inf).astype(matrix.dtype) @ matrix
        return jax.lax.cond(jnp.all(trustworthy | (reach == 0)), fast, exact, matrix, log_x)

    otherwise = check_support if transpose else exact
    return jax.lax.cond(jnp.all(trustworthy), fast, otherwise, matrix, log_x)


def _threshold(dtype) -> float:
    return float(jnp.finfo(dtype).tiny) ** 0.5


def _gather_sum(successors: Successors, x: Float[Array, " S"]) -> Float[Array, "S A"]:
    """sum_k prob[s, a, k] x(index[s, a, k]), one gather per k (XLA runs these far faster than
    one (S, A, K) gather followed by a reduction)."""
    index, prob = successors
    return sum(
        prob[..., k] * jnp.take(x, index[..., k], mode="fill") for k in range(index.shape[-1])
    )


def expect(transitions, x: Float[Array, " S"]) -> Float[Array, "S A"]:
    """E_{s' ~ T(.|s,a)}[x(s')], shape (S, A)."""
    if isinstance(transitions, Successors):
        return _gather_sum(transitions, x)
    s, a, _ = transitions.shape
    return (transitions.reshape(s * a, s) @ x).reshape(s, a)


def log_expect(transitions, log_x: Float[Array, " S"]) -> Float[Array, "S A"]:
    """log E_{s' ~ T(.|s,a)}[exp(log_x(s'))], shape (S, A), exact in log space."""
    if isinstance(transitions, Successors):
        top = jnp.max(log_x)
        y = _gather_sum(transitions, jnp.exp(log_x - top))

        def fast(log_x):
            del log_x
            return jnp.log(jnp.where(y > 0, y, 1)) + top

        def exact(log_x):
            terms = safe_log(transitions.prob) + log_x[transitions.index]
            return jax.nn.logsumexp(terms, axis=-1)

        return jax.lax.cond(jnp.all(y >= _threshold(y.dtype)), fast, exact, log_x)
    s, a, _ = transitions.shape
    return _log_matvec(transitions.reshape(s * a, s), log_x, transpose=False).reshape(s, a)


def push(transitions, w: Float[Array, "S A"]) -> Float[Array, " S"]:
    """sum_{s,a} w(s,a) T(s'|s,a), shape (S,)."""
    if isinstance(transitions, Successors):
        num_states = w.shape[0]
        mass = (transitions.prob * w[:, :, None]).ravel()
        return jax.ops.segment_sum(mass, transitions.index.ravel(), num_segments=num_states)
    s, a, _ = transitions.shape
    return w.reshape(s * a) @ transitions.reshape(s * a, s)


def log_push(transitions, log_w: Float[Array, "S A"]) -> Float[Array, " S"]:
    """log sum_{s,a} exp(log_w(s,a)) T(s'|s,a), shape (S,), exact in log space."""
    if isinstance(transitions, Successors):
        num_states = log_w.shape[0]
        top = jnp.max(log_w)
        top = jnp.where(jnp.isfinite(top), top, 0)
        y = push(transitions, jnp.exp(log_w - top))
        reach = push(transitions, (log_w > -jnp.inf).astype(log_w.dtype))

        def fast(log_w):
            del log_w
            return jnp.where(y > 0, jnp.log(jnp.where(y > 0, y, 1)) + top, -jnp.inf)

        def exact(log_w):
            terms = (safe_log(transitions.prob) + log_w[:, :, None]).ravel()
            ids = transitions.index.ravel()
            most = jax.ops.segment_max(terms, ids, num_segments=num_states)
            most = jnp.where(jnp.isfinite(most), most, 0)
            z = jax.ops.segment_sum(jnp.exp(terms - most[ids]), ids, num_segments=num_states)
            return jnp.where(z > 0, jnp.log(jnp.where(z > 0, z, 1)) + most, -jnp.inf)

        trustworthy = (y >= _threshold(y.dtype)) | (reach == 0)
        return jax.lax.cond(jnp.all(trustworthy), fast, exact, log_w)
    s, a, _ = transitions.shape
    return _log_matvec(transitions.reshape(s * a, s), log_w.reshape(s * a), transpose=True)


def soft_maximum(q: Float[Array, "S A"], log_prior: Float[Array, "S A"], temperature):
    """V(s) = alpha log sum_a p(a|s) exp(Q(s,a)/alpha) and log pi = log p + (Q - V)/alpha.

    Computed around m(s) = max_a [Q(s,a) + alpha log p(a|s)] (in reward units, so huge
    Q / alpha never overflows nor loses precision); forbidden actions (Q = -inf or prior 0) get
    log pi = -inf. Returns (v (S,), log_pi (S, A)).
    """
    score = q + temperature * log_prior
    top = jnp.max(score, axis=-1, keepdims=True)
    logits = (score - top) / temperature  # <= 0, and 0 at the best action
    lse = jnp.log(jnp.sum(jnp.exp(logits), axis=-1, keepdims=True))
    return (top + temperature * lse)[:, 0], logits - lse
