"""Every ```python block of README.md, and every plain ```python block of docs/, runs as written.

The documentation site's executed blocks (```python exec="on", markdown-exec) run when the site is
built (`mkdocs build --strict`, in .ci/run); the plain ones of docs/ (training runs, a Ray sweep:
too slow or too stateful for the build) and the README's run here.

How: each block is written to a file and run by a fresh `python` in a temporary working directory,
so that it sees what a user sees: JAX's default configuration (float32, standard promotion; not
this suite's x64 and strict promotion from conftest.py), no names from other blocks (every block
is complete by itself: the README says so and this test keeps it true) and nothing written into
the repository (runs/, sweep.csv, ... land in the temporary directory). A block passes when the
process exits with 0.

A block that imports an optional extra (`OPTIONAL`), or calls a function that needs one
(`NEEDS`), is skipped when the extra is not installed. Blocks are written to be quick as shown
(short runs, with a comment giving the settings of a real run); a block that still takes longer
than a few seconds is marked `slow` by `SLOW` (a substring of the block, and why); the others
take about 30 s together with `-n auto` on two cores (3-12 s each, mostly start-up and compiling).
"""

import importlib.util
import os
import pathlib
import re
import subprocess
import sys

import pytest

from .conftest import TEST_CACHE_VARIABLES

ROOT = pathlib.Path(__file__).parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("**/*.md"))]

# top-level modules of the optional extras (pyproject.toml), and library calls that need one
OPTIONAL = {"ray", "gymnax", "tensorboardX", "pygame", "torch"}
NEEDS = {"run_sweep(": "ray", "save_gif(": "pygame"}
# blocks, named by a substring, that take more than a few seconds on two cores
SLOW = {
    "run_sweep(": "starts a local Ray instance: about 15-20 s",
    'resume("runs/sac"': "four short gymnasium training runs: about 30 s",
    "make_pendulum_train(": "the jitted training of two seeds: about 20 s",
    "linear_gaussian_env()": "30,000 jitted SAC steps on the double integrator: about 20-40 s",
}

# blocks, named by a substring, that this test does not run, and why (say so on the page too)
NOT_RUN = {
    "airl_sac(": "docs/airl.md: trains for many minutes on demonstrations a benchmark writes",
}


def readme_blocks(path: pathlib.Path = README) -> list[tuple[str, int, str]]:
    """(section heading, line number, code) of every plain ```python block of a markdown file."""
    blocks, section, code, start = [], "top", None, 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if code is not None:
            if line.strip() == "```":
                blocks.append((section, start, "\n".join(code) + "\n"))
                code = None
            else:
                code.append(line)
        elif line.startswith("## "):
            section = line[3:].strip()
        elif line.strip() == "```python":
            code, start = [], number
    assert code is None, f"{path.name}: the ```python block of line {start} is not closed"
    return blocks


def missing_extras(code: str) -> list[str]:
    imported = set(re.findall(r"^\s*(?:import|from)\s+(\w+)", code, flags=re.MULTILINE))
    needed = (imported & OPTIONAL) | {extra for call, extra in NEEDS.items() if call in code}
    return sorted(name for name in needed if importlib.util.find_spec(name) is None)


def params():
    for path in PAGES:
        for section, line, code in readme_blocks(path):
            slug = re.sub(r"[^a-z0-9]+", "-", section.lower()).strip("-")[:40]
            marks = [pytest.mark.slow for key in SLOW if key in code]
            marks += [pytest.mark.skip(reason=why) for key, why in NOT_RUN.items() if key in code]
            yield pytest.param(code, id=f"{path.stem}-line{line}-{slug}", marks=marks)


def test_readme_has_blocks():
    blocks = readme_blocks()
    assert len(blocks) >= 1, "README.md: the short tour's block is gone"
    assert all(code.strip() for _, _, code in blocks)
    pages = [block for path in PAGES[1:] for block in readme_blocks(path)]
    assert len(pages) >= 4, "docs/: the plain blocks (training, sweeps) are gone"


@pytest.mark.parametrize("code", list(params()))
def test_readme_block_runs(code, tmp_path):
    missing = missing_extras(code)
    if missing:
        pytest.skip(f"needs {', '.join(missing)}, not installed")
    script = tmp_path / "block.py"
    script.write_text(code, encoding="utf-8")
    env = {  # a user's environment: no JAX setting but the test session's compilation cache
        k: v for k, v in os.environ.items() if not k.startswith("JAX_") or k in TEST_CACHE_VARIABLES
    }
    env["MPLBACKEND"] = "Agg"
    out = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, f"block failed:\n{code}\n--- stderr ---\n{out.stderr[-3000:]}"
