"""Tabular control as inference: the MDP type, exact and variational message passing,
posterior sampling, the most probable trajectory, soft value iteration and policy evaluation."""

from ..engine import ConvergenceWarning
from .evaluation import expected_entropy, expected_return, expected_value, sample_policy
from .inference import Posterior, infer
from .mdp import Successors, TabularMDP
from .sampling import log_prob, sample
from .summary import Summary, infer_summary
from .value_iteration import SoftValueSolution, soft_value_iteration
from .viterbi import most_probable_trajectory

__all__ = [
    "ConvergenceWarning",
    "Posterior",
    "SoftValueSolution",
    "Successors",
    "Summary",
    "TabularMDP",
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
