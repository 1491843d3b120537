"""Experiment sweeps on Ray: a grid of runs fanned out as Ray tasks, collected into one table.

    runs = grid(env=["bridge", "cliff"], temperature=[0.1, 1.0], method=["exact", "variational"])
    table = run_sweep(runs, task="solve")              # a local Ray instance, started on demand
    table = run_sweep(runs, address="10.0.0.5:6379")   # or an existing cluster
    write_table(table, "sweep.csv"); plot_sweep(table, x="temperature")

Each run is one Ray task (one CPU; float64 JAX in the worker). A run that raises is reported in
its row (`error`) and the others still finish. Tasks:

- "solve": tabular inference on `env` (any `cai solve` environment) with `temperature`, `horizon`
  (default 30), `method` ("exact"), `discount` (1.0); reports the log evidence, the policy
  entropy at t = 0 and the policy's expected return in the true dynamics.
- "mppi": an MPPI episode of `env` ("Pendulum-v1", from hanging; a gymnasium id with a JAX
  twin or a JaxEnv with a model, `envs.as_jax_env`) with `samples` (1000), `temperature`
  (1.0), `noise` (10.0), `horizon` (15), `steps` (200), `seed` (0); reports the total cost and
  the planning time per step.
- any picklable function of keyword arguments returning a dict.

Ray is the optional `distributed` extra: pip install "control-as-inference[distributed]".
Recent Ray releases protect a local instance with token authentication: Ray writes the token to
~/.ray/auth_token on first use and says so in its log (RAY_AUTH_TOKEN_PATH names another file,
RAY_AUTH_MODE=disabled opts out; see Ray's token-auth documentation).
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import socket
import time
import warnings
from collections.abc import Callable

import numpy as np

TASKS = ("solve", "mppi")
METRICS = ("expected_return", "entropy_t0", "log_evidence", "total_cost", "plan_ms")


def grid(**axes) -> list[dict]:
    """The cartesian product of the given parameter lists, as a list of run dicts."""
    for name, values in axes.items():
        if isinstance(values, str) or not hasattr(values, "__iter__"):
            raise ValueError(f"grid: {name} must be a list of values, got {values!r}.")
    names = list(axes)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes.values())]


def solve_task(env="bridge", temperature=1.0, horizon=30, method="exact", discount=1.0, **extra):
    """One tabular solve (see the module docstring)."""
    from ..envs import load_env
    from ..tabular import expected_entropy, expected_return, infer

    if extra:
        raise ValueError(f"solve: unknown parameters {sorted(extra)}.")
    mdp = load_env(env).mdp
    post = infer(mdp, int(horizon), temperature, method, discount)
    return {
        "log_evidence": float(post.log_evidence),
        "entropy_t0": float(expected_entropy(post)[0]),
        # the posterior policy rolled forward in the true dynamics
        "expected_return": expected_return(
            mdp, mdp.reward, post.log_policy, int(horizon), float(discount)
        ),
    }


def mppi_task(
    samples=1000,
    temperature=1.0,
    noise=10.0,
    horizon=15,
    steps=200,
    seed=0,
    env="Pendulum-v1",
    **extra,
):
    """One MPPI episode of `env` (a gymnasium id with a JAX twin or a JaxEnv, `envs.as_jax_env`;
    Pendulum-v1 from hanging) planned with its `envs.JaxModel` (see the module docstring)."""
    import jax

    from ..mppi import EpisodeOptions, pendulum_config, plan_episode

    if extra:
        raise ValueError(f"mppi: unknown parameters {sorted(extra)}.")
    config = pendulum_config(
        int(samples), horizon=int(horizon), temperature=temperature, noise_cov=noise
    )
    start = _HANGING.get(env) if isinstance(env, str) else None
    options = EpisodeOptions(seed=int(seed))
    episode = plan_episode(config, env, jax.random.key(int(seed)), int(steps), start, options)
    return {
        "total_cost": episode.total_cost,
        "plan_ms": float(1e3 * np.median(episode.plan_seconds)),
    }


# the start state of an MPPI episode by environment id (absent: the environment's reset)
_HANGING = {"Pendulum-v1": (np.pi, 0.0)}


def _run_one(task, params):
    """Runs in a Ray worker: the task's metrics plus its wall time."""
    start = time.perf_counter()
    function = {"solve": solve_task, "mppi": mppi_task}.get(task, task)
    metrics = function(**params)
    metrics["seconds"] = time.perf_counter() - start
    return metrics


