"""Exact linear-Gaussian IRL (`lqr_irl`): the likelihood against scipy's Gaussian density, its
gradient (finite horizon and stationary) against finite differences, recovery of a known policy
at two sample sizes with a shuffled-actions negative control, non-convergence and bad input."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import multivariate_normal

from control_as_inference import ConvergenceWarning
from control_as_inference.irl import lqr_irl, lqr_log_likelihood, lqr_reward
from control_as_inference.lqr import (
    LinearGaussianSystem,
    QuadraticReward,
    sample_trajectories,
    soft_lqr,
    soft_lqr_infinite,
)

A = np.array([[1.0, 0.1], [0.0, 1.0]])
B = np.array([[0.0], [0.1]])
SYSTEM = LinearGaussianSystem(A, B, 0.01 * np.eye(2), np.array([1.0, 0.0]), 0.5 * np.eye(2))
TRUE = QuadraticReward(
    np.diag([1.0, 0.5]), np.array([[0.2]]), np.array([[0.05], [0.0]]), np.array([0.1, 0.0]),
    np.array([0.02]),
)  # fmt: skip
H = 10


def demos(num, seed, reward=TRUE, horizon=H, discount=1.0, stationary=False):
    terminal = None
    if stationary:
        star = soft_lqr_infinite(SYSTEM, reward, 1.0, discount=discount)
        terminal = (star.P, star.p, 0.0)
    sol = soft_lqr(SYSTEM, reward, horizon, 1.0, discount=discount, terminal=terminal)
    return sample_trajectories(SYSTEM, sol, jax.random.key(seed), num)


def test_log_likelihood_is_the_gaussian_policy_density():
    x, u = demos(3, 0)
    sol = soft_lqr(SYSTEM, TRUE, H, 1.0)
    oracle = sum(
        multivariate_normal.logpdf(u[i, t], sol.K[t] @ x[i, t] + sol.k[t], sol.Sigma[t])
        for i in range(3)
        for t in range(H)
    )
    assert float(lqr_log_likelihood(TRUE, SYSTEM, x, u, H)) == pytest.approx(oracle / 3, rel=1e-12)


def _params(rng):
    return {
        "Q": jnp.asarray(np.tril(rng.normal(size=(2, 2)))),
        "R": jnp.asarray([[0.3]]),
        "N": jnp.asarray(0.1 * rng.normal(size=(2, 1))),
        "q_x": jnp.asarray(rng.normal(size=2)),
        "q_u": jnp.asarray([0.1]),
    }


def _fd_check(f, params, eps=1e-6):
    grad = jax.grad(f)(params)
    f = jax.jit(f)
    errors = []
    for name, x in params.items():
        flat = np.asarray(x).ravel()
        for j in range(flat.size):
            up, down = flat.copy(), flat.copy()
            up[j] += eps
            down[j] -= eps
            shape = x.shape
            fd = f({**params, name: up.reshape(shape)}) - f({**params, name: down.reshape(shape)})
            fd = float(fd) / (2 * eps)
            errors.append(abs(fd - float(np.asarray(grad[name]).ravel()[j])) / (1 + abs(fd)))
    return max(errors)


def test_gradient_matches_finite_differences_finite_horizon(rng):
    x, u = demos(4, 1)

    def f(p):
        return lqr_log_likelihood(lqr_reward(p, TRUE), SYSTEM, x, u, H)

    assert _fd_check(f, _params(rng)) < 1e-6


@pytest.mark.slow  # 15 s of CPU: compiles the fixed point and 200 unrolled backups
def test_stationary_gradient_is_the_implicit_derivative_of_the_fixed_point(rng):
    """Finite differences re-solve the fixed point (soft_lqr_infinite, tol 1e-12); the unrolled
    gradient matches, and a one-step unroll (the negative control) does not."""
    x, u = demos(4, 2, horizon=5, discount=0.9, stationary=True)
    params = _params(rng)

    def f(p, unroll=200):
        reward = lqr_reward(p, TRUE)
        return lqr_log_likelihood(reward, SYSTEM, x, u, None, 1.0, 0.9, unroll)

    assert _fd_check(f, params) < 1e-6
    assert _fd_check(lambda p: f(p, unroll=1), params) > 1e-3


@pytest.mark.slow  # compiles the L-BFGS step
def test_no_convergence_warns_and_says_so():
    x, u = demos(20, 3, horizon=3)
    with pytest.warns(ConvergenceWarning, match="did not converge in 2 iterations"):
        fit = lqr_irl(SYSTEM, x, u, horizon=3, max_iterations=2)
    assert not fit.converged and fit.iterations == 2 and fit.method == "lqr"
    assert fit.objective.shape == (2,) and np.isnan(fit.feature_gap).all()


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda x, u: (x[..., :1], u), r"states must have shape \(N, T\+1, n\)"),
        (lambda x, u: (x, np.concatenate([u, u], -1)), r"actions must have shape \(N, T, m\)"),
        (lambda x, u: (np.where(np.arange(2) == 0, np.nan, x), u), "states contains NaN"),
        (lambda x, u: (x[:1, :3], u[:1, :2]), r"needs at least n \+ m \+ 1 = 4"),
        (lambda x, u: (np.zeros_like(x), u), "span only 1 of n"),
    ],
)
def test_bad_demonstrations_are_named(change, match):
    x, u = (np.asarray(a) for a in demos(5, 4))
    with pytest.raises(ValueError, match=match):
        lqr_irl(SYSTEM, *change(x, u), horizon=H)


def test_bad_arguments_are_named():
    x, u = demos(5, 4)
    with pytest.raises(ValueError, match="horizon"):
        lqr_irl(SYSTEM, x, u, horizon=3)
    with pytest.raises(ValueError, match="fit must be"):
        lqr_irl(SYSTEM, x, u, horizon=H, fit=("P",))


def _policy_errors(fit, truth):
    K, k, S = fit.solution.K, fit.solution.k, fit.solution.Sigma
    return (
        float(jnp.max(jnp.abs(K - truth.K))),
        float(jnp.max(jnp.abs(k - truth.k))),
        float(jnp.max(jnp.abs(S / truth.Sigma - 1))),
    )


@pytest.mark.slow
def test_finite_horizon_recovers_the_policy_within_shrinking_sampling_error():
    truth = soft_lqr(SYSTEM, TRUE, H, 1.0)
    errors = {}
    for num in (100, 800):
        x, u = demos(num, 0)
        fit = lqr_irl(SYSTEM, x, u, horizon=H)
        assert fit.converged
        # maximum likelihood: at least the true reward's likelihood (it lies in the class)
        assert fit.log_likelihood[-1] >= float(lqr_log_likelihood(TRUE, SYSTEM, x, u, H)) - 1e-9
        errors[num] = _policy_errors(fit, truth)
    # gain, offset: the error shrinks (8x data, ~2.8x less), within a few standard errors
    assert errors[800][0] < errors[100][0] / 2 and errors[800][0] < 0.25
    assert errors[800][1] < errors[100][1] / 2 and errors[800][1] < 0.4
    assert errors[800][2] < 0.06  # covariance, relative (one shared R: ~1.6% standard error)
    # negative control: actions shuffled across demonstrations lose the feedback
    x, u = demos(800, 0)
    shuffled = np.asarray(u)[np.random.default_rng(0).permutation(800)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        wrong = lqr_irl(SYSTEM, x, shuffled, horizon=H)
    assert _policy_errors(wrong, truth)[0] > 4 * errors[800][0]


@pytest.mark.slow
def test_stationary_recovers_the_policy_within_shrinking_sampling_error():
    reward = QuadraticReward(np.diag([1.0, 0.5]), np.array([[0.2]]), q_x=np.array([0.1, 0.0]))
    truth = soft_lqr_infinite(SYSTEM, reward, 1.0, discount=0.95)
    errors = {}
    for num in (20, 320):
        x, u = demos(num, 1, reward, horizon=30, discount=0.95, stationary=True)
        fit = lqr_irl(SYSTEM, x, u, horizon=None, discount=0.95)
        assert fit.converged and fit.solution.converged
        errors[num] = _policy_errors(fit, truth)
    assert errors[320][0] < errors[20][0] / 2 and errors[320][0] < 0.15  # ~2.5 standard errors
    assert errors[320][2] < 0.03
    x, u = demos(320, 1, reward, horizon=30, discount=0.95, stationary=True)
    shuffled = np.asarray(u)[np.random.default_rng(0).permutation(320)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        wrong = lqr_irl(SYSTEM, x, shuffled, horizon=None, discount=0.95)
    assert _policy_errors(wrong, truth)[0] > 4 * errors[320][0]


def test_ragged_demonstrations_count_only_their_steps():
    x, u = demos(3, 5)
    lengths = np.array([H, 4, 4])
    padded_x = np.asarray(x).copy()
    padded_u = np.asarray(u).copy()
    for i, n in enumerate(lengths):
        padded_x[i, n + 1 :] = 0.0
        padded_u[i, n:] = 0.0
    ll = lqr_log_likelihood(TRUE, SYSTEM, padded_x, padded_u, H, lengths=jnp.asarray(lengths))
    parts = [
        lqr_log_likelihood(TRUE, SYSTEM, x[i : i + 1, : n + 1], u[i : i + 1, :n], H)
        for i, n in enumerate(lengths)
    ]
    assert float(ll) == pytest.approx(sum(float(p) for p in parts) / 3, rel=1e-12)
