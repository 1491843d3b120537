"""Log-space numerics shared by every family: the logarithm, the safe log of probabilities, the
soft maximum over actions and a batch-wide `all` for `lax.cond` predicates.

Backend-specific kernels are chosen per backend at lowering time (`jax.lax.platform_dependent`),
each beside a plain reference version that the tests compare it with:

    log        float64 on CPU: `log_float64` (vectorisable arithmetic); elsewhere and in float32:
               `jnp.log` (the reference)
    once       on CPU: fn(*args) into its own buffer behind a `lax.cond` (XLA-CPU would fuse a
               gather sum into every consumer and recompute it there); elsewhere fn(*args)

Why and how fast: benchmarks/RESULTS.md (run D: XLA-CPU evaluated float64 `log` one element at
a time on the Intel Xeon of that run; the polynomial is vectorised and fused).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import custom_batching
from jaxtyping import Array, Float

_LN2_HI = 0.6931471803691238  # ln 2 to 33 significant bits: k * _LN2_HI is exact for |k| < 2^20
_LN2_LO = 1.9082149292705877e-10  # ln 2 - _LN2_HI, to double precision
_LOG_TERMS = 10  # terms of the atanh series: truncation below 2^-53 relative for z <= 0.0295


@jax.custom_jvp
def log(x: Array) -> Array:
    """Natural logarithm, elementwise: `jnp.log`, except for float64 on CPU, where it is
    `log_float64` (within 1 ulp of the correctly rounded result). The choice is made per backend
    when the computation is lowered, so the same jitted function runs `jnp.log` on a GPU.
    """
    if x.dtype != jnp.float64:
        return jnp.log(x)
    return jax.lax.platform_dependent(x, cpu=log_float64, default=jnp.log)


def log_float64(x: Array, terms: int = _LOG_TERMS) -> Array:
    """log x in float64 from the exponent bits and an atanh series of the mantissa, in plain
    arithmetic that XLA-CPU vectorises and fuses.

    x = 2^k (1 + f) with 1 + f in [sqrt(1/2), sqrt(2)); with s = f / (2 + f) and z = s^2,
        log(1 + f) = 2 atanh(s) = f - (f^2/2 - s (f^2/2 + R)),   R = sum_{j=1..10} 2 z^j / (2j + 1),
    and log x = k ln 2 + log(1 + f), ln 2 split in two so that k ln 2 keeps its low bits.
    log 0 = -inf, log inf = inf, log of a negative number or NaN = NaN. (Subnormal inputs are
    rescaled first; XLA-CPU flushes them to zero before they arrive, as it does for jnp.log.)
    """
    small = x < jnp.finfo(jnp.float64).tiny
    bits = jax.lax.bitcast_convert_type(jnp.where(small, x * 2.0**54, x), jnp.int64)
    k = (bits >> 52) - jnp.where(small, 1023 + 54, 1023)
    mantissa = (bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000  # the bits of 1 + f, in [1, 2)
    m = jax.lax.bitcast_convert_type(mantissa, jnp.float64)
    above = m > 1.4142135623730951
    m = jnp.where(above, 0.5 * m, m)
    k = (k + jnp.where(above, 1, 0)).astype(jnp.float64)
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    r = 2.0 / (2 * terms + 1)
    for j in range(terms - 1, 0, -1):
        r = r * z + 2.0 / (2 * j + 1)
    r = r * z
    half_f2 = 0.5 * f * f
    y = k * _LN2_HI + (f - (half_f2 - (s * (half_f2 + r) + k * _LN2_LO)))
    y = jnp.where(x > 0, y, jnp.where(x == 0, -jnp.inf, jnp.nan))
    return jnp.where(x == jnp.inf, jnp.inf, y)


@log.defjvp
def _log_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    return log(x), dx / x


def safe_log(p: Array) -> Array:
    """log p with log 0 = -inf and a finite gradient wherever p > 0."""
    positive = p > 0
    return jnp.where(positive, log(jnp.where(positive, p, 1)), -jnp.inf)


@custom_batching.custom_vmap
def all_of(flags: Array) -> Array:
    """jnp.all(flags); under `jax.vmap`, all over the batch too, returned unbatched (so that a
    `lax.cond` on it stays a cond)."""
    return jnp.all(flags)


@all_of.def_vmap
def _all_of_batched(axis_size, in_batched, flags):
    del axis_size, in_batched
    return jnp.all(flags), False


def soft_maximum(
    q: Float[Array, "S A"], log_prior: Float[Array, "S A"], temperature
) -> tuple[Float[Array, " S"], Float[Array, "S A"]]:
    """V(s) = alpha log sum_a p(a|s) exp(Q(s,a)/alpha) and log pi = log p + (Q - V)/alpha.

    Computed around m(s) = max_a [Q(s,a) + alpha log p(a|s)] (in reward units, so huge
    Q / alpha never overflows nor loses precision); forbidden actions (Q = -inf or prior 0) get
    log pi = -inf. Returns (v (S,), log_pi (S, A)).
    """
    score = q + temperature * log_prior
    top = jnp.max(score, axis=-1, keepdims=True)
    logits = (score - top) / temperature  # <= 0, and 0 at the best action
    lse = log(jnp.sum(jnp.exp(logits), axis=-1, keepdims=True))
    return (top + temperature * lse)[:, 0], logits - lse


def log_threshold(dtype) -> float:
    """sqrt(smallest normal) of dtype: below it a shifted sum may have lost precision to
    underflow, and a log-space kernel switches to its exact (log-sum-exp) branch."""
    return float(jnp.finfo(dtype).tiny) ** 0.5


def trustworthy(y: Array) -> Array:
    """Whether every entry of a non-negative shifted sum is large enough to take its log (a
    batch-wide `all_of`, ready for a `lax.cond` predicate)."""
    return all_of(y >= log_threshold(y.dtype))


def once(fn, *args):
    """fn(*args) evaluated into its own buffer, once (on CPU; elsewhere plain fn(*args)).

    On CPU: a `lax.cond` whose branches are both fn. XLA cannot fuse across it, so a gathers'
    weighted sum is one loop written once instead of being recomputed inside every consumer
    (measured in benchmarks/RESULTS.md, successor lists and KL control). The predicate is any
    runtime value (a constant would be folded away); its value does not matter.
    (`optimization_barrier` would say this directly, but XLA's CPU pipeline removes it before
    fusion.) Other backends fuse and schedule differently and get the plain call fn(*args); the
    tests compare the two.
    """
    return jax.lax.platform_dependent(*args, cpu=functools.partial(_once_cpu, fn), default=fn)


def _once_cpu(fn, *args):
    first = args[-1].ravel()[0]
    return jax.lax.cond(all_of(first == first), fn, fn, *args)
