"""MPO: the E-step against a direct solution of its dual (brentq), the closed form on discrete
actions, the M-step's KL bounds on every update, what an update may and may not change, bad
settings, and (slow) learning on Pendulum-v1."""

import dataclasses
import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import logsumexp, softmax

from control_as_inference.agents.common import dataclasses_replace, polyak, trainable
from control_as_inference.agents.mpo import MPOConfig, mpo_estep, mpo_init, mpo_update
from control_as_inference.agents.mpo_losses import (
    categorical_kl,
    decoupled_gaussian_kls,
    diagonal_gaussian_log_prob,
    multiplier_loss,
    project_multipliers,
)
from control_as_inference.agents.registry import promotion
from control_as_inference.agents.replay import buffer_add_many

# ----------------------------------------------------------------------------- oracles


def _mean_kl(q, eta, log_prior):
    """mean_b KL(q_b || p_b) for q_b ∝ p_b exp(Q_b / eta), in float64 numpy."""
    log_w = log_prior + q / eta
    log_w = log_w - logsumexp(log_w, axis=-1, keepdims=True)
    return float(np.mean(np.sum(np.exp(log_w) * (log_w - log_prior), axis=-1)))


def _brentq_eta(q, epsilon, log_prior):
    """The dual's minimiser from its optimality condition g'(eta) = epsilon - mean KL = 0."""
    return brentq(lambda eta: epsilon - _mean_kl(q, eta, log_prior), 1e-4, 1e4, xtol=1e-14)


@pytest.fixture
def q_samples(rng):
    return rng.normal(size=(6, 9)) * rng.uniform(0.5, 3.0, size=(6, 1))


# ----------------------------------------------------------------------------- E-step


def test_estep_eta_and_weights_match_a_direct_solution_of_the_dual(q_samples):
    epsilon = 0.3
    uniform = np.full(q_samples.shape, -np.log(q_samples.shape[1]))
    eta_oracle = _brentq_eta(q_samples, epsilon, uniform)
    weights, eta, kl, active = mpo_estep(jnp.asarray(q_samples), epsilon)
    assert bool(active)
    np.testing.assert_allclose(float(eta), eta_oracle, rtol=1e-9)
    np.testing.assert_allclose(
        np.asarray(weights), softmax(q_samples / eta_oracle, axis=-1), rtol=1e-8
    )
    np.testing.assert_allclose(float(kl), epsilon, rtol=1e-9)
    # the dual is minimal there: g(eta) below its value at eta (1 +- 1e-3)
    from control_as_inference.policy_search import temperature_dual

    g = [float(temperature_dual(eta_oracle * f, q_samples, epsilon)) for f in (0.999, 1, 1.001)]
    assert g[1] < g[0] and g[1] < g[2]


def test_negative_control_flipped_q_fails_the_same_check(q_samples):
    """An E-step on -Q (a sign error) gives weights far from the oracle's and lowers E_q[Q]."""
    epsilon = 0.3
    uniform = np.full(q_samples.shape, -np.log(q_samples.shape[1]))
    oracle = softmax(q_samples / _brentq_eta(q_samples, epsilon, uniform), axis=-1)
    flipped, _, _, _ = mpo_estep(jnp.asarray(-q_samples), epsilon)
    assert not np.allclose(np.asarray(flipped), oracle, rtol=1e-3)
    right, _, _, _ = mpo_estep(jnp.asarray(q_samples), epsilon)
    mean_q = q_samples.mean(axis=1)
    assert np.all(np.sum(np.asarray(right) * q_samples, axis=1) > mean_q)  # improvement
    assert np.all(np.sum(np.asarray(flipped) * q_samples, axis=1) < mean_q)


