"""Sweeps on a local Ray instance: every run comes back, failures are reported in their row."""

import json
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import control_as_inference as cai
from control_as_inference.distributed import grid, plot_sweep, run_sweep, write_table
from control_as_inference.envs import builtin

pytest.importorskip("ray")


@pytest.mark.slow  # Ray starts workers that each import JAX: 2-3 CPU-minutes, the default's largest
def test_local_sweep_returns_every_run_and_reports_failures(tmp_path):
    runs = grid(env=["bridge", "cliff"], temperature=[0.3, 1.0], method=["exact", "variational"])
    runs += [
        {"env": "bridge", "temperature": -1.0, "method": "exact"},  # raises ValueError
        {"env": "no-such-env", "temperature": 1.0, "method": "exact"},  # raises UsageError
    ]
    # JAX in use before Ray starts: its at-fork hook would warn of a deadlock when Ray starts
    # its processes (they exec at once; run_sweep silences that one warning)
    jax.block_until_ready(jnp.zeros(2) + 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = run_sweep(runs, "solve", num_cpus=2, progress=False)
    assert not [w for w in caught if "os.fork()" in str(w.message)], caught
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


class Listener:
    """A server on a free 127.0.0.1 port that reads a request and answers each connection with
    `reply` (None: says nothing and holds the connection) until closed."""

    def __init__(self, reply: bytes | None):
        import socket
        import threading

        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.reply, self.open, self.held = reply, True, []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while self.open:
            try:
                connection, _ = self.server.accept()
            except OSError:
                continue
            if self.reply is None:
                self.held.append(connection)
            else:
                with connection:
                    connection.settimeout(2)
                    connection.recv(1024)  # the request, then the answer
                    connection.sendall(self.reply)

    def close(self):
        self.open = False
        self.thread.join(5)
        for connection in self.held:
            connection.close()
        self.server.close()


HTTP = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # an HTTP/2 server's first frame


@pytest.mark.parametrize(
    "reply, message",
    [(HTTP, "is not a Ray cluster (it does not answer gRPC)"), (None, "timed out")],
)
def test_an_address_that_is_not_ray_fails_fast(reply, message):
    """A web server (or a silent one) at --address: one ValueError within the timeout, where
    ray.init would wait for many minutes."""
    import time

    from control_as_inference.distributed.sweep import _check_address

    listener = Listener(reply)
    try:
        started = time.perf_counter()
        with pytest.raises(ValueError, match=rf"^address: .*'127\.0\.0\.1:{listener.port}'"):
            try:
                _check_address(f"127.0.0.1:{listener.port}", timeout=1.0)
            except ValueError as error:
                assert message in str(error)
                raise
        assert time.perf_counter() - started < 5
    finally:
        listener.close()
    listener = Listener(SETTINGS)  # what a gRPC server says first: accepted
    try:
        _check_address(f"127.0.0.1:{listener.port}", timeout=1.0)
    finally:
        listener.close()


def test_cli_sweep_at_a_web_server_exits_2_in_one_line():
    import subprocess
    import sys

    listener = Listener(HTTP)
    try:
        out = subprocess.run(
            [sys.executable, "-m", "control_as_inference.cli", "sweep", "--address",
             f"127.0.0.1:{listener.port}"],
            capture_output=True,
            text=True,
            timeout=120,
        )  # fmt: skip
    finally:
        listener.close()
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cai sweep: error: address: what listens")
