"""Control as inference under partial observation.

Discrete POMDPs: the model `POMDP` (T, O, r, initial belief, action prior; validated by the
engine), the Bayes filter `belief_update` (log space), and `infer_beliefs`: finite-horizon soft
(variational) inference over beliefs by exact enumeration of the observation histories, for small
problems, with the posterior policy pi(a|b) and V_0 of the initial belief (`BeliefPosterior`).
`tiger` builds the classic Tiger problem, `observed_gridworld` a gridworld seen through a noisy
wall sensor, and `POMDPEnv` runs any of them as a gymnasium environment. Larger problems and the
infinite horizon: soft value iteration on a grid of the belief simplex with Freudenthal
interpolation (`solve_belief_grid`: an upper bound on the soft value that tightens as the grid
refines).

Soft LQG (`lqg.py`, `kalman.py`, `closed_loop.py`): a `cai.lqr` system seen through
y = C x + v (`LinearGaussianObservation`): the Kalman filter (`kalman_filter`), the
finite-horizon policy over beliefs, variational (max-ent certainty equivalence) or exact
(`soft_lqg`: `SoftLQG`), its closed loop (`simulate_lqg`) and the stationary solution
(`soft_lqg_infinite`).

Active inference (`active_inference.py`): `from_pymdp` reads a pymdp generative model
(A, B, C, D) as a `POMDP` whose reward is the expected utility of the next observation; where
pymdp's q(pi) and max-ent control coincide and where they differ is in that module's docstring.
"""

from .active_inference import from_pymdp
from .beliefs import belief_update
from .closed_loop import LQGRollouts, simulate_lqg
from .environments import POMDPEnv, observed_gridworld
from .grid import BeliefGrid, BeliefGridSolution, belief_grid, solve_belief_grid
from .inference import BeliefPosterior, infer_beliefs
from .kalman import KalmanFiltered, LinearGaussianObservation, kalman_filter
from .lqg import SoftLQG, StationarySoftLQG, soft_lqg, soft_lqg_infinite
from .model import POMDP, tiger

__all__ = [
    "POMDP",
    "BeliefGrid",
    "BeliefGridSolution",
    "BeliefPosterior",
    "KalmanFiltered",
    "LQGRollouts",
    "LinearGaussianObservation",
    "POMDPEnv",
    "SoftLQG",
    "StationarySoftLQG",
    "belief_grid",
    "belief_update",
    "from_pymdp",
    "infer_beliefs",
    "kalman_filter",
    "observed_gridworld",
    "simulate_lqg",
    "soft_lqg",
    "soft_lqg_infinite",
    "solve_belief_grid",
    "tiger",
]
