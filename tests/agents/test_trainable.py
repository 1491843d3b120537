"""Only the networks' weights train (issue 16, section 1).

The action box of SAC's actor (scale, offset) is the environment's: before the fix it sat in
the actor's Adam state and log pi was differentiable in log(scale), so every actor step widened
the box (2.43 after 500 updates on a [-2, 2] box). Here: every array of an agent's state that is
not a network weight (the box, the buffer and its counters, the step, log alpha when the
temperature is fixed) is bit-identical after many updates, for SAC, discrete SAC and soft
Q-learning and in the jitted `make_train` loop; the weights do move; the optimisers hold the
weights and nothing else; and the same checks fail on the old behaviour (the negative control,
rebuilt here by monkeypatching the two protections away).
"""

import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from control_as_inference.agents import common, networks, resume, train
from control_as_inference.agents.common import dataclasses_replace, trainable
from control_as_inference.agents.discrete_agent import (
    DiscreteConfig,
    discrete_init,
    discrete_update,
)
from control_as_inference.agents.jax_train import make_train, pendulum_env
from control_as_inference.agents.networks import TanhGaussianActor, tanh_gaussian_log_prob
from control_as_inference.agents.replay import buffer_add_many
from control_as_inference.agents.sac import SACConfig, sac_init, update, update_many


@pytest.fixture(autouse=True)
def standard_promotion():
    with jax.numpy_dtype_promotion("standard"):  # optax's Adam relies on it
        yield


# ----------------------------------------------------------------------------- the old behaviour


def _old_trainable(tree):
    """The rule before the fix: every floating array trains (the box included)."""
    return jax.tree_util.tree_map(eqx.is_inexact_array, tree)


def _old_log_prob(u, mean, log_std, scale):
    """`tanh_gaussian_log_prob` before the fix: differentiable in log(scale)."""
    z = (u - mean) * jnp.exp(-log_std)
    gaussian = jnp.sum(-0.5 * z**2 - log_std - 0.5 * jnp.log(2 * jnp.pi))
    log_det = jnp.sum(jnp.log(scale) + 2 * (jnp.log(2.0) - u - jax.nn.softplus(-2 * u)))
    return gaussian - log_det


@pytest.fixture
def old_behaviour(monkeypatch):
    """A function that takes the protections away: "spec" puts every float array in the
    optimisers, "gradient" lets log pi's gradient reach the scale, "both" is the code before
    the fix."""

    def apply(which="both"):
        if which in ("spec", "both"):
            monkeypatch.setattr(common, "trainable", _old_trainable)
        if which in ("gradient", "both"):
            monkeypatch.setattr(networks, "tanh_gaussian_log_prob", _old_log_prob)

    return apply


# ----------------------------------------------------------------------------- the checks

# the MLPs' layers; the soft-LQR class's linear layers (mean, linear) and free parameters
WEIGHT = re.compile(
    r"^\.(actor|critic)(\.\w+)*"
    r"(\.layers\[\d+\]\.(weight|bias)|\.(mean|linear)\.(weight|bias)|\.(tril|root)\.value)$"
)


def _leaves(tree) -> dict:
    flat, _ = jax.tree_util.tree_flatten_with_path(eqx.filter(tree, eqx.is_array))
    return {jax.tree_util.keystr(path): np.asarray(x) for path, x in flat}


def _may_change(path: str, learns_temperature: bool, acted: bool) -> bool:
    """What an update may move: the weights, the target networks (Polyak), the optimiser
    states, the RNG key; log alpha and its optimiser only when learned; the buffer and the step
    only when the run also acted (the jitted loop)."""
    moving = (".target_critic.", ".actor_opt", ".critic_opt")
    if WEIGHT.match(path) or path.startswith(moving) or path == ".key":
        return True
    if path == ".log_alpha" or path.startswith(".alpha_opt"):
        return learns_temperature
    return acted and path.startswith((".buffer.", ".step"))


