"""Continuous exact inference: soft LQR with linear-Gaussian dynamics and quadratic rewards."""

from .ilqr import SoftILQRResult, rollout, soft_ilqr
from .soft_lqr import (
    LinearGaussianSystem,
    QuadraticReward,
    SoftLQRSolution,
    StationarySoftLQR,
    TrajectoryMarginals,
    sample_trajectories,
    soft_lqr,
    soft_lqr_infinite,
    trajectory_marginals,
)

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
