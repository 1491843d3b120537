"""The JAX pendulum against gymnasium's Pendulum-v1, step by step."""

import gymnasium as gym
import jax.numpy as jnp
import numpy as np

from control_as_inference.envs.pendulum import observation, pendulum_reward, pendulum_step


def test_matches_gymnasium_step_by_step(rng):
    env = gym.make("Pendulum-v1").unwrapped
    for episode in range(5):
        env.reset(seed=episode)
        x = jnp.asarray(env.state)
        for _ in range(100):
            u = rng.uniform(-3, 3, size=1)  # beyond the limits too: both must clip
            obs, reward, *_ = env.step(u)
            expected_reward = float(pendulum_reward(x, jnp.asarray(u)))
            x = pendulum_step(x, jnp.asarray(u))
            np.testing.assert_allclose(x, env.state, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(observation(x), obs, rtol=1e-6, atol=1e-6)
            np.testing.assert_allclose(expected_reward, reward, rtol=1e-12, atol=1e-12)
