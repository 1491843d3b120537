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

from ..tabular.inference import check_discount, check_temperature
from ..tabular.mdp import _is_concrete

METHODS = ("exact", "variational")


def _matrix(name, x, shape, dtype, symmetric=False, definite=None):
    """Validate a matrix of `shape`, or a time-varying stack of them, (H, *shape)."""
    x = jnp.asarray(x, dtype=dtype)
    if x.shape != shape and x.shape[1:] != shape:
        raise ValueError(
            f"{name} must have shape {shape} (or (H, *{shape}) when time-varying), got {x.shape}."
        )
    if not _is_concrete(x):
        return x
    stack = np.asarray(x, dtype=np.float64).reshape((-1, *shape))
    if not np.all(np.isfinite(stack)):
        raise ValueError(f"{name} contains NaN or inf.")
    for t, a in enumerate(stack):
        at = f" at step {t}" if x.shape != shape else ""
        if symmetric:
            if not np.allclose(a, a.T, atol=1e-9 * (1 + np.abs(a).max())):
                raise ValueError(f"{name}{at} must be symmetric; use (M + M.T) / 2.")
            low = np.linalg.eigvalsh(a).min() if a.size else 0.0
            scale = 1e-10 * (1 + np.abs(a).max())
            if definite == "semi" and low < -scale:
                raise ValueError(
                    f"{name}{at} must be positive semi-definite (smallest eigenvalue {low:.3g})."
                )
            if definite == "strict" and low <= scale:
                raise ValueError(
                    f"{name}{at} must be positive definite (smallest eigenvalue {low:.3g})."
                )
    return x


def _steps(x, horizon: int, rank: int):
    """A field broadcast to (H, ...): a time-varying stack must have H entries."""
    if x.ndim == rank:
        return jnp.broadcast_to(x, (horizon, *x.shape))
    if x.shape[0] != horizon:
        raise ValueError(f"a time-varying matrix has {x.shape[0]} steps but horizon is {horizon}.")
    return x


def _dtype(*arrays):
    floats = [np.asarray(a).dtype if not hasattr(a, "dtype") else a.dtype for a in arrays]
    floats = [d for d in floats if jnp.issubdtype(d, jnp.floating)]
    return jax.dtypes.canonicalize_dtype(np.result_type(*floats) if floats else float)


class LinearGaussianSystem(eqx.Module):
    """x' = A x + B u + w, w ~ N(0, W), x_0 ~ N(initial_mean, initial_cov).

    Args:
        A: (n, n); B: (n, m); W: (n, n) symmetric positive semi-definite; each may instead be a
            time-varying (H, ...) stack (A_t, B_t, W_t move x_t to x_{t+1}).
        initial_mean: (n,), zeros if None; initial_cov: (n, n) PSD, zeros (a known start) if None.

    Raises:
        ValueError: naming the matrix, for wrong shapes, NaN, asymmetric or indefinite W.
    """

    A: Float[Array, "*H n n"]
    B: Float[Array, "*H n m"]
    W: Float[Array, "*H n n"]
    initial_mean: Float[Array, " n"]
    initial_cov: Float[Array, "n n"]

    def __init__(self, A, B, W, initial_mean=None, initial_cov=None):
        dtype = _dtype(A, B, W)
        A = jnp.asarray(A, dtype=dtype)
        if A.ndim not in (2, 3) or A.shape[-1] != A.shape[-2]:
            raise ValueError(f"A must be square, (n, n) or (H, n, n), got shape {A.shape}.")
        n = A.shape[-1]
        B = jnp.asarray(B, dtype=dtype)
        if B.ndim not in (2, 3) or B.shape[-2] != n:
            raise ValueError(f"B must have shape (n, m) = ({n}, m) or (H, n, m), got {B.shape}.")
        self.A = _matrix("A", A, (n, n), dtype)
        self.B = _matrix("B", B, B.shape[-2:], dtype)
        self.W = _matrix("W", W, (n, n), dtype, symmetric=True, definite="semi")
        mean = jnp.zeros(n, dtype) if initial_mean is None else initial_mean
        cov = jnp.zeros((n, n), dtype) if initial_cov is None else initial_cov
        self.initial_mean = _matrix("initial_mean", mean, (n,), dtype)
        self.initial_cov = _matrix("initial_cov", cov, (n, n), dtype, True, "semi")
        if self.initial_mean.ndim != 1 or self.initial_cov.ndim != 2:
            raise ValueError("initial_mean must be (n,) and initial_cov (n, n).")

    @property
    def state_dim(self) -> int:
        return self.A.shape[-1]

    @property
    def action_dim(self) -> int:
        return self.B.shape[-1]

    def steps(self, horizon: int):
        """(A, B, W) broadcast to (H, ...)."""
        return tuple(_steps(x, horizon, 2) for x in (self.A, self.B, self.W))


