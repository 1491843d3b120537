"""Control as inference under partial observation: soft LQG and Tiger's policy over beliefs.

1. A unit mass (position, velocity) is pushed to the origin, but only its position is measured,
   through noise. The variational (max-ent) controller acts on the Kalman filter's mean with soft
   LQR's gain (separation); the exact posterior over the action also reads the optimality
   variables as evidence and integrates the state's uncertainty: a smaller gain, a wider spread.
2. Tiger (listen, or open a door) solved over an infinite horizon on a belief grid: the soft
   policy and value as functions of the belief that the tiger is behind the left door.

    python examples/partial_observation.py [--figure docs/partial_observation.png]
"""

import argparse
import dataclasses

import jax
import numpy as np

from control_as_inference import lqr, pomdp


@dataclasses.dataclass(frozen=True)
class Args:
    horizon: int = 60
    temperature: float = 0.5
    sensor_noise: float = 0.25
    tiger_resolution: int = 200
    seed: int = 0
    figure: str | None = "partial_observation.png"


def main(args: Args):
    jax.config.update("jax_enable_x64", True)
    dt = 0.1
    system = lqr.LinearGaussianSystem(
        [[1.0, dt], [0.0, 1.0]], [[0.0], [dt]], 0.01 * np.eye(2), [2.0, 0.0], 0.3 * np.eye(2)
    )
    reward = lqr.QuadraticReward(np.diag([1.0, 0.1]), [[0.05]])
    sensor = pomdp.LinearGaussianObservation([[1.0, 0.0]], [[args.sensor_noise**2]])
    solutions = {
        method: pomdp.soft_lqg(system, sensor, reward, args.horizon, args.temperature, method)
        for method in ("variational", "exact")
    }
    for method, sol in solutions.items():
        gain = np.asarray(sol.K[0, 0])
        print(
            f"{method:12s} K_0 = {np.round(gain, 3).tolist()} (soft LQR's "
            f"{np.round(np.asarray(sol.control.K[0, 0]), 3).tolist()}), std of u_0 "
            f"{float(np.sqrt(sol.Sigma[0, 0, 0])):.3f}, expected return "
            f"{float(sol.expected_return):.3f}, max-ent value {float(sol.value):.3f}"
        )
    episode = pomdp.simulate_lqg(solutions["variational"], jax.random.key(args.seed), 1)
    tiger = pomdp.tiger()
    grid = pomdp.solve_belief_grid(tiger, args.tiger_resolution, None, 1.0, 0.95)
    left = np.linspace(0, 1, 201)
    beliefs = np.stack([left, 1 - left], axis=1)
    policy, value = np.asarray(grid.policy(beliefs)), np.asarray(grid.value(beliefs))
    listen = policy[:, 0]
    sure = left[listen < 0.5]
    print(
        f"Tiger: {len(grid.grid.beliefs)} grid beliefs, {int(grid.iterations)} sweeps (bound "
        f"{float(grid.error):.1e}); pi(listen | b = (0.5, 0.5)) = {listen[100]:.3f}; the "
        f"policy opens a door once b(left) <= {sure[sure < 0.5].max():.2f} or >= "
        f"{sure[sure > 0.5].min():.2f}"
    )
    if args.figure:
        fig = figure(args, solutions, episode, left, policy, value)
        fig.savefig(args.figure, dpi=100)
        print(f"figure: {args.figure}")


def figure(args, solutions, episode, left, policy, value):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(15, 4.6), layout="constrained")
    axes = fig.subplots(1, 3)
    sol = solutions["variational"]
    steps = np.arange(args.horizon)
    states, means = np.asarray(episode.states[0]), np.asarray(episode.means[0])
    spread = 2 * np.sqrt(np.asarray(sol.filtered_covariances[:, 0, 0]))
    axes[0].plot(steps, states[:-1, 0], color="black", label="true position x_t")
    axes[0].plot(steps, np.asarray(episode.observations[0, :, 0]), ".", color="tab:gray",
                 label="measured y_t")  # fmt: skip
    axes[0].plot(steps, means[:, 0], color="tab:blue", label="belief mean m_t")
    axes[0].fill_between(steps, means[:, 0] - spread, means[:, 0] + spread, color="tab:blue",
                         alpha=0.2, label="belief, 2 sd")  # fmt: skip
    axes[0].set(title="soft LQG in closed loop (variational)", xlabel="time step t",
                ylabel="position")  # fmt: skip
    axes[0].legend()
    for method, color in (("variational", "tab:blue"), ("exact", "tab:red")):
        s = solutions[method]
        axes[1].plot(steps, -np.asarray(s.K[:, 0, 0]), color=color,
                     label=f"{method}: -K (position)")  # fmt: skip
        axes[1].plot(steps, np.sqrt(np.asarray(s.Sigma[:, 0, 0])), color=color, ls="--",
                     label=f"{method}: std of u")  # fmt: skip
    axes[1].set(title="the policy over beliefs: gain and spread", xlabel="time step t")
    axes[1].legend()
    for a, (name, color) in enumerate(
        (("listen", "tab:green"), ("open left", "tab:red"), ("open right", "tab:purple"))
    ):
        axes[2].plot(left, policy[:, a], color=color, label=f"pi({name} | b)")
    axes[2].set(title="Tiger: the soft policy over beliefs (alpha 1, gamma 0.95)",
                xlabel="b(tiger behind the left door)", ylabel="probability")  # fmt: skip
    twin = axes[2].twinx()
    twin.plot(left, value, color="black", ls=":", label="V(b)")
    twin.set_ylabel("soft value V(b)")
    lines = axes[2].get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    axes[2].legend(lines[0] + more[0], lines[1] + more[1], loc="center")
    return fig


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--figure", default=Args.figure)
    main(Args(figure=parser.parse_args().figure))
