"""cai train | evaluate | resume: the learning agents (SAC, discrete SAC, soft Q-learning, MPO)
on gymnasium environments, with run directories, checkpoints and learning curves."""

from __future__ import annotations

import math
import os
import sys

from ._io import UsageError, at_least, read_json, save_figure, table

SETTINGS = (
    "learning_rate",
    "batch_size",
    "buffer_size",
    "learning_starts",
    "gamma",
    "tau",
    "gradient_steps",
)
INT_SETTINGS = ("batch_size", "buffer_size", "learning_starts", "gradient_steps")


AGENT_DEFAULTS = {
    "learning_rate": ("0.001", "0.001"),
    "batch_size": ("256", "128"),
    "buffer_size": ("1000000", "100000"),
    "learning_starts": ("100", "1000"),
    "gamma": ("0.99", "0.99"),
    "tau": ("0.005", "0.01"),
    "gradient_steps": ("1", "1"),
    "temperature": ("1", "0.05"),
}
"""The defaults of SACConfig and DiscreteConfig (sac, then dsac and sql) shown in `cai train
--help`; written out so that the help needs no import of the library (tests/test_cli.py checks
them against the configs)."""

SETTING_HELP = {
    "learning_rate": "Adam step size of every network and of the temperature",
    "batch_size": "minibatch size of each update",
    "buffer_size": "replay buffer capacity",
    "learning_starts": "uniform random actions and no updates before this many steps",
    "gamma": "discount factor",
    "tau": "Polyak rate of the target critics",
    "gradient_steps": "updates per loop step",
    "temperature": "alpha (sac and dsac: the initial value, learned; sql: fixed)",
}


def default_text(name: str) -> str:
    """ "(default: sac X, dsac and sql Y)", or one value when they agree."""
    sac, discrete = AGENT_DEFAULTS[name]
    return f"(default: {sac})" if sac == discrete else f"(default: sac {sac}, dsac/sql {discrete})"


def add_parsers(sub) -> None:
    train_ = sub.add_parser(
        "train",
        help="train SAC, discrete SAC, soft Q-learning or MPO on a gymnasium environment",
        description="SAC (continuous actions), discrete SAC or soft Q-learning (discrete "
        "actions), or MPO (either) in JAX on a gymnasium environment; logs to OUT/log.csv, "
        "checkpoints to OUT (atomically), Ctrl-C saves and exits. Defaults: rl-zoo's "
        "Pendulum-v1 settings for sac, CartPole-v1 settings for dsac/sql.",
    )
    train_.add_argument(
        "agent",
        choices=("sac", "dsac", "sql", "mpo"),
        help="sac (continuous actions), dsac (discrete SAC), sql (soft Q-learning) or mpo "
        "(either kind of action; sac's defaults of the shared settings)",
    )
    train_.add_argument("env_id", help="a gymnasium id, e.g. Pendulum-v1")
    train_.add_argument(
        "--steps", type=int, default=20_000, help="environment steps (default: 20000)"
    )
    train_.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    train_.add_argument(
        "--out",
        default=None,
        help="run directory (default: runs/AGENT-ENV-SEED); an existing run there is refused "
        "unless --force",
    )
    train_.add_argument(
        "--force",
        action="store_true",
        help="start over in an --out that already holds a run (its log and checkpoint are lost)",
    )
    train_.add_argument(
        "--checkpoint-every",
        type=int,
        default=5000,
        help="environment steps between checkpoints (default: 5000)",
    )
    train_.add_argument(
        "--num-envs",
        type=int,
        default=1,
        help="environment copies stepped together (gymnasium SyncVectorEnv); each loop step "
        "stores num-envs transitions and makes --gradient-steps updates (default: 1)",
    )
    train_.add_argument(
        "--temperature-loss",
        choices=("eq18", "log"),
        default=None,
        help="sac: Haarnoja et al.'s eq. 18 or SB3's and SBX's log-alpha form (default: eq18)",
    )
    add_mpo_options(train_)
    for name in (*SETTINGS, "temperature"):
        train_.add_argument(
            "--" + name.replace("_", "-"),
            type=int if name in INT_SETTINGS else float,
            default=None,
            help=f"{SETTING_HELP[name]} {default_text(name)}",
        )
    # the agents train in float32
    train_.set_defaults(handler=train, x64=False)
    evaluate_ = sub.add_parser(
        "evaluate",
        help="evaluate a training run's policy (deterministic) and plot its curve",
        description="Loads the checkpoint of the run directory RUN with the run's own agent "
        "settings (its config.json) and plays --episodes episodes with the deterministic "
        "policy (SAC: the mean action; dsac and sql: the most probable action); --plot draws "
        "the learning curve from RUN/log.csv.",
    )
    evaluate_.add_argument("run", help="run directory")
    evaluate_.add_argument(
        "--episodes", type=int, default=10, help="evaluation episodes (default: 10)"
    )
    evaluate_.add_argument("--plot", metavar="FILE.png", help="the learning curve")
    evaluate_.set_defaults(handler=evaluate, x64=False)
    resume_ = sub.add_parser(
        "resume",
        help="continue a training run from its checkpoint",
        description="Continues the run directory RUN from its checkpoint with the run's own "
        "agent, environment and settings, as if it had never stopped, up to --steps "
        "environment steps in all (a new total, not steps to add).",
    )
    resume_.add_argument("run", help="run directory")
    resume_.add_argument(
        "--steps",
        type=int,
        default=None,
        help="the new total of environment steps (default: the run's planned total)",
    )
    resume_.set_defaults(handler=resume, x64=False)


