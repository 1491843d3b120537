"""Tabular control as inference: the MDP type, exact and variational message passing,
posterior sampling, the most probable trajectory, soft value iteration and policy evaluation.

The message algebra, for families built on the tabular passes (maximum-entropy IRL): `Spec`
(what every step reads besides the model), `backup` (one backward step: Q_t, V_t, log pi_t from
V_{t+1}) and `backward` (the reverse scan keeping every message).
"""

from ..engine import ConvergenceWarning
from .evaluation import expected_entropy, expected_return, expected_value, sample_policy
from .inference import Posterior, infer
from .mdp import Successors, TabularMDP
from .passes import Spec, backup, backward
from .sampling import log_prob, sample
from .summary import Summary, infer_summary
from .value_iteration import SoftValueSolution, soft_value_iteration
from .viterbi import most_probable_trajectory

__all__ = [
    "ConvergenceWarning",
    "Posterior",
    "SoftValueSolution",
    "Spec",
    "Successors",
    "Summary",
    "TabularMDP",
    "backup",
    "backward",
    "expected_entropy",
    "expected_return",
    "expected_value",
    "infer",
    "infer_summary",
    "log_prob",
    "most_probable_trajectory",
    "sample",
    "sample_policy",
    "soft_value_iteration",
]