class QuadraticReward(eqx.Module):
    """r(x, u) = -(1/2 x'Qx + 1/2 u'Ru + x'Nu + q_x'x + q_u'u).

    Args:
        Q: (n, n) symmetric PSD; R: (m, m) symmetric positive definite; N: (n, m), zeros if None;
        q_x: (n,), q_u: (m,), zeros if None. Each may instead be a time-varying (H, ...) stack.
    """

    Q: Float[Array, "*H n n"]
    R: Float[Array, "*H m m"]
    N: Float[Array, "*H n m"]
    q_x: Float[Array, "*H n"]
    q_u: Float[Array, "*H m"]

    def __init__(self, Q, R, N=None, q_x=None, q_u=None):
        dtype = _dtype(Q, R)
        Q = jnp.asarray(Q, dtype=dtype)
        R = jnp.asarray(R, dtype=dtype)
        if Q.ndim not in (2, 3) or R.ndim not in (2, 3):
            raise ValueError(f"Q and R must be matrices, got shapes {Q.shape} and {R.shape}.")
        n, m = Q.shape[-1], R.shape[-1]
        self.Q = _matrix("Q", Q, (n, n), dtype, symmetric=True, definite="semi")
        self.R = _matrix("R", R, (m, m), dtype, symmetric=True, definite="strict")
        self.N = _matrix("N", jnp.zeros((n, m), dtype) if N is None else N, (n, m), dtype)
        self.q_x = _matrix("q_x", jnp.zeros(n, dtype) if q_x is None else q_x, (n,), dtype)
        self.q_u = _matrix("q_u", jnp.zeros(m, dtype) if q_u is None else q_u, (m,), dtype)

    def steps(self, horizon: int):
        """(Q, R, N, q_x, q_u) broadcast to (H, ...)."""
        ranks = (2, 2, 2, 1, 1)
        fields = (self.Q, self.R, self.N, self.q_x, self.q_u)
        return tuple(_steps(x, horizon, rank) for x, rank in zip(fields, ranks, strict=True))

    def __call__(self, x, u):
        """r(x, u) for single vectors x (n,), u (m,) (time-invariant rewards)."""
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
        temperature: () alpha; method: "exact" or "variational".
    """

    P: Float[Array, "H1 n n"]
    p: Float[Array, "H1 n"]
    c: Float[Array, " H1"]
    K: Float[Array, "H m n"]
    k: Float[Array, "H m"]
    Sigma: Float[Array, "H m m"]
    log_evidence: Float[Array, ""]
    temperature: Float[Array, ""]
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
        system, reward: the model (time-invariant, or (H, ...) stacks of matrices).
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
    if reward.Q.shape[-2:] != (n, n) or reward.R.shape[-2:] != (m, m):
        raise ValueError(
            f"reward Q must be ({n}, {n}) and R ({m}, {m}) to match the system; got "
            f"{reward.Q.shape} and {reward.R.shape}."
        )
    steps = (*system.steps(horizon), *reward.steps(horizon))  # validates time-varying lengths
    dtype = system.A.dtype
    temperature = check_temperature(temperature, dtype)
    discount = check_discount(discount, dtype)
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
        steps, system.initial_mean, system.initial_cov, temperature, discount, (P_H, p_H, c_H),
        method == "exact",
    )  # fmt: skip
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


def _psd_factor(M):
    """(F, V) with F F' = M for a symmetric PSD M (F = V sqrt(eigenvalues), V the eigenvectors);
    F V' is the symmetric square root."""
    values, vectors = jnp.linalg.eigh(M)
    return vectors * jnp.sqrt(jnp.clip(values, 0))[None, :], vectors


def _sym_sqrt_product(W, P):
    """W^{1/2} P W^{1/2} (symmetric), whose spectrum is that of W P."""
    factor, vectors = _psd_factor(W)
    root = factor @ vectors.T
    return root @ P @ root


def lqr_step(P_c, p_c, c_c, step, temperature):
    """One backup from the continuation (P', p', c') with the step's matrices
    (A, B, W, Q, R, N, q_x, q_u): returns (P, p, c, K, k, Sigma)."""
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
    return P, p, c, K, k, Sigma


