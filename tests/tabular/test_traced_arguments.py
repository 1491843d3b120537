"""Temperature and discount that Python cannot see (under jax.jit, jax.vmap, jax.grad) are
checked when the computation runs: an error, never a silent NaN."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import control_as_inference as cai
from control_as_inference.engine import setting

TEMPERATURE = "temperature must be finite and > 0"
DISCOUNT = "discount must lie in"


@pytest.fixture
def mdp(rng):
    return cai.TabularMDP(rng.dirichlet(np.ones(4), size=(4, 2)), rng.normal(size=(4, 2)))


def evidence(mdp, method="exact"):
    return lambda t, d=1.0: cai.infer(mdp, 5, t, method, d).log_evidence


@pytest.mark.parametrize("method", ["exact", "variational"])
@pytest.mark.parametrize("bad", [0.0, -1.0, np.inf, np.nan])
def test_a_bad_traced_temperature_raises_under_jit(mdp, method, bad):
    with pytest.raises(Exception, match=TEMPERATURE):
        jax.block_until_ready(jax.jit(evidence(mdp, method))(bad))
    with pytest.raises(eqx.EquinoxRuntimeError, match=TEMPERATURE):
        jax.block_until_ready(eqx.filter_jit(evidence(mdp, method))(jnp.asarray(bad)))


def test_vmap_grad_and_summary_are_checked_too(mdp):
    with pytest.raises(Exception, match=TEMPERATURE):
        jax.block_until_ready(jax.vmap(evidence(mdp))(jnp.array([0.5, 0.0])))
    with pytest.raises(Exception, match=TEMPERATURE):
        jax.block_until_ready(jax.grad(evidence(mdp))(0.0))
    summary = jax.jit(lambda t: cai.infer_summary(mdp, 5, t).log_evidence)
    with pytest.raises(Exception, match=TEMPERATURE):
        jax.block_until_ready(summary(0.0))
    with pytest.raises(Exception, match=DISCOUNT):
        jax.block_until_ready(jax.jit(evidence(mdp))(1.0, 1.5))


def test_good_traced_values_give_the_concrete_answers(mdp):
    temperatures = jnp.array([0.3, 1.0, 4.0])
    batched = jax.jit(jax.vmap(evidence(mdp, "variational"), in_axes=(0, None)))(temperatures, 0.9)
    for t, value in zip(temperatures.tolist(), batched.tolist(), strict=True):
        expected = cai.infer(mdp, 5, t, "variational", 0.9).log_evidence
        assert value == pytest.approx(float(expected), rel=1e-12)
    assert np.isfinite(jax.grad(evidence(mdp))(0.7))


def test_negative_control_without_the_check_a_traced_zero_is_nan(mdp, monkeypatch):
    """The tests above see the check: without it, temperature 0 under jit is a silent NaN."""
    monkeypatch.setattr(
        setting, "checked_when_run", lambda temperature, discount, *_: (temperature, discount)
    )
    assert np.isnan(jax.jit(evidence(mdp))(0.0))
