"""cai plan: closed-loop planning by sampling (MPPI or CEM) on gymnasium's Pendulum-v1."""

from __future__ import annotations

import os
import sys

from ._io import UsageError, at_least, save_figure, table, writing
from ._sizes import check_trajectories, finite_positive


def add_parsers(sub) -> None:
    plan = sub.add_parser(
        "plan",
        help="plan by sampling (MPPI/CEM) with a JAX model and act in gymnasium",
        description="Closed loop on gymnasium's Pendulum-v1 from the hanging state: every step "
        "plans with MPPI (importance-weighted samples of the trajectory posterior) or CEM on "
        "the JAX model and applies the first action with gymnasium's step.",
    )
    plan.add_argument("task", choices=("pendulum",), help="what to control")
    plan.add_argument(
        "--planner",
        choices=("mppi", "cem"),
        default="mppi",
        help="mppi (samples weighted by exp(return / temperature)) or cem (refits the "
        "sampling distribution to the best samples, the elites) (default: mppi)",
    )
    plan.add_argument(
        "--samples", type=int, default=1000, help="sampled action sequences (default: 1000)"
    )
    plan.add_argument("--horizon", type=int, default=15, help="planning horizon (default: 15)")
    plan.add_argument(
        "--temperature", type=float, default=None, help="mppi: alpha > 0 (default: 1)"
    )
    plan.add_argument(
        "--noise", type=float, default=10.0, help="action prior variance (default: 10)"
    )
    plan.add_argument("--adapt", action="store_true", help="mppi: adapt the sampling covariance")
    plan.add_argument("--steps", type=int, default=200, help="episode length (default: 200)")
    plan.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    plan.add_argument("--plot", metavar="FILE.png", help="angle, torque and cost over time")
    plan.add_argument(
        "--video", metavar="FILE.gif", help="gymnasium's rendering as a GIF (needs pygame)"
    )
    plan.set_defaults(handler=run, x64=True)


def _check_video() -> None:
    """Headless rendering, without pygame's greeting on stdout; a UsageError without pygame."""
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    try:
        import pygame  # noqa: F401
    except ImportError:
        raise UsageError(
            "--video renders with gymnasium, which needs pygame: "
            "pip install 'control-as-inference[video]'"
        ) from None


def run(args) -> None:
    import jax
    import numpy as np

    from ..mppi import pendulum_config, pendulum_episode, save_gif

    at_least("--steps", args.steps, 1)
    at_least("--samples", args.samples, 1)
    at_least("--horizon", args.horizon, 1)
    if args.planner == "cem":  # CEM refits to its elites: no temperature, its own covariance
        given = [f for f, v in (("--temperature", args.temperature), ("--adapt", args.adapt)) if v]
        if given:
            raise UsageError(f"{', '.join(given)} not read by --planner cem: leave out")
    args.temperature = 1.0 if args.temperature is None else args.temperature
    finite_positive("--temperature", args.temperature)
    finite_positive("--noise", args.noise)
    # the sampled action sequences and their rollouts of one planning step
    check_trajectories("--samples", args.samples, args.horizon)
    if args.video:
        _check_video()
    config = pendulum_config(
        args.samples,
        horizon=args.horizon,
        temperature=args.temperature,
        noise_cov=args.noise,
        adapt_covariance=args.adapt,
    )
    episode = pendulum_episode(
        config,
        jax.random.key(args.seed),
        args.steps,
        planner=args.planner,
        progress=sys.stderr.isatty(),
        render=bool(args.video),
        seed=args.seed,
    )
    angle = (episode.states[:, 0] + np.pi) % (2 * np.pi) - np.pi
    upright = np.abs(angle) < 0.1
    # the first step from which the pendulum stays within 0.1 rad of upright
    stays = np.flatnonzero(~upright)
    since = 0 if stays.size == 0 else int(stays[-1]) + 1
    temperature = f", temperature {args.temperature:g}" if args.planner == "mppi" else ""
    print(
        f"Pendulum-v1 from hanging, {args.planner}: {args.samples} samples, horizon "
        f"{args.horizon}{temperature}, noise variance {args.noise:g}"
    )
    print(
        table(
            [
                ("total cost", f"{episode.total_cost:.1f}"),
                (
                    "upright (|angle| < 0.1)",
                    f"from step {since} to the end" if since < len(angle) else "not at the end",
                ),
                ("planning time per step", f"{1e3 * np.median(episode.plan_seconds):.2f} ms"),
                ("effective sample size", f"{np.median(episode.effective_sample_size):.0f}"),
            ]
        )
    )
    if args.plot:
        from ..plotting import plot_episode

        save_figure(plot_episode(episode, planner=args.planner), args.plot)
    if args.video:
        with writing(args.video, (OSError, ValueError)) as tmp:
            save_gif(episode.frames, tmp, fps=20)
        print(f"video written to {args.video}")
