"""MPPI on gymnasium's Pendulum-v1: ours (JAX) and pytorch_mppi side by side, one thread each.

Both planners use the same settings (horizon 15, temperature 1, noise variance 10, torque bounds
+-2), the same model (gymnasium's own equations: ours in `envs.pendulum`, pytorch_mppi's written
here in torch), the same cost (Pendulum-v1's state cost on the states x_1..x_H; ours counts it as
the reward of x_0..x_{H-1} plus a terminal reward on x_H, which differs only by the constant x_0)
and act in the real Pendulum-v1 from the hanging state (theta = pi, theta_dot = 0) for 200 steps.
We report the total cost (-sum of gymnasium's rewards) and the planning time per step (median
over the 200 steps, compilation excluded), per seed, then medians and ratios.

    python benchmarks/mppi.py            # 1000 and 10000 samples, 5 seeds (RESULTS.md)
    python benchmarks/mppi.py --quick    # 1000 samples, 2 seeds

pytorch_mppi is optional (pip install torch==2.13.0 pytorch_mppi).
"""

from __future__ import annotations

import argparse
import os
import sys


def _arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1000 samples, 2 seeds")
    parser.add_argument("--threads", type=int, default=1, help="threads for every library")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--samples", default="1000,10000", help="comma-separated sample counts")
    parser.add_argument("--float32", action="store_true", help="run ours in float32")
    return parser.parse_args()


ARGS = _arguments() if __name__ == "__main__" else None
if ARGS is not None:  # thread counts must be fixed before numpy, scipy, torch or jax load
    from _threads import limit_threads

    limit_threads(ARGS.threads)

import math  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import gymnasium as gym  # noqa: E402
import jax  # noqa: E402
import numpy as np  # noqa: E402

from control_as_inference.mppi import pendulum_config, pendulum_episode  # noqa: E402

HANGING = (math.pi, 0.0)
STEPS = 200


def theirs(num_samples, seed):
    import torch
    from pytorch_mppi import MPPI

    torch.set_num_threads(ARGS.threads)
    torch.manual_seed(seed)
    dtype = torch.float64

    def dynamics(state, u):  # gymnasium Pendulum-v1, batched
        th, thdot = state[:, 0], state[:, 1]
        u = torch.clamp(u[:, 0], -2.0, 2.0)
        newthdot = torch.clamp(thdot + (15.0 * torch.sin(th) + 3.0 * u) * 0.05, -8.0, 8.0)
        return torch.stack([th + newthdot * 0.05, newthdot], dim=1)

    def running_cost(state, action):
        theta = ((state[:, 0] + math.pi) % (2 * math.pi)) - math.pi
        return theta**2 + 0.1 * state[:, 1] ** 2

    planner = MPPI(
        dynamics,
        running_cost,
        2,
        torch.tensor(10.0, dtype=dtype),
        num_samples=num_samples,
        horizon=15,
        lambda_=1.0,
        u_min=torch.tensor([-2.0], dtype=dtype),
        u_max=torch.tensor([2.0], dtype=dtype),
    )
    env = gym.make("Pendulum-v1")
    env.reset(seed=seed)
    env.unwrapped.state = np.array(HANGING)
    planner.command(torch.tensor(env.unwrapped.state, dtype=dtype))  # warm-up, as ours
    planner.reset()
    total, seconds = 0.0, []
    for _ in range(STEPS):
        state = torch.tensor(env.unwrapped.state, dtype=dtype)
        start = time.perf_counter()
        action = planner.command(state).numpy()
        seconds.append(time.perf_counter() - start)
        _, reward, *_ = env.step(action)
        total -= reward
    env.close()
    return total, statistics.median(seconds)


def ours(num_samples, seed):
    dtype = "float32" if ARGS.float32 else "float64"
    config = pendulum_config(num_samples, dtype=dtype)
    episode = pendulum_episode(config, jax.random.key(seed), STEPS, HANGING, seed=seed)
    return episode.total_cost, float(np.median(episode.plan_seconds))


def main():
    jax.config.update("jax_enable_x64", not ARGS.float32)
    try:
        import pytorch_mppi  # noqa: F401
        import torch

        peer = f"pytorch_mppi, torch {torch.__version__}"
    except ImportError as error:
        peer = None
        print(f"(pytorch_mppi not available: {error}; ours only)")
    print(
        f"machine: {platform.machine()} {os.cpu_count()} cores, {ARGS.threads} thread(s); "
        f"jax {jax.__version__}; {peer or ''}"
    )
    print(f"Pendulum-v1 from hanging, {STEPS} steps, horizon 15, temperature 1, noise var 10\n")
    samples = [1000] if ARGS.quick else [int(n) for n in ARGS.samples.split(",")]
    seeds = range(2 if ARGS.quick else ARGS.seeds)
    for n in samples:
        rows = {"ours": [], "pytorch_mppi": []}
        for seed in seeds:
            rows["ours"].append(ours(n, seed))
            if peer:
                rows["pytorch_mppi"].append(theirs(n, seed))
        print(f"{n} samples")
        for name, results in rows.items():
            if not results:
                continue
            costs = [c for c, _ in results]
            ms = [1e3 * t for _, t in results]
            print(
                f"  {name:13s} cost per seed {' '.join(f'{c:6.1f}' for c in costs)}   median "
                f"{statistics.median(costs):6.1f}   ms/step per seed "
                f"{' '.join(f'{t:5.2f}' for t in ms)}   median {statistics.median(ms):5.2f}"
            )
        if rows["pytorch_mppi"]:
            ours_ms = statistics.median(t for _, t in rows["ours"])
            their_ms = statistics.median(t for _, t in rows["pytorch_mppi"])
            ours_cost = statistics.median(c for c, _ in rows["ours"])
            their_cost = statistics.median(c for c, _ in rows["pytorch_mppi"])
            print(
                f"  planning time ratio pytorch_mppi / ours: {their_ms / ours_ms:.2f}x; "
                f"median cost ours {ours_cost:.1f} vs {their_cost:.1f}\n"
            )


if __name__ == "__main__":
    sys.exit(main())