def test_categorical_estep_with_exact_q_is_the_closed_form(rng):
    """All actions, pi_old as the prior: q = pi_old exp(Q / eta) / Z with eta from brentq."""
    q = rng.normal(size=(5, 4)) * 2
    log_pi_old = np.log(softmax(rng.normal(size=(5, 4)), axis=-1))
    epsilon = 0.2
    eta_oracle = _brentq_eta(q, epsilon, log_pi_old)
    closed = np.exp(log_pi_old) * np.exp(q / eta_oracle)
    closed /= closed.sum(axis=-1, keepdims=True)
    weights, eta, kl, _ = mpo_estep(jnp.asarray(q), epsilon, jnp.asarray(log_pi_old))
    np.testing.assert_allclose(float(eta), eta_oracle, rtol=1e-9)
    np.testing.assert_allclose(np.asarray(weights), closed, rtol=1e-8)
    np.testing.assert_allclose(float(kl), epsilon, rtol=1e-9)
    # the wrong prior (uniform, as if pi_old were ignored) fails the same check
    wrong, _, _, _ = mpo_estep(jnp.asarray(q), epsilon)
    assert not np.allclose(np.asarray(wrong), closed, rtol=1e-2)


def test_degenerate_samples_give_a_finite_eta_and_the_old_policy():
    weights, eta, kl, active = mpo_estep(jnp.ones((3, 5)), 0.1)
    assert np.isfinite(float(eta)) and not bool(active)
    np.testing.assert_allclose(np.asarray(weights), 0.2)
    assert float(kl) == 0.0


# ----------------------------------------------------------------------------- M-step pieces


def test_decoupled_kls_are_the_gaussian_kl_by_quadrature(rng):
    """C_mu and C_sigma against a numerical integral of p log(p / q) in one dimension."""
    old_mean, old_log_std, mean, log_std = 0.3, np.log(0.7), -0.4, np.log(1.3)
    x = np.linspace(-12, 12, 400_001)

    def density(m, s):
        return np.exp(-0.5 * ((x - m) / s) ** 2) / (s * np.sqrt(2 * np.pi))

    def kl(m, s):
        p, q = density(old_mean, 0.7), density(m, s)
        return np.trapezoid(p * np.log(p / q), x)

    c_mu, c_sigma = decoupled_gaussian_kls(
        *(jnp.array([[v]]) for v in (old_mean, old_log_std, mean, log_std))
    )
    np.testing.assert_allclose(float(c_mu[0]), kl(mean, 0.7), rtol=1e-6)
    np.testing.assert_allclose(float(c_sigma[0]), kl(old_mean, 1.3), rtol=1e-6)
    lp = diagonal_gaussian_log_prob(jnp.array([0.1, 0.2]), jnp.zeros(2), jnp.zeros(2))
    np.testing.assert_allclose(float(lp), -0.5 * 0.05 - np.log(2 * np.pi), rtol=1e-12)
    log_p = jnp.log(jnp.array([[0.5, 0.5]]))
    np.testing.assert_allclose(float(categorical_kl(log_p, log_p)[0]), 0.0)


# ----------------------------------------------------------------------------- the update

SMALL = MPOConfig(hidden=(16, 16), batch_size=32, buffer_size=256, learning_starts=0, num_samples=6)


def _filled_state(config, key=0, discrete=False):
    k = jax.random.split(jax.random.key(key + 100), 5)
    n = config.buffer_size
    if discrete:
        state = mpo_init(config, 3, jax.random.key(key), num_actions=3)
        action = jax.random.randint(k[1], (n,), 0, 3, jnp.int32)
    else:
        state = mpo_init(
            config, 3, jax.random.key(key), low=jnp.array([-2.0]), high=jnp.array([2.0])
        )
        action = jax.random.uniform(k[1], (n, 1), jnp.float32, -2.0, 2.0)
    obs = jax.random.normal(k[0], (n, 3), jnp.float32)
    a = action.astype(jnp.float32).reshape(n, -1)
    reward = -jnp.sum(obs**2, axis=1) - 0.5 * jnp.sum((a - 1) ** 2, axis=1)
    buffer = buffer_add_many(
        state.buffer,
        obs,
        action,
        reward.astype(jnp.float32),
        jax.random.normal(k[3], (n, 3), jnp.float32),
        jnp.zeros(n, jnp.float32),
    )
    return dataclasses_replace(state, buffer=buffer, step=jnp.array(n, jnp.int32))


@functools.partial(jax.jit, static_argnums=(1, 2))
def _scan(state, config, num):
    return jax.lax.scan(lambda s, _: mpo_update(s, config), state, None, length=num)


