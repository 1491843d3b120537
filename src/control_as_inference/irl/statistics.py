"""What MaxEnt IRL reads from its inputs: reward models over features, the statistics of the
demonstrations the objective needs, and expected feature counts and policy log-likelihoods to
compare a fit with the demonstrations.
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._core import is_concrete
from ..engine import transition_probability
from ..tabular import Posterior, TabularMDP
from .demonstrations import Demonstrations, as_demonstrations

# ----------------------------------------------------------------------------- reward models


class LinearReward(eqx.Module):
    """r(s, a) = phi(s, a) . weights."""

    weights: Float[Array, " F"]

    def __call__(self, phi: Float[Array, " F"]) -> Float[Array, ""]:
        return phi @ self.weights


def reward_table(model, features: Float[Array, "S A F"]) -> Float[Array, "S A"]:
    """Apply a reward model (a callable from a (F,) feature vector to a scalar) to every (s, a)."""
    s, a, f = features.shape
    return jax.vmap(model)(features.reshape(s * a, f)).reshape(s, a)


def check_features(features, mdp: TabularMDP) -> Array:
    """(S, A, F) features; (S, F) state features are broadcast over actions."""
    features = jnp.asarray(features, dtype=mdp.dtype)
    s, a = mdp.num_states, mdp.num_actions
    if features.ndim == 2 and features.shape[0] == s:
        features = jnp.broadcast_to(features[:, None, :], (s, a, features.shape[1]))
    if features.ndim != 3 or features.shape[:2] != (s, a) or features.shape[2] == 0:
        raise ValueError(
            f"features must have shape (S, A, F) = ({s}, {a}, F) or (S, F) = ({s}, F) with "
            f"F >= 1; got {features.shape}."
        )
    if is_concrete(features) and not bool(jnp.all(jnp.isfinite(features))):
        raise ValueError("features must be finite (no NaN or inf).")
    return features


# ----------------------------------------------------------------------------- statistics


class DemoStatistics(NamedTuple):
    """What the objective needs from the demonstrations (averaged over them).

    Attributes:
        counts: (S, A) 1/N sum_i sum_{t < T_i} gamma^t [s_t = s, a_t = a].
        start: (S,) 1/N sum_i [s_0 = s].
        end_time: (M,) T_i; end_state: (M,) s_{T_i}; end_weight: (M,) gamma^{T_i} / N.
        demonstrations: the `Demonstrations` themselves (for the log-likelihood), or None for
            an occupancy, which has no trajectories.
        log_dynamics: () 1/N sum_i sum_{t < T_i} log T(s_{t+1}|s_t,a_t), the reward-free part
            of the demonstrations' log-likelihood (`demo_log_dynamics`, set by `objective.setup`);
            NaN for an occupancy.
    """

    counts: Array
    start: Array
    end_time: Array
    end_state: Array
    end_weight: Array
    demonstrations: Demonstrations | None = None
    log_dynamics: Array | None = None


def demo_statistics(demos: Demonstrations, num_states, num_actions, discount, dtype):
    """`DemoStatistics` of padded demonstrations: w_t = gamma^t / N on each step t < T_i."""
    mask = demos.mask().astype(dtype)
    t = jnp.arange(demos.max_length, dtype=dtype)
    weights = mask * discount ** t[None, :] / demos.num
    counts = (
        jnp.zeros((num_states, num_actions), dtype)
        .at[demos.states[:, :-1], demos.actions]
        .add(weights)
    )
    start = jnp.zeros(num_states, dtype).at[demos.states[:, 0]].add(1.0 / demos.num)
    end_state = jnp.take_along_axis(demos.states, demos.lengths[:, None], axis=1)[:, 0]
    end_weight = discount ** demos.lengths.astype(dtype) / demos.num
    return DemoStatistics(counts, start, demos.lengths, end_state, end_weight, demos)


def demo_log_dynamics(mdp: TabularMDP, demos: Demonstrations) -> Float[Array, ""]:
    """1/N sum_i sum_{t < T_i} log T(s_{t+1} | s_t, a_t) under mdp's dynamics (dense or sparse);
    -inf when a demonstrated transition has probability 0."""
    s, a, s_next = demos.states[:, :-1], demos.actions, demos.states[:, 1:]
    p = transition_probability(mdp.transitions, (s, a), s_next)  # (N, T)
    valid = demos.mask() > 0
    log_p = jnp.log(jnp.where(valid, p, 1.0))
    return jnp.sum(jnp.where(valid, log_p, 0.0)) / demos.num


def occupancy_statistics(occupancy, mdp: TabularMDP, horizon):
    """Statistics of an expected occupancy: (S, A) discounted counts of one full-length
    demonstration started from mdp.initial (its end value is the terminal value 0)."""
    occupancy = jnp.asarray(occupancy, dtype=mdp.dtype)
    if occupancy.shape != (mdp.num_states, mdp.num_actions):
        raise ValueError(
            "demonstrations given as an occupancy must have shape (S, A) = "
            f"{(mdp.num_states, mdp.num_actions)}; got {occupancy.shape}."
        )
    if is_concrete(occupancy) and not bool(
        jnp.all(jnp.isfinite(occupancy)) and jnp.all(occupancy >= 0)
    ):
        raise ValueError("demonstrations given as an occupancy must be finite and >= 0.")
    empty = jnp.zeros((0,), dtype=int)
    nan = jnp.asarray(jnp.nan, mdp.dtype)
    no_end = jnp.zeros((0,), mdp.dtype)
    return DemoStatistics(occupancy, mdp.initial, empty, empty, no_end, None, nan)


# ----------------------------------------------------------------------------- expectations


def feature_expectations(source, features, discount=1.0) -> Float[Array, " F"]:
    """Expected (discounted) feature counts sum_t gamma^t phi(s_t, a_t).

    Args:
        source: `Demonstrations` (or a (states, actions) pair): the mean over trajectories of
            sum_{t < T_i} gamma^t phi(s_t, a_t); a `Posterior`: sum_t sum_{s,a}
            p(s_t = s, a_t = a | e) phi(s, a) (its marginals already carry the discount, so
            `discount` is ignored); or an (S, A) occupancy array: sum_{s,a} occ(s, a) phi(s, a).
        features: (S, A, F), or (S, F) state features.
        discount: gamma for demonstrations.

    Returns:
        (F,) feature expectations.
    """
    features = jnp.asarray(features)
    if features.ndim == 2:
        features = features[:, None, :]
    if isinstance(source, Posterior):
        occupancy = jnp.sum(source.state_action_marginals, axis=0)
    elif isinstance(source, Demonstrations) or isinstance(source, tuple):
        demos = as_demonstrations(*source) if not isinstance(source, Demonstrations) else source
        s, a = features.shape[0], max(features.shape[1], int(jnp.max(demos.actions)) + 1)
        occupancy = demo_statistics(demos, s, a, discount, features.dtype).counts
    else:
        occupancy = jnp.asarray(source)
    if occupancy.ndim != 2 or occupancy.shape[0] != features.shape[0]:
        raise ValueError(
            f"features of shape {features.shape} do not match an occupancy of shape "
            f"{occupancy.shape}; features must be (S, A, F) or (S, F)."
        )
    features = jnp.broadcast_to(features, (*occupancy.shape, features.shape[-1]))
    return jnp.einsum("sa,saf->f", occupancy, features)


def policy_log_likelihood(log_policy, demonstrations) -> Float[Array, " N"]:
    """sum_{t < T_i} log pi_t(a_t | s_t) for each demonstration.

    Args:
        log_policy: (H, S, A) time-indexed (e.g. `Posterior.log_policy`) or (S, A) stationary
            (e.g. `SoftValueSolution.log_policy`).
        demonstrations: `Demonstrations` or a (states, actions) pair.
    """
    demos = demonstrations
    if not isinstance(demos, Demonstrations):
        demos = as_demonstrations(*demos)
    log_policy = jnp.asarray(log_policy)
    if log_policy.ndim == 2:
        per_step = log_policy[demos.states[:, :-1], demos.actions]
    else:
        if demos.max_length > log_policy.shape[0]:
            raise ValueError(
                f"demonstrations have {demos.max_length} steps but log_policy only "
                f"{log_policy.shape[0]}."
            )
        t = jnp.arange(demos.max_length)[None, :]
        per_step = log_policy[t, demos.states[:, :-1], demos.actions]
    return jnp.sum(jnp.where(demos.mask() > 0, per_step, 0.0), axis=1)
