"""The one result type of every inverse-RL method (`maxent_irl`, `lqr_irl`, `gcl_irl`,
`airl_irl`): what was learned (reward parameters, the policy or value where there is one) and
the learning curve.

What each field holds, per method (`IRLResult.method`):

========== =================================================================================
field       meaning per method
========== =================================================================================
reward_model "maxent": the fitted `LinearReward` or equinox module (features -> reward);
            "lqr": the fitted `QuadraticReward` (normalised as `lqr_irl` documents);
            "gcl": the reward network (equinox module, (state, action) -> reward, or the
            tabular reward table's `LinearReward` for the tabular variant);
            "airl": the state-only reward g of the discriminator (equinox module).
reward      "maxent" (and tabular "gcl"/"airl"): (S, A) reward table; None where there is
            no table (continuous states).
solution    the policy / value of the fitted reward, where there is one: "maxent":
            `Posterior` (finite horizon) or `SoftValueSolution` (infinite); "lqr": the
            `SoftLQRSolution` (gains, covariances, values) of the fitted reward; "gcl" and
            "airl": the sampler / generator policy at the end (e.g. the SAC state) or None.
value       "airl": the shaping network h (the soft value up to a constant); None otherwise.
objective   (iterations,) the learning curve of the quantity maximised: "maxent": l of
            `maxent_objective`; "lqr": the demonstrations' mean exact log-likelihood per
            demonstration; "gcl": the importance-sampled log-likelihood of the
            demonstrations, mean reward minus log Z-hat; "airl": minus the discriminator loss.
log_likelihood (iterations,) the demonstrations' mean log-likelihood where it is exact:
            "maxent" (see `maxent_irl`) and "lqr" (same as objective); NaN otherwise.
feature_gap (iterations,) "maxent": max_f |demonstrated - expected feature counts|; NaN for the
            other methods.
optimality  (iterations,) the stopping statistic: "maxent": temperature * max |gradient|;
            "lqr": max |gradient| of the objective over the free parameters; NaN where a
            method has none (stochastic gradients: "gcl", "airl").
converged   whether optimality fell below tol (always False for a method without one).
iterations  number of iterations (entries of the histories).
tol         the tolerance used; NaN where there is none.
unbounded   "maxent" only: the objective grows without bound (no finite reward fits).
method      "maxent", "lqr", "gcl" or "airl".
========== =================================================================================
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np


def _empty() -> np.ndarray:
    return np.zeros(0)


@dataclasses.dataclass(frozen=True)
class IRLResult:
    """What every inverse-RL method returns (see the module docstring for each method's
    meaning of each field). The histories hold one entry per iteration, evaluated at the
    parameters that iteration started from; the last entry is that of the returned reward.

    Attributes:
        reward_model: the fitted reward (`LinearReward`, `QuadraticReward`, equinox module).
        reward: (S, A) the fitted reward table, or None without a table.
        solution: the fitted reward's policy / value (`Posterior`, `SoftValueSolution`,
            `SoftLQRSolution`, a sampler's policy state) or None.
        objective: (iterations,) the learning curve of the maximised quantity.
        log_likelihood: (iterations,) the demonstrations' mean log-likelihood where exact
            (maxent: given the start states, <= 0; lqr: the exact Gaussian one); NaN otherwise.
        feature_gap: (iterations,) maxent: max_f |demonstrated - expected feature counts|.
        optimality: (iterations,) the stopping statistic (maxent: alpha max |gradient| over
            the parameters; lqr: max |gradient|).
        converged: whether the optimality fell below tol.
        iterations: number of iterations.
        tol: the tolerance used (maxent: the default's value when tol=None); NaN if none.
        unbounded: maxent only: the objective grows without bound along the fitted reward, no
            finite reward fits (the `ConvergenceWarning` says why); the fit stopped early and
            returns the iterate of highest objective.
        method: "maxent", "lqr", "gcl" or "airl".
        value: airl: the shaping network h (soft value up to a constant); None otherwise.
    """

    reward_model: Any
    reward: Any = None
    solution: Any = None
    # numpy arrays and a bool, or JAX arrays where the fit ran under jax.vmap (airl_irl over
    # temperatures)
    objective: np.ndarray | jax.Array = dataclasses.field(default_factory=_empty)
    log_likelihood: np.ndarray | None = None
    feature_gap: np.ndarray | None = None
    optimality: np.ndarray | jax.Array | None = None
    converged: bool | jax.Array = False
    iterations: int = 0
    tol: float = float("nan")
    unbounded: bool = False
    method: str = "maxent"
    value: Any = None

    def __post_init__(self):
        # histories a method does not have: NaN arrays as long as the learning curve
        nan = np.full(np.shape(self.objective), np.nan)
        for name in ("log_likelihood", "feature_gap", "optimality"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, nan.copy())


__all__ = ["IRLResult"]
