"""The engine every family stands on: one setting, one transition model, one solver layer.

A family (tabular, kl, lqr, irl, ...) supplies its model and its message algebra; what they share
lives here, public and documented:

    setting.py      Setting: temperature, discount, horizon and inference method, validated once
                    (traced checks, so everything that takes a temperature can be vmapped over it)
    transitions.py  the transition model (dense (S, A, S) or successor lists) with its one
                    validator, and the log-space kernels over it
    solvers.py      the solver layer: fixed points, root finding and linear solves with one result
                    type (solution, converged, iterations, an error estimate in the user's
                    quantity) and the one family-neutral ConvergenceWarning

The engine imports no family; every family may import the names in this `__all__`.
"""

from .setting import Setting, checked_when_run
from .solvers import (
    ConvergenceWarning,
    SolverResult,
    bicgstab,
    fixed_point,
    implicit_fixed_point,
    sup_norm,
    warn_unconverged,
)

__all__ = [
    "ConvergenceWarning",
    "Setting",
    "SolverResult",
    "bicgstab",
    "checked_when_run",
    "fixed_point",
    "implicit_fixed_point",
    "sup_norm",
    "warn_unconverged",
]
