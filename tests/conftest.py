"""Strict test configuration (after equinox's tests/conftest.py).

x64 is enabled so that float64 oracles are exact; dtype promotion is strict and rank promotion
raises, so the library must never rely on implicit casts or broadcasts. Float32 paths are tested by
building float32 models explicitly.
"""

import os

import jax
import numpy as np
import pytest

# `cai` commands run in-process (main()) must not turn on the persistent compilation cache for
# the whole test session, nor write to the user's cache folder; tests/test_compilation_cache.py
# turns it on where it tests it.
os.environ["CAI_COMPILATION_CACHE"] = "0"

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def rng():
    return np.random.default_rng(20261125)
