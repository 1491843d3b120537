"""The private core: the backend-chosen float64 logarithm against numpy's (correctly rounded) log
and against its plain reference, the CPU-only fusion barrier of the successor-list kernel against
the plain call, and the shared argument checks."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import control_as_inference as cai
from control_as_inference import _core
from control_as_inference._core import numerics
from control_as_inference.engine import kernels as _kernels


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
    ours = np.asarray(jax.jit(_core.log)(jnp.asarray(x)))
    reference = np.log(x)
    assert ulps(ours, reference).max() <= 1.0
    assert ours[x == 1.0][0] == 0.0


def test_log_float64_negative_control_short_series():
    """The 1-ulp bound above can fail: with 6 terms of the series instead of 10 it does."""
    x = sample_positive(np.random.default_rng(1), 50_000)
    ours = np.asarray(jax.jit(lambda x: numerics.log_float64(x, terms=6))(jnp.asarray(x)))
    assert ulps(ours, np.log(x)).max() > 1.0


def test_log_special_values():
    x = jnp.asarray([0.0, -0.0, -1.0, np.inf, -np.inf, np.nan, 1.0])
    got = np.asarray(jax.jit(_core.log)(x))
    np.testing.assert_array_equal(got[:2], [-np.inf, -np.inf])
    assert np.isnan(got[2]) and np.isnan(got[4]) and np.isnan(got[5])
    assert got[3] == np.inf and got[6] == 0.0


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_log_gradient_and_dtype(dtype):
    x = jnp.asarray([0.25, 1.0, 3.0, 1e10], dtype)
    assert _core.log(x).dtype == dtype
    np.testing.assert_allclose(_core.log(x), np.log(np.asarray(x)), rtol=1e-6)
    grad = jax.grad(lambda x: jnp.sum(_core.log(x)))(x)
    np.testing.assert_allclose(grad, 1 / np.asarray(x, np.float64), rtol=1e-6)
    # under vmap and second order (d^2 log x / dx^2 = -1 / x^2)
    second = jax.vmap(jax.grad(jax.grad(_core.log)))(x)
    np.testing.assert_allclose(second, -1 / np.asarray(x, np.float64) ** 2, rtol=1e-5)


def test_log_is_chosen_by_backend_and_agrees_with_its_reference():
    """On CPU the float64 log lowers to the polynomial kernel (bit-identical to calling it), on any
    other backend to jnp.log; both agree with the reference jnp.log to 1 ulp."""
    x = jnp.asarray(sample_positive(np.random.default_rng(2), 20_000))
    chosen = np.asarray(jax.jit(_core.log)(x))
    kernel = np.asarray(jax.jit(numerics.log_float64)(x))
    reference = np.asarray(jax.jit(jnp.log)(x))
    if jax.default_backend() == "cpu":
        np.testing.assert_array_equal(chosen, kernel)
    else:
        np.testing.assert_array_equal(chosen, reference)
    assert ulps(kernel, reference).max() <= 1.0
    # lowered for another platform, the choice is jnp.log: no polynomial in the module text
    text = jax.jit(_core.log).trace(x).lower(lowering_platforms=("cuda",)).as_text()
    assert "shift_right" not in text and "stablehlo.log" in text


def test_once_agrees_with_the_plain_call():
    """The CPU fusion barrier around the successor-list gather sum changes nothing but fusion."""
    rng = np.random.default_rng(3)
    index = jnp.asarray(rng.integers(0, 50, (50, 4, 3)))
    prob = jnp.asarray(rng.dirichlet(np.ones(3), (50, 4)))
    x = jnp.asarray(rng.normal(size=50))
    once = jax.jit(lambda i, p, x: _core.once(_kernels.gather_sum, i, p, x))(index, prob, x)
    plain = jax.jit(_kernels.gather_sum)(index, prob, x)
    np.testing.assert_allclose(once, plain, rtol=1e-15, atol=0)
    dense = cai.TabularMDP(cai.Successors(index, prob), jnp.zeros((50, 4))).dense_transitions()
    np.testing.assert_allclose(once, dense @ x, rtol=1e-12)
    batched = jax.vmap(lambda x: _core.once(_kernels.gather_sum, index, prob, x))(
        jnp.stack([x, 2 * x])
    )
    np.testing.assert_allclose(batched[1], 2 * plain, rtol=1e-15)


@pytest.mark.parametrize("bad", [True, 1.0, -1, "3", None])
def test_check_int_names_the_field(bad):
    with pytest.raises(ValueError, match=r"^horizon must be a Python int >= 0, got"):
        _core.check_int("horizon", bad, 0)
    assert _core.check_int("horizon", np.int64(3), 0) == 3


def test_float_dtype_is_the_common_floating_dtype():
    assert _core.float_dtype(np.zeros(2, np.float32), None, [1, 2]) == jnp.float32
    assert _core.float_dtype(np.zeros(2, np.float32), np.zeros(2)) == jnp.float64
    assert _core.float_dtype([1, 2]) == jnp.float64  # x64 is on in the tests
