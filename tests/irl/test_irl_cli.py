"""cai irl --method maxent | lqr | gcl | airl: the method option, its backward-compatible old
values, the exact linear-Gaussian run against its own truth, and the errors."""

import subprocess
import sys

import numpy as np
import pytest

from ..cli_batch import run_many


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "control_as_inference.cli", "irl", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def value_of(text, label):
    line = next(line for line in text.splitlines() if label in line)
    return float(line.split()[-1])


@pytest.mark.slow  # two fits in subprocesses: about 30 s of CPU
def test_lqr_recovers_the_policy_and_reads_its_saved_demonstrations(tmp_path):
    demos = tmp_path / "lqr.npz"
    out = run("--method", "lqr", "-n", "100", "--horizon", "10", "--save-demos", str(demos))
    assert out.returncode == 0, out.stderr
    assert "(converged)" in out.stdout
    assert value_of(out.stdout, "max |K - K_true|") < 0.5
    assert value_of(out.stdout, "max |Sigma / Sigma_true - 1|") < 0.1
    # maximum likelihood: at least the true reward's likelihood on the same demonstrations
    fitted = value_of(out.stdout, "log-likelihood per demonstration")
    assert fitted >= value_of(out.stdout, "under the true reward")
    with np.load(demos) as data:
        assert data["states"].shape == (100, 11, 2) and data["actions"].shape == (100, 10, 1)
    # negative control: the saved file read back with its actions shuffled fits a worse policy
    with np.load(demos) as data:
        states, actions = data["states"], data["actions"]
    shuffled = tmp_path / "shuffled.npz"
    np.savez(shuffled, states=states, actions=actions[np.random.default_rng(0).permutation(100)])
    bad = run("--method", "lqr", "--horizon", "10", "--demos", str(shuffled))
    assert bad.returncode == 0, bad.stderr
    assert value_of(bad.stdout, "max |K - K_true|") > 2 * value_of(out.stdout, "max |K - K_true|")


def test_method_errors_are_named(tmp_path):
    np.savez(tmp_path / "few.npz", states=np.zeros((1, 2, 2)), actions=np.zeros((1, 1, 1)))
    gcl, lqr, features, inference = run_many(  # one fresh process for the four (cli_batch.py)
        [
            ("irl", "--method", "gcl"),
            ("irl", "--method", "lqr", "--demos", "few.npz", "--horizon", "10"),
            ("irl", "--method", "lqr", "--plot", "x.png", "--features", "state-action"),
            ("irl", "--method", "variational", "--inference", "exact"),
        ],
        cwd=tmp_path,
    )
    assert gcl.returncode != 0 and "--method gcl needs --demos" in gcl.stderr
    assert lqr.returncode != 0 and "n + m + 1 = 4" in lqr.stderr
    # an option the method does not read is refused, not ignored
    assert features.returncode == 2
    assert "--features, --plot do not apply to --method lqr" in features.stderr
    assert inference.returncode == 2 and "drop --inference" in inference.stderr


@pytest.mark.slow  # two maxent fits in subprocesses
def test_the_old_method_values_still_mean_maxent_inference():
    out = run("--method", "exact", "-n", "20", "--max-iterations", "3")
    assert out.returncode == 0, out.stderr
    assert "maxent (exact inference)" in out.stdout
    out = run("-n", "20", "--max-iterations", "3")
    assert out.returncode == 0, out.stderr
    assert "maxent (variational inference)" in out.stdout


@pytest.mark.slow  # compiles SAC and the GCL round twice in subprocesses
def test_gcl_checkpoints_and_resumes(tmp_path):
    rng = np.random.default_rng(0)
    demos, out = tmp_path / "pendulum.npz", tmp_path / "run"
    np.savez(demos, states=rng.normal(size=(3, 41, 3)), actions=rng.uniform(-2, 2, (3, 40, 1)))
    common = ("--method", "gcl", "--demos", str(demos), "--sampler-steps", "50", "--out", str(out))
    first = run(*common, "--steps", "2")
    assert first.returncode == 0, first.stderr
    assert "iterations                           2" in first.stdout
    again = run(*common, "--steps", "3", "--resume")
    assert again.returncode == 0, again.stderr
    assert "iterations                           3" in again.stdout
    assert np.isfinite(value_of(again.stdout, "IS log-likelihood per demonstration"))
