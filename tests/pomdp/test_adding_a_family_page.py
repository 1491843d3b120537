"""docs/adding-a-family.md's one executed block, run as the site build runs it (a fresh `python`,
JAX's default float32). JAX start-up and compiling take ~10 s idle, so slow (CI runs it)."""

import pathlib
import re
import subprocess
import sys

import pytest

PAGE = pathlib.Path(__file__).parent.parent.parent / "docs" / "adding-a-family.md"
FENCE = re.compile(r'```python exec="on"[^\n]*\n(.*?)\n```', re.DOTALL)


def run_block(tmp_path, code: str) -> subprocess.CompletedProcess:
    script = tmp_path / "page.py"
    script.write_text(code + "\n")
    return subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )


@pytest.mark.slow
def test_the_adding_a_family_page_runs(tmp_path):
    (code,) = FENCE.findall(PAGE.read_text(encoding="utf-8"))
    run = run_block(tmp_path, code)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "pi(. | b_0) [listen, open left, open right]: [1. 0. 0.]" in run.stdout, run.stdout
    assert "pi(. | that belief): [0. 0. 1.]" in run.stdout, run.stdout


def test_negative_control_a_broken_block_fails(tmp_path):
    (code,) = FENCE.findall(PAGE.read_text(encoding="utf-8"))
    assert run_block(tmp_path, code.replace("horizon=3,", "horizon=3,,")).returncode != 0
