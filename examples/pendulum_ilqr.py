"""Soft iLQR swings gymnasium's Pendulum-v1 up from hanging still, and holds it.

The planner uses Pendulum-v1's dynamics written in JAX (control_as_inference.envs.pendulum) with
two changes that keep iLQR out of poor local optima: the torque limit becomes a penalty instead of
a clip, and the wrapped angle squared becomes 2 (1 - cos theta). The resulting time-varying
Gaussian policy (its mean plus feedback) then acts in the real gymnasium environment.

    python examples/pendulum_ilqr.py
"""

import dataclasses

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np

from control_as_inference.envs import pendulum
from control_as_inference.lqr import soft_ilqr


@dataclasses.dataclass(frozen=True)
class Args:
    horizon: int = 200
    temperature: float = 0.1
    max_iterations: int = 2000  # it converges after about 1650 (a warning says so if not)
    figure: str | None = "pendulum_ilqr.png"


def dynamics(x, u):
    accel = 1.5 * pendulum.GRAVITY / pendulum.LENGTH * jnp.sin(x[0]) + 3.0 * u[0]
    new_dot = jnp.clip(x[1] + accel * pendulum.DT, -pendulum.MAX_SPEED, pendulum.MAX_SPEED)
    return jnp.stack([x[0] + new_dot * pendulum.DT, new_dot])


def reward(x, u):
    over = jnp.maximum(jnp.abs(u[0]) - 0.975 * pendulum.MAX_TORQUE, 0.0)
    return -(2 * (1 - jnp.cos(x[0])) + 0.1 * x[1] ** 2 + 0.001 * u[0] ** 2 + 100 * over**2)


def swing_up_figure(angles, plan_angles, plan_torques):
    """The angle of gymnasium's pendulum and of the plan, unwrapped from hanging (pi), so that
    a swing-up draws no jump at +-pi (upright is 0 or a multiple of 2 pi, dashed), and the
    planned torque in N m."""
    from matplotlib.figure import Figure

    from control_as_inference.plotting import pi_ticks

    real = np.unwrap(np.concatenate([[np.pi], np.asarray(angles)]))[1:]
    planned = np.unwrap(np.concatenate([[np.pi], np.asarray(plan_angles)]))[1:]
    fig = Figure(figsize=(11, 3.8), layout="constrained")
    left, right = fig.subplots(1, 2)
    left.plot(real, label="gymnasium (policy with feedback)")
    left.plot(planned, "--", label="plan")
    pi_ticks(left, np.concatenate([real, planned]))
    left.set_ylabel("angle θ (rad, unwrapped)")
    left.set_title("angle (dashed: upright)")
    left.legend()
    right.step(range(len(plan_torques)), np.asarray(plan_torques)[:, 0], where="post")
    for limit in (-pendulum.MAX_TORQUE, pendulum.MAX_TORQUE):
        right.axhline(limit, color="0.4", linewidth=0.8, linestyle="--")
    right.set_ylabel("torque (N m)")
    right.set_title(f"planned torque (dashed: ±{pendulum.MAX_TORQUE:g} N m limit)")
    for ax in (left, right):
        ax.set_xlabel(f"time step ({pendulum.DT:g} s)")
        ax.grid(alpha=0.3)
    fig.suptitle("Pendulum-v1 swing-up from hanging by soft iLQR")
    return fig


def main(args: Args) -> None:
    jax.config.update("jax_enable_x64", True)
    t = jnp.arange(args.horizon, dtype=jnp.float64)[:, None]
    pump = jnp.where(t < 64, jnp.sin(2 * jnp.pi * t / 32), 0.0)  # a first guess: two pumps
    plan = soft_ilqr(
        dynamics,
        reward,
        jnp.array([jnp.pi, 0.0]),
        args.horizon,
        args.temperature,
        initial_actions=pump,
        max_iterations=args.max_iterations,
    )
    print(
        f"soft iLQR: {plan.iterations} iterations in {plan.seconds:.1f} s "
        f"(converged: {plan.converged}), planner objective {float(plan.total_reward):.1f}"
    )
    env = gym.make("Pendulum-v1")
    env.reset(seed=0)
    env.unwrapped.state = np.array([np.pi, 0.0])  # hanging still
    x, total, angles = np.array([np.pi, 0.0]), 0.0, []
    for step in range(args.horizon):
        dx = np.array(x - plan.states[step])
        dx[0] = float(pendulum.angle_normalize(dx[0]))
        obs, r, *_ = env.step(np.asarray(plan.actions[step] + plan.K[step] @ dx))
        total += r
        x = np.array([np.arctan2(obs[1], obs[0]), obs[2]], dtype=np.float64)
        angles.append(x[0])
    upright = int(np.argmax(np.abs(np.array(angles)) < 0.1))
    print(f"gymnasium Pendulum-v1 return over {args.horizon} steps: {total:.1f}")
    print(f"upright (|theta| < 0.1) from step {upright}; final |theta| {abs(angles[-1]):.4f}")
    if args.figure:
        fig = swing_up_figure(angles, np.asarray(plan.states[1:, 0]), np.asarray(plan.actions))
        fig.savefig(args.figure, dpi=100)
        print(f"figure: {args.figure}")


if __name__ == "__main__":
    main(Args())
