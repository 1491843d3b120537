"""SAC on Pendulum-v1: ours, stable-baselines3 and SBX side by side, one core each.

rl-zoo's Pendulum-v1 hyperparameters for all three (learning rate 1e-3, 20,000 steps, batch 256,
buffer 1e6, learning starts 100, gamma 0.99, tau 0.005, automatic temperature, two hidden
layers of 256), seeds 0-2, each run in its own process pinned to one core (`os.sched_setaffinity`)
with one torch thread and XLA's Eigen pool off. Reported per run: steps/s over the whole run
(compilation included) and over its second half (steady state), and the mean return of 10
deterministic evaluation episodes. Then our fully jitted path on the JAX pendulum: one seed, and
eight seeds under `jax.vmap` (aggregate steps/s); with gymnax installed (`ours-gymnax`), the same
jitted loop on gymnax's Pendulum-v1.

    python benchmarks/sac.py                    # everything (about 25 minutes)
    python benchmarks/sac.py --libraries ours --seeds 1 --steps 5000    # quick
    python benchmarks/sac.py --env HalfCheetah-v5 --libraries ours,sb3,sbx --seeds 1 \
        --steps 20000 --learning-starts 10000 --learning-rate 3e-4   # MuJoCo steps/s
    python benchmarks/sac.py --libraries ours,sbx,sb3 --num-envs 4   # vectorised environments

With --num-envs N every library steps N copies of the environment together (ours: gymnasium's
SyncVectorEnv; SB3 and SBX: their DummyVecEnv) and makes --gradient-steps updates (default 1)
per step of the N copies; steps count environment steps (transitions) for all.

SB3 and SBX are optional (the `peers` extra, and `pip install sbx-rl`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

from _child import run_child


def child(
    library: str,
    seed: int,
    steps: int,
    env_id: str,
    learning_starts: int,
    learning_rate: float,
    num_envs: int = 1,
    gradient_steps: int = 1,
    temperature_loss_form: str = "eq18",
) -> dict:
    os.sched_setaffinity(0, {int(os.environ.get("BENCH_CORE", "0"))})
    os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false"
    import numpy as np

    if library in ("ours", "ours-jitted", "ours-jitted-8", "ours-gymnax"):
        import jax

        from control_as_inference.agents import SACConfig, evaluate_agent, train
        from control_as_inference.agents.jax_train import from_gymnax, make_train, pendulum_env

        if library == "ours":
            start = time.perf_counter()
            config = SACConfig(
                learning_starts=learning_starts,
                learning_rate=learning_rate,
                gradient_steps=gradient_steps,
                temperature_loss_form=temperature_loss_form,
            )
            result = train(
                config,
                env_id,
                jax.random.key(seed),
                steps,
                seed=seed,
                progress=False,
                num_envs=num_envs,
            )
            total = time.perf_counter() - start
            history = result.history
            half = next((r for r in history if r["step"] >= steps // 2), history[0])
            span = history[-1]["seconds"] - half["seconds"]
            moved = history[-1]["step"] - half["step"]  # 0 when every copy ends together
            steady = moved / span if span > 0 and moved > 0 else float("nan")
            returns = evaluate_agent(result.state, env_id, 10)
            return {
                "steps_per_s": steps / total,
                "steady": steady,
                "return": float(np.mean(returns)),
            }
        seeds = 8 if library == "ours-jitted-8" else 1
        config = SACConfig(
            buffer_size=steps,
            gradient_steps=gradient_steps,
            temperature_loss_form=temperature_loss_form,
        )
        if library == "ours-gymnax":  # gymnax's Pendulum-v1 in the same jitted loop
            import gymnax

            env = from_gymnax(*gymnax.make("Pendulum-v1"))
        else:
            env = pendulum_env()
        run = make_train(config, env, steps, num_envs)
        keys = jax.random.split(jax.random.key(seed), seeds)
        if seeds == 1:  # one seed without vmap
            keys = keys[0]
            function = jax.jit(lambda key: jax.tree_util.tree_map(lambda x: x[None], run(key)))
        else:
            function = jax.jit(jax.vmap(run))
        start = time.perf_counter()
        compiled = function.lower(keys).compile()
        compile_s = time.perf_counter() - start
        start = time.perf_counter()
        states, _ = jax.block_until_ready(compiled(keys))
        seconds = time.perf_counter() - start
        means = []
        for i in range(seeds):
            state = jax.tree_util.tree_map(lambda x, i=i: x[i], states)
            means.append(float(np.mean(evaluate_agent(state, "Pendulum-v1", 10))))
        return {
            "steps_per_s": seeds * steps / (seconds + compile_s),
            "steady": seeds * steps / seconds,
            "return": float(np.mean(means)),
            "compile_s": compile_s,
        }

    import gymnasium as gym
    import torch

    torch.set_num_threads(1)
    if library == "sb3":
        from stable_baselines3 import SAC
    else:
        from sbx import SAC
    from stable_baselines3.common.env_util import make_vec_env

    env = gym.make(env_id)
    model = SAC(
        "MlpPolicy",
        make_vec_env(env_id, n_envs=num_envs, seed=seed) if num_envs > 1 else env,
        gradient_steps=gradient_steps,
        learning_rate=learning_rate,
        batch_size=256,
        buffer_size=1_000_000,
        learning_starts=learning_starts,
        gamma=0.99,
        tau=0.005,
        seed=seed,
        verbose=0,
    )
    start = time.perf_counter()
    model.learn(steps // 2)
    middle = time.perf_counter()
    model.learn(steps - steps // 2, reset_num_timesteps=False)
    end = time.perf_counter()
    returns = []
    for i in range(10):
        obs, _ = env.reset(seed=1000 + i)
        total, done = 0.0, False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return {
        "steps_per_s": steps / (end - start),
        "steady": (steps - steps // 2) / (end - middle),
        "return": float(np.mean(returns)),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--libraries", default="ours,sb3,sbx,ours-jitted,ours-jitted-8")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--env", default="Pendulum-v1", help="gymnasium id (e.g. HalfCheetah-v5)")
    parser.add_argument("--learning-starts", type=int, default=100)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--num-envs", type=int, default=1, help="environment copies per step")
    parser.add_argument("--gradient-steps", type=int, default=1, help="updates per step")
    parser.add_argument(
        "--temperature-loss",
        choices=("eq18", "log"),
        default="eq18",
        help="our temperature loss: eq. 18 or SB3's and SBX's log-alpha form",
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(
            json.dumps(
                child(
                    args.child,
                    args.seed,
                    args.steps,
                    args.env,
                    args.learning_starts,
                    args.learning_rate,
                    args.num_envs,
                    args.gradient_steps,
                    args.temperature_loss,
                )
            )
        )
        return 0
    print(
        f"{args.env}, {args.steps} steps (learning from {args.learning_starts}), "
        f"{args.num_envs} environment copies and {args.gradient_steps} updates per step, one "
        f"core per run ({os.cpu_count()} on the machine)"
    )
    print(f"{'library':15s} {'seed':>4s} {'steps/s':>8s} {'steady':>8s} {'eval return':>12s}")
    summary = {}
    for library in args.libraries.split(","):
        seeds = [0] if library == "ours-jitted-8" else range(args.seeds)
        for seed in seeds:
            r, error = run_child(
                __file__,
                library,
                *("--seed", seed, "--steps", args.steps, "--env", args.env),
                *("--learning-starts", args.learning_starts, "--learning-rate", args.learning_rate),
                *("--num-envs", args.num_envs, "--gradient-steps", args.gradient_steps),
                *("--temperature-loss", args.temperature_loss),
            )
            if error:
                print(f"{library:15s} {seed:4d}  failed: {error}")
                break
            summary.setdefault(library, []).append(r)
            print(
                f"{library:15s} {seed:4d} {r['steps_per_s']:8.1f} {r['steady']:8.1f} "
                f"{r['return']:12.1f}",
                flush=True,
            )
    print()
    for library, rows in summary.items():
        rate = statistics.median(r["steps_per_s"] for r in rows)
        steady = statistics.median(r["steady"] for r in rows)
        ret = statistics.mean(r["return"] for r in rows)
        line = (
            f"{library:15s} median steps/s {rate:7.1f} (steady {steady:7.1f}), "
            f"mean return {ret:7.1f}"
        )
        if "sb3" in summary and library != "sb3":
            base = statistics.median(r["steps_per_s"] for r in summary["sb3"])
            line += f", {rate / base:.2f}x SB3"
        if "sbx" in summary and library not in ("sbx", "sb3"):
            base = statistics.median(r["steps_per_s"] for r in summary["sbx"])
            line += f", {rate / base:.2f}x SBX"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
