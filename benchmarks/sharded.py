"""Sharded tabular inference: S = 1,000,000 successor lists over 1, 2 and 4 CPU devices.

Each device count runs in its own process (XLA fixes the number of virtual CPU devices at start):
the model (A = 4, K = 8, float32) is sharded over the states with `cai.shard_mdp`, then
`cai.infer_summary` (backward and forward, checkpointed) runs H = 100 steps. We report the time
per step (median of 3, compilation excluded), the per-device memory of the compiled program
(XLA's memory analysis: arguments + outputs + temporaries) and the process's peak RSS.
On this project's 2-core machine the virtual devices share two cores, so the times show the cost
of the collectives, not a speed-up; the memory per device is what sharding buys.

    python benchmarks/sharded.py                    # 1, 2, 4 devices, S = 1e6
    python benchmarks/sharded.py --states 100000    # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from _child import run_child


def child(devices: int, states: int, horizon: int) -> dict:
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    import statistics
    import time

    import jax
    import numpy as np

    import control_as_inference as cai

    rng = np.random.default_rng(0)
    a, k = 4, 8
    index = rng.integers(0, states, size=(states, a, k), dtype=np.int32)
    prob = rng.dirichlet(np.ones(k), size=(states, a)).astype(np.float32)
    reward = rng.normal(size=(states, a)).astype(np.float32)
    mdp = cai.TabularMDP(cai.Successors(index, prob), reward)
    model_bytes = index.nbytes + prob.nbytes
    del index, prob
    mesh = jax.sharding.Mesh(np.array(jax.devices()), ("states",))
    sharded = cai.shard_mdp(mdp, mesh)
    del mdp

    def run():
        return jax.block_until_ready(cai.infer_summary(sharded, horizon, 1.0, "exact"))

    start = time.perf_counter()
    summary = run()
    first = time.perf_counter() - start
    times = []
    for _ in range(3):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    compiled = (
        jax.jit(lambda m: cai.infer_summary(m, horizon, 1.0, "exact")).lower(sharded).compile()
    )
    memory = compiled.memory_analysis()
    per_device = memory.argument_size_in_bytes + memory.output_size_in_bytes
    per_device += memory.temp_size_in_bytes
    with open("/proc/self/status") as handle:
        peak = next(int(line.split()[1]) for line in handle if line.startswith("VmHWM")) * 1024
    return {
        "devices": devices,
        "ms_per_step": 1e3 * statistics.median(times) / horizon,
        "compile_s": first - statistics.median(times),
        "device_bytes": per_device,
        "peak_rss": peak,
        "model_bytes": model_bytes,
        "log_evidence": float(summary.log_evidence),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--states", type=int, default=1_000_000)
    parser.add_argument("--horizon", type=int, default=100)
    parser.add_argument("--devices", default="1,2,4")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.states, args.horizon)))
        return 0
    import platform

    print(
        f"machine: {platform.machine()} {os.cpu_count()} cores; S = {args.states}, A = 4, "
        f"K = 8, H = {args.horizon}, float32, infer_summary (exact)"
    )
    print(
        f"{'devices':>8s} {'ms/step':>9s} {'compile s':>10s} {'MB/device':>10s} "
        f"{'peak RSS MB':>12s} {'model MB':>9s} {'log evidence':>14s}"
    )
    results = []
    for devices in (int(d) for d in args.devices.split(",")):
        r, error = run_child(__file__, devices, "--states", args.states, "--horizon", args.horizon)
        if error:
            print(f"{devices:8d}  failed: {error}")
            continue
        results.append(r)
        print(
            f"{devices:8d} {r['ms_per_step']:9.2f} {r['compile_s']:10.2f} "
            f"{r['device_bytes'] / 1e6:10.1f} {r['peak_rss'] / 1e6:12.1f} "
            f"{r['model_bytes'] / 1e6:9.1f} {r['log_evidence']:14.6g}"
        )
    evidences = [r["log_evidence"] for r in results]
    if evidences:
        spread = max(evidences) - min(evidences)
        print(f"log evidence spread across device counts: {spread:.3g} (float32)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
