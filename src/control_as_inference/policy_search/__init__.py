"""Policy search as inference: the KL-bounded E-step (pi_old exp(Q / eta)), planning by EM on
tabular MDPs (Toussaint and Storkey 2006), tabular MPO with exact Q, and REPS (Peters et al. 2010).

    sol = cai.policy_search.solve_temperature(returns, epsilon=0.5)   # eta of the dual
    w = cai.policy_search.estep_weights(returns, sol.temperature)     # q ∝ p exp(R / eta)
"""

from .contextual_reps import (
    ContextualStep,
    LinearGaussianPolicy,
    contextual_dual,
    contextual_reps_update,
    quadratic_features,
    run_contextual_reps,
    sample_linear_gaussian,
)
from .em import EMMessages, EMPlan, em_messages, em_planning, rescale_reward
from .estep import (
    TemperatureSolution,
    awr_weights,
    estep_weights,
    solve_temperature,
    temperature_dual,
    weights_kl,
)
from .reps import (
    REPSConfig,
    REPSHistory,
    REPSStep,
    SearchDistribution,
    check_search_distribution,
    reps_update,
    run_reps,
    sample_search_distribution,
    weighted_gaussian_fit,
)
from .tabular_mpo import TabularMPO, soft_policy_evaluation, tabular_mpo

__all__ = [
    "ContextualStep",
    "EMMessages",
    "EMPlan",
    "LinearGaussianPolicy",
    "REPSConfig",
    "REPSHistory",
    "REPSStep",
    "SearchDistribution",
    "TabularMPO",
    "TemperatureSolution",
    "awr_weights",
    "check_search_distribution",
    "contextual_dual",
    "contextual_reps_update",
    "em_messages",
    "em_planning",
    "estep_weights",
    "quadratic_features",
    "reps_update",
    "rescale_reward",
    "run_contextual_reps",
    "run_reps",
    "sample_linear_gaussian",
    "sample_search_distribution",
    "soft_policy_evaluation",
    "solve_temperature",
    "tabular_mpo",
    "temperature_dual",
    "weighted_gaussian_fit",
    "weights_kl",
]
