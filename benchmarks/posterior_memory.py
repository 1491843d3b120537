"""What the posterior keeps: time and peak memory of `infer` before and after `keep` (issue 23).

"before" is the computation `infer` ran at commit e223e2c, frozen in
tests/tabular/posterior_oracle.py (the backward scan stacking q, log pi and the continuation, the
forward scan reading them); "after" is today's `infer` with keep=None (everything, the default),
keep=("v",) (values only: no (H, S, A) array, no forward pass) and keep=("state_marginals",).

    python benchmarks/posterior_memory.py            # both parts, about 3-5 minutes
    python benchmarks/posterior_memory.py --part time --repeats 9
    python benchmarks/posterior_memory.py --part memory --horizon 20   # quicker
    mkdir -p /tmp/cai_e223e2c && git archive e223e2c src | tar -x -C /tmp/cai_e223e2c
    python benchmarks/posterior_memory.py --part memory --before-src /tmp/cai_e223e2c/src

time: successor lists S = 1e5, A = 4, K = 5, H = 50, float64; the passes of each version run
interleaved in one process (round-robin, medians), against scipy's CSR mat-vec (H of them for a
backward pass, 2H for a backward and a forward pass).
memory: S = 1e6, A = 4, K = 8, H = 100, float32, exact; every version in its own child process:
its peak resident memory (VmHWM) above the model's, and XLA's memory analysis of the compiled
program (arguments + outputs + temporaries), against the goal 2 x model + (H + 1, S) values.
"""

from __future__ import annotations

import argparse
import os
import sys


