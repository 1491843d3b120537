"""A non-finite reward or observation from the environment is refused with a ValueError naming the
field and the step (the gymnasium loop, before the transition is stored; `cai train` exits 2),
checkpoints written before it are kept, and the jitted JAX loop refuses an environment whose first
step is not finite and marks a later non-finite episode return as -inf (never NaN, which means
"no episode ended")."""

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from control_as_inference.agents import MPOConfig, SACConfig, read_log, resume, train
from control_as_inference.agents.jax_train import JaxEnv, make_train, pendulum_env
from control_as_inference.agents.registry import promotion
from control_as_inference.cli import main


class _Spoiled(gym.Wrapper):
    """The wrapped environment, whose reward (or observation) is NaN on its `at`-th step (at 0:
    the observation of its first reset)."""

    def __init__(self, env, at: int, field: str = "reward"):
        super().__init__(env)
        self.at, self.field, self.count = at, field, 0

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        if self.at == 0 and self.count == 0:
            obs = np.full_like(obs, np.nan)
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.count += 1
        if self.count == self.at:
            if self.field == "reward":
                reward = float("nan")
            else:
                obs = np.full_like(obs, np.nan)
        return obs, reward, terminated, truncated, info


def _register(name, base, at, field="reward"):
    env_id = f"cai-test/{name}-v0"
    if env_id not in gym.registry:
        gym.register(env_id, entry_point=lambda: _Spoiled(gym.make(base), at, field))
    return env_id


SAC = SACConfig(hidden=(8,), buffer_size=500, batch_size=8, learning_starts=1000)


def test_nan_reward_stops_training_naming_the_step_and_keeps_the_checkpoint(tmp_path):
    env_id = _register("NaNRewardPendulum", "Pendulum-v1", at=150)
    out = str(tmp_path / "run")
    with pytest.raises(
        ValueError,
        match=r"reward: .*non-finite reward \(nan\) at environment step"
        r" 150 \(as log.csv counts; copy 0 of 1\).*checkpoint",
    ):
        train(SAC, env_id, jax.random.key(0), 400, out=out, checkpoint_every=100, progress=False)
    # the checkpoint of step 100 is intact and resumes (the env's state is restored with it,
    # the wrapper's step count included: its NaN comes again at step 150, so stop before)
    result = resume(out, steps=140, progress=False)
    assert int(result.state.step) == 140
    assert all(np.isfinite(row["return"]) for row in read_log(out))


def test_nan_observation_is_refused_like_a_reward():
    env_id = _register("NaNObsPendulum", "Pendulum-v1", at=3, field="obs")
    with pytest.raises(ValueError, match=r"observation: .*at environment step 3"):
        train(SAC, env_id, jax.random.key(0), 10, progress=False)


@pytest.mark.filterwarnings("ignore:.*not within the observation space")  # gymnasium's checker
def test_nan_first_observation_is_refused_and_no_checkpoint_is_claimed(tmp_path):
    """The reset's observation is checked too; before the first checkpoint the message does not
    say one is kept (none was written)."""
    env_id = _register("NaNResetPendulum", "Pendulum-v1", at=0, field="obs")
    out = str(tmp_path / "run")
    with pytest.raises(ValueError, match=r"observation: .*at environment step 1") as error:
        train(SAC, env_id, jax.random.key(0), 10, out=out, checkpoint_every=100, progress=False)
    assert "checkpoint" not in str(error.value)


def test_nan_reward_is_refused_for_discrete_mpo_on_vectorised_envs():
    env_id = _register("NaNRewardCartPole", "CartPole-v1", at=4)
    config = MPOConfig(
        policy="categorical", hidden=(8,), buffer_size=100, batch_size=8, learning_starts=1000
    )
    with pytest.raises(
        ValueError, match=r"reward: .*at environment step 8 \(as log.csv counts; copy 0 of 2\)"
    ):
        train(config, env_id, jax.random.key(0), 40, num_envs=2, progress=False)


def test_cai_train_exits_2_on_a_nan_reward(tmp_path, capsys):
    before = jax.config.jax_enable_x64  # `main` sets JAX's precision for its process
    env_id = _register("NaNRewardPendulum", "Pendulum-v1", at=150)
    argv = ["train", "mpo", env_id, "--steps", "300", "--learning-starts", "1000"]
    try:
        assert main([*argv, "--out", str(tmp_path / "r")]) == 2
    finally:
        jax.config.update("jax_enable_x64", before)
    err = capsys.readouterr().err
    assert "reward: the environment returned a non-finite reward" in err, err


def _spoiled_pendulum(at):
    """Pendulum as a JaxEnv whose reward is NaN from the episode's `at`-th step on."""
    base = pendulum_env(episode_steps=10)

    def step(key, env_state, action):
        obs, new_state, reward, terminated, truncated = base.step(key, env_state, action)
        reward = jnp.where(env_state[1] + 1 >= at, jnp.nan, reward)
        return obs, new_state, reward, terminated, truncated

    return JaxEnv(base.reset, step, base.obs_dim, base.low, base.high)


def test_jitted_loop_refuses_an_env_whose_first_step_is_not_finite():
    with pytest.raises(ValueError, match=r"reward: .*non-finite reward.*JaxEnv"):
        make_train(SAC, _spoiled_pendulum(at=1), 40)


@promotion()  # optax's Adam relies on standard promotion while tracing
def test_jitted_loop_marks_a_later_non_finite_episode_return_minus_inf():
    _, returns = jax.jit(make_train(SAC, _spoiled_pendulum(at=5), 40, num_envs=2))(
        jax.random.key(0)
    )
    returns = np.asarray(returns)
    ended = ~np.isnan(returns)
    assert ended.sum() == 4 and np.all(returns[ended] == -np.inf)
    # negative control: the same loop on the unspoiled environment logs finite returns
    _, clean = jax.jit(make_train(SAC, _spoiled_pendulum(at=10**6), 40, num_envs=2))(
        jax.random.key(0)
    )
    clean = np.asarray(clean)
    assert (~np.isnan(clean)).sum() == 4 and np.all(np.isfinite(clean[~np.isnan(clean)]))