@functools.partial(jax.jit, static_argnames=("exact",))
def _soft_lqr(steps, mu, S, temperature, discount, terminal, exact):
    def step(carry, matrices):
        P, p, c, valid = carry
        W = matrices[2]
        P_c, p_c, c_c, ok = continuation(P, p, c, W, temperature, discount, exact)
        P, p, c, K, k, Sigma = lqr_step(P_c, p_c, c_c, matrices, temperature)
        return (P, p, c, valid & ok), (P, p, c, K, k, Sigma)

    P_H, p_H, c_H = terminal
    init = (P_H, p_H, c_H, jnp.asarray(True))
    (_, _, _, valid), (P, p, c, K, k, Sigma) = jax.lax.scan(step, init, steps, reverse=True)
    P = jnp.concatenate([P, P_H[None]])
    p = jnp.concatenate([p, p_H[None]])
    c = jnp.concatenate([c, c_H[None]])
    if exact:
        # log E[exp(V_0(x_0)/alpha)] for x_0 ~ N(mu, S): the same Gaussian integral
        P_0, p_0, c_0, ok = continuation(P[0], p[0], c[0], S, temperature, 1.0, True)
        valid = valid & ok
        log_evidence = -(0.5 * mu @ P_0 @ mu + p_0 @ mu + c_0) / temperature
    else:
        log_evidence = -(0.5 * mu @ P[0] @ mu + 0.5 * jnp.trace(P[0] @ S) + p[0] @ mu + c[0])
        log_evidence = log_evidence / temperature
    method = "exact" if exact else "variational"
    sol = SoftLQRSolution(P, p, c, K, k, Sigma, log_evidence, temperature, method)
    return sol, valid


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
    if system.A.ndim == 3 or system.B.ndim == 3 or system.W.ndim == 3 or reward.Q.ndim == 3:
        raise ValueError("soft_lqr_infinite needs a time-invariant system and reward.")
    first = soft_lqr(system, reward, 1, temperature, method, discount)  # validates the inputs
    temperature = jnp.asarray(temperature, system.A.dtype)
    discount = jnp.asarray(discount, system.A.dtype)
    matrices = (system.A, system.B, system.W, reward.Q, reward.R, reward.N, reward.q_x, reward.q_u)
    sol = _stationary(
        matrices, temperature, discount, first.P[0], first.p[0], method == "exact", tol,
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
def _stationary(matrices, temperature, discount, P, p, exact, tol, max_iterations):
    zero = jnp.zeros((), P.dtype)

    def backup(P, p):
        P_c, p_c, _, ok = continuation(P, p, zero, matrices[2], temperature, discount, exact)
        return lqr_step(P_c, p_c, zero, matrices, temperature), ok

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


class TrajectoryMarginals(eqx.Module):
    """Gaussian marginals of the trajectory posterior.

    Attributes:
        state_mean: (H+1, n); state_cov: (H+1, n, n); action_mean: (H, m); action_cov: (H, m, m).
    """

    state_mean: Float[Array, "H1 n"]
    state_cov: Float[Array, "H1 n n"]
    action_mean: Float[Array, "H m"]
    action_cov: Float[Array, "H m m"]


def _tilt(mean, cov, P, p, temperature):
    """N(mean, cov) times exp(-(1/2 x'Px + p'x)/alpha), normalised: the optimistic posterior.

    cov' = (I + cov P/alpha)^{-1} cov,  mean' = (I + cov P/alpha)^{-1} (mean - cov p/alpha).
    """
    M = jnp.eye(P.shape[0], dtype=P.dtype) + cov @ P / temperature
    new_cov = jnp.linalg.solve(M, cov)
    return jnp.linalg.solve(M, mean - cov @ p / temperature), 0.5 * (new_cov + new_cov.T)


def trajectory_marginals(system: LinearGaussianSystem, sol: SoftLQRSolution) -> TrajectoryMarginals:
    """Means and covariances of x_t and u_t under the posterior.

    Variational: x_0 ~ N(mu_0, Sigma_0), the policy and the true dynamics. Exact: the posterior
    start state and dynamics are tilted by exp(V_{t}(x)/alpha) (optimism):
    p(x'|x,u,e) = N((I + W P/alpha)^{-1} (A x + B u - W p/alpha), (I + W P/alpha)^{-1} W).
    """
    horizon = sol.K.shape[0]
    A, B, W = system.steps(horizon)
    exact = sol.method == "exact"
    temperature = sol.temperature
    mean, cov = system.initial_mean, system.initial_cov
    if exact:
        mean, cov = _tilt(mean, cov, sol.P[0], sol.p[0], temperature)

    def step(carry, inputs):
        mean, cov = carry
        A_t, B_t, W_t, K, k, Sigma, P_next, p_next = inputs
        u_mean = K @ mean + k
        u_cov = K @ cov @ K.T + Sigma
        closed = A_t + B_t @ K
        next_mean = A_t @ mean + B_t @ u_mean
        next_cov = closed @ cov @ closed.T + B_t @ Sigma @ B_t.T + W_t
        if exact:  # p(x'|x,u,e): the Gaussian step tilted by exp(V_{t+1}(x')/alpha)
            eye = jnp.eye(W_t.shape[0], dtype=W_t.dtype)
            shrink = jnp.linalg.solve(eye + W_t @ P_next / temperature, eye)  # M^{-1}
            spread = closed @ cov @ closed.T + B_t @ Sigma @ B_t.T
            noise = shrink @ W_t  # (W^{-1} + P/alpha)^{-1}, symmetric
            next_mean = shrink @ (next_mean - W_t @ p_next / temperature)
            next_cov = shrink @ spread @ shrink.T + 0.5 * (noise + noise.T)
        return (next_mean, next_cov), (mean, cov, u_mean, u_cov)

    inputs = (A, B, W, sol.K, sol.k, sol.Sigma, sol.P[1:], sol.p[1:])
    (last_mean, last_cov), (means, covs, u_means, u_covs) = jax.lax.scan(step, (mean, cov), inputs)
    return TrajectoryMarginals(
        state_mean=jnp.concatenate([means, last_mean[None]]),
        state_cov=jnp.concatenate([covs, last_cov[None]]),
        action_mean=u_means,
        action_cov=u_covs,
    )


def sample_trajectories(system: LinearGaussianSystem, sol: SoftLQRSolution, key, num: int):
    """Draw `num` trajectories from the posterior (see `trajectory_marginals` for its dynamics).

    Returns states (num, H+1, n) and actions (num, H, m).
    """
    if isinstance(num, bool) or not isinstance(num, numbers.Integral) or num < 1:
        raise ValueError(f"num must be a Python int >= 1, got {num!r}.")
    return _sample(system, sol, key, int(num))


def _gaussian(key, mean, cov, num):
    n = cov.shape[-1]
    root, _ = _psd_factor(cov)  # cov may be singular (a known start): no Cholesky
    return mean[None, :] + jax.random.normal(key, (num, n), cov.dtype) @ root.T


@functools.partial(jax.jit, static_argnames=("num",))
def _sample(system, sol, key, num):
    horizon = sol.K.shape[0]
    A, B, W = system.steps(horizon)
    exact = sol.method == "exact"
    temperature = sol.temperature
    key, start = jax.random.split(key)
    mean, cov = system.initial_mean, system.initial_cov
    if exact:
        mean, cov = _tilt(mean, cov, sol.P[0], sol.p[0], temperature)
    x0 = _gaussian(start, mean, cov, num)

    def step(x, inputs):
        step_key, A_t, B_t, W_t, K, k, Sigma, P_next, p_next = inputs
        key_u, key_x = jax.random.split(step_key)
        u = x @ K.T + k[None, :] + _gaussian(key_u, jnp.zeros_like(k), Sigma, num)
        m = x @ A_t.T + u @ B_t.T
        if exact:
            eye = jnp.eye(W_t.shape[0], dtype=W_t.dtype)
            shrink = jnp.linalg.solve(eye + W_t @ P_next / temperature, eye)
            m = (m - (W_t @ p_next / temperature)[None, :]) @ shrink.T
            noise_cov = shrink @ W_t
        else:
            noise_cov = W_t
        x_next = m + _gaussian(key_x, jnp.zeros_like(p_next), 0.5 * (noise_cov + noise_cov.T), num)
        return x_next, (x, u)

    keys = jax.random.split(key, horizon)
    inputs = (keys, A, B, W, sol.K, sol.k, sol.Sigma, sol.P[1:], sol.p[1:])
    last, (xs, us) = jax.lax.scan(step, x0, inputs)
    states = jnp.concatenate([xs, last[None]])
    return jnp.moveaxis(states, 0, 1), jnp.moveaxis(us, 0, 1)
