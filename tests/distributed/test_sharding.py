"""Sharded tabular inference on 4 virtual CPU devices (in a subprocess) equals single-device
inference, keeps the model sharded and moves only vectors between devices."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

import control_as_inference as cai

HERE = os.path.dirname(__file__)


@pytest.mark.slow  # a subprocess that compiles every solver for 4 devices: about a minute
def test_four_devices_same_answers_model_stays_sharded():
    out = subprocess.run(
        [sys.executable, os.path.join(HERE, "sharded_check.py"), "4"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    findings = json.loads(out.stdout.strip().splitlines()[-1])
    assert findings["devices"] == 4
    for name in ("dense", "successors"):
        assert findings[f"{name} inputs sharded"]
        for method in ("exact", "variational"):
            assert findings[f"{name} {method} max error"] < 1e-12
            assert findings[f"{name} {method} outputs sharded"]
        assert findings[f"{name} summary error"] < 1e-12
        assert findings[f"{name} collectives"] > 0  # the devices do talk ...
        # ... but only in S-vectors, never in anything of the model's size
        assert findings[f"{name} largest collective"] <= 32 * 3
        assert findings[f"{name} largest collective"] < findings[f"{name} model elements"] / 4
    assert "does not divide" in findings["indivisible error"]


def test_bad_arguments():
    mdp = cai.TabularMDP(np.full((4, 2, 4), 0.25), np.zeros((4, 2)))
    mesh = jax.make_mesh((1,), ("states",))
    with pytest.raises(ValueError, match="not an axis"):
        cai.shard_mdp(mdp, mesh, axis="rows")
    with pytest.raises(ValueError, match="Mesh"):
        cai.shard_mdp(mdp, "mesh")
    one = cai.shard_mdp(mdp, mesh)  # one device: a no-op placement
    np.testing.assert_allclose(cai.infer(one, 3).q, cai.infer(mdp, 3).q)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


@pytest.mark.slow  # two processes on jax.distributed: half a minute
def test_two_processes_agree_with_one():
    """jax.distributed on localhost: 2 processes x 2 CPU devices solve one sharded model."""
    port = str(free_port())
    worker = os.path.join(HERE, "multiprocess_worker.py")
    procs = [
        subprocess.Popen(
            [sys.executable, worker, str(i), port],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    results = []
    try:
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=300)
            assert proc.returncode == 0, stderr[-3000:]
            results.append(json.loads(stdout.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            proc.kill()
    for result in results:
        assert result["global devices"] == 4 and result["local devices"] == 2
        for method in ("exact", "variational"):
            assert result[f"{method} error"] < 1e-12
            assert result[f"{method} evidence error"] < 1e-12
