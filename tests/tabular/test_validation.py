"""Bad input raises ValueError naming the field, never a NaN or a trace from inside JAX."""

import re

import jax
import numpy as np
import pytest

import control_as_inference as cai

from .oracles import random_mdp, to_successors


@pytest.fixture
def model(rng):
    return random_mdp(rng, forbid=False)


def bad(mdp_args, field, match=None):
    with pytest.raises(ValueError, match=re.escape(field)) as info:
        cai.TabularMDP(*mdp_args)
    if match:
        assert re.search(match, str(info.value)), str(info.value)


def test_transitions_shape(model):
    t, r, p0, pr = model
    bad((t[:, :, :2], r, p0, pr), "transitions", "shape")
    bad((t[0], r, p0, pr), "transitions", "shape")


def test_transitions_values(model):
    t, r, p0, pr = model
    neg = t.copy()
    neg[0, 0, 0] -= 1.0
    neg[0, 0, 1] += 1.0
    bad((neg, r, p0, pr), "transitions", "negative")
    bad((t * 1.1, r, p0, pr), "transitions", "sum to one")
    nan = t.copy()
    nan[1, 1, 1] = np.nan
    bad((nan, r, p0, pr), "transitions", "NaN")


def test_successors(model):
    t, r, p0, pr = model
    index, prob = to_successors(t)
    bad((cai.Successors(index + 5, prob), r, p0, pr), "transitions.index", r"\[0, 3\)")
    bad((cai.Successors(index, prob * 2), r, p0, pr), "transitions.prob", "sum to one")
    bad((cai.Successors(index[..., :2], prob), r, p0, pr), "transitions.index", "shape")
    bad((cai.Successors(index.astype(float), prob), r, p0, pr), "transitions.index", "integers")


def test_reward(model):
    t, r, p0, pr = model
    bad((t, r[:, :1], p0, pr), "reward", "shape")
    nan = r.copy()
    nan[0, 1] = np.nan
    bad((t, nan, p0, pr), "reward", "NaN")
    pos = r.copy()
    pos[2, 0] = np.inf
    bad((t, pos, p0, pr), "reward", r"\+inf")
    dead = r.copy()
    dead[1, :] = -np.inf
    bad((t, dead, p0, pr), "reward", "state 1")
    # forbidden by the prior plus -inf reward is also a dead state
    prior = pr.copy()
    prior[2] = [1.0, 0.0]
    mixed = r.copy()
    mixed[2, 0] = -np.inf
    bad((t, mixed, p0, prior), "reward", "state 2")
    # a (S,) reward is broadcast over actions
    mdp = cai.TabularMDP(t, r[:, 0], p0, pr)
    np.testing.assert_array_equal(mdp.reward, np.repeat(r[:, :1], 2, axis=1))


def test_initial_and_prior(model):
    t, r, p0, pr = model
    bad((t, r, p0[:2], pr), "initial", "shape")
    bad((t, r, p0 * 2, pr), "initial", "sum to one")
    bad((t, r, -p0 + 2 * p0.max() * np.eye(3)[0], pr), "initial", "negative")
    bad((t, r, p0, pr[:, :1]), "action_prior", "shape")
    bad((t, r, p0, pr + 0.1), "action_prior", "sum to one")


def test_infer_arguments(model):
    mdp = cai.TabularMDP(*model)
    for temperature in (0.0, -1.0, np.inf, np.nan):
        with pytest.raises(ValueError, match="temperature"):
            cai.infer(mdp, 3, temperature)
    for horizon in (-1, 2.5, True):
        with pytest.raises(ValueError, match="horizon"):
            cai.infer(mdp, horizon)
    with pytest.raises(ValueError, match="method"):
        cai.infer(mdp, 3, method="belief-propagation")
    for discount in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="discount"):
            cai.infer(mdp, 3, discount=discount)
    with pytest.raises(ValueError, match="terminal_value"):
        cai.infer(mdp, 3, terminal_value=np.zeros(4))
    with pytest.raises(ValueError, match="terminal_value"):
        cai.infer(mdp, 3, terminal_value=np.array([0.0, np.inf, 0.0]))
    timed = cai.TabularMDP(model[0], np.zeros((4, 3, 2)))
    with pytest.raises(ValueError, match="horizon"):
        cai.infer(timed, 3)
    with pytest.raises(ValueError, match="reward"):
        cai.soft_value_iteration(timed, 1.0, 0.9)
    with pytest.raises(ValueError, match="temperature"):
        cai.most_probable_trajectory(mdp, 3, 0.0)
    with pytest.raises(ValueError, match="tol"):
        cai.soft_value_iteration(mdp, 1.0, 0.9, tol=-1.0)
    with pytest.raises(ValueError, match="tol must be a finite"):  # stopped after one backup
        cai.soft_value_iteration(mdp, 1.0, 0.9, tol=float("inf"))
    with pytest.raises(ValueError, match="max_iterations"):
        cai.soft_value_iteration(mdp, 1.0, 0.9, max_iterations=0)


def test_sample_and_log_prob_arguments(model):
    post = cai.infer(cai.TabularMDP(*model), 2)
    with pytest.raises(ValueError, match="num"):
        cai.sample(post, jax.random.key(0), 0)
    states = np.zeros((4, 3), dtype=int)
    actions = np.zeros((4, 2), dtype=int)
    with pytest.raises(ValueError, match="states"):
        cai.log_prob(post, states[:, :2], actions)
    with pytest.raises(ValueError, match="states"):
        cai.log_prob(post, states + 3, actions)
    with pytest.raises(ValueError, match="actions"):
        cai.log_prob(post, states, actions - 1)
    with pytest.raises(ValueError, match="states"):
        cai.log_prob(post, states.astype(float), actions)
