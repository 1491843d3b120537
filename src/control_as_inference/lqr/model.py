"""The linear-Gaussian model of soft LQR: the system, the quadratic reward, their validation, and
the bundles the backward pass reads (one step's matrices, a quadratic cost-to-go, a Gaussian
policy step, the backup settings) and returns (the solutions).

    x' = A x + B u + w,  w ~ N(0, W);   x_0 ~ N(mu_0, Sigma_0);   p(u|x) = Lebesgue (flat)
    r(x, u) = -(1/2 x'Qx + 1/2 u'Ru + x'Nu + q_x'x + q_u'u)
    V_t(x)  = -(1/2 x'P_t x + p_t'x + c_t)
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._core import float_dtype, is_concrete
from ..engine import Setting


def check_matrix(name, x, shape, dtype, symmetric=False, definite=None):
    """Validate a matrix of `shape`, or a time-varying stack of them, (H, *shape).

    definite: None, "semi" (positive semi-definite) or "strict" (positive definite); checked
    (with `symmetric`) only for concrete values. Raises ValueError naming `name`.
    """
    x = jnp.asarray(x, dtype=dtype)
    if x.shape != shape and x.shape[1:] != shape:
        raise ValueError(
            f"{name} must have shape {shape} (or (H, *{shape}) when time-varying), got {x.shape}."
        )
    if not is_concrete(x):
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


def broadcast_steps(x, horizon: int, rank: int):
    """A field broadcast to (H, ...): a time-varying stack must have H entries."""
    if x.ndim == rank:
        return jnp.broadcast_to(x, (horizon, *x.shape))
    if x.shape[0] != horizon:
        raise ValueError(f"a time-varying matrix has {x.shape[0]} steps but horizon is {horizon}.")
    return x


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
        dtype = float_dtype(A, B, W)
        A = jnp.asarray(A, dtype=dtype)
        if A.ndim not in (2, 3) or A.shape[-1] != A.shape[-2]:
            raise ValueError(f"A must be square, (n, n) or (H, n, n), got shape {A.shape}.")
        n = A.shape[-1]
        B = jnp.asarray(B, dtype=dtype)
        if B.ndim not in (2, 3) or B.shape[-2] != n:
            raise ValueError(f"B must have shape (n, m) = ({n}, m) or (H, n, m), got {B.shape}.")
        self.A = check_matrix("A", A, (n, n), dtype)
        self.B = check_matrix("B", B, B.shape[-2:], dtype)
        self.W = check_matrix("W", W, (n, n), dtype, symmetric=True, definite="semi")
        mean = jnp.zeros(n, dtype) if initial_mean is None else initial_mean
        cov = jnp.zeros((n, n), dtype) if initial_cov is None else initial_cov
        self.initial_mean = check_matrix("initial_mean", mean, (n,), dtype)
        self.initial_cov = check_matrix("initial_cov", cov, (n, n), dtype, True, "semi")
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
        return tuple(broadcast_steps(x, horizon, 2) for x in (self.A, self.B, self.W))


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
        dtype = float_dtype(Q, R)
        Q = jnp.asarray(Q, dtype=dtype)
        R = jnp.asarray(R, dtype=dtype)
        if Q.ndim not in (2, 3) or R.ndim not in (2, 3):
            raise ValueError(f"Q and R must be matrices, got shapes {Q.shape} and {R.shape}.")
        n, m = Q.shape[-1], R.shape[-1]
        self.Q = check_matrix("Q", Q, (n, n), dtype, symmetric=True, definite="semi")
        self.R = check_matrix("R", R, (m, m), dtype, symmetric=True, definite="strict")
        self.N = check_matrix("N", jnp.zeros((n, m), dtype) if N is None else N, (n, m), dtype)
        self.q_x = check_matrix("q_x", jnp.zeros(n, dtype) if q_x is None else q_x, (n,), dtype)
        self.q_u = check_matrix("q_u", jnp.zeros(m, dtype) if q_u is None else q_u, (m,), dtype)

    def steps(self, horizon: int):
        """(Q, R, N, q_x, q_u) broadcast to (H, ...)."""
        ranks = (2, 2, 2, 1, 1)
        fields = (self.Q, self.R, self.N, self.q_x, self.q_u)
        return tuple(
            broadcast_steps(x, horizon, rank) for x, rank in zip(fields, ranks, strict=True)
        )

    def __call__(self, x, u):
        """r(x, u) for single vectors x (n,), u (m,) (time-invariant rewards)."""
        return -(
            0.5 * x @ self.Q @ x
            + 0.5 * u @ self.R @ u
            + x @ self.N @ u
            + self.q_x @ x
            + self.q_u @ u
        )


class StepMatrices(NamedTuple):
    """The model's matrices at one step t (or, stacked along a leading axis, at every step: the
    sequence a reverse `lax.scan` runs over).

    Attributes:
        A: (n, n), B: (n, m), W: (n, n) move x_t to x_{t+1}; Q: (n, n), R: (m, m), N: (n, m),
        q_x: (n,), q_u: (m,) the reward at step t.
    """

    A: Array
    B: Array
    W: Array
    Q: Array
    R: Array
    N: Array
    q_x: Array
    q_u: Array

    @classmethod
    def of(cls, system: LinearGaussianSystem, reward: QuadraticReward, horizon: int | None = None):
        """The model's matrices broadcast to (H, ...) stacks (validating time-varying lengths),
        or, with horizon None, the fields as they are (a time-invariant model: one step)."""
        if horizon is None:
            dynamics = (system.A, system.B, system.W)
            return cls(*dynamics, reward.Q, reward.R, reward.N, reward.q_x, reward.q_u)
        return cls(*system.steps(horizon), *reward.steps(horizon))


class CostToGo(NamedTuple):
    """A quadratic value V(x) = -(1/2 x'Px + p'x + c) (or the continuation of one): P (n, n),
    p (n,), c ()."""

    P: Array
    p: Array
    c: Array


class GaussianPolicyStep(NamedTuple):
    """pi_t(u|x) = N(K x + k, Sigma): K (m, n), k (m,), Sigma (m, m)."""

    K: Array
    k: Array
    Sigma: Array


class BackupSpec(Setting):
    """What every backup reads besides the step's matrices, as the one `engine.Setting`:
    temperature alpha (), discount gamma () and exact (`Setting.exact`: the optimistic exact
    continuation, or the variational one); horizon None (a backup is one step).

    BackupSpec(temperature, discount, exact) keeps the old call; the values are the caller's,
    already checked (as `Setting.unchecked`)."""

    def __init__(self, temperature, discount, exact: bool):
        self.temperature = temperature
        self.discount = discount
        self.horizon = None
        self.method = "exact" if exact else "variational"


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


class StationarySoftLQR(eqx.Module):
    """The stationary (infinite-horizon) soft-LQR solution: V(x) = -(1/2 x'Px + p'x + const).

    Attributes:
        P: (n, n); p: (n,); K: (m, n); k: (m,); Sigma: (m, m).
        converged: () whether the Riccati iteration met its tolerance; iterations: ().
        residual: () the last change of (P, p) relative to 1 + max|P| + max|p|.
        error: () the estimated error max|P - P*| + max|p - p*| against the true stationary
            solution (max(2 rho / (1 - rho), 1) times the last change, rho the observed rate;
            inf while no rate below 1 was seen); converged means
            error <= tol (1 + max|P| + max|p|).
    """

    P: Float[Array, "n n"]
    p: Float[Array, " n"]
    K: Float[Array, "m n"]
    k: Float[Array, " m"]
    Sigma: Float[Array, "m m"]
    converged: Array
    iterations: Array
    residual: Array
    error: Array
