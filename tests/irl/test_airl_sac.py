"""AIRL with SAC: the discriminator's pieces against independent computations (the actor's own
log-density of its samples, the logistic formula), the reward swap, and bad input; a short run
end to end (slow); checkpoints: a resumed run equals an uninterrupted one (slow), a missing or
mismatched checkpoint is named."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from control_as_inference.agents.jax_train import pendulum_env
from control_as_inference.agents.networks import TanhGaussianActor
from control_as_inference.agents.sac import SACConfig
from control_as_inference.irl.airl_sac import (
    AIRLConfig,
    AIRLNetworks,
    actor_episode,
    actor_log_prob,
    airl_network_loss,
    airl_sac,
    continuous_demonstrations,
    learned_reward_env,
)
from control_as_inference.irl.round_checkpoint import (
    read_round_checkpoint,
    write_round_checkpoint,
)


@pytest.fixture(scope="module")
def actor():
    return TanhGaussianActor(3, jnp.array([-2.0]), jnp.array([2.0]), (16,), jax.random.key(0))


def test_log_prob_of_an_action_is_the_density_of_the_sample(actor):
    obs = jax.random.normal(jax.random.key(1), (64, 3), jnp.float32)
    eps = jax.random.normal(jax.random.key(2), (64, 1), jnp.float32)
    action, log_pi = jax.vmap(actor.sample_from_noise)(obs, eps)
    np.testing.assert_allclose(actor_log_prob(actor, obs, action), log_pi, rtol=1e-4, atol=1e-4)
    # negative control: another state's density is not it
    other = actor_log_prob(actor, obs[::-1], action)
    assert np.max(np.abs(np.asarray(other - log_pi))) > 1e-2


def test_network_loss_is_the_logistic_formula(actor):
    nets = AIRLNetworks(3, (8,), jax.random.key(3))
    keys = jax.random.split(jax.random.key(4), 6)
    expert = (
        jax.random.normal(keys[0], (5, 3), jnp.float32),
        jnp.full((5, 1), 0.5, jnp.float32),
        jax.random.normal(keys[1], (5, 3), jnp.float32),
    )
    policy = (
        jax.random.normal(keys[2], (7, 3), jnp.float32),
        jnp.full((7, 1), -0.3, jnp.float32),
        jax.random.normal(keys[3], (7, 3), jnp.float32),
    )

    def log_d(batch):
        g = np.asarray(nets.reward(batch[0]), np.float64)
        h = np.asarray(jax.vmap(nets.h)(batch[0])[:, 0], np.float64)
        h_next = np.asarray(jax.vmap(nets.h)(batch[2])[:, 0], np.float64)
        f = g + 0.9 * h_next - h
        pi = np.exp(np.asarray(actor_log_prob(actor, batch[0], batch[1]), np.float64))
        d = np.exp(f) / (np.exp(f) + pi)
        return np.log(d), np.log(1 - d)

    want = -log_d(expert)[0].mean() - log_d(policy)[1].mean()
    got = airl_network_loss(nets, actor, expert, policy, 0.9)
    np.testing.assert_allclose(got, want, rtol=1e-4)


def test_learned_reward_env_pays_the_learned_reward():
    env = pendulum_env(5)

    def reward(obs, action, next_obs):
        return jnp.sum(obs) + 10 * jnp.sum(next_obs) + 100 * action[0]

    swapped = learned_reward_env(env, reward)
    obs, state = swapped.reset(jax.random.key(0))
    next_obs, state, r, _, _ = swapped.step(jax.random.key(1), state, jnp.array([0.5], jnp.float32))
    np.testing.assert_allclose(r, jnp.sum(obs) + 10 * jnp.sum(next_obs) + 50, rtol=1e-5)
    # the true dynamics are untouched
    _, inner_state = env.reset(jax.random.key(0))
    inner_next = env.step(jax.random.key(1), inner_state, jnp.array([0.5], jnp.float32))[0]
    np.testing.assert_allclose(next_obs, inner_next)


def test_bad_demonstrations_are_named():
    ok_states, ok_actions = np.zeros((2, 4, 3)), np.zeros((2, 3, 1))
    with pytest.raises(ValueError, match="states must have shape"):
        continuous_demonstrations(np.zeros((2, 4, 2)), ok_actions, obs_dim=3, action_dim=1)
    with pytest.raises(ValueError, match="actions must have shape"):
        continuous_demonstrations(ok_states, np.zeros((2, 3, 2)), obs_dim=3, action_dim=1)
    bad = ok_states.copy()
    bad[1, 2, 0] = np.nan
    with pytest.raises(ValueError, match="states contains NaN"):
        continuous_demonstrations(bad, ok_actions, obs_dim=3, action_dim=1)
    with pytest.raises(ValueError, match="too few demonstrations"):
        continuous_demonstrations(ok_states[:1, :2], ok_actions[:1, :1], obs_dim=3, action_dim=1)
    with pytest.raises(ValueError, match="lengths must lie"):
        continuous_demonstrations(ok_states, ok_actions, np.array([0, 3]), obs_dim=3, action_dim=1)
    # a NaN past a demonstration's length is padding, not data
    padded = ok_states.copy()
    padded[0, 3] = np.nan
    continuous_demonstrations(padded, ok_actions, np.array([2, 3]), obs_dim=3, action_dim=1)
    with pytest.raises(ValueError, match="continuous_demonstrations"):
        airl_sac(pendulum_env(), (ok_states, ok_actions), jax.random.key(0))


@pytest.mark.slow
def test_a_short_run_end_to_end(actor):
    env = pendulum_env(50)
    keys = jax.random.split(jax.random.key(5), 4)
    _, states, actions = zip(*(actor_episode(actor, env, k, 50, False) for k in keys), strict=True)
    demos = continuous_demonstrations(np.stack(states), np.stack(actions), obs_dim=3, action_dim=1)
    sac = SACConfig(hidden=(16, 16), batch_size=32, learning_starts=50, buffer_size=1000)
    config = AIRLConfig(round_steps=100, discriminator_steps=5, batch_size=32, hidden=(8,))
    fit = airl_sac(env, demos, jax.random.key(6), steps=200, sac_config=sac, config=config)
    assert fit.method == "airl" and fit.iterations == 2 and fit.objective.shape == (2,)
    assert np.all(np.isfinite(fit.objective))
    assert int(fit.solution.step) == 200


def _demos(actor, n=4, length=50):
    env = pendulum_env(length)
    keys = jax.random.split(jax.random.key(5), n)
    _, states, actions = zip(
        *(actor_episode(actor, env, k, length, False) for k in keys), strict=True
    )
    return continuous_demonstrations(np.stack(states), np.stack(actions), obs_dim=3, action_dim=1)


def test_resume_without_a_checkpoint_is_named(tmp_path):
    demos = continuous_demonstrations(
        np.zeros((2, 4, 3)), np.zeros((2, 3, 1)), obs_dim=3, action_dim=1
    )
    where = str(tmp_path / "none")
    with pytest.raises(FileNotFoundError, match=r"no checkpoint at .*none.airl\.eqx"):
        airl_sac(pendulum_env(), demos, jax.random.key(0), checkpoint_dir=where, resume=True)
    with pytest.raises(ValueError, match="resume=True needs checkpoint_dir"):
        airl_sac(pendulum_env(), demos, jax.random.key(0), resume=True)


def test_round_checkpoint_round_trips_and_refuses_other_settings(tmp_path):
    path = str(tmp_path / "sub" / "run.eqx")
    state = (jnp.arange(3, dtype=jnp.float32), {"k": jnp.array([7, 9], jnp.uint32)})
    write_round_checkpoint(path, state, [0.5, -1.25])
    like = (jnp.zeros(3, jnp.float32), {"k": jnp.zeros(2, jnp.uint32)})
    got, curve = read_round_checkpoint(path, like)
    np.testing.assert_array_equal(got[0], state[0])
    np.testing.assert_array_equal(got[1]["k"], state[1]["k"])
    assert curve == [0.5, -1.25]
    # a curve written one round ahead of the state (a crash between the two files) is cut
    with open(path + ".json", "w") as handle:
        json.dump({"round": 3, "objective": [0.5, -1.25, 9.0]}, handle)
    assert read_round_checkpoint(path, like)[1] == [0.5, -1.25]
    # negative control: a state of other shapes (other settings) is refused, naming the shapes
    with pytest.raises(ValueError, match=r"does not fit this run's settings.*\(4,\).*\(3,\)"):
        read_round_checkpoint(path, (jnp.zeros(4, jnp.float32), {"k": jnp.zeros(2, jnp.uint32)}))
    with open(path, "wb") as handle:
        handle.write(b"truncated")
    with pytest.raises(ValueError, match="does not fit this run's settings or is damaged"):
        read_round_checkpoint(path, like)
    with open(path + ".json", "w") as handle:
        handle.write("{")
    with pytest.raises(ValueError, match="unreadable or damaged"):
        read_round_checkpoint(path, like)


@pytest.mark.slow
def test_a_resumed_run_equals_an_uninterrupted_one(actor, tmp_path, capsys):
    demos = _demos(actor)
    sac = SACConfig(hidden=(16, 16), batch_size=32, learning_starts=30, buffer_size=400)
    config = AIRLConfig(round_steps=40, discriminator_steps=3, batch_size=32, hidden=(8,))

    def fit(seed, rounds, **kwargs):
        key = jax.random.key(seed)
        return airl_sac(
            pendulum_env(50), demos, key, steps=40 * rounds, sac_config=sac, config=config, **kwargs
        )

    straight = fit(6, 3)
    here, other = str(tmp_path / "here"), str(tmp_path / "other")
    fit(6, 2, checkpoint_dir=here, progress=True)
    assert "airl_sac" in capsys.readouterr().err  # the bar was drawn
    resumed = fit(6, 3, checkpoint_dir=here, resume=True, progress=False)
    assert resumed.iterations == 3 and int(resumed.solution.step) == 120
    # bit-identical: the same jitted rounds on the same state (rtol 1e-5 would do, too)
    np.testing.assert_array_equal(resumed.objective, straight.objective)
    leaves = jax.tree_util.tree_leaves
    for got, want in zip(leaves(resumed.reward_model), leaves(straight.reward_model), strict=True):
        np.testing.assert_array_equal(got, want)
    # negative control: the checkpoint of another seed, resumed under seed 6, is another run
    fit(7, 2, checkpoint_dir=other)
    foreign = fit(6, 3, checkpoint_dir=other, resume=True)
    diffs = [
        float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
        for a, b in zip(leaves(foreign.reward_model), leaves(straight.reward_model), strict=True)
    ]
    assert max(diffs) > 1e-3
    assert np.max(np.abs(foreign.objective - straight.objective)) > 1e-4
