"""Soft iLQR: control as inference for nonlinear dynamics by iterated soft LQR.

Around a nominal trajectory (x_t, u_t) the dynamics are linearised and the reward quadratised
(`jax.jacfwd`, `jax.hessian`); the soft-LQR subproblem on the deviations gives a time-varying
Gaussian policy N(u_t + k_t + K_t (x - x_t), Sigma_t); a line search on the step along k_t keeps
the iterate only if the return of the mean policy improves (Li & Todorov 2004, iLQR; Levine &
Koltun 2013, "Guided Policy Search", for its maximum-entropy form). The reward's Hessian is
projected onto the negative semi-definite cone (costs must be convex for LQR) and a
Levenberg-Marquardt term `regularization * I` is added to the action cost, grown when no step
improves.

The subproblem is the variational one: the mean policy is ordinary iLQR's at every temperature
(the temperature only sets Sigma_t = temperature * H_uu^{-1}), and the line search maximises the
return of the mean trajectory, which is that mean's objective. (An exact, optimistic soft iLQR
would need its line search to maximise the optimistic objective instead; it is not offered.)
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from .._core import check_int
from ..engine import ConvergenceWarning, Setting
from .model import BackupSpec, CostToGo, StepMatrices
from .riccati import backward_pass


class SoftILQRResult(eqx.Module):
    """A time-varying Gaussian policy around a nominal trajectory.

    The policy at step t: u ~ N(actions[t] + K[t] (x - states[t]), Sigma[t]).

    Every field is an array leaf, so results of the same problem size (H, n, m and
    max_iterations) share one tree structure and shapes: `jax.tree.map` combines them and
    `jnp.stack` stacks them.

    Attributes:
        states: (H+1, n) and actions: (H, m), the nominal (mean) trajectory.
        K: (H, m, n); Sigma: (H, m, m).
        total_reward: () the nominal trajectory's return.
        history: (max_iterations + 1,) the return after each iteration (the first: the initial
            guess); entries after `iterations` repeat the final return.
        iterations: () number of iterations done; converged: () whether the last improvement
            was below tol (or no step improves: a local optimum); seconds: () wall time.
    """

    states: Float[Array, "H1 n"]
    actions: Float[Array, "H m"]
    K: Float[Array, "H m n"]
    Sigma: Float[Array, "H m m"]
    total_reward: Float[Array, ""]
    history: Float[Array, " I"]
    iterations: Int[Array, ""]
    converged: Bool[Array, ""]
    seconds: Float[Array, ""]

    def mean_action(self, t: int, x):
        """The policy's mean at step t in state x."""
        return self.actions[t] + self.K[t] @ (x - self.states[t])


def rollout(dynamics, reward, x0, actions):
    """States (H+1, n) and the return of an open-loop action sequence."""

    def step(x, u):
        return dynamics(x, u), (x, reward(x, u))

    last, (xs, rewards) = jax.lax.scan(step, x0, actions)
    return jnp.concatenate([xs, last[None]]), jnp.sum(rewards)


def _concave_part(hessian):
    """The nearest negative semi-definite matrix (eigenvalues clipped at 0)."""
    values, vectors = jnp.linalg.eigh(0.5 * (hessian + hessian.T))
    return (vectors * jnp.minimum(values, 0)[None, :]) @ vectors.T


class ILQRProblem(eqx.Module):
    """What every soft-iLQR iteration reads besides the nominal trajectory: the model
    (static: hashable JAX functions) and the fixed arrays.

    Attributes:
        dynamics: (x, u) -> x'; reward: (x, u) -> (); terminal_reward: x -> () or None.
        x0: (n,) start state; temperature: () alpha; noise: (n, n) dynamics noise covariance W.
    """

    dynamics: Callable = eqx.field(static=True)
    reward: Callable = eqx.field(static=True)
    terminal_reward: Callable | None = eqx.field(static=True)
    x0: Array
    temperature: Array
    noise: Array


