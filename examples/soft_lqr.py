"""Soft LQR on a double integrator: the Gaussian posterior policy, exact vs variational.

A unit mass (position, velocity) is pushed back to the origin; the dynamics are noisy. The
variational policy is the LQR gain with covariance temperature * H_uu^{-1}; the exact posterior is
optimistic about the noise, so its sampled trajectories (drawn from the posterior, whose dynamics
are tilted towards high value) tighten faster than the real system would.

    python examples/soft_lqr.py
"""

import dataclasses

import jax
import numpy as np

from control_as_inference.lqr import (
    LinearGaussianSystem,
    QuadraticReward,
    sample_trajectories,
    soft_lqr,
    trajectory_marginals,
)


@dataclasses.dataclass(frozen=True)
class Args:
    horizon: int = 40
    temperature: float = 0.5
    noise: float = 0.02
    samples: int = 30
    seed: int = 0
    figure: str = "soft_lqr.png"


def ellipse(mean, cov, scale=2.0, points=60):
    """Points of the scale-sigma ellipse of a 2-D Gaussian."""
    angles = np.linspace(0, 2 * np.pi, points)
    values, vectors = np.linalg.eigh(cov)
    circle = np.stack([np.cos(angles), np.sin(angles)])
    return (mean[:, None] + scale * vectors @ (np.sqrt(np.maximum(values, 0))[:, None] * circle)).T


def main(args: Args) -> None:
    jax.config.update("jax_enable_x64", True)
    dt = 0.1
    system = LinearGaussianSystem(
        [[1.0, dt], [0.0, 1.0]],
        [[0.0], [dt]],
        args.noise * np.eye(2),
        initial_mean=[2.0, 0.0],
        initial_cov=0.01 * np.eye(2),
    )
    reward = QuadraticReward(np.diag([1.0, 0.1]), [[0.05]])
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 4.5), layout="constrained")
    axes = fig.subplots(1, 3)
    key = jax.random.key(args.seed)
    for method, color in (("variational", "tab:blue"), ("exact", "tab:red")):
        sol = soft_lqr(system, reward, args.horizon, args.temperature, method)
        marg = trajectory_marginals(system, sol)
        states, _ = sample_trajectories(system, sol, key, args.samples)
        print(
            f"{method:12s} gain K_0 = {np.round(np.asarray(sol.K[0]), 3).tolist()}, "
            f"std of u_0 = {float(np.sqrt(sol.Sigma[0, 0, 0])):.3f}, "
            f"log evidence {float(sol.log_evidence):.3f}"
        )
        ax = axes[0] if method == "variational" else axes[1]
        for path in np.asarray(states):
            ax.plot(path[:, 0], path[:, 1], color=color, alpha=0.25, lw=0.8)
        for t in range(0, args.horizon + 1, 8):
            ring = ellipse(np.asarray(marg.state_mean[t]), np.asarray(marg.state_cov[t]))
            ax.plot(ring[:, 0], ring[:, 1], color="k", lw=1)
        ax.set_title(f"{method}: posterior samples, 2-sigma ellipses")
        ax.set_xlabel("position")
        ax.set_ylabel("velocity")
        mean_u = np.asarray(marg.action_mean[:, 0])
        std_u = np.sqrt(np.asarray(marg.action_cov[:, 0, 0]))
        steps = np.arange(args.horizon)
        axes[2].plot(steps, mean_u, color=color, label=f"{method} mean")
        axes[2].fill_between(steps, mean_u - 2 * std_u, mean_u + 2 * std_u, color=color, alpha=0.2)
    axes[2].set_title("action under the posterior (mean, 2 sd)")
    axes[2].set_xlabel("time step")
    axes[2].set_ylabel("force u")
    axes[2].legend()
    fig.suptitle(f"soft LQR, temperature {args.temperature}, noise {args.noise}")
    fig.savefig(args.figure, dpi=100)
    print(f"figure: {args.figure}")


if __name__ == "__main__":
    main(Args())
