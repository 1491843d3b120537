"""cai sweep: a grid of solve or MPPI runs as Ray tasks, printed as one table."""

from __future__ import annotations

import sys

from ._io import numbers, save_figure, writing
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


def run(args) -> None:
    from ..distributed import grid, plot_sweep, run_sweep, write_table

    temperatures = numbers(args.temperatures, "--temperatures")
    if args.task == "solve":
        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
        runs = grid(
            env=args.envs,
            temperature=temperatures,
            method=methods,
            discount=numbers(args.discounts, "--discounts"),
            horizon=[args.horizon or 30],
        )
    else:
        runs = grid(
            temperature=temperatures,
            samples=numbers(args.samples, "--samples", int),
            seed=numbers(args.seeds, "--seeds", int),
            horizon=[args.horizon or 15],
            steps=[args.steps],
        )
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
        with writing(args.out):
            write_table(rows, args.out)
        print(f"table written to {args.out}")
    if args.plot:
        save_figure(plot_sweep(rows, x="temperature"), args.plot)