@jax.jit
def _iteration(problem: ILQRProblem, states, actions, reg):
    """One soft-LQR subproblem around (states, actions) and a line search.

    Returns the candidate (states, actions, return) for every step size, and K, Sigma.
    """
    dynamics, reward, terminal_reward = problem.dynamics, problem.reward, problem.terminal_reward
    x0, temperature, noise = problem.x0, problem.temperature, problem.noise
    n, m = states.shape[1], actions.shape[1]
    xs, us = states[:-1], actions
    A = jax.vmap(jax.jacfwd(dynamics, argnums=0))(xs, us)
    B = jax.vmap(jax.jacfwd(dynamics, argnums=1))(xs, us)

    def joint(z):
        return reward(z[:n], z[n:])

    z = jnp.concatenate([xs, us], axis=1)
    grad = jax.vmap(jax.grad(joint))(z)
    hess = jax.vmap(lambda z: _concave_part(jax.hessian(joint)(z)))(z)
    Q, R, N = -hess[:, :n, :n], -hess[:, n:, n:], -hess[:, :n, n:]
    R = R + reg * jnp.eye(m, dtype=R.dtype)[None]
    q_x, q_u = -grad[:, :n], -grad[:, n:]
    W = jnp.broadcast_to(noise, (us.shape[0], n, n))
    x_h = states[-1]
    if terminal_reward is None:
        P_H, p_H = jnp.zeros((n, n), x0.dtype), jnp.zeros(n, x0.dtype)
    else:
        P_H = -_concave_part(jax.hessian(terminal_reward)(x_h))
        p_H = -jax.grad(terminal_reward)(x_h)
    terminal = CostToGo(P_H, p_H, jnp.zeros((), x0.dtype))
    steps = StepMatrices(A, B, W, Q, R, N, q_x, q_u)
    spec = BackupSpec(temperature, jnp.ones((), x0.dtype), exact=False)
    zero = jnp.zeros(n, x0.dtype)
    sol, _ = backward_pass(steps, zero, jnp.zeros((n, n), x0.dtype), spec, terminal)

    def closed_loop(step_size):
        def step(x, inputs):
            x_bar, u_bar, K, k = inputs
            u = u_bar + step_size * k + K @ (x - x_bar)
            return dynamics(x, u), (x, u, reward(x, u))

        last, (new_xs, new_us, rewards) = jax.lax.scan(step, x0, (xs, us, sol.K, sol.k))
        total = jnp.sum(rewards)
        if terminal_reward is not None:
            total = total + terminal_reward(last)
        return jnp.concatenate([new_xs, last[None]]), new_us, total

    step_sizes = 0.5 ** jnp.arange(10, dtype=x0.dtype)
    candidates = jax.vmap(closed_loop)(step_sizes)
    return candidates, sol.K, sol.Sigma


def soft_ilqr(
    dynamics,
    reward,
    x0,
    horizon,
    temperature=1.0,
    *,
    noise=None,
    initial_actions=None,
    action_dim: int | None = None,
    terminal_reward=None,
    max_iterations: int = 100,
    tol: float = 1e-7,
    regularization: float = 1e-6,
) -> SoftILQRResult:
    """Soft iLQR for nonlinear JAX dynamics and rewards (see the module docstring).

    Args:
        dynamics: (x (n,), u (m,)) -> x' (n,), a JAX function (its mean, for noisy systems).
        reward: (x, u) -> scalar, a JAX function (twice differentiable almost everywhere).
        x0: (n,) start state.
        horizon: H >= 1.
        temperature: alpha > 0.
        noise: (n, n) dynamics noise covariance W (zeros if None; it shifts only the constant of
            the variational values).
        initial_actions: (H, m) first guess; zeros of width action_dim if None (give a nudge
            where zero is a saddle, e.g. a pendulum hanging still).
        action_dim: m, needed only without initial_actions.
        terminal_reward: optional x -> scalar.
        max_iterations, tol: stop when the relative improvement of the return is below tol.
        regularization: initial Levenberg-Marquardt term on the action cost.

    Returns:
        A `SoftILQRResult`. When max_iterations run out before the improvement falls below tol a
        `cai.ConvergenceWarning` says by how much the return still rose.
    """
    horizon = check_int("horizon", horizon, 1)
    max_iterations = check_int("max_iterations", max_iterations, 1)
    problem = _problem(dynamics, reward, terminal_reward, x0, temperature, noise, horizon)
    actions = _initial_actions(initial_actions, action_dim, horizon, problem.x0.dtype)
    dtype = problem.x0.dtype
    start = time.perf_counter()
    states, total = rollout(dynamics, reward, problem.x0, actions)
    if terminal_reward is not None:
        total = total + terminal_reward(states[-1])
    history = [float(total)]
    search = _Search(states, actions, total, float(regularization))
    converged = False
    iterations = 0
    for iterations in range(1, max_iterations + 1):  # noqa: B007
        search, converged = _improve(problem, search, tol)
        history.append(float(search.total))
        if converged:
            break
    # the policy around the final nominal trajectory
    states, actions, total, reg = search
    (_, _, _), K, Sigma = _iteration(problem, states, actions, jnp.asarray(reg, dtype))
    seconds = time.perf_counter() - start
    if not converged:
        _warn_unconverged(history, iterations, tol)
    history += [history[-1]] * (max_iterations + 1 - len(history))
    return SoftILQRResult(
        states=states,
        actions=actions,
        K=K,
        Sigma=Sigma,
        total_reward=jnp.asarray(total),
        history=jnp.asarray(history, dtype),
        iterations=jnp.asarray(iterations),
        converged=jnp.asarray(converged),
        seconds=jnp.asarray(seconds, dtype),
    )