def train(args) -> int:
    import jax

    from ..agents import DiscreteConfig, MPOConfig, SACConfig
    from ..agents import train as train_agent

    at_least("--steps", args.steps, 1)
    at_least("--checkpoint-every", args.checkpoint_every, 1)
    at_least("--num-envs", args.num_envs, 1)
    for name in (*SETTINGS, "temperature", *MPO_OPTIONS):  # the ranges: the configs check
        value = getattr(args, name)
        if isinstance(value, float) and not math.isfinite(value):
            flag = "--" + name.replace("_", "-")
            raise UsageError(f"{flag} must be a finite number, got {value:g}")
    settings = {k: getattr(args, k) for k in SETTINGS if getattr(args, k) is not None}
    mpo_settings = {k: getattr(args, k) for k in MPO_OPTIONS if getattr(args, k) is not None}
    if mpo_settings and args.agent != "mpo":
        raise UsageError(f"--{next(iter(mpo_settings)).replace('_', '-')} applies to mpo only")
    if args.agent == "mpo":
        if args.temperature is not None or args.temperature_loss is not None:
            raise UsageError(
                "--temperature and --temperature-loss do not apply to mpo (its temperature "
                "eta is solved from the KL bound --epsilon)"
            )
        mpo_settings.setdefault("policy", mpo_policy(args.env_id))
        config = MPOConfig(**settings, **mpo_settings)
    elif args.agent == "sac":
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
    if holds_run(out):
        if not args.force:
            step = checkpoint_step(out)
            at = "" if step is None else f" (at step {step})"
            raise UsageError(
                f"{out} already holds a run{at}: continue it with `cai resume {out}`, or pass "
                "--force to start over (its log and checkpoint are lost)"
            )
        for name in RUN_FILES:  # no checkpoint of the old run may outlive it
            if name != "config.json" and os.path.exists(os.path.join(out, name)):
                os.remove(os.path.join(out, name))
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
    return report(result, out, args.env_id, config)


MPO_OPTIONS = {
    "policy": (
        str,
        "gaussian (Box actions) or categorical (Discrete ones) (default: the environment's kind)",
    ),
    "num_samples": (int, "actions sampled per state for the E-step (default: 20)"),
    "epsilon": (float, "the E-step's KL bound, which sets the temperature eta (default: 0.1)"),
    "epsilon_mean": (
        float,
        "the M-step's KL bound on the Gaussian mean, or on the categorical policy (default: 0.01)",
    ),
    "epsilon_covariance": (
        float,
        "the M-step's KL bound on the Gaussian covariance (default: 0.0001)",
    ),
}
"""mpo's own options of `cai train` (type, help); the defaults are MPOConfig's."""


def add_mpo_options(parser) -> None:
    group = parser.add_argument_group("mpo options")
    for name, (kind, text) in MPO_OPTIONS.items():
        extra = {"choices": ("gaussian", "categorical")} if name == "policy" else {}
        group.add_argument(
            "--" + name.replace("_", "-"), type=kind, default=None, help=text, **extra
        )


