"""KL control (Todorov's linearly-solvable MDPs): the model, desirability solvers (first exit,
finite horizon, average cost, discounted), Z-learning, exact composition of control laws and the
embedding of a standard MDP.

    lmdp = cai.kl.LMDP(passive, cost, terminal)        # passive (S, S) or Successors (S, K)
    sol = cai.kl.first_exit(lmdp)                      # sol.log_z, sol.v, sol.log_policy
"""

from .first_exit import KLSolution, first_exit
from .horizon import AverageCostSolution, average_cost, discounted, finite_horizon
from .model import LMDP, to_tabular

__all__ = [
    "LMDP",
    "AverageCostSolution",
    "KLSolution",
    "average_cost",
    "discounted",
    "finite_horizon",
    "first_exit",
    "to_tabular",
]
