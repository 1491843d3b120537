"""Vectorised training (num_envs copies in a gymnasium SyncVectorEnv): the stored transitions
against the pendulum's equations (a reset must not leak into next_obs), episode bookkeeping per
copy, checkpoint/resume bit-identical to an uninterrupted run, the batched buffer and actions."""

import equinox as eqx
import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from control_as_inference.agents import DiscreteConfig, SACConfig, resume, train
from control_as_inference.agents.discrete_agent import discrete_act_many, discrete_init
from control_as_inference.agents.replay import buffer_add, buffer_add_many, buffer_init
from control_as_inference.agents.sac import act, act_many, sac_init

from .oracles import assert_pendulum_transitions

# no learning: uniform actions, so the test is about the loop, not the agent
NO_LEARNING = SACConfig(hidden=(16, 16), buffer_size=4000, batch_size=16, learning_starts=10**6)


def test_stored_transitions_follow_the_dynamics_across_resets():
    n, loop_steps = 3, 210  # every copy ends its first 200-step episode at loop step 199
    result = train(
        NO_LEARNING,
        "Pendulum-v1",
        jax.random.key(0),
        n * loop_steps,
        seed=7,
        progress=False,
        num_envs=n,
    )
    assert int(result.state.step) == n * loop_steps
    buffer = result.state.buffer
    assert int(buffer.size) == n * loop_steps
    obs, action, reward, next_obs, terminated = (
        np.asarray(x)
        for x in (buffer.obs, buffer.action, buffer.reward, buffer.next_obs, buffer.terminated)
    )
    rows = n * loop_steps
    obs, action, reward, next_obs = obs[:rows], action[:rows], reward[:rows], next_obs[:rows]
    # independent oracle: the pendulum's equations; the reset after loop step 199 must not leak
    # into the stored next_obs
    assert_pendulum_transitions(obs, action, reward, next_obs, loop_steps, n, episode_end=199)
    assert not terminated[:rows].any()  # time limits are truncations
    # the copies are seeded seed, seed + 1, ...: copy 0 starts as a single env with seed 7
    np.testing.assert_array_equal(obs[0], gym.make("Pendulum-v1").reset(seed=7)[0])
    assert len({tuple(row) for row in obs[:n]}) == n
    # one log row per finished episode of each copy, all at the loop step where they ended
    assert [(h["step"], h["length"]) for h in result.history] == [(600, 200)] * n
    returns = reward[: 200 * n].reshape(200, n).sum(axis=0)
    np.testing.assert_allclose([h["return"] for h in result.history], returns, rtol=1e-5)


def test_discrete_terminations_store_the_final_observation():
    config = DiscreteConfig(hidden=(16,), buffer_size=1000, batch_size=16, learning_starts=10**6)
    result = train(config, "CartPole-v1", jax.random.key(0), 400, progress=False, num_envs=2)
    buffer = result.state.buffer
    ends = np.asarray(buffer.terminated[:400]) == 1
    assert ends.sum() >= len(result.history) >= 10
    final = np.asarray(buffer.next_obs[:400])[ends]
    # CartPole ends when |x| > 2.4 or |angle| > 12 degrees: true of a final obs, not of a reset
    assert np.all((np.abs(final[:, 0]) > 2.4) | (np.abs(final[:, 2]) > 12 * np.pi / 180))
    assert sum(h["length"] for h in result.history) <= 400


SMALL = SACConfig(hidden=(32, 32), buffer_size=2000, batch_size=64, learning_starts=50)


