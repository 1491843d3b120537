"""KL control (Todorov's linearly-solvable MDPs): the model, desirability solvers (first exit,
finite horizon, average cost, discounted), Z-learning, exact composition of control laws and the
embedding of a standard MDP.

    lmdp = cai.kl.LMDP(passive, cost, terminal)        # passive (S, S) or Successors (S, K)
    sol = cai.kl.first_exit(lmdp)                      # sol.log_z, sol.v, sol.log_policy
"""

from .composition import Composite, SoftQComposite, compose, compose_soft_q, mixed_cost
from .embedding import Embedding, EmbeddingGap, embed_mdp, embedding_gap, value_iteration
from .figures import plot_composition
from .first_exit import KLSolution, first_exit
from .gridworld import TWO_GOALS, KLGrid, goal_components, grid_lmdp, on_grid
from .horizon import AverageCostSolution, average_cost, discounted, finite_horizon
from .model import LMDP, to_tabular
from .zlearning import Transitions, ZLearning, sample_transitions, z_learning

__all__ = [
    "LMDP",
    "TWO_GOALS",
    "AverageCostSolution",
    "Composite",
    "Embedding",
    "EmbeddingGap",
    "KLGrid",
    "KLSolution",
    "SoftQComposite",
    "Transitions",
    "ZLearning",
    "average_cost",
    "compose",
    "compose_soft_q",
    "discounted",
    "embed_mdp",
    "embedding_gap",
    "finite_horizon",
    "first_exit",
    "goal_components",
    "grid_lmdp",
    "mixed_cost",
    "on_grid",
    "plot_composition",
    "sample_transitions",
    "to_tabular",
    "value_iteration",
    "z_learning",
]