def assert_only_weights_train(before, after, learns_temperature, acted=False):
    """Every leaf that is not allowed to move (`_may_change`) is bit-identical, static fields
    included, and every network weight moved."""
    assert jax.tree_util.tree_structure(before) == jax.tree_util.tree_structure(after)
    b, a = _leaves(before), _leaves(after)
    moved = {path for path in b if not np.array_equal(b[path], a[path])}
    fixed = {path for path in b if not _may_change(path, learns_temperature, acted)}
    assert fixed, "nothing to check"
    wrong = {path: (b[path].ravel()[:3], a[path].ravel()[:3]) for path in sorted(moved & fixed)}
    assert not wrong, f"not network weights, but they moved: {wrong}"
    weights = {path for path in b if WEIGHT.match(path)}
    assert weights and weights <= moved, f"weights that did not train: {weights - moved}"


def assert_optimisers_hold_only_weights(state):
    """The moments of each network's Adam state are exactly that network's weights (no box, no
    target network); the temperature's holds log alpha alone."""
    for net, opt in (("actor", "actor_opt"), ("critic", "critic_opt")):
        if getattr(state, net) is None:
            continue
        weights = {p[len(net) + 1 :] for p in _leaves(state) if p.startswith(f".{net}.")}
        weights = {p for p in weights if WEIGHT.match(f".{net}{p}")}
        adam = getattr(state, opt)[0]
        for moment in (adam.mu, adam.nu):
            assert set(_leaves(moment)) == weights
    assert [x.shape for x in jax.tree_util.tree_leaves(state.alpha_opt[0].mu)] == [()]


# ----------------------------------------------------------------------------- agents


def _sac_state(config, low, high, n=200):
    """A fresh SAC state with n random transitions in its buffer (the issue's reproduction)."""
    state = sac_init(config, 3, low, high, jax.random.key(0))
    k = jax.random.split(jax.random.key(1), 4)
    lo, hi = jnp.asarray(low, jnp.float32), jnp.asarray(high, jnp.float32)
    buffer = buffer_add_many(
        state.buffer,
        jax.random.normal(k[0], (n, 3), jnp.float32),
        jax.random.uniform(k[1], (n, lo.shape[0]), jnp.float32, lo, hi),
        -jax.random.uniform(k[2], (n,), jnp.float32, 0.0, 16.0),
        jax.random.normal(k[3], (n, 3), jnp.float32),
        jnp.zeros(n, jnp.float32),
    )
    return dataclasses_replace(state, buffer=buffer, step=jnp.asarray(n, jnp.int32))


def _discrete_state(config, n=200):
    state = discrete_init(config, 4, 3, jax.random.key(0))
    k = jax.random.split(jax.random.key(1), 5)
    buffer = buffer_add_many(
        state.buffer,
        jax.random.normal(k[0], (n, 4), jnp.float32),
        jax.random.randint(k[1], (n,), 0, 3, jnp.int32),
        jax.random.uniform(k[2], (n,), jnp.float32),
        jax.random.normal(k[3], (n, 4), jnp.float32),
        (jax.random.uniform(k[4], (n,), jnp.float32) < 0.1).astype(jnp.float32),
    )
    return dataclasses_replace(state, buffer=buffer, step=jnp.asarray(n, jnp.int32))


SMALL = dict(hidden=(32, 32), batch_size=32, buffer_size=1000)
BOX_2D = ([-2.0, 0.0], [1.0, 3.0])  # scale (1.5, 1.5), offset (-0.5, 1.5)


@pytest.mark.parametrize("updates", [500, pytest.param(2000, marks=pytest.mark.slow)])
def test_issue_16_reproduction_the_box_stays_put(updates):
    """The issue's case: rl-zoo's networks, a [-2, 2] box, 200 random transitions. Before the
    fix the scale was 2.43 after 500 updates and 3.64 after 2000; now it is exactly 2."""
    config = SACConfig(buffer_size=1000)
    after, _ = update_many(_sac_state(config, [-2.0], [2.0]), config, updates)
    np.testing.assert_array_equal(np.asarray(after.actor.scale), [2.0])
    np.testing.assert_array_equal(np.asarray(after.actor.offset), [0.0])