# HTTP/2's client connection preface and an empty SETTINGS frame: a gRPC server (Ray's GCS and
# its client server) answers with a SETTINGS frame of its own, frame type 4 (RFC 9113, 3.4)
_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
_SETTINGS = 4


def _check_address(address: str, timeout: float = 3.0) -> None:
    """Fail fast, naming the setting, when no Ray cluster answers at an address: nothing
    listens there, or what listens does not speak gRPC (say a web server), where `ray.init`
    would wait for many minutes. Every step is bounded by `timeout` seconds."""
    if address in ("auto", "local"):
        return
    target = address.split("://", 1)[-1]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(
            f"address must be host:port (or ray://host:port, 'auto'), got {address!r}."
        )
    hint = "start one with `ray start --head` or leave the address out for a local instance."
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as connection:
            if os.environ.get("RAY_USE_TLS", "0") in ("0", ""):  # TLS: no plain preface
                connection.sendall(_HTTP2_PREFACE)
                header = connection.recv(9)
                if len(header) < 4 or header[3] != _SETTINGS:
                    raise ValueError(
                        f"address: what listens at {address!r} is not a Ray cluster (it does "
                        f"not answer gRPC); {hint}"
                    )
    except OSError as error:
        raise ValueError(
            f"address: cannot reach a Ray cluster at {address!r} ({error}); {hint}"
        ) from None


def _ray():
    try:
        import ray
    except ImportError:
        raise ValueError(
            "Ray is not installed: pip install 'control-as-inference[distributed]'"
        ) from None
    return ray


def run_sweep(
    runs: list[dict],
    task: str | Callable = "solve",
    address: str | None = None,
    num_cpus: int | None = None,
    progress: bool | None = None,
) -> list[dict]:
    """Run every parameter dict of `runs` as a Ray task and collect one row per run.

    Args:
        runs: parameter dicts (e.g. from `grid`).
        task: "solve", "mppi" or a picklable function of keyword arguments returning a dict.
        address: an existing Ray cluster ("host:port", "ray://host:port" or "auto"); None
            starts a local instance (shut down afterwards; its authentication token is Ray's,
            in ~/.ray/auth_token, see the module docstring).
        num_cpus: CPUs of the local instance (default: all).
        progress: show a progress bar (on stderr): True always, False never, None (the
            default) only when stderr is a terminal.

    Returns:
        Rows in the order of `runs`: the parameters, the task's metrics, `seconds`, and
        `error` (empty, or the exception's type and message).

    Raises:
        ValueError: for an unknown task, empty runs, a missing Ray or an unreachable address.
    """
    from tqdm.auto import tqdm

    if not callable(task) and task not in TASKS:
        raise ValueError(f"task must be one of {TASKS} or a function, got {task!r}.")
    runs = list(runs)
    if not runs or not all(isinstance(run, dict) for run in runs):
        raise ValueError("runs must be a non-empty list of parameter dicts.")
    if num_cpus is not None and (isinstance(num_cpus, bool) or not num_cpus >= 1):
        # Ray would start with no CPU and never schedule a task (each needs one): a hang
        raise ValueError(f"num_cpus must be >= 1 (each run needs one CPU), got {num_cpus!r}.")
    ray = _ray()
    if address is not None:
        _check_address(address)
    started = False
    if not ray.is_initialized():
        kwargs = {"include_dashboard": False, "log_to_driver": False}
        if address is None:
            kwargs["num_cpus"] = num_cpus
        with warnings.catch_warnings():
            # Ray starts its processes with subprocess.Popen(preexec_fn=...), which runs the
            # at-fork hooks; once this process has used JAX, JAX's hook warns that os.fork()
            # "will likely lead to a deadlock". That warning is for a child that goes on running
            # JAX; Ray's child only masks SIGINT (and sets its parent-death signal) before it
            # execs Ray's own program, so it is silenced here and only here.
            warnings.filterwarnings("ignore", r"os\.fork\(\) was called", RuntimeWarning)
            ray.init(address=address, **kwargs)
        started = True
    env_vars = {"JAX_ENABLE_X64": "1", "JAX_PLATFORMS": "cpu", "PYTHONWARNINGS": "ignore"}
    remote = ray.remote(num_cpus=1, max_retries=0, runtime_env={"env_vars": env_vars})(_run_one)
    try:
        futures = [remote.remote(task, run) for run in runs]
        rows: list[dict | None] = [None] * len(runs)
        pending = {future: i for i, future in enumerate(futures)}
        disable = None if progress is None else not progress  # None: only on a terminal
        bar = tqdm(total=len(runs), desc="sweep", disable=disable, leave=False)
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            i = pending.pop(done[0])
            row = dict(runs[i])
            try:
                row.update(ray.get(done[0]))
                row["error"] = ""
            except ray.exceptions.RayTaskError as error:
                cause = error.cause if getattr(error, "cause", None) is not None else error
                row["error"] = f"{type(cause).__name__}: {' '.join(str(cause).split())}"
            rows[i] = row
            bar.update()
        bar.close()
    finally:
        if started:
            ray.shutdown()
    return rows


