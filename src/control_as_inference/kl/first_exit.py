"""First-exit KL control: the desirability as the solution of a linear system.

Todorov (2009), "Efficient computation of optimal actions" (PNAS), eq. 4: with interior states N,
terminal states T, G = diag(exp(-q_N)) and z_T = exp(-q_T),

    (I - G P_NN) z_N = G P_NT z_T,      v = -log z,      u*(s'|s) = p(s'|s) z(s') / (P z)(s).

I - G P_NN is a non-singular M-matrix when every interior state reaches T under p and q_N >= 0
(rho(G P_NN) < 1), so z_N > 0 and the Jacobi fixed point z_N <- G P_NN z_N + G P_NT z_T converges,
at rate rho(G P_NN): slowly when costs are small and exits rare (rho -> 1).

Scaling. z spans exp(-v): costs of 1e3 already underflow float64, and ratios z(s)/z(s') overflow
any fixed scale. The solvers therefore (1) run the Jacobi fixed point in log space,

    v_N <- q_N - log sum_s' p(s'|s) exp(-v(s'))        (exact per-row log-sum-exp; one "sweep")

until it moves by at most `warmup_tol` (a few sweeps when costs are large: it is Bellman-Ford
with soft minima), giving v0; and (2) solve for y = z exp(v0) = exp(v0 - v), the diagonally
scaled system (I - W_NN) y_N = W_NT 1 with W[s, s'] = p(s'|s) exp(v0(s) - q(s) - v0(s')). Since
v0 is one sweep from its predecessor, every row of W sums to at most about e^warmup_tol: no
overflow, and y is of order one wherever v0 is close to v. Then log z = -v0 + log y.

Certification. A 2-norm residual of the scaled system does not control its small entries (with
a loose warm-up y spans e^-(v - v0): on a 50x50 grid of small costs one solve was off by 3.7e-2
in log z with a residual of 1e-10). So each round around v bounds the error in log z itself:
with r = b - A y and A^-1 >= 0 (an M-matrix), |y* - y| <= A^-1 |r| =: e, found by one loose
solve (relative residual 1e-2; the estimate is doubled for it), and |log y* - log y| <= t / (1 -
t) with t = e / y. If that estimate exceeds tol (1 + max |log z|), the next round rescales
around v - log y (y is then close to 1 everywhere; entries whose own estimate t >= 1 are set to
the solve's resolution first: v moves there by -log of the Krylov tolerance, a long step when
the warm-up left v far too small; an overshoot is corrected by the next round, where y > 1) and
solves again, with a Krylov tolerance smaller by the factor
the last round fell short, up to `max_rounds`. `converged` means the estimate met the tolerance.

Methods for step (2):
    "iterative": BiCGSTAB on successor lists or dense p (`engine.bicgstab`). Why: the
        matrix is non-symmetric (no CG); BiCGSTAB keeps a fixed memory of a few vectors (GMRES
        grows a basis) and needs far fewer mat-vecs than Jacobi when rho(G P_NN) is near 1; each
        mat-vec is K gathers, the cost of a CSR mat-vec.
    "direct": a dense LU solve (jnp.linalg.solve), for small models (S up to a few thousand).
"""

from __future__ import annotations

import functools
import warnings
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from .._core import check_int, check_positive, is_concrete, log
from ..engine import ConvergenceWarning, bicgstab, fixed_point, sup_norm
from . import _kernels
from .model import LMDP, check_exits, log_passive

FIRST_EXIT_METHODS = ("iterative", "direct")
AUX_TOL = 1e-2
"""Relative residual of the loose solve A e = |r| behind the error estimate."""
FIRST = 0.01
"""The first round's Krylov tolerance is FIRST tol (measured at S = 1e5: one round instead of
two)."""
FLOOR = 100
"""Each round's Krylov tolerance stays above FLOOR machine epsilons."""
SAFETY = 2.0
"""Margin on the first-order error estimate t = e / y for the loose solve."""


