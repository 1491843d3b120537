"""The `cai` command.

    cai solve [ENV] [--temperature T] [--horizon H] [--method exact|variational] [--discount G]
    cai envs

Bad arguments and invalid models exit with code 2 and a one-line message.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

DEFAULT_ENV = "bridge"


class UsageError(Exception):
    """A problem with the command line, reported in one line with exit code 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cai", description="Optimal control as probabilistic inference."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    solve = sub.add_parser(
        "solve",
        help="infer the soft-optimal policy of an environment",
        description="Backward and forward messages of control as inference on ENV; prints the "
        "log evidence, the soft values at t = 0 and, for grids, the policy as arrows.",
    )
    solve.add_argument(
        "env", nargs="?", default=DEFAULT_ENV, help=f"environment name (default {DEFAULT_ENV})"
    )
    solve.add_argument("--temperature", type=float, default=1.0, help="alpha > 0 (default 1)")
    solve.add_argument("--horizon", type=int, default=30, help="number of steps H (default 30)")
    solve.add_argument(
        "--method",
        choices=("exact", "variational"),
        default="exact",
        help="exact (optimistic) or variational (maximum entropy RL) inference",
    )
    solve.add_argument("--discount", type=float, default=1.0, help="gamma in (0, 1] (default 1)")

    sub.add_parser("envs", help="list the built-in environments")
    return parser


def _load(name: str):
    from .envs import BUILTINS, builtin

    if name not in BUILTINS:
        raise UsageError(f"unknown environment {name!r}; try one of: {', '.join(BUILTINS)}")
    return builtin(name)


def _format_grid(grid: np.ndarray, width: int) -> str:
    return "\n".join("  " + " ".join(f"{cell:>{width}}" for cell in row) for row in grid)


def _solve(args) -> None:
    import control_as_inference as cai

    from .envs import ARROWS

    world = _load(args.env)
    mdp = world.mdp
    post = cai.infer(mdp, args.horizon, args.temperature, args.method, args.discount)
    v0 = np.asarray(post.v[0])
    start = float(np.asarray(mdp.initial) @ v0)
    print(
        f"{world.name}: {mdp.num_states} states, {mdp.num_actions} actions, slip {world.slip}; "
        f"horizon {args.horizon}, temperature {args.temperature}, method {args.method}, "
        f"discount {args.discount}"
    )
    label = "log evidence" if args.method == "exact" else "evidence lower bound"
    print(f"{label}: {float(post.log_evidence):.4f}")
    print(f"expected soft value at the start: {start:.4f}")

    values = world.to_grid(np.char.mod("%.1f", np.round(v0, 1) + 0.0).astype(object), fill="#")
    print("\nsoft values V_0(s):")
    print(_format_grid(values, max(len(str(x)) for x in values.ravel())))

    best = np.asarray(post.log_policy[0]).argmax(axis=1)
    arrows = np.array(ARROWS, dtype=object)[best]
    for s in world.goals:
        arrows[s] = "G"
    for s in world.lava:
        arrows[s] = "L"
    print("\nmost probable action at t = 0 (G goal, L lava, # wall):")
    print(_format_grid(world.to_grid(arrows, fill="#"), 1))


def _envs(_args) -> None:
    from .envs import BUILTINS

    for name, spec in BUILTINS.items():
        print(f"{name:16s} {spec['doc']}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `cai` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    import jax

    # The command line is an application: it may choose float64 for its own process.
    jax.config.update("jax_enable_x64", True)
    try:
        {"solve": _solve, "envs": _envs}[args.command](args)
    except (UsageError, ValueError) as error:
        print(f"cai {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
