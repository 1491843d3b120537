"""What every command shares: the usage error, number parsing, tables, grids, trajectories and
writing files. Nothing heavy is imported here (the arrays given are numpy or JAX already)."""

from __future__ import annotations

import contextlib


class UsageError(Exception):
    """A problem with the command line or an input file, reported in one line, exit code 2."""


def at_least(flag: str, value, low) -> None:
    """UsageError "FLAG must be >= LOW, got VALUE" unless value >= low (NaN fails)."""
    if not value >= low:
        raise UsageError(f"{flag} must be >= {low}, got {value}")


def numbers(text: str, name: str, kind=float) -> list:
    """Comma-separated numbers, e.g. "0.1,1" -> [0.1, 1.0]."""
    try:
        values = [kind(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"{name} must be comma-separated numbers, got {text!r}") from None
    if not values:
        raise UsageError(f"{name} is empty")
    return values


# ----------------------------------------------------------------------------- text


def fixed(value, digits: int = 4) -> str:
    """value with `digits` decimals, e.g. "-12.3456"; beyond 1e9 in magnitude (say at
    --temperature 1e-300) in a general format instead, e.g. "4e+302", not 300 digits."""
    value = float(value)
    if abs(value) >= 1e9:
        return f"{value:.6g}"
    return f"{value:.{digits}f}"


def table(rows: list[tuple[str, str]]) -> str:
    """Two aligned columns, indented by two spaces."""
    width = max(len(key) for key, _ in rows)
    return "\n".join(f"  {key:<{width}}  {value}" for key, value in rows)


def format_grid(grid) -> str:
    """A 2-D array of cells as right-aligned columns, indented by two spaces."""
    width = max(len(str(cell)) for cell in grid.ravel())
    return "\n".join("  " + " ".join(f"{cell!s:>{width}}" for cell in row) for row in grid)


def is_grid(env) -> bool:
    """Whether env is laid out on a grid (a GridWorld, or a FrozenLake/CliffWalking model)."""
    return env is not None and getattr(env, "layout", None) is not None


def arrow_grid(env, log_policy):
    """The most probable action of each cell as an arrow, G and L cells marked, walls #."""
    import numpy as np

    arrows = np.array(env.arrows, dtype=object)[np.asarray(log_policy).argmax(axis=1)]
    for state, char in env.marks().items():
        if char in "GL":
            arrows[state] = char
    return env.to_grid(arrows, fill="#")


def state_name(env, s: int) -> str:
    """A grid cell as (row,col), its extra absorbing states as done / endN; else the index."""
    if is_grid(env):
        if s < len(env.cells):
            i, j = env.cells[s]
            return f"({i},{j})"
        return "done" if s == env.mdp.num_states - 1 else f"end{s}"
    return str(s)


def print_trajectory(env, states, actions, prefix: str = "  ") -> None:
    """One line: s_0 a_0 s_1 ... with arrows for grid actions, -a-> otherwise."""
    import numpy as np

    states, actions = np.asarray(states), np.asarray(actions)
    arrows = env.arrows if is_grid(env) else None
    path = [state_name(env, int(states[0]))]
    for t, a in enumerate(actions.tolist()):
        path.append(arrows[a] if arrows else f"-{a}->")
        path.append(state_name(env, int(states[t + 1])))
    print(prefix + " ".join(path))


# ----------------------------------------------------------------------------- files


@contextlib.contextmanager
def writing(path: str, errors=(OSError,)):
    """Turn a failure to write `path` into UsageError "cannot write PATH: ..."."""
    try:
        yield
    except errors as error:
        raise UsageError(f"cannot write {path}: {error}") from None


def save_figure(fig, path: str) -> None:
    """fig.savefig(path) at 100 dpi, then say so."""
    try:
        fig.savefig(path, dpi=100)
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot write the figure to {path}: {error}") from None
    print(f"\nfigure written to {path}")


def save_npz(path: str, **arrays) -> None:
    """np.savez(path, **arrays), numpy arrays of whatever is given."""
    import numpy as np

    with writing(path):
        np.savez(path, **{name: np.asarray(x) for name, x in arrays.items()})
