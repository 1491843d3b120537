"""Cart-pole in JAX with gymnasium CartPole-v1's equations and constants, for swing-up.

    state x = (position, velocity, theta, theta_dot), theta = 0 upright, theta = pi hanging;
    action u: a continuous horizontal force (gymnasium's discrete actions are -10 and +10 N),
    clipped to [-max_force, max_force]; Euler integration with tau = 0.02 s (gymnasium's default).

gymnasium ends an episode when |theta| > 12 degrees or |position| > 2.4; a swing-up has no such
limit on theta, so `cartpole_step` never terminates and `swingup_reward` keeps the cart near the
centre instead:

    r(x, u) = cos(theta) - 0.01 position^2 - 0.001 theta_dot^2 - 1e-4 u^2   (1 when upright)
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float

GRAVITY, MASS_CART, MASS_POLE, HALF_LENGTH, TAU = 9.8, 1.0, 0.1, 0.5, 0.02
FORCE_MAG = 10.0  # gymnasium's force; also the default bound of the continuous force
TOTAL_MASS = MASS_CART + MASS_POLE
POLEMASS_LENGTH = MASS_POLE * HALF_LENGTH


def cartpole_step(
    x: Float[Array, " 4"], u: Float[Array, " 1"], max_force: float = FORCE_MAG
) -> Float[Array, " 4"]:
    """One Euler step of CartPole-v1's dynamics with a continuous force u[0]."""
    position, velocity, theta, theta_dot = x[0], x[1], x[2], x[3]
    force = jnp.clip(u[0], -max_force, max_force)
    cos, sin = jnp.cos(theta), jnp.sin(theta)
    temp = (force + POLEMASS_LENGTH * theta_dot**2 * sin) / TOTAL_MASS
    theta_acc = (GRAVITY * sin - cos * temp) / (
        HALF_LENGTH * (4.0 / 3.0 - MASS_POLE * cos**2 / TOTAL_MASS)
    )
    acc = temp - POLEMASS_LENGTH * theta_acc * cos / TOTAL_MASS
    return jnp.stack(
        [
            position + TAU * velocity,
            velocity + TAU * acc,
            theta + TAU * theta_dot,
            theta_dot + TAU * theta_acc,
        ]
    )


def swingup_reward(x: Float[Array, " 4"], u: Float[Array, " 1"]) -> Float[Array, ""]:
    """Upright pole, centred cart, little spin and force (module docstring)."""
    return jnp.cos(x[2]) - 0.01 * x[0] ** 2 - 0.001 * x[3] ** 2 - 1e-4 * u[0] ** 2
