"""MPO against SAC on Pendulum-v1: ours (MPO and SAC, the same gymnasium loop) and SBX's SAC, at
equal environment steps and seeds; return curves (a figure) and steps per second.

Every run is its own process with XLA's Eigen pool off, pinned to one core when BENCH_CORE is set
(`os.sched_setaffinity`); --jobs runs that many at once (steps/s then share the machine).
All three use one set of shared settings: learning rate 1e-3, batch 256, buffer 1e6 (holds the
whole run), --learning-starts (100) random steps, gamma 0.99, tau 0.005, one update per step, the
same hidden widths (--hidden) for every network; SAC learns its temperature (ours: eq. 18; SBX:
its own).
MPO's own settings are MPOConfig's defaults unless given (--num-samples, --epsilon,
--epsilon-mean, --epsilon-covariance). Reported per run: steps/s over the whole run
(compilation included), the training episodes' returns (the curves) and the mean return of 10
deterministic episodes (reset seeds 1000-1009) at the end.

    python benchmarks/mpo.py                                   # 3 seeds x 15,000 steps
    python benchmarks/mpo.py --seeds 1 --steps 3000 --hidden 64,64   # quick
    python benchmarks/mpo.py --figure docs/mpo_pendulum.png
    python benchmarks/mpo.py --env HalfCheetah-v5 --steps 30000 --learning-starts 5000 \
        --json build/mpo_halfcheetah.json --figure docs/mpo_halfcheetah.png   # MuJoCo

SBX is optional (`pip install sbx-rl`); without it its rows say why they failed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

from _child import run_child

LIBRARIES = ("mpo", "sac", "sbx")
LABELS = {"mpo": "MPO (ours)", "sac": "SAC (ours)", "sbx": "SAC (SBX)"}
# one colour per learner, the same in every figure whatever order the runs finish in
COLORS = {"mpo": "tab:green", "sac": "tab:blue", "sbx": "tab:orange"}


def _evaluate(policy, env, episodes=10):
    import numpy as np

    returns = []
    for i in range(episodes):
        obs, _ = env.reset(seed=1000 + i)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(policy(obs))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


def child(
    library: str, seed: int, steps: int, env_id: str, hidden: tuple, mpo: dict, learning_starts: int
) -> dict:
    if "BENCH_CORE" in os.environ:  # one core per run (a quiet machine, --jobs 1)
        os.sched_setaffinity(0, {int(os.environ["BENCH_CORE"])})
    os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false"
    shared = dict(
        learning_rate=1e-3, batch_size=256, learning_starts=learning_starts, gamma=0.99, tau=0.005
    )
    if library in ("mpo", "sac"):
        import jax

        from control_as_inference.agents import MPOConfig, SACConfig, evaluate_agent, train

        settings = dict(shared, buffer_size=max(steps, 256), hidden=hidden)
        config = MPOConfig(**settings, **mpo) if library == "mpo" else SACConfig(**settings)
        start = time.perf_counter()
        result = train(config, env_id, jax.random.key(seed), steps, seed=seed, progress=False)
        seconds = time.perf_counter() - start
        curve = [(int(r["step"]), float(r["return"])) for r in result.history]
        final = float(evaluate_agent(result.state, env_id, 10).mean())
        return {"steps_per_s": steps / seconds, "curve": curve, "return": final}

    import gymnasium as gym
    import numpy as np
    from sbx import SAC
    from stable_baselines3.common.monitor import Monitor

    env = Monitor(gym.make(env_id))
    model = SAC(
        "MlpPolicy",
        env,
        buffer_size=1_000_000,
        seed=seed,
        verbose=0,
        policy_kwargs={"net_arch": list(hidden)},
        **shared,
    )
    start = time.perf_counter()
    model.learn(steps)
    seconds = time.perf_counter() - start
    ends = np.cumsum(env.get_episode_lengths())
    curve = [(int(s), float(r)) for s, r in zip(ends, env.get_episode_rewards(), strict=True)]
    final = _evaluate(lambda o: model.predict(o, deterministic=True)[0], gym.make(env_id))
    return {"steps_per_s": steps / seconds, "curve": curve, "return": final}


def _figure(curves: dict, path: str, title: str) -> None:
    """Mean training return over the seeds against environment steps, the band min to max."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for library in sorted(curves, key=LIBRARIES.index):
        runs = curves[library]
        length = min(len(c) for c in runs)
        steps = np.array([s for s, _ in runs[0][:length]])
        returns = np.array([[r for _, r in c[:length]] for c in runs])
        color = COLORS[library]
        label = f"{LABELS[library]} ({len(runs)} seeds)"
        ax.plot(steps, returns.mean(0), color=color, label=label)
        ax.fill_between(steps, returns.min(0), returns.max(0), color=color, alpha=0.2)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("training episode return")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best")  # where it covers the fewest curves
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--libraries", default=",".join(LIBRARIES))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed, ...")
    parser.add_argument(
        "--merge",
        nargs="+",
        default=None,
        help="no runs: the summary (and --figure) of these --json files together",
    )
    parser.add_argument("--steps", type=int, default=15_000)
    parser.add_argument("--env", default="Pendulum-v1")
    parser.add_argument("--hidden", default="256,256", help="widths of every network's layers")
    parser.add_argument(
        "--learning-starts", type=int, default=100, help="random-action steps before updates"
    )
    for name in ("num_samples", "epsilon", "epsilon_mean", "epsilon_covariance"):
        kind = int if name == "num_samples" else float
        parser.add_argument("--" + name.replace("_", "-"), type=kind, default=None)
    parser.add_argument("--figure", default=None, help="the return curves (PNG)")
    parser.add_argument("--json", default=None, help="all results (curves included)")
    parser.add_argument("--jobs", type=int, default=1, help="runs at once")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    hidden = tuple(int(h) for h in args.hidden.split(","))
    mpo_keys = ("num_samples", "epsilon", "epsilon_mean", "epsilon_covariance")
    mpo = {k: getattr(args, k) for k in mpo_keys if getattr(args, k) is not None}
    if args.merge:  # the settings are the files', and must agree
        loaded = []
        for path in args.merge:
            with open(path, encoding="utf-8") as handle:
                loaded.append((path, json.load(handle)))
        same = ("env", "steps", "hidden", "learning_starts", *mpo_keys)
        first = loaded[0][1]["args"]
        for path, data in loaded[1:]:
            differ = [k for k in same if data["args"].get(k) != first.get(k)]
            if differ:
                parser.error(f"--merge: {path} differs from {args.merge[0]} in {differ}")
        for k in same:
            setattr(args, k, first.get(k))
        hidden = tuple(int(h) for h in args.hidden.split(","))
        mpo = {k: first[k] for k in mpo_keys if first.get(k) is not None}
    if args.child:
        outcome = child(
            args.child, args.seed, args.steps, args.env, hidden, mpo, args.learning_starts
        )
        print(json.dumps(outcome))
        return 0
    print(
        f"{args.env}, {args.steps} steps, hidden {hidden}, MPO settings {mpo or 'defaults'}, "
        f"one core per run ({os.cpu_count()} on the machine)"
    )
    print(f"{'library':12s} {'seed':>4s} {'steps/s':>8s} {'last 5 ep.':>11s} {'eval return':>12s}")
    results = {}
    mpo_args = [x for k, v in mpo.items() for x in ("--" + k.replace("_", "-"), v)]
    libraries = args.libraries.split(",")
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    runs = [] if args.merge else [(library, seed) for seed in seeds for library in libraries]
    for path, data in loaded if args.merge else ():
        for library, rows in data["results"].items():
            if library not in libraries:
                continue
            have = {r.get("seed") for r in results.get(library, [])} - {None}
            twice = have & {r.get("seed") for r in rows}
            if twice:
                parser.error(f"--merge: {path} repeats {library}'s seeds {sorted(twice)}")
            results.setdefault(library, []).extend(rows)

    def write_json():
        if args.json:  # atomically: an interrupt mid-write keeps the previous file
            with open(args.json + ".tmp", "w", encoding="utf-8") as handle:
                json.dump({"args": vars(args), "results": results}, handle)
            os.replace(args.json + ".tmp", args.json)

    def one(run):
        library, seed = run
        return run_child(
            __file__,
            library,
            *("--seed", seed, "--steps", args.steps, "--env", args.env),
            *("--hidden", args.hidden, "--learning-starts", args.learning_starts, *mpo_args),
        )

    # Each run is printed (and the JSON rewritten) as it finishes: an interrupted sweep keeps them.
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = {pool.submit(one, run): run for run in runs}
        for future in as_completed(futures):
            (library, seed), (r, error) = futures[future], future.result()
            if error:
                print(f"{library:12s} {seed:4d}  failed: {error}", flush=True)
                continue
            results.setdefault(library, []).append({"seed": seed, **r})
            last = statistics.mean(ret for _, ret in r["curve"][-5:])
            print(
                f"{library:12s} {seed:4d} {r['steps_per_s']:8.1f} {last:11.1f} {r['return']:12.1f}",
                flush=True,
            )
            write_json()
    if args.merge:
        write_json()
    print()
    for library, rows in results.items():
        finals = [r["return"] for r in rows]
        spread = statistics.stdev(finals) if len(finals) > 1 else float("nan")
        rate = statistics.median(r["steps_per_s"] for r in rows)
        print(
            f"{LABELS[library]:12s} median steps/s {rate:7.1f}, eval return "
            f"{statistics.mean(finals):7.1f} +- {spread:5.1f} (mean +- sd over seeds)"
        )
    if args.figure and results:
        title = f"{args.env}: MPO and SAC, {args.steps} steps, hidden {args.hidden}"
        _figure({k: [r["curve"] for r in v] for k, v in results.items()}, args.figure, title)
    return 0


if __name__ == "__main__":
    sys.exit(main())
