"""Exact inverse RL for linear-Gaussian systems: fit a quadratic reward to demonstrations by
maximising their exact log-likelihood under the soft-LQR (maximum-entropy, variational) policy.

Model (`lqr.soft_lqr`): known dynamics x' = A x + B u + w, w ~ N(0, W), and the reward

    r(x, u) = -(1/2 x'Qx + 1/2 u'Ru + x'Nu + q_x'x + q_u'u),

whose soft-optimal policy at temperature alpha is Gaussian, pi_t(u|x) = N(K_t x + k_t, Sigma_t),
with (K_t, k_t, Sigma_t) given by the Riccati recursion (Sigma_t = alpha H_uu^{-1}). The
demonstrations' log-likelihood is

    log p(tau) = log p(x_0) + sum_t [log N(u_t; K_t x_t + k_t, Sigma_t)
                                     + log N(x_{t+1}; A x_t + B u_t, W)],

and only the policy terms depend on the reward; `lqr_log_likelihood` is their mean per
demonstration. Finite horizon (horizon=H): t indexes the time-varying policy, every
demonstration starts at t = 0. Stationary (horizon=None): the fixed point of the Riccati
iteration (`soft_lqr_infinite`), every step uses the same policy.

Gradients (`jax.grad`, exact): finite horizon, through the reverse scan of `soft_lqr`.
Stationary: the fixed point (P*, p*) is found with the gradient stopped, and the policy is then
read off `unroll` Riccati backups started at (P*, p*): the values do not move (a fixed point),
and the reverse pass through them sums the implicit derivative's Neumann series
(I - dF/dP)^{-1} dF/dtheta up to the term rho^unroll, rho = gamma |eig(A + BK)|^2 < 1 the
contraction of the backup F; the default unroll = 200 makes that term negligible for closed loops
with rho < 0.85 (checked against finite differences of the converged fixed point in the tests).

Parameterisation (the reward stays concave in u, so the soft-LQR policy exists): R = L_R L_R'
with L_R lower triangular and a positive (exp) diagonal, Q = L_Q L_Q' (positive semi-definite,
the `QuadraticReward` contract); N, q_x, q_u free.

Normalisation of the unidentifiable directions:

* scale: the policy depends on r / alpha only, so the temperature is fixed (the `temperature`
  argument, default 1) and the reward's scale is fitted;
* constants: `QuadraticReward` has no constant term (a constant does not change the policy);
* shaping (stationary): a quadratic potential Phi(x) = -(1/2 x'Sx + s'x) changes
  (Q, R, N, q_x, q_u) by (gamma A'SA - S, gamma B'SB, gamma A'SB, gamma A's - s, gamma B's) and
  leaves the stationary policy unchanged (Ng, Harada and Russell 1999), so for horizon=None and
  one action the default fits (Q, R, q_x) with N = 0 and q_u = 0. With m >= 2 actions shaping
  moves N only by gamma A'SB, which cannot cancel an N with N' A^-1 B not symmetric (nm
  equations, n(n+1)/2 unknowns S): N = 0 would lose the true policy (a test: 0.5 nats per
  demonstration below the true reward's likelihood and a 21% gain error, against 2% with N), so
  the default fits N too, (Q, R, N, q_x); the shaping directions left are flat, which L-BFGS
  tolerates. Pass `fit` to choose. Even so a reward is only identified as far as the policy is:
  compare policies (K, k, Sigma), not matrices.

Identifiability of the policy needs at least n + m + 1 demonstrated steps (state-action pairs)
whose states, with a constant, span n + 1 dimensions (the regression of u on (x, 1) and an
(m, m) residual covariance); `lqr_irl` says when there are fewer.
"""

from __future__ import annotations

import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._core import check_int, check_positive
from ..engine import ConvergenceWarning
from ..lqr import LinearGaussianSystem, QuadraticReward, soft_lqr, soft_lqr_infinite
from .demonstrations import check_trajectories
from .result import IRLResult

FIELDS = ("Q", "R", "N", "q_x", "q_u")
_LBFGS = optax.lbfgs(linesearch=optax.scale_by_backtracking_linesearch(max_backtracking_steps=30))


