"""Control as inference under partial observation (discrete POMDPs, first slice).

The model `POMDP` (T, O, r, initial belief, action prior; validated by the engine), the Bayes
filter `belief_update` (log space), and `infer_beliefs`: finite-horizon soft (variational)
inference over beliefs by exact enumeration of the observation histories, for small problems,
with the posterior policy pi(a|b) and V_0 of the initial belief (`BeliefPosterior`). `tiger`
builds the classic Tiger problem.
"""

from .beliefs import belief_update
from .inference import BeliefPosterior, infer_beliefs
from .model import POMDP, tiger

__all__ = ["POMDP", "BeliefPosterior", "belief_update", "infer_beliefs", "tiger"]
