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


def main(args: Args):
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
    key = jax.random.key(args.seed)
    results = {}
    for method in ("variational", "exact"):
        sol = soft_lqr(system, reward, args.horizon, args.temperature, method)
        marg = trajectory_marginals(system, sol)
        states, _ = sample_trajectories(system, sol, key, args.samples)
        print(
            f"{method:12s} gain K_0 = {np.round(np.asarray(sol.K[0]), 3).tolist()}, "
            f"std of u_0 = {float(np.sqrt(sol.Sigma[0, 0, 0])):.3f}, "
            f"log evidence {float(sol.log_evidence):.3f}"
        )
        results[method] = {
            "samples": np.asarray(states),
            "state_mean": np.asarray(marg.state_mean),
            "state_cov": np.asarray(marg.state_cov),
            "action_mean": np.asarray(marg.action_mean[:, 0]),
            "action_std": np.sqrt(np.asarray(marg.action_cov[:, 0, 0])),
        }
    fig = figure(args, results)
    fig.savefig(args.figure, dpi=100)
    print(f"figure: {args.figure}")
    return fig


def figure(args: Args, results: dict):
    """Posterior samples with the 2-sigma ellipses of the state marginals (coloured by their
    time step) for each method, and the action under the posterior."""
    import matplotlib as mpl
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 5.2), layout="constrained")
    fig.get_layout_engine().set(h_pad=0.08)
    axes = fig.subplots(1, 3)
    axes[1].sharex(axes[0])
    axes[1].sharey(axes[0])
    times = list(range(0, args.horizon + 1, 8))
    shades = mpl.colormaps["plasma"](np.linspace(0.0, 0.8, len(times)))
    for ax, (method, color) in zip(
        axes, (("variational", "tab:blue"), ("exact", "tab:red")), strict=False
    ):
        result = results[method]
        for path in result["samples"]:
            ax.plot(path[:, 0], path[:, 1], color=color, alpha=0.2, lw=0.8)
        for t, shade in zip(times, shades, strict=True):
            ring = ellipse(result["state_mean"][t], result["state_cov"][t])
            ax.plot(ring[:, 0], ring[:, 1], color=shade, lw=1.8, label=f"t = {t}")
        ax.set_title(f"{method}: {len(result['samples'])} posterior samples")
        ax.set_xlabel("position")
        ax.set_ylabel("velocity")
        mean_u, std_u = result["action_mean"], result["action_std"]
        steps = np.arange(len(mean_u))
        axes[2].plot(steps, mean_u, color=color, label=f"{method} mean")
        axes[2].fill_between(steps, mean_u - 2 * std_u, mean_u + 2 * std_u, color=color, alpha=0.2)
    axes[2].set_title("action under the posterior (mean, 2 sd)")
    axes[2].set_xlabel("time step t")
    axes[2].set_ylabel("force u")
    axes[2].legend()
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        loc="outside lower center",
        ncols=len(times),
        title="2-sigma ellipse of the state marginal p(x_t) at time step",
    )
    fig.suptitle(
        f"soft LQR on a double integrator, temperature {args.temperature:g}, noise {args.noise:g}"
    )
    return fig


if __name__ == "__main__":
    main(Args())
