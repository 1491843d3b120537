"""An independent check of stored pendulum transitions: the equations of `envs.pendulum`."""

import jax
import jax.numpy as jnp
import numpy as np

from control_as_inference.envs.pendulum import pendulum_reward, pendulum_step


def assert_pendulum_transitions(obs, action, reward, next_obs, loop_steps, n, episode_end):
    """Rows of a buffer written by n copies for loop_steps steps (row j: copy j % n at loop step
    j // n): the pendulum's equations map (obs, action) to next_obs and reward; within an
    episode the next obs is the stored next_obs, after loop step `episode_end` it is a reset."""
    x = np.stack([np.arctan2(obs[:, 1], obs[:, 0]), obs[:, 2]], axis=1)
    x_next = np.asarray(jax.vmap(pendulum_step)(jnp.asarray(x), jnp.asarray(action)))
    np.testing.assert_allclose(next_obs[:, 0], np.cos(x_next[:, 0]), atol=1e-5)
    np.testing.assert_allclose(next_obs[:, 1], np.sin(x_next[:, 0]), atol=1e-5)
    np.testing.assert_allclose(next_obs[:, 2], x_next[:, 1], atol=1e-4)
    r = np.asarray(jax.vmap(pendulum_reward)(jnp.asarray(x), jnp.asarray(action)))
    np.testing.assert_allclose(reward, r, rtol=1e-5, atol=1e-5)
    by_copy = obs.reshape(loop_steps, n, 3), next_obs.reshape(loop_steps, n, 3)
    continues = np.all(np.isclose(by_copy[0][1:], by_copy[1][:-1]), axis=2)
    assert continues[np.arange(loop_steps - 1) != episode_end].all()
    assert not continues[episode_end].any()
