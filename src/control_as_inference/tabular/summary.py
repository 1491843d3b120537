"""Memory-lean inference: the evidence and the summed occupancy, without (H, S, A) arrays.

`infer` returns every message, H x S x A numbers per field. Inverse RL and large models often
need only

    log_evidence,  V_0,  occupancy(s, a) = sum_t p(s_t = s, a_t = a | e),  p(s_H | e)

`infer_summary` computes these with O(sqrt(H) S + S A) memory by checkpointing (Griewank 1992):
the backward pass keeps V only at every L-th step (L = ceil(sqrt(H)) by default); the forward pass
recomputes each segment's values from its checkpoint. It costs three backups per step instead of
one, in exchange for memory independent of H * S * A.
"""

from __future__ import annotations

import functools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._core import check_int
from .inference import InferenceArgs, Spec, backup, check_arguments, evidence, propagate
from .mdp import TabularMDP
from .passes import compacted


class Summary(eqx.Module):
    """What `infer_summary` keeps.

    Attributes:
        log_evidence: () as `Posterior.log_evidence`.
        v0: (S,) V_0.
        occupancy: (S, A) sum_t p(s_t = s, a_t = a | e) (discounted mass for discount < 1).
        final_state_marginal: (S,) p(s_H = s | e).
        method: "exact" or "variational".
    """

    log_evidence: Float[Array, ""]
    v0: Float[Array, " S"]
    occupancy: Float[Array, "S A"]
    final_state_marginal: Float[Array, " S"]
    method: str = eqx.field(static=True)


def infer_summary(
    mdp: TabularMDP,
    horizon,
    temperature=1.0,
    method: str = "exact",
    discount=1.0,
    terminal_value=None,
    segment: int | None = None,
) -> Summary:
    """`infer`'s evidence and summed marginals in O(sqrt(H) S + S A) memory (module docstring).

    Args:
        mdp, horizon, temperature, method, discount, terminal_value: as `infer`.
        segment: checkpoint spacing L (default ceil(sqrt(H))).
    """
    args = check_arguments(mdp, horizon, temperature, method, discount, terminal_value)
    if segment is None:
        segment = max(1, math.isqrt(max(args.horizon - 1, 0)) + 1)
    return _summary(mdp, args, check_int("segment", segment, 1))


@functools.partial(jax.jit, static_argnames=("segment",))
def _summary(mdp: TabularMDP, args: InferenceArgs, segment: int) -> Summary:
    horizon, terminal_value = args.horizon, args.terminal_value
    spec = Spec.of(mdp, args.temperature, args.discount, args.method)
    mdp = compacted(mdp)
    segments = -(-horizon // segment)  # steps t >= horizon of the last segment do nothing

    def reward_at(t):
        return mdp.reward[jnp.minimum(t, horizon - 1)] if mdp.time_varying else mdp.reward

    def value_step(v_next, t):  # V_t from V_{t+1}; identity beyond the horizon
        v_t = backup(mdp, spec, v_next, reward_at(t))[1]
        return jnp.where(t < horizon, v_t, v_next)

    def steps_of(g):
        return g * segment + jnp.arange(segment)

    def checkpoint(v_end, g):  # V_{gL} from V_{(g+1)L}
        v_start = jax.lax.scan(lambda v, t: (value_step(v, t), None), v_end, steps_of(g),
                               reverse=True)[0]  # fmt: skip
        return v_start, v_start

    _, starts = jax.lax.scan(checkpoint, terminal_value, jnp.arange(segments), reverse=True)
    v0 = starts[0] if segments else terminal_value
    ends = jnp.concatenate([starts[1:], terminal_value[None]]) if segments else starts

    log_evidence, log_initial = evidence(mdp, spec, v0)
    p0 = jnp.exp(log_initial)

    def forward_segment(carry, inputs):
        g, v_end = inputs
        ts = steps_of(g)
        # V_{t+1} for every t of the segment, recomputed from its checkpoint
        _, v_next = jax.lax.scan(lambda v, t: (value_step(v, t), v), v_end, ts, reverse=True)

        def step(carry, inputs):
            p, occupancy = carry
            t, v_next_t = inputs
            _, _, log_pi, log_cont = backup(mdp, spec, v_next_t, reward_at(t))
            p_next, joint = propagate(mdp, spec, p, log_pi, log_cont, v_next_t)
            inside = t < horizon
            return (jnp.where(inside, p_next, p), occupancy + jnp.where(inside, joint, 0)), None

        return jax.lax.scan(step, carry, (ts, v_next))[0], None

    occupancy = jnp.zeros((mdp.num_states, mdp.num_actions), mdp.dtype)
    (p_h, occupancy), _ = jax.lax.scan(
        forward_segment, (p0, occupancy), (jnp.arange(segments), ends)
    )
    return Summary(log_evidence, v0, occupancy, p_h, args.method)
