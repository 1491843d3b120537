"""The POMDP environments: gymnasium's checker, the filter's belief against `belief_update`, the
returns of the soft policy against the model's value, and the wall sensor of the observed
gridworld."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import control_as_inference as cai

pomdp = cai.pomdp
MAP = ["S..#", ".#.G", "...."]


def test_gymnasiums_checker_passes():
    check_env(pomdp.POMDPEnv(pomdp.tiger(), max_steps=20), skip_render_check=True)
    model, _ = pomdp.observed_gridworld(MAP)
    check_env(pomdp.POMDPEnv(model, 30, terminal_states=[model.num_states - 1]),
              skip_render_check=True)  # fmt: skip


def test_the_info_belief_is_the_bayes_filter():
    model, _ = pomdp.observed_gridworld(MAP, slip=0.2, accuracy=0.7)
    env = pomdp.POMDPEnv(model, 12)
    observation, info = env.reset(seed=3)
    assert observation == model.num_observations  # nothing seen yet
    belief, rng = np.asarray(model.initial), np.random.default_rng(0)
    for _ in range(12):
        action = int(rng.integers(model.num_actions))
        observation, _, terminated, truncated, info = env.step(action)
        belief, _ = pomdp.belief_update(model, belief, action, observation)
        np.testing.assert_allclose(info["belief"], belief, atol=1e-6)
        if terminated or truncated:
            break


def test_the_soft_policys_returns_match_its_value_in_the_environment():
    """At temperature 1e-3 the soft value is the hard one (to ~H alpha log A); the mean return of
    the policy run in the environment, tracking its history node, is within 4 standard errors."""
    model, horizon = pomdp.tiger(), 3
    post = pomdp.infer_beliefs(model, horizon, 1e-3)
    env, rng = pomdp.POMDPEnv(model, horizon), np.random.default_rng(1)
    returns = []
    for episode in range(2000):
        env.reset(seed=episode)
        actions, observations, total = [], [], 0.0
        for t in range(horizon):
            node = post.node(actions, observations)
            policy = np.exp(np.asarray(post.log_policy[t][node], np.float64))
            action = int(rng.choice(len(policy), p=policy / policy.sum()))
            observation, reward, *_ = env.step(action)
            actions.append(action)
            observations.append(observation)
            total += reward
        returns.append(total)
    returns = np.array(returns)
    error = returns.std() / np.sqrt(len(returns))
    assert abs(returns.mean() - float(post.value)) < 4 * error + 3 * 1e-3 * np.log(3)


def test_the_wall_sensor_sees_the_walls():
    model, grid = pomdp.observed_gridworld(MAP, accuracy=1.0)
    emissions = np.asarray(model.observations[:, 0])  # the same after every action
    start = grid.starts[0]  # row 0, column 0: walls up and left (bits 0 and 3)
    assert emissions[start].argmax() == 0b1001 and emissions[start].max() == 1.0
    assert emissions[-1, 16] == 1.0  # done
    initial = np.asarray(model.initial)
    assert initial[list(grid.goals)].sum() == 0 and initial[-1] == 0
    np.testing.assert_allclose(initial[initial > 0], 1 / (initial > 0).sum())
    noisy, _ = pomdp.observed_gridworld(MAP, accuracy=0.5)
    assert np.asarray(noisy.observations)[start, 0, 0b1001] == pytest.approx(0.5 + 0.5 / 16)
    with pytest.raises(ValueError, match="accuracy must lie in"):
        pomdp.observed_gridworld(MAP, accuracy=1.5)


def test_a_bad_action_is_refused():
    env = pomdp.POMDPEnv(pomdp.tiger())
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action must be an int"):
        env.step(3)


def test_the_agent_never_starts_in_lava_and_only_takes_int_actions():
    model, grid = pomdp.observed_gridworld(["S.L", "..G"])
    initial = np.asarray(model.initial)
    assert initial[list(grid.lava)].sum() == 0 and initial[list(grid.goals)].sum() == 0
    env = pomdp.POMDPEnv(model, 10)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action must be an int"):
        env.step(1.7)
    env.step(np.int64(1))  # numpy integers are ints
