"""BiCGSTAB (van der Vorst 1992) in one `lax.while_loop`, counting its mat-vecs.

`jax.scipy.sparse.linalg.bicgstab` reports neither iterations nor residual; the solver benchmark
needs both, so the (short) textbook recursion is written out here:

    r0 = b - A x0, r^ = r0;  per iteration (two mat-vecs):
    rho = r^.r, beta = (rho/rho_old)(alpha/omega), p = r + beta (p - omega v), v = A p,
    alpha = rho / r^.v, s = r - alpha v, t = A s, omega = t.s / t.t,
    x += alpha p + omega s, r = s - omega t
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class KrylovResult(NamedTuple):
    """x, the iterations done, the true relative residual ||b - A x|| / ||b|| (2-norm) and the
    number of mat-vecs (two per iteration, one for r0, one for the final residual)."""

    x: jax.Array
    iterations: jax.Array
    residual: jax.Array
    matvecs: jax.Array


def _div(a, b):
    return jnp.where(b != 0, a / jnp.where(b != 0, b, 1), 0)


def bicgstab(matvec, b, x0, tol, max_iterations) -> KrylovResult:
    """Solve A x = b to ||b - A x|| <= tol ||b|| (or stop at max_iterations / a breakdown)."""
    bnorm = jnp.linalg.norm(b)
    r = b - matvec(x0)
    one = jnp.ones((), b.dtype)
    zero = jnp.zeros_like(b)
    init = (x0, r, r, zero, zero, one, one, one, jnp.asarray(0), jnp.linalg.norm(r), False)

    def not_done(c):
        *_, i, rnorm, broken = c
        return (rnorm > tol * bnorm) & (i < max_iterations) & ~broken

    def body(c):
        x, r, rhat, p, v, rho_old, alpha, omega, i, _, _ = c
        rho = jnp.vdot(rhat, r)
        beta = _div(rho, rho_old) * _div(alpha, omega)
        p = r + beta * (p - omega * v)
        v = matvec(p)
        denom = jnp.vdot(rhat, v)
        alpha = _div(rho, denom)
        s = r - alpha * v
        t = matvec(s)
        omega = _div(jnp.vdot(t, s), jnp.vdot(t, t))
        x = x + alpha * p + omega * s
        r = s - omega * t
        broken = (rho == 0) | (denom == 0) | (omega == 0)
        return x, r, rhat, p, v, rho, alpha, omega, i + 1, jnp.linalg.norm(r), broken

    x, *_, i, _, _ = jax.lax.while_loop(not_done, body, init)
    residual = jnp.linalg.norm(b - matvec(x)) / jnp.where(bnorm > 0, bnorm, 1)
    return KrylovResult(x, i, residual, 2 * i + 2)
