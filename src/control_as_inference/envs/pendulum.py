"""gymnasium's Pendulum-v1 in JAX: the same equations, constants and clipping.

    state x = (theta, theta_dot), theta = 0 upright; action u, a torque clipped to [-2, 2]
    theta_dot' = clip(theta_dot + (3 g / (2 l) sin(theta) + 3 / (m l^2) u) dt, -8, 8)
    theta'     = theta + theta_dot' dt
    reward     = -(normalize(theta)^2 + 0.1 theta_dot^2 + 0.001 u^2)   (u after clipping)

with g = 10, m = l = 1, dt = 0.05. gymnasium observes (cos theta, sin theta, theta_dot); here the
state itself is used, and `observation` maps it.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float

GRAVITY, MASS, LENGTH, DT = 10.0, 1.0, 1.0, 0.05
MAX_SPEED, MAX_TORQUE = 8.0, 2.0


def pendulum_step(x: Float[Array, " 2"], u: Float[Array, " 1"]) -> Float[Array, " 2"]:
    """One step of Pendulum-v1's dynamics."""
    theta, theta_dot = x[0], x[1]
    torque = jnp.clip(u[0], -MAX_TORQUE, MAX_TORQUE)
    accel = 3 * GRAVITY / (2 * LENGTH) * jnp.sin(theta) + 3.0 / (MASS * LENGTH**2) * torque
    new_dot = jnp.clip(theta_dot + accel * DT, -MAX_SPEED, MAX_SPEED)
    return jnp.stack([theta + new_dot * DT, new_dot])


def angle_normalize(theta):
    """theta wrapped to [-pi, pi): gymnasium's ((theta + pi) % (2 pi)) - pi, written with floor
    (the same function, faster than XLA's float remainder on CPU: measured in
    benchmarks/RESULTS.md)."""
    return theta - 2 * jnp.pi * jnp.floor((theta + jnp.pi) / (2 * jnp.pi))


def pendulum_reward(x: Float[Array, " 2"], u: Float[Array, " 1"]) -> Float[Array, ""]:
    """Pendulum-v1's reward for taking u in x."""
    torque = jnp.clip(u[0], -MAX_TORQUE, MAX_TORQUE)
    return -(angle_normalize(x[0]) ** 2 + 0.1 * x[1] ** 2 + 0.001 * torque**2)


def pendulum_terminal_reward(x: Float[Array, " 2"]) -> Float[Array, ""]:
    """The state part of Pendulum-v1's reward, for the end of a planning horizon."""
    return -(angle_normalize(x[0]) ** 2 + 0.1 * x[1] ** 2)


def observation(x: Float[Array, " 2"]) -> Float[Array, " 3"]:
    """gymnasium's observation (cos theta, sin theta, theta_dot)."""
    return jnp.stack([jnp.cos(x[0]), jnp.sin(x[0]), x[1]])