def _updated_sac(auto_temperature, box=BOX_2D, updates=200, networks="mlp"):
    config = SACConfig(
        auto_temperature=auto_temperature, initial_temperature=0.2, networks=networks, **SMALL
    )
    before = _sac_state(config, *box)
    return before, update_many(before, config, updates)[0]


@pytest.mark.parametrize("networks", ["mlp", "linear_quadratic"])
@pytest.mark.parametrize("auto_temperature", [True, False])
def test_sac_trains_only_network_weights(auto_temperature, networks):
    before, after = _updated_sac(auto_temperature, networks=networks)
    assert_only_weights_train(before, after, auto_temperature)
    np.testing.assert_array_equal(np.asarray(after.actor.scale), [1.5, 1.5])
    np.testing.assert_array_equal(np.asarray(after.actor.offset), [-0.5, 1.5])
    assert_optimisers_hold_only_weights(after)


@pytest.mark.parametrize(
    ("algorithm", "auto_temperature"), [("dsac", True), ("dsac", False), ("sql", False)]
)
def test_discrete_agents_train_only_network_weights(algorithm, auto_temperature):
    config = DiscreteConfig(
        algorithm=algorithm, auto_temperature=auto_temperature, learning_starts=10, **SMALL
    )
    before = _discrete_state(config)
    after = common.repeat_updates(discrete_update, before, config, 200)[0]
    assert_only_weights_train(before, after, algorithm == "dsac" and auto_temperature)
    assert after.num_actions == 3
    assert_optimisers_hold_only_weights(after)


def _jitted_run(auto_temperature, steps=250):
    """make_train on the pendulum with an asymmetric [-2, 1] box: (initial state, final)."""
    box = jnp.array([-2.0], jnp.float32), jnp.array([1.0], jnp.float32)
    env = pendulum_env()._replace(low=box[0], high=box[1])
    config = SACConfig(
        auto_temperature=auto_temperature, initial_temperature=0.2, learning_starts=50, **SMALL
    )
    final, _ = jax.jit(make_train(config, env, steps))(jax.random.key(4))
    # make_train's first state: sac_init on the first of its three keys
    first = sac_init(config, 3, env.low, env.high, jax.random.split(jax.random.key(4), 3)[0])
    return first, final


@pytest.mark.parametrize("auto_temperature", [True, False])
def test_jitted_loop_trains_only_network_weights(auto_temperature):
    first, final = _jitted_run(auto_temperature)
    assert int(final.step) == 250 and int(final.actor_opt[0].count) == 250 - 49
    assert_only_weights_train(first, final, auto_temperature, acted=True)
    np.testing.assert_array_equal(np.asarray(final.actor.scale), [1.5])
    np.testing.assert_array_equal(np.asarray(final.actor.offset), [-0.5])
    assert_optimisers_hold_only_weights(final)


# ----------------------------------------------------------------------------- negative control


def test_the_checks_fail_on_the_old_behaviour(old_behaviour):
    """Before the fix (the box in the optimiser, log pi differentiable in the scale) the box
    widens, and each check above says so."""
    old_behaviour("both")
    before, after = _updated_sac(auto_temperature=False)
    assert np.all(np.asarray(after.actor.scale) > 1.6)
    with pytest.raises(AssertionError, match=r"not network weights.*\.actor\.scale"):
        assert_only_weights_train(before, after, learns_temperature=False)
    with pytest.raises(AssertionError):
        assert_optimisers_hold_only_weights(after)
    first, final = _jitted_run(auto_temperature=True)
    assert float(final.actor.scale[0]) > 1.6
    with pytest.raises(AssertionError, match=r"\.actor\.scale"):
        assert_only_weights_train(first, final, True, acted=True)


