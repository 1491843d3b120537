"""The rollout's backend-chosen memory layout against the plain reference layout."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from control_as_inference.envs.pendulum import pendulum_reward, pendulum_step
from control_as_inference.mppi import mppi_init, mppi_step, pendulum_config
from control_as_inference.mppi.rollout import (
    rollout,
    rollout_samples_first,
    rollout_samples_last,
)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("keep_states", [False, True])
def test_samples_last_agrees_with_the_reference_layout(rng, dtype, keep_states):
    """Same returns and states to rounding, with a discount and a terminal reward."""
    cfg = pendulum_config(64, horizon=12, discount=0.97, dtype=dtype)
    x0 = jnp.asarray([2.5, -0.4], dtype)
    actions = jnp.asarray(rng.normal(scale=2.0, size=(12, 1, 64)), dtype)  # (H, m, N)

    def run(fn):
        return jax.jit(lambda x, u: fn(x, u, cfg, pendulum_step, pendulum_reward, keep_states))(
            x0, actions
        )

    fast, fast_states = run(rollout_samples_last)
    ref, ref_states = run(rollout_samples_first)
    chosen, chosen_states = run(rollout)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == jnp.float32 else dict(rtol=1e-12, atol=1e-12)
    assert fast.shape == ref.shape == (64,)
    np.testing.assert_allclose(fast, ref, **tol)
    np.testing.assert_allclose(chosen, ref, **tol)
    if keep_states:
        assert fast_states.shape == ref_states.shape == (64, 13, 2)
        np.testing.assert_allclose(fast_states, ref_states, **tol)
        np.testing.assert_allclose(chosen_states, ref_states, **tol)
        np.testing.assert_array_equal(ref_states[:, 0], np.broadcast_to(x0, (64, 2)))
    else:
        assert fast_states is None and ref_states is None and chosen_states is None
    # the backend's choice: samples-last on CPU, the reference elsewhere
    expected = fast if jax.default_backend() == "cpu" else ref
    np.testing.assert_array_equal(chosen, expected)
    # a negative control: the layouts must not agree by ignoring the discount
    undiscounted = pendulum_config(64, horizon=12, dtype=dtype)
    other = rollout_samples_first(x0, actions, undiscounted, pendulum_step, pendulum_reward)[0]
    assert np.max(np.abs(np.asarray(other) - np.asarray(ref))) > 1e-2


def test_planner_under_vmap_over_start_states():
    """The backend switch stays a switch under `jax.vmap` (a batch of start states)."""
    cfg = pendulum_config(32, horizon=8, return_rollouts=True)
    state = mppi_init(cfg)
    xs = jnp.asarray([[3.0, 0.0], [1.0, -1.0], [0.1, 0.2]])
    keys = jax.random.split(jax.random.key(0), 3)

    def plan(x, key):
        return mppi_step(state, x, key, cfg, pendulum_step, pendulum_reward)

    actions, _, info = jax.vmap(plan)(xs, keys)
    assert actions.shape == (3, 1)
    assert info.states.shape == (3, 32, 9, 2)
    for i in range(3):
        single, _, single_info = plan(xs[i], keys[i])
        np.testing.assert_allclose(actions[i], single, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(single_info.returns, info.returns[i], rtol=1e-12)
