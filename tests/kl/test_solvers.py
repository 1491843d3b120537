"""KL-control solvers against numpy/scipy oracles, with negative controls."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from control_as_inference import Successors, kl

from . import oracles


def build(passive, cost, terminal, sparse=False, dtype=np.float64):
    if sparse:
        index, prob = oracles.successor_lists(passive)
        p = Successors(index=jnp.asarray(index), prob=jnp.asarray(prob, dtype))
    else:
        p = np.asarray(passive, dtype)
    return kl.LMDP(p, np.asarray(cost, dtype), terminal)


def dense_law(lmdp, log_policy):
    """A law in the model's layout as a dense (S, S) array."""
    if not lmdp.is_sparse:
        return np.exp(np.asarray(log_policy))
    index, _ = lmdp.passive
    u = np.zeros((lmdp.num_states,) * 2)
    np.add.at(
        u,
        (np.arange(lmdp.num_states)[:, None].repeat(index.shape[1], 1), index),
        np.exp(np.asarray(log_policy)),
    )
    return u


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("method", ["iterative", "direct"])
def test_first_exit_matches_numpy_linear_solve(rng, sparse, method):
    passive, cost, terminal = oracles.random_lmdp(rng, 8, sparse_k=4 if sparse else None)
    lmdp = build(passive, cost, terminal, sparse)
    sol = kl.first_exit(lmdp, method=method)
    z = oracles.first_exit_z(passive, cost, terminal)
    assert bool(sol.converged)
    np.testing.assert_allclose(sol.z, z, rtol=1e-9)
    np.testing.assert_allclose(sol.v, -np.log(z), rtol=1e-9, atol=1e-12)
    u = dense_law(lmdp, sol.log_policy)
    n = ~terminal
    np.testing.assert_allclose(u[n], oracles.optimal_law(passive, z)[n], atol=1e-10)
    np.testing.assert_allclose(u[terminal], passive[terminal], atol=1e-12)
    # negative control: the same solve with G applied after P (z = P G z) is a different answer
    wrong = oracles.first_exit_z(passive.T.copy(), cost, terminal)
    assert np.max(np.abs(wrong - z)) > 1e-3


def test_first_exit_matches_scipy_sparse_solve(rng):
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    passive, cost, terminal = oracles.random_lmdp(rng, 8, num_terminal=3, sparse_k=5)
    sol = kl.first_exit(build(passive, cost, terminal, sparse=True))
    n = ~terminal
    g = sp.diags(np.exp(-cost[n]))
    a = sp.eye(n.sum()) - g @ sp.csr_matrix(passive[np.ix_(n, n)])
    z_n = spla.spsolve(a.tocsc(), g @ passive[np.ix_(n, terminal)] @ np.exp(-cost[terminal]))
    np.testing.assert_allclose(np.asarray(sol.z)[n], z_n, rtol=1e-9)


def test_first_exit_equals_soft_value_iteration_of_the_embedded_model(rng):
    import control_as_inference as cai

    passive, cost, terminal = oracles.random_lmdp(rng, 8, sparse_k=4)
    for sparse in (False, True):
        lmdp = build(passive, cost, terminal, sparse)
        sol = kl.first_exit(lmdp)
        svi = cai.soft_value_iteration(kl.to_tabular(lmdp), temperature=1.0, discount=1.0)
        n = ~terminal
        np.testing.assert_allclose(-np.asarray(svi.v)[n], np.asarray(sol.v)[n], rtol=1e-9)
        np.testing.assert_allclose(svi.policy[n], sol.policy[n], atol=1e-9)
        # negative control: another temperature is another problem
        hot = cai.soft_value_iteration(kl.to_tabular(lmdp), temperature=2.0, discount=1.0)
        assert np.max(np.abs(-np.asarray(hot.v)[n] - np.asarray(sol.v)[n])) > 1e-2


