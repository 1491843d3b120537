"""MPO on the training harness: a resumed run is bit-identical to an uninterrupted one, the
vectorised loop and the jitted JAX loop drive it, `cai train mpo` / `cai evaluate` /
`cai resume` work end to end (slow), and bad settings exit 2 naming the setting."""

import subprocess
import sys

import equinox as eqx
import jax
import numpy as np
import pytest

from control_as_inference.agents import MPOConfig, read_log, resume, train
from control_as_inference.agents.registry import log_fields
from control_as_inference.cli import main

SMALL = MPOConfig(
    hidden=(16, 16), buffer_size=1000, batch_size=32, learning_starts=50, num_samples=4
)


def _arrays(state):
    return jax.tree_util.tree_leaves(eqx.filter(state, eqx.is_array))


@pytest.mark.slow  # ~12 s of CPU (a compilation of the loop step): over the default budget
def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path):
    whole = train(SMALL, "Pendulum-v1", jax.random.key(3), 400, progress=False)
    first = train(
        SMALL, "Pendulum-v1", jax.random.key(3), 300, out=str(tmp_path / "b"), progress=False
    )
    assert int(first.state.step) == 300
    rest = resume(str(tmp_path / "b"), steps=400, progress=False)
    a, b = _arrays(whole.state), _arrays(rest.state)
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert [r["return"] for r in whole.history] == [r["return"] for r in rest.history]
    rows = read_log(str(tmp_path / "b"))
    fields = log_fields(SMALL)  # LOG_FIELDS and MPO's KLs and multipliers
    assert tuple(rows[0]) == fields and len(rows) == 2
    assert rows == [{f: pytest.approx(r[f], rel=1e-6) for f in fields} for r in rest.history]
    for name in ("temperature", "kl_estep", "kl_mean", "kl_covariance", "multiplier_mean"):
        assert np.isfinite(rows[-1][name]), name


@pytest.fixture
def keep_x64():
    """`main` sets JAX's precision for its process; restore the test session's."""
    before = jax.config.jax_enable_x64
    yield
    jax.config.update("jax_enable_x64", before)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--epsilon", "0"], "--epsilon (a KL bound) must"),  # the option typed, not the field
        (["--epsilon-mean", "-0.1"], "--epsilon-mean (a KL bound)"),
        (["--num-samples", "1"], "--num-samples must"),
        (["--policy", "categorical"], "Discrete"),  # a categorical policy on a Box space
        (["--temperature", "0.5"], "--temperature"),
    ],
)
def test_bad_settings_exit_2_naming_the_setting(tmp_path, capsys, keep_x64, extra, message):
    argv = ["train", "mpo", "Pendulum-v1", "--steps", "10", "--out", str(tmp_path / "r"), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_sac_options_of_mpo_are_refused(tmp_path, capsys, keep_x64):
    argv = ["train", "sac", "Pendulum-v1", "--steps", "10", "--epsilon", "0.1"]
    assert main([*argv, "--out", str(tmp_path / "r")]) == 2
    assert "--epsilon applies to mpo only" in capsys.readouterr().err


def _cai(*args):
    return subprocess.run(
        [sys.executable, "-m", "control_as_inference.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


RUN = ("--buffer-size", "2000", "--batch-size", "32", "--learning-starts", "50")


@pytest.mark.slow
def test_cai_train_resume_evaluate_mpo_continuous_and_discrete(tmp_path):
    run_dir = str(tmp_path / "pendulum")
    out = _cai("train", "mpo", "Pendulum-v1", "--steps", "400", "--out", run_dir, *RUN)
    assert out.returncode == 0, out.stderr
    assert "400 steps, 2 episodes" in out.stdout
    out = _cai("resume", run_dir, "--steps", "600")
    assert out.returncode == 0, out.stderr
    assert "600 steps, 3 episodes" in out.stdout
    png = tmp_path / "curve.png"
    out = _cai("evaluate", run_dir, "--episodes", "2", "--plot", str(png))
    assert out.returncode == 0, out.stderr
    assert f"{run_dir}: Pendulum-v1, mpo, step 600" in out.stdout and png.exists()
    # a Discrete action space gets the categorical policy, vectorised environments too
    run_dir = str(tmp_path / "cartpole")
    out = _cai(
        "train", "mpo", "CartPole-v1", "--steps", "300", "--num-envs", "2", "--out", run_dir, *RUN
    )
    assert out.returncode == 0, out.stderr
    assert '"policy": "categorical"' in (tmp_path / "cartpole" / "config.json").read_text()
    out = _cai("evaluate", run_dir, "--episodes", "2")
    assert out.returncode == 0, out.stderr


@pytest.mark.slow
def test_jitted_jax_loop_runs_mpo_over_vmapped_seeds():
    from control_as_inference.agents.jax_train import make_pendulum_train
    from control_as_inference.agents.registry import promotion

    config = MPOConfig(hidden=(16, 16), buffer_size=1000, batch_size=32, learning_starts=100)
    with promotion():
        states, returns = jax.jit(jax.vmap(make_pendulum_train(config, 400, num_envs=2)))(
            jax.random.split(jax.random.key(0), 2)
        )
    assert returns.shape == (2, 200, 2)
    finished = np.asarray(returns)[~np.isnan(np.asarray(returns))]
    assert finished.size == 2 * 2 and np.all(finished < 0)  # one episode per copy and seed
    assert states.step.shape == (2,) and np.all(np.asarray(states.step) == 400)
    with pytest.raises(ValueError, match="policy"):
        make_pendulum_train(MPOConfig(policy="categorical"), 400)


def test_help_defaults_are_mpo_configs():
    """`cai train --help` states MPO's defaults in MPO_OPTIONS and SAC's for the shared
    settings: both are MPOConfig's."""
    import re

    from control_as_inference.agents import SACConfig
    from control_as_inference.cli.agents import MPO_OPTIONS, SETTINGS

    config = MPOConfig()
    for name, (_, text) in MPO_OPTIONS.items():
        if name != "policy":
            value = re.search(r"\(default: ([^)]+)\)", text).group(1)
            assert float(value) == getattr(config, name), name
    for name in SETTINGS:
        assert getattr(config, name) == getattr(SACConfig(), name), name
