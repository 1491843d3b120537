"""engine.Setting: one validated setting (temperature, discount, horizon, method) for every family.

Bad values are named (concrete: ValueError; traced: the check runs with the computation), the
discount has one domain ((0, 1], or (0, 1) for a geometric sum over an unbounded horizon) and one
wording, and everything that takes a temperature may be vmapped over it and equals the loop.
"""

import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import control_as_inference as cai
from control_as_inference.engine import Setting, checked_when_run
from control_as_inference.engine import setting as setting_module
from control_as_inference.irl import airl_irl, maxent_objective

TEMPERATURE = "temperature must be finite and > 0"
FINITE_DISCOUNT = r"discount must lie in \(0, 1\]"
GEOMETRIC_DISCOUNT = r"discount must lie in \(0, 1\) \(an unbounded geometric horizon"


@pytest.fixture
def mdp(rng):
    return cai.TabularMDP(rng.dirichlet(np.ones(4), size=(4, 2)), rng.normal(size=(4, 2)))


def test_a_good_setting_keeps_its_values_in_the_asked_dtype():
    s = Setting(0.5, 0.9, 7, "variational", dtype=jnp.float32)
    assert (float(s.temperature), s.horizon, s.method, s.exact, s.infinite) == (
        0.5,
        7,
        "variational",
        False,
        False,
    )
    assert s.temperature.dtype == s.discount.dtype == jnp.float32
    assert float(s.discount) == np.float32(0.9)
    assert Setting().infinite and Setting().exact and float(Setting().discount) == 1.0
    assert Setting(0.5, dtype=jnp.float64).temperature.dtype == jnp.float64


@pytest.mark.parametrize("bad", [0.0, -1.0, np.nan, np.inf, -np.inf])
def test_a_bad_temperature_is_named(bad):
    with pytest.raises(ValueError, match=TEMPERATURE):
        Setting(bad)


@pytest.mark.parametrize("bad", [0.0, -0.5, 1.5, np.nan, np.inf])
def test_a_discount_outside_its_domain_is_named(bad):
    with pytest.raises(ValueError, match=FINITE_DISCOUNT):
        Setting(1.0, bad)


def test_a_geometric_sum_needs_discount_below_one_in_the_same_words():
    Setting(1.0, 1.0)  # a finite horizon (or an absorbing state) may have no discount
    with pytest.raises(ValueError, match=GEOMETRIC_DISCOUNT):
        Setting(1.0, 1.0, geometric=True)
    Setting(1.0, 0.999, geometric=True)
    # the same checker and words wherever a family needs discount < 1
    with pytest.raises(ValueError, match=GEOMETRIC_DISCOUNT):
        cai.policy_search.em_planning(cai.TabularMDP(np.ones((1, 1, 1)), np.zeros((1, 1))), 1.0)


@pytest.mark.parametrize("bad", ["sum-product", None, "Exact"])
def test_an_unknown_method_is_named(bad):
    with pytest.raises(ValueError, match="method must be one of"):
        Setting(method=bad)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_a_bad_horizon_is_named(bad):
    with pytest.raises(ValueError, match="horizon"):
        Setting(horizon=bad)


def test_a_family_that_needs_a_step_refuses_horizon_zero(mdp):
    assert Setting(horizon=0).horizon == 0  # infer's edge case: the terminal value alone
    with pytest.raises(ValueError, match="horizon"):
        maxent_objective(jnp.zeros((4, 2)), mdp, ([[0, 1]], [[0]]), horizon=0)


def test_a_non_scalar_is_named():
    with pytest.raises(ValueError, match="temperature must be a scalar"):
        Setting(jnp.ones(2))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"temperature": 0.0}, TEMPERATURE),
        ({"temperature": np.nan}, TEMPERATURE),
        ({"temperature": -np.inf}, TEMPERATURE),
        ({"discount": 1.5}, FINITE_DISCOUNT),
        ({"discount": 0.0}, FINITE_DISCOUNT),
        ({"discount": 1.0, "geometric": True}, GEOMETRIC_DISCOUNT),
    ],
)
def test_traced_bad_values_raise_when_run(kwargs, message):
    geometric = kwargs.pop("geometric", False)
    values = {"temperature": 1.0, "discount": 0.5, **kwargs}

    def make(temperature, discount):
        s = Setting(temperature, discount, 3, geometric=geometric)
        return s.temperature + s.discount

    with pytest.raises(eqx.EquinoxRuntimeError, match=message):
        jax.block_until_ready(eqx.filter_jit(make)(*map(jnp.asarray, values.values())))
    with pytest.raises(Exception, match=message):
        jax.block_until_ready(jax.jit(make)(*values.values()))