@pytest.mark.parametrize("kept", ["spec", "gradient"])
def test_either_protection_alone_keeps_the_box(old_behaviour, kept):
    """Defence in depth: with the stop-gradient alone Adam sees a zero gradient for the box
    (a zero step); with the filter spec alone the box never reaches the optimiser."""
    old_behaviour("gradient" if kept == "spec" else "spec")
    before, after = _updated_sac(auto_temperature=True)
    np.testing.assert_array_equal(np.asarray(after.actor.scale), np.asarray(before.actor.scale))
    np.testing.assert_array_equal(np.asarray(after.actor.offset), np.asarray(before.actor.offset))


def test_the_fix_changes_nothing_but_the_box_on_the_first_update(old_behaviour):
    """One SAC update before and after the fix: critic, target critic, actor trunk, temperature
    and the optimisers' moments of the weights are bit-identical; only the scale differs (and
    the old Adam state's moments of the box are gone)."""
    config = SACConfig(**SMALL)
    new = _leaves(jax.jit(update, static_argnums=1)(_sac_state(config, *BOX_2D), config)[0])
    old_behaviour("both")
    old = _leaves(jax.jit(update, static_argnums=1)(_sac_state(config, *BOX_2D), config)[0])
    box = {f".actor_opt[0].{m}.{f}" for m in ("mu", "nu") for f in ("scale", "offset")}
    assert set(old) - set(new) == box and set(new) <= set(old)
    differ = {path for path in new if not np.array_equal(new[path], old[path])}
    assert differ == {".actor.scale"}


@pytest.mark.parametrize("algorithm", ["dsac", "sql"])
def test_discrete_agents_are_unchanged_by_the_fix(old_behaviour, algorithm):
    """The discrete agents had no box: 100 updates give bit-identical states either way."""
    config = DiscreteConfig(algorithm=algorithm, learning_starts=10, **SMALL)
    new = common.repeat_updates(discrete_update, _discrete_state(config), config, 100)[0]
    old_behaviour("spec")
    old = common.repeat_updates(discrete_update, _discrete_state(config), config, 100)[0]
    a, b = _leaves(new), _leaves(old)
    assert a.keys() == b.keys()
    assert all(np.array_equal(a[path], b[path]) for path in a)


# ----------------------------------------------------------------------------- pieces


def test_trainable_marks_the_layers_weights_only():
    actor = TanhGaussianActor(3, [-2.0, 0.0], [1.0, 3.0], (8,), jax.random.key(0))
    spec = trainable(actor)
    assert spec.scale is False and spec.offset is False
    assert all(jax.tree_util.tree_leaves(spec.trunk))
    params, fixed = eqx.partition(actor, spec)
    assert params.scale is None and fixed.scale is actor.scale
    assert len(jax.tree_util.tree_leaves(params)) == 4  # two layers' weights and biases


def test_log_density_passes_no_gradient_to_the_box():
    u, mean, log_std = jnp.array([0.3, -1.2]), jnp.zeros(2), jnp.full(2, -0.5)
    scale = jnp.array([2.0, 0.5])
    grad = jax.grad(lambda s: tanh_gaussian_log_prob(u, mean, log_std, s))(scale)
    np.testing.assert_array_equal(np.asarray(grad), [0.0, 0.0])
    old = jax.grad(lambda s: _old_log_prob(u, mean, log_std, s))(scale)
    np.testing.assert_allclose(np.asarray(old), -1 / np.asarray(scale))  # what used to flow


def test_a_checkpoint_from_before_the_fix_is_refused(tmp_path, old_behaviour, monkeypatch):
    """Old SAC checkpoints hold Adam moments of the box: resume refuses them with a clear error
    instead of loading misaligned leaves."""
    config = SACConfig(hidden=(16,), buffer_size=200, batch_size=16, learning_starts=20)
    out = str(tmp_path / "run")
    old_behaviour("both")
    train(config, "Pendulum-v1", jax.random.key(0), 40, out=out, progress=False)
    monkeypatch.undo()
    with pytest.raises(ValueError, match="older version"):
        resume(out, steps=60, progress=False)
