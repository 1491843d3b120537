"""The strict test configuration is really in force, so the other tests are as strict as claimed.

Each test fails when its setting is off: the shapes below broadcast and the sum runs in JAX
without jaxtyping's run-time check; float32 + float64 promotes silently under the default rule.
"""

import jax
import jax.numpy as jnp
import pytest

from control_as_inference import _core


def test_shapes_are_checked_at_run_time():
    # Q (2, 3) and a log prior (1, 3): JAX broadcasts them (same rank, so even rank promotion
    # "raise" allows it) and returns (2,) values; only the "S A" annotation on both rejects it
    q, log_prior = jnp.zeros((2, 3)), jnp.zeros((1, 3))
    with pytest.raises(Exception, match=r"(?i)type-check"):
        _core.soft_maximum(q, log_prior, 1.0)


def test_dtype_promotion_is_strict_and_x64_on():
    assert jax.config.jax_enable_x64
    with pytest.raises(Exception, match=r"(?i)promot"):
        jnp.zeros(2, jnp.float32) + jnp.zeros(2, jnp.float64)
