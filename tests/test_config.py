"""The strict test configuration is really in force, so the other tests are as strict as claimed."""

import jax
import jax.numpy as jnp
import pytest

from control_as_inference import _core


def test_shapes_are_checked_at_run_time():
    with pytest.raises(Exception, match=r"(?i)type-check|shape|dimension"):
        _core.soft_maximum(jnp.zeros((2, 3)), jnp.zeros((2, 4)), 1.0)


def test_dtype_promotion_is_strict_and_x64_on():
    assert jax.config.jax_enable_x64
    with pytest.raises(Exception, match=r"(?i)promot"):
        jnp.zeros(2, jnp.float32) + jnp.zeros(2, jnp.float64)
