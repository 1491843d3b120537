"""Standard normal draws at close to the cost of their random bits, shared by every hot path that
draws many normals (the MPPI and CEM planners).

`standard_normal(key, shape)` is the Box-Muller transform with both outputs used: one uint32 of
`jax.random.bits` per normal (as `jax.random.normal` in float32), half of them for radii and
half for angles,

    R = sqrt(-2 log U1),   U1 = (b1 >> 8 + 1) 2^-24   in (0, 1]  (never log 0),
    (Z1, Z2) = R (cos Theta, sin Theta),   Theta uniform on the circle,

so that Z1, Z2 are independent N(0, 1) (Box and Muller 1958). The angle is never formed: the top
three bits of b2 choose one of the eight octants of the circle, the next 24 bits an angle
phi = x pi/4 with x = k 2^-24 in [0, 1), and (cos phi, sin phi) are Taylor polynomials on
[0, pi/4] (truncation below 2e-9, under float32 rounding), mapped to the octant by the exact
reflections of the circle ((cos, sin) swapped and signed). This avoids `jnp.sin` and `jnp.cos`,
which XLA-CPU evaluates one element at a time (benchmarks/RESULTS.md, "Issue 23").

Exactness: the draws are those of the Box-Muller transform of uniforms on a 2^-24 grid (U1) and
a 2^-27 grid of the circle, the resolution of float32 itself; the radius never exceeds
sqrt(48 ln 2) = 5.77, a truncated tail of probability 2^-24 = 6e-8 per pair
(`jax.random.normal` in float32 stops at a similar point, 5.4 to 5.8). The moments, a
Kolmogorov-Smirnov test on 1e6 draws and the independence across axes are tested in
tests/test_normal_sampler.py.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

_GRID = 2.0**-24  # the uniforms' resolution: 24 bits, exactly representable in float32


def _sin_cos_octant(phi: Array) -> tuple[Array, Array]:
    """(cos phi, sin phi) for phi in [0, pi/4], Taylor polynomials (Horner form) whose
    truncation error (phi^12 / 12!, phi^11 / 11! at pi/4) is below 2e-9."""
    p2 = phi * phi
    sin = phi * (1.0 + p2 * (-1 / 6 + p2 * (1 / 120 + p2 * (-1 / 5040 + p2 * (1 / 362880)))))
    cos = 1.0 + p2 * (
        -0.5 + p2 * (1 / 24 + p2 * (-1 / 720 + p2 * (1 / 40320 + p2 * (-1 / 3628800))))
    )
    return cos, sin


def unit_circle(bits: Array) -> tuple[Array, Array]:
    """(cos Theta, sin Theta) in float32 for Theta uniform on the circle, from uint32 `bits`.

    Octant k = bits >> 29 and phi = ((bits >> 5) mod 2^24) 2^-24 pi/4; the point is
    (cos, sin)(k pi/4 + phi) for even k and (cos, sin)((k + 1) pi/4 - phi) for odd k, i.e. the
    first-octant point (c, s) swapped for k in {1, 2, 5, 6}, its first coordinate negated for k in
    {2, 3, 4, 5} and its second for k in {4, 5, 6, 7}. Same shape as `bits`.
    """
    octant = bits >> 29
    phi = ((bits >> 5) & 0xFFFFFF).astype(jnp.float32) * jnp.float32(_GRID * math.pi / 4)
    c, s = _sin_cos_octant(phi)
    swap = ((octant + 1) & 2) != 0
    x, y = jnp.where(swap, s, c), jnp.where(swap, c, s)
    x = jnp.where(((octant + 2) & 4) != 0, -x, x)
    y = jnp.where((octant & 4) != 0, -y, y)
    return x, y


def box_muller_radius(bits: Array) -> Array:
    """R = sqrt(-2 log U) in float32 with U = ((bits >> 8) + 1) 2^-24 in (0, 1] (log 0 never
    occurs): the radius of a standard bivariate normal. Same shape as `bits`."""
    u = ((bits >> 8) + 1).astype(jnp.float32) * jnp.float32(_GRID)
    return jnp.sqrt(-2.0 * jnp.log(u))


def standard_normal(key, shape, dtype=jnp.float32) -> Array:
    """Independent N(0, 1) draws of `shape`, computed in float32 from `jax.random.bits` by the
    Box-Muller transform with both outputs used (module docstring), cast to `dtype`.

    One uint32 per draw: for size n, ceil(n / 2) radii and as many angles. The cosines fill the
    first half of the flattened array and the sines the second (the two are independent).
    A different stream from `jax.random.normal` for the same key.
    """
    shape = tuple(int(d) for d in shape)
    size = int(np.prod(shape, dtype=np.int64))
    half = (size + 1) // 2
    bits = jax.random.bits(key, (2, half), jnp.uint32)
    radius = box_muller_radius(bits[0])
    x, y = unit_circle(bits[1])
    z = jnp.concatenate([radius * x, radius * y])
    if 2 * half != size:
        z = z[:size]
    return z.reshape(shape).astype(dtype)
