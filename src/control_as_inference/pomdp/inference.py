"""Finite-horizon soft inference over beliefs, by exact enumeration of the observation histories.

A history h_t = (a_0, o_1, ..., a_{t-1}, o_t) is a node of the tree whose root is the initial
belief; node n at depth t has children n (A O) + a O + o at depth t + 1, N_t = (A O)^t nodes in
all. Every node carries its belief b_h (`beliefs.branches`). The backup is the variational (soft
Bellman) one over beliefs, the true dynamics and observation model fixed:

    V_H(b)     = sum_s b(s) v_H(s)                                  (terminal value, default 0)
    Q_t(b, a)  = sum_s b(s) r(s, a) + gamma sum_o p(o|b, a) V_{t+1}(b'_{a,o})
    V_t(b)     = alpha log sum_a p(a) exp(Q_t(b, a) / alpha)
    log pi_t(a|b) = log p(a) + (Q_t(b, a) - V_t(b)) / alpha

pi maximises E[ sum_t gamma^t (r(s_t, a_t) - alpha KL(pi(.|b_t) || p)) + gamma^H v_H(s_H) ] over
policies of the history, and V_0(b_0) is that maximum; V_0(b_0) / alpha is the variational lower
bound on the log evidence. With O the identity every reachable belief is a point mass and the
backup is tabular inference's variational one, to the last bit.

Exact inference (sum-product over the whole graph) is not offered: its posterior over a_t
conditions on the past optimality variables as well, so it is not a function of the belief.
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._core import safe_log, soft_maximum
from ..engine import Setting
from .beliefs import branches
from .model import POMDP, terminal_values

MAX_NODES = 2**20


class BeliefPosterior(NamedTuple):
    """The soft posterior over the history tree; tuples indexed by depth t, node n of N_t.

    Attributes:
        beliefs: H + 1 arrays (N_t, S): b_h(s) at every history.
        observation_probability: H arrays (N_t, A, O): p(o|b_h, a).
        q: H arrays (N_t, A): Q_t(b_h, a).
        v: H + 1 arrays (N_t,): V_t(b_h).
        log_policy: H arrays (N_t, A): log pi_t(a|b_h).
        temperature, discount: the setting's ().
    """

    beliefs: tuple
    observation_probability: tuple
    q: tuple
    v: tuple
    log_policy: tuple
    temperature: Float[Array, ""]
    discount: Float[Array, ""]

    @property
    def value(self) -> Float[Array, ""]:
        """V_0(b_0), the soft value of the initial belief."""
        return self.v[0][0]

    @property
    def log_evidence_bound(self) -> Float[Array, ""]:
        """V_0(b_0) / alpha, the variational lower bound on log p(e_{0:H-1} = 1)."""
        return self.value / self.temperature

    def node(self, actions, observations) -> int:
        """The index (at depth len(actions)) of the history a_0, o_1, ..., a_{t-1}, o_t."""
        num_actions, num_obs = self.observation_probability[0].shape[1:]
        index = 0
        for a, o in zip(actions, observations, strict=True):
            index = index * num_actions * num_obs + int(a) * num_obs + int(o)
        return index


def infer_beliefs(
    pomdp: POMDP,
    horizon: int,
    temperature=1.0,
    discount=1.0,
    method: str = "variational",
    terminal_value=None,
) -> BeliefPosterior:
    """Soft inference over beliefs for H steps by enumerating every history (module docstring).

    Args:
        pomdp: the model.
        horizon: H >= 1 decisions; the tree has (A O)^H leaves, at most 2^20.
        temperature: alpha > 0.
        discount: gamma in (0, 1].
        method: "variational" (the only one over beliefs; "exact" is refused, see the module).
        terminal_value: (S,) v_H(s); zero if None.

    Returns:
        BeliefPosterior.
    """
    setting = Setting(temperature, discount, horizon, method, dtype=pomdp.dtype)
    if setting.exact:
        raise ValueError(
            'method="exact" is not defined over beliefs (the exact posterior over a_t also '
            'conditions on past optimality variables); use method="variational".'
        )
    if setting.horizon is None or setting.horizon < 1:
        raise ValueError(f"horizon must be an int >= 1 for belief inference, got {horizon}.")
    leaves = (pomdp.num_actions * pomdp.num_observations) ** horizon
    if leaves > MAX_NODES:
        raise ValueError(
            f"horizon {horizon} gives (A O)^H = {leaves} histories, above {MAX_NODES}; "
            "use a shorter horizon."
        )
    return _enumerate(pomdp, setting, terminal_values(pomdp, terminal_value))


@eqx.filter_jit
def _enumerate(pomdp: POMDP, setting: Setting, terminal_value) -> BeliefPosterior:
    log_beliefs, p_obs = [safe_log(pomdp.initial)[None, :]], []
    for _ in range(setting.horizon):  # forward: the beliefs of every history
        p, log_post = jax.vmap(branches, in_axes=(None, 0))(pomdp, log_beliefs[-1])
        p_obs.append(p)  # (N, A, O)
        log_beliefs.append(log_post.reshape(-1, pomdp.num_states))  # (N A O, S)
    beliefs = [jnp.exp(log_b) for log_b in log_beliefs]
    alpha, gamma = setting.temperature, setting.discount
    v = [beliefs[-1] @ terminal_value]
    q, log_pi = [], []
    for t in reversed(range(setting.horizon)):  # backward: the soft Bellman backup
        n = beliefs[t].shape[0]
        v_next = v[0].reshape(n, pomdp.num_actions, pomdp.num_observations)
        q_t = beliefs[t] @ pomdp.reward + gamma * jnp.sum(p_obs[t] * v_next, axis=-1)
        log_prior = jnp.broadcast_to(pomdp.log_action_prior, q_t.shape)
        v_t, log_pi_t = soft_maximum(q_t, log_prior, alpha)
        v.insert(0, v_t)
        q.insert(0, q_t)
        log_pi.insert(0, log_pi_t)
    return BeliefPosterior(
        tuple(beliefs), tuple(p_obs), tuple(q), tuple(v), tuple(log_pi), alpha, gamma
    )