class KLSolution(eqx.Module):
    """The solution of a KL-control problem, in log space.

    Attributes:
        log_z: (S,) log desirability log z = -v (finite horizon: (H+1, S), one row per time).
        log_policy: log u*(s'|s) in the layout of p: (S, S) dense or (S, K) over successor
            slots (finite horizon: (H, S, .)); at terminal states the passive law.
        converged: () whether the tolerance was reached (finite horizon: True).
        iterations: () Krylov, power or fixed-point iterations done.
        residual: () the final residual of the method (see each solver).
        matvecs: () linear mat-vecs (products with a matrix of p's sparsity) done.
        sweeps: () log-space backups done (each one mat-vec plus K exponentials per state).
        error: () the error estimate in log z: max over states of |log z - log z*| (see each
            solver); converged is error <= tol (1 + max |log z|) (finite horizon: 0).
    """

    log_z: Float[Array, "*T S"]
    log_policy: Float[Array, "*H S N"]
    converged: Bool[Array, ""]
    iterations: Int[Array, ""]
    residual: Float[Array, ""]
    matvecs: Int[Array, ""]
    sweeps: Int[Array, ""]
    error: Float[Array, ""]

    @property
    def z(self) -> Float[Array, "*T S"]:
        """The desirability exp(log_z) (may underflow to 0 where costs are large)."""
        return jnp.exp(self.log_z)

    @property
    def v(self) -> Float[Array, "*T S"]:
        """The optimal cost-to-go v = -log z."""
        return -self.log_z

    @property
    def policy(self) -> Float[Array, "*H S N"]:
        return jnp.exp(self.log_policy)


def check_tol(tol, dtype, default64: float, default32: float) -> float:
    if tol is None:
        return default64 if jnp.finfo(dtype).bits > 32 else default32
    return float(check_positive("tol", tol))


def warn_unconverged(sol: KLSolution, what: str, hint: str) -> None:
    if is_concrete(sol.converged) and not bool(sol.converged):
        warnings.warn(
            f"{what} did not converge in {int(sol.iterations)} iterations (error estimate "
            f"{float(sol.error):.3g} in log z, residual {float(sol.residual):.3g}); {hint}",
            ConvergenceWarning,
            stacklevel=3,
        )


def first_exit(
    lmdp: LMDP,
    method: str = "iterative",
    tol: float | None = None,
    max_iterations: int = 10_000,
    warmup_tol: float = 1.0,
    max_rounds: int = 16,
) -> KLSolution:
    """Solve the first-exit problem (I - G P_NN) z_N = G P_NT z_T (see the module docstring).

    Args:
        lmdp: the model, with at least one terminal state reachable from every interior state.
        method: "iterative" (BiCGSTAB on the scaled system; dense or successor lists) or
            "direct" (dense LU of the scaled system; successor lists are densified).
        tol: the certified tolerance: converged when the error estimate of log z (`error`,
            max over states of |log z - log z*|) is at most tol (1 + max |log z|); default
            1e-10 (float64) or 1e-5 (float32). The first round's Krylov solve stops at the
            relative residual 0.01 tol, later ones lower by the shortfall.
        max_iterations: cap on the log-space warm-up sweeps and on each Krylov solve.
        warmup_tol: the warm-up stops when max |v_k+1 - v_k| <= warmup_tol.
        max_rounds: cap on the rounds (solve around v, estimate the error, rescale around the
            new v); one round from a loose warm-up is not certified (module docstring).

    Returns:
        A `KLSolution` (log_z (S,), log_policy (S, S) or (S, K); error the estimate above,
        residual the last round's relative residual, iterations and matvecs summed over the
        rounds); a `ConvergenceWarning` when the tolerance was not reached (outside of jax
        transformations).
    """
    if method not in FIRST_EXIT_METHODS:
        raise ValueError(f"method must be one of {FIRST_EXIT_METHODS}, got {method!r}.")
    check_exits(lmdp)
    tol = check_tol(tol, lmdp.dtype, 1e-10, 1e-5)
    max_iterations = check_int("max_iterations", max_iterations, 1)
    max_rounds = check_int("max_rounds", max_rounds, 1)
    warmup_tol = float(check_positive("warmup_tol", warmup_tol))
    args = (jnp.asarray(tol, lmdp.dtype), jnp.asarray(warmup_tol, lmdp.dtype))
    sol = _first_exit(lmdp, *args, max_rounds, max_iterations, method)
    warn_unconverged(sol, "first_exit", "raise max_iterations or max_rounds, or loosen tol.")
    return sol


