"""cai sweep: a grid of solve or MPPI runs as Ray tasks, printed as one table."""

from __future__ import annotations

import math
import sys

from ._io import UsageError, at_least, numbers, save_figure, writing
from .tabular import DEFAULT_ENV


def add_parsers(sub) -> None:
    sweep = sub.add_parser(
        "sweep",
        help="a grid of runs as Ray tasks, collected into one table and figure",
        description="Fans out every combination of the listed values as Ray tasks (a local Ray "
        "instance started on demand, or the cluster at --address) and writes one row per run; "
        "a run that fails is reported with its error. Needs the `distributed` extra (ray). "
        "Recent Ray releases protect a local instance with a token that Ray writes to "
        "~/.ray/auth_token on first use (RAY_AUTH_TOKEN_PATH names another file, "
        "RAY_AUTH_MODE=disabled opts out).",
    )
    sweep.add_argument(
        "envs",
        nargs="*",
        default=[DEFAULT_ENV],
        help=f"solve: environments (default: {DEFAULT_ENV})",
    )
    sweep.add_argument(
        "--task",
        choices=("solve", "mppi"),
        default="solve",
        help="what each run does (default: solve)",
    )
    sweep.add_argument(
        "--temperatures", default="0.1,0.3,1,3", help="comma-separated (default: 0.1,0.3,1,3)"
    )
    sweep.add_argument(
        "--methods",
        default="exact,variational",
        help="solve: comma-separated (default: exact,variational)",
    )
    sweep.add_argument("--discounts", default="1", help="solve: comma-separated (default: 1)")
    sweep.add_argument(
        "--horizon", type=int, default=None, help="H (default: 30 for solve, 15 for mppi)"
    )
    sweep.add_argument(
        "--samples", default="1000", help="mppi: comma-separated sample counts (default: 1000)"
    )
    sweep.add_argument("--seeds", default="0", help="mppi: comma-separated seeds (default: 0)")
    sweep.add_argument("--steps", type=int, default=200, help="mppi: episode length (default: 200)")
    sweep.add_argument(
        "--address",
        default=None,
        help="an existing Ray cluster, host:port (default: a local instance for this sweep)",
    )
    sweep.add_argument(
        "--num-cpus", type=int, default=None, help="CPUs of a local instance (default: all)"
    )
    sweep.add_argument("--out", metavar="FILE", help="write the table (.csv, else JSON)")
    sweep.add_argument("--plot", metavar="FILE.png", help="metrics against temperature")
    # the runs are Ray tasks with their own (float64) JAX; this process only collects them
    sweep.set_defaults(handler=run, x64=None)


# the options each --task reads, with their defaults: an option of the other task given a value
# other than its default is refused (never silently ignored)
SOLVE_ONLY = {"envs": [DEFAULT_ENV], "methods": "exact,variational", "discounts": "1"}
MPPI_ONLY = {"samples": "1000", "seeds": "0", "steps": 200}
METHODS = ("exact", "variational")


def _flag(dest: str) -> str:
    return "ENV" if dest == "envs" else "--" + dest.replace("_", "-")


def _refuse_other_task(args) -> None:
    other = MPPI_ONLY if args.task == "solve" else SOLVE_ONLY
    given = [_flag(d) for d, default in other.items() if getattr(args, d) != default]
    if given:
        raise UsageError(
            f"{', '.join(given)} {'does' if len(given) == 1 else 'do'} not apply to --task "
            f"{args.task}: leave {'it' if len(given) == 1 else 'them'} out"
        )


def _finite_positive(name: str, values) -> None:
    for value in values:
        if not (math.isfinite(value) and value > 0):
            raise UsageError(f"{name} must be finite and > 0, got {value:g}")


def check_runs(args):
    """Every setting checked before Ray starts (a bad value would otherwise fail every run
    inside Ray): the run grid, or UsageError naming the option. The library (and JAX) is
    imported only once the options are known to be good."""
    if args.num_cpus is not None:
        at_least("--num-cpus", args.num_cpus, 1)
    if args.horizon is not None:
        at_least("--horizon", args.horizon, 1)
    _refuse_other_task(args)
    temperatures = numbers(args.temperatures, "--temperatures")
    _finite_positive("--temperatures", temperatures)
    if args.task == "solve":
        methods = _checked_methods(args.methods)
        discounts = _checked_discounts(args.discounts)
        envs = _checked_envs(args.envs)  # loads each: imports the library
        from ..distributed import grid

        return grid(
            env=envs,
            temperature=temperatures,
            method=methods,
            discount=discounts,
            horizon=[args.horizon or 30],
        )
    samples = numbers(args.samples, "--samples", int)
    seeds = numbers(args.seeds, "--seeds", int)
    for name, values, low in (("--samples", samples, 1), ("--seeds", seeds, 0)):
        for value in values:
            at_least(name, value, low)
    at_least("--steps", args.steps, 1)
    from ..distributed import grid

    return grid(
        temperature=temperatures,
        samples=samples,
        seed=seeds,
        horizon=[args.horizon or 15],
        steps=[args.steps],
    )


def _checked_envs(envs: list[str]) -> list[str]:
    from ..envs import load_env

    for env in dict.fromkeys(envs):
        try:
            load_env(env)
        except ValueError as error:
            raise UsageError(f"ENV {env}: {error}") from None
    return envs


def _checked_methods(text: str) -> list[str]:
    methods = [m.strip() for m in text.split(",") if m.strip()]
    if not methods:
        raise UsageError("--methods is empty")
    for method in methods:
        if method not in METHODS:
            raise UsageError(
                f"--methods: unknown method {method!r} (choose from exact, variational)"
            )
    return methods


def _checked_discounts(text: str) -> list[float]:
    discounts = numbers(text, "--discounts")
    for gamma in discounts:
        if not 0 < gamma <= 1:
            raise UsageError(f"--discounts must lie in (0, 1], got {gamma:g}")
    return discounts


def run(args) -> int | None:
    runs = check_runs(args)
    from ..distributed import plot_sweep, run_sweep, write_table

    rows = run_sweep(runs, args.task, args.address, args.num_cpus, progress=sys.stderr.isatty())
    metrics = [c for c in dict.fromkeys(k for row in rows for k in row) if c not in runs[0]]
    print(f"{len(rows)} runs ({sum(not r['error'] for r in rows)} succeeded) on Ray")
    shown = list(runs[0]) + [m for m in metrics if m != "error"]
    print("  " + " ".join(f"{c:>15s}" for c in shown))
    for row in rows:
        cells = []
        for c in shown:
            value = row.get(c, "")
            cells.append(f"{value:15.4g}" if isinstance(value, float) else f"{value!s:>15s}")
        line = "  " + " ".join(cells)
        if row["error"]:
            line += f"  error: {row['error']}"
        print(line)
    if args.out:
        with writing(args.out) as tmp:  # atomically: a whole table or none
            write_table(rows, tmp)
        print(f"table written to {args.out}")
    if all(row["error"] for row in rows):  # nothing to plot: say so, exit 1
        print(f"cai sweep: error: all {len(rows)} runs failed (errors above)", file=sys.stderr)
        return 1
    if args.plot:
        save_figure(plot_sweep(rows, x="temperature"), args.plot)
    return None
