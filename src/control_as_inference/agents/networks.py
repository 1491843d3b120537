"""Networks of the agents (equinox): an MLP, twin critics, a tanh-Gaussian actor, a categorical
actor, and the function class of soft LQR (a linear-Gaussian actor and quadratic twin critics).
All take one unbatched input; batch them with `jax.vmap`."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0


def mlp(in_size, out_size, hidden, key, dtype=jnp.float32):
    """An MLP with ReLU hidden layers of the widths in `hidden` (a tuple)."""
    sizes = (in_size, *hidden, out_size)
    keys = jax.random.split(key, len(sizes) - 1)
    layers = tuple(
        eqx.nn.Linear(a, b, key=k, dtype=dtype)
        for a, b, k in zip(sizes[:-1], sizes[1:], keys, strict=True)
    )
    return MLP(layers)


class MLP(eqx.Module):
    layers: tuple

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = jax.nn.relu(layer(x))
        return self.layers[-1](x)


class TwinCritic(eqx.Module):
    """Two independent Q networks Q_i(s, a) (Fujimoto et al. 2018's clipped double Q)."""

    q1: MLP
    q2: MLP

    def __init__(self, obs_dim, action_dim, hidden, key, dtype=jnp.float32):
        k1, k2 = jax.random.split(key)
        self.q1 = mlp(obs_dim + action_dim, 1, hidden, k1, dtype)
        self.q2 = mlp(obs_dim + action_dim, 1, hidden, k2, dtype)

    def __call__(self, obs, action) -> tuple[Array, Array]:
        x = jnp.concatenate([obs, action])
        return self.q1(x)[0], self.q2(x)[0]


class DiscreteTwinCritic(eqx.Module):
    """Two Q networks with one output per action: Q_i(s, .) (A,)."""

    q1: MLP
    q2: MLP

    def __init__(self, obs_dim, num_actions, hidden, key, dtype=jnp.float32):
        k1, k2 = jax.random.split(key)
        self.q1 = mlp(obs_dim, num_actions, hidden, k1, dtype)
        self.q2 = mlp(obs_dim, num_actions, hidden, k2, dtype)

    def __call__(self, obs) -> tuple[Array, Array]:
        return self.q1(obs), self.q2(obs)


class TanhGaussianActor(eqx.Module):
    """pi(a|s): u ~ N(mu(s), sigma(s)^2), a = scale * tanh(u) + offset (the action box).

    Only `trunk` trains; scale and offset are the environment's bounds (data, held out of every
    optimiser by `common.trainable` and out of every gradient by stop-gradients).

    log pi(a|s) = log N(u; mu, sigma^2) - sum_j log(scale_j (1 - tanh(u_j)^2)),
    with log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)) for stability.
    """

    trunk: MLP
    scale: Float[Array, " m"]
    offset: Float[Array, " m"]

    def __init__(self, obs_dim, low, high, hidden, key, dtype=jnp.float32):
        low = jnp.asarray(low, dtype)
        high = jnp.asarray(high, dtype)
        self.trunk = mlp(obs_dim, 2 * low.shape[0], hidden, key, dtype)
        self.scale = (high - low) / 2
        self.offset = (high + low) / 2

    def distribution(self, obs):
        out = self.trunk(obs)
        mean, log_std = jnp.split(out, 2)
        return mean, jnp.clip(log_std, LOG_STD_MIN, LOG_STD_MAX)

    def sample(self, obs, key) -> tuple[Array, Array]:
        """(action, log pi(action|obs)) by the reparameterisation u = mu + sigma eps."""
        eps = jax.random.normal(key, self.scale.shape, self.scale.dtype)
        return self.sample_from_noise(obs, eps)

    def sample_from_noise(self, obs, eps) -> tuple[Array, Array]:
        """As `sample`, with the standard normal eps given (batch it with one draw of noise)."""
        mean, log_std = self.distribution(obs)
        u = mean + jnp.exp(log_std) * eps
        return self.squash(u), tanh_gaussian_log_prob(u, mean, log_std, self.scale)

    def sample_batch(self, obs, key) -> tuple[Array, Array]:
        """`sample` for a batch of observations (B, n): one noise draw for the batch."""
        eps = jax.random.normal(key, (obs.shape[0], *self.scale.shape), self.scale.dtype)
        return jax.vmap(self.sample_from_noise)(obs, eps)

    def squash(self, u):
        return jax.lax.stop_gradient(self.scale) * jnp.tanh(u) + jax.lax.stop_gradient(self.offset)

    def deterministic(self, obs):
        """The action of the mean, scale * tanh(mu) + offset (evaluation)."""
        return self.squash(self.distribution(obs)[0])


def tanh_gaussian_log_prob(u, mean, log_std, scale) -> Array:
    """log density of a = scale * tanh(u) + offset where u ~ N(mean, exp(log_std)^2).

    The box is the environment's, not a parameter: no gradient flows to `scale` (a loss of log
    pi would otherwise widen the box on every step)."""
    z = (u - mean) * jnp.exp(-log_std)
    gaussian = jnp.sum(-0.5 * z**2 - log_std - 0.5 * jnp.log(2 * jnp.pi))
    log_scale = jnp.log(jax.lax.stop_gradient(scale))
    log_det = jnp.sum(log_scale + 2 * (jnp.log(2.0) - u - jax.nn.softplus(-2 * u)))
    return gaussian - log_det


class CategoricalActor(eqx.Module):
    """pi(a|s) = softmax(logits(s))."""

    trunk: MLP

    def __init__(self, obs_dim, num_actions, hidden, key, dtype=jnp.float32):
        self.trunk = mlp(obs_dim, num_actions, hidden, key, dtype)

    def log_probs(self, obs) -> Array:
        return jax.nn.log_softmax(self.trunk(obs))


# ----------------------------------------------------------------------------- soft-LQR class


class Parameter(eqx.Module):
    """A free trainable array outside any layer (`common.trainable` trains it like a weight)."""

    value: Array


class LinearGaussianActor(eqx.Module):
    """pi(u|s) = N(K s + k, L L'), L lower triangular with a positive diagonal and independent of
    s: the class of the soft-LQR policy (`lqr.soft_lqr_infinite`). The action is not squashed.

    mean: a linear layer (weight K (m, d), bias k (m,)), zero at the start; tril: (m, m), the
    strictly lower part of L and the log of its diagonal (L = I at the start). scale and offset
    are the environment's box, (high - low) / 2 and (high + low) / 2: data, used only by the
    uniform exploration before learning_starts and the default target entropy (as in
    `TanhGaussianActor`); the policy itself is unbounded.

        u = K s + k + L eps,  log pi(u|s) = -1/2 |eps|^2 - sum_j log L_jj - m/2 log(2 pi)
    """

    mean: eqx.nn.Linear
    tril: Parameter
    scale: Float[Array, " m"]
    offset: Float[Array, " m"]

    def __init__(self, obs_dim, low, high, key, dtype=jnp.float32):
        low = jnp.asarray(low, dtype)
        high = jnp.asarray(high, dtype)
        m = low.shape[0]
        layer = eqx.nn.Linear(obs_dim, m, key=key, dtype=dtype)
        self.mean = eqx.tree_at(
            lambda lin: (lin.weight, lin.bias),
            layer,
            (jnp.zeros((m, obs_dim), dtype), jnp.zeros(m, dtype)),
        )
        self.tril = Parameter(jnp.zeros((m, m), dtype))
        self.scale = (high - low) / 2
        self.offset = (high + low) / 2

    def cholesky(self) -> Float[Array, "m m"]:
        """L, with Sigma = L L' the policy's covariance."""
        raw = self.tril.value
        return jnp.tril(raw, -1) + jnp.diag(jnp.exp(jnp.diag(raw)))

    def sample_from_noise(self, obs, eps) -> tuple[Array, Array]:
        """(u = K s + k + L eps, log pi(u|s)) for a standard normal eps (m,)."""
        u = self.mean(obs) + self.cholesky() @ eps
        m = eps.shape[0]
        log_prob = (
            -0.5 * eps @ eps - jnp.sum(jnp.diag(self.tril.value)) - 0.5 * m * jnp.log(2 * jnp.pi)
        )
        return u, log_prob

    def sample(self, obs, key) -> tuple[Array, Array]:
        eps = jax.random.normal(key, self.scale.shape, self.scale.dtype)
        return self.sample_from_noise(obs, eps)

    def sample_batch(self, obs, key) -> tuple[Array, Array]:
        """`sample` for a batch of observations (B, d): one noise draw for the batch."""
        eps = jax.random.normal(key, (obs.shape[0], *self.scale.shape), self.scale.dtype)
        return jax.vmap(self.sample_from_noise)(obs, eps)

    def deterministic(self, obs):
        """The mean action K s + k."""
        return self.mean(obs)


class QuadraticQ(eqx.Module):
    """Q(z) = -1/2 |L'z|^2 + b'z + c for z = (s, a) (d,), L (d, d) lower triangular: every
    concave quadratic function of z (the class of the soft-LQR Q, whose Hessian is negative
    semi-definite). Concavity keeps the actor's problem bounded at every step of learning (a Q
    convex in a would send the mean action to infinity). L = I and b, c = 0 at the start, so the
    two critics of `QuadraticTwinCritic` start equal, see the same gradients and stay equal:
    their minimum carries no underestimation bias."""

    root: Parameter
    linear: eqx.nn.Linear

    def __init__(self, size, key, dtype=jnp.float32):
        self.root = Parameter(jnp.eye(size, dtype=dtype))
        layer = eqx.nn.Linear(size, 1, key=key, dtype=dtype)
        self.linear = eqx.tree_at(
            lambda lin: (lin.weight, lin.bias),
            layer,
            (jnp.zeros((1, size), dtype), jnp.zeros(1, dtype)),
        )

    def hessian(self) -> Array:
        """-L L' (d, d), the Hessian of Q in z."""
        root = jnp.tril(self.root.value)
        return -root @ root.T

    def __call__(self, z):
        y = jnp.tril(self.root.value).T @ z
        return -0.5 * y @ y + self.linear(z)[0]


class QuadraticTwinCritic(eqx.Module):
    """Two quadratic Q functions of (s, a) (`QuadraticQ`), called as `TwinCritic`."""

    q1: QuadraticQ
    q2: QuadraticQ

    def __init__(self, obs_dim, action_dim, key, dtype=jnp.float32):
        k1, k2 = jax.random.split(key)
        self.q1 = QuadraticQ(obs_dim + action_dim, k1, dtype)
        self.q2 = QuadraticQ(obs_dim + action_dim, k2, dtype)

    def __call__(self, obs, action) -> tuple[Array, Array]:
        z = jnp.concatenate([obs, action])
        return self.q1(z), self.q2(z)
