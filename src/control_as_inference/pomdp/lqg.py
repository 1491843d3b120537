"""Soft LQG: control as inference for a linear-Gaussian system seen through noisy linear sensors.

Model (the system and reward of `cai.lqr`, time-invariant or (H, ...) stacks):

    x_0 ~ N(mu_0, Sigma_0),   y_t = C x_t + v_t,  v_t ~ N(0, V)     (seen before u_t, t < H)
    u_t ~ pi_t(u | y_{0:t}, u_{0:t-1}),   x_{t+1} = A x_t + B u_t + w_t,  w_t ~ N(0, W)
    p(e_t = 1 | x_t, u_t) = exp(r(x_t, u_t) / alpha),   terminal value v_H(x) (zero by default)

What the agent knows at step t is a Gaussian belief N(m_t, S_t). S_t does not depend on the
data, so every covariance, gain and policy matrix is computed once, before any observation.

Kalman filter (dynamax's `lgssm_filter` names: predicted and filtered moments):

    predicted   m_{t|t-1} = A m~_{t-1} + B u_{t-1},   Sigma_{t|t-1} = A S~_{t-1} A' + W
                (m_{0|-1} = mu_0, Sigma_{0|-1} = Sigma_0)
    gain        G_t = Sigma_{t|t-1} C' (C Sigma_{t|t-1} C' + V)^{-1}
    filtered    m_t = m_{t|t-1} + G_t (y_t - C m_{t|t-1}),
                S_t = (I - G_t C) Sigma_{t|t-1} (I - G_t C)' + G_t V G_t'   (Joseph form)

with (m~_t, S~_t) = (m_t, S_t) for the plain filter and the variational method.

Variational (maximum-entropy LQG). The max-ent objective over policies of the history is a
function of the belief, and estimation and control separate. With V_t, pi_t the fully observed
soft LQR's (`cai.lqr.soft_lqr`), the belief's value is

    V^b_t(m) = V_t(m) - e_t,
    e_t = 1/2 tr(Q_t S_t) + gamma (e_{t+1} + 1/2 tr(P_{t+1} (Sigma_{t+1|t} - S_{t+1} - W_t))),
    e_H = 1/2 tr(P_H Sigma_{H|H-1})   (S_H = Sigma_{H|H-1}: nothing is seen after the last action)

(the reward is expected under the belief, and the belief's mean moves by the innovation,
covariance Sigma_{t+1|t} - S_{t+1}, where the state moved by W), so the policy is soft LQR's on
the mean (max-ent certainty equivalence): pi_t(u | b) = N(K_t m_t + k_t, alpha (R + B'P_{t+1}B)^-1).

Exact (the posterior p(u_t | y_{0:t}, u_{0:t-1}, e_{0:H-1}); discount 1). Separation fails twice:

- the past optimality variables are evidence about the past states, so once u_t is chosen the
  belief takes the factor exp(r(x_t, u_t) / alpha) (a tilted filter):
      S~_t = S_t (I + Q_t S_t / alpha)^{-1},
      m~_t = (I + S_t Q_t / alpha)^{-1} (m_t - S_t (N_t u_t + q_x,t) / alpha);
- the action's posterior integrates the state's uncertainty against the exact soft Q,
  Q_t(x, u) = max_u Q_t(x, .) - 1/2 (u - K_t x - k_t)' H_uu (u - K_t x - k_t), H_uu = alpha
  Sigma_t^{-1}: the belief tilted by exp(V_t(x) / alpha) is N(M_t (m_t - S_t p_t / alpha),
  M_t S_t), M_t = (I + S_t P_t / alpha)^{-1}, so
      pi_t(u | b) = N(K_t M_t m_t + k_t - K_t M_t S_t p_t / alpha,  Sigma_t + K_t M_t S_t K_t'):
  the gain shrinks and the spread grows with the uncertainty. With S_t = 0 both are exact soft
  LQR's.

In both, pi_t(u | b) = N(K^b_t m_t + k^b_t, Sigma^b_t) (`SoftLQG.K`, `.k`, `.Sigma`), and
`SoftLQG.expected_return` is E[sum_t gamma^t r(x_t, u_t) + gamma^H v_H(x_H)] in closed loop,
by propagating the joint Gaussian of (x_t, m_{t|t-1}) (no sampling).
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._core import check_discount, check_int, check_temperature, float_dtype, is_concrete
from ..engine import SolverResult, fixed_point, warn_unconverged
from ..lqr import (
    LinearGaussianSystem,
    QuadraticReward,
    SoftLQRSolution,
    StationarySoftLQR,
    soft_lqr,
    soft_lqr_infinite,
)


class LinearGaussianObservation(eqx.Module):
    """y = C x + v, v ~ N(0, V).

    Args:
        C: (p, n) the sensor matrix; V: (p, p) symmetric positive definite noise covariance.

    Raises:
        ValueError: naming the matrix, for wrong shapes, NaN or inf, asymmetric or not positive
            definite V.
    """

    C: Float[Array, "p n"]
    V: Float[Array, "p p"]

    def __init__(self, C, V):
        dtype = float_dtype(C, V)
        C, V = jnp.asarray(C, dtype), jnp.asarray(V, dtype)
        if C.ndim != 2 or C.shape[0] == 0:
            raise ValueError(f"C must be a (p, n) matrix with p >= 1, got shape {C.shape}.")
        if V.shape != (C.shape[0],) * 2:
            raise ValueError(f"V must have shape (p, p) = {(C.shape[0],) * 2}, got {V.shape}.")
        for name, x in (("C", C), ("V", V)):
            if is_concrete(x) and not np.isfinite(np.asarray(x)).all():
                raise ValueError(f"{name} contains NaN or inf.")
        if is_concrete(V):
            v = np.asarray(V, np.float64)
            scale = 1 + np.abs(v).max()
            if not np.allclose(v, v.T, atol=1e-9 * scale):
                raise ValueError("V must be symmetric; use (V + V.T) / 2.")
            low = np.linalg.eigvalsh(v).min()
            if low <= 1e-10 * scale:
                raise ValueError(
                    f"V must be positive definite (smallest eigenvalue {low:.3g}): every sensor "
                    "needs noise; a noiseless sensor is the limit of a small V."
                )
        self.C, self.V = C, V

    @property
    def observation_dim(self) -> int:
        return self.C.shape[0]


class KalmanFiltered(NamedTuple):
    """The Kalman filter's moments (dynamax's names), T observations.

    Attributes:
        marginal_loglik: () log p(y_{0:T-1} | u_{0:T-2}).
        filtered_means: (T, n) m_t; filtered_covariances: (T, n, n) S_t.
        predicted_means: (T, n) m_{t|t-1}; predicted_covariances: (T, n, n) Sigma_{t|t-1}.
    """

    marginal_loglik: Float[Array, ""]
    filtered_means: Float[Array, "T n"]
    filtered_covariances: Float[Array, "T n n"]
    predicted_means: Float[Array, "T n"]
    predicted_covariances: Float[Array, "T n n"]


class SoftLQG(eqx.Module):
    """A finite-horizon soft LQG solution: the filter's matrices and the policy over beliefs
    pi_t(u | b) = N(K_t m_t + k_t, Sigma_t) (module docstring).

    Attributes:
        control: the fully observed soft LQR solution of the same method.
        predicted_covariances: (H + 1, n, n) Sigma_{t|t-1} (index H: after the last action).
        filtered_covariances: (H, n, n) S_t, the belief's covariance at decision t.
        tilted_covariances: (H, n, n) S~_t after the factor of e_t (exact), S_t (variational).
        gains: (H, n, p) G_t.
        K: (H, m, n); k: (H, m); Sigma: (H, m, m) the policy over beliefs.
        expected_return: () E[sum_t gamma^t r(x_t, u_t) + gamma^H v_H(x_H)] in closed loop.
        entropy: (H,) the policy's differential entropy 1/2 log det(2 pi e Sigma_t).
        system, observation, reward: the model; temperature, discount: (); method.
    """

    control: SoftLQRSolution
    predicted_covariances: Float[Array, "H1 n n"]
    filtered_covariances: Float[Array, "H n n"]
    tilted_covariances: Float[Array, "H n n"]
    gains: Float[Array, "H n p"]
    K: Float[Array, "H m n"]
    k: Float[Array, "H m"]
    Sigma: Float[Array, "H m m"]
    expected_return: Float[Array, ""]
    entropy: Float[Array, " H"]
    system: LinearGaussianSystem
    observation: LinearGaussianObservation
    reward: QuadraticReward
    temperature: Float[Array, ""]
    discount: Float[Array, ""]
    method: str = eqx.field(static=True)

    @property
    def horizon(self) -> int:
        return self.K.shape[0]

    @property
    def value(self) -> Float[Array, ""]:
        """The max-ent objective E[sum_t gamma^t (r_t + alpha H(pi_t)) + gamma^H v_H(x_H)] of
        the policy in closed loop (for the variational method: V^b_0 averaged over y_0)."""
        weights = self.discount ** jnp.arange(self.horizon, dtype=self.entropy.dtype)
        return self.expected_return + self.temperature * weights @ self.entropy

    def policy(self, t: int, mean) -> tuple[Float[Array, " m"], Float[Array, "m m"]]:
        """(mean, covariance) of pi_t(u | b) for the belief mean m_t (n,)."""
        return self.K[t] @ mean + self.k[t], self.Sigma[t]

    def first_mean(self, observation) -> Float[Array, " n"]:
        """m_0 from y_0 (p,)."""
        return _update(self.system.initial_mean, self.gains[0], self.observation.C, observation)

    def next_mean(self, t: int, mean, action, observation) -> Float[Array, " n"]:
        """m_{t+1} from m_t, the action u_t taken and y_{t+1} (t + 1 < H)."""
        steps = _steps(self.system, self.reward, self.horizon)
        tilted = _tilt(self, steps, t, mean, action)
        predicted = steps[0][t] @ tilted + steps[1][t] @ action
        return _update(predicted, self.gains[t + 1], self.observation.C, observation)


class StationarySoftLQG(eqx.Module):
    """The infinite-horizon (variational) soft LQG: the stationary soft LQR policy on the mean
    of the stationary Kalman filter.

    Attributes:
        control: `cai.lqr.StationarySoftLQR` (K, k, Sigma of the policy over beliefs).
        predicted_covariance: (n, n) Sigma, the solution of the filter's Riccati equation
            Sigma = A (Sigma - Sigma C'(C Sigma C' + V)^{-1} C Sigma) A' + W.
        filtered_covariance: (n, n) S; gain: (n, p) G.
        converged, iterations, error: the filter's Riccati iteration (the engine's
            `fixed_point`; error estimates max|Sigma_k - Sigma| relative to 1 + max|Sigma_k|).
    """

    control: StationarySoftLQR
    predicted_covariance: Float[Array, "n n"]
    filtered_covariance: Float[Array, "n n"]
    gain: Float[Array, "n p"]
    converged: Array
    iterations: Array
    error: Array


def kalman_filter(
    system: LinearGaussianSystem, observation: LinearGaussianObservation, observations, actions
) -> KalmanFiltered:
    """The Kalman filter over y_{0:T-1} with the actions u_{0:T-2} between them (module doc).

    Args:
        system, observation: the model (time-varying system matrices: (T - 1, ...) stacks).
        observations: (T, p) y_t; actions: (T - 1, m) u_t (applied between y_t and y_{t+1}).
    """
    dtype = system.A.dtype
    ys = jnp.asarray(observations, dtype)
    steps = ys.shape[0] - 1
    us = jnp.asarray(actions, dtype)
    if ys.ndim != 2 or ys.shape[1] != observation.observation_dim or steps < 0:
        raise ValueError(
            f"observations must have shape (T, p) = (T, {observation.observation_dim}), T >= 1; "
            f"got {ys.shape}."
        )
    if us.shape != (steps, system.action_dim):
        raise ValueError(
            f"actions must have shape (T - 1, m) = {(steps, system.action_dim)}, got {us.shape}."
        )
    A, B, W = system.steps(max(steps, 1))
    C, V = observation.C, observation.V

    def step(carry, inputs):
        mean, cov, loglik = carry
        y, A_t, B_t, W_t, u = inputs
        S = C @ cov @ C.T + V
        residual = y - C @ mean
        loglik += jax.scipy.stats.multivariate_normal.logpdf(residual, jnp.zeros_like(y), S)
        gain = _gain(cov, C, V)
        filtered_mean = mean + gain @ residual
        filtered_cov = _joseph(cov, gain, C, V)
        out = (filtered_mean, filtered_cov, mean, cov)
        return (A_t @ filtered_mean + B_t @ u, _sym(A_t @ filtered_cov @ A_t.T + W_t), loglik), out

    pad = jnp.zeros((1, system.action_dim), dtype)  # the step after the last y moves nothing out
    inputs = (
        ys,
        *(jnp.concatenate([x[:steps], x[:1]]) for x in (A, B, W)),
        jnp.concatenate([us, pad]),
    )
    start = (system.initial_mean, system.initial_cov, jnp.zeros((), dtype))
    (_, _, loglik), (m, S, m_pred, cov_pred) = jax.lax.scan(step, start, inputs)
    return KalmanFiltered(loglik, m, S, m_pred, cov_pred)


def soft_lqg(
    system: LinearGaussianSystem,
    observation: LinearGaussianObservation,
    reward: QuadraticReward,
    horizon,
    temperature=1.0,
    method: str = "variational",
    discount=1.0,
    terminal=None,
) -> SoftLQG:
    """Finite-horizon soft LQG (module docstring): the filter and the policy over beliefs.

    Args:
        system, reward: as `cai.lqr.soft_lqr` (which solves the fully observed problem).
        observation: the sensor y = C x + v; C must have n columns.
        horizon: H >= 1 decisions; temperature: alpha > 0; discount: gamma in (0, 1] (the exact
            method needs 1); terminal: optional (P_H, p_H, c_H) terminal cost-to-go.
        method: "variational" (max-ent LQG: separation holds) or "exact" (the posterior over
            the action given the history and every optimality variable).

    Raises:
        ValueError: as `soft_lqr`, and for a sensor of the wrong width.
    """
    horizon = check_int("horizon", horizon, 1)
    n = system.state_dim
    if observation.C.shape[1] != n:
        raise ValueError(
            f"observation.C must have n = {n} columns (the state's dimension), got "
            f"{observation.C.shape}."
        )
    control = soft_lqr(system, reward, horizon, temperature, method, discount, terminal)
    dtype = system.A.dtype
    alpha = check_temperature(temperature, dtype)
    gamma = check_discount(discount, dtype)
    steps = _steps(system, reward, horizon)
    return _solve(system, observation, reward, control, steps, alpha, gamma, method)


@eqx.filter_jit
def _solve(system, observation, reward, control, steps, alpha, gamma, method) -> SoftLQG:
    A, W, Q = steps[0], steps[2], steps[3]
    C, V = observation.C, observation.V
    exact = method == "exact"
    eye = jnp.eye(system.state_dim, dtype=A.dtype)

    def covariances(predicted, step):
        A_t, W_t, Q_t = step
        gain = _gain(predicted, C, V)
        filtered = _joseph(predicted, gain, C, V)
        tilted = (
            _sym(jnp.linalg.solve(eye + filtered @ Q_t / alpha, filtered)) if exact else filtered
        )
        return _sym(A_t @ tilted @ A_t.T + W_t), (predicted, filtered, tilted, gain)

    last, (predicted, filtered, tilted, gains) = jax.lax.scan(
        covariances, system.initial_cov, (A, W, Q)
    )
    predicted = jnp.concatenate([predicted, last[None]])
    if exact:  # the action's posterior integrates the belief against the exact soft Q
        shrink = jnp.linalg.solve(
            eye[None] + filtered @ control.P[:-1] / alpha, jnp.broadcast_to(eye, filtered.shape)
        )
        K = control.K @ shrink
        k = (
            control.k
            - jnp.einsum("tmn,tn->tm", K, jnp.einsum("tij,tj->ti", filtered, control.p[:-1]))
            / alpha
        )
        Sigma = _sym(control.Sigma + K @ filtered @ jnp.swapaxes(control.K, -1, -2))
    else:
        K, k, Sigma = control.K, control.k, control.Sigma
    entropy = 0.5 * jnp.linalg.slogdet(2 * jnp.pi * jnp.e * Sigma)[1]
    solution = SoftLQG(
        control,
        predicted,
        filtered,
        tilted,
        gains,
        K,
        k,
        Sigma,
        jnp.zeros((), A.dtype),
        entropy,
        system,
        observation,
        reward,
        alpha,
        gamma,
        method,
    )
    return eqx.tree_at(lambda s: s.expected_return, solution, _expected_return(solution, steps))


def _expected_return(solution: SoftLQG, steps) -> Float[Array, ""]:
    """E[sum_t gamma^t r_t + gamma^H v_H(x_H)] in closed loop: the joint Gaussian of
    z_t = (x_t, m_{t|t-1}) pushed through one step as a linear map of (z_t, v_t, eps_t, w_t)."""
    A, B = steps[0], steps[1]
    C = solution.observation.C
    n, m, p = A.shape[-1], B.shape[-1], C.shape[0]
    alpha, gamma = solution.temperature, solution.discount
    eye, dtype = jnp.eye(n, dtype=A.dtype), A.dtype

    def step(carry, inputs):
        mean, cov, total, weight = carry
        A_t, B_t, W_t, Q_t, R_t, N_t, qx_t, qu_t, G, S, K, k, Sigma = inputs
        zeros = lambda rows, cols: jnp.zeros((rows, cols), dtype)  # noqa: E731
        # columns: x (n), m_{t|t-1} (n), v (p), eps (m), w (n)
        x = jnp.concatenate([eye, zeros(n, n), zeros(n, p), zeros(n, m), zeros(n, n)], 1)
        m_t = jnp.concatenate([G @ C, eye - G @ C, G, zeros(n, m), zeros(n, n)], 1)
        u = K @ m_t + jnp.concatenate(
            [zeros(m, 2 * n + p), jnp.eye(m, dtype=dtype), zeros(m, n)], 1
        )
        noise = jax.scipy.linalg.block_diag(cov, solution.observation.V, Sigma, W_t)
        full_mean = jnp.concatenate([mean, jnp.zeros(p + m + n, dtype)])
        xu, xu_const = jnp.concatenate([x, u]), jnp.concatenate([jnp.zeros(n, dtype), k])
        xu_mean = xu @ full_mean + xu_const
        xu_cov = xu @ noise @ xu.T
        H = jnp.block([[Q_t, N_t], [N_t.T, R_t]])
        h = jnp.concatenate([qx_t, qu_t])
        reward = -(0.5 * (xu_mean @ H @ xu_mean + jnp.trace(H @ xu_cov)) + h @ xu_mean)
        w = jnp.concatenate([zeros(n, 2 * n + p + m), eye], 1)
        x_next = A_t @ x + B_t @ u + w
        if solution.method == "exact":
            undo = jnp.linalg.solve(eye + S @ Q_t / alpha, jnp.eye(n, dtype=dtype))
            tilted = undo @ (m_t - S @ N_t @ u / alpha)
            tilted_const = -undo @ S @ (N_t @ k + qx_t) / alpha
        else:
            tilted, tilted_const = m_t, jnp.zeros(n, dtype)
        m_next = A_t @ tilted + B_t @ u
        z = jnp.concatenate([x_next, m_next])
        z_const = jnp.concatenate([B_t @ k, A_t @ tilted_const + B_t @ k])
        new = (
            z @ full_mean + z_const,
            _sym(z @ noise @ z.T),
            total + weight * reward,
            weight * gamma,
        )
        return new, None

    initial = solution.system.initial_mean
    mean = jnp.concatenate([initial, initial])
    cov = jax.scipy.linalg.block_diag(solution.system.initial_cov, jnp.zeros((n, n), dtype))
    sol = solution
    inputs = (*steps, sol.gains, sol.filtered_covariances, sol.K, sol.k, sol.Sigma)
    (mean, cov, total, weight), _ = jax.lax.scan(
        step, (mean, cov, jnp.zeros((), dtype), jnp.ones((), dtype)), inputs
    )
    P, p_H, c = sol.control.P[-1], sol.control.p[-1], sol.control.c[-1]
    x_mean, x_cov = mean[:n], cov[:n, :n]
    terminal = -(0.5 * (x_mean @ P @ x_mean + jnp.trace(P @ x_cov)) + p_H @ x_mean + c)
    return total + weight * terminal


class LQGRollouts(NamedTuple):
    """Closed-loop episodes of a `SoftLQG` policy (N episodes, H steps).

    Attributes:
        states: (N, H + 1, n); actions: (N, H, m); observations: (N, H, p) y_t;
        means: (N, H, n) the belief means m_t the actions were drawn from;
        rewards: (N, H) r(x_t, u_t); returns: (N,) sum_t gamma^t r_t + gamma^H v_H(x_H).
    """

    states: Float[Array, "N H1 n"]
    actions: Float[Array, "N H m"]
    observations: Float[Array, "N H p"]
    means: Float[Array, "N H n"]
    rewards: Float[Array, "N H"]
    returns: Float[Array, " N"]


def simulate_lqg(solution: SoftLQG, key, num: int) -> LQGRollouts:
    """Run the policy over beliefs in closed loop: sample x_0, then at each step observe y_t,
    update the belief mean (the method's filter), draw u_t ~ pi_t(. | b), move the state.

    Args:
        solution: a `SoftLQG`; key: a JAX PRNG key; num: N >= 1 episodes.
    """
    num = check_int("num", num, 1)
    return _simulate(solution, key, num)


@eqx.filter_jit
def _simulate(solution: SoftLQG, key, num: int) -> LQGRollouts:
    steps = _steps(solution.system, solution.reward, solution.horizon)
    C, V = solution.observation.C, solution.observation.V
    system = solution.system
    keys = jax.random.split(key, 4)

    def draw(key, cov, shape):
        return jax.random.normal(key, (*shape, cov.shape[-1]), cov.dtype) @ _psd_sqrt(cov).T

    x0 = system.initial_mean[None] + draw(keys[0], system.initial_cov, (num,))

    def step(carry, inputs):
        x, predicted, key = carry
        t, A_t, B_t, W_t, Q_t, R_t, N_t, qx_t, qu_t = inputs
        key, k_v, k_u, k_w = jax.random.split(key, 4)
        y = x @ C.T + draw(k_v, V, (num,))
        mean = predicted + (y - predicted @ C.T) @ solution.gains[t].T
        u = mean @ solution.K[t].T + solution.k[t][None] + draw(k_u, solution.Sigma[t], (num,))
        r = -(
            0.5 * jnp.einsum("bi,ij,bj->b", x, Q_t, x)
            + 0.5 * jnp.einsum("bi,ij,bj->b", u, R_t, u)
            + jnp.einsum("bi,ij,bj->b", x, N_t, u)
            + x @ qx_t
            + u @ qu_t
        )
        tilted = jax.vmap(lambda m, a: _tilt(solution, steps, t, m, a))(mean, u)
        x_next = x @ A_t.T + u @ B_t.T + draw(k_w, W_t, (num,))
        return (x_next, tilted @ A_t.T + u @ B_t.T, key), (x, u, y, mean, r)

    times = jnp.arange(solution.horizon)
    start = (x0, jnp.broadcast_to(system.initial_mean, x0.shape), keys[1])
    (x_last, _, _), (xs, us, ys, means, rs) = jax.lax.scan(step, start, (times, *steps))
    control = solution.control
    terminal = -(
        0.5 * jnp.einsum("bi,ij,bj->b", x_last, control.P[-1], x_last)
        + x_last @ control.p[-1]
        + control.c[-1]
    )
    weights = solution.discount ** jnp.arange(solution.horizon + 1, dtype=x0.dtype)
    returns = rs.T @ weights[:-1] + weights[-1] * terminal
    states = jnp.concatenate([jnp.swapaxes(xs, 0, 1), x_last[:, None]], axis=1)
    swap = lambda a: jnp.swapaxes(a, 0, 1)  # noqa: E731  (H, N, ...) -> (N, H, ...)
    return LQGRollouts(states, swap(us), swap(ys), swap(means), rs.T, returns)


def soft_lqg_infinite(
    system: LinearGaussianSystem,
    observation: LinearGaussianObservation,
    reward: QuadraticReward,
    temperature=1.0,
    discount=1.0,
    tol: float = 1e-12,
    max_iterations: int = 100_000,
) -> StationarySoftLQG:
    """The stationary (variational) soft LQG: `cai.lqr.soft_lqr_infinite`'s policy on the mean
    of the stationary Kalman filter, whose Riccati equation is iterated by the engine's
    `fixed_point` from W until the estimated error is at most tol (1 + max|Sigma|).

    It converges for a detectable (A, C) and stabilisable (A, W^1/2); the exact method is not
    offered over an infinite horizon (its tilted filter needs the policy's actions).

    Returns:
        `StationarySoftLQG`; a `cai.ConvergenceWarning` when either Riccati iteration did not
        converge (`converged` False).
    """
    if system.A.ndim == 3 or system.W.ndim == 3:
        raise ValueError("soft_lqg_infinite needs a time-invariant system.")
    if observation.C.shape[1] != system.state_dim:
        raise ValueError(
            f"observation.C must have n = {system.state_dim} columns, got {observation.C.shape}."
        )
    control = soft_lqr_infinite(
        system, reward, temperature, "variational", discount, tol, max_iterations
    )
    result = _stationary_filter(
        system.A, system.W, observation.C, observation.V, tol, max_iterations
    )
    if is_concrete(result.converged) and not bool(result.converged):
        warn_unconverged(
            result,
            "soft_lqg_infinite",
            "The filter's Riccati iteration did not settle: check that (A, C) is detectable, or "
            "raise max_iterations.",
        )
    predicted = result.solution
    gain = _gain(predicted, observation.C, observation.V)
    filtered = _joseph(predicted, gain, observation.C, observation.V)
    return StationarySoftLQG(
        control, predicted, filtered, gain, result.converged, result.iterations, result.error
    )


@eqx.filter_jit
def _stationary_filter(A, W, C, V, tol, max_iterations) -> SolverResult:
    def riccati(predicted):
        filtered = _joseph(predicted, _gain(predicted, C, V), C, V)
        return _sym(A @ filtered @ A.T + W)

    return fixed_point(riccati, W, tol=tol, max_iterations=max_iterations)


# ------------------------------------------------------------------------------------- helpers


def _sym(M):
    return 0.5 * (M + jnp.swapaxes(M, -1, -2))


def _gain(predicted, C, V):
    """G = Sigma C' (C Sigma C' + V)^{-1}, by a solve with the symmetric innovation covariance."""
    return jnp.linalg.solve(C @ predicted @ C.T + V, C @ predicted).T


def _joseph(predicted, gain, C, V):
    """(I - G C) Sigma (I - G C)' + G V G': symmetric and PSD in floating point."""
    reduce = jnp.eye(predicted.shape[-1], dtype=predicted.dtype) - gain @ C
    return _sym(reduce @ predicted @ reduce.T + gain @ V @ gain.T)


def _update(predicted_mean, gain, C, observation):
    return predicted_mean + gain @ (
        jnp.asarray(observation, predicted_mean.dtype) - C @ predicted_mean
    )


def _tilt(solution: SoftLQG, steps, t, mean, action):
    """m~_t: the exact method's mean after the factor exp(r(x_t, u_t) / alpha); m_t otherwise."""
    if solution.method != "exact":
        return mean
    Q_t, N_t, qx_t = steps[3][t], steps[5][t], steps[6][t]
    S = solution.filtered_covariances[t]
    eye = jnp.eye(S.shape[-1], dtype=S.dtype)
    return jnp.linalg.solve(
        eye + S @ Q_t / solution.temperature,
        mean - S @ (N_t @ action + qx_t) / solution.temperature,
    )


def _psd_sqrt(cov):
    """L with L L' = cov for a symmetric PSD cov (eigenvalues below zero by rounding: zero)."""
    values, vectors = jnp.linalg.eigh(cov)
    return vectors * jnp.sqrt(jnp.maximum(values, 0))[None, :]


def _steps(system: LinearGaussianSystem, reward: QuadraticReward, horizon: int):
    """(A, B, W, Q, R, N, q_x, q_u), each an (H, ...) stack."""
    return (*system.steps(horizon), *reward.steps(horizon))
