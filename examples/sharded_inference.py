"""Tabular inference sharded over the devices of several processes (jax.distributed).

Run it as it is to start two processes on this machine, each with two virtual CPU devices:

    python examples/sharded_inference.py

or start one process per host yourself (same command on every host, its own --process):

    python examples/sharded_inference.py --process 0 --processes 2 --coordinator host0:12345
    python examples/sharded_inference.py --process 1 --processes 2 --coordinator host0:12345

Every process builds the same model, `cai.shard_mdp` gives each device its states' rows, and the
same `cai.infer` call in every process computes the posterior across all devices; each process
then holds its devices' rows of the result. Process 0 compares with a single-device solve.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys


def launch_locally(processes: int) -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        port = sock.getsockname()[1]
    children = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--process",
                str(i),
                "--processes",
                str(processes),
                "--coordinator",
                f"localhost:{port}",
                "--local-devices",
                "2",
            ]
        )
        for i in range(processes)
    ]
    return max(child.wait() for child in children)


def solve(args) -> int:
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={args.local_devices}"
    import jax
    import numpy as np

    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU collectives
    jax.distributed.initialize(
        coordinator_address=args.coordinator,
        num_processes=args.processes,
        process_id=args.process,
    )
    import control_as_inference as cai

    rng = np.random.default_rng(0)  # the same model in every process
    s, a, k, horizon = 1000 * jax.device_count(), 4, 5, 50
    mdp = cai.TabularMDP(
        cai.Successors(rng.integers(0, s, (s, a, k)), rng.dirichlet(np.ones(k), (s, a))),
        rng.normal(size=(s, a)),
    )
    mesh = jax.sharding.Mesh(np.array(jax.devices()), ("states",))
    post = cai.infer(cai.shard_mdp(mdp, mesh), horizon, temperature=0.5)
    rows = sum(shard.data.shape[1] for shard in post.q.addressable_shards)
    print(
        f"process {args.process}: {jax.local_device_count()} of {jax.device_count()} devices, "
        f"holds {rows} of {s} states' Q per step; log evidence {float(post.log_evidence):.6f}",
        flush=True,
    )
    if args.process == 0:
        with jax.default_device(jax.local_devices()[0]):
            single = cai.infer(mdp, horizon, temperature=0.5)
        print(f"single device: log evidence {float(single.log_evidence):.6f}", flush=True)
    jax.distributed.shutdown()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--process", type=int, default=None, help="this process's index")
    parser.add_argument("--processes", type=int, default=2, help="number of processes")
    parser.add_argument("--coordinator", default=None, help="host:port of process 0")
    parser.add_argument("--local-devices", type=int, default=1, help="CPU devices per process")
    args = parser.parse_args()
    if args.process is None:
        return launch_locally(args.processes)
    if args.coordinator is None:
        parser.error("--coordinator is required with --process")
    return solve(args)


if __name__ == "__main__":
    sys.exit(main())
