"""cai kl: KL control (a linearly-solvable MDP) on a text map with one or more goals."""

from __future__ import annotations

import math
import pathlib

from ._io import UsageError, numbers, save_figure, table


def add_parsers(sub) -> None:
    kl = sub.add_parser(
        "kl",
        help="KL control on a gridworld: desirability, optimal flow, composition of goals",
        description="Linearly-solvable MDP (Todorov) on a text map: the passive dynamics is a "
        "random walk (four moves and staying), free cells cost --cost per step, goals G end "
        "the episode. Each goal is solved alone (first exit: a linear system), then the "
        "controller for all goals, weighted by --weights, is composed from those solutions "
        "without solving again, and checked against a direct solve.",
    )
    kl.add_argument(
        "map",
        nargs="?",
        default=None,
        help="text map file (. free, # wall, G goal, L lava) (default: a built-in two-goal map)",
    )
    kl.add_argument("--cost", type=float, default=1.0, help="cost of a free cell (default: 1)")
    kl.add_argument(
        "--weights",
        default=None,
        help="comma-separated weight of each goal in the composite (default: all 1)",
    )
    kl.add_argument(
        "--miss-cost",
        type=float,
        default=50.0,
        help="cost of arriving at another goal in a one-goal problem (default: 50)",
    )
    kl.add_argument(
        "--plot", metavar="FILE.png", help="v and the optimal flow, per goal and composed"
    )
    kl.set_defaults(handler=run, x64=True)


def _layout(path: str | None) -> str:
    from ..kl import TWO_GOALS

    if path is None:
        return TWO_GOALS
    try:
        return pathlib.Path(path).read_text()
    except FileNotFoundError:
        raise UsageError(f"map {path} not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read map {path}: {error}") from None


def _grid_text(grid, values) -> str:
    from ..kl import on_grid

    cells = on_grid(grid, values)
    rows = [" ".join("   #" if c != c else f"{c + 0.0:4.1f}" for c in row) for row in cells]
    return "\n".join("  " + row for row in rows)


def run(args) -> None:
    import numpy as np

    from .. import kl

    for flag, value in (("--cost", args.cost), ("--miss-cost", args.miss_cost)):
        if not (math.isfinite(value) and value >= 0):
            raise UsageError(f"{flag} must be finite and >= 0, got {value}")
    grid = kl.grid_lmdp(_layout(args.map), cost=args.cost)
    goals = len(grid.goals)
    weights = [1.0] * goals if args.weights is None else numbers(args.weights, "--weights")
    if len(weights) != goals:
        raise UsageError(f"--weights needs one weight per goal ({goals}), got {len(weights)}")
    components = kl.goal_components(grid, miss_cost=args.miss_cost)
    parts = [kl.first_exit(c) for c in components]
    composite = kl.compose(parts, np.asarray(weights))
    finals = np.stack([np.asarray(c.cost) for c in components])
    terminal = np.asarray(grid.lmdp.terminal)
    mixed = np.where(terminal, kl.mixed_cost(finals, np.asarray(weights)), grid.lmdp.cost)
    direct = kl.first_exit(kl.LMDP(grid.lmdp.passive, mixed, terminal))
    rows = [("states", str(grid.lmdp.num_states)), ("goals", str(goals))]
    for g, sol in enumerate(parts):
        row, col = grid.cells[grid.goals[g]]
        rows.append(
            (
                f"goal {g} (row {row}, column {col})",
                f"{int(sol.iterations)} BiCGSTAB iterations, {int(sol.matvecs)} mat-vecs, "
                f"{int(sol.sweeps)} log-space sweeps, residual {float(sol.residual):.1e}",
            )
        )
    gap = float(np.max(np.abs(np.asarray(composite.v) - np.asarray(direct.v))))
    rows.append(("composite vs direct", f"max |v difference| {gap:.1e}"))
    print(table(rows))
    print(f"\nv = -log z of the composite (weights {','.join(f'{w:g}' for w in weights)}):")
    print(_grid_text(grid, np.asarray(composite.v)))
    if args.plot:
        from ..kl import plot_composition

        labels = [f"goal {g} alone" for g in range(goals)] + ["composite"]
        save_figure(plot_composition(grid, parts, composite, labels), args.plot)
