"""Maximum-entropy inverse RL on the tabular engine."""

from .demonstrations import Demonstrations, as_demonstrations
from .maxent import (
    IRLResult,
    LinearReward,
    feature_expectations,
    maxent_irl,
    maxent_log_likelihood,
    policy_log_likelihood,
    reward_table,
)

__all__ = [
    "Demonstrations",
    "IRLResult",
    "LinearReward",
    "as_demonstrations",
    "feature_expectations",
    "maxent_irl",
    "maxent_log_likelihood",
    "policy_log_likelihood",
    "reward_table",
]
