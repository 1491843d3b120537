"""Soft LQR: exact and variational control as inference with linear-Gaussian dynamics and a
quadratic reward, in closed form.

Model (Levine 2018, section 2; Toussaint 2009, "Robot trajectory optimization using approximate
inference"):

    x' = A x + B u + w,  w ~ N(0, W);   x_0 ~ N(mu_0, Sigma_0);   p(u|x) = Lebesgue (flat)
    r(x, u) = -(1/2 x'Qx + 1/2 u'Ru + x'Nu + q_x'x + q_u'u)

Every message is quadratic. Values are kept as costs-to-go (P >= 0 is the ordinary Riccati matrix):

    V_t(x) = -(1/2 x'P_t x + p_t'x + c_t)

The backup needs the "continuation" -(1/2 m'P'm + p''m + c') of the mean m = Ax + Bu:

    variational:  P' = gamma P_{t+1},  p' = gamma p_{t+1},  c' = gamma (c_{t+1} + 1/2 tr(P_{t+1} W))
    exact:        P' = P (I + W P / alpha)^{-1},  p' = (I + P W / alpha)^{-1} p,
                  c' = c - 1/(2 alpha) p'W (I + P W/alpha)^{-1} p + alpha/2 log det(I + W P/alpha)
                  (alpha log E[exp(V(x')/alpha)]: risk-seeking; needs I + W P/alpha > 0, discount 1)

then, with H_xx = Q + A'P'A, H_uu = R + B'P'B, H_xu = N + A'P'B, h_x = q_x + A'p', h_u = q_u + B'p':

    pi_t(u|x) = N(K_t x + k_t, Sigma_t),  K = -H_uu^{-1} H_xu',  k = -H_uu^{-1} h_u,
                Sigma = alpha H_uu^{-1}
    P_t = H_xx - H_xu H_uu^{-1} H_xu',  p_t = h_x - H_xu H_uu^{-1} h_u,
    c_t = c' - 1/2 h_u' H_uu^{-1} h_u - alpha/2 log det(2 pi Sigma_t)

(the last term is alpha log of the Gaussian integral over u: the entropy bonus of the policy).
"""

from __future__ import annotations

import functools
import numbers

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ..tabular.mdp import _is_concrete

METHODS = ("exact", "variational")


def _matrix(name, x, shape, dtype, symmetric=False, definite=None):
    x = jnp.asarray(x, dtype=dtype)
    if x.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {x.shape}.")
    if not _is_concrete(x):
        return x
    a = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or inf.")
    if symmetric:
        if not np.allclose(a, a.T, atol=1e-9 * (1 + np.abs(a).max())):
            raise ValueError(f"{name} must be symmetric; use (M + M.T) / 2.")
        low = np.linalg.eigvalsh(a).min() if a.size else 0.0
        scale = 1e-10 * (1 + np.abs(a).max())
        if definite == "semi" and low < -scale:
            raise ValueError(
                f"{name} must be positive semi-definite (smallest eigenvalue {low:.3g})."
            )
        if definite == "strict" and low <= scale:
            raise ValueError(f"{name} must be positive definite (smallest eigenvalue {low:.3g}).")
    return x


def _dtype(*arrays):
    floats = [np.asarray(a).dtype if not hasattr(a, "dtype") else a.dtype for a in arrays]
    floats = [d for d in floats if jnp.issubdtype(d, jnp.floating)]
    return jax.dtypes.canonicalize_dtype(np.result_type(*floats) if floats else float)


class LinearGaussianSystem(eqx.Module):
    """x' = A x + B u + w, w ~ N(0, W), x_0 ~ N(initial_mean, initial_cov).

    Args:
        A: (n, n); B: (n, m); W: (n, n) symmetric positive semi-definite.
        initial_mean: (n,), zeros if None; initial_cov: (n, n) PSD, zeros (a known start) if None.

    Raises:
        ValueError: naming the matrix, for wrong shapes, NaN, asymmetric or indefinite W.
    """

    A: Float[Array, "n n"]
    B: Float[Array, "n m"]
    W: Float[Array, "n n"]
    initial_mean: Float[Array, " n"]
    initial_cov: Float[Array, "n n"]

    def __init__(self, A, B, W, initial_mean=None, initial_cov=None):
        dtype = _dtype(A, B, W)
        A = jnp.asarray(A, dtype=dtype)
        if A.ndim != 2 or A.shape[0] != A.shape[1]:
            raise ValueError(f"A must be a square (n, n) matrix, got shape {A.shape}.")
        n = A.shape[0]
        B = jnp.asarray(B, dtype=dtype)
        if B.ndim != 2 or B.shape[0] != n:
            raise ValueError(f"B must have shape (n, m) = ({n}, m), got {B.shape}.")
        self.A = _matrix("A", A, (n, n), dtype)
        self.B = _matrix("B", B, B.shape, dtype)
        self.W = _matrix("W", W, (n, n), dtype, symmetric=True, definite="semi")
        mean = jnp.zeros(n, dtype) if initial_mean is None else initial_mean
        cov = jnp.zeros((n, n), dtype) if initial_cov is None else initial_cov
        self.initial_mean = _matrix("initial_mean", mean, (n,), dtype)
        self.initial_cov = _matrix("initial_cov", cov, (n, n), dtype, True, "semi")

    @property
    def state_dim(self) -> int:
        return self.A.shape[0]

    @property
    def action_dim(self) -> int:
        return self.B.shape[1]


