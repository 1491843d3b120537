"""Maximum-entropy inverse RL on the tabular engine."""

from .demonstrations import Demonstrations, as_demonstrations
from .linear_gaussian import lqr_irl, lqr_log_likelihood, lqr_reward
from .maxent import IRLResult, maxent_irl
from .objective import maxent_log_likelihood, maxent_objective
from .statistics import LinearReward, feature_expectations, policy_log_likelihood, reward_table

__all__ = [
    "Demonstrations",
    "IRLResult",
    "LinearReward",
    "as_demonstrations",
    "feature_expectations",
    "lqr_irl",
    "lqr_log_likelihood",
    "lqr_reward",
    "maxent_irl",
    "maxent_log_likelihood",
    "maxent_objective",
    "policy_log_likelihood",
    "reward_table",
]