def mpo_policy(env_id: str) -> str:
    """MPO's policy family for the environment's action space: categorical for a Discrete one,
    gaussian otherwise (`make_envs` then checks the space)."""
    import gymnasium as gym

    from ..envs import register_gymnasium as register

    register()
    try:
        env = gym.make(env_id)
    except Exception as error:  # gymnasium raises several types for unknown ids
        raise UsageError(f"env_id: cannot make {env_id!r}: {error}") from None
    discrete = isinstance(env.action_space, gym.spaces.Discrete)
    env.close()
    return "categorical" if discrete else "gaussian"


RUN_FILES = ("config.json", "log.csv", "checkpoint.eqx", "checkpoint.json")
INTERRUPTED = 130
"""The exit code after Ctrl-C (128 + SIGINT), as shells expect."""


def holds_run(out: str) -> bool:
    """Whether the directory holds (part of) a training run."""
    return any(os.path.exists(os.path.join(out, name)) for name in RUN_FILES)


def checkpoint_step(out: str) -> int | None:
    """The step of the run's checkpoint (checkpoint.json), None when there is none readable."""
    import json

    try:
        with open(os.path.join(out, "checkpoint.json"), encoding="utf-8") as handle:
            return int(json.load(handle)["step"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def report(result, out: str, env_id: str, config) -> int:
    """After train or resume: the recent training returns and a deterministic evaluation with
    the run's config; returns the exit code (`INTERRUPTED` after Ctrl-C)."""
    import numpy as np

    from ..agents import evaluate_agent

    history = result.history
    if result.interrupted:
        print(
            f"interrupted at step {int(result.state.step)}: checkpoint saved in {out}; "
            f"continue with `cai resume {out}`"
        )
        return INTERRUPTED
    if history:
        recent = f"{np.mean([row['return'] for row in history[-10:]]):.1f}"
    else:  # the mean of no return is not a number: say why there is none
        recent = "none: no episode ended (train for more steps)"
    returns = evaluate_agent(result.state, env_id, 10, config=config)
    print(f"{env_id}: {int(result.state.step)} steps, {len(history)} episodes in {out}")
    print(
        table(
            [
                (f"mean return, last {min(len(history), 10) or 10} episodes", recent),
                (
                    "deterministic evaluation (10 ep.)",
                    f"{returns.mean():.1f} +- {returns.std():.1f}",
                ),
            ]
        )
    )
    return 0


def resume(args) -> int:
    if args.steps is not None:
        at_least("--steps", args.steps, 1)
    config_path = os.path.join(args.run, "config.json")
    settings = read_json(config_path, f"{args.run} is not a run directory")
    step = checkpoint_step(args.run)
    total = settings.get("steps") if args.steps is None else args.steps
    if step is not None and isinstance(total, int) and step >= total:
        given = "its planned total" if args.steps is None else "--steps"
        raise UsageError(
            f"{args.run} is already at step {step}, not below {given} {total} (the new total, "
            f"not steps to add): nothing to do; give a total above {step} with --steps"
        )
    from ..agents import resume as resume_run
    from ..agents import run_config

    result = resume_run(args.run, args.steps, progress=sys.stderr.isatty())
    return report(result, args.run, settings["env_id"], run_config(settings))


def evaluate(args) -> None:
    from ..agents import evaluate_agent, load_run, read_log, run_config

    at_least("--episodes", args.episodes, 1)
    read_json(os.path.join(args.run, "config.json"), f"{args.run} is not a run directory")
    state, run = load_run(args.run)
    config = run_config(run)  # the run's own agent and settings, from its config.json
    returns = evaluate_agent(state, run["env_id"], args.episodes, config=config)
    agent = getattr(config, "algorithm", "sac")
    print(f"{args.run}: {run['env_id']}, {agent}, step {int(state.step)}")
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
        from ..plotting import AGENTS, plot_learning_curve

        history = read_log(args.run)
        if not history:
            raise UsageError(f"{args.run}/log.csv has no finished episodes to plot")
        name = getattr(config, "algorithm", "sac")  # dsac or sql, not the registry's "discrete"
        fig = plot_learning_curve(
            history,
            f"{AGENTS.get(name, name)} on {run['env_id']}: {args.run}",
            agent=name,
            learning_starts=run["config"].get("learning_starts"),
            evaluation=(int(state.step), returns),
        )
        save_figure(fig, args.plot)