def _scan_updates(state, config, num):
    """All metrics of `num` updates (not only the last), one compilation per config."""
    with promotion():
        return _scan(state, config, num)


UPDATE = jax.jit(mpo_update, static_argnums=1)


def _leaves(tree):
    return jax.tree_util.tree_leaves(eqx.filter(tree, eqx.is_array))


def _same(a, b):
    return all(
        np.array_equal(np.asarray(x), np.asarray(y))
        for x, y in zip(_leaves(a), _leaves(b), strict=True)
    )


@pytest.mark.parametrize("discrete", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_kl_bounds_hold_on_every_update_and_fail_without_the_multipliers(discrete):
    """Logged on each of 200 updates: the E-step KL is epsilon (its bound binds, eta solved);
    the M-step KLs (a Lagrangian relaxation: one gradient step per update, so a bound may be
    overshot until its multiplier has grown) stay below 1.5x the mean's or the categorical
    bound and 5x the covariance's on every update, and below each bound on average over the
    last 100. The negative control, multipliers pinned near zero, breaks the first bound."""
    config = dataclasses.replace(SMALL, policy="categorical" if discrete else "gaussian")
    state = _filled_state(config, discrete=discrete)
    _, metrics = _scan_updates(state, config, 200)
    np.testing.assert_allclose(np.asarray(metrics["kl_estep"]), config.epsilon, rtol=1e-3)
    assert np.all(np.asarray(metrics["temperature_active"]) == 1)
    first = "kl_policy" if discrete else "kl_mean"
    assert np.all(np.asarray(metrics[first]) <= 1.5 * config.epsilon_mean)
    assert np.mean(np.asarray(metrics[first])[-100:]) <= config.epsilon_mean
    assert np.max(np.asarray(metrics[first])) > 0.3 * config.epsilon_mean  # the policy moved
    if not discrete:
        cov = np.asarray(metrics["kl_covariance"])
        assert np.all(cov <= 5 * config.epsilon_covariance)
        assert np.mean(cov[-100:]) <= config.epsilon_covariance
    # multipliers at the projection floor, exp(-18): after 200 Adam steps of 0.01 still ~1e-8
    free = dataclasses_replace(state, log_multipliers=jnp.full_like(state.log_multipliers, -18))
    _, loose = _scan_updates(free, config, 200)
    assert np.max(np.asarray(loose[first])) > 1.5 * config.epsilon_mean


def _adam_on_log_multiplier(loss, kls, epsilon=1e-3, learning_rate=0.01):
    """log alpha after one Adam step per C in kls on `loss`, from log alpha = log 10."""
    import optax

    optimizer = optax.adam(learning_rate)

    def step(carry, kl):
        log_alpha, state = carry
        grad = jax.grad(loss)(log_alpha, kl[None], jnp.array([epsilon]))
        update, state = optimizer.update(grad, state)
        log_alpha = project_multipliers(log_alpha + update)
        return (log_alpha, state), log_alpha[0]

    log_alpha = jnp.array([np.log(10.0)])
    with promotion():  # optax's Adam mixes its int32 count with floats
        _, path = jax.lax.scan(step, (log_alpha, optimizer.init(log_alpha)), jnp.asarray(kls))
    return np.asarray(path)


def test_multipliers_fall_as_fast_as_they_rose():
    """A bound violated for 1,000 updates (C = 2 epsilon), then slack for 1,000 (C = 0): the
    gradient of the multipliers' loss in log alpha is epsilon - C (+-epsilon here), so Adam's
    steps have the same size both ways and log alpha ends back near its start. The negative
    control is the Lagrangian's own gradient alpha (epsilon - C): alpha climbs to the projection
    cap e^18, and Adam's second moment (filled with gradients as large as alpha) keeps the way
    down slow: alpha is still above 1e6 at the end (on HalfCheetah-v5 this froze the policy)."""
    kls = [2e-3] * 1000 + [0.0] * 1000
    ours = _adam_on_log_multiplier(multiplier_loss, kls)
    grad = jax.grad(multiplier_loss)(jnp.array([0.3]), jnp.array([2.0]), jnp.array([1.0]))
    np.testing.assert_allclose(grad, [-1.0])  # epsilon - C, whatever alpha is
    start = np.log(10.0)
    assert ours[999] > start + 8  # it rose while the bound was violated
    assert abs(ours[-1] - start) < 0.5  # and came back down at the same pace

    def lagrangian(log_alpha, kls, epsilons):  # the update before the fix
        return jnp.sum(jnp.exp(log_alpha) * (epsilons - jax.lax.stop_gradient(kls)))

    old = _adam_on_log_multiplier(lagrangian, kls)
    assert old[999] > start + 8 and old[-1] > np.log(1e6)


def test_an_update_changes_what_it_may_and_nothing_else():
    config = SMALL
    state = _filled_state(config)
    with promotion():
        new, _ = UPDATE(state, config)
    assert not _same(
        eqx.filter(new.actor, trainable(new.actor)), eqx.filter(state.actor, trainable(state.actor))
    )
    assert not _same(new.critic, state.critic)
    assert not np.array_equal(np.asarray(new.log_multipliers), np.asarray(state.log_multipliers))
    # targets move only by Polyak, the action box and the buffer not at all
    for online, target, old in [
        (new.actor, new.target_actor, state.target_actor),
        (new.critic, new.target_critic, state.target_critic),
    ]:
        expected = polyak(online, old, config.tau)
        for x, y in zip(_leaves(target), _leaves(expected), strict=True):
            np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(np.asarray(new.actor.scale), np.asarray(state.actor.scale))
    assert _same(new.buffer, state.buffer)
    # the critic's step does not see the online actor (its target uses pi_old): another
    # online actor gives the same critic
    other = mpo_init(config, 3, jax.random.key(9), low=jnp.array([-2.0]), high=jnp.array([2.0]))
    with promotion():
        swapped, _ = UPDATE(dataclasses_replace(state, actor=other.actor), config)
    assert _same(swapped.critic, new.critic)
    assert not _same(swapped.actor, new.actor)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"epsilon": 0.0}, "epsilon"),
        ({"epsilon_mean": -1.0}, "epsilon_mean"),
        ({"epsilon_covariance": 0.0}, "epsilon_covariance"),
        ({"num_samples": 1}, "num_samples"),
        ({"policy": "beta"}, "policy"),
        ({"dual_learning_rate": 0.0}, "dual_learning_rate"),
    ],
)
def test_bad_settings_raise_naming_the_field(changes, field):
    with pytest.raises(ValueError, match=field):
        MPOConfig(**changes)


