"""A linear-Gaussian system with a quadratic reward as an environment: pure JAX functions (for the
jitted agent loop) and a gymnasium `Env` (for `agents.train`, registered as
"cai/LinearGaussian-v0").

    x_0 ~ N(initial_mean, initial_cov);   x' = A x + B u + w,  w ~ N(0, W)
    r(x, u) = -(1/2 x'Qx + 1/2 u'Ru + x'Nu + q_x'x + q_u'u)     (`lqr.QuadraticReward`)

The observation is the state x; the action u is unbounded (never clipped: the soft-optimal policy
is a Gaussian over all of R^m). The action space's box, (-action_bound, action_bound)^m, is only
what an agent explores uniformly before it learns. Episodes end by truncation after
`episode_steps` (never by termination), so an agent that bootstraps at truncations solves the
discounted infinite-horizon problem, whose soft-optimal policy `lqr.soft_lqr_infinite` gives in
closed form: the oracle of `tests/agents/test_sac_lqr.py`.

The default is the double integrator (`envs.double_integrator`, one axis, dt = 0.1) with
Q = I, R = I, W = 0.01 I and starts x_0 ~ N(0, I).
"""

from __future__ import annotations

from typing import ClassVar

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np

from .._core import check_int, check_positive
from ..lqr import LinearGaussianSystem, QuadraticReward
from .double_integrator import double_integrator_matrices

ENV_ID = "cai/LinearGaussian-v0"
EPISODE_STEPS = 50


def default_problem() -> tuple[LinearGaussianSystem, QuadraticReward]:
    """The double integrator (one axis, dt = 0.1) with Q = I, R = I, W = 0.01 I, x_0 ~ N(0, I),
    in float32 (the agents' precision)."""
    a, b = double_integrator_matrices()
    f32 = np.float32
    system = LinearGaussianSystem(
        a.astype(f32), b.astype(f32), 0.01 * np.eye(2, dtype=f32), initial_cov=np.eye(2, dtype=f32)
    )
    return system, QuadraticReward(np.eye(2, dtype=f32), np.eye(1, dtype=f32))


def _root(cov):
    """M with M M' = cov, by eigh rather than cholesky: cov may be singular (a known start, or
    noise on some coordinates only)."""
    values, vectors = jnp.linalg.eigh(cov)
    return vectors * jnp.sqrt(jnp.clip(values, 0))[None, :]


def linear_gaussian_reset(system: LinearGaussianSystem, key):
    """x_0 ~ N(initial_mean, initial_cov) (n,)."""
    eps = jax.random.normal(key, (system.state_dim,), system.A.dtype)
    return system.initial_mean + _root(system.initial_cov) @ eps


def linear_gaussian_step(system: LinearGaussianSystem, reward: QuadraticReward, key, x, u):
    """(x' = A x + B u + w with w ~ N(0, W), r(x, u)) for one state (n,) and action (m,)."""
    w = _root(system.W) @ jax.random.normal(key, x.shape, x.dtype)
    return system.A @ x + system.B @ u + w, reward(x, u)


def _check_time_invariant(system: LinearGaussianSystem, reward: QuadraticReward) -> None:
    if system.A.ndim != 2 or system.B.ndim != 2 or system.W.ndim != 2 or reward.Q.ndim != 2:
        raise ValueError("system and reward must be time-invariant ((n, n) matrices, no stacks).")
    n, m = system.state_dim, system.action_dim
    if reward.Q.shape != (n, n) or reward.R.shape != (m, m):
        raise ValueError(
            f"reward Q must be ({n}, {n}) and R ({m}, {m}) to match the system; got "
            f"{reward.Q.shape} and {reward.R.shape}."
        )


class LinearGaussianEnv(gym.Env):
    """The system as a gymnasium environment (module docstring).

    Args:
        system, reward: time-invariant `lqr` model; None for the default double integrator.
        episode_steps: steps before truncation.
        action_bound: half-width of the action space's box (exploration only; actions are not
            clipped).
    """

    metadata: ClassVar[dict] = {"render_modes": []}

    def __init__(self, system=None, reward=None, episode_steps=EPISODE_STEPS, action_bound=5.0):
        if (system is None) != (reward is None):
            raise ValueError("give both system and reward, or neither (the default problem).")
        if system is None:
            system, reward = default_problem()
        _check_time_invariant(system, reward)
        self.episode_steps = check_int("episode_steps", episode_steps, 1)
        check_positive("action_bound", action_bound)
        self.system, self.reward = system, reward
        n, m = system.state_dim, system.action_dim
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (n,), np.float32)
        self.action_space = gym.spaces.Box(-action_bound, action_bound, (m,), np.float32)
        self._rng = np.random.default_rng()
        self._x = np.zeros(n)
        self._t = 0
        # float64 numpy copies, made once: a step is plain numpy (no JAX dispatch per step)
        s, r = system, reward
        self._matrices = tuple(
            np.asarray(x, np.float64) for x in (s.A, s.B, s.W, r.Q, r.R, r.N, r.q_x, r.q_u)
        )

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._rng = self.np_random
        mean = np.asarray(self.system.initial_mean, np.float64)
        cov = np.asarray(self.system.initial_cov, np.float64)
        self._x = self._rng.multivariate_normal(mean, cov, method="eigh")
        self._t = 0
        return self._x.astype(np.float32), {}

    def step(self, action):
        a, b, w, q, r, n_, q_x, q_u = self._matrices
        x, u = self._x, np.asarray(action, np.float64).reshape(b.shape[1])
        # QuadraticReward.__call__ in float64 numpy
        reward = -(0.5 * x @ q @ x + 0.5 * u @ r @ u + x @ n_ @ u + q_x @ x + q_u @ u)
        noise = self._rng.multivariate_normal(np.zeros(len(x)), w, method="eigh")
        self._x = a @ x + b @ u + noise
        self._t += 1
        truncated = self._t >= self.episode_steps
        return self._x.astype(np.float32), float(reward), False, truncated, {}


def register() -> None:
    """Register ENV_ID with gymnasium (idempotent; `agents` does it before making an env)."""
    if ENV_ID not in gym.registry:
        gym.register(ENV_ID, entry_point=LinearGaussianEnv)
