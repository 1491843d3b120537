"""Contextual REPS (Peters et al. 2010; Kupcsik et al. 2013): a context c ~ mu(c) is observed,
parameters x ~ pi(x | c) = N(offset + gain c, cov) are tried, and a linear value baseline
V(c) = theta^T phi(c) keeps the reweighting from favouring lucky contexts.

With samples (c_i, x_i, R_i), i = 1..N, and features phi_i = phi(c_i) with empirical mean phi_bar,
the dual of "maximise E_q[R] subject to KL(q || p) <= epsilon and E_q[phi(c)] = phi_bar" is

    g(eta, theta) = eta epsilon + theta^T phi_bar + eta log mean_i exp((R_i - theta^T phi_i) / eta)

jointly convex; its minimiser gives the weights w_i ∝ exp((R_i - V(c_i)) / eta) with
KL(w || uniform) = epsilon (the eta condition) and sum_i w_i phi_i = phi_bar (the theta condition:
the context distribution is left as observed). It is minimised over theta by Newton's method on
h(theta) = min_eta g(eta, theta) (convex; eta by `solve_temperature` at every theta), with the
exact Hessian of h, the Schur complement g_tt - g_te g_ee^-1 g_et, and a backtracking line search.
The M-step is weighted least squares of x_i on (1, c_i) and the weighted residual covariance.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float

from .._core import check_int, check_positive, float_dtype, is_concrete
from .estep import _solve
from .reps import _check_samples

_NEWTON_STEPS = 30
_LINE_SEARCH = 16  # step sizes 1, 1/2, ..., 2^-15 (and 0)


class LinearGaussianPolicy(NamedTuple):
    """pi(x | c) = N(offset + gain c, cov): offset (d,), gain (d, k), cov (d, d)."""

    offset: Float[Array, " d"]
    gain: Float[Array, "d k"]
    cov: Float[Array, "d d"]


class ContextualStep(NamedTuple):
    """One contextual REPS update: the refit policy, the dual's solution (temperature eta,
    theta (m,) of the value baseline), the weights (N,), their KL to uniform (= epsilon when
    `active`) and whether the bound binds."""

    policy: LinearGaussianPolicy
    temperature: Float[Array, ""]
    theta: Float[Array, " m"]
    weights: Float[Array, " N"]
    kl: Float[Array, ""]
    active: Bool[Array, ""]


def quadratic_features(contexts: Float[ArrayLike, "N k"]) -> Float[Array, "N m"]:
    """phi(c) = (c_1..c_k, c_i c_j for i <= j): m = k + k (k + 1) / 2; no constant (the dual is
    invariant to one: it cancels between theta^T phi_bar and the log-mean-exp)."""
    contexts = jnp.asarray(contexts)
    i, j = jnp.triu_indices(contexts.shape[1])
    return jnp.concatenate([contexts, contexts[:, i] * contexts[:, j]], axis=1)


def contextual_dual(eta, theta, features, returns, epsilon) -> Float[Array, ""]:
    """g(eta, theta) of the module docstring; features (N, m), returns (N,), theta (m,)."""
    values = returns - features @ theta
    top = jnp.max(values)
    log_mean = jax.nn.logsumexp((values - top) / eta) - jnp.log(values.shape[0]) + top / eta
    return eta * epsilon + theta @ jnp.mean(features, axis=0) + eta * log_mean


def contextual_reps_update(
    contexts, samples, returns, epsilon: float, *, features=None, ridge: float = 0.0
) -> ContextualStep:
    """One contextual REPS iteration (module docstring).

    Args:
        contexts: (N, k) observed contexts; samples: (N, d) parameters tried; returns: (N,).
        epsilon: the KL bound (> 0).
        features: (N, m) baseline features phi(c_i); default `quadratic_features(contexts)`.
        ridge: added to the diagonal of the refit covariance (>= 0).

    Raises ValueError for epsilon <= 0, N < 2, NaN or infinite returns, mismatched shapes.
    """
    check_positive("epsilon (the KL bound)", epsilon)
    samples, returns = _check_samples(samples, returns)
    dtype = float_dtype(samples, returns, contexts)
    contexts = jnp.asarray(contexts, dtype)
    if contexts.ndim != 2 or contexts.shape[0] != returns.shape[0]:
        raise ValueError(f"contexts must have shape ({returns.shape[0]}, k), got {contexts.shape}.")
    features = quadratic_features(contexts) if features is None else jnp.asarray(features, dtype)
    if features.ndim != 2 or features.shape[0] != returns.shape[0]:
        raise ValueError(f"features must have shape ({returns.shape[0]}, m), got {features.shape}.")
    if is_concrete(features) and not bool(jnp.all(jnp.isfinite(features))):
        raise ValueError("features must be finite.")
    args = (contexts, samples, returns, features)
    return _contextual(args, jnp.asarray(epsilon, dtype), jnp.asarray(ridge, dtype))


def _eta(theta, features, returns, epsilon):
    values = returns - features @ theta
    log_prior = jnp.full(values.shape, -jnp.log(values.shape[0]), dtype=values.dtype)
    return _solve(values, epsilon, log_prior, 100)


@jax.jit
def _contextual(args, epsilon, ridge) -> ContextualStep:
    contexts, samples, returns, features = args
    scale = jnp.std(features, axis=0) + jnp.finfo(returns.dtype).eps
    z = features / scale[None]  # theta is solved for the standardised features, then rescaled

    def h(theta):
        return contextual_dual(
            _eta(theta, z, returns, epsilon).temperature, theta, z, returns, epsilon
        )

    def newton(_, theta):
        eta = _eta(theta, z, returns, epsilon).temperature
        grad = jax.grad(contextual_dual, argnums=1)(eta, theta, z, returns, epsilon)
        hess = jax.hessian(contextual_dual, argnums=(0, 1))(eta, theta, z, returns, epsilon)
        (g_ee, g_et), (_, g_tt) = hess
        schur = g_tt - jnp.outer(g_et, g_et) / g_ee
        schur = schur + 1e-12 * jnp.trace(schur) * jnp.eye(theta.shape[0], dtype=theta.dtype)
        direction = jnp.linalg.solve(schur, grad)
        steps = jnp.asarray([2.0**-k for k in range(_LINE_SEARCH)] + [0.0], dtype=z.dtype)
        trials = jax.vmap(lambda t: h(theta - t * direction))(steps)
        return theta - steps[jnp.argmin(trials)] * direction

    centred = z - jnp.mean(z, axis=0)[None]
    theta0 = jnp.linalg.lstsq(centred, returns - jnp.mean(returns))[0]  # regression baseline
    theta = jax.lax.fori_loop(0, _NEWTON_STEPS, newton, theta0)
    sol = _eta(theta, z, returns, epsilon)
    values = returns - z @ theta
    weights = jax.nn.softmax((values - jnp.max(values)) / sol.temperature)
    design = jnp.concatenate([jnp.ones_like(contexts[:, :1]), contexts], axis=1)
    weighted = design.T * weights[None]
    coef = jnp.linalg.solve(weighted @ design, weighted @ samples)  # (1 + k, d)
    residual = samples - design @ coef
    cov = (weights[:, None] * residual).T @ residual
    cov = 0.5 * (cov + cov.T) + ridge * jnp.eye(samples.shape[1], dtype=samples.dtype)
    policy = LinearGaussianPolicy(coef[0], coef[1:].T, cov)
    return ContextualStep(policy, sol.temperature, theta / scale, weights, sol.kl, sol.active)


def sample_linear_gaussian(key, policy: LinearGaussianPolicy, contexts):
    """x_i ~ N(offset + gain c_i, cov) for contexts (N, k): (N, d). `key` is required."""
    contexts = jnp.asarray(contexts)
    mean = policy.offset[None] + contexts @ policy.gain.T
    noise = jax.random.normal(key, mean.shape, dtype=mean.dtype)
    return mean + noise @ jnp.linalg.cholesky(policy.cov).T


def run_contextual_reps(
    objective, context_sampler, key, policy, *, epsilon=0.5, samples=200, iterations=30, ridge=0.0
) -> list[ContextualStep]:
    """Contextual REPS on a black box: each iteration draws contexts = context_sampler(key, N)
    (N, k), x ~ pi(.|c), returns = objective(contexts, x) (N,), and refits pi. Returns the
    `ContextualStep` of every iteration (the last one's policy is the result)."""
    check_int("samples", samples, 2)
    check_int("iterations", iterations, 1)
    policy = LinearGaussianPolicy(*(jnp.asarray(p) for p in policy))
    steps = []
    for _ in range(iterations):
        key, k_context, k_action = jax.random.split(key, 3)
        contexts = jnp.asarray(context_sampler(k_context, samples), dtype=policy.offset.dtype)
        actions = sample_linear_gaussian(k_action, policy, contexts)
        returns = jnp.asarray(objective(contexts, actions), dtype=actions.dtype).reshape(-1)
        step = contextual_reps_update(contexts, actions, returns, epsilon, ridge=ridge)
        steps.append(step)
        policy = step.policy
    return steps
