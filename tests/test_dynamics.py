"""JAX dynamics against their gymnasium counterparts, step by step, and the double integrator
against its matrices."""

import gymnasium as gym
import jax.numpy as jnp
import numpy as np

from control_as_inference.envs.cartpole import FORCE_MAG, cartpole_step, swingup_reward
from control_as_inference.envs.double_integrator import (
    double_integrator_matrices,
    double_integrator_step,
)


def test_cartpole_matches_gymnasium(rng):
    env = gym.make("CartPole-v1").unwrapped
    for episode in range(5):
        env.reset(seed=episode)
        x = jnp.asarray(env.state)
        for _ in range(30):
            action = int(rng.integers(2))
            env.step(action)
            force = jnp.asarray([FORCE_MAG if action == 1 else -FORCE_MAG])
            x = cartpole_step(x, force)
            np.testing.assert_allclose(x, env.state, rtol=1e-12, atol=1e-12)
            if abs(env.state[2]) > 0.2:  # gymnasium terminates; ours would go on
                break


def test_cartpole_clips_the_force_and_swingup_reward():
    x = jnp.asarray([0.0, 0.0, np.pi, 0.0])
    np.testing.assert_allclose(
        cartpole_step(x, jnp.asarray([50.0])), cartpole_step(x, jnp.asarray([FORCE_MAG]))
    )
    assert float(swingup_reward(jnp.zeros(4), jnp.zeros(1))) == 1.0
    assert float(swingup_reward(x, jnp.zeros(1))) == -1.0


def test_double_integrator_is_linear(rng):
    for dims in (1, 2):
        a, b = double_integrator_matrices(dims=dims)
        x, u = rng.normal(size=2 * dims), rng.normal(size=dims)
        np.testing.assert_allclose(
            double_integrator_step(jnp.asarray(x), jnp.asarray(u)), a @ x + b @ u, rtol=1e-12
        )
