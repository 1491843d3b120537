"""Strict test configuration (after equinox's tests/conftest.py).

x64 is enabled so that float64 oracles are exact; dtype promotion is strict and rank promotion
raises, so the library must never rely on implicit casts or broadcasts. Float32 paths are tested by
building float32 models explicitly.
"""

import os
from pathlib import Path

# `cai` commands run in-process (main()) must not turn on the user's persistent compilation cache
# nor write to the user's cache folder; tests/test_compilation_cache.py turns it on where it tests
# it.
os.environ["CAI_COMPILATION_CACHE"] = "0"

# The test session's own compilation cache: most of a test's time is XLA compiling small programs,
# and many tests build the same program (an eager scan over a new closure is a new program to
# jit's in-memory cache, the same one to this cache's key). JAX keys each entry by the program,
# the versions and the compile options, so an entry never stands for another program. The folder
# is .cache/jax-tests/WORKER in the repository (ignored by git): one per xdist worker (gw0, gw1,
# ...; "main" without xdist), shared with every subprocess it starts (the variables are inherited)
# and with later runs. One per worker because this cache has no size limit, and JAX's unlimited
# cache writes an entry in place and reads one without a lock: a worker that read the entry
# another was still writing deserialised half an executable and segfaulted (seen once, in
# `infer`). Two test sessions at once in one checkout could still meet so: run one at a time.
# No size limit because JAX's size-limited cache lists and stats every entry at every write and
# locks every read, which made a cold run slower than no cache at all (thousands of entries);
# instead a session that finds its folder above TEST_CACHE_MAX_BYTES empties it first.
# CAI_TEST_COMPILATION_CACHE=0 turns it off (every program compiled afresh).
TEST_CACHE_ROOT = Path(__file__).resolve().parent.parent / ".cache" / "jax-tests"
TEST_CACHE = TEST_CACHE_ROOT / os.environ.get("PYTEST_XDIST_WORKER", "main")
TEST_CACHE_MAX_BYTES = 1 << 30  # per folder
TEST_CACHE_VARIABLES = {
    "JAX_COMPILATION_CACHE_DIR": str(TEST_CACHE),
    "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    "JAX_COMPILATION_CACHE_MAX_SIZE": "-1",
}
CACHE_ON = os.environ.get("CAI_TEST_COMPILATION_CACHE", "1") != "0"
if CACHE_ON:
    try:
        TEST_CACHE.mkdir(mode=0o700, parents=True, exist_ok=True)
        for p in TEST_CACHE_ROOT.glob("*-cache"):  # entries of the shared folder of before
            p.unlink(missing_ok=True)
        if sum(p.stat().st_size for p in TEST_CACHE.glob("*-cache")) > TEST_CACHE_MAX_BYTES:
            for p in TEST_CACHE.iterdir():
                p.unlink(missing_ok=True)
    except OSError:  # a read-only checkout, or another worker emptying it: compile afresh
        CACHE_ON = TEST_CACHE.is_dir() and os.access(TEST_CACHE, os.W_OK)
if CACHE_ON:
    os.environ.update(TEST_CACHE_VARIABLES)

import jax  # noqa: E402  (after the cache variables: JAX reads them on import)
import numpy as np  # noqa: E402
import pytest  # noqa: E402

if CACHE_ON:  # JAX may have been imported before this file, by a plugin
    jax.config.update("jax_compilation_cache_dir", str(TEST_CACHE))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_compilation_cache_max_size", -1)

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def rng():
    return np.random.default_rng(20261125)