def write_table(rows: list[dict], path: str) -> None:
    """Write rows as CSV (.csv) or JSON (anything else); columns are the union of the keys."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    if path.endswith(".csv"):
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
    else:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(rows, handle, indent=1)


LABELS = {
    "temperature": "temperature α",
    "expected_return": "expected return (true dynamics)",
    "entropy_t0": "policy entropy at t = 0 (nats)",
    "log_evidence": "log evidence (exact) or bound (variational)",
    "total_cost": "total cost of the episode",
    "plan_ms": "planning time per step (ms)",
}
# (line style, width, marker, marker size): lines that coincide stay visible, each drawn over
# the previous one, thinner and with a smaller marker
_STYLES = (("-", 3.2, "o", 10), ("--", 2.4, "s", 7.5), (":", 2.4, "^", 7), ("-.", 1.3, "D", 5))


def _label(name: str) -> str:
    return LABELS.get(name, name.replace("_", " "))


def _value(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def plot_sweep(
    rows: list[dict],
    x: str = "temperature",
    metrics: list[str] | None = None,
    title: str | None = None,
):
    """One panel per metric against the numeric parameter `x`, a line per combination of the
    parameters that vary (failed runs left out); the parameters that do not vary are said in
    the title. Each line has its own colour, line style and marker (lines that coincide stay
    visible); the legend sits under the panels. `metrics` defaults to the built-in tasks'
    metrics found in the rows. Returns a matplotlib Figure."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    good = [row for row in rows if not row.get("error")]
    if not good:
        raise ValueError("plot_sweep: every run failed; nothing to plot.")
    if metrics is None:
        metrics = [m for m in METRICS if m in good[0]]
    if not metrics:
        raise ValueError("plot_sweep: name the metrics to plot (metrics=[...]).")
    others = [
        k
        for k in dict.fromkeys(k for row in rows for k in row)
        if k not in metrics and k not in (x, "seconds", "error")
    ]
    varying = [p for p in others if len({repr(row.get(p)) for row in good}) > 1]
    fig = Figure(figsize=(4.8 * len(metrics), 4.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(metrics)))
    groups: dict[tuple, list[dict]] = {}
    for row in good:
        groups.setdefault(tuple(row.get(p) for p in varying), []).append(row)
    xs = sorted({row[x] for row in good})
    for ax, metric in zip(axes, metrics, strict=True):
        for k, (key, members) in enumerate(groups.items()):
            members = sorted(members, key=lambda r: r[x])
            style, width, marker, size = _STYLES[k % len(_STYLES)]
            ax.plot(
                [r[x] for r in members],
                [r[metric] for r in members],
                linestyle=style,
                linewidth=width,
                marker=marker,
                markersize=size,
                markerfacecolor="none" if k % 2 else None,
                color=f"C{k % 10}",
                label=", ".join(_value(v) for v in key) or metric,
                zorder=2 + k,
            )
        ax.set_xlabel(_label(x))
        ax.set_ylabel(_label(metric))
        ax.grid(alpha=0.3)
        if all(isinstance(v, int | float) and v > 0 for v in xs):
            ax.set_xscale("log")
            ax.set_xticks(xs, labels=[_value(v) for v in xs])
            ax.xaxis.set_minor_formatter(NullFormatter())
    if len(groups) > 1:
        handles, labels = axes[0].get_legend_handles_labels()
        names = ", ".join(varying)
        fig.legend(handles, labels, title=names, loc="outside lower center", ncols=4)
    fixed = [f"{p} {_value(good[0].get(p))}" for p in others if p not in varying]
    failed = len(rows) - len(good)
    runs = f"{len(good)} runs" + (f", {failed} failed (left out)" if failed else "")
    fig.suptitle(title or f"sweep over {_label(x)}: " + ", ".join([runs, *fixed]))
    return fig


__all__ = ["grid", "mppi_task", "plot_sweep", "run_sweep", "solve_task", "write_table"]
