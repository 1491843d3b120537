"""Policy search as inference: the KL-bounded E-step (pi_old exp(Q / eta)), planning by EM on
tabular MDPs (Toussaint and Storkey 2006), tabular MPO with exact Q, and REPS (Peters et al. 2010).

    sol = cai.policy_search.solve_temperature(returns, epsilon=0.5)   # eta of the dual
    w = cai.policy_search.estep_weights(returns, sol.temperature)     # q ∝ p exp(R / eta)
"""

from .em import EMMessages, EMPlan, em_messages, em_planning, rescale_reward
from .estep import (
    TemperatureSolution,
    estep_weights,
    solve_temperature,
    temperature_dual,
    weights_kl,
)
from .tabular_mpo import TabularMPO, soft_policy_evaluation, tabular_mpo

__all__ = [
    "EMMessages",
    "EMPlan",
    "TabularMPO",
    "TemperatureSolution",
    "em_messages",
    "em_planning",
    "estep_weights",
    "rescale_reward",
    "soft_policy_evaluation",
    "solve_temperature",
    "tabular_mpo",
    "temperature_dual",
    "weights_kl",
]