class QuadraticReward(eqx.Module):
    """r(x, u) = -(1/2 x'Qx + 1/2 u'Ru + x'Nu + q_x'x + q_u'u).

    Args:
        Q: (n, n) symmetric PSD; R: (m, m) symmetric positive definite; N: (n, m), zeros if None;
        q_x: (n,), q_u: (m,), zeros if None.
    """

    Q: Float[Array, "n n"]
    R: Float[Array, "m m"]
    N: Float[Array, "n m"]
    q_x: Float[Array, " n"]
    q_u: Float[Array, " m"]

    def __init__(self, Q, R, N=None, q_x=None, q_u=None):
        dtype = _dtype(Q, R)
        Q = jnp.asarray(Q, dtype=dtype)
        R = jnp.asarray(R, dtype=dtype)
        if Q.ndim != 2 or R.ndim != 2:
            raise ValueError(f"Q and R must be matrices, got shapes {Q.shape} and {R.shape}.")
        n, m = Q.shape[0], R.shape[0]
        self.Q = _matrix("Q", Q, (n, n), dtype, symmetric=True, definite="semi")
        self.R = _matrix("R", R, (m, m), dtype, symmetric=True, definite="strict")
        self.N = _matrix("N", jnp.zeros((n, m), dtype) if N is None else N, (n, m), dtype)
        self.q_x = _matrix("q_x", jnp.zeros(n, dtype) if q_x is None else q_x, (n,), dtype)
        self.q_u = _matrix("q_u", jnp.zeros(m, dtype) if q_u is None else q_u, (m,), dtype)

    def __call__(self, x, u):
        """r(x, u) for single vectors x (n,), u (m,)."""
        return -(
            0.5 * x @ self.Q @ x
            + 0.5 * u @ self.R @ u
            + x @ self.N @ u
            + self.q_x @ x
            + self.q_u @ u
        )


class SoftLQRSolution(eqx.Module):
    """Value messages V_t(x) = -(1/2 x'P_t x + p_t'x + c_t) and the Gaussian posterior policy
    pi_t(u|x) = N(K_t x + k_t, Sigma_t).

    Attributes:
        P: (H+1, n, n); p: (H+1, n); c: (H+1,) (index H is the terminal value).
        K: (H, m, n); k: (H, m); Sigma: (H, m, m).
        log_evidence: () exact: log E_{x_0}[exp(V_0(x_0)/alpha)] (relative to the flat action
            prior); variational: the bound E_{x_0}[V_0(x_0)]/alpha.
        method: "exact" or "variational".
    """

    P: Float[Array, "H1 n n"]
    p: Float[Array, "H1 n"]
    c: Float[Array, " H1"]
    K: Float[Array, "H m n"]
    k: Float[Array, "H m"]
    Sigma: Float[Array, "H m m"]
    log_evidence: Float[Array, ""]
    method: str = eqx.field(static=True)

    def value(self, t: int, x) -> Array:
        """V_t(x) for a single state x (n,)."""
        return -(0.5 * x @ self.P[t] @ x + self.p[t] @ x + self.c[t])


