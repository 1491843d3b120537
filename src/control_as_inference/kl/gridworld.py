"""KL-control gridworlds from text maps: a random walk as the passive dynamics, goals as exits.

Map characters:

    .  free cell (S is read as a free cell too)      #  wall (not a state)
    G  goal: a terminal state (one or more)          L  lava: a free cell of cost `lava_cost`

The passive dynamics p(.|s) is uniform over the four moves and staying put (K = 5 successor
slots; a move into a wall or off the map stays put, so its probability adds to staying). Every
free cell costs `cost` per step; goal g costs final_costs[g] on arrival (0 by default). Goals are
numbered in reading order (row by row).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..tabular import Successors
from .model import LMDP

MOVES = ((0, 0), (-1, 0), (0, 1), (1, 0), (0, -1))  # stay, up, right, down, left

TWO_GOALS = """
G.......#......
........#......
...###..#..##..
...#...........
...#....L....G.
.......###.....
"""
"""The demonstration map of `cai kl` and examples/kl_gridworld.py: two goals, walls, one lava."""


class KLGrid(NamedTuple):
    """lmdp: the `LMDP` (successor lists, K = 5); cells: (S, 2) row and column of every state;
    goals: (G,) the goal states in reading order; shape: (rows, columns) of the map."""

    lmdp: LMDP
    cells: np.ndarray
    goals: np.ndarray
    shape: tuple[int, int]


def _rows(layout) -> list[str]:
    rows = layout.strip("\n").splitlines() if isinstance(layout, str) else list(layout)
    rows = [row.rstrip() for row in rows if row.strip()]
    if not rows:
        raise ValueError("layout is empty; give at least one row of cells.")
    width = max(len(row) for row in rows)
    rows = [row.ljust(width, "#") for row in rows]
    unknown = set("".join(rows)) - set(".#SGL")
    if unknown:
        raise ValueError(f"layout contains unknown characters {sorted(unknown)}; use . # S G L.")
    return rows


def _check_cell_cost(name: str, value) -> None:
    if not (np.isfinite(value) and value >= 0):
        raise ValueError(
            f"{name} must be finite and >= 0, got {value}; a negative cost per step makes the "
            "first-exit cost unbounded below (use a negative final cost for a rewarding goal)."
        )


def grid_lmdp(
    layout, cost: float = 1.0, final_costs=None, lava_cost: float = 20.0, dtype=np.float64
) -> KLGrid:
    """Build a `KLGrid` from a text map (see the module docstring).

    Args:
        layout: the map, one string with newlines or a list of rows.
        cost: q of a free cell (> 0 gives a proper first-exit problem).
        final_costs: (G,) cost of arriving at each goal; zeros if None.
        lava_cost: q of an L cell.

    Raises:
        ValueError: for unknown characters, no goal, a wrong number of final costs, or a cost
            or lava_cost that is negative or not finite.
    """
    _check_cell_cost("cost", cost)
    _check_cell_cost("lava_cost", lava_cost)
    rows = _rows(layout)
    cells = [(i, j) for i, row in enumerate(rows) for j, c in enumerate(row) if c != "#"]
    kind = [rows[i][j] for i, j in cells]
    state_of = {cell: s for s, cell in enumerate(cells)}
    goals = np.array([s for s, k in enumerate(kind) if k == "G"], dtype=np.int64)
    if len(goals) == 0:
        raise ValueError("layout has no goal; mark at least one cell G.")
    final = np.zeros(len(goals)) if final_costs is None else np.asarray(final_costs, float)
    if final.shape != goals.shape:
        raise ValueError(f"final_costs must have one entry per goal ({len(goals)}), got {final}.")
    index = np.array(
        [[state_of.get((i + di, j + dj), state_of[(i, j)]) for di, dj in MOVES] for i, j in cells]
    )
    prob = np.full(index.shape, 1.0 / len(MOVES), dtype)
    q = np.array([lava_cost if k == "L" else cost for k in kind], dtype)
    q[goals] = final
    terminal = np.zeros(len(cells), bool)
    terminal[goals] = True
    lmdp = LMDP(Successors(index=index, prob=prob), q, terminal)
    return KLGrid(lmdp, np.array(cells), goals, (len(rows), len(rows[0])))


def goal_components(grid: KLGrid, miss_cost: float = 50.0) -> list[LMDP]:
    """One first-exit problem per goal: arriving at goal g costs 0, at any other goal
    `miss_cost` (so exp(-miss_cost) is its desirability). All share p and the interior costs,
    so their solutions compose exactly (`compose`)."""
    _check_cell_cost("miss_cost", miss_cost)
    out = []
    for g in grid.goals:
        q = np.array(grid.lmdp.cost)
        q[grid.goals] = miss_cost
        q[g] = 0.0
        out.append(LMDP(grid.lmdp.passive, q.astype(grid.lmdp.dtype), grid.lmdp.terminal))
    return out


def on_grid(grid: KLGrid, values) -> np.ndarray:
    """(rows, columns) array of per-state values (NaN on walls)."""
    out = np.full(grid.shape, np.nan)
    out[grid.cells[:, 0], grid.cells[:, 1]] = np.asarray(values)
    return out


def flow(grid: KLGrid, log_policy) -> np.ndarray:
    """(S, 2) expected displacement (rows, columns) of one step under the law (S, 5) in the
    grid's successor layout: the optimal flow."""
    u = np.exp(np.asarray(log_policy, float))
    index = np.asarray(grid.lmdp.passive.index)
    step = grid.cells[index] - grid.cells[:, None, :]  # (S, 5, 2)
    return np.einsum("sk,skd->sd", u, step)
