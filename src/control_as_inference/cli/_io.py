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


def first_extra_state(env) -> int | None:
    """The index of the first extra state of a model (after a grid's cells or gymnasium's
    observations: the absorbing states that end an episode); None for a model from a file."""
    if env is None:
        return None
    if hasattr(env, "num_observations"):  # a gymnasium model
        return env.num_observations
    return len(env.cells)


def state_name(env, s: int) -> str:
    """A grid cell as (row,col); an extra state as done (the last) or, for gymnasium models,
    end(r=R) (pays the reward R of a terminating transition, then done); else the index."""
    extra = first_extra_state(env)
    if extra is not None and s >= extra:
        if s == env.mdp.num_states - 1:
            return "done"
        return f"end(r={float(env.mdp.reward[s, 0]):g})"
    if is_grid(env):
        i, j = env.cells[s]
        return f"({i},{j})"
    return str(s)


def state_map(env, num_states: int) -> list[dict]:
    """One entry per state index: its name (as `state_name`), its cell [row, column] (None for
    extra states and models without a grid) and, for the extra states, what they are."""
    extra = first_extra_state(env)
    entries = []
    for s in range(num_states):
        entry = {"index": s, "name": state_name(env, s), "cell": None}
        if is_grid(env) and (extra is None or s < extra):
            entry["cell"] = [int(x) for x in env.cells[s]]
        if extra is not None and s >= extra:
            entry["extra"] = (
                "absorbing, reward 0: where every ended episode stays"
                if s == num_states - 1
                else f"an episode ended by a transition of reward {float(env.mdp.reward[s, 0]):g}: "
                "pays that reward, then moves to done"
            )
        entries.append(entry)
    return entries


def absorbing_states(mdp):
    """(S,) bool: states that every action keeps in place with probability 1 at reward 0 (such
    as done): once there, nothing changes the trajectory or its return."""
    import numpy as np

    s = np.arange(mdp.num_states)
    transitions = mdp.transitions
    if hasattr(transitions, "index"):  # successor lists
        here = np.asarray(transitions.index) == s[:, None, None]
        stay = np.where(here, np.asarray(transitions.prob), 0.0).sum(axis=-1)
    else:
        stay = np.asarray(transitions)[s, :, s]
    reward = np.asarray(mdp.reward).reshape(-1, mdp.num_states, mdp.num_actions)
    return np.all(np.abs(stay - 1) < 1e-9, axis=1) & np.all(reward == 0, axis=(0, 2))


def absorbed_at(states, absorbing) -> int:
    """The first step t at which a trajectory (H+1,) is in an absorbing state; H if never."""
    import numpy as np

    hits = np.flatnonzero(absorbing[np.asarray(states)])
    return int(hits[0]) if hits.size else len(states) - 1


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


def absorption_note(names: set[str], log_p: bool) -> str:
    """The one line said after trajectories cut at an absorbing state."""
    part = "; log p is that of the part shown" if log_p else ""
    which = ", ".join(sorted(names))
    return f"  (shown up to the first absorbing state, {which}: never left, reward 0{part})"


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
