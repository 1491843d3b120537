"""The vectorised float64 logarithm of `_kernels` against numpy's (correctly rounded) log."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from control_as_inference.tabular import _kernels


def ulps(ours, reference):
    """|ours - reference| in units in the last place of the reference (log 1 = 0 must be 0)."""
    return np.abs(ours - reference) / np.spacing(np.maximum(np.abs(reference), 1e-300))


def sample_positive(rng, n):
    return np.concatenate(
        [
            rng.random(n),  # (0, 1)
            np.exp(rng.uniform(-708, 709, n)),  # every binade of the normal range
            rng.uniform(0.70, 0.72, n),  # both sides of the reduction's sqrt(1/2) switch
            rng.uniform(1.41, 1.42, n),
            1 + rng.normal(size=n) * 1e-9,  # log near 0, where the relative error is hardest
            [np.finfo(np.float64).tiny, np.nextafter(1.0, 0), 1.0, 2.0, np.finfo(np.float64).max],
        ]
    )


def test_log_float64_within_one_ulp_of_numpy():
    x = sample_positive(np.random.default_rng(0), 200_000)
    ours = np.asarray(jax.jit(_kernels.log)(jnp.asarray(x)))
    reference = np.log(x)
    assert ulps(ours, reference).max() <= 1.0
    assert ours[x == 1.0][0] == 0.0


def test_log_float64_negative_control_short_series():
    """The 1-ulp bound above can fail: with 6 terms of the series instead of 10 it does."""
    x = sample_positive(np.random.default_rng(1), 50_000)
    ours = np.asarray(jax.jit(lambda x: _kernels._log_float64(x, terms=6))(jnp.asarray(x)))
    assert ulps(ours, np.log(x)).max() > 1.0


def test_log_special_values():
    x = jnp.asarray([0.0, -0.0, -1.0, np.inf, -np.inf, np.nan, 1.0])
    got = np.asarray(jax.jit(_kernels.log)(x))
    np.testing.assert_array_equal(got[:2], [-np.inf, -np.inf])
    assert np.isnan(got[2]) and np.isnan(got[4]) and np.isnan(got[5])
    assert got[3] == np.inf and got[6] == 0.0


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_log_gradient_and_dtype(dtype):
    x = jnp.asarray([0.25, 1.0, 3.0, 1e10], dtype)
    assert _kernels.log(x).dtype == dtype
    np.testing.assert_allclose(_kernels.log(x), np.log(np.asarray(x)), rtol=1e-6)
    grad = jax.grad(lambda x: jnp.sum(_kernels.log(x)))(x)
    np.testing.assert_allclose(grad, 1 / np.asarray(x, np.float64), rtol=1e-6)
    # under vmap and second order (d^2 log x / dx^2 = -1 / x^2)
    second = jax.vmap(jax.grad(jax.grad(_kernels.log)))(x)
    np.testing.assert_allclose(second, -1 / np.asarray(x, np.float64) ** 2, rtol=1e-5)