def test_vectorised_resume_is_bit_identical(tmp_path):
    whole = train(
        SMALL,
        "Pendulum-v1",
        jax.random.key(3),
        800,
        out=str(tmp_path / "a"),
        checkpoint_every=10_000,
        progress=False,
        num_envs=4,
    )
    # 302 is not a multiple of 4: the run stops at the first loop step past it, 304
    first = train(
        SMALL,
        "Pendulum-v1",
        jax.random.key(3),
        302,
        out=str(tmp_path / "b"),
        checkpoint_every=250,
        progress=False,
        num_envs=4,
    )
    assert int(first.state.step) == 304
    rest = resume(str(tmp_path / "b"), steps=800, progress=False)
    assert int(rest.state.step) == 800
    leaves_a = jax.tree_util.tree_leaves(eqx.filter(whole.state, eqx.is_array))
    leaves_b = jax.tree_util.tree_leaves(eqx.filter(rest.state, eqx.is_array))
    for x, y in zip(leaves_a, leaves_b, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert [r["return"] for r in whole.history] == [r["return"] for r in rest.history]
    # one 200-step episode per copy, all ending at loop step 200, after the resume point (the
    # partial returns of step 304 came back from the checkpoint)
    assert [(r["step"], r["length"]) for r in rest.history] == [(800, 200)] * 4
    log = (tmp_path / "b" / "log.csv").read_text().splitlines()
    assert len(log) == 1 + len(whole.history)


def test_bad_num_envs():
    with pytest.raises(ValueError, match="num_envs"):
        train(SMALL, "Pendulum-v1", jax.random.key(0), 10, progress=False, num_envs=0)
    with pytest.raises(ValueError, match="num_envs"):
        train(SMALL, "Pendulum-v1", jax.random.key(0), 10, progress=False, num_envs=2001)


def test_buffer_add_many_wraps_in_order():
    buffer = buffer_init(5, 1, 1, dtype=jnp.float64)
    for i in range(3):
        buffer = buffer_add(
            buffer, jnp.array([1.0 * i]), jnp.array([0.0]), 1.0 * i, jnp.zeros(1), 0.0
        )
    values = 10.0 + jnp.arange(4.0)
    buffer = buffer_add_many(
        buffer, values[:, None], jnp.zeros((4, 1)), values, jnp.zeros((4, 1)), jnp.zeros(4)
    )
    np.testing.assert_array_equal(np.asarray(buffer.reward), [12, 13, 2, 10, 11])
    np.testing.assert_array_equal(np.asarray(buffer.obs[:, 0]), [12, 13, 2, 10, 11])
    assert int(buffer.position) == 2 and int(buffer.size) == 5
    with pytest.raises(ValueError, match="6 transitions"):
        buffer_add_many(
            buffer, *(jnp.zeros((6, 1)),) * 2, jnp.zeros(6), jnp.zeros((6, 1)), jnp.zeros(6)
        )


def test_act_many_draws_independently_per_row():
    config = SACConfig(hidden=(16,), learning_starts=0)
    state = sac_init(config, 3, jnp.array([-2.0]), jnp.array([2.0]), jax.random.key(0))
    obs = jnp.ones((64, 3))
    actions, after = act_many(state, obs, config)
    assert actions.shape == (64, 1) and len(np.unique(np.asarray(actions))) == 64
    # a row is what `act` draws for it (up to the batched matmul's rounding), and the key
    # moves on once per call
    single, after_single = act(state, obs[0], config)
    np.testing.assert_allclose(np.asarray(single), np.asarray(actions[0]), rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(after.key), np.asarray(after_single.key))
    means, _ = act_many(state, obs, config, deterministic=True)
    assert len(np.unique(np.asarray(means))) == 1
    # before learning_starts: uniform over the box
    early = SACConfig(hidden=(16,), learning_starts=10)
    uniform, _ = act_many(state, jnp.ones((4000, 3)), early)
    assert -2 <= float(uniform.min()) < -1.9 and 1.9 < float(uniform.max()) <= 2
    d_config = DiscreteConfig(hidden=(16,), learning_starts=10)
    d_state = discrete_init(d_config, 4, 3, jax.random.key(0))
    d_actions, _ = discrete_act_many(d_state, jnp.ones((3000, 4)), d_config)
    np.testing.assert_allclose(
        np.bincount(np.asarray(d_actions), minlength=3) / 3000, 1 / 3, atol=0.04
    )
