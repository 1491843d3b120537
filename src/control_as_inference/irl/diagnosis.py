"""Why a MaxEnt IRL fit did not converge, and a tolerance it can reach.

The objective l of `objective.py` is concave in a linear reward, but its maximum may lie at
infinity. Along a reward table r, scaling r by c -> inf turns the soft values into hard ones
(V_alpha(c r) = c V_{alpha/c}(r)), so

    l(c r) / c  ->  (demonstrated(r) - best(r)) / alpha,
    demonstrated(r) = 1/N sum_i sum_{t < T_i} w_t r(s_t, a_t),
    best(r)         = 1/N sum_i (V*_0(s_0^i) - w_{T_i} V*_{T_i}(s_{T_i}^i)),

with V* the temperature -> 0 values of r: the most that any policy collects from the
demonstrations' start states (variational: in the true dynamics; exact: choosing the
transitions as well, within T's support), less what it collects after the shorter
demonstrations stop. When demonstrated > best the objective grows without bound along r: the
demonstrated counts lie outside what the model class can produce and no finite reward fits them
(`recession`). Variational inference keeps the true dynamics, so demonstrations whose transitions
were better than T allows (samples of the exact posterior's optimistic dynamics, or a few
lucky ones) can do this; the exact posterior's objective is a log-likelihood up to reward-free
terms and is bounded unless a demonstrated transition has probability 0.

The optimiser (L-BFGS with a backtracking line search on values of l) resolves the gradient
only to about sqrt(eps) times the scale of l, so the default tolerance is relative
(`default_tolerance`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ..tabular import TabularMDP
from .objective import FitSpec, end_terms, solve
from .statistics import DemoStatistics

#: the unbounded check runs after this many iterations without convergence, then at twice as
#: many, four times, ..., and at the last iteration
FIRST_CHECK = 20


def default_tolerance(stats: DemoStatistics, features: Float[Array, "S A F"], dtype) -> float:
    """3 sqrt(eps) (1 + max_f |demonstrated feature counts|): about 1e-6 in float64 and 1e-2 in
    float32 for counts of about 20, a factor of ten above where the line search stalls
    (measured on random and gridworld problems, consistent demonstrations)."""
    counts = jnp.einsum("sa,saf->f", stats.counts, features)
    scale = 1.0 + float(jnp.max(jnp.abs(counts)))
    return 3.0 * math.sqrt(float(jnp.finfo(dtype).eps)) * scale


def check_now(iteration: int, max_iterations: int) -> bool:
    """Whether to test for unbounded growth after iteration `iteration` (0-based)."""
    done = iteration + 1
    if done == max_iterations:
        return True
    periods, remainder = divmod(done, FIRST_CHECK)
    return remainder == 0 and periods & (periods - 1) == 0


class Recession(NamedTuple):
    """The objective far out along a reward table r (module docstring), r scaled to
    max |r| = 1.

    Attributes:
        demonstrated: () what the demonstrations collect per demonstration.
        best: () the most the model class collects from their start states.
        noise: () a bound on the rounding error of demonstrated - best.
    """

    demonstrated: Array
    best: Array
    noise: Array

    @property
    def unbounded(self) -> bool:
        """l grows without bound along r (demonstrated - best beyond the rounding error)."""
        return bool(self.demonstrated - self.best > self.noise)


@jax.jit
def recession(
    reward: Float[Array, "S A"], mdp: TabularMDP, stats: DemoStatistics, spec: FitSpec
) -> Recession:
    """`Recession` of the objective along the reward table (S, A)."""
    finfo = jnp.finfo(reward.dtype)
    scale = jnp.max(jnp.abs(reward))
    r = reward / jnp.where(scale > 0, scale, 1)
    hard = eqx.tree_at(lambda s: s.setting.temperature, spec, jnp.asarray(finfo.eps, reward.dtype))
    values, _ = solve(eqx.tree_at(lambda m: m.reward, mdp, r), hard, jnp.zeros_like(r[:, 0]))
    visited = stats.counts > 0
    demonstrated = jnp.sum(jnp.where(visited, stats.counts * r, 0.0))
    best = -end_terms(values, stats, hard)
    steps = spec.horizon if spec.horizon is not None else 1 / (1 - spec.discount)
    noise = 10 * finfo.eps * (1 + steps) ** 2
    return Recession(demonstrated, best, noise)


def unbounded_message(rec: Recession, method: str, iterations: int, weights, impossible) -> str:
    """The warning for an objective that grows without bound (`Recession.unbounded`); weights
    (F,) of a linear reward or None; impossible: a demonstrated transition has probability 0."""
    demonstrated, best = float(rec.demonstrated), float(rec.best)
    where = ""
    if weights is not None:
        weights = np.asarray(weights)
        direction = weights / max(float(np.linalg.norm(weights)), np.finfo(weights.dtype).tiny)
        where = f" (weights {np.array2string(weights, precision=3)}, direction "
        where += f"{np.array2string(direction, precision=3)})"
    text = (
        f"maxent_irl stopped after {iterations} iterations: the objective grows without bound, "
        "so no finite reward fits these demonstrations. Along the fitted reward r"
        f"{where}, scaled to max |r| = 1, the demonstrations collect {demonstrated:.4g} per "
        f"demonstration, more than the {best:.4g} that the best "
        + ("policy in mdp's dynamics" if method == "variational" else "posterior")
        + " collects from the same start states (less what it collects after the shorter "
        "demonstrations stop); scaling r up by c raises the objective by about "
        f"c * {demonstrated - best:.3g} / temperature. "
    )
    if impossible:
        return text + (
            "Some demonstrated transitions have probability 0 under mdp.transitions; no reward "
            "explains them. Check the demonstrations against the dynamics."
        )
    return text + (
        "The demonstrated feature counts lie outside what any policy reaches in the true "
        "dynamics, which method='variational' keeps: the demonstrations' transitions were "
        "better than mdp.transitions allows (as in samples of method='exact''s optimistic "
        "posterior, or by chance when the dynamics leave the counts little room). "
        "method='exact' also fits the transitions (its objective is bounded); "
        "regularization > 0 gives the closest finite reward; more demonstrations shrink "
        "sampling noise."
    )


def not_converged_message(iterations: int, tol: float, optimality, objective, dtype) -> str:
    """The warning for a fit that used up max_iterations without reaching tol; optimality and
    objective are the (iterations,) histories."""
    recent = 10
    best = float(np.min(optimality))
    text = f"maxent_irl did not converge in {iterations} iterations: "
    if iterations > recent and np.min(optimality[-recent:]) >= np.min(optimality[:-recent]):
        return text + (
            f"the optimality (temperature * max |gradient|) stalled at {best:.3g} > tol = "
            f"{tol:.3g}, where the line search no longer resolves changes of the objective in "
            f"{np.dtype(dtype).name}. Loosen tol (tol=None scales with the precision and the "
            "feature counts) or use float64."
        )
    window = min(recent, iterations)
    rate = (objective[-1] - objective[-window]) / max(window - 1, 1)
    return text + (
        f"optimality {float(optimality[-1]):.3g} > tol = {tol:.3g}, the objective still rising "
        f"by about {rate:.3g} per iteration. Raise max_iterations. If the weights keep growing, "
        "the best reward lies at infinity (a demonstrated count at the edge of what the model "
        "allows, e.g. one-hot features and a state no demonstration visits); "
        "regularization > 0 gives a finite one."
    )
