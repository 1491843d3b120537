"""Issue 30: every `cai` input checked before any work (in a subprocess, as a user runs it):
settings out of range or non-finite, sizes that cannot fit in memory, options a command will
not read; and the sweep's exit code when every run failed."""

import subprocess
import sys
import types

import numpy as np
import pytest

from control_as_inference.cli import sweep as sweep_cli

from .cli_batch import run_each


def run(*args, cwd=None, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "control_as_inference.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


def one_line_error(out, command: str) -> str:
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"cai {command}: error: "), out.stderr
    return lines[0]


@pytest.mark.parametrize(
    "args, message",
    [
        # before: Ray never scheduled a task (hung); now refused before Ray starts
        (("--num-cpus", "0", "--temperatures", "1"), "--num-cpus must be >= 1, got 0"),
        # before: Ray started, every run failed, exit 0
        (("--temperatures", "0,-1"), "--temperatures must be finite and > 0, got 0"),
        (("--temperatures", "inf"), "--temperatures must be finite and > 0, got inf"),
        (("nosuchenv",), "ENV nosuchenv: unknown environment 'nosuchenv'"),
        (("--methods", "exact,magic"), "--methods: unknown method 'magic'"),
        (("--discounts", "1.5"), "--discounts must lie in (0, 1], got 1.5"),
        (("--horizon", "0"), "--horizon must be >= 1, got 0"),
        (("--task", "mppi", "--samples", "0"), "--samples must be >= 1, got 0"),
        (("--task", "mppi", "--steps", "0"), "--steps must be >= 1, got 0"),
        # options of the other task are refused, not ignored
        (("--samples", "0"), "--samples does not apply to --task solve"),
        (("--task", "mppi", "cliff"), "ENV does not apply to --task mppi"),
    ],
)
def test_sweep_checks_every_setting_before_ray(args, message):
    out = run("sweep", *args, timeout=60)
    assert message in one_line_error(out, "sweep")


def test_sweep_exits_1_when_every_run_failed(monkeypatch, capsys):
    """Runs that fail inside Ray (say a worker without the file an ENV names) are reported in
    the table; when none succeeded the command says so and exits 1, not 0."""
    import control_as_inference.distributed as distributed

    def failing(runs, *_, **__):
        return [dict(run, error="RuntimeError: worker lost") for run in runs]

    monkeypatch.setattr(distributed, "run_sweep", failing)
    args = sweep_cli_args("--temperatures", "1,2")
    assert sweep_cli.run(args) == 1
    captured = capsys.readouterr()
    assert "4 runs (0 succeeded)" in captured.out
    assert "all 4 runs failed" in captured.err

    def half(runs, *_, **__):
        rows = [dict(run, error="") for run in runs]
        rows[0]["error"] = "RuntimeError: worker lost"
        return rows

    monkeypatch.setattr(distributed, "run_sweep", half)
    assert sweep_cli.run(sweep_cli_args("--temperatures", "1,2")) is None


def sweep_cli_args(*argv) -> types.SimpleNamespace:
    from control_as_inference.cli import build_parser

    return build_parser().parse_args(["sweep", *argv])


def test_run_sweep_refuses_no_cpu():
    """num_cpus=0 started a Ray instance that never scheduled a task (a hang)."""
    from control_as_inference.distributed import run_sweep

    for bad in (0, -1, True):
        with pytest.raises(ValueError, match="num_cpus must be >= 1"):
            run_sweep([{"env": "bridge"}], num_cpus=bad, progress=False)


