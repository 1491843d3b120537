"""`cai solve` on a POMDP: the built-in tiger and .npz specs, against the library's answer; the
options that do not apply are refused with one line (exit 2); an MDP is still solved as one."""

from __future__ import annotations

import numpy as np
import pytest

import control_as_inference as cai
from control_as_inference.cli import main


def value_line(out: str) -> float:
    return float(out.split("soft value of the initial belief")[1].split()[0])


def test_cai_solve_tiger_prints_the_librarys_value_and_policy(capsys):
    assert main(["solve", "tiger", "--horizon", "3", "--temperature", "0.5"]) == 0
    out = capsys.readouterr().out
    post = cai.pomdp.infer_beliefs(cai.pomdp.tiger(), 3, 0.5)
    assert value_line(out) == pytest.approx(float(post.value), abs=1e-4)
    assert "tiger: 2 states, 3 actions, 2 observations, horizon 3" in out
    assert "policy at the initial belief      1.000 0.000 0.000" in out  # listen first
    assert "o = 0  p(o) 0.500  belief 0.850 0.150" in out  # Bayes after hearing it on the left


def test_cai_solve_reads_a_pomdp_npz(tmp_path, capsys):
    rng = np.random.default_rng(0)
    arrays = dict(
        transitions=rng.dirichlet(np.ones(3), (3, 2)),
        observations=rng.dirichlet(np.ones(2), 3),
        reward=rng.normal(size=(3, 2)),
        initial=np.array([0.2, 0.3, 0.5]),
    )
    path = tmp_path / "model.npz"
    np.savez(path, **arrays)
    assert main(["solve", str(path), "--horizon", "4", "--discount", "0.9"]) == 0
    out = capsys.readouterr().out
    post = cai.pomdp.infer_beliefs(cai.pomdp.POMDP(**arrays), 4, 1.0, 0.9)
    assert value_line(out) == pytest.approx(float(post.value), abs=1e-4)
    assert "model.npz: 3 states, 2 actions, 2 observations, horizon 4" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--method", "exact"], "--method exact is not defined over beliefs"),
        (["--plot", "f.png"], "--plot is not available for a POMDP"),
        (["--slip", "0.1"], "--slip is not available for a POMDP"),
        (["--horizon", "0"], "--horizon must be >= 1 for a POMDP"),
        (["--prior", "1,0"], "--prior"),
        (["--temperature", "-1"], "--temperature must"),
    ],
)
def test_options_that_do_not_apply_to_a_pomdp_exit_2_with_one_line(extra, message, capsys):
    assert main(["solve", "tiger", *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_a_pomdp_npz_missing_an_array_names_it(tmp_path, capsys):
    path = tmp_path / "bad.npz"
    np.savez(path, transitions=np.ones((2, 1, 2)) / 2, observations=np.ones((2, 2)) / 2)
    assert main(["solve", str(path)]) == 2
    err = capsys.readouterr().err
    assert "reward" in err and err.count("\n") == 1, err


def test_an_mdp_is_still_solved_exactly_by_default(capsys):
    assert main(["solve", "bridge", "--horizon", "5"]) == 0
    assert "method                   exact" in capsys.readouterr().out
    assert main(["envs"]) == 0
    assert "POMDPs (cai solve): tiger" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["sample", "compare", "map"])
def test_the_other_commands_refuse_a_pomdp(command, tmp_path, capsys):
    path = tmp_path / "model.npz"
    np.savez(path, transitions=np.ones((2, 1, 2)) / 2, observations=np.ones((2, 2)) / 2,
             reward=np.zeros((2, 1)))  # fmt: skip
    for env in ("tiger", str(path)):
        assert main([command, env]) == 2
        err = capsys.readouterr().err
        assert "is a POMDP" in err and "only `cai solve`" in err and err.count("\n") == 1, err
