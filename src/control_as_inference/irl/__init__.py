"""Maximum-entropy inverse RL on the tabular engine."""

from .airl import airl_discriminator_loss, airl_irl, airl_logits, shaped_reward
from .airl_sac import airl_learner, airl_sac, continuous_demonstrations, learned_reward_env
from .demonstrations import Demonstrations, as_demonstrations
from .gcl import gcl_objective, importance_log_partition, mixture_log_prob
from .gcl_sac import GCLConfig, GCLReward, gcl_irl, gcl_learner
from .linear_gaussian import lqr_irl, lqr_log_likelihood, lqr_reward
from .maxent import IRLResult, maxent_irl
from .objective import maxent_log_likelihood, maxent_objective
from .sample_loop import RewardLearner
from .statistics import LinearReward, feature_expectations, policy_log_likelihood, reward_table

__all__ = [
    "Demonstrations",
    "GCLConfig",
    "GCLReward",
    "IRLResult",
    "LinearReward",
    "RewardLearner",
    "airl_discriminator_loss",
    "airl_irl",
    "airl_learner",
    "airl_logits",
    "airl_sac",
    "as_demonstrations",
    "continuous_demonstrations",
    "feature_expectations",
    "gcl_irl",
    "gcl_learner",
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