SIZES = [
    # before: an out-of-memory traceback after allocating (70 GB, 248 GB in the issue)
    (("solve", "--horizon", str(10**12)), "--horizon 1000000000000 needs about"),
    (("sample", "-n", str(10**12)), "-n 1000000000000 needs about"),
    (("compare", "--horizon", str(10**12)), "--horizon 1000000000000 needs about"),
    (("plan", "pendulum", "--samples", str(10**12)), "--samples 1000000000000 needs about"),
]
NON_FINITE = [
    # before: exit 0 printing "mean return nan"
    (("train", "mpo", "Pendulum-v1", "--learning-rate", "inf"), "--learning-rate must be a"),
    (("train", "sac", "Pendulum-v1", "--tau", "nan"), "--tau must be a finite number"),
    # before: a FloatingPointError traceback
    (("irl", "--l2", "inf"), "--l2 must be finite and >= 0, got inf"),
    (("plan", "pendulum", "--noise", "inf"), "--noise must be finite and > 0, got inf"),
    # before: the library's field name ("temperature must ..."), not the option the user typed
    (("solve", "--temperature", "inf"), "error: --temperature must be finite and > 0, got inf"),
    (("solve", "--discount", "nan"), "error: --discount must lie in (0, 1], got nan"),
]
NOT_READ = [
    ("irl", "bridge", "--method", "exact", "--inference", "variational"),
    ("irl", "four-rooms", "--method", "lqr"),
    ("irl", "--method", "lqr", "--inference", "variational", "--features", "state"),
    ("irl", "bridge", "--method", "gcl", "--demos", "d.npz"),
    ("plan", "pendulum", "--planner", "cem", "--temperature", "1"),
    ("plan", "pendulum", "--planner", "cem", "--adapt"),
]


@pytest.fixture(scope="module")
def early_exits(tmp_path_factory):
    """Every invocation of this file that must stop before any work, through `cai`'s main in
    one fresh process (tests/cli_batch.py; a subprocess each spent 4 s importing JAX again)."""
    cwd = tmp_path_factory.mktemp("cwd")
    np.savez(cwd / "d.npz", states=np.zeros((2, 4, 3)), actions=np.zeros((2, 3, 1)))
    cases = [("--no-compilation-cache", *args) for args, _ in SIZES]
    cases += [args for args, _ in NON_FINITE] + NOT_READ
    return run_each(cases, cwd=cwd)


@pytest.mark.parametrize("args, option", SIZES)
def test_sizes_that_cannot_fit_are_refused_in_one_line(args, option, early_exits):
    line = one_line_error(early_exits[("--no-compilation-cache", *args)], args[0])
    assert option in line and "GB of memory" in line


def test_size_estimate_and_limit():
    """The estimate counts the posterior's arrays; the limit is half the memory given."""
    from control_as_inference.cli._io import UsageError
    from control_as_inference.cli._sizes import check_size, posterior_bytes
    from control_as_inference.envs import builtin

    mdp = builtin("bridge").mdp  # 22 states, 4 actions
    s, a = mdp.num_states, mdp.num_actions
    assert posterior_bytes(mdp, 10) == 8 * (10 * 4 * s * a + 2 * 11 * s)
    check_size("--horizon", 10, 1000, memory=2000)  # exactly half: allowed
    with pytest.raises(UsageError, match=r"--horizon 10 needs about 1e-06 GB .* lower --horizon"):
        check_size("--horizon", 10, 1001, memory=2000)


@pytest.mark.parametrize("args, message", NON_FINITE)
def test_non_finite_options_exit_2_naming_the_option(args, message, early_exits):
    assert message in one_line_error(early_exits[args], args[0])


def test_irl_refuses_options_its_method_does_not_read(early_exits):
    """Before: --inference variational beside --method exact ran exact (the value equalled the
    default, so it looked not given); --method lqr fitted the double integrator whatever ENV
    said; --method gcl with ENV bridge trained on Pendulum-v1."""
    out = [early_exits[args] for args in NOT_READ[:4]]
    assert "--method exact already sets maxent's inference" in one_line_error(out[0], "irl")
    assert "ENV does not apply to --method lqr" in one_line_error(out[1], "irl")
    assert "--features, --inference do not apply" in one_line_error(out[2], "irl")
    line = one_line_error(out[3], "irl")
    assert "got 'bridge'" in line and out[3].stdout.startswith("bridge: guided cost learning")


@pytest.mark.parametrize("args", NOT_READ[4:])
def test_plan_cem_refuses_the_mppi_options(args, early_exits):
    """CEM keeps its elites: --temperature (even at its default value) and --adapt were
    silently ignored."""
    message = f"{args[4]} not read by --planner cem"
    assert message in one_line_error(early_exits[args], "plan")
