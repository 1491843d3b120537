"""Discrete actions on CartPole-v1: our discrete SAC and soft Q-learning beside stable-baselines3's
DQN (rl-zoo's CartPole-v1 hyperparameters), one core each, 3 seeds, a budget of 50,000 steps.

For each run: wall time, steps/s, and the first evaluation point (every 5,000 steps and at the
end of the budget, 10 deterministic episodes) at which the mean return reaches 475 ("solved"),
and the final evaluation.

    python benchmarks/discrete.py
    python benchmarks/discrete.py --steps 2000 --seeds 1 --eval-every 1000   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from _child import run_child

EVAL_EVERY = 5000


def evaluation_points(steps: int, every: int) -> list[int]:
    """Every `every` steps, and at the end of the budget."""
    points = list(range(every, steps + 1, every))
    return points if points and points[-1] == steps else [*points, steps]


def child(library: str, seed: int, steps: int, every: int) -> dict:
    os.sched_setaffinity(0, {int(os.environ.get("BENCH_CORE", "1"))})
    os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false"
    import numpy as np

    points = evaluation_points(steps, every)
    evals = []
    start = time.perf_counter()
    if library in ("dsac", "sql"):
        import jax

        from control_as_inference.agents import DiscreteConfig, evaluate_agent, resume, train

        out = f"/tmp/bench-discrete-{library}-{seed}"
        train(
            DiscreteConfig(algorithm=library),
            "CartPole-v1",
            jax.random.key(seed),
            points[0],
            out=out,
            seed=seed,
            progress=False,
        )
        evaluation_time = 0.0
        for done in points:
            if done > points[0]:
                result = resume(out, steps=done, progress=False)
            else:
                from control_as_inference.agents import load_run

                result = type("R", (), {"state": load_run(out)[0]})
            t = time.perf_counter()
            evals.append((done, float(np.mean(evaluate_agent(result.state, "CartPole-v1", 10)))))
            evaluation_time += time.perf_counter() - t
        seconds = time.perf_counter() - start - evaluation_time
    else:
        import gymnasium as gym
        import torch
        from stable_baselines3 import DQN
        from stable_baselines3.common.evaluation import evaluate_policy

        torch.set_num_threads(1)
        env = gym.make("CartPole-v1")
        model = DQN(
            "MlpPolicy",
            env,
            learning_rate=2.3e-3,
            batch_size=64,
            buffer_size=100_000,
            learning_starts=1000,
            gamma=0.99,
            target_update_interval=10,
            train_freq=256,
            gradient_steps=128,
            exploration_fraction=0.16,
            exploration_final_eps=0.04,
            policy_kwargs={"net_arch": [256, 256]},
            seed=seed,
            verbose=0,
        )
        evaluation_time = 0.0
        previous = 0
        for done in points:
            model.learn(done - previous, reset_num_timesteps=False)
            previous = done
            t = time.perf_counter()
            mean, _ = evaluate_policy(model, gym.make("CartPole-v1"), 10, deterministic=True)
            evals.append((done, float(mean)))
            evaluation_time += time.perf_counter() - t
        seconds = time.perf_counter() - start - evaluation_time
    solved = next((step for step, value in evals if value >= 475), None)
    return {
        "seconds": seconds,
        "steps_per_s": steps / seconds,
        "solved_at": solved,
        "final": evals[-1][1],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--libraries", default="dsac,sql,sb3-dqn")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--eval-every", type=int, default=EVAL_EVERY, help="steps")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.steps < 1 or args.eval_every < 1:
        parser.error("--steps and --eval-every must be >= 1")
    if args.child:
        print(json.dumps(child(args.child, args.seed, args.steps, args.eval_every)))
        return 0
    print(
        f"CartPole-v1, budget {args.steps} steps, evaluation every {args.eval_every} and at the "
        "end, one core"
    )
    print(
        f"{'library':8s} {'seed':>4s} {'seconds':>8s} {'steps/s':>8s} {'solved at':>10s} "
        f"{'final':>7s}"
    )
    for library in args.libraries.split(","):
        for seed in range(args.seeds):
            r, error = run_child(
                __file__,
                library,
                *("--seed", seed, "--steps", args.steps, "--eval-every", args.eval_every),
            )
            if error:
                print(f"{library:8s} {seed:4d} failed: {error}")
                continue
            solved = "-" if r["solved_at"] is None else str(r["solved_at"])
            print(
                f"{library:8s} {seed:4d} {r['seconds']:8.1f} {r['steps_per_s']:8.0f} "
                f"{solved:>10s} {r['final']:7.1f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
