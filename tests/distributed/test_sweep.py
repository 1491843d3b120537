"""Sweeps on a local Ray instance: every run comes back, failures are reported in their row."""

import json

import numpy as np
import pytest

import control_as_inference as cai
from control_as_inference.distributed import grid, plot_sweep, run_sweep, write_table
from control_as_inference.envs import builtin

pytest.importorskip("ray")


@pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")  # Ray starts its processes
def test_local_sweep_returns_every_run_and_reports_failures(tmp_path):
    runs = grid(env=["bridge", "cliff"], temperature=[0.3, 1.0], method=["exact", "variational"])
    runs += [
        {"env": "bridge", "temperature": -1.0, "method": "exact"},  # raises ValueError
        {"env": "no-such-env", "temperature": 1.0, "method": "exact"},  # raises UsageError
    ]
    rows = run_sweep(runs, "solve", num_cpus=2, progress=False)
    assert len(rows) == 10
    for run, row in zip(runs, rows, strict=True):
        assert {k: row[k] for k in run} == run  # in the order given
    good, bad = rows[:8], rows[8:]
    assert all(row["error"] == "" and np.isfinite(row["log_evidence"]) for row in good)
    assert "temperature must be finite and > 0" in bad[0]["error"]
    assert "unknown environment" in bad[1]["error"]
    # a worker's answer is the library's answer (float64 in the workers)
    expected = cai.infer(builtin("cliff").mdp, 30, 0.3, "variational").log_evidence
    row = next(
        r
        for r in good
        if r["env"] == "cliff" and r["temperature"] == 0.3 and r["method"] == "variational"
    )
    assert row["log_evidence"] == pytest.approx(float(expected), rel=1e-10)
    write_table(rows, str(tmp_path / "t.json"))
    assert len(json.loads((tmp_path / "t.json").read_text())) == 10
    write_table(rows, str(tmp_path / "t.csv"))
    assert (tmp_path / "t.csv").read_text().count("\n") == 11
    fig = plot_sweep(rows)
    assert len(fig.axes) == 3


def test_bad_settings_name_the_setting():
    with pytest.raises(ValueError, match="address"):
        run_sweep([{"env": "bridge"}], address="127.0.0.1:1", progress=False)
    with pytest.raises(ValueError, match="address must be host:port"):
        run_sweep([{"env": "bridge"}], address="nowhere", progress=False)
    with pytest.raises(ValueError, match="task"):
        run_sweep([{"env": "bridge"}], task="train", progress=False)
    with pytest.raises(ValueError, match="non-empty"):
        run_sweep([], progress=False)
    with pytest.raises(ValueError, match="list of values"):
        grid(temperature=1.0)
