"""The examples run (with small settings) and say what they claim."""

import importlib.util
import pathlib

import pytest

EXAMPLES = pathlib.Path(__file__).parent.parent / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_exact_vs_variational(tmp_path, capsys):
    example = load("exact_vs_variational")
    example.main(example.Args(episodes=200, figure=str(tmp_path / "f.png")))
    out = capsys.readouterr().out
    assert "exact" in out and "variational" in out and (tmp_path / "f.png").exists()


def test_frozenlake(capsys):
    example = load("frozenlake")
    example.main(example.Args(temperatures=(1e-3,), episodes=100))
    assert "success" in capsys.readouterr().out


def test_soft_lqr(tmp_path, capsys):
    example = load("soft_lqr")
    example.main(example.Args(samples=5, figure=str(tmp_path / "l.png")))
    assert "exact" in capsys.readouterr().out and (tmp_path / "l.png").exists()


@pytest.mark.slow  # the example swings the pendulum up
def test_pendulum_ilqr(capsys):
    example = load("pendulum_ilqr")
    example.main(example.Args(figure=None))
    out = capsys.readouterr().out
    assert "upright" in out and "return" in out


@pytest.mark.slow  # the same two-process run as tests/distributed (there in the slow run too)
def test_sharded_inference_two_processes():
    import re
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "sharded_inference.py")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    evidences = re.findall(r"log evidence (-?[\d.]+)", out.stdout)
    assert len(evidences) == 3 and len(set(evidences)) == 1, out.stdout
    assert "holds 2000 of 4000 states" in out.stdout


def test_partial_observation(tmp_path, capsys):
    example = load("partial_observation")
    example.main(example.Args(horizon=20, tiger_resolution=40, figure=str(tmp_path / "p.png")))
    out = capsys.readouterr().out
    assert "variational" in out and "exact" in out and "Tiger" in out
    assert (tmp_path / "p.png").exists()
