"""Issue 30 item 9: a temperature below what the soft values resolve (dtype eps times their
scale) gave a uniform policy silently (cai solve --temperature 1e-20: every arrow up); it now
warns, naming the temperature, and only there."""

import warnings

import numpy as np
import pytest

import control_as_inference as cai
from control_as_inference.envs import builtin
from control_as_inference.tabular.inference import PrecisionWarning, unresolved_below


def test_a_temperature_below_the_resolution_warns_and_its_policy_is_wrong():
    mdp = builtin("bridge").mdp
    limit = unresolved_below(mdp, 30)
    assert limit == pytest.approx(np.finfo(np.float64).eps * 50 * 30)  # |r| <= 50, H = 30
    hard = np.asarray(cai.infer(mdp, 30, 1e-8).log_policy[0]).argmax(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning where the policy is right
        good = cai.infer(mdp, 30, 1e-10)
    assert (np.asarray(good.log_policy[0]).argmax(axis=1) == hard).all()
    with pytest.warns(PrecisionWarning, match=r"temperature 1e-20 is below .* 3.3e-13"):
        bad = cai.infer(mdp, 30, 1e-20)
    # the negative control: the warned policy is indeed wrong (its argmax disagrees)
    assert not (np.asarray(bad.log_policy[0]).argmax(axis=1) == hard).all()


def test_cli_solve_warns_in_one_line():
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "control_as_inference.cli", "solve", "--temperature", "1e-20"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cai solve: warning: temperature 1e-20 is")
