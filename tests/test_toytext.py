"""gymnasium toy-text models against gymnasium itself."""

import gymnasium as gym
import jax
import numpy as np
import pytest

import control_as_inference as cai
from control_as_inference.envs import (
    GYM_HORIZON,
    GYM_IDS,
    GymModel,
    default_horizon,
    evaluate_policy,
    from_gymnasium,
    load_env,
)


@pytest.mark.parametrize(
    "env_id, kwargs",
    [
        ("FrozenLake-v1", {}),
        ("FrozenLake-v1", {"is_slippery": False}),
        ("FrozenLake8x8-v1", {}),
        ("CliffWalking-v1", {}),
        ("Taxi-v4", {}),
    ],
)
def test_model_reproduces_gymnasium_P(env_id, kwargs):
    model = from_gymnasium(env_id, **kwargs)
    table = gym.make(env_id, **kwargs).unwrapped.P
    t = np.asarray(model.mdp.transitions)
    r = np.asarray(model.mdp.reward)
    n = model.num_observations
    endings = sorted(
        {float(e[2]) for s in table for a in table[s] for e in table[s][a] if e[3] and e[0] > 0}
    )
    for s in range(n):
        for a in table[s]:
            expected = np.zeros(model.mdp.num_states)
            expected_reward = 0.0
            for prob, nxt, reward, terminated in table[s][a]:
                if terminated:
                    # the ending state pays the reward one step later, then "done"
                    ending = n + endings.index(float(reward))
                    expected[ending] += prob
                    np.testing.assert_allclose(r[ending], reward)
                    np.testing.assert_allclose(t[ending, :, model.done], 1.0)
                else:
                    expected[int(nxt)] += prob
                    expected_reward += prob * reward
            np.testing.assert_allclose(t[s, a], expected, atol=1e-12)
            np.testing.assert_allclose(r[s, a], expected_reward, atol=1e-12)


def test_sampled_transitions_match_the_model():
    """Frequencies of gymnasium's own step against the model's probabilities."""
    model = from_gymnasium("FrozenLake-v1")
    env = gym.make("FrozenLake-v1")
    rng = np.random.default_rng(0)
    t = np.asarray(model.mdp.transitions)
    num = 3000
    state = 6  # (1, 2): two of its neighbours are holes
    counts = np.zeros((4, 16))
    for action in range(4):
        for _ in range(num):
            env.reset(seed=int(rng.integers(1 << 30)))
            env.unwrapped.s = state
            obs = env.step(action)[0]
            counts[action, obs] += 1
    freq = counts / num
    # terminal observations are the model's ending states; compare non-terminal successors
    expected = t[state, :, : model.num_observations]
    mask = expected > 0
    np.testing.assert_allclose(freq[mask], expected[mask], atol=0.03)
    # and the mass of the terminal successors goes to the ending states
    np.testing.assert_allclose(freq[:, [5, 7]].sum(1), t[state, :, 16:].sum(1), atol=0.03)


@pytest.mark.slow  # rolls out episodes in gymnasium
def test_soft_policy_performs_like_the_hard_optimum_in_gymnasium():
    """FrozenLake 4x4 slippery, discount 0.99: the hard optimum succeeds about 74% of the time
    (within gymnasium's 100-step limit); soft value iteration at a small temperature matches it."""
    model = from_gymnasium("FrozenLake-v1")
    soft = cai.soft_value_iteration(model.mdp, 1e-4, 0.99)
    assert bool(soft.converged)
    hard_policy = np.eye(4)[np.asarray(soft.q).argmax(axis=1)]
    episodes = 3000
    soft_result = evaluate_policy(soft, "FrozenLake-v1", episodes, jax.random.key(0))
    hard_result = evaluate_policy(hard_policy, "FrozenLake-v1", episodes, jax.random.key(1))
    sigma = np.sqrt(0.74 * 0.26 / episodes)
    assert abs(hard_result.success_rate - 0.74) < 4 * sigma
    assert abs(soft_result.success_rate - hard_result.success_rate) < 5 * sigma
    # a uniformly random policy is far worse (the test can fail)
    random = evaluate_policy(np.full((19, 4), 0.25), "FrozenLake-v1", 500, jax.random.key(2))
    assert random.success_rate < 0.1


def test_environment_without_a_model():
    with pytest.raises(ValueError, match="no tabular model"):
        from_gymnasium("CartPole-v1")
    with pytest.raises(ValueError, match="cannot make"):
        from_gymnasium("NoSuchEnv-v0")


@pytest.mark.parametrize("env_id", GYM_IDS)
def test_every_listed_gymnasium_id_loads_by_name(env_id):
    loaded = load_env(env_id)
    assert isinstance(loaded.env, GymModel) and loaded.name == env_id
    assert loaded.horizon == GYM_HORIZON == default_horizon(loaded.env) == 100
    assert loaded.mdp is loaded.env.mdp and loaded.goals == ()


def test_evaluate_policy_checks_episodes():
    with pytest.raises(ValueError, match="episodes must be a Python int >= 1"):
        evaluate_policy(np.full((19, 4), 0.25), "FrozenLake-v1", 0, jax.random.key(0))
