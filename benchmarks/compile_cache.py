"""The persistent compilation cache: wall time of `cai` commands in a fresh process with a fresh
(cold) cache, a warm cache (the same command run before) and the cache off, interleaved
(cold, warm, off for each repeat), medians of the repeats; then, optionally, our fit of the IRL
benchmark (`benchmarks/irl.py`, S = 1000) in a fresh process with the cache off, cold and warm.

    python benchmarks/compile_cache.py                        # solve, irl, plan; 3 repeats
    python benchmarks/compile_cache.py --commands solve --repeats 5
    python benchmarks/compile_cache.py --irl-benchmark        # also benchmarks/irl.py's fit

Every run is a subprocess with XDG_CACHE_HOME pointing into a temporary folder, so the user's
own cache is neither read nor written. The load average (`os.getloadavg`) is printed before and
after: on a shared machine the absolute times mean little, the ratios more.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = {
    "solve": ["solve"],
    "irl": ["irl"],
    "plan": ["plan", "pendulum", "--steps", "50"],
}
HERE = Path(__file__).resolve().parent


def _arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commands", default="solve,irl,plan", help="comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--irl-benchmark", action="store_true", help="also benchmarks/irl.py's fit")
    parser.add_argument("--irl-states", type=int, default=1000, help="S of the IRL fit")
    return parser.parse_args()


def timed(argv, xdg, cache: bool):
    """(wall seconds, CPU seconds, stdout) of one subprocess; the cache in `xdg` (on) or off."""
    env = {**os.environ, "XDG_CACHE_HOME": str(xdg), "CAI_COMPILATION_CACHE": "1" if cache else "0"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stderr[-2000:]}")
    return seconds, cpu, done.stdout


def size(folder: Path):
    files = [p for p in folder.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def load():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def cai_commands(names, repeats, root: Path):
    """Each command cold, warm and off per repeat; medians of wall and CPU seconds."""
    cai = [sys.executable, "-m", "control_as_inference.cli"]
    print(f"{'command':28s} {'cold':>6s} {'warm':>6s} {'off':>6s} {'cold/warm':>9s}   "
          f"{'CPU cold':>8s} {'warm':>6s} {'off':>6s} {'entries':>7s} {'MB':>5s}")  # fmt: skip
    for name in names:
        argv = cai + COMMANDS[name]
        rows = {"cold": [], "warm": [], "off": []}
        for r in range(repeats):
            xdg = root / f"{name}-{r}"
            rows["cold"].append(timed(argv, xdg, True)[:2])
            rows["warm"].append(timed(argv, xdg, True)[:2])
            rows["off"].append(timed(argv, root / "off", False)[:2])
        count, nbytes = size(xdg / "control-as-inference" / "jax")
        wall = {k: statistics.median(w for w, _ in v) for k, v in rows.items()}
        cpu = {k: statistics.median(c for _, c in v) for k, v in rows.items()}
        print(f"cai {' '.join(COMMANDS[name]):24s} {wall['cold']:6.2f} {wall['warm']:6.2f} "
              f"{wall['off']:6.2f} {wall['cold'] / wall['warm']:8.2f}x   {cpu['cold']:8.2f} "
              f"{cpu['warm']:6.2f} {cpu['off']:6.2f} {count:7d} {nbytes / 1e6:5.2f}")  # fmt: skip


IRL_CHILD = """
import resource, sys, time
start = time.perf_counter()
import numpy as np
sys.path.insert(0, {here!r})
import irl as bench  # benchmarks/irl.py: its problem and its timing of ours
import jax
import control_as_inference as cai
if {cache!r}:
    cai.enable_compilation_cache({cache!r})
jax.config.update("jax_enable_x64", True)
rng = np.random.default_rng(0)
s, a, k, f, horizon = {states}, 4, 5, 10, 50
index, prob = bench.random_model(rng, s, a, k)
transitions = bench.dense(index, prob)
features = rng.normal(size=(s, f))
theta = rng.normal(size=f)
true = cai.TabularMDP(transitions, features @ theta, np.full(s, 1.0 / s))
post = cai.infer(true, horizon, 1.0, "variational")
occupancy = np.asarray(post.state_action_marginals).sum(axis=0)
cpu = resource.getrusage(resource.RUSAGE_SELF)
cpu0 = cpu.ru_utime + cpu.ru_stime
fit, first, again = bench.ours(true, features, horizon, occupancy, tol=1e-6)
cpu = resource.getrusage(resource.RUSAGE_SELF)
print(first, again, cpu.ru_utime + cpu.ru_stime - cpu0, time.perf_counter() - start)
"""


def irl_benchmark(root: Path, repeats: int, states: int):
    """benchmarks/irl.py's MaxEnt IRL fit of ours (S = `states`) in a fresh process with the
    cache off, cold and warm (the library switch), interleaved: the first fit (compilation
    included), the same fit again (compiled), the CPU seconds of both fits (less sensitive to
    the load of a shared machine than wall time) and the whole process's wall time."""
    print(f"\nbenchmarks/irl.py's fit of ours, S = {states} (seconds; medians of {repeats}):")
    print(f"{'cache':8s} {'1st fit':>8s} {'2nd fit':>8s} {'fits CPU':>8s} {'process':>8s}")
    rows = {"off": [], "cold": [], "warm": []}
    for r in range(repeats):
        folder = root / f"irl-fit-{r}"
        for label, cache in (("off", ""), ("cold", str(folder)), ("warm", str(folder))):
            code = IRL_CHILD.format(here=str(HERE), cache=cache, states=states)
            _, _, out = timed([sys.executable, "-c", code], root / "unused", False)
            rows[label].append([float(x) for x in out.split()[-4:]])
    for label, values in rows.items():
        medians = [statistics.median(column) for column in zip(*values, strict=True)]
        print(f"{label:8s} " + " ".join(f"{m:8.2f}" for m in medians))


def main():
    args = _arguments()
    names = [n for n in args.commands.split(",") if n]
    unknown = set(names) - set(COMMANDS)
    if unknown:
        raise SystemExit(f"unknown commands {sorted(unknown)}; choose from {sorted(COMMANDS)}")
    print(f"load average before: {load()} ({os.cpu_count()} cores)")
    with tempfile.TemporaryDirectory(prefix="cai-cache-bench-") as tmp:
        cai_commands(names, args.repeats, Path(tmp))
        if args.irl_benchmark:
            irl_benchmark(Path(tmp), args.repeats, args.irl_states)
    print(f"load average after: {load()}")


if __name__ == "__main__":
    sys.exit(main())
