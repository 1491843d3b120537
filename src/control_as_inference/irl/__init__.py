"""Maximum-entropy inverse RL on the tabular engine."""

from .airl import airl_discriminator_loss, airl_irl, airl_logits, shaped_reward
from .airl_sac import airl_sac, continuous_demonstrations, learned_reward_env
from .demonstrations import Demonstrations, as_demonstrations
from .gcl import gcl_objective, importance_log_partition, mixture_log_prob
from .gcl_sac import GCLReward, gcl_irl
from .linear_gaussian import lqr_irl, lqr_log_likelihood, lqr_reward
from .maxent import IRLResult, maxent_irl
from .objective import maxent_log_likelihood, maxent_objective
from .statistics import LinearReward, feature_expectations, policy_log_likelihood, reward_table

__all__ = [
    "Demonstrations",
    "GCLReward",
    "IRLResult",
    "LinearReward",
    "airl_discriminator_loss",
    "airl_irl",
    "airl_logits",
    "airl_sac",
    "as_demonstrations",
    "continuous_demonstrations",
    "feature_expectations",
    "gcl_irl",
    "gcl_objective",
    "importance_log_partition",
    "learned_reward_env",
    "lqr_irl",
    "lqr_log_likelihood",
    "lqr_reward",
    "maxent_irl",
    "maxent_log_likelihood",
    "maxent_objective",
    "mixture_log_prob",
    "policy_log_likelihood",
    "reward_table",
    "shaped_reward",
]
