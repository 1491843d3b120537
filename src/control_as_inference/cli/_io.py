"""What every command shares: the usage error, number parsing, tables, grids, trajectories and
writing files. Nothing heavy is imported here (the arrays given are numpy or JAX already)."""

from __future__ import annotations

import contextlib
import os

from ._interrupt import protected


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


def prior_probabilities(prior: str):
    """--prior's comma-separated numbers as an array (checked by the model that takes them)."""
    import numpy as np

    try:
        return np.array([float(x) for x in prior.split(",")])
    except ValueError:
        raise UsageError(f"--prior must be comma-separated numbers, got {prior!r}") from None


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


FIGURE_FORMATS = ("png", "pdf", "svg", "svgz", "jpg", "jpeg", "eps", "ps", "tif", "tiff", "webp")
"""The figure formats `--plot` writes (matplotlib's, by the file's suffix; none: .png)."""


def output_path(path: str, kind: str) -> str:
    """The file an output option writes: a figure without a suffix gets .png (as matplotlib
    saves it), demonstrations without .npz get .npz (as numpy saves them), else `path`."""
    suffix = os.path.splitext(path)[1]
    if kind == "figure" and not suffix:
        return path + ".png"
    if kind == "npz" and suffix != ".npz":
        return path + ".npz"
    return path


def check_output(flag: str, path: str, kind: str, force: bool) -> None:
    """Before any work: UsageError unless `path` (as `output_path` makes it) can be written
    without replacing anything: its directory exists, it is not a directory, and it does not
    exist unless `force`. kind: "figure", "npz", "gif" or "file"."""
    real = output_path(path, kind)
    suffix = os.path.splitext(real)[1].lower().lstrip(".")
    if kind == "figure" and suffix not in FIGURE_FORMATS:
        raise UsageError(
            f"{flag} {path}: cannot write a figure as .{suffix} (use one of "
            f"{', '.join('.' + f for f in FIGURE_FORMATS)})"
        )
    if kind == "gif" and suffix != "gif":
        raise UsageError(f"{flag} {path}: the animation is a GIF; give a name ending in .gif")
    if os.path.isdir(real):
        raise UsageError(f"{flag} {real} is a directory; give a file name")
    parent = os.path.dirname(real) or "."
    if not os.path.isdir(parent):
        raise UsageError(f"{flag} {real}: there is no directory {parent} to write it in")
    if os.path.lexists(real) and not force:
        raise UsageError(
            f"{flag} {real} exists: pass --force to replace it, or choose another name"
        )


def check_output_dir(flag: str, path: str, ours: tuple, force: bool, resume: bool) -> None:
    """Before any work: UsageError when `path` is an existing file, or already holds files the
    command writes (`ours`) and neither `resume` (continue them) nor `force` (replace them)."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f"{flag} {path} is a file, not a directory")
    held = [name for name in ours if os.path.exists(os.path.join(path, name))]
    if held and not (force or resume):
        raise UsageError(
            f"{flag} {path} already holds a run ({', '.join(held)}): continue it with --resume, "
            "or pass --force to start over (it is replaced)"
        )


@contextlib.contextmanager
def writing(path: str, errors=(OSError,)):
    """Write `path` atomically and whole: the block writes the temporary file it is given (same
    directory and suffix), which is then renamed to `path`; Ctrl-C waits until it is in place
    (`_interrupt.protected`); a failure becomes UsageError "cannot write PATH: ...".

        with writing(args.out) as tmp:
            write_table(rows, tmp)
    """
    directory, name = os.path.split(path)
    stem, suffix = os.path.splitext(name)
    tmp = os.path.join(directory, f".{stem}.cai-tmp{os.getpid()}{suffix}")
    with protected():
        try:
            yield tmp
            if os.path.exists(tmp):  # (a block that wrote `path` itself leaves nothing to move)
                os.replace(tmp, path)
        except errors as error:
            raise UsageError(f"cannot write {path}: {error}") from None
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)


def save_figure(fig, path: str) -> None:
    """fig.savefig at 100 dpi to `output_path(path, "figure")` (atomically), then say where."""
    real = output_path(path, "figure")
    form = os.path.splitext(real)[1].lstrip(".").lower()
    with writing(real, (OSError, ValueError)) as tmp:
        fig.savefig(tmp, dpi=100, format=form)
    print(f"\nfigure written to {real}")


def save_npz(path: str, **arrays) -> None:
    """np.savez of numpy arrays of whatever is given, to `output_path(path, "npz")` (atomically:
    a complete file or none)."""
    import numpy as np

    with writing(output_path(path, "npz")) as tmp:
        np.savez(tmp, **{name: np.asarray(x) for name, x in arrays.items()})


def read_json(path: str, missing: str) -> dict:
    """A JSON object from `path`; UsageError `missing` when there is no such file, or naming the
    file when it is damaged."""
    import json

    if not os.path.exists(path):
        raise UsageError(f"{missing} (no {os.path.basename(path)})")
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UsageError(f"{path} is unreadable or damaged: {error}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path} is damaged: not a JSON object")
    return data


def run_settings(directory: str, name: str, settings: dict, resume: bool, fixed: tuple) -> dict:
    """The settings a run in `directory` was started with (the JSON file `name` there).

    Starting (not `resume`): `settings` are written there (atomically) and returned. Resuming:
    the saved ones are returned (`settings` where an older run wrote none); UsageError naming
    each option of `fixed` (dests) whose value differs from the run's, or a damaged file.
    """
    import json

    path = os.path.join(directory, name)
    if not resume:
        os.makedirs(directory, exist_ok=True)
        write_text(path, json.dumps(settings, indent=1))
        return settings
    if not os.path.exists(path):
        return settings
    try:
        with open(path, encoding="utf-8") as handle:
            saved = json.load(handle)
        differ = [k for k in fixed if saved[k] != settings[k]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UsageError(f"{path} is unreadable or damaged: {error!r}") from None
    if differ:
        given = ", ".join(f"--{k.replace('_', '-')} {settings[k]}" for k in differ)
        was = ", ".join(f"--{k.replace('_', '-')} {saved[k]}" for k in differ)
        raise UsageError(
            f"--resume: the run in {directory} was started with {was}, not {given}; resume it "
            "with its own settings, or start over with --force"
        )
    return saved


def write_text(path: str, text: str) -> None:
    """`text` to `path` in UTF-8, atomically."""
    with writing(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
