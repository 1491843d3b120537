"""SAC against the exact continuous answer (issue 16, section 2).

On a linear-Gaussian system with a quadratic reward, the soft-optimal policy of the discounted
problem at temperature alpha is known in closed form (`lqr.soft_lqr_infinite`, variational): a
Gaussian N(K x, Sigma) with Sigma = alpha (R + gamma B'PB)^-1, and the soft Q is the quadratic

    Q(x, u) = r(x, u) - gamma (1/2 m'Pm + 1/2 tr(PW) + c),   m = A x + B u,
    c = (gamma/2 tr(PW) - alpha/2 log det(2 pi Sigma)) / (1 - gamma)

(V(x) = -(1/2 x'Px + c) solves V = alpha log int exp(Q / alpha) du). SAC with the same function
class (`SACConfig(networks="linear_quadratic")`: a linear-Gaussian actor, concave quadratic
critics), a fixed temperature and the same discount, trained by the jitted loop on the default
double integrator (episodes truncated, never terminated, so it bootstraps: the infinite-horizon
problem), must reproduce it: mean gain within 5%, covariance within 10%, soft Q at sampled
(x, u) within 5% of the quadratic's range over those points.

Negative controls: the same SAC compared with the soft-LQR answer at twice the temperature
fails (covariance and Q), and SAC trained with a hard target (the -alpha log pi term of the
critic's target removed, i.e. the ordinary Bellman backup of the stochastic policy) fails the Q
check.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from control_as_inference.agents import sac
from control_as_inference.agents.common import twin_q_loss
from control_as_inference.agents.jax_train import linear_gaussian_env, make_train
from control_as_inference.agents.sac import SACConfig
from control_as_inference.envs.linear_gaussian import default_problem
from control_as_inference.lqr import LinearGaussianSystem, QuadraticReward, soft_lqr_infinite

pytestmark = pytest.mark.slow

TEMPERATURE, DISCOUNT, STEPS = 1.0, 0.9, 30_000
CONFIG = SACConfig(
    networks="linear_quadratic",
    auto_temperature=False,
    initial_temperature=TEMPERATURE,
    gamma=DISCOUNT,
    tau=0.02,
    batch_size=512,
    buffer_size=100_000,
    learning_starts=1000,
)


def _float64_problem():
    system, reward = default_problem()
    f64 = (np.asarray(x, np.float64) for x in (system.A, system.B, system.W))
    system = LinearGaussianSystem(*f64, initial_cov=np.eye(2))
    return system, QuadraticReward(np.asarray(reward.Q, np.float64), np.asarray(reward.R))


def exact_answer(temperature):
    """(K, Sigma, soft Q function of (x (b, n), u (b, m)) -> (b,)) from soft_lqr_infinite."""
    system, reward = _float64_problem()
    sol = soft_lqr_infinite(system, reward, temperature=temperature, discount=DISCOUNT)
    a, b, w = (np.asarray(x) for x in (system.A, system.B, system.W))
    q, r = np.asarray(reward.Q), np.asarray(reward.R)
    p, sigma = np.asarray(sol.P), np.asarray(sol.Sigma)
    tr = np.trace(p @ w)
    c = (DISCOUNT / 2 * tr - temperature / 2 * np.linalg.slogdet(2 * np.pi * sigma)[1]) / (
        1 - DISCOUNT
    )

    def soft_q(x, u):
        m = x @ a.T + u @ b.T
        reward_now = -0.5 * (np.einsum("bi,ij,bj->b", x, q, x) + np.einsum("bi,ij,bj->b", u, r, u))
        future = 0.5 * np.einsum("bi,ij,bj->b", m, p, m) + 0.5 * tr + c
        return reward_now - DISCOUNT * future

    return np.asarray(sol.K), sigma, soft_q


def sampled_points(k, sigma, num=2000):
    """x from the start distribution N(0, I), u from the soft-optimal policy at x."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(num, 2))
    u = x @ k.T + rng.normal(size=(num, 1)) @ np.linalg.cholesky(sigma).T
    return x, u


def errors(state, temperature):
    """(relative gain error, relative covariance error, max |Q error| / range of Q)."""
    k, sigma, soft_q = exact_answer(temperature)
    gain = np.asarray(state.actor.mean.weight, np.float64)
    root = np.asarray(state.actor.cholesky(), np.float64)
    cov = root @ root.T
    x, u = sampled_points(k, sigma)
    q1, q2 = jax.vmap(state.critic)(jnp.asarray(x, jnp.float32), jnp.asarray(u, jnp.float32))
    learned, exact = np.minimum(q1, q2).astype(np.float64), soft_q(x, u)
    return (
        np.linalg.norm(gain - k) / np.linalg.norm(k),
        np.linalg.norm(cov - sigma) / np.linalg.norm(sigma),
        np.abs(learned - exact).max() / np.ptp(exact),
    )


def trained_state():
    with jax.numpy_dtype_promotion("standard"):  # optax's Adam relies on it
        train = make_train(CONFIG, linear_gaussian_env(), STEPS)
        return jax.jit(train)(jax.random.key(0))[0]


@pytest.fixture(scope="module")
def sac_state():
    return trained_state()


def test_sac_reproduces_the_soft_lqr_policy_and_q(sac_state):
    gain, cov, q = errors(sac_state, TEMPERATURE)
    print(f"gain {gain:.4f}, covariance {cov:.4f}, Q / range {q:.4f}")
    assert gain < 0.05 and cov < 0.10 and q < 0.05
    assert abs(float(sac_state.actor.mean.bias[0])) < 0.1  # k = 0: no linear reward terms


def test_the_check_fails_against_the_wrong_temperature(sac_state):
    gain, cov, q = errors(sac_state, 2 * TEMPERATURE)
    assert gain < 0.05  # the variational mean gain does not depend on the temperature ...
    assert cov > 0.10 and q > 0.05  # ... but the covariance and the soft Q do


def _hard_critic_loss(critic, target_critic, actor, alpha, batch, key, gamma):
    """The critic loss with the hard target y = r + gamma min Q'(s', a') (no -alpha log pi)."""
    obs, action, reward, next_obs, terminated = batch
    next_action, _ = actor.sample_batch(next_obs, key)
    q1_next, q2_next = jax.vmap(target_critic)(next_obs, next_action)
    target = reward + gamma * (1 - terminated) * jnp.minimum(q1_next, q2_next)
    q1, q2 = jax.vmap(critic)(obs, action)
    return twin_q_loss(q1, q2, target)


def test_a_hard_target_fails_the_q_check(monkeypatch):
    monkeypatch.setattr(sac, "critic_loss", _hard_critic_loss)
    gain, cov, q = errors(trained_state(), TEMPERATURE)
    print(f"hard target: gain {gain:.4f}, covariance {cov:.4f}, Q / range {q:.4f}")
    # the entropy bonus of a state-independent covariance is a constant: the policy is unchanged,
    # but Q misses gamma / (1 - gamma) alpha H(pi) = 12.4 of a range of about 107
    assert q > 0.05
