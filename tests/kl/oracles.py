"""Independent answers in plain numpy/scipy for the KL-control tests (nothing here imports the
library): random models, dense linear solves, eigenpairs, log-space fixed points."""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp


def random_lmdp(rng, num_states=7, num_terminal=2, sparse_k=None, low=0.1, high=1.0):
    """(passive (S, S), cost (S,), terminal (S,) bool); with sparse_k, rows have at most sparse_k
    non-zeros (always including a self-transition, so the chain is aperiodic)."""
    s = num_states
    passive = rng.dirichlet(np.ones(s), size=s)
    if sparse_k is not None:
        passive = np.zeros((s, s))
        for i in range(s):
            keep = np.unique(np.r_[i, rng.choice(s, size=sparse_k - 1, replace=False)])
            passive[i, keep] = rng.dirichlet(np.ones(len(keep)))
    cost = rng.uniform(low, high, size=s)
    terminal = np.zeros(s, bool)
    terminal[rng.choice(s, size=num_terminal, replace=False)] = True
    return passive, cost, terminal


def successor_lists(passive, k=None):
    """Dense (S, S) to (index, prob) of shape (S, K): the non-zeros, then a repeated index that
    carries half the first successor's mass, then zero-probability padding."""
    s = passive.shape[0]
    k = k or s + 1  # fixed for a given S: every test model of S states shares compiled code
    index = np.zeros((s, k), np.int64)
    prob = np.zeros((s, k))
    for i in range(s):
        nz = np.flatnonzero(passive[i])
        index[i, : len(nz)] = nz
        prob[i, : len(nz)] = passive[i, nz]
        index[i, len(nz)] = nz[0]
        prob[i, len(nz)] = prob[i, 0] / 2
        prob[i, 0] /= 2
        index[i, len(nz) + 1 :] = (i + 1) % s
    return index, prob


def first_exit_z(passive, cost, terminal):
    """z on every state: z_T = exp(-q_T), z_N = (I - G P_NN)^-1 G P_NT z_T (numpy.linalg.solve)."""
    n = ~terminal
    g = np.diag(np.exp(-cost[n]))
    z = np.exp(-cost) * terminal
    a = np.eye(n.sum()) - g @ passive[np.ix_(n, n)]
    z[n] = np.linalg.solve(a, g @ passive[np.ix_(n, terminal)] @ z[terminal])
    return z


def optimal_law(passive, z):
    """u(s'|s) = p(s'|s) z(s') / sum p z, (S, S)."""
    u = passive * z[None, :]
    return u / u.sum(axis=1, keepdims=True)


def first_exit_v_log_space(passive, cost, terminal, sweeps=20_000):
    """v by log-space Jacobi in float64 (for costs where z underflows), to a fixed point."""
    v = np.where(terminal, cost, 0.0)
    with np.errstate(divide="ignore"):
        logp = np.log(passive)
    for _ in range(sweeps):
        new = np.where(terminal, cost, cost - logsumexp(logp - v[None, :], axis=1))
        if np.max(np.abs(new - v)) <= 1e-13 * (1 + np.max(np.abs(new))):
            return new
        v = new
    raise AssertionError("oracle did not converge")


def finite_horizon_z(passive, cost, terminal, horizon, final_cost):
    """(H+1, S) z_t by the plain recursion z_t = G P z_{t+1}, terminal states fixed."""
    z = np.zeros((horizon + 1, len(cost)))
    z[horizon] = np.exp(-final_cost)
    for t in range(horizon - 1, -1, -1):
        z[t] = np.where(terminal, np.exp(-cost), np.exp(-cost) * (passive @ z[t + 1]))
    return z


def principal_eigenpair(passive, cost):
    """(lambda, z with max 1) of G P by numpy.linalg.eig."""
    values, vectors = np.linalg.eig(np.diag(np.exp(-cost)) @ passive)
    i = np.argmax(values.real)
    z = np.abs(vectors[:, i].real)
    return values[i].real, z / z.max()


def discounted_z(passive, cost, discount, iterations=5_000):
    """z = G (P z)^gamma by plain iteration in linear space."""
    z = np.ones(len(cost))
    for _ in range(iterations):
        z = np.exp(-cost) * (passive @ z) ** discount
    return z


def first_exit_log_z_spsolve(index, prob, cost, terminal, rounds=3):
    """log z by scipy.sparse.linalg.spsolve (SuperLU) of the diagonally scaled system
    (I - W_NN) y = W_NT 1, W[s, s'] = p(s'|s) exp(v0(s) - q(s) - v0(s')), log z = -v0 + log y,
    on successor lists (S, K). v0 starts from numpy log-space sweeps (to steps <= 0.1) and is
    rescaled around each direct solution (so y stays near 1 whatever the costs: no underflow)."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    s, k = index.shape
    n = ~terminal
    with np.errstate(divide="ignore"):
        logp = np.log(prob)
    v = np.where(terminal, cost, 0.0)
    for _ in range(5_000):  # Bellman-Ford-like: until no state moves by more than 0.1
        new = np.where(terminal, cost, cost - logsumexp(logp - v[index], axis=1))
        v, step = new, np.max(np.abs(new - v))
        if step <= 0.1:
            break
    rows = np.repeat(np.arange(s), k)
    for _ in range(rounds):
        w = np.exp(logp + (v - cost)[:, None] - v[index])
        w = sp.csr_matrix((w.ravel(), (rows, index.ravel())), shape=(s, s))
        a = (sp.eye(int(n.sum())) - w[n][:, n]).tocsc()
        y = spla.spsolve(a, w[n][:, terminal] @ np.ones(int(terminal.sum())))
        assert np.all(y > 0), "oracle: the scaled direct solve lost positivity"
        v[n] = v[n] - np.log(y)
    return -v


def log_law_successors(index, prob, log_z):
    """log u(s'|s) over successor slots (S, K) from log z, in numpy (-inf where p = 0)."""
    with np.errstate(divide="ignore"):
        terms = np.log(prob) + log_z[index]
    return terms - logsumexp(terms, axis=1, keepdims=True)
