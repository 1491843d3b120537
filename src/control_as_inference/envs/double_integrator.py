"""A double integrator: a unit mass pushed by a force, exactly discretised.

    state x = (position, velocity) per axis (n = 2 d), action u = force (d,), step dt:
    position' = position + dt velocity + dt^2 / 2 u,   velocity' = velocity + dt u

It is linear, x' = A x + B u, so with a quadratic reward its posterior is Gaussian in closed form
(soft LQR): the test bed of the sampling planners.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

DT = 0.1


def double_integrator_matrices(dt: float = DT, dims: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(A (2d, 2d), B (2d, d)) with x = (positions, velocities)."""
    eye = np.eye(dims)
    zero = np.zeros((dims, dims))
    a = np.block([[eye, dt * eye], [zero, eye]])
    b = np.vstack([0.5 * dt**2 * eye, dt * eye])
    return a, b


def double_integrator_step(x: Float[Array, " n"], u: Float[Array, " d"]) -> Float[Array, " n"]:
    """One step with dt = DT (any number of axes: n = 2 len(u))."""
    d = u.shape[0]
    position, velocity = x[:d], x[d:]
    return jnp.concatenate([position + DT * velocity + 0.5 * DT**2 * u, velocity + DT * u])