def _no_size(v):
    return jnp.zeros((), v.dtype)


def log_space_sweeps(lmdp: LMDP, v, tol, max_iterations):
    """Log-space Jacobi sweeps v_N <- q_N - log (P e^-v)_N from v until max |dv| <= tol
    (`engine.fixed_point` with rate 1/2 and no size term: its error is then the step itself);
    returns (v, sweeps). A scaling heuristic, not a certified solve."""
    terminal, q = lmdp.terminal, lmdp.cost

    def sweep(v):
        return jnp.where(terminal, q, q - _kernels.log_expect(lmdp.passive, -v))

    result = fixed_point(
        sweep,
        v,
        tol=tol,
        max_iterations=max_iterations,
        rate=0.5,
        norm=_no_size,
        distance=lambda new, old: sup_norm(new - old),
    )
    return result.solution, result.iterations


def scaled_system(lmdp: LMDP, v0):
    """(matvec, b, W_NN) of the scaled first-exit system (I - W_NN) y_N = W_NT 1, as (S,)
    vectors with y_T = 0 and the identity on terminal entries."""
    interior = ~lmdp.terminal
    op = _kernels.scaled(lmdp.passive, v0 - lmdp.cost, v0)
    b = jnp.where(interior, _kernels.apply(op, lmdp.terminal.astype(v0.dtype)), 0)
    op = _kernels.restrict(op, interior)  # W_NN: rows and columns of terminal states zeroed

    def matvec(y):
        return y - _kernels.apply(op, y)

    return matvec, b, op


def _dense_operator(op: _kernels.Operator, num_states: int):
    if op.index is None:
        return op.weights
    rows = jnp.broadcast_to(jnp.arange(num_states)[None, :], op.index.shape)
    return jnp.zeros((num_states, num_states), op.weights.dtype).at[rows, op.index].add(op.weights)


class _Round(NamedTuple):
    """One round around v: the solution y of the scaled system, the per-state relative error
    estimate t = SAFETY e / y (inf where y <= 0), its error estimate in log y, Krylov
    iterations and mat-vecs, and the relative residual."""

    y: Array
    t: Array
    error: Array
    iterations: Array
    matvecs: Array
    residual: Array


def _solve_round(lmdp: LMDP, v, tol, max_iterations: int, method: str) -> _Round:
    """Solve (I - W_NN) y = b around v, then bound the error of log y: with r = b - A y,
    A^-1 >= 0 gives |y* - y| <= A^-1 |r| =: e (one loose solve), and |log y* - log y| <=
    t / (1 - t) with t = e / y (first order; doubled for the loose solve)."""
    terminal = lmdp.terminal
    interior = ~terminal
    matvec, b, op = scaled_system(lmdp, v)
    x0 = jnp.where(terminal, 0, jnp.ones_like(v))
    if method == "iterative":
        main = bicgstab(matvec, b, x0, tol, max_iterations)
        y = main.solution
        r = jnp.where(interior, b - matvec(y), 0)
        aux = bicgstab(matvec, jnp.abs(r), jnp.zeros_like(v), AUX_TOL, 1000)
        e, iterations = aux.solution, main.iterations + aux.iterations
        matvecs = 2 * iterations + 5  # 2 per iteration, 2 per solve's residuals, r
    else:
        eye = jnp.eye(lmdp.num_states, dtype=v.dtype)
        lu = jax.scipy.linalg.lu_factor(eye - _dense_operator(op, lmdp.num_states))
        y = jax.scipy.linalg.lu_solve(lu, b)
        r = jnp.where(interior, b - matvec(y), 0)
        e = jax.scipy.linalg.lu_solve(lu, jnp.abs(r))
        iterations, matvecs = jnp.asarray(0), jnp.asarray(1)
    positive = jnp.where(interior, y > 0, True)
    t = SAFETY * jnp.where(interior & positive, jnp.abs(e) / jnp.where(positive, y, 1), 0)
    t = jnp.where(positive, t, jnp.inf)
    error = jnp.max(jnp.where(t < 1, t / (1 - jnp.where(t < 1, t, 0)), jnp.inf))
    residual = jnp.linalg.norm(r) / jnp.where(jnp.any(b > 0), jnp.linalg.norm(b), 1)
    return _Round(y, t, error, iterations, matvecs, residual)


