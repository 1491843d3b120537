"""The planners' normal sampler (`_core.standard_normal`, Box-Muller on the raw bits) against the
normal distribution: moments, a Kolmogorov-Smirnov test on 1e6 draws, independence across the
horizon and sample axes (and within Box-Muller pairs), each with a negative control that the same
check rejects."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from control_as_inference._core import standard_normal
from control_as_inference._core.random import unit_circle

MILLION = 1_000_000
normal = jax.jit(standard_normal, static_argnums=(1, 2))  # one compilation per shape


@pytest.fixture(scope="module")
def draws():
    return np.asarray(normal(jax.random.key(0), (MILLION,)), dtype=np.float64)


def moments_ok(x):
    """Mean, variance, skewness and excess kurtosis within 5 standard errors of N(0, 1)'s."""
    n = x.size
    errors = {
        "mean": abs(np.mean(x)) / np.sqrt(1 / n),
        "variance": abs(np.var(x) - 1) / np.sqrt(2 / n),
        "skewness": abs(stats.skew(x)) / np.sqrt(6 / n),
        "kurtosis": abs(stats.kurtosis(x)) / np.sqrt(24 / n),
    }
    return all(e < 5 for e in errors.values()), errors


def test_moments(draws):
    ok, errors = moments_ok(draws)
    assert ok, errors
    assert np.all(np.isfinite(draws))
    assert np.abs(draws).max() < np.sqrt(48 * np.log(2)) + 1e-4  # the documented truncation
    # negative control: a 1% scale error is seen by the variance
    assert not moments_ok(1.01 * draws)[0]


def test_kolmogorov_smirnov_on_a_million_draws(draws):
    assert stats.kstest(draws, "norm").pvalue > 1e-3
    # negative controls: a 2% scale error, and a shift by 0.01, are rejected
    assert stats.kstest(1.02 * draws, "norm").pvalue < 1e-6
    assert stats.kstest(draws + 0.01, "norm").pvalue < 1e-6


def max_correlation(z, axis):
    """The largest |correlation| between neighbouring slices along `axis` (lag 1), of the draws
    and of their squares (which sees dependence that is not linear), in units of 1/sqrt(n)."""
    a = np.moveaxis(z, axis, 0)
    a, b = a[:-1].ravel(), a[1:].ravel()
    worst = 0.0
    for f in (lambda v: v, np.square):
        worst = max(worst, abs(np.corrcoef(f(a), f(b))[0, 1]) * np.sqrt(a.size))
    return worst


def test_independent_across_horizon_samples_and_pairs():
    h, n = 15, 20_000
    z = np.asarray(normal(jax.random.key(1), (h, 1, n)), dtype=np.float64)[:, 0]
    assert z.shape == (h, n)
    assert max_correlation(z, 0) < 5  # along the horizon
    assert max_correlation(z, 1) < 5  # along the samples
    # the full (H, H) correlation matrix across horizon steps, over the samples
    c = np.corrcoef(z)
    assert np.abs(c - np.eye(h)).max() < 5 / np.sqrt(n)
    # the two outputs of one Box-Muller pair (the first and second half of the flat array)
    flat = z.ravel()
    first, second = flat[: flat.size // 2], flat[flat.size // 2 :]
    for f in (lambda v: v, np.square):
        assert abs(np.corrcoef(f(first), f(second))[0, 1]) * np.sqrt(first.size) < 5
    # negative control: one draw reused along the horizon fails the same check
    reused = np.broadcast_to(z[:1], z.shape)
    assert max_correlation(reused, 0) > 100
    # negative control: a second output with the first's magnitude and a random sign is
    # uncorrelated with it but dependent, which the squares see
    signed = np.abs(first) * np.sign(second)
    assert abs(np.corrcoef(first, signed)[0, 1]) * np.sqrt(first.size) < 5
    assert max_correlation(np.stack([first, signed]), 0) > 100


def test_unit_circle_is_on_the_circle_and_uniform():
    bits = jax.random.bits(jax.random.key(2), (200_000,), jnp.uint32)
    x, y = (np.asarray(v, dtype=np.float64) for v in unit_circle(bits))
    np.testing.assert_allclose(x * x + y * y, 1.0, atol=1e-6)
    angle = np.arctan2(y, x) / (2 * np.pi) % 1.0
    assert stats.kstest(angle, "uniform").pvalue > 1e-3
    # every octant's formula against the angle the bits encode
    b = np.asarray(bits, dtype=np.uint64)
    k, frac = b >> 29, ((b >> 5) & 0xFFFFFF) * 2.0**-24
    theta = np.where(k % 2 == 0, k + frac, k + 1 - frac) * np.pi / 4
    np.testing.assert_allclose(x, np.cos(theta), atol=3e-7)
    np.testing.assert_allclose(y, np.sin(theta), atol=3e-7)


def test_shapes_dtypes_and_keys():
    odd = normal(jax.random.key(3), (3, 5, 7))
    assert odd.shape == (3, 5, 7) and odd.dtype == jnp.float32
    assert normal(jax.random.key(3), (1,)).shape == (1,)
    assert normal(jax.random.key(3), (0, 4)).shape == (0, 4)
    assert normal(jax.random.key(3), (2, 3), jnp.float64).dtype == jnp.float64
    np.testing.assert_array_equal(odd, normal(jax.random.key(3), (3, 5, 7)))
    assert not np.array_equal(odd, normal(jax.random.key(4), (3, 5, 7)))
    # eagerly (op by op) the same numbers, to float32 rounding
    eager = standard_normal(jax.random.key(3), (3, 5, 7))
    np.testing.assert_allclose(eager, odd, rtol=1e-6, atol=1e-6)
