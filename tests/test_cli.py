"""The `cai` command in a subprocess, as a user runs it."""

import subprocess
import sys

import pytest


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "control_as_inference.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_solve_default_example():
    out = run("solve")
    assert out.returncode == 0, out.stderr
    assert "log evidence" in out.stdout and "soft values" in out.stdout
    assert "→" in out.stdout and "G" in out.stdout
    evidence = float(out.stdout.split("log evidence:")[1].split()[0])
    assert -11 < evidence < -10


def test_solve_variational_options():
    out = run(
        "solve", "cliff", "--method", "variational", "--temperature", "0.5", "--horizon", "20"
    )
    assert out.returncode == 0, out.stderr
    assert "evidence lower bound" in out.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("solve", "--temperature", "0"),
        ("solve", "--horizon", "-3"),
        ("solve", "--discount", "2"),
        ("solve", "no-such-env"),
        ("solve", "--method", "magic"),
        ("frobnicate",),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args):
    out = run(*args)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith(("cai", "usage"))
    assert "error" in out.stderr.strip().splitlines()[-1]


def test_envs_lists_builtins():
    out = run("envs")
    assert out.returncode == 0 and "bridge" in out.stdout and "four-rooms" in out.stdout