@functools.partial(jax.jit, static_argnums=(3, 4, 5))
def _first_exit(lmdp: LMDP, tol, warmup_tol, max_rounds: int, max_iterations: int, method: str):
    """The solve behind `first_exit`: warm-up, then rounds."""
    terminal, q = lmdp.terminal, lmdp.cost
    interior = ~terminal
    v0 = jnp.where(terminal, q, 0)
    v0, sweeps = log_space_sweeps(lmdp, v0, warmup_tol, max_iterations)

    class State(NamedTuple):
        v: Array
        round: _Round
        krylov_tol: Array
        totals: Array

    def target(v):
        return tol * (1 + jnp.max(jnp.abs(v)))

    def step(state: State) -> State:
        v, krylov_tol = state.v, state.krylov_tol
        rnd = _solve_round(lmdp, v, krylov_tol, max_iterations, method)
        # unresolved entries (t >= 1) are set to the solve's resolution: v then moves by
        # -log(krylov_tol) there, and the next round rescales around it (module doc). Resolved
        # entries keep their y, however small: the round's error covers them as they are (raising
        # them too moved v by up to hundreds of nats that the error did not count)
        floor = krylov_tol * jnp.max(rnd.y)
        y = jnp.where(rnd.t < 1, rnd.y, floor)
        v = jnp.where(interior, v - log(jnp.where(interior, y, 1)), v)  # v = v0 - log y
        # a round short of the target by a factor f asks the next for f more (and 10x)
        short = jnp.clip(0.1 * target(v) / rnd.error, 1e-6, 1.0)
        krylov_tol = jnp.where(jnp.isfinite(rnd.error), krylov_tol * short, krylov_tol)
        krylov_tol = jnp.maximum(krylov_tol, FLOOR * jnp.finfo(v.dtype).eps)
        totals = state.totals + jnp.stack([rnd.iterations, rnd.matvecs])
        return State(v, rnd, krylov_tol, totals)

    # rounds on the solver layer: with rate 1/2 its error is the distance, here the new
    # round's estimate, and it stops when that is <= tol (1 + max |v|)
    zero, inf = jnp.asarray(0), jnp.asarray(jnp.inf, v0.dtype)
    ones = jnp.ones_like(v0)
    first = tol * FIRST  # the first round aims below tol: a second round costs more
    start = State(v0, _Round(ones, ones * inf, inf, zero, zero, inf), first, jnp.zeros(2, int))
    result = fixed_point(
        step,
        start,
        tol=tol,
        max_iterations=max_rounds,
        rate=0.5,
        norm=lambda state: sup_norm(state.v),
        distance=lambda new, old: new.round.error,
    )
    v, rnd, totals = result.solution.v, result.solution.round, result.solution.totals
    log_z = jnp.where(terminal, -q, -v)
    law = _kernels.log_law(lmdp.passive, log_z)
    log_policy = jnp.where(terminal[:, None], log_passive(lmdp), law)
    ok = result.converged & jnp.all(jnp.isfinite(log_z))
    return KLSolution(
        log_z=log_z,
        log_policy=log_policy,
        converged=ok,
        iterations=totals[0],
        residual=rnd.residual,
        matvecs=totals[1],
        sweeps=sweeps,
        error=rnd.error,
    )
