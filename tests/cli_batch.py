"""Many `cai` invocations that stop early (bad arguments, bad files) in ONE fresh Python process.

Each invocation in its own subprocess paid the import of JAX and the library again, about 4 s on
two cores, most of the CLI tests' time; an early error needs none of it twice. The process is
still a plain one (none of the test session's JAX settings: no x64, no strict promotion), and each
invocation gets its own stdout and stderr and exit code:

    [done] = run_many([("solve", "--temperature", "0")])
    done.returncode, done.stdout, done.stderr

An exception escaping `main` is printed as Python would print it (a traceback on stderr, exit 1),
so a test that asks for no traceback still sees one. Commands that start Ray, threads or long work
belong in their own subprocess (`run` in the test files).
"""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

DRIVER = r"""
import contextlib, io, json, os, sys, traceback
from control_as_inference.cli import main

results = []
for argv, cwd in json.loads(sys.stdin.read()):
    out, err, here = io.StringIO(), io.StringIO(), os.getcwd()
    os.chdir(cwd or here)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as stop:  # as Python exits: argparse's message is already on stderr
            code = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
            if not isinstance(stop.code, (int, type(None))):
                print(stop.code, file=sys.stderr)
        except BaseException:
            traceback.print_exc()
            code = 1
    os.chdir(here)
    results.append({"returncode": code, "stdout": out.getvalue(), "stderr": err.getvalue()})
sys.stdout.write(json.dumps(results))
"""


def run_many(cases, cwd=None, timeout=600):
    """Run each argv of `cases` (a sequence of argument tuples) through `cai`'s main in one
    subprocess, in the folder `cwd`; returns one namespace with returncode, stdout and stderr
    per case, in order."""
    pairs = [(list(argv), None if cwd is None else str(cwd)) for argv in cases]
    done = subprocess.run(
        [sys.executable, "-c", DRIVER],
        input=json.dumps(pairs),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return [SimpleNamespace(**result) for result in json.loads(done.stdout)]


def run_each(cases, cwd=None):
    """`run_many`'s results keyed by their argument tuples."""
    cases = [tuple(argv) for argv in cases]
    return dict(zip(cases, run_many(cases, cwd=cwd), strict=True))
