"""The persistent compilation cache: `cai` fills it, a second run finds everything there and
prints the same numbers, the off switches leave it empty, and the library switch changes no JAX
setting until it is called. The runs that turn the cache on are subprocesses, so that this test
process keeps its own (cache-less) JAX configuration."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from control_as_inference.cli import main
from control_as_inference.compilation_cache import (
    cache_enabled_by_environment,
    default_cache_dir,
    enable_compilation_cache,
)

from .conftest import TEST_CACHE_VARIABLES


def plain_environment():
    """This process's environment without the test session's compilation cache."""
    return {k: v for k, v in os.environ.items() if k not in TEST_CACHE_VARIABLES}


def run_cai(args, xdg, **env):
    environment = {**plain_environment(), "XDG_CACHE_HOME": str(xdg)}
    environment.pop("CAI_COMPILATION_CACHE", None)  # tests/conftest.py turns it off
    environment.update(env)
    done = subprocess.run(
        [sys.executable, "-m", "control_as_inference.cli", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return done


def entries(directory):
    return sorted(p.name for p in directory.rglob("*") if p.is_file())


@pytest.mark.slow  # cold compiles by design; .ci/plain_install checks the same in CI
def test_cai_fills_the_cache_and_reuses_it_with_identical_results(tmp_path, monkeypatch):
    cache = tmp_path / "xdg" / "control-as-inference" / "jax"
    cold, warm = tmp_path / "cold.json", tmp_path / "warm.json"
    run_cai(["solve", "--json", str(cold)], tmp_path / "xdg")
    first = entries(cache)
    assert len(first) >= 3  # the solver's programs
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    run_cai(["solve", "--json", str(warm)], tmp_path / "xdg")
    assert entries(cache) == first  # every program found in the cache: nothing new written
    expected = json.loads(cold.read_text())
    assert json.loads(warm.read_text()) == expected  # bit for bit (floats in JSON: repr)

    # the off switches (in this process: nothing is turned on) leave a new cache folder empty
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "off"))
    for argv, switch in (
        (["--no-compilation-cache", "solve"], "1"),
        (["solve"], "0"),
    ):
        monkeypatch.setenv("CAI_COMPILATION_CACHE", switch)
        out = tmp_path / f"off{switch}.json"
        assert main([*argv, "--json", str(out)]) == 0
        assert json.loads(out.read_text()) == expected
    assert not (tmp_path / "off").exists()


def test_library_switch_and_environment(tmp_path, monkeypatch):
    code = (
        "import sys, jax, control_as_inference as cai\n"
        "assert cai.__name__ and jax.config.jax_compilation_cache_dir is None\n"
        "path = cai.enable_compilation_cache(sys.argv[1])\n"
        "assert jax.config.jax_compilation_cache_dir == str(path)\n"
        "assert jax.config.jax_persistent_cache_min_compile_time_secs == 0.0\n"
        "assert jax.config.jax_compilation_cache_max_size == 1 << 30\n"
        "jax.block_until_ready(jax.jit(lambda x: x * 2 + 1)(jax.numpy.ones(3)))\n"
        "print(sum(1 for p in path.rglob('*') if p.is_file()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "lib")],
        capture_output=True,
        text=True,
        env=plain_environment(),
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) >= 1

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x" / "control-as-inference" / "jax"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir().parts[-3:] == (".cache", "control-as-inference", "jax")
    for value, on in (("", True), ("1", True), ("on", True), ("0", False), ("False", False)):
        monkeypatch.setenv("CAI_COMPILATION_CACHE", value)
        assert cache_enabled_by_environment() is on
    monkeypatch.setenv("CAI_COMPILATION_CACHE", "maybe")
    with pytest.raises(ValueError, match="CAI_COMPILATION_CACHE"):
        cache_enabled_by_environment()
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="not a directory"):
        enable_compilation_cache(tmp_path / "file")
    with pytest.raises(ValueError, match="min_compile_seconds"):
        enable_compilation_cache(tmp_path / "d", min_compile_seconds=-1)
    with pytest.raises(ValueError, match="max_bytes"):
        enable_compilation_cache(tmp_path / "d", max_bytes=0)


@pytest.mark.slow  # four fresh processes
def test_entries_written_without_a_size_limit_do_not_break_the_limited_cache(tmp_path):
    """An entry written with max_bytes=-1 has no KEY-atime file; JAX's size-limited cache then
    failed (FileNotFoundError) at every later write, so nothing new was cached. Enabling the
    limited cache stamps the missing files (negative control: JAX alone warns)."""
    code = (
        "import sys, warnings, jax, control_as_inference as cai\n"
        "from pathlib import Path\n"
        "path, limit, ours = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == '1'\n"
        "if ours:\n"
        "    cai.enable_compilation_cache(path, max_bytes=limit)\n"
        "else:\n"
        "    jax.config.update('jax_compilation_cache_dir', str(path))\n"
        "    jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0)\n"
        "    jax.config.update('jax_compilation_cache_max_size', limit)\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    jax.block_until_ready(jax.jit(lambda x: x * float(sys.argv[4]))(jax.numpy.ones(3)))\n"
        "print(sum('compilation cache' in str(w.message) for w in caught))\n"
    )

    def run(path, limit, ours, factor):
        args = [str(path), str(limit), "1" if ours else "0", str(factor)]
        done = subprocess.run(
            [sys.executable, "-c", code, *args],
            capture_output=True,
            text=True,
            timeout=300,
            env=plain_environment(),
        )
        assert done.returncode == 0, done.stderr
        return int(done.stdout)

    for ours in (False, True):
        path = tmp_path / ("ours" if ours else "jax")
        assert run(path, -1, ours, 2.0) == 0  # no limit: entries without KEY-atime
        assert not list(path.glob("*-atime")) and list(path.glob("*-cache"))
        warnings_seen = run(path, 1 << 30, ours, 3.0)  # a limit, and a new program to write
        if ours:
            assert warnings_seen == 0
            caches, atimes = list(path.glob("*-cache")), list(path.glob("*-atime"))
            assert len(atimes) == len(caches) >= 2  # the new program was written
        else:
            assert warnings_seen >= 1  # JAX alone: "Error writing persistent compilation cache"
