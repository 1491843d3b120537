"""MPPI on gymnasium's Pendulum-v1: ours (JAX) and pytorch_mppi side by side, one thread each.

Both planners use the same settings (horizon 15, temperature 1, noise variance 10, torque bounds
+-2), the same model (gymnasium's own equations: ours in `envs.pendulum`, pytorch_mppi's written
here in torch), the same cost (Pendulum-v1's state cost on the states x_1..x_H; ours counts it as
the reward of x_0..x_{H-1} plus a terminal reward on x_H, which differs only by the constant x_0)
and act in the real Pendulum-v1 from the hanging state (theta = pi, theta_dot = 0) for 200 steps.
We report the total cost (-sum of gymnasium's rewards) and the planning time per step (median
over the 200 steps, compilation excluded), per seed, then medians and ratios. Ours runs once per
noise mode (`MPPIConfig(noise=...)`: plain, antithetic) for the cost at equal samples; per seed
the runs alternate (ours in each mode, then pytorch_mppi) so that load on a shared machine hits
all alike. Then the sampler alone: (10000, 15) float32 standard normals from
`jax.random.normal`, ours (`_core.standard_normal`, Box-Muller on the bits) and the raw bits
(`jax.random.bits`), compiled, interleaved, median of many calls, beside torch.randn.

    python benchmarks/mppi.py            # 1000 and 10000 samples, 5 seeds (RESULTS.md)
    python benchmarks/mppi.py --quick    # 1000 samples, 2 seeds
    python benchmarks/mppi.py --sampler-only

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
    parser.add_argument("--noise", default="plain,antithetic", help="our noise modes")
    parser.add_argument("--sampler-only", action="store_true", help="the sampler benchmark only")
    parser.add_argument("--calls", type=int, default=300, help="sampler calls per generator")
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


def ours(num_samples, seed, noise="plain"):
    dtype = "float32" if ARGS.float32 else "float64"
    config = pendulum_config(num_samples, dtype=dtype, noise=noise)
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
    print(f"load average before: {_load()}")
    if not ARGS.sampler_only:
        planners(peer)
    sampler()
    print(f"load average after: {_load()}")


def _load():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def planners(peer):
    samples = [1000] if ARGS.quick else [int(n) for n in ARGS.samples.split(",")]
    seeds = range(2 if ARGS.quick else ARGS.seeds)
    modes = [m for m in ARGS.noise.split(",") if m]
    for n in samples:
        rows = {f"ours {m}": [] for m in modes} | {"pytorch_mppi": []}
        for seed in seeds:
            for m in modes:
                rows[f"ours {m}"].append(ours(n, seed, m))
            if peer:
                rows["pytorch_mppi"].append(theirs(n, seed))
        print(f"{n} samples")
        for name, results in rows.items():
            if not results:
                continue
            costs = [c for c, _ in results]
            ms = [1e3 * t for _, t in results]
            print(
                f"  {name:17s} cost per seed {' '.join(f'{c:6.1f}' for c in costs)}   median "
                f"{statistics.median(costs):6.1f}   ms/step per seed "
                f"{' '.join(f'{t:5.2f}' for t in ms)}   median {statistics.median(ms):5.2f}"
            )
        if rows["pytorch_mppi"]:
            their_ms = statistics.median(t for _, t in rows["pytorch_mppi"])
            their_cost = statistics.median(c for c, _ in rows["pytorch_mppi"])
            for m in modes:
                ours_ms = statistics.median(t for _, t in rows[f"ours {m}"])
                ours_cost = statistics.median(c for c, _ in rows[f"ours {m}"])
                print(
                    f"  ours {m}: time ratio pytorch_mppi / ours {their_ms / ours_ms:.2f}x;"
                    f" median cost {ours_cost:.1f} vs {their_cost:.1f}"
                )
        print()


def sampler(shape=(10000, 15)):
    """Median seconds per call of each generator, compiled, interleaved call by call."""
    import jax.numpy as jnp

    from control_as_inference._core import standard_normal

    generators = {
        "jax.random.normal": jax.jit(lambda k: jax.random.normal(k, shape, jnp.float32)),
        "ours (Box-Muller)": jax.jit(lambda k: standard_normal(k, shape)),
        "jax.random.bits": jax.jit(lambda k: jax.random.bits(k, shape, jnp.uint32)),
    }
    key = jax.random.key(0)
    for f in generators.values():
        jax.block_until_ready(f(key))
    try:
        import torch

        torch.set_num_threads(ARGS.threads)
        generators["torch.randn"] = lambda k: torch.randn(shape, dtype=torch.float32)
    except ImportError:
        pass
    times = {name: [] for name in generators}
    for _ in range(ARGS.calls):
        for name, f in generators.items():
            start = time.perf_counter()
            jax.block_until_ready(f(key))
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["jax.random.normal"])
    print(f"sampler: {shape} float32 standard normals, median of {ARGS.calls} calls")
    for name, t in times.items():
        ms = 1e3 * statistics.median(t)
        print(f"  {name:20s} {ms:6.3f} ms   {base / statistics.median(t):5.2f}x jax.random.normal")


if __name__ == "__main__":
    sys.exit(main())