def _problem(dynamics, reward, terminal_reward, x0, temperature, noise, horizon) -> ILQRProblem:
    """The checked `ILQRProblem` (x0 a vector, temperature by the engine's `Setting`, W (n, n))."""
    x0 = jnp.asarray(x0)
    if x0.ndim != 1:
        raise ValueError(f"x0 must be a vector (n,), got shape {x0.shape}.")
    dtype = x0.dtype
    temperature = Setting(temperature, 1.0, horizon, "variational", dtype=dtype).temperature
    n = x0.shape[0]
    noise = jnp.zeros((n, n), dtype) if noise is None else jnp.asarray(noise, dtype)
    if noise.shape != (n, n):
        raise ValueError(f"noise must have shape (n, n) = ({n}, {n}), got {noise.shape}.")
    return ILQRProblem(dynamics, reward, terminal_reward, x0, temperature, noise)


def _initial_actions(initial_actions, action_dim, horizon: int, dtype) -> Array:
    """The first guess (H, m): initial_actions, or zeros of width action_dim."""
    if initial_actions is None:
        if action_dim is None:
            raise ValueError("give initial_actions (H, m) or action_dim = m.")
        action_dim = check_int("action_dim (without initial_actions)", action_dim, 1)
        initial_actions = jnp.zeros((horizon, action_dim), dtype)
    actions = jnp.asarray(initial_actions, dtype)
    if actions.ndim != 2 or actions.shape[0] != horizon:
        raise ValueError(f"initial_actions must have shape (H, m) = ({horizon}, m).")
    return actions


class _Search(NamedTuple):
    """The iterate: nominal states (H+1, n), actions (H, m), its return () and the
    Levenberg-Marquardt term (a Python float)."""

    states: Array
    actions: Array
    total: Array
    reg: float


def _improve(problem: ILQRProblem, search: _Search, tol: float) -> tuple[_Search, bool]:
    """One iteration: the best step of the line search if it improves the return (the
    regularisation then shrinks), else a larger regularisation; and whether to stop."""
    states, actions, total, reg = search
    dtype = problem.x0.dtype
    (cand_states, cand_actions, cand_totals), _, _ = _iteration(
        problem, states, actions, jnp.asarray(reg, dtype)
    )
    best = int(jnp.argmax(jnp.where(jnp.isfinite(cand_totals), cand_totals, -jnp.inf)))
    improvement = float(cand_totals[best]) - float(total)
    if improvement > 0:
        total = cand_totals[best]
        search = _Search(cand_states[best], cand_actions[best], total, max(reg / 10, 1e-9))
        return search, improvement <= tol * (1 + abs(float(total)))
    if -improvement <= 16 * float(jnp.finfo(dtype).eps) * (1 + abs(float(total))):
        # the best step returns the nominal return to rounding: a stationary point (an LQ
        # problem after its first iteration), not a failed step; raising the regularisation
        # here would only bias the final gains
        return search, True
    reg *= 10
    return search._replace(reg=reg), reg > 1e8  # no descent direction left: a local optimum


def _warn_unconverged(history: list[float], iterations: int, tol: float) -> None:
    recent = min(10, iterations)
    rise = (history[-1] - history[-1 - recent]) / recent
    warnings.warn(
        f"soft_ilqr did not converge in {iterations} iterations: the return still rose by "
        f"{rise:.3g} per iteration over the last {recent} (relative "
        f"{rise / (1 + abs(history[-1])):.3g}; tol = {tol:g}); raise max_iterations.",
        ConvergenceWarning,
        stacklevel=3,
    )
