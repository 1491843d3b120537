"""Independent answers in plain numpy: brute-force enumeration and forward propagation.

Nothing here imports the library; these functions are the oracles the tests compare against.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.special import logsumexp


def random_mdp(rng, num_states=3, num_actions=2, horizon=None, forbid=True, sparse_k=None):
    """A random tiny MDP with non-uniform prior and initial distribution and some -inf rewards.

    Returns numpy arrays (transitions (S, A, S), reward (S, A) or (H, S, A), initial, prior).
    With sparse_k, every row of the transitions has at most sparse_k non-zero entries.
    """
    s, a = num_states, num_actions
    transitions = rng.dirichlet(np.ones(s), size=(s, a))
    if sparse_k is not None:
        for i, j in itertools.product(range(s), range(a)):
            keep = rng.choice(s, size=sparse_k, replace=False)
            row = np.zeros(s)
            row[keep] = rng.dirichlet(np.ones(sparse_k))
            transitions[i, j] = row
    shape = (s, a) if horizon is None else (horizon, s, a)
    reward = rng.normal(size=shape) * 1.5
    if forbid:
        # forbid one action in the first state (never all of them)
        reward[..., 0, 0] = -np.inf
    initial = rng.dirichlet(np.ones(s))
    prior = rng.dirichlet(np.ones(a), size=s)
    return transitions, reward, initial, prior


def to_successors(transitions, num_successors=None, rng=None):
    """Dense (S, A, S) to successor lists, padded with zero-probability entries and a duplicate."""
    s, a, _ = transitions.shape
    k = num_successors or s + 1
    index = np.zeros((s, a, k), dtype=np.int64)
    prob = np.zeros((s, a, k))
    for i, j in itertools.product(range(s), range(a)):
        nz = np.flatnonzero(transitions[i, j])
        assert len(nz) < k
        index[i, j, : len(nz)] = nz
        prob[i, j, : len(nz)] = transitions[i, j, nz]
        # split the first successor's mass over a repeated index
        index[i, j, len(nz)] = nz[0]
        prob[i, j, len(nz)] = prob[i, j, 0] / 2
        prob[i, j, 0] /= 2
        if rng is not None:  # and fill the rest with random indices of probability 0
            index[i, j, len(nz) + 1 :] = rng.integers(0, s, size=k - len(nz) - 1)
    return index, prob


def _log(x):
    with np.errstate(divide="ignore"):
        return np.log(x)


def enumerate_posterior(transitions, reward, initial, prior, horizon, temperature, terminal=None):
    """Every trajectory with its unnormalised log posterior weight.

    log w(tau) = log p0(s_0) + sum_t [log p(a_t|s_t) + r_t(s_t,a_t)/alpha + log T(s_{t+1}|s_t,a_t)]
                 + V_H(s_H)/alpha.
    Returns (states (N, H+1), actions (N, H), log_weights (N,)).
    """
    s, a, _ = transitions.shape
    r = reward if reward.ndim == 3 else np.broadcast_to(reward, (horizon, s, a))
    terminal = np.zeros(s) if terminal is None else terminal
    states, actions, weights = [], [], []
    for traj_s in itertools.product(range(s), repeat=horizon + 1):
        for traj_a in itertools.product(range(a), repeat=horizon):
            w = _log(initial[traj_s[0]]) + terminal[traj_s[-1]] / temperature
            for t in range(horizon):
                si, ai, sn = traj_s[t], traj_a[t], traj_s[t + 1]
                w += _log(prior[si, ai]) + r[t, si, ai] / temperature
                w += _log(transitions[si, ai, sn])
            states.append(traj_s)
            actions.append(traj_a)
            weights.append(w)
    return np.array(states), np.array(actions).reshape(len(states), horizon), np.array(weights)


def posterior_summaries(states, actions, log_weights, num_states, num_actions):
    """Log evidence, marginals and the conditional policy p(a_t | s_t, e) from an enumeration."""
    log_z = logsumexp(log_weights)
    p = np.exp(log_weights - log_z)
    horizon = actions.shape[1]
    sm = np.zeros((horizon + 1, num_states))
    sam = np.zeros((horizon, num_states, num_actions))
    for t in range(horizon + 1):
        np.add.at(sm[t], states[:, t], p)
    for t in range(horizon):
        np.add.at(sam[t], (states[:, t], actions[:, t]), p)
    with np.errstate(invalid="ignore", divide="ignore"):
        policy = sam / sm[:-1, :, None]
    return {
        "log_evidence": log_z,
        "state_marginals": sm,
        "state_action_marginals": sam,
        "policy": policy,
        "log_prob": log_weights - log_z,
    }


def maxent_objective(transitions, reward, initial, prior, policy, temperature, discount, terminal):
    """E[sum_t gamma^t (r - alpha KL(pi_t(.|s_t) || p(.|s_t)))] + gamma^H E[V_H(s_H)] by forward
    propagation of the state distribution under the true dynamics.

    policy: (H, S, A) probabilities.
    """
    horizon = policy.shape[0]
    s, a, _ = transitions.shape
    r = reward if reward.ndim == 3 else np.broadcast_to(reward, (horizon, s, a))
    d = initial.copy()
    total = 0.0
    for t in range(horizon):
        pi = policy[t]
        with np.errstate(divide="ignore", invalid="ignore"):
            kl_terms = np.where(pi > 0, pi * (np.log(pi) - np.log(prior)), 0.0)
            reward_terms = np.where(pi > 0, pi * r[t], 0.0)
        step = reward_terms.sum(1) - temperature * kl_terms.sum(1)
        total += discount**t * d @ step
        d = np.einsum("s,sa,sat->t", d, pi, transitions)
    return total + discount**horizon * d @ terminal


def hard_value_iteration(transitions, reward, horizon, discount=1.0):
    """Ordinary finite-horizon value iteration, V_0 (S,)."""
    v = np.zeros(transitions.shape[0])
    for _ in range(horizon):
        v = np.max(reward + discount * transitions @ v, axis=1)
    return v
