"""The JAX environment protocol (`envs.jax_env`): one resolver for "a gymnasium id with a JAX
twin or a JaxEnv" with named refusals, the pendulum's model agrees with its environment's step,
the old import paths still work, and the sample-based IRL loop stores the learner's reward (not
the environment's) in SAC's buffer."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from control_as_inference import envs
from control_as_inference.agents import SACConfig
from control_as_inference.envs.pendulum import observation
from control_as_inference.irl.sample_loop import RewardLearner, init_carry, make_round


def test_an_id_and_a_jax_env_name_the_same_environment():
    by_id = envs.as_jax_env("Pendulum-v1")
    direct = envs.pendulum_env()
    assert isinstance(by_id, envs.JaxEnv) and by_id.obs_dim == direct.obs_dim == 3
    key = jax.random.key(3)
    obs, state = by_id.reset(key)
    np.testing.assert_array_equal(obs, direct.reset(key)[0])
    action = jnp.array([0.7], jnp.float32)
    got = by_id.step(key, state, action)
    want = direct.step(key, state, action)
    for a, b in zip(got[:1] + got[2:], want[:1] + want[2:], strict=True):
        np.testing.assert_array_equal(a, b)
    env = envs.linear_gaussian_env()
    assert envs.as_jax_env(env) is env  # a JaxEnv is taken as it is


@pytest.mark.parametrize(
    ("env", "kwargs", "match"),
    [
        ("CartPole-v1", {}, r"env: expected a gymnasium id with a JAX twin \(Pendulum-v1\)"),
        (3, {"name": "env_id"}, "env_id: expected"),
        (None, {}, "envs.JaxEnv"),
    ],
)
def test_anything_else_is_refused_by_name(env, kwargs, match):
    with pytest.raises(ValueError, match=match):
        envs.as_jax_env(env, **kwargs)


def test_a_planner_needs_the_model():
    assert envs.as_jax_env("Pendulum-v1", model=True).model is envs.PENDULUM_MODEL
    with pytest.raises(ValueError, match="env: this planner needs the environment's model"):
        envs.as_jax_env(envs.linear_gaussian_env(), model=True)


def test_the_pendulum_model_is_its_environments_step():
    env = envs.pendulum_env()
    model = env.model
    _, state = env.reset(jax.random.key(0))
    action = jnp.array([1.3], jnp.float32)
    next_obs, next_state, reward, _, _ = env.step(jax.random.key(1), state, action)
    x = model.state(state)
    np.testing.assert_allclose(observation(model.dynamics(x, action)), next_obs, rtol=1e-6)
    np.testing.assert_allclose(model.reward(x, action), reward, rtol=1e-6)
    np.testing.assert_array_equal(model.state(next_state), next_state[0])
    # negative control: another action's step is not this one
    other = env.step(jax.random.key(1), state, -action)[0]
    assert np.max(np.abs(np.asarray(other - next_obs))) > 1e-3


def test_the_old_import_paths_still_work():
    from control_as_inference.agents import jax_train
    from control_as_inference.mppi import pendulum_terminal_reward

    assert jax_train.JaxEnv is envs.JaxEnv and jax_train.pendulum_env is envs.pendulum_env
    assert jax_train.from_gymnax is envs.from_gymnax and jax_train.EPISODE_STEPS == 200
    assert pendulum_terminal_reward is envs.PENDULUM_MODEL.terminal_reward


def test_planners_and_tasks_refuse_an_environment_without_a_jax_twin():
    from control_as_inference.distributed import mppi_task
    from control_as_inference.mppi import pendulum_config, plan_episode

    with pytest.raises(ValueError, match="env: expected a gymnasium id"):
        plan_episode(pendulum_config(10), "CartPole-v1", jax.random.key(0), 2)
    with pytest.raises(ValueError, match="env: this planner needs the environment's model"):
        plan_episode(pendulum_config(10), envs.linear_gaussian_env(), jax.random.key(0), 2)
    with pytest.raises(ValueError, match="start, render: a JaxEnv starts from its own reset"):
        plan_episode(pendulum_config(10), envs.pendulum_env(), jax.random.key(0), 2, (1.0, 0.0))
    with pytest.raises(ValueError, match="env: expected a gymnasium id"):
        mppi_task(samples=10, steps=2, env="MountainCarContinuous-v0")


def test_a_planner_acts_in_a_jax_env():
    """`plan_episode` on a JaxEnv: its states follow the model's dynamics under the applied
    (clipped) actions and the rewards are the model's (negative control: the states shifted by
    one step do not)."""
    from control_as_inference.mppi import pendulum_config, plan_episode

    episode = plan_episode(
        pendulum_config(16, horizon=4), envs.pendulum_env(), jax.random.key(1), 4
    )
    model = envs.PENDULUM_MODEL
    assert episode.states.shape == (5, 2) and episode.actions.shape == (4, 1)
    x, u = jnp.asarray(episode.states[:-1]), jnp.asarray(episode.actions, jnp.float32)
    predicted = jax.vmap(model.dynamics)(x.astype(jnp.float32), u)
    np.testing.assert_allclose(predicted, episode.states[1:], rtol=1e-5, atol=1e-6)
    rewards = jax.vmap(model.reward)(x.astype(jnp.float32), u)
    np.testing.assert_allclose(rewards, episode.rewards, rtol=1e-5, atol=1e-6)
    assert np.max(np.abs(np.asarray(predicted[:-1]) - episode.states[2:])) > 1e-3


def test_the_loop_stores_the_learners_reward():
    """One round of `irl.sample_loop` with a learner whose reward is 100 + sum(next_obs): the
    buffer holds that, not the environment's reward (negative control: the pendulum's reward
    is never positive), and the round's objective is fit's."""

    def learned(next_obs):
        return 100 + jnp.sum(next_obs, -1)

    learner = RewardLearner(
        relabel=lambda model, buffer: learned(buffer.next_obs),
        reward=lambda model, obs, action, next_obs, terminated: learned(next_obs),
        fit=lambda model, opt_state, sac, key, data: (model, opt_state, jnp.sum(data)),
    )
    env = envs.pendulum_env(4)
    sac_config = SACConfig(hidden=(4,), batch_size=4, buffer_size=8, learning_starts=100)
    model = lambda key: jnp.zeros(1)  # noqa: E731
    carry = init_carry(env, sac_config, model, optax.sgd(0.1), jax.random.key(0))
    run = make_round(env, sac_config, learner, 6)
    with jax.numpy_dtype_promotion("standard"):
        carry, (objective, returns) = run(carry, jnp.arange(3.0))
    buffer = carry.sac.buffer
    assert int(buffer.size) == 6 and float(objective) == 3.0
    np.testing.assert_allclose(buffer.reward[:6], learned(buffer.next_obs[:6]), rtol=1e-6)
    assert np.all(np.asarray(buffer.reward[:6]) > 0)
    # the environment's returns are still logged: one episode of 4 steps ended
    assert np.sum(~np.isnan(np.asarray(returns))) == 1
