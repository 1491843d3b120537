"""The solver layer (issue 29 item 3): each solver's reported error holds against an independent
solve on hard cases (discount near 1, low temperature, badly conditioned Riccati), a solver out
of iterations says so (converged False and a ConvergenceWarning), and a deliberately wrong stop
test (the plain residual, without the 1 / (1 - gamma) factor) is caught: it reports converged
with an error over the tolerance."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
from scipy.special import logsumexp

import control_as_inference as cai
from control_as_inference import engine
from control_as_inference.lqr import LinearGaussianSystem, QuadraticReward, soft_lqr_infinite
from control_as_inference.tabular import Spec, backup


def test_one_convergence_warning():
    assert cai.ConvergenceWarning is engine.ConvergenceWarning is cai.tabular.ConvergenceWarning
    assert issubclass(engine.ConvergenceWarning, RuntimeWarning)


def linear_contraction(rng, n=60, gamma=0.995):
    """x = gamma P x + b with P row-stochastic: a gamma-contraction in the sup norm."""
    P = rng.dirichlet(np.ones(n) * 0.1, n)
    b = rng.normal(size=n)
    exact = np.linalg.solve(np.eye(n) - gamma * P, b)
    step = lambda x: gamma * (jnp.asarray(P) @ x) + jnp.asarray(b)  # noqa: E731
    return step, exact


def test_fixed_point_bound_holds_and_a_wrong_rate_is_caught(rng):
    gamma, tol = 0.995, 1e-9
    step, exact = linear_contraction(rng, gamma=gamma)
    x0 = jnp.zeros(exact.shape)
    result = engine.fixed_point(step, x0, tol=tol, max_iterations=100_000, rate=gamma)
    true_error = np.max(np.abs(np.asarray(result.solution) - exact))
    scale = 1 + np.max(np.abs(np.asarray(result.solution)))
    assert bool(result.converged)
    assert true_error <= float(result.error) <= tol * scale
    assert float(result.error) == pytest.approx(gamma / (1 - gamma) * float(result.residual))
    # negative control: rate 1/2 makes the bound the plain step |x_k - x_k-1|
    wrong = engine.fixed_point(step, x0, tol=tol, max_iterations=100_000, rate=0.5)
    assert bool(wrong.converged)
    assert np.max(np.abs(np.asarray(wrong.solution) - exact)) > 10 * tol * scale


def test_fixed_point_estimated_rate_and_breakdown(rng):
    gamma, tol = 0.99, 1e-10
    step, exact = linear_contraction(rng, n=30, gamma=gamma)
    result = engine.fixed_point(step, jnp.zeros(30), tol=tol, max_iterations=100_000)
    true_error = np.max(np.abs(np.asarray(result.solution) - exact))
    assert bool(result.converged) and true_error <= float(result.error)
    # proceed False stops the loop: not converged
    stopped = engine.fixed_point(
        step, jnp.zeros(30), tol=tol, max_iterations=100_000, proceed=lambda x: x[0] < 1e9
    )
    assert bool(stopped.converged) == bool(result.converged)
    broken = engine.fixed_point(
        step, jnp.zeros(30), tol=tol, max_iterations=100_000, proceed=lambda x: x[0] == 0
    )
    assert not bool(broken.converged) and int(broken.iterations) == 1


def test_fixed_point_out_of_iterations_warns(rng):
    step, _ = linear_contraction(rng, n=10)
    result = engine.fixed_point(step, jnp.zeros(10), tol=1e-12, max_iterations=5, rate=0.995)
    assert not bool(result.converged) and int(result.iterations) == 5
    with pytest.warns(engine.ConvergenceWarning, match="my solver did not converge in 5"):
        engine.warn_unconverged(result, "my solver", "raise max_iterations")
    with warnings.catch_warnings():  # silent under jit, where converged cannot be read
        warnings.simplefilter("error")
        jax.jit(lambda r: engine.warn_unconverged(r, "x") or r.solution)(result)


# ----------------------------------------------------------------------------- soft VI


def hard_mdp(rng, num_states=80, num_actions=4, dtype=np.float64):
    transitions = rng.dirichlet(np.ones(num_states) * 0.05, (num_states, num_actions))
    reward = rng.normal(size=(num_states, num_actions))
    return cai.TabularMDP(transitions.astype(dtype), reward.astype(dtype))


def newton_soft_values(mdp, temperature, discount, iterations=60):
    """The soft Bellman fixed point by Newton's method in float64 numpy (soft policy
    iteration): V <- V - (I - gamma P_pi)^{-1} (V - B V), quadratically convergent."""
    T = np.asarray(mdp.transitions, np.float64)
    r = np.asarray(mdp.reward, np.float64)
    log_prior = np.log(np.asarray(mdp.action_prior, np.float64))
    S = r.shape[0]
    v = np.zeros(S)
    for _ in range(iterations):
        q = r + discount * T @ v
        logits = log_prior + q / temperature
        bv = temperature * logsumexp(logits, axis=1)
        pi = np.exp(logits - bv[:, None] / temperature)
        jac = np.eye(S) - discount * np.einsum("sa,sat->st", pi, T)
        v = v - np.linalg.solve(jac, v - bv)
    return v


@pytest.mark.parametrize("discount, temperature", [(0.99, 0.05), (0.999, 0.01)])
def test_soft_value_iteration_error_bound_holds(rng, discount, temperature):
    mdp = hard_mdp(rng)
    tol = 1e-7
    sol = cai.soft_value_iteration(mdp, temperature, discount, tol=tol, max_iterations=200_000)
    exact = newton_soft_values(mdp, temperature, discount)
    true_error = np.max(np.abs(np.asarray(sol.v) - exact))
    assert bool(sol.converged)
    assert true_error <= float(sol.error) <= tol * (1 + np.max(np.abs(np.asarray(sol.v))))
    # the default (rounding floor) still reports an honest bound
    floor = cai.soft_value_iteration(mdp, temperature, discount, max_iterations=200_000)
    assert np.max(np.abs(np.asarray(floor.v) - exact)) <= float(floor.error)


def test_soft_value_iteration_plain_residual_stop_is_caught(rng):
    """Negative control: the old stop test (the residual |V_k+1 - V_k| <= tol (1 + |V|), no
    gamma / (1 - gamma)) declares convergence with V off by far more than tol."""
    mdp, temperature, discount, tol = hard_mdp(rng), 0.01, 0.999, 1e-7
    spec = Spec.of(mdp, jnp.asarray(temperature), jnp.asarray(discount), "variational")
    step = lambda v: backup(mdp, spec, v, mdp.reward)[1]  # noqa: E731
    v0 = jnp.zeros(mdp.num_states)
    plain = engine.fixed_point(step, v0, tol=tol, max_iterations=200_000, rate=0.5)
    exact = newton_soft_values(mdp, temperature, discount)
    scale = 1 + np.max(np.abs(exact))
    assert bool(plain.converged)
    assert np.max(np.abs(np.asarray(plain.solution) - exact)) > 10 * tol * scale


def test_soft_value_iteration_unreachable_tol_warns():
    mdp = hard_mdp(np.random.default_rng(3), 30, 3, np.float32)
    with pytest.warns(cai.ConvergenceWarning, match="soft_value_iteration did not converge"):
        sol = cai.soft_value_iteration(mdp, 0.1, 0.999, tol=1e-9, max_iterations=3000)
    assert not bool(sol.converged) and int(sol.iterations) == 3000
    assert float(sol.error) > 1e-9


def test_implicit_fixed_point_gradient_is_the_discounted_occupancy(rng):
    """d V*(s0) / d r(s, a) = [(I - gamma P_pi)^{-1}]_{s0 s} pi(a|s) (forward and reverse)."""
    mdp, temperature, discount = hard_mdp(rng, 20, 3), 0.3, 0.95

    def values(reward):
        m = cai.TabularMDP(mdp.transitions, reward)
        spec = Spec.of(m, jnp.asarray(temperature), jnp.asarray(discount), "variational")
        result = engine.implicit_fixed_point(
            lambda v: backup(m, spec, v, reward)[1] - v,
            jnp.zeros(20),
            max_iterations=100_000,
            rate=discount,
        )
        return result.solution

    v = values(mdp.reward)
    pi = np.asarray(cai.soft_value_iteration(mdp, temperature, discount).policy)
    P = np.einsum("sa,sat->st", pi, np.asarray(mdp.transitions))
    occupancy = np.linalg.inv(np.eye(20) - discount * P)
    expected = occupancy[0][:, None] * pi
    np.testing.assert_allclose(v, newton_soft_values(mdp, temperature, discount), atol=1e-10)
    np.testing.assert_allclose(jax.grad(lambda r: values(r)[0])(mdp.reward), expected, atol=1e-9)
    direction = jnp.asarray(rng.normal(size=(20, 3)))
    _, forward = jax.jvp(lambda r: values(r)[0], (mdp.reward,), (direction,))
    np.testing.assert_allclose(forward, np.sum(expected * np.asarray(direction)), atol=1e-9)


def test_bicgstab_matches_a_direct_solve(rng):
    n = 50
    A = np.eye(n) * 4 + rng.normal(size=(n, n)) * 0.3
    b = rng.normal(size=n)
    result = engine.bicgstab(lambda x: jnp.asarray(A) @ x, jnp.asarray(b), jnp.zeros(n), 1e-12, 500)
    assert bool(result.converged) and float(result.error) <= 1e-12
    np.testing.assert_allclose(result.solution, np.linalg.solve(A, b), rtol=1e-9, atol=1e-10)
    short = engine.bicgstab(lambda x: jnp.asarray(A) @ x, jnp.asarray(b), jnp.zeros(n), 1e-12, 1)
    assert not bool(short.converged) and int(short.iterations) == 1


# ----------------------------------------------------------------------------- Riccati


def ill_conditioned(seed, n=5, m=2):
    rng = np.random.default_rng(seed)
    U = np.linalg.qr(rng.normal(size=(n, n)))[0]
    A = U @ np.diag(np.linspace(0.3, 1.08, n)) @ U.T + 0.2 * np.triu(rng.normal(size=(n, n)), 1)
    B = rng.normal(size=(n, m)) * np.array([1.0, 1e-2])[:m]
    Q = U @ np.diag(np.logspace(-3, 3, n)) @ U.T
    Q = 0.5 * (Q + Q.T)
    R = np.diag(np.array([1e-3, 10.0])[:m])
    return A, B, Q, R


@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow), 2])
@pytest.mark.parametrize("discount", [1.0, 0.98])
def test_riccati_error_estimate_holds_against_scipy(seed, discount):
    A, B, Q, R = ill_conditioned(seed)
    system = LinearGaussianSystem(A, B, 0.01 * np.eye(5))
    reward = QuadraticReward(Q, R)
    tol = 1e-11
    with warnings.catch_warnings():
        warnings.simplefilter("error", cai.ConvergenceWarning)
        sol = soft_lqr_infinite(system, reward, 0.5, discount=discount, tol=tol)
    root = np.sqrt(discount)
    P = scipy.linalg.solve_discrete_are(root * A, root * B, Q, R)
    true_error = np.max(np.abs(np.asarray(sol.P) - P))
    assert bool(sol.converged)
    assert true_error <= float(sol.error) <= tol * (1 + np.max(np.abs(np.asarray(sol.P))))


def test_riccati_out_of_iterations_warns():
    A, B, Q, R = ill_conditioned(0)
    system, reward = LinearGaussianSystem(A, B, 0.01 * np.eye(5)), QuadraticReward(Q, R)
    with pytest.warns(cai.ConvergenceWarning, match="soft_lqr_infinite did not converge in 4"):
        sol = soft_lqr_infinite(system, reward, 0.5, max_iterations=4)
    assert not bool(sol.converged) and float(sol.error) > 1e-12
