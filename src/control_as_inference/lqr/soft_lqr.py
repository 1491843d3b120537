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

This module holds the two entry points; the model and the bundles are in `model.py`, the backward
pass (continuation, Riccati step, reverse scan, stationary iteration) in `riccati.py`, and the
posterior marginals and samples in `marginals.py`.
"""

from __future__ import annotations

import jax.numpy as jnp

from .._core import check_discount, check_int, check_method, check_temperature, is_concrete
from ..engine import SolverResult, warn_unconverged
from .model import (
    BackupSpec,
    CostToGo,
    LinearGaussianSystem,
    QuadraticReward,
    SoftLQRSolution,
    StationarySoftLQR,
    StepMatrices,
    check_matrix,
)
from .riccati import backward_pass, stationary_iteration


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
    check_method(method)
    horizon = check_int("horizon", horizon, 1)
    n, m = system.state_dim, system.action_dim
    if reward.Q.shape[-2:] != (n, n) or reward.R.shape[-2:] != (m, m):
        raise ValueError(
            f"reward Q must be ({n}, {n}) and R ({m}, {m}) to match the system; got "
            f"{reward.Q.shape} and {reward.R.shape}."
        )
    steps = StepMatrices.of(system, reward, horizon)  # validates time-varying lengths
    dtype = system.A.dtype
    temperature = check_temperature(temperature, dtype)
    discount = check_discount(discount, dtype)
    if method == "exact" and is_concrete(discount) and discount != 1:
        raise ValueError(
            "discount: exact soft LQR needs discount = 1 (an absorbing-state discount makes the "
            "messages non-quadratic); use method='variational' for a discounted problem."
        )
    if terminal is None:
        terminal = (jnp.zeros((n, n), dtype), jnp.zeros(n, dtype), jnp.zeros((), dtype))
    terminal = CostToGo(
        check_matrix("terminal P", terminal[0], (n, n), dtype, symmetric=True, definite="semi"),
        check_matrix("terminal p", terminal[1], (n,), dtype),
        jnp.asarray(terminal[2], dtype),
    )
    spec = BackupSpec(temperature, discount, method == "exact")
    sol, valid = backward_pass(steps, system.initial_mean, system.initial_cov, spec, terminal)
    if is_concrete(valid) and not bool(valid):
        raise ValueError(
            "exact soft LQR broke down: I + W P / temperature is not positive definite at some "
            "step, so the optimistic value is unbounded; raise the temperature, shorten the "
            "horizon or use method='variational'."
        )
    return sol


def soft_lqr_infinite(
    system: LinearGaussianSystem,
    reward: QuadraticReward,
    temperature=1.0,
    method: str = "variational",
    discount=1.0,
    tol: float = 1e-12,
    max_iterations: int = 100_000,
) -> StationarySoftLQR:
    """The stationary soft-LQR policy, by Riccati value iteration in JAX (the engine's
    `fixed_point` over the same backup as `soft_lqr`) until the estimated error
    max|P - P*| + max|p - p*| (the last change times max(2 rho / (1 - rho), 1), rho the observed
    rate of convergence) is at most tol (1 + max|P| + max|p|).

    It converges for discount < 1, or for a stabilisable and detectable system with discount 1;
    its variational mean gain is the gain of the discrete algebraic Riccati equation.

    Returns:
        A `StationarySoftLQR`. When the iteration has not converged in max_iterations a
        `cai.ConvergenceWarning` is issued (as `soft_value_iteration` does; outside of jax
        transformations) and `converged` is False.

    Raises:
        ValueError: as `soft_lqr`, including when an exact step breaks down (the optimistic value
            is unbounded).
    """
    if system.A.ndim == 3 or system.B.ndim == 3 or system.W.ndim == 3 or reward.Q.ndim == 3:
        raise ValueError("soft_lqr_infinite needs a time-invariant system and reward.")
    first = soft_lqr(system, reward, 1, temperature, method, discount)  # validates the inputs
    spec = BackupSpec(
        jnp.asarray(temperature, system.A.dtype),
        jnp.asarray(discount, system.A.dtype),
        method == "exact",
    )
    start = CostToGo(first.P[0], first.p[0], first.c[0])
    step = StepMatrices.of(system, reward)
    sol, valid = stationary_iteration(step, spec, start, tol, max_iterations)
    if is_concrete(valid) and not bool(valid):
        raise ValueError(
            "exact soft LQR broke down: I + W P / temperature stopped being positive definite "
            f"after {int(sol.iterations)} iterations, so the optimistic value is unbounded; raise "
            "the temperature or use method='variational'."
        )
    if is_concrete(sol.converged) and not bool(sol.converged):
        warn_unconverged(
            SolverResult(sol.P, sol.converged, sol.iterations, sol.error, sol.residual),
            "soft_lqr_infinite",
            f"The last relative change was {float(sol.residual):.3g} (tol = {tol:g}). With "
            "discount = 1 the values diverge unless (A, B) is stabilisable and the reward "
            "detectable; lower the discount, check (A, B) or raise max_iterations.",
        )
    return sol
