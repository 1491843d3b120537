"""The persistent compilation cache: wall time of `cai` commands in a fresh process with a fresh
(cold) cache, a warm cache (the same command run before) and the cache off, interleaved
(cold, warm, off for each repeat), medians of the repeats; then, optionally, the IRL benchmark
(`benchmarks/irl.py --quick`) with the cache off, cold and warm.

    python benchmarks/compile_cache.py                        # solve, irl, plan; 3 repeats
    python benchmarks/compile_cache.py --commands solve --repeats 5
    python benchmarks/compile_cache.py --irl-benchmark        # also benchmarks/irl.py --quick

Every run is a subprocess with XDG_CACHE_HOME pointing into a temporary folder, so the user's
own cache is neither read nor written. The load average (`os.getloadavg`) is printed before and
after: on a shared machine the absolute times mean little, the ratios more.
"""

from __future__ import annotations

import argparse
import os
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
    parser.add_argument("--irl-benchmark", action="store_true", help="also benchmarks/irl.py")
    return parser.parse_args()


def timed(argv, xdg, cache: bool):
    """Wall seconds of one subprocess; the cache in `xdg` (on) or off."""
    env = {**os.environ, "XDG_CACHE_HOME": str(xdg), "CAI_COMPILATION_CACHE": "1" if cache else "0"}
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stderr[-2000:]}")
    return seconds, done.stdout


def size(folder: Path):
    files = [p for p in folder.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def load():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def cai_commands(names, repeats, root: Path):
    cai = [sys.executable, "-m", "control_as_inference.cli"]
    print(f"{'command':24s} {'cold s':>8s} {'warm s':>8s} {'off s':>8s} {'cold/warm':>9s} "
          f"{'entries':>7s} {'MB':>6s}")  # fmt: skip
    for name in names:
        argv = cai + COMMANDS[name]
        rows = {"cold": [], "warm": [], "off": []}
        for r in range(repeats):
            xdg = root / f"{name}-{r}"
            rows["cold"].append(timed(argv, xdg, True)[0])
            rows["warm"].append(timed(argv, xdg, True)[0])
            rows["off"].append(timed(argv, root / "off", False)[0])
        count, nbytes = size(xdg / "control-as-inference" / "jax")
        cold, warm, off = (statistics.median(rows[k]) for k in ("cold", "warm", "off"))
        print(f"cai {' '.join(COMMANDS[name]):20s} {cold:8.2f} {warm:8.2f} {off:8.2f} "
              f"{cold / warm:8.2f}x {count:7d} {nbytes / 1e6:6.2f}")  # fmt: skip


def irl_benchmark(root: Path):
    """benchmarks/irl.py --quick with the cache off, cold, warm (the library switch, called
    before the script runs)."""
    print("\nbenchmarks/irl.py --quick (its own table, per cache state):")
    for label, cache in (("off", None), ("cold", root / "irl-bench"), ("warm", root / "irl-bench")):
        switch = f"import control_as_inference as c; c.enable_compilation_cache({str(cache)!r}); "
        code = (
            "import runpy, sys; "
            + (switch if cache else "")
            + f"sys.argv = ['irl.py', '--quick']; sys.path.insert(0, {str(HERE)!r}); "
            + f"runpy.run_path({str(HERE / 'irl.py')!r}, run_name='__main__')"
        )
        seconds, out = timed([sys.executable, "-c", code], root / "unused", False)
        print(f"-- cache {label}: {seconds:.2f} s wall for the whole script")
        print("\n".join("   " + line for line in out.splitlines() if line.strip()))


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
            irl_benchmark(Path(tmp))
    print(f"load average after: {load()}")


if __name__ == "__main__":
    sys.exit(main())
