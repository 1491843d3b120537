"""cai train | evaluate | resume: the learning agents (SAC, discrete SAC, soft Q-learning) on
gymnasium environments, with run directories, checkpoints and learning curves."""

from __future__ import annotations

import os
import sys

from ._io import UsageError, at_least, save_figure, table

SETTINGS = (
    "learning_rate",
    "batch_size",
    "buffer_size",
    "learning_starts",
    "gamma",
    "tau",
    "gradient_steps",
)


def add_parsers(sub) -> None:
    train_ = sub.add_parser(
        "train",
        help="train SAC, discrete SAC or soft Q-learning on a gymnasium environment",
        description="SAC (continuous actions), discrete SAC or soft Q-learning (discrete "
        "actions) in JAX on a gymnasium environment; logs to OUT/log.csv, checkpoints to OUT "
        "(atomically), Ctrl-C saves and exits. Defaults: rl-zoo's Pendulum-v1 settings for "
        "sac, CartPole-v1 settings for dsac/sql.",
    )
    train_.add_argument(
        "agent",
        choices=("sac", "dsac", "sql"),
        help="sac (continuous actions), dsac (discrete SAC) or sql (soft Q-learning)",
    )
    train_.add_argument("env_id", help="a gymnasium id, e.g. Pendulum-v1")
    train_.add_argument("--steps", type=int, default=20_000, help="environment steps")
    train_.add_argument("--seed", type=int, default=0, help="random seed")
    train_.add_argument("--out", default=None, help="run directory (default runs/AGENT-ENV-SEED)")
    train_.add_argument("--checkpoint-every", type=int, default=5000, help="steps")
    train_.add_argument(
        "--num-envs",
        type=int,
        default=1,
        help="environment copies stepped together (gymnasium SyncVectorEnv); each loop step "
        "stores num-envs transitions and makes --gradient-steps updates",
    )
    train_.add_argument("--gradient-steps", type=int, default=None, help="updates per loop step")
    train_.add_argument(
        "--temperature-loss",
        choices=("eq18", "log"),
        default=None,
        help="sac: Haarnoja et al.'s eq. 18 (default) or SB3's and SBX's log-alpha form",
    )
    train_.add_argument("--learning-rate", type=float, default=None)
    train_.add_argument("--batch-size", type=int, default=None)
    train_.add_argument("--buffer-size", type=int, default=None)
    train_.add_argument("--learning-starts", type=int, default=None)
    train_.add_argument("--gamma", type=float, default=None)
    train_.add_argument("--tau", type=float, default=None)
    train_.add_argument("--temperature", type=float, default=None, help="alpha (initial)")
    # the agents train in float32
    train_.set_defaults(handler=train, x64=False)
    evaluate_ = sub.add_parser(
        "evaluate", help="evaluate a training run's policy (deterministic) and plot its curve"
    )
    evaluate_.add_argument("run", help="run directory")
    evaluate_.add_argument("--episodes", type=int, default=10)
    evaluate_.add_argument("--plot", metavar="FILE.png", help="the learning curve")
    evaluate_.set_defaults(handler=evaluate, x64=False)
    resume_ = sub.add_parser("resume", help="continue a training run from its checkpoint")
    resume_.add_argument("run", help="run directory")
    resume_.add_argument("--steps", type=int, default=None, help="new total (default: planned)")
    resume_.set_defaults(handler=resume, x64=False)


def train(args) -> None:
    import jax

    from ..agents import DiscreteConfig, SACConfig
    from ..agents import train as train_agent

    at_least("--steps", args.steps, 1)
    at_least("--checkpoint-every", args.checkpoint_every, 1)
    at_least("--num-envs", args.num_envs, 1)
    settings = {k: getattr(args, k) for k in SETTINGS if getattr(args, k) is not None}
    if args.agent == "sac":
        if args.temperature is not None:
            settings["initial_temperature"] = args.temperature
        if args.temperature_loss is not None:
            settings["temperature_loss_form"] = args.temperature_loss
        config = SACConfig(**settings)
    else:
        if args.temperature_loss is not None:
            raise UsageError("--temperature-loss applies to sac only")
        if args.temperature is not None:
            settings["temperature"] = args.temperature
        config = DiscreteConfig(algorithm=args.agent, **settings)
    out = args.out or os.path.join("runs", f"{args.agent}-{args.env_id}-{args.seed}")
    result = train_agent(
        config,
        args.env_id,
        jax.random.key(args.seed),
        args.steps,
        out,
        args.checkpoint_every,
        args.seed,
        progress=sys.stderr.isatty(),
        num_envs=args.num_envs,
    )
    report(result, out, args.env_id)


def report(result, out: str, env_id: str) -> None:
    """After train or resume: the recent training returns and a deterministic evaluation."""
    import numpy as np

    from ..agents import evaluate_agent

    history = result.history
    if result.interrupted:
        print(
            f"interrupted at step {int(result.state.step)}: checkpoint saved in {out}; "
            f"continue with `cai resume {out}`"
        )
        return
    recent = np.mean([row["return"] for row in history[-10:]]) if history else float("nan")
    returns = evaluate_agent(result.state, env_id, 10)
    print(f"{env_id}: {int(result.state.step)} steps, {len(history)} episodes in {out}")
    print(
        table(
            [
                ("mean return, last 10 episodes", f"{recent:.1f}"),
                (
                    "deterministic evaluation (10 ep.)",
                    f"{returns.mean():.1f} +- {returns.std():.1f}",
                ),
            ]
        )
    )


def resume(args) -> None:
    import json

    from ..agents import resume as resume_run

    if args.steps is not None:
        at_least("--steps", args.steps, 1)
    result = resume_run(args.run, args.steps, progress=sys.stderr.isatty())
    with open(os.path.join(args.run, "config.json"), encoding="utf-8") as handle:
        env_id = json.load(handle)["env_id"]
    report(result, args.run, env_id)


def evaluate(args) -> None:
    from ..agents import evaluate_agent, load_run, read_log

    at_least("--episodes", args.episodes, 1)
    state, run = load_run(args.run)
    returns = evaluate_agent(state, run["env_id"], args.episodes)
    print(f"{args.run}: {run['env_id']}, step {int(state.step)}")
    print(
        table(
            [
                (
                    f"deterministic evaluation ({args.episodes} ep.)",
                    f"{returns.mean():.1f} +- {returns.std():.1f}",
                ),
            ]
        )
    )
    if args.plot:
        from ..plotting import plot_learning_curve

        history = read_log(args.run)
        if not history:
            raise UsageError(f"{args.run}/log.csv has no finished episodes to plot")
        save_figure(plot_learning_curve(history, f"{run['env_id']}: {args.run}"), args.plot)
