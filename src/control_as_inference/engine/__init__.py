"""The engine every family stands on: one setting, one transition model, one solver layer.

A family (tabular, kl, lqr, irl, ...) supplies its model and its message algebra; what they share
lives here, public and documented:

    setting.py      Setting: temperature, discount, horizon and inference method, validated once
                    (traced checks, so everything that takes a temperature can be vmapped over it)
    transitions.py  the transition model (dense (S, A, S) or successor lists `Successors`) with
                    its one validator `check_transitions`
    kernels.py      the one set of log-space kernels over it (expect, log_expect, log_law, push,
                    log_push: max-shifted fast paths with an exact fallback) and the sparse
                    `Operator` of linear solves
    solvers.py      the solver layer: fixed points, root finding and linear solves with one result
                    type (solution, converged, iterations, an error estimate in the user's
                    quantity) and the one family-neutral ConvergenceWarning

The engine imports no family; every family may import the names in this `__all__`.
"""

from .kernels import (
    Operator,
    apply_operator,
    expect,
    log_expect,
    log_expect_exact,
    log_law,
    log_push,
    push,
    restrict_operator,
    scaled_operator,
)
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
from .transitions import (
    Successors,
    check_distribution,
    check_transitions,
    compact,
    dense_transitions,
    transition_probability,
)

__all__ = [
    "ConvergenceWarning",
    "Operator",
    "Setting",
    "SolverResult",
    "Successors",
    "apply_operator",
    "bicgstab",
    "check_distribution",
    "check_transitions",
    "checked_when_run",
    "compact",
    "dense_transitions",
    "expect",
    "fixed_point",
    "implicit_fixed_point",
    "log_expect",
    "log_expect_exact",
    "log_law",
    "log_push",
    "push",
    "restrict_operator",
    "scaled_operator",
    "sup_norm",
    "transition_probability",
    "warn_unconverged",
]