def test_traced_good_values_pass_and_the_setting_crosses_jit_and_vmap():
    s = jax.vmap(lambda t: Setting(t, 0.9, 4, "variational"))(jnp.asarray([0.5, 2.0]))
    assert s.temperature.shape == (2,) and s.horizon == 4  # a batched Setting, a pytree
    doubled = jax.jit(jax.vmap(lambda s: s.temperature * 2))(s)
    np.testing.assert_array_equal(doubled, [1.0, 4.0])
    out = jax.vmap(lambda t: Setting(t, 0.9).temperature)(jnp.asarray([0.5, 2.0]))
    np.testing.assert_array_equal(out, [0.5, 2.0])


def test_negative_control_without_the_traced_check_a_zero_temperature_is_a_silent_nan(
    mdp, monkeypatch
):
    """The traced tests above see the check: without it, temperature 0 under jit is NaN."""
    evidence = jax.jit(lambda t: cai.infer(mdp, 5, t).log_evidence)
    with pytest.raises(Exception, match=TEMPERATURE):
        jax.block_until_ready(evidence(0.0))
    monkeypatch.setattr(setting_module, "checked_when_run", lambda t, d, *_: (t, d))
    assert np.isnan(jax.jit(lambda t: cai.infer(mdp, 5, t).log_evidence)(0.0))
    assert checked_when_run is not setting_module.checked_when_run


TEMPERATURES = jnp.asarray([0.3, 1.0, 2.5])


def _demonstrations(mdp):
    post = cai.infer(mdp, 4, 1.0, "variational")
    return cai.sample(post, jax.random.key(0), 6)


def _takers(mdp):
    """Everything that takes a temperature, as t -> array."""
    demos = _demonstrations(mdp)
    rho = np.asarray(cai.infer(mdp, 40, 1.0, "variational", 0.8).state_action_marginals.sum(0))
    return {
        "infer exact": lambda t: cai.infer(mdp, 4, t, "exact", 0.9).log_policy,
        "infer variational": lambda t: cai.infer(mdp, 4, t, "variational").v,
        "infer_summary": lambda t: cai.infer_summary(mdp, 4, t).log_evidence,
        "soft_value_iteration": lambda t: cai.soft_value_iteration(mdp, t, 0.8).v,
        "maxent_objective": lambda t: maxent_objective(mdp.reward, mdp, demos, 4, t),
        "maxent_objective infinite": lambda t: maxent_objective(
            mdp.reward, mdp, demos, None, t, 0.8
        ),
        "airl_irl": lambda t: airl_irl(mdp, rho, temperature=t, discount=0.8, rounds=3).reward,
    }


@pytest.mark.parametrize(
    "name",
    [
        "infer exact",
        "infer variational",
        "infer_summary",
        "soft_value_iteration",
        "maxent_objective",
        "maxent_objective infinite",
        pytest.param("airl_irl", marks=pytest.mark.slow),  # 15 s: three AIRL fits, compiled
    ],
)
def test_vmap_over_temperature_equals_the_loop(mdp, name):
    take = _takers(mdp)[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cai.ConvergenceWarning)
        batched = np.asarray(jax.vmap(take)(TEMPERATURES))
        loop = np.stack([np.asarray(take(float(t))) for t in TEMPERATURES])
    np.testing.assert_allclose(batched, loop, rtol=1e-12, atol=1e-13)
    # negative control: the answers depend on the temperature, so a vmap that ignored its
    # batch (or the loop's order) would fail the comparison above
    assert not np.allclose(loop[0], loop[-1], rtol=1e-6)


def test_a_vmapped_bad_temperature_is_named_for_every_taker(mdp):
    for name, take in _takers(mdp).items():
        if name == "airl_irl":  # (the slowest; its Setting is the one checked above)
            continue
        with pytest.raises(Exception, match=TEMPERATURE):
            jax.block_until_ready(jax.vmap(take)(jnp.asarray([1.0, 0.0])))
