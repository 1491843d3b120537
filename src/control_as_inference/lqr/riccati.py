"""The soft-LQR backward pass: the continuation of a quadratic value through the Gaussian
dynamics, the Riccati step over the action, the finite-horizon reverse scan and the stationary
iteration (Levine 2018, section 2; Toussaint 2009, "Robot trajectory optimization using
approximate inference"). Values are costs-to-go, V_t(x) = -(1/2 x'P_t x + p_t'x + c_t).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from ..engine import fixed_point
from .model import (
    BackupSpec,
    CostToGo,
    GaussianPolicyStep,
    SoftLQRSolution,
    StationarySoftLQR,
    StepMatrices,
)


def continuation(value: CostToGo, W, spec: BackupSpec):
    """(P', p', c') with -(1/2 m'P'm + p''m + c') = the value of x' ~ N(m, W) seen from m, and
    whether the exact step is valid:

        variational:  P' = gamma P,  p' = gamma p,  c' = gamma (c + 1/2 tr(P W))
        exact:        P' = P (I + W P/alpha)^{-1},  p' = (I + P W/alpha)^{-1} p,
                      c' = c - 1/(2 alpha) p'W (I + P W/alpha)^{-1} p
                             + alpha/2 log det(I + W P/alpha)

    (exact: alpha log E[exp(V(x')/alpha)], risk-seeking; valid while I + W P/alpha > 0, and the
    discount is ignored: exact soft LQR needs discount 1).

    Returns:
        (`CostToGo` (P', p', c'), valid ()).
    """
    P, p, c = value
    temperature = spec.temperature
    n = P.shape[0]
    if not spec.exact:
        discount = spec.discount
        return CostToGo(discount * P, discount * p, discount * (c + 0.5 * jnp.trace(P @ W))), True
    eye = jnp.eye(n, dtype=P.dtype)
    M = eye + W @ P / temperature  # I + W P / alpha
    sign, logdet = jnp.linalg.slogdet(M)
    # P (I + W P/alpha)^{-1} = (I + P W/alpha)^{-1} P, symmetric; solve rather than invert
    P_next = jnp.linalg.solve(M.T, P)
    P_next = 0.5 * (P_next + P_next.T)
    p_next = jnp.linalg.solve(M.T, p)
    c_next = c - 0.5 / temperature * p @ W @ p_next + 0.5 * temperature * logdet
    # valid when I + W P/alpha has positive eigenvalues: W^{1/2} P W^{1/2}/alpha > -1
    valid = (sign > 0) & jnp.all(jnp.linalg.eigvalsh(sym_sqrt_product(W, P) / temperature) > -1)
    return CostToGo(P_next, p_next, c_next), valid


def psd_factor(M):
    """(F, V) with F F' = M for a symmetric PSD M (F = V sqrt(eigenvalues), V the eigenvectors);
    F V' is the symmetric square root."""
    values, vectors = jnp.linalg.eigh(M)
    return vectors * jnp.sqrt(jnp.clip(values, 0))[None, :], vectors


def sym_sqrt_product(W, P):
    """W^{1/2} P W^{1/2} (symmetric), whose spectrum is that of W P."""
    factor, vectors = psd_factor(W)
    root = factor @ vectors.T
    return root @ P @ root


def lqr_step(cont: CostToGo, step: StepMatrices, temperature):
    """One backup over the action from the continuation (P', p', c'):

        H_xx = Q + A'P'A,  H_uu = R + B'P'B,  H_xu = N + A'P'B,  h_x = q_x + A'p',  h_u = q_u + B'p'
        K = -H_uu^{-1} H_xu',  k = -H_uu^{-1} h_u,  Sigma = alpha H_uu^{-1}
        P = H_xx - H_xu H_uu^{-1} H_xu',  p = h_x - H_xu H_uu^{-1} h_u,
        c = c' - 1/2 h_u' H_uu^{-1} h_u - alpha/2 log det(2 pi Sigma)

    (the last term is alpha log of the Gaussian integral over u: the entropy bonus of the policy).

    Returns:
        (`CostToGo` (P, p, c), `GaussianPolicyStep` (K, k, Sigma)).
    """
    P_c, p_c, c_c = cont
    A, B, _, Q, R, N, q_x, q_u = step
    H_xx = Q + A.T @ P_c @ A
    H_uu = R + B.T @ P_c @ B
    H_uu = 0.5 * (H_uu + H_uu.T)
    H_xu = N + A.T @ P_c @ B
    h_x = q_x + A.T @ p_c
    h_u = q_u + B.T @ p_c
    chol = jax.scipy.linalg.cho_factor(H_uu, lower=True)
    K = -jax.scipy.linalg.cho_solve(chol, H_xu.T)
    k = -jax.scipy.linalg.cho_solve(chol, h_u)
    Sigma = temperature * jax.scipy.linalg.cho_solve(chol, jnp.eye(H_uu.shape[0], dtype=A.dtype))
    Sigma = 0.5 * (Sigma + Sigma.T)
    P = H_xx + H_xu @ K
    P = 0.5 * (P + P.T)
    p = h_x + H_xu @ k
    m = H_uu.shape[0]
    logdet_sigma = m * jnp.log(temperature) - 2 * jnp.sum(jnp.log(jnp.diag(chol[0])))
    c = c_c + 0.5 * h_u @ k - 0.5 * temperature * (m * jnp.log(2 * jnp.pi) + logdet_sigma)
    return CostToGo(P, p, c), GaussianPolicyStep(K, k, Sigma)


@jax.jit
def backward_pass(steps: StepMatrices, initial_mean, initial_cov, spec: BackupSpec, terminal):
    """The finite-horizon backward pass: a reverse scan of `continuation` and `lqr_step` from the
    terminal cost-to-go, then the log evidence of x_0 ~ N(initial_mean, initial_cov).

    Args:
        steps: `StepMatrices` of (H, ...) stacks; initial_mean: (n,); initial_cov: (n, n).
        spec: `BackupSpec`; terminal: `CostToGo` (P_H, p_H, c_H).

    Returns:
        (`SoftLQRSolution`, valid ()): valid is False when an exact step broke down.
    """
    mu, S = initial_mean, initial_cov

    def step(carry, matrices):
        value, valid = carry
        cont, ok = continuation(value, matrices.W, spec)
        value, policy = lqr_step(cont, matrices, spec.temperature)
        return (value, valid & ok), (value, policy)

    init = (CostToGo(*terminal), jnp.asarray(True))
    (_, valid), (values, policy) = jax.lax.scan(step, init, steps, reverse=True)
    P, p, c = (jnp.concatenate([x, x_H[None]]) for x, x_H in zip(values, terminal, strict=True))
    temperature = spec.temperature
    if spec.exact:
        # log E[exp(V_0(x_0)/alpha)] for x_0 ~ N(mu, S): the same Gaussian integral
        (P_0, p_0, c_0), ok = continuation(CostToGo(P[0], p[0], c[0]), S, spec)
        valid = valid & ok
        log_evidence = -(0.5 * mu @ P_0 @ mu + p_0 @ mu + c_0) / temperature
    else:
        log_evidence = -(0.5 * mu @ P[0] @ mu + 0.5 * jnp.trace(P[0] @ S) + p[0] @ mu + c[0])
        log_evidence = log_evidence / temperature
    sol = SoftLQRSolution(P, p, c, *policy, log_evidence, temperature, spec.method)
    return sol, valid


@functools.partial(jax.jit, static_argnames=("max_iterations",))
def stationary_iteration(
    step: StepMatrices, spec: BackupSpec, start: CostToGo, tol, max_iterations
):
    """Riccati value iteration on (P, p) with one time-invariant step's matrices, from `start`
    (counted as the first iteration), on the engine's `fixed_point` with the norm
    ||(P, p)|| = max|P| + max|p|: the error ||(P, p) - (P*, p*)|| is estimated from the rate
    rho of successive changes d_k as max(2 rho / (1 - rho), 1) d_k (the recursion converges
    linearly, at about the squared spectral radius of sqrt(gamma) times the closed loop), and
    the loop stops when it is at most tol (1 + max|P| + max|p|).

    Returns:
        (`StationarySoftLQR`, valid): converged says the tolerance was met; valid () is False when
        an exact step broke down (I + W P / alpha not positive definite), which stops the loop.
    """
    zero = jnp.zeros((), start.P.dtype)

    def backup(P, p):
        cont, ok = continuation(CostToGo(P, p, zero), step.W, spec)
        return lqr_step(CostToGo(cont.P, cont.p, zero), step, spec.temperature), ok

    def iterate(x):
        ((P_new, p_new, _), _), ok = backup(x[0], x[1])
        return P_new, p_new, jnp.asarray(ok)

    def size(x):
        return jnp.max(jnp.abs(x[0])) + jnp.max(jnp.abs(x[1]), initial=0.0)

    def distance(new, old):
        return size((new[0] - old[0], new[1] - old[1]))

    result = fixed_point(
        iterate,
        (start.P, start.p, jnp.asarray(True)),
        tol=tol,
        max_iterations=max_iterations - 1,
        norm=size,
        distance=distance,
        proceed=lambda x: x[2],
    )
    P, p, ok = result.solution
    (_, (K, k, Sigma)), _ = backup(P, p)
    change = result.residual / (1 + size(result.solution))
    iterations = result.iterations + 1
    sol = StationarySoftLQR(P, p, K, k, Sigma, result.converged, iterations, change, result.error)
    return sol, ok
