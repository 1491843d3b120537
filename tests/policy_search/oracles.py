"""Independent numpy oracles for the tabular tests: random MDPs and exact policy evaluation."""

from __future__ import annotations

import numpy as np


def random_mdp(rng, num_states=7, num_actions=3):
    """(T (S, A, S), r (S, A), p0 (S,)), dense and full-support."""
    transitions = rng.dirichlet(np.full(num_states, 0.5), size=(num_states, num_actions))
    return (
        transitions,
        rng.normal(size=(num_states, num_actions)),
        rng.dirichlet(np.ones(num_states)),
    )


def evaluate(transitions, reward, policy, discount, penalty=None):
    """V^pi by a linear solve, (I - gamma P_pi) V = sum_a pi (r - penalty); Q = r + gamma T V."""
    r = reward if penalty is None else reward - penalty
    r_pi = np.sum(np.where(policy > 0, policy * r, 0.0), axis=-1)
    p_pi = np.einsum("sa,sat->st", policy, transitions)
    v = np.linalg.solve(np.eye(len(r_pi)) - discount * p_pi, r_pi)
    return reward + discount * transitions @ v, v


def greedy(q):
    return np.eye(q.shape[1])[np.argmax(q, axis=1)]
