"""control-as-inference: optimal control as probabilistic inference (Levine 2018), in JAX.

import control_as_inference as cai
post = cai.infer(cai.TabularMDP(transitions, reward), horizon=20, temperature=0.5)
"""

from .distributed import shard_mdp
from .irl import (
    Demonstrations,
    IRLResult,
    as_demonstrations,
    feature_expectations,
    maxent_irl,
    maxent_log_likelihood,
    policy_log_likelihood,
)
from .tabular import (
    ConvergenceWarning,
    Posterior,
    SoftValueSolution,
    Successors,
    Summary,
    TabularMDP,
    infer,
    infer_summary,
    log_prob,
    most_probable_trajectory,
    sample,
    soft_value_iteration,
)

__version__ = "0.1.0"

__all__ = [
    "ConvergenceWarning",
    "Demonstrations",
    "IRLResult",
    "Posterior",
    "SoftValueSolution",
    "Successors",
    "Summary",
    "TabularMDP",
    "__version__",
    "as_demonstrations",
    "feature_expectations",
    "infer",
    "infer_summary",
    "log_prob",
    "maxent_irl",
    "maxent_log_likelihood",
    "most_probable_trajectory",
    "policy_log_likelihood",
    "sample",
    "shard_mdp",
    "soft_value_iteration",
]
