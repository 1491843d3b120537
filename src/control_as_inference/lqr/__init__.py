"""Continuous exact inference: soft LQR with linear-Gaussian dynamics and quadratic rewards."""

from .ilqr import SoftILQRResult, rollout, soft_ilqr
from .marginals import TrajectoryMarginals, sample_trajectories, trajectory_marginals
from .model import LinearGaussianSystem, QuadraticReward, SoftLQRSolution, StationarySoftLQR
from .soft_lqr import soft_lqr, soft_lqr_infinite

__all__ = [
    "LinearGaussianSystem",
    "QuadraticReward",
    "SoftILQRResult",
    "SoftLQRSolution",
    "StationarySoftLQR",
    "TrajectoryMarginals",
    "rollout",
    "sample_trajectories",
    "soft_ilqr",
    "soft_lqr",
    "soft_lqr_infinite",
    "trajectory_marginals",
]