def _arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", default="time,memory", help="time, memory or both")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--horizon", type=int, default=None, help="memory part's horizon")
    parser.add_argument(
        "--before-src",
        default=None,
        help="src/ of a checkout of the old code (git archive e223e2c src | tar -x -C DIR), "
        "measured as it was, in a child process",
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    return parser.parse_args()


ARGS = _arguments() if __name__ == "__main__" else None
if ARGS is not None:
    from _threads import limit_threads

    limit_threads(ARGS.threads)

import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse  # noqa: E402

import control_as_inference as cai  # noqa: E402
from control_as_inference.tabular import inference  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
if os.environ.get("CAI_BENCH_OLD") is None:  # today's package (not the old one of --before-src)
    from control_as_inference.tabular import passes, posterior
    from tabular import posterior_oracle


def successor_model(s, a, k, dtype, seed=0):
    rng = np.random.default_rng(seed)
    index = rng.integers(0, s, size=(s, a, k)).astype(np.int32)
    prob = rng.random((s, a, k)).astype(dtype)
    prob /= prob.sum(-1, keepdims=True)
    reward = rng.normal(size=(s, a)).astype(dtype)
    return index, prob, reward


def block(x):
    return jax.tree_util.tree_map(
        lambda a: a.block_until_ready() if hasattr(a, "block_until_ready") else a, x
    )


def timed(fn):
    start = time.perf_counter()
    block(fn())
    return time.perf_counter() - start


def part_time(repeats):
    s, a, k, h = 100_000, 4, 5, 50
    index, prob, reward = successor_model(s, a, k, np.float64)
    rows = np.repeat(np.arange(s * a), k)
    csr = scipy.sparse.csr_matrix((prob.ravel(), (rows, index.ravel())), shape=(s * a, s))
    x = np.random.default_rng(1).normal(size=s)
    mdp = cai.TabularMDP(cai.Successors(index, prob), reward)
    del index, prob
    one, term = jnp.asarray(1.0), jnp.zeros(s)

    def backward_old(mdp, method):
        spec = passes.Spec.of(mdp, one, one, method)
        return posterior_oracle.backward(mdp, spec, h, term)

    def backward_new(mdp, method):  # values only: what infer(keep=("v",)) runs
        spec = passes.Spec.of(mdp, one, one, method)
        return passes.backward_kept(mdp, spec, h, term, ())

    runs = {"CSR mat-vec x H": lambda: [csr @ x for _ in range(h)]}
    for method in ("variational", "exact"):
        old = jax.jit(backward_old, static_argnums=1)
        new = jax.jit(backward_new, static_argnums=1)
        runs[f"backward {method}, before"] = lambda old=old, m=method: old(mdp, m)
        runs[f"backward {method}, values only"] = lambda new=new, m=method: new(mdp, m)
        args = (mdp, h, 1.0, method)
        runs[f"infer {method}, before"] = lambda args=args: posterior_oracle.oracle_posterior(*args)
        for keep in (None, ("state_marginals",), ("v",)):
            runs[f"infer {method}, keep={keep}"] = lambda args=args, keep=keep: cai.infer(
                *args, keep=keep
            )
    times = {name: [] for name in runs}
    for run in runs.values():  # compile and warm up
        run()
    for _ in range(repeats):  # round-robin: every version sees the same machine state
        for name, run in runs.items():
            times[name].append(timed(run))
    csr_h = statistics.median(times["CSR mat-vec x H"])
    print(
        f"\ntime: successor lists S={s}, A={a}, K={k}, H={h}, float64, threads "
        f"{ARGS.threads}; medians of {repeats} interleaved rounds"
    )
    print(f"  {'':42s} {'ms':>9s} {'ms/step':>8s} {'/ H CSR':>8s} {'/ 2H CSR':>8s}")
    for name, values in times.items():
        m = statistics.median(values)
        print(
            f"  {name:42s} {1e3 * m:9.1f} {1e3 * m / h:8.2f} {m / csr_h:8.2f} "
            f"{m / (2 * csr_h):8.2f}"
        )


def resident_peak(reset=False):
    if reset:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")


def child(spec):
    version, horizon = spec.split(":")
    horizon = int(horizon)
    s, a, k = 1_000_000, 4, 8
    index, prob, reward = successor_model(s, a, k, np.float32)
    mdp = cai.TabularMDP(cai.Successors(index, prob), reward)
    del index, prob, reward
    block(mdp)
    model = sum(x.nbytes for x in jax.tree_util.tree_leaves(mdp))
    values = (horizon + 1) * s * 4
    if version == "e223e2c":  # the old package itself (--before-src), its Posterior included
        args = inference.check_arguments(mdp, horizon, 1.0, "exact", 1.0, None)
        compiled = inference._infer.lower(mdp, args).compile()
        run = lambda: compiled(mdp, args)  # noqa: E731
    elif version == "before":
        dtype = mdp.dtype
        args = (mdp, jnp.asarray(1.0, dtype), jnp.asarray(1.0, dtype), jnp.zeros(s, dtype))
        compiled = posterior_oracle._oracle.lower(*args, horizon, "exact").compile()
        run = lambda: compiled(*args)  # noqa: E731
    else:
        keep = None if version == "None" else tuple(version.split("+"))
        args = inference.check_arguments(mdp, horizon, 1.0, "exact", 1.0, None, keep)
        compiled = posterior._solve.lower(mdp, args).compile()
        run = lambda: compiled(mdp, args)  # noqa: E731
    xla = compiled.memory_analysis()
    xla_total = (
        xla.argument_size_in_bytes
        + xla.output_size_in_bytes
        + xla.temp_size_in_bytes
        - xla.alias_size_in_bytes
    )
    base = resident_peak(reset=True)
    seconds = timed(run)
    peak = resident_peak()
    goal = 2 * model + values
    print(
        f"  {version:24s} {seconds:6.1f} s  RSS +{(peak - base) / 1e9:5.2f} GB "
        f"(peak {peak / 1e9:5.2f})  XLA args {xla.argument_size_in_bytes / 1e9:5.2f} "
        f"out {xla.output_size_in_bytes / 1e9:5.2f} temp {xla.temp_size_in_bytes / 1e9:5.2f} "
        f"total {xla_total / 1e9:5.2f} GB = {xla_total / goal:4.2f} x goal; "
        f"model+RSS rise {(model + peak - base) / goal:4.2f} x goal",
        flush=True,
    )


def part_memory(horizon):
    s, a, k = 1_000_000, 4, 8
    model = s * a * k * 8 + s * a * 4 * 2 + s * 4
    values = (horizon + 1) * s * 4
    print(
        f"\nmemory: S={s}, A={a}, K={k}, H={horizon}, float32, exact; model {model / 1e9:.3f} "
        f"GB, values {values / 1e9:.3f} GB, goal 2 x model + values = "
        f"{(2 * model + values) / 1e9:.3f} GB"
    )
    versions = ["before", "None", "state_marginals", "v"]
    if ARGS.before_src:
        versions.insert(0, "e223e2c")
    for version in versions:
        env = dict(os.environ)
        if version == "e223e2c":
            paths = [ARGS.before_src, env.get("PYTHONPATH")]
            env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
            env["CAI_BENCH_OLD"] = "1"
        out = subprocess.run(
            [sys.executable, __file__, "--threads", str(ARGS.threads), "--child",
             f"{version}:{horizon}"],
            capture_output=True, text=True, env=env,
        )  # fmt: skip
        print(out.stdout.rstrip() or out.stderr[-2000:], flush=True)


def main():
    if ARGS.child:
        return child(ARGS.child)
    with open("/proc/loadavg") as handle:
        load = handle.read().split()[:3]
    print(f"jax {jax.__version__}, {os.cpu_count()} cores, load average {' '.join(load)}")
    parts = ARGS.part.split(",")
    if "time" in parts:
        part_time(ARGS.repeats)
    if "memory" in parts:
        part_memory(ARGS.horizon or 100)
    with open("/proc/loadavg") as handle:
        print(f"load average at the end {' '.join(handle.read().split()[:3])}")
    return 0


if __name__ == "__main__":
    jax.config.update("jax_enable_x64", True)  # the float64 part; float32 models stay float32
    sys.exit(main())