def lqr_reward(params: dict, fixed: QuadraticReward) -> QuadraticReward:
    """The `QuadraticReward` of unconstrained params: "Q" (n, n) and "R" (m, m) lower-triangular
    factors (R's diagonal through exp), "N" (n, m), "q_x" (n,), "q_u" (m,); a field missing from
    params is taken from `fixed`."""
    fields = {name: getattr(fixed, name) for name in FIELDS}
    if "Q" in params:
        L = jnp.tril(params["Q"])
        fields["Q"] = L @ L.T
    if "R" in params:
        L = jnp.tril(params["R"], -1) + jnp.diag(jnp.exp(jnp.diag(params["R"])))
        fields["R"] = L @ L.T
    for name in ("N", "q_x", "q_u"):
        if name in params:
            fields[name] = params[name]
    return QuadraticReward(**fields)


def lqr_log_likelihood(
    reward: QuadraticReward,
    system: LinearGaussianSystem,
    states,
    actions,
    horizon=None,
    temperature=1.0,
    discount=1.0,
    unroll: int = 200,
    lengths=None,
):
    """The demonstrations' mean log-likelihood per demonstration under the soft-LQR policy,
    1/N sum_i sum_{t < T_i} log N(u^i_t; K_t x^i_t + k_t, Sigma_t) (module docstring): states
    (N, T+1, n), actions (N, T, m), padded beyond lengths (N,) T_i (default T; padding must be
    finite); horizon H >= T (finite, variational `soft_lqr`) or None (stationary).
    Differentiable in `reward` (module docstring for how)."""
    K, k, Sigma = _policy(reward, system, horizon, temperature, discount, unroll, actions.shape[1])
    x, u = states[:, :-1], actions
    mean = jnp.einsum("tmn,itn->itm", K, x) + k[None]
    chol = jnp.linalg.cholesky(Sigma)  # (T, m, m)
    resid = u - mean
    z = jax.vmap(
        lambda L, r: jax.scipy.linalg.solve_triangular(L, r.T, lower=True).T,
        in_axes=(0, 1),
        out_axes=1,
    )(chol, resid)
    m = actions.shape[-1]
    logdet = 2 * jnp.sum(jnp.log(jnp.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)  # (T,)
    per_step = -0.5 * (jnp.sum(z**2, axis=-1) + logdet[None] + m * jnp.log(2 * jnp.pi))
    if lengths is not None:
        per_step = jnp.where(jnp.arange(actions.shape[1])[None] < lengths[:, None], per_step, 0)
    return jnp.sum(per_step) / actions.shape[0]


def _policy(reward, system, horizon, temperature, discount, unroll, length):
    """(K (T, m, n), k (T, m), Sigma (T, m, m)) of the first T = length steps."""
    if horizon is not None:
        sol = soft_lqr(system, reward, horizon, temperature, "variational", discount)
        return sol.K[:length], sol.k[:length], sol.Sigma[:length]
    frozen = jax.tree_util.tree_map(jax.lax.stop_gradient, reward)
    star = soft_lqr_infinite(system, frozen, temperature, "variational", discount)
    dtype = system.A.dtype
    terminal = (star.P, star.p, jnp.zeros((), dtype))
    sol = soft_lqr(system, reward, unroll, temperature, "variational", discount, terminal)
    shape = (length, *sol.K.shape[1:])
    return (
        jnp.broadcast_to(sol.K[0], shape),
        jnp.broadcast_to(sol.k[0], (length, sol.k.shape[1])),
        jnp.broadcast_to(sol.Sigma[0], (length, *sol.Sigma.shape[1:])),
    )


def lqr_irl(
    system: LinearGaussianSystem,
    states,
    actions,
    *,
    horizon=None,
    temperature=1.0,
    discount=1.0,
    fit=None,
    init: QuadraticReward | None = None,
    max_iterations: int = 300,
    tol: float | None = None,
    unroll: int = 200,
    lengths=None,
) -> IRLResult:
    """Fit a `QuadraticReward` to demonstrations by maximum likelihood (module docstring).

    Args:
        system: the known dynamics (time-invariant for horizon=None).
        states: (N, T+1, n) demonstrated states; actions: (N, T, m) demonstrated actions.
        horizon: H >= T for the finite horizon (every demonstration starts at t = 0), or None
            for the stationary policy (needs discount < 1 or a stabilisable system).
        temperature: alpha > 0, fixed (the normalisation of the reward's scale).
        discount: gamma in (0, 1].
        fit: the fields to fit, a subset of ("Q", "R", "N", "q_x", "q_u"); the others stay at
            `init`'s values (zero by default). Default: all five for a finite horizon;
            for horizon=None ("Q", "R", "q_x") with one action and ("Q", "R", "N", "q_x")
            with two or more (the shaping normalisation, module docstring).
        init: the starting reward; default Q = I, N = 0, q = 0 and R from the demonstrated
            actions' spread, R = alpha Cov(u)^{-1}.
        max_iterations: cap on L-BFGS iterations.
        tol: stop when max |gradient| of the mean log-likelihood per demonstrated step over the
            free parameters is below tol; default 1e-6 (float64) or 1e-3 (float32).
        unroll: stationary only: Riccati backups differentiated through (module docstring).
        lengths: (N,) actions T_i of each demonstration (ragged demonstrations padded to T);
            default T for every one.

    Returns:
        `IRLResult` with method "lqr": reward_model the fitted `QuadraticReward`, solution its
        `SoftLQRSolution` (finite) or `StationarySoftLQR`, objective = log_likelihood the mean
        log-likelihood per demonstration at each iteration, optimality max |gradient|. Warns
        `ConvergenceWarning` (converged=False) when tol is not reached.

    Raises:
        ValueError: naming the argument, for shapes that do not match the system, non-finite
            demonstrations, too few demonstrated steps (or states that do not span the state
            space) to identify the policy, or unknown fields.
    """
    states, actions, lengths, dtype = _check_demos(system, states, actions, horizon, lengths)
    temperature = check_positive("temperature", temperature)
    max_iterations = check_int("max_iterations", max_iterations, 1)
    unroll = check_int("unroll", unroll, 1)
    fit = _check_fields(fit, horizon, system)
    if tol is None:
        tol = 1e-6 if dtype == jnp.float64 else 1e-3
    tol = check_positive("tol", tol)
    valid = np.arange(actions.shape[1])[None] < np.asarray(lengths)[:, None]
    init = _initial(system, np.asarray(actions)[valid], temperature) if init is None else init
    counts = (int(jnp.sum(lengths)), actions.shape[0])  # demonstrated steps, demonstrations

    def loss(p):
        reward = lqr_reward(p, init)
        ll = lqr_log_likelihood(
            reward, system, states, actions, horizon, temperature, discount, unroll, lengths
        )
        return -ll * counts[1] / counts[0]

    params, history = _maximise(loss, _factor(init, fit), max_iterations, tol, counts)
    reward = lqr_reward(params, init)
    if horizon is None:
        solution = soft_lqr_infinite(system, reward, temperature, "variational", discount)
    else:
        solution = soft_lqr(system, reward, horizon, temperature, "variational", discount)
    return _lqr_result(reward, solution, history, tol)


def _check_fields(fit, horizon, system):
    """The fields to fit (default by horizon), checked (ValueError naming fit or horizon)."""
    if fit is None:
        fit = FIELDS if horizon is not None else _stationary_fit(system.B.shape[-1])
    if not fit or any(f not in FIELDS for f in fit):
        raise ValueError(f"fit must be a non-empty subset of {FIELDS}, got {fit!r}.")
    if horizon is None and (system.A.ndim == 3 or system.B.ndim == 3 or system.W.ndim == 3):
        raise ValueError("horizon=None (stationary) needs a time-invariant system.")
    return fit


def _maximise(loss, params, max_iterations: int, tol: float, counts):
    """L-BFGS on loss (minus the mean log-likelihood per demonstrated step) until max
    |gradient| < tol: (params, (values, optimality, converged)), values the mean
    log-likelihood per demonstration (counts = (steps, demonstrations)) at each iteration's
    incoming params; the params returned are those the last value describes."""

    @jax.jit
    def step(p, opt_state):
        value, grad = jax.value_and_grad(loss)(p)
        updates, opt_state = _LBFGS.update(
            grad, opt_state, p, value=value, grad=grad, value_fn=loss
        )
        optimality = jnp.max(jnp.stack([jnp.max(jnp.abs(g)) for g in jax.tree.leaves(grad)]))
        return optax.apply_updates(p, updates), opt_state, value, optimality

    with jax.numpy_dtype_promotion("standard"):
        opt_state = _LBFGS.init(params)
    values, optimality, converged = [], [], False
    for i in range(max_iterations):
        with jax.numpy_dtype_promotion("standard"):
            new_params, new_state, value, opt = step(params, opt_state)
        values.append(-float(value) * counts[0] / counts[1])
        optimality.append(float(opt))
        if not np.isfinite(values[-1]):
            raise FloatingPointError(
                "lqr_irl: the log-likelihood became non-finite; check that the system is "
                "stabilisable (horizon=None) or pass a closer init."
            )
        if optimality[-1] < tol:
            converged = True
            break
        if i + 1 < max_iterations:
            params, opt_state = new_params, new_state
    return params, (values, optimality, converged)


def _lqr_result(reward, solution, history, tol: float) -> IRLResult:
    """The `IRLResult` of the fitted reward, warning (ConvergenceWarning) when tol was not
    reached."""
    values, optimality, converged = history
    if not converged:
        warnings.warn(
            f"lqr_irl did not converge in {len(values)} iterations: max |gradient| "
            f"{optimality[-1]:.3g} > tol = {tol:.3g} (log-likelihood per demonstration "
            f"{values[-1]:.6g}). Raise max_iterations, loosen tol, or use float64.",
            ConvergenceWarning,
            stacklevel=3,
        )
    curve = np.asarray(values)
    return IRLResult(
        reward_model=reward,
        solution=solution,
        objective=curve,
        log_likelihood=curve.copy(),
        optimality=np.asarray(optimality),
        converged=converged,
        iterations=len(values),
        tol=tol,
        method="lqr",
    )


def _check_demos(system, states, actions, horizon, lengths):
    if not isinstance(system, LinearGaussianSystem):
        raise ValueError(f"system must be a LinearGaussianSystem, got {type(system).__name__}.")
    n, m = system.state_dim, system.action_dim
    dtype = system.A.dtype
    states, actions, lengths = check_trajectories(states, actions, lengths, n, m, "system")
    length = actions.shape[1]
    valid = np.arange(length)[None] < lengths[:, None]  # (N, T)
    states = np.where(np.concatenate([valid[:, :1], valid], 1)[..., None], states, 0.0)
    actions = np.where(valid[..., None], actions, 0.0)  # padding: zeros
    for name, x in (("states", states), ("actions", actions)):
        if not np.all(np.isfinite(x)):
            raise ValueError(f"{name} contains NaN or inf; drop or repair those demonstrations.")
    if horizon is not None:
        horizon = check_int("horizon", horizon, 1)
        if length > horizon:
            raise ValueError(
                f"horizon: the demonstrations have T = {length} actions, more than horizon = "
                f"{horizon}; pass horizon >= T or horizon=None (stationary)."
            )
    need = n + m + 1
    if lengths.sum() < need:
        raise ValueError(
            f"too few demonstrations: {lengths.sum()} demonstrated steps (state-action pairs), but "
            f"identifying the policy (gain (m, n), offset (m,), covariance (m, m)) needs at least "
            f"n + m + 1 = {need} state-action pairs."
        )
    design = np.concatenate([states[:, :-1][valid], np.ones((lengths.sum(), 1))], axis=1)
    rank = np.linalg.matrix_rank(design)
    if rank < n + 1:
        raise ValueError(
            f"too few demonstrations: the demonstrated states (with a constant) span only {rank} "
            f"of n + 1 = {n + 1} dimensions, so the gain is not identified; add demonstrations "
            "from other start states."
        )
    arrays = jnp.asarray(states, dtype), jnp.asarray(actions, dtype), jnp.asarray(lengths)
    return (*arrays, dtype)


def _initial(system, actions, temperature) -> QuadraticReward:
    n, m = system.state_dim, system.action_dim
    dtype = system.A.dtype
    u = np.asarray(actions, np.float64).reshape(-1, m)  # (steps, m)
    cov = np.cov(u.T).reshape(m, m) + 1e-6 * np.eye(m)
    R = temperature * np.linalg.inv(cov)
    return QuadraticReward(jnp.eye(n, dtype=dtype), jnp.asarray(0.5 * (R + R.T), dtype))


def _stationary_fit(num_actions: int) -> tuple[str, ...]:
    """The default fields of a stationary fit: N too from two actions on (module docstring)."""
    return ("Q", "R", "q_x") if num_actions == 1 else ("Q", "R", "N", "q_x")


def _factor(reward: QuadraticReward, fit) -> dict[str, Any]:
    """Unconstrained params of `reward`'s fields in `fit` (inverse of `lqr_reward`)."""
    params: dict[str, Any] = {}
    if "Q" in fit:
        n = reward.Q.shape[-1]
        Q = reward.Q + 1e-9 * jnp.eye(n, dtype=reward.Q.dtype)  # a PSD Q may be singular
        params["Q"] = jnp.linalg.cholesky(Q)
    if "R" in fit:
        L = jnp.linalg.cholesky(reward.R)
        params["R"] = jnp.tril(L, -1) + jnp.diag(jnp.log(jnp.diag(L)))
    for name in ("N", "q_x", "q_u"):
        if name in fit:
            params[name] = getattr(reward, name)
    return params


__all__ = ["lqr_irl", "lqr_log_likelihood", "lqr_reward"]
