"""Exact composition of optimal control laws.

Todorov (2009), "Compositionality of optimal control laws" (NIPS). First-exit LMDPs that share
the interior costs q_N and the passive dynamics p, and differ only in their terminal costs
q_T^k, have desirabilities linear in the terminal ones: if

    exp(-q_T) = sum_k w_k exp(-q_T^k)        (w_k >= 0; `mixed_cost`)

then z = sum_k w_k z_k, and the optimal law is a state-dependent mixture of the component laws

    u*(s'|s) = sum_k m_k(s) u*_k(s'|s),   m_k(s) = w_k (P z_k)(s) / sum_j w_j (P z_j)(s)
                                                 = w_k z_k(s) / z(s)   (interior s: z = G P z).

`compose` builds that controller from solved components in log space, without solving again.

The same holds for soft Q-functions of deterministic tabular models (temperature alpha, discount
1, tasks differing only in their terminal rewards; e.g. van Niekerk et al. 2019, "Composing value
functions in reinforcement learning"): exp(Q/alpha) = exp(r/alpha) exp(V(s')/alpha) is linear in
exp(V/alpha), so Q = alpha log sum_k w_k exp(Q_k/alpha) (`compose_soft_q`). With stochastic
dynamics the variational backup is not linear in exp(V/alpha) and the identity fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._core import check_temperature, is_concrete, safe_log, soft_maximum
from ..tabular import TabularMDP
from .first_exit import KLSolution


class Composite(eqx.Module):
    """A composite first-exit controller.

    Attributes:
        log_z: (S,) log sum_k w_k z_k.
        log_mixture: (C, S) log m_k(s), the weight of component k's law at state s.
        log_policy: (S, N) log u*(s'|s) = log sum_k m_k(s) u*_k(s'|s), in p's layout.
    """

    log_z: Float[Array, " S"]
    log_mixture: Float[Array, "C S"]
    log_policy: Float[Array, "S N"]

    @property
    def z(self):
        return jnp.exp(self.log_z)

    @property
    def v(self):
        return -self.log_z

    @property
    def policy(self):
        return jnp.exp(self.log_policy)


def _check_weights(weights, count: int, dtype):
    weights = jnp.asarray(weights, dtype)
    if weights.shape != (count,):
        raise ValueError(
            f"weights must have shape ({count},) (one per component), got {weights.shape}."
        )
    if is_concrete(weights):
        w = np.asarray(weights)
        if not (np.isfinite(w).all() and (w >= 0).all() and w.sum() > 0):
            raise ValueError(f"weights must be finite, >= 0 and not all 0, got {w.tolist()}.")
    return weights


def mixed_cost(costs, weights) -> Float[Array, " S"]:
    """The terminal cost whose desirability is the weighted sum: -log sum_k w_k exp(-q^k), (S,)
    from (C, S) costs and (C,) weights (log space: costs of 1e4 are fine)."""
    costs = jnp.asarray(costs)
    weights = _check_weights(weights, costs.shape[0], costs.dtype)
    return -jax.nn.logsumexp(safe_log(weights)[:, None] - costs, axis=0)


def compose(components: Sequence[KLSolution], weights) -> Composite:
    """The composite controller of solved first-exit components (see the module docstring).

    Args:
        components: C `KLSolution`s of `first_exit` on models sharing p and the interior costs.
        weights: (C,) w_k >= 0, the weights of the terminal desirabilities.

    Returns:
        A `Composite`: log_z (S,), log_mixture (C, S), log_policy in p's layout.
    """
    if len(components) == 0:
        raise ValueError("components must hold at least one solved first-exit problem.")
    log_zs = jnp.stack([c.log_z for c in components])
    if log_zs.ndim != 2:
        raise ValueError("components must be first-exit solutions (log_z of shape (S,)).")
    log_policies = jnp.stack([c.log_policy for c in components])
    weights = _check_weights(weights, len(components), log_zs.dtype)
    return _compose(log_zs, log_policies, weights)


@jax.jit
def _compose(log_zs, log_policies, weights) -> Composite:
    terms = safe_log(weights)[:, None] + log_zs
    log_z = jax.nn.logsumexp(terms, axis=0)
    log_mixture = jnp.where(terms > -jnp.inf, terms - log_z[None], -jnp.inf)
    log_policy = jax.nn.logsumexp(log_mixture[:, :, None] + log_policies, axis=0)
    return Composite(log_z, log_mixture, log_policy)


class SoftQComposite(NamedTuple):
    """q (S, A) = alpha log sum_k w_k exp(Q_k/alpha); v (S,) and log_policy (S, A) from q and the
    model's action prior, as in `soft_value_iteration`."""

    q: Float[Array, "S A"]
    v: Float[Array, " S"]
    log_policy: Float[Array, "S A"]


def compose_soft_q(mdp: TabularMDP, q_values, weights, temperature=1.0) -> SoftQComposite:
    """Compose soft Q-functions (C, S, A) of tasks on one deterministic tabular model.

    Exact when the dynamics are deterministic, the discount is 1 and the tasks differ only in the
    rewards of reaching absorbing terminal states, mixed as r = alpha log sum_k w_k
    exp(r_k/alpha). Raises ValueError for stochastic dynamics, where it is not exact. At the
    absorbing states themselves (value 0 in every task) the composite is shifted by
    alpha log sum_k w_k; their policy, and everything at the other states, is exact.
    """
    temperature = check_temperature(temperature, mdp.dtype)
    transitions = mdp.dense_transitions()
    if is_concrete(transitions) and not bool(jnp.all(jnp.max(transitions, axis=-1) > 1 - 1e-6)):
        raise ValueError(
            "mdp: soft-Q composition is exact only for deterministic dynamics (every T(.|s,a) "
            "one-hot); solve the mixed task with soft_value_iteration instead."
        )
    q_values = jnp.asarray(q_values, mdp.dtype)
    if q_values.ndim != 3 or q_values.shape[1:] != (mdp.num_states, mdp.num_actions):
        raise ValueError(
            f"q_values must have shape (C, S, A) with (S, A) = "
            f"{(mdp.num_states, mdp.num_actions)}, got {q_values.shape}."
        )
    weights = _check_weights(weights, q_values.shape[0], mdp.dtype)
    scaled = safe_log(weights)[:, None, None] + q_values / temperature
    q = temperature * jax.nn.logsumexp(scaled, axis=0)
    v, log_policy = soft_maximum(q, mdp.log_action_prior, temperature)
    return SoftQComposite(q, v, log_policy)
