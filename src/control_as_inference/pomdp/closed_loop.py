"""Soft LQG in closed loop: the expected return by propagating the joint Gaussian of the state
and the belief's mean (no sampling), and sampled episodes (`simulate_lqg`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._core import check_int
from ..lqr import LinearGaussianSystem, QuadraticReward
from .kalman import symmetric

if TYPE_CHECKING:
    from .lqg import SoftLQG


def expected_return(solution: SoftLQG, steps) -> Float[Array, ""]:
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
            symmetric(z @ noise @ z.T),
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
    steps = model_steps(solution.system, solution.reward, solution.horizon)
    C, V = solution.observation.C, solution.observation.V
    system = solution.system
    keys = jax.random.split(key, 4)

    def draw(key, cov, shape):
        return jax.random.normal(key, (*shape, cov.shape[-1]), cov.dtype) @ psd_sqrt(cov).T

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
        tilted = jax.vmap(lambda m, a: tilted_mean(solution, t, Q_t, N_t, qx_t, m, a))(mean, u)
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


def tilted_mean(solution: SoftLQG, t, Q_t, N_t, qx_t, mean, action):
    """m~_t: the exact method's mean after the factor exp(r(x_t, u_t) / alpha) (Q_t, N_t, q_x,t
    the reward's matrices at step t); m_t otherwise."""
    if solution.method != "exact":
        return mean
    S = solution.filtered_covariances[t]
    eye = jnp.eye(S.shape[-1], dtype=S.dtype)
    return jnp.linalg.solve(
        eye + S @ Q_t / solution.temperature,
        mean - S @ (N_t @ action + qx_t) / solution.temperature,
    )


def psd_sqrt(cov):
    """L with L L' = cov for a symmetric PSD cov (eigenvalues below zero by rounding: zero)."""
    values, vectors = jnp.linalg.eigh(cov)
    return vectors * jnp.sqrt(jnp.maximum(values, 0))[None, :]


def model_steps(system: LinearGaussianSystem, reward: QuadraticReward, horizon: int):
    """(A, B, W, Q, R, N, q_x, q_u), each an (H, ...) stack."""
    return (*system.steps(horizon), *reward.steps(horizon))


def model_step(system: LinearGaussianSystem, reward: QuadraticReward, t: int):
    """(A, B, W, Q, R, N, q_x, q_u) at step t, without building the (H, ...) stacks."""
    fields = (system.A, system.B, system.W, reward.Q, reward.R, reward.N, reward.q_x, reward.q_u)
    ranks = (2, 2, 2, 2, 2, 2, 1, 1)
    return tuple(x[t] if x.ndim > rank else x for x, rank in zip(fields, ranks, strict=True))