EXTREME = [
    pytest.param(np.float32, 1e4, (True,), ("iterative",)),
    pytest.param(np.float64, 1e4, (True,), ("iterative",)),
    pytest.param(np.float32, 1e3, (False, True), ("iterative", "direct"), marks=pytest.mark.slow),
    pytest.param(np.float64, 1e3, (False, True), ("iterative", "direct"), marks=pytest.mark.slow),
    pytest.param(np.float32, 1e4, (False,), ("iterative", "direct"), marks=pytest.mark.slow),
    pytest.param(np.float64, 1e4, (False,), ("iterative", "direct"), marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("dtype", "scale", "layouts", "methods"), EXTREME)
def test_extreme_costs_stay_finite_and_right(rng, dtype, scale, layouts, methods):
    passive, cost, terminal = oracles.random_lmdp(rng, 8, sparse_k=3)
    cost = cost * scale
    v = oracles.first_exit_v_log_space(passive, cost, terminal)
    for sparse in layouts:
        lmdp = build(passive, cost, terminal, sparse, dtype)
        for method in methods:
            sol = kl.first_exit(lmdp, method=method)
            assert np.all(np.isfinite(sol.v)), (sparse, method)
            assert np.all(np.isfinite(sol.log_policy) | (sol.log_policy == -np.inf))
            assert not np.isnan(np.asarray(sol.log_policy)).any()
            rtol = 1e-5 if dtype == np.float32 else 1e-10
            np.testing.assert_allclose(sol.v, v, rtol=rtol)
        fh = kl.finite_horizon(lmdp, 30)
        assert np.all(np.isfinite(fh.v)) and not np.isnan(np.asarray(fh.log_policy)).any()
        dc = kl.discounted(lmdp, 0.9)
        assert np.all(np.isfinite(dc.v)) and not np.isnan(np.asarray(dc.log_policy)).any()
        # average cost needs an irreducible chain: mix in a ring 0 -> 1 -> ... -> 0
        ring = 0.7 * passive + 0.3 * np.roll(np.eye(len(cost)), 1, axis=1)
        ac = kl.average_cost(build(ring, cost, None, sparse, dtype))
        assert bool(ac.converged) and np.isfinite(float(ac.average_cost))
        assert np.all(np.isfinite(ac.v)) and not np.isnan(np.asarray(ac.log_policy)).any()


@pytest.mark.parametrize("sparse", [pytest.param(False, marks=pytest.mark.slow), True])
def test_finite_horizon_matches_the_recursion_and_infer(rng, sparse):
    import control_as_inference as cai

    passive, cost, terminal = oracles.random_lmdp(rng, 8, sparse_k=4)
    final = rng.uniform(0, 2, size=8) * ~terminal + cost * terminal
    lmdp = build(passive, cost, terminal, sparse)
    sol = kl.finite_horizon(lmdp, 5, final_cost=final)
    z = oracles.finite_horizon_z(passive, cost, terminal, 5, final)
    np.testing.assert_allclose(sol.z, z, rtol=1e-12)
    u = np.stack([dense_law(lmdp, lp) for lp in sol.log_policy])
    n = ~terminal
    for t in range(5):
        np.testing.assert_allclose(u[t][n], oracles.optimal_law(passive, z[t + 1])[n], atol=1e-12)
    # the embedded model: V = -v on interior states, exact and variational agree (deterministic)
    tab = kl.to_tabular(lmdp)
    value = np.where(terminal, 0.0, -final)
    for method in ("exact", "variational"):
        post = cai.infer(tab, 5, temperature=1.0, method=method, terminal_value=value)
        np.testing.assert_allclose(-np.asarray(post.v)[:, n], np.asarray(sol.v)[:, n], rtol=1e-10)
        np.testing.assert_allclose(post.policy[:, n], sol.policy[:, n], atol=1e-10)
    # negative control: a discount < 1 in the embedded model changes the answer
    off = cai.infer(tab, 5, temperature=1.0, discount=0.9, terminal_value=value)
    assert np.max(np.abs(-np.asarray(off.v)[0, n] - np.asarray(sol.v)[0, n])) > 1e-2


def test_average_cost_matches_numpy_eig(rng):
    passive, cost, _ = oracles.random_lmdp(rng, 8, sparse_k=4)
    lam, z = oracles.principal_eigenpair(passive, cost)
    for sparse in (False, True):
        sol = kl.average_cost(build(passive, cost, None, sparse))
        assert bool(sol.converged)
        np.testing.assert_allclose(sol.average_cost, -np.log(lam), rtol=1e-9)
        np.testing.assert_allclose(sol.z, z, rtol=1e-8)
    # negative control: the second eigenvalue is not the answer
    values = np.sort(np.abs(np.linalg.eigvals(np.diag(np.exp(-cost)) @ passive)))
    assert abs(-np.log(values[-2]) - float(sol.average_cost)) > 1e-3


def test_discounted_matches_plain_iteration(rng):
    passive, cost, _ = oracles.random_lmdp(rng, 8, sparse_k=4)
    z = oracles.discounted_z(passive, cost, 0.9)
    for sparse in (False, True):
        lmdp = build(passive, cost, None, sparse)
        sol = kl.discounted(lmdp, 0.9)
        np.testing.assert_allclose(sol.z, z, rtol=1e-10)
        u = dense_law(lmdp, sol.log_policy)
        np.testing.assert_allclose(u, oracles.optimal_law(passive, z**0.9), atol=1e-12)
    assert np.max(np.abs(oracles.discounted_z(passive, cost, 0.8) - z)) > 1e-3  # negative control


def test_discount_one_finite_horizon_tends_to_first_exit(rng):
    passive, cost, terminal = oracles.random_lmdp(rng, 8)
    lmdp = build(passive, cost, terminal)
    long = kl.finite_horizon(lmdp, 400)
    np.testing.assert_allclose(long.v[0], kl.first_exit(lmdp).v, rtol=1e-8)


def test_float32_matches_float64(rng):
    passive, cost, terminal = oracles.random_lmdp(rng, 8, sparse_k=4)
    v64 = kl.first_exit(build(passive, cost, terminal, True)).v
    sol = kl.first_exit(build(passive, cost, terminal, True, np.float32))
    assert sol.log_z.dtype == jnp.float32 and bool(sol.converged)
    np.testing.assert_allclose(sol.v, v64, rtol=1e-5)


def test_an_unfinished_solve_warns_and_says_not_converged(rng):
    import control_as_inference as cai

    passive, cost, terminal = oracles.random_lmdp(rng, 8, sparse_k=4, low=0.01, high=0.02)
    with pytest.warns(cai.ConvergenceWarning, match="first_exit did not converge"):
        sol = kl.first_exit(kl.LMDP(passive, cost, terminal), max_iterations=1)
    assert not bool(sol.converged)
