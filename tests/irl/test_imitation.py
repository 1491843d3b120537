"""Peer check: imitation's MCE IRL and ours reach the same occupancy measure on the same model,
features and demonstrations (skipped when imitation, an optional peer, is not installed)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import control_as_inference as cai

mce_irl = pytest.importorskip("imitation.algorithms.mce_irl")
torch = pytest.importorskip("torch")
reward_nets = pytest.importorskip("imitation.rewards.reward_nets")
base_envs = pytest.importorskip("seals.base_envs")


def test_same_occupancy_as_imitation(rng):
    s, a, f, horizon = 30, 3, 4, 8
    transitions = rng.dirichlet(np.ones(s) * 0.3, size=(s, a))
    features = rng.normal(size=(s, f))
    theta = rng.normal(size=f)
    initial = rng.dirichlet(np.ones(s))
    true = cai.TabularMDP(transitions, features @ theta, initial)
    post = cai.infer(true, horizon, 1.0, "variational")
    # each gets the expected occupancy of theta* in its own convention
    ours_demo = np.asarray(post.state_action_marginals).sum(axis=0)
    their_demo = np.asarray(post.state_marginals).sum(axis=0)  # states at t = 0..H

    logging.getLogger("imitation").setLevel(logging.WARNING)
    torch.manual_seed(0)
    env = base_envs.TabularModelPOMDP(
        transition_matrix=transitions,
        observation_matrix=features.astype(np.float32),
        reward_matrix=np.zeros(s),
        horizon=horizon,
        initial_state_dist=initial,
    )
    net = reward_nets.BasicRewardNet(
        env.observation_space, env.action_space, use_action=False, hid_sizes=[]
    )
    trainer = mce_irl.MCEIRL(
        their_demo,
        env,
        net,
        rng=np.random.default_rng(0),
        optimizer_kwargs={"lr": 0.1},
        linf_eps=1e-4,
        log_interval=None,
    )
    trainer.train(max_iter=3000)
    with torch.no_grad():
        their_reward = net(torch.as_tensor(features, dtype=net.dtype), None, None, None).numpy()

    fit = cai.maxent_irl(true, features, ours_demo, horizon=horizon, tol=1e-9, progress=False)
    occupancy = {}
    for name, reward in (("ours", np.asarray(fit.reward)), ("imitation", their_reward)):
        m = cai.TabularMDP(transitions, reward.astype(np.float64), initial)
        occupancy[name] = np.asarray(cai.infer(m, horizon, 1.0, "variational").state_marginals)
    np.testing.assert_allclose(occupancy["ours"].sum(0), their_demo, atol=1e-8)
    np.testing.assert_allclose(occupancy["imitation"].sum(0), occupancy["ours"].sum(0), atol=1e-3)
    # and imitation's own occupancy routine agrees with our forward pass for our fitted reward
    _, dcum = mce_irl.mce_occupancy_measures(env, reward=np.asarray(fit.reward)[:, 0])
    np.testing.assert_allclose(dcum, occupancy["ours"].sum(0), atol=1e-8)
