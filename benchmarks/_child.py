"""Run a benchmark's measurement in a fresh process (its own threads, devices and peak memory) and
read back the JSON it prints last (shared by the benchmark scripts)."""

import json
import subprocess
import sys


def run_child(script: str, *args) -> tuple[dict | None, str | None]:
    """`python script --child ARGS...`: (the last stdout line as JSON, None), or (None, the last
    line of stderr) when the child failed."""
    out = subprocess.run(
        [sys.executable, script, "--child", *(str(a) for a in args)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode:
        lines = out.stderr.strip().splitlines() or [f"exit status {out.returncode}"]
        return None, lines[-1]
    return json.loads(out.stdout.strip().splitlines()[-1]), None
