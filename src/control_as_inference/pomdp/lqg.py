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
the mean (max-ent certainty equivalence):
pi_t(u | b) = N(K_t m_t + k_t, alpha (R + gamma B'P_{t+1}B)^-1).

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

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._core import check_int, is_concrete
from ..engine import Setting, warn_unconverged
from ..lqr import (
    LinearGaussianSystem,
    QuadraticReward,
    SoftLQRSolution,
    StationarySoftLQR,
    soft_lqr,
    soft_lqr_infinite,
)
from .closed_loop import expected_return, model_step, model_steps, tilted_mean
from .kalman import (
    LinearGaussianObservation,
    exact_belief_policy,
    joseph,
    kalman_gain,
    stationary_filter,
    symmetric,
    tilted_covariance,
    update_mean,
)
from .model import check_step


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
        """(mean, covariance) of pi_t(u | b) for the belief mean m_t (n,), t in [0, H)."""
        t = check_step(t, self.horizon)
        return self.K[t] @ mean + self.k[t], self.Sigma[t]

    def first_mean(self, observation) -> Float[Array, " n"]:
        """m_0 from y_0 (p,)."""
        return update_mean(self.system.initial_mean, self.gains[0], self.observation.C, observation)

    def next_mean(self, t: int, mean, action, observation) -> Float[Array, " n"]:
        """m_{t+1} from m_t, the action u_t taken and y_{t+1} (t + 1 < H)."""
        t = check_step(t, self.horizon - 1)
        A_t, B_t, _, Q_t, _, N_t, qx_t, _ = model_step(self.system, self.reward, t)
        after = tilted_mean(self, t, Q_t, N_t, qx_t, mean, action)
        predicted = A_t @ after + B_t @ action
        return update_mean(predicted, self.gains[t + 1], self.observation.C, observation)


class StationarySoftLQG(eqx.Module):
    """The infinite-horizon soft LQG: the stationary policy over the beliefs of the stationary
    filter (variational: soft LQR's on the Kalman filter's mean; exact: the tilted filter and
    the exact posterior over the action, as in `SoftLQG`).

    Attributes:
        control: `cai.lqr.StationarySoftLQR`, the fully observed solution of the same method.
        K: (m, n); k: (m,); Sigma: (m, m): pi(u | b) = N(K m + k, Sigma).
        predicted_covariance: (n, n) Sigma, the solution of the filter's Riccati equation
            Sigma = A S~ A' + W, S = Sigma - Sigma C'(C Sigma C' + V)^{-1} C Sigma.
        filtered_covariance: (n, n) S; tilted_covariance: (n, n) S~ (exact; S otherwise);
        gain: (n, p) G.
        converged, iterations, error: the filter's Riccati iteration (the engine's
            `fixed_point`; error estimates max|Sigma_k - Sigma| relative to 1 + max|Sigma_k|).
        method: "variational" or "exact".
    """

    control: StationarySoftLQR
    K: Float[Array, "m n"]
    k: Float[Array, " m"]
    Sigma: Float[Array, "m m"]
    predicted_covariance: Float[Array, "n n"]
    filtered_covariance: Float[Array, "n n"]
    tilted_covariance: Float[Array, "n n"]
    gain: Float[Array, "n p"]
    converged: Array
    iterations: Array
    error: Array
    method: str = eqx.field(static=True)


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
    setting = Setting(temperature, discount, horizon, method, dtype=system.A.dtype)
    return _solve(system, observation, reward, control, setting)


@eqx.filter_jit
def _solve(system, observation, reward, control, setting: Setting) -> SoftLQG:
    steps = model_steps(system, reward, setting.horizon)
    A, W, Q = steps[0], steps[2], steps[3]
    C, V = observation.C, observation.V
    alpha, exact = setting.temperature, setting.exact

    def covariances(predicted, step):
        A_t, W_t, Q_t = step
        gain = kalman_gain(predicted, C, V)
        filtered = joseph(predicted, gain, C, V)
        after = tilted_covariance(filtered, Q_t / alpha if exact else None)  # S~_t
        return symmetric(A_t @ after @ A_t.T + W_t), (predicted, filtered, after, gain)

    last, (predicted, filtered, after, gains) = jax.lax.scan(
        covariances, system.initial_cov, (A, W, Q)
    )
    predicted = jnp.concatenate([predicted, last[None]])
    if exact:  # the action's posterior integrates the belief against the exact soft Q
        policy = jax.vmap(exact_belief_policy, in_axes=(0, 0, 0, 0, 0, 0, None))
        K, k, Sigma = policy(
            control.K, control.k, control.Sigma, control.P[:-1], control.p[:-1], filtered, alpha
        )
    else:
        K, k, Sigma = control.K, control.k, control.Sigma
    entropy = 0.5 * jnp.linalg.slogdet(2 * jnp.pi * jnp.e * Sigma)[1]
    solution = SoftLQG(
        control,
        predicted,
        filtered,
        after,
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
        setting.discount,
        setting.method,
    )
    return eqx.tree_at(lambda s: s.expected_return, solution, expected_return(solution, steps))


def soft_lqg_infinite(
    system: LinearGaussianSystem,
    observation: LinearGaussianObservation,
    reward: QuadraticReward,
    temperature=1.0,
    method: str = "variational",
    discount=1.0,
    tol: float = 1e-12,
    max_iterations: int = 100_000,
) -> StationarySoftLQG:
    """The stationary soft LQG: `cai.lqr.soft_lqr_infinite`'s solution of the same method, and
    the stationary filter (tilted by the optimality factors for the exact method), whose Riccati
    equation is iterated by the engine's `fixed_point` from W until the estimated error is at
    most tol (1 + max|Sigma|). It converges for a detectable (A, C) and stabilisable
    (A, W^1/2); the exact method needs discount 1, as `soft_lqr_infinite`'s.

    Returns:
        `StationarySoftLQG`; a `cai.ConvergenceWarning` when either Riccati iteration did not
        converge (`converged` False).
    """
    fields = (system.A, system.B, system.W, reward.Q, reward.R, reward.N)
    if any(x.ndim == 3 for x in fields) or reward.q_x.ndim == 2 or reward.q_u.ndim == 2:
        raise ValueError("soft_lqg_infinite needs a time-invariant system and reward.")
    if observation.C.shape[1] != system.state_dim:
        raise ValueError(
            f"observation.C must have n = {system.state_dim} columns, got {observation.C.shape}."
        )
    control = soft_lqr_infinite(system, reward, temperature, method, discount, tol, max_iterations)
    alpha = jnp.asarray(temperature, system.A.dtype)
    tilt = reward.Q / alpha if method == "exact" else None
    C, V = observation.C, observation.V
    result = stationary_filter(system.A, system.W, C, V, tilt, tol, max_iterations)
    if is_concrete(result.converged) and not bool(result.converged):
        warn_unconverged(
            result,
            "soft_lqg_infinite",
            "The filter's Riccati iteration did not settle: check that (A, C) is detectable, or "
            "raise max_iterations.",
        )
    predicted = result.solution
    gain = kalman_gain(predicted, C, V)
    filtered = joseph(predicted, gain, C, V)
    if method == "exact":
        K, k, Sigma = exact_belief_policy(
            control.K, control.k, control.Sigma, control.P, control.p, filtered, alpha
        )
    else:
        K, k, Sigma = control.K, control.k, control.Sigma
    return StationarySoftLQG(
        control, K, k, Sigma, predicted, filtered, tilted_covariance(filtered, tilt), gain,
        result.converged, result.iterations, result.error, method,
    )  # fmt: skip
