"""The Bayes filter over beliefs, in log space.

    predicted     b^a(s')      = sum_s b(s) T(s'|s, a)                      (engine's log_push)
    observation   p(o|b, a)    = sum_s' b^a(s') O(o|s', a)
    update        b'_{a,o}(s') = O(o|s', a) b^a(s') / p(o|b, a)

The update is normalised in log space (a log-sum-exp over s'), so a belief entry far below the
smallest float survives as a finite log. An observation of probability zero has no posterior;
its branch carries the predicted belief (and weight zero in every expectation).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._core import safe_log
from ..engine import log_push
from .model import POMDP


def branches(
    pomdp: POMDP, log_belief: Float[Array, " S"]
) -> tuple[Float[Array, "A O"], Float[Array, "A O S"]]:
    """(p(o|b,a) (A, O), log b'_{a,o} (A, O, S)) for every action and observation.

    p(o|b, a) is summed in linear space from the predicted belief b^a = b T_a (entries at most
    one: nothing overflows, and an underflowed entry weighs nothing in an expectation); with a
    point-mass belief and O the identity it is T(o|s, a) to the last bit, which makes the
    belief-space backup reproduce tabular inference exactly. The posterior belief is normalised
    in log space.
    """
    transitions = pomdp.transitions  # (S, A, S)
    log_pred = jax.vmap(log_push, in_axes=(1, None))(transitions, log_belief)  # (A, S)
    pred = jnp.exp(log_belief) @ transitions.reshape(transitions.shape[0], -1)  # (A S,)
    pred = pred.reshape(transitions.shape[1], -1)  # (A, S)
    p_obs = jnp.einsum("as,sao->ao", pred, pomdp.observations)  # (A, O)
    log_joint = jnp.moveaxis(safe_log(pomdp.observations), 0, -1) + log_pred[:, None, :]
    log_norm = jax.nn.logsumexp(log_joint, axis=-1, keepdims=True)  # (A, O, 1)
    seen = log_norm > -jnp.inf
    log_post = jnp.where(seen, log_joint - jnp.where(seen, log_norm, 0), log_pred[:, None, :])
    return p_obs, log_post


def belief_update(
    pomdp: POMDP, belief: Float[ArrayLike, " S"], action, observation
) -> tuple[Float[Array, " S"], Float[Array, ""]]:
    """One step of the Bayes filter: (b'(s') = p(s'|b, a, o) (S,), p(o|b, a) ()).

    Args:
        pomdp: the model.
        belief: (S,) the current belief b(s).
        action: the action taken (int in [0, A)).
        observation: the observation received after it (int in [0, O)).
    """
    p_obs, log_post = branches(pomdp, safe_log(jnp.asarray(belief, pomdp.dtype)))
    return jnp.exp(log_post[action, observation]), p_obs[action, observation]