def soft_lqr(
    system: LinearGaussianSystem,
    reward: QuadraticReward,
    horizon,
    temperature=1.0,
    method: str = "variational",
    discount=1.0,
    terminal=None,
) -> SoftLQRSolution:
    """Finite-horizon soft LQR (see the module docstring for the recursion).

    Args:
        system, reward: the model (time-invariant).
        horizon: H >= 1 (Python int).
        temperature: alpha > 0.
        method: "variational" (maximum-entropy LQR; true dynamics) or "exact" (optimistic).
        discount: gamma in (0, 1]; the exact method needs 1 (its absorbing-state discount would
            make the messages non-quadratic).
        terminal: optional (P_H, p_H, c_H), the terminal cost-to-go; zeros if None.

    Raises:
        ValueError: for bad arguments, and for the exact method when I + W P / alpha stops being
            positive definite (the optimistic value is unbounded).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
    if isinstance(horizon, bool) or not isinstance(horizon, numbers.Integral) or horizon < 1:
        raise ValueError(f"horizon must be a Python int >= 1, got {horizon!r}.")
    n, m = system.state_dim, system.action_dim
    if reward.Q.shape != (n, n) or reward.R.shape != (m, m):
        raise ValueError(
            f"reward Q must be ({n}, {n}) and R ({m}, {m}) to match the system; got "
            f"{reward.Q.shape} and {reward.R.shape}."
        )
    dtype = system.A.dtype
    temperature = jnp.asarray(temperature, dtype)
    if _is_concrete(temperature) and not (temperature > 0 and jnp.isfinite(temperature)):
        raise ValueError(f"temperature must be finite and > 0, got {float(temperature)}.")
    discount = jnp.asarray(discount, dtype)
    if _is_concrete(discount) and not (0 < discount <= 1):
        raise ValueError(f"discount must lie in (0, 1], got {float(discount)}.")
    if method == "exact" and _is_concrete(discount) and discount != 1:
        raise ValueError(
            "discount: exact soft LQR needs discount = 1 (an absorbing-state discount makes the "
            "messages non-quadratic); use method='variational' for a discounted problem."
        )
    if terminal is None:
        terminal = (jnp.zeros((n, n), dtype), jnp.zeros(n, dtype), jnp.zeros((), dtype))
    P_H = _matrix("terminal P", terminal[0], (n, n), dtype, symmetric=True, definite="semi")
    p_H = _matrix("terminal p", terminal[1], (n,), dtype)
    c_H = jnp.asarray(terminal[2], dtype)
    sol, valid = _soft_lqr(
        system, reward, horizon, temperature, discount, (P_H, p_H, c_H), method == "exact"
    )
    if _is_concrete(valid) and not bool(valid):
        raise ValueError(
            "exact soft LQR broke down: I + W P / temperature is not positive definite at some "
            "step, so the optimistic value is unbounded; raise the temperature, shorten the "
            "horizon or use method='variational'."
        )
    return sol


def continuation(P, p, c, W, temperature, discount, exact: bool):
    """(P', p', c') of the module docstring, and whether the exact step is valid."""
    n = P.shape[0]
    if not exact:
        return discount * P, discount * p, discount * (c + 0.5 * jnp.trace(P @ W)), True
    eye = jnp.eye(n, dtype=P.dtype)
    M = eye + W @ P / temperature  # I + W P / alpha
    sign, logdet = jnp.linalg.slogdet(M)
    # P (I + W P/alpha)^{-1} = (I + P W/alpha)^{-1} P, symmetric; solve rather than invert
    P_next = jnp.linalg.solve(M.T, P)
    P_next = 0.5 * (P_next + P_next.T)
    p_next = jnp.linalg.solve(M.T, p)
    c_next = c - 0.5 / temperature * p @ W @ p_next + 0.5 * temperature * logdet
    # valid when I + W P/alpha has positive eigenvalues: W^{1/2} P W^{1/2}/alpha > -1
    valid = (sign > 0) & jnp.all(jnp.linalg.eigvalsh(_sym_sqrt_product(W, P) / temperature) > -1)
    return P_next, p_next, c_next, valid


def _sym_sqrt_product(W, P):
    """W^{1/2} P W^{1/2} (symmetric), whose spectrum is that of W P."""
    values, vectors = jnp.linalg.eigh(W)
    root = (vectors * jnp.sqrt(jnp.clip(values, 0))[None, :]) @ vectors.T
    return root @ P @ root


def lqr_step(P_c, p_c, c_c, system, reward, temperature):
    """One backup from the continuation (P', p', c'): (P, p, c, K, k, Sigma)."""
    A, B = system.A, system.B
    H_xx = reward.Q + A.T @ P_c @ A
    H_uu = reward.R + B.T @ P_c @ B
    H_uu = 0.5 * (H_uu + H_uu.T)
    H_xu = reward.N + A.T @ P_c @ B
    h_x = reward.q_x + A.T @ p_c
    h_u = reward.q_u + B.T @ p_c
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
    return P, p, c, K, k, Sigma


@functools.partial(jax.jit, static_argnames=("horizon", "exact"))
def _soft_lqr(system, reward, horizon, temperature, discount, terminal, exact):
    def step(carry, _):
        P, p, c, valid = carry
        P_c, p_c, c_c, ok = continuation(P, p, c, system.W, temperature, discount, exact)
        P, p, c, K, k, Sigma = lqr_step(P_c, p_c, c_c, system, reward, temperature)
        return (P, p, c, valid & ok), (P, p, c, K, k, Sigma)

    P_H, p_H, c_H = terminal
    init = (P_H, p_H, c_H, jnp.asarray(True))
    (_, _, _, valid), (P, p, c, K, k, Sigma) = jax.lax.scan(
        step, init, None, length=horizon, reverse=True
    )
    P = jnp.concatenate([P, P_H[None]])
    p = jnp.concatenate([p, p_H[None]])
    c = jnp.concatenate([c, c_H[None]])
    mu, S = system.initial_mean, system.initial_cov
    if exact:
        # log E[exp(V_0(x_0)/alpha)] for x_0 ~ N(mu, S): the same Gaussian integral
        P_0, p_0, c_0, ok = continuation(P[0], p[0], c[0], S, temperature, 1.0, True)
        valid = valid & ok
        log_evidence = -(0.5 * mu @ P_0 @ mu + p_0 @ mu + c_0) / temperature
    else:
        log_evidence = -(0.5 * mu @ P[0] @ mu + 0.5 * jnp.trace(P[0] @ S) + p[0] @ mu + c[0])
        log_evidence = log_evidence / temperature
    method = "exact" if exact else "variational"
    return SoftLQRSolution(P, p, c, K, k, Sigma, log_evidence, method), valid


class StationarySoftLQR(eqx.Module):
    """The stationary (infinite-horizon) soft-LQR solution: V(x) = -(1/2 x'Px + p'x + const).

    Attributes:
        P: (n, n); p: (n,); K: (m, n); k: (m,); Sigma: (m, m).
        converged: () whether the Riccati iteration met its tolerance; iterations: ().
    """

    P: Float[Array, "n n"]
    p: Float[Array, " n"]
    K: Float[Array, "m n"]
    k: Float[Array, " m"]
    Sigma: Float[Array, "m m"]
    converged: Array
    iterations: Array


def soft_lqr_infinite(
    system: LinearGaussianSystem,
    reward: QuadraticReward,
    temperature=1.0,
    method: str = "variational",
    discount=1.0,
    tol: float = 1e-12,
    max_iterations: int = 100_000,
) -> StationarySoftLQR:
    """The stationary soft-LQR policy, by Riccati value iteration in JAX (`lax.while_loop` over
    the same backup as `soft_lqr`) until the relative change of (P, p) is below tol.

    It converges for discount < 1, or for a stabilisable and detectable system with discount 1;
    its variational mean gain is the gain of the discrete algebraic Riccati equation.

    Raises:
        ValueError: as `soft_lqr`, and when the iteration does not converge.
    """
    first = soft_lqr(system, reward, 1, temperature, method, discount)  # validates the inputs
    temperature = jnp.asarray(temperature, system.A.dtype)
    discount = jnp.asarray(discount, system.A.dtype)
    sol = _stationary(
        system, reward, temperature, discount, first.P[0], first.p[0], method == "exact", tol,
        max_iterations,
    )  # fmt: skip
    if _is_concrete(sol.converged) and not bool(sol.converged):
        raise ValueError(
            f"soft_lqr_infinite did not converge in {max_iterations} iterations: the system may "
            "not be stabilisable, or the exact (optimistic) value is unbounded; lower the "
            "discount or check (A, B)."
        )
    return sol


@functools.partial(jax.jit, static_argnames=("exact", "max_iterations"))
def _stationary(system, reward, temperature, discount, P, p, exact, tol, max_iterations):
    zero = jnp.zeros((), P.dtype)

    def backup(P, p):
        P_c, p_c, _, ok = continuation(P, p, zero, system.W, temperature, discount, exact)
        return lqr_step(P_c, p_c, zero, system, reward, temperature), ok

    def not_done(carry):
        _, _, i, change, ok = carry
        return (i < max_iterations) & (change > tol) & ok

    def body(carry):
        P, p, i, _, _ = carry
        (P_new, p_new, *_), ok = backup(P, p)
        scale = 1 + jnp.max(jnp.abs(P_new)) + jnp.max(jnp.abs(p_new), initial=0.0)
        change = (jnp.max(jnp.abs(P_new - P)) + jnp.max(jnp.abs(p_new - p), initial=0.0)) / scale
        return P_new, p_new, i + 1, change, ok

    start = (P, p, jnp.asarray(1), jnp.asarray(jnp.inf, P.dtype), jnp.asarray(True))
    P, p, iterations, change, ok = jax.lax.while_loop(not_done, body, start)
    (_, _, _, K, k, Sigma), _ = backup(P, p)
    return StationarySoftLQR(P, p, K, k, Sigma, (change <= tol) & ok, iterations)
