"""Gridworlds from text maps, as `TabularMDP`s.

Map characters:

    .  free cell            S  the start cell (exactly one)
    #  wall (not a state)   G  goal: being there pays goal_reward, then the episode ends
                            L  lava / cliff: being there pays lava_reward, then it ends

Rows shorter than the widest are padded with walls. A map without a start, or with two, is
refused (ValueError); one without a goal, with a goal that cannot be reached from the start, or
with ragged rows builds, with a `MapWarning` naming the row and column (counted from 0).

Actions 0..3 move up, right, down, left. The intended move happens with probability 1 - slip; each
of the two perpendicular moves with probability slip / 2. A move into a wall or off the map stays
put. Rewards belong to the state the agent is in, so they are paid for the cell it really reached
(never as an expectation over where it might slip):

    r(s, a) = step_reward on free cells, goal_reward on G cells, lava_reward on L cells

From a G or L cell every action leads to one extra absorbing state "done" (reward 0), the last
state of the model, which has no cell.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from ..tabular import TabularMDP

ACTIONS = ("up", "right", "down", "left")
MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))
_ARROW_OF = {(-1, 0): "↑", (0, 1): "→", (1, 0): "↓", (0, -1): "←"}


class MapWarning(UserWarning):
    """A text map that builds but is probably not what was meant (no goal, an unreachable goal,
    ragged rows)."""


def _at(cell) -> str:
    return f"row {cell[0]}, column {cell[1]}"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _reachable(transitions: np.ndarray, starts: list[int]) -> set[int]:
    """States reachable from `starts` with positive probability under some actions."""
    successors = transitions.sum(axis=1) > 0  # (S, S)
    seen, frontier = set(starts), list(starts)
    while frontier:
        for t in np.flatnonzero(successors[frontier.pop()]).tolist():
            if t not in seen:
                seen.add(t)
                frontier.append(t)
    return seen


class GridMixin:
    """Drawing helpers for environments laid out on a grid: `layout` rows, `cells` (S, 2) and
    `moves` (A, 2), the (row, column) step each action intends."""

    layout: tuple[str, ...]
    moves: tuple[tuple[int, int], ...] = MOVES

    @property
    def arrows(self) -> tuple[str, ...]:
        """One arrow character per action."""
        return tuple(_ARROW_OF[tuple(m)] for m in self.moves)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.layout), len(self.layout[0])

    def to_grid(self, values, fill=np.nan) -> np.ndarray:
        """Scatter a per-state array (S, ...) onto the map, (rows, cols, ...); other cells get fill.

        Only the first len(cells) states are drawn (extra absorbing states have no cell).
        """
        cells = self.cells
        values = np.asarray(values)[: len(cells)]
        dtype = values.dtype if values.dtype.kind in "UO" else np.result_type(values, fill)
        grid = np.full(self.shape + values.shape[1:], fill, dtype=dtype)
        grid[cells[:, 0], cells[:, 1]] = values
        return grid

    def marks(self) -> dict[int, str]:
        """State index -> map character for the special cells (S, G, L)."""
        return {
            s: self.layout[i][j]
            for s, (i, j) in enumerate(self.cells)
            if self.layout[i][j] in "SGL"
        }


@dataclasses.dataclass(frozen=True)
class GridWorld(GridMixin):
    """A gridworld and the coordinates needed to draw it.

    Attributes:
        name: a label.
        layout: the map, one string per row.
        mdp: the model; state i < len(cells) is the cell cells[i], the last state is "done".
        cells: (S, 2) row and column of every state.
        goals, lava, starts: state indices of each kind of cell.
        slip: the slip probability it was built with.
    """

    name: str
    layout: tuple[str, ...]
    mdp: TabularMDP
    cells: np.ndarray
    goals: tuple[int, ...]
    lava: tuple[int, ...]
    starts: tuple[int, ...]
    slip: float


def make_gridworld(
    layout: str | list[str] | tuple[str, ...],
    slip: float = 0.0,
    step_reward: float = -1.0,
    goal_reward: float = 10.0,
    lava_reward: float = -50.0,
    name: str = "gridworld",
) -> GridWorld:
    """Build a `GridWorld` from a text map (see the module docstring).

    Raises:
        ValueError: for unknown characters, no free cell, no start cell S or more than one, or
            slip outside [0, 1].

    Warns:
        MapWarning: for ragged rows (padded with walls), no goal cell G, or a goal that cannot
            be reached from the start; naming the rows and columns.
    """
    rows = layout.strip("\n").splitlines() if isinstance(layout, str) else list(layout)
    rows = [row.rstrip() for row in rows if row.strip()]
    if not rows:
        raise ValueError("layout is empty; give at least one row of cells.")
    width = max(len(row) for row in rows)
    short = [f"row {i} from column {len(row)}" for i, row in enumerate(rows) if len(row) < width]
    rows = [row.ljust(width, "#") for row in rows]
    unknown = set("".join(rows)) - set(".#SGL")
    if unknown:
        raise ValueError(
            f"layout contains unknown characters {sorted(unknown)}; use . # S G L only."
        )
    if not (0.0 <= slip <= 1.0):
        raise ValueError(f"slip must lie in [0, 1], got {slip}.")
    cells = [(i, j) for i, row in enumerate(rows) for j, c in enumerate(row) if c != "#"]
    if not cells:
        raise ValueError("layout has no free cell.")
    start_cells = [cell for cell in cells if rows[cell[0]][cell[1]] == "S"]
    if not start_cells:
        raise ValueError("layout has no start cell; mark one cell S.")
    if len(start_cells) > 1:
        where = _and([_at(cell) for cell in start_cells])
        raise ValueError(
            f"layout has {len(start_cells)} start cells S ({where}); keep exactly one."
        )
    if short:
        warnings.warn(
            f"ragged map: rows shorter than the widest ({width} cells) are padded with walls # "
            f"({_and(short)})",
            MapWarning,
            stacklevel=2,
        )
    state_of = {cell: s for s, cell in enumerate(cells)}
    kind = [rows[i][j] for i, j in cells]
    done = len(cells)
    num_states, num_actions = done + 1, len(MOVES)

    def move(cell, direction):
        i, j = cell[0] + MOVES[direction][0], cell[1] + MOVES[direction][1]
        return state_of.get((i, j), state_of[cell])

    transitions = np.zeros((num_states, num_actions, num_states))
    reward = np.zeros((num_states, num_actions))
    transitions[done, :, done] = 1.0
    for s, cell in enumerate(cells):
        if kind[s] in "GL":
            transitions[s, :, done] = 1.0
            reward[s] = goal_reward if kind[s] == "G" else lava_reward
            continue
        reward[s] = step_reward
        for a in range(num_actions):
            transitions[s, a, move(cell, a)] += 1.0 - slip
            transitions[s, a, move(cell, (a + 1) % 4)] += slip / 2
            transitions[s, a, move(cell, (a + 3) % 4)] += slip / 2
    starts = [s for s in range(done) if kind[s] == "S"]
    initial = np.zeros(num_states)
    initial[starts] = 1.0
    goals = [s for s in range(done) if kind[s] == "G"]
    if not goals:
        warnings.warn(
            "map has no goal cell G: no episode ends in success", MapWarning, stacklevel=2
        )
    reachable = _reachable(transitions, starts)
    unreachable = [_at(cells[s]) for s in goals if s not in reachable]
    if unreachable:
        warnings.warn(
            f"the goal{'s' if len(unreachable) > 1 else ''} at {_and(unreachable)} cannot be "
            f"reached from the start at "
            f"{_at(start_cells[0])}",
            MapWarning,
            stacklevel=2,
        )
    return GridWorld(
        name=name,
        layout=tuple(rows),
        mdp=TabularMDP(transitions, reward, initial),
        cells=np.array(cells),
        goals=tuple(goals),
        lava=tuple(s for s in range(done) if kind[s] == "L"),
        starts=tuple(starts),
        slip=slip,
    )


BRIDGE = """
S.....G
.LLLLL.
.......
"""

CLIFF = """
............
............
............
SLLLLLLLLLLG
"""

FOUR_ROOMS = """
.....#.....
.....#.....
.....#.....
...........
.....#.....
##.####....
.....###.##
.....#.....
.....#.....
S.........G
.....#.....
"""

BUILTINS = {
    "bridge": dict(
        layout=BRIDGE,
        slip=0.2,
        doc="a slippery walk along a lava lake: exact inference risks the short edge",
    ),
    "cliff": dict(layout=CLIFF, slip=0.0, doc="Sutton & Barto's cliff walk, deterministic"),
    "slippery-cliff": dict(
        layout=CLIFF, slip=0.1, doc="the cliff walk with 10% slip: the optimism is visible"
    ),
    "four-rooms": dict(layout=FOUR_ROOMS, slip=0.1, doc="four rooms joined by doors, 10% slip"),
}


def builtin(name: str, **overrides) -> GridWorld:
    """A named built-in gridworld (see `BUILTINS`); keyword arguments override its settings."""
    if name not in BUILTINS:
        raise ValueError(f"unknown gridworld {name!r}; built-ins are {sorted(BUILTINS)}.")
    spec = {k: v for k, v in BUILTINS[name].items() if k != "doc"}
    spec.update(overrides)
    return make_gridworld(name=name, **spec)