def test_a_policy_that_does_not_fit_the_action_space_is_refused():
    from control_as_inference.agents import train

    with pytest.raises(ValueError, match="policy"):
        mpo_init(
            MPOConfig(policy="categorical"),
            3,
            jax.random.key(0),
            low=jnp.zeros(1),
            high=jnp.ones(1),
        )
    with pytest.raises(ValueError, match="policy"):
        mpo_init(MPOConfig(), 3, jax.random.key(0), num_actions=2)
    with pytest.raises(ValueError, match="Discrete"):
        train(MPOConfig(policy="categorical"), "Pendulum-v1", jax.random.key(0), 10)


# ----------------------------------------------------------------------------- learning


@pytest.mark.slow
def test_mpo_learns_pendulum_in_the_jitted_loop():
    """6,000 steps on the JAX Pendulum-v1 (64x64 networks, 10 samples per state, looser M-step
    bounds than the defaults): the training return rises from about -1,400 (random) to above
    -500 over the last five episodes (about -250 when measured)."""
    from control_as_inference.agents.jax_train import make_pendulum_train

    config = MPOConfig(
        hidden=(64, 64),
        batch_size=128,
        num_samples=10,
        epsilon_mean=0.05,
        epsilon_covariance=1e-3,
    )
    with promotion():
        _, returns = jax.jit(make_pendulum_train(config, 6000))(jax.random.key(0))
    episodes = np.asarray(returns)[:, 0]
    episodes = episodes[~np.isnan(episodes)]
    assert episodes.size == 30
    assert np.mean(episodes[:5]) < -900
    assert np.mean(episodes[-5:]) > -500
