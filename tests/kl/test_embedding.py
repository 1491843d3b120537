"""Embedding a standard MDP: matched action costs, value iteration against numpy, the gap."""

from __future__ import annotations

import numpy as np

from control_as_inference import kl


def random_mdp(rng, s=6, a=3, support=3):
    transitions = np.zeros((s, a, s))
    for i in range(s):
        cells = rng.choice(s, size=support, replace=False)
        transitions[i][:, cells] = rng.dirichlet(np.ones(support), size=a)
    cost = rng.uniform(0.5, 2.0, size=(s, a))
    terminal = np.zeros(s, bool)
    terminal[[0, 1]] = True
    return transitions, cost, terminal


def numpy_value_iteration(transitions, cost, terminal, final):
    v = np.where(terminal, final, 0.0)
    for _ in range(20_000):
        v = np.where(terminal, final, np.min(cost + transitions @ v, axis=1))
    return v


def test_embedding_matches_every_action_cost(rng):
    transitions, cost, terminal = random_mdp(rng)
    emb = kl.embed_mdp(transitions, cost, terminal)
    p = np.asarray(emb.lmdp.passive)
    q = np.asarray(emb.lmdp.cost)
    for s in np.flatnonzero(~terminal):
        for a in range(cost.shape[1]):
            t = transitions[s, a]
            nz = t > 0
            kl_div = np.sum(t[nz] * np.log(t[nz] / p[s, nz]))
            np.testing.assert_allclose(q[s] + kl_div, cost[s, a], rtol=1e-10)
    assert float(np.max(emb.match_residual)) < 1e-10


def test_fewer_actions_than_successors_leave_a_reported_mismatch_or_a_free_choice(rng):
    transitions, cost, terminal = random_mdp(rng, a=2, support=3)
    emb = kl.embed_mdp(transitions, cost, terminal)
    assert np.all(np.isfinite(emb.match_residual))
    # the minimum-norm solution of an underdetermined system still matches every action
    assert float(np.max(emb.match_residual)) < 1e-10
    # overdetermined (4 actions, support 2): least squares cannot match in general
    transitions, cost, terminal = random_mdp(rng, a=4, support=2)
    assert float(np.max(kl.embed_mdp(transitions, cost, terminal).match_residual)) > 1e-3


def test_gap_against_exact_value_iteration(rng):
    transitions, cost, terminal = random_mdp(rng)
    final = np.array([0.0, 1.0, 0, 0, 0, 0])
    gap = kl.embedding_gap(transitions, cost, terminal, final)
    v = numpy_value_iteration(transitions, cost, terminal, final)
    np.testing.assert_allclose(gap.v_mdp, v, rtol=1e-10)
    n = ~terminal
    # the LMDP can use every original action at its original cost, and more: a lower bound
    assert np.all(np.asarray(gap.solution.v)[n] <= v[n] + 1e-9)
    assert float(gap.gap) > 0
    np.testing.assert_allclose(
        gap.gap, np.max(np.abs(np.asarray(gap.solution.v) - v)[n]), rtol=1e-9
    )


def test_nearly_collinear_actions_give_a_negative_state_cost_that_is_refused():
    import pytest

    eps = 1e-3  # two laws of state 0 differ by eps, their costs by 1: m1 - m0 = 1 / eps, so
    # p(0|0) = 1 and q(0) = m0 = -500: a self-loop that pays e^500 per visit (no solution)
    transitions = np.zeros((3, 2, 3))
    transitions[0, 0] = [0.5, 0.5, 0.0]
    transitions[0, 1] = [0.5 + eps, 0.5 - eps, 0.0]
    transitions[1, :, 2] = 1.0
    transitions[2, :, 2] = 1.0
    cost = np.array([[2.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    terminal = np.array([False, False, True])
    with pytest.raises(ValueError, match=r"embed_mdp.*negative.*state 0.*no solution.*collinear"):
        kl.embed_mdp(transitions, cost, terminal)
    with pytest.raises(ValueError, match="embed_mdp"):
        kl.embedding_gap(transitions, cost, terminal)
    # negative control: laws far apart embed (q may be mildly negative) and solve
    transitions[0, 1] = [0.9, 0.1, 0.0]
    gap = kl.embedding_gap(transitions, cost, terminal)
    assert bool(gap.solution.converged) and np.all(np.isfinite(gap.solution.v))
