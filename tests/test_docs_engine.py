"""docs/engine.md's executed blocks (```python exec="on" ... session="engine"), run here as the
site build runs them: in order, in one namespace, in a fresh `python` with JAX's default
configuration. The page explains the engine with these blocks, so a change of the engine's API
that breaks them fails here too, not only in the (5-minute) strict site build. About 15 s on an
idle 2-core machine (JAX start-up and compiling), so marked slow (CI runs it).
"""

import pathlib
import re
import subprocess
import sys

import pytest

PAGE = pathlib.Path(__file__).parent.parent / "docs" / "engine.md"
FENCE = re.compile(r'```python exec="on"[^\n]*session="engine"[^\n]*\n(.*?)\n```', re.DOTALL)


def engine_blocks(text: str) -> list[str]:
    return FENCE.findall(text)


@pytest.mark.slow
def test_the_engine_page_runs(tmp_path):
    blocks = engine_blocks(PAGE.read_text(encoding="utf-8"))
    assert len(blocks) >= 5, "docs/engine.md lost its executed examples"
    script = tmp_path / "engine_page.py"
    script.write_text("\n\n".join(blocks) + "\n")
    run = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "converged True" in run.stdout and "sums to 9.99" in run.stdout, run.stdout


def test_negative_control_a_broken_block_fails(tmp_path):
    script = tmp_path / "broken.py"
    code = engine_blocks(PAGE.read_text(encoding="utf-8"))[0]
    script.write_text(code.replace("Setting(temperature=0.0)", "Setting(temperature=0.0) +"))
    run = subprocess.run([sys.executable, str(script)], capture_output=True, cwd=tmp_path)
    assert run.returncode != 0
