"""The transition model every family shares: dense or successor lists, with one validator.

A transition model gives, for every row -- a state-action pair of an MDP (rows (S, A)), a state
of KL control's passive dynamics (rows (S,)), or whatever a family conditions on -- a
distribution over the S next states. It comes in two layouts with the same meaning:

    dense       T[*row, s'],                                           shape (*R, S)
    Successors  index[*row, k] in [0, S), prob[*row, k],               shape (*R, K) each
                T(s'|row) = sum_k prob[row, k] [index[row, k] == s']

Repeated successor indices add up; padding slots carry probability 0 (any valid index). S is the
first axis of the rows (the state), so a dense model is square in its first and last axes.

    check_transitions(transitions, dtype, name, rows)   the one validator (a ValueError naming
                                                        the field and the fix)
    check_distribution(name, p, dtype)                  finite, >= 0, summing to one on the last
                                                        axis (also for initial distributions,
                                                        action priors, observation models)
    dense_transitions(transitions)                      the dense (*R, S) form of either layout
    compact(transitions)                                32-bit successor indices, for hot loops
    transition_probability(transitions, row, s_next)    T(s_next | row) at given indices

Value checks need concrete arrays: under `jax.jit` or `jax.vmap` only shapes are checked, so a
model built from untrusted data is validated outside the transformation. The log-space kernels
over either layout are in `kernels`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from .._core import is_concrete


class Successors(NamedTuple):
    """Sparse transitions: K successor states per row (an (s, a) pair, or a state).

    T(s'|row) = sum_k prob[row, k] * [index[row, k] == s'].  Repeated indices add up; padding
    entries carry probability 0 (any valid index).

    Attributes:
        index: (*R, K) integer successor states in [0, S), e.g. (S, A, K) for an MDP.
        prob: (*R, K) their probabilities; every row sums to one.
    """

    index: Int[Array, "*R K"]
    prob: Float[Array, "*R K"]


def normalisation_tolerance(dtype) -> float:
    """How far from one a row's sum may be: 1e-4 in float32 (and below), 1e-6 in float64."""
    return 1e-4 if jnp.finfo(dtype).bits <= 32 else 1e-6


def check_distribution(name: str, p, dtype=np.float64) -> None:
    """Raise a ValueError naming `name` unless p is finite, non-negative and sums to one over its
    last axis (within `normalisation_tolerance(dtype)`). Concrete values only: a traced p passes.
    """
    if not is_concrete(p):
        return
    p = np.asarray(p, dtype=np.float64)
    if np.isnan(p).any():
        raise ValueError(f"{name} contains NaN; every probability must be a number in [0, 1].")
    if not np.isfinite(p).all():
        raise ValueError(f"{name} contains inf; every probability must be a number in [0, 1].")
    if (p < 0).any():
        where = tuple(int(i) for i in np.argwhere(p < 0)[0])
        raise ValueError(f"{name} has a negative probability at {where}; use values in [0, 1].")
    sums = p.sum(axis=-1)
    bad = np.abs(sums - 1.0) > normalisation_tolerance(dtype)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        at = f" at {where} (the row of state {where[0]})" if where else ""
        raise ValueError(
            f"{name} does not sum to one over its last axis{at} (sum {sums[where]:.6g}); "
            "normalise it (divide by its sum)."
        )


def check_transitions(transitions, dtype, name: str = "transitions", rows=("S", "A")):
    """The one validator of a transition model: returns it as arrays of `dtype` (dense) or as
    `Successors` with integer index and `dtype` probabilities.

    Args:
        transitions: dense (*R, S) array or `Successors(index, prob)` of shape (*R, K).
        dtype: the model's floating dtype.
        name: the field, as the user wrote it ("transitions", "passive").
        rows: the names of the row axes R, for the messages; the first is the state S.

    Raises:
        ValueError: naming the field and the fix, for a wrong shape, a non-integer index, an
            index outside [0, S), NaN or inf, a negative probability, a row that does not sum
            to one, or an empty axis.
    """
    layout = ", ".join(rows)
    if isinstance(transitions, Successors):
        # the values in numpy, before jnp: under jax.jit jnp.asarray of a numpy array is a
        # tracer, and even a concrete (closed-over) jax array's min() is one
        values = np.asarray(transitions.index) if is_concrete(transitions.index) else None
        index = jnp.asarray(transitions.index)
        prob = jnp.asarray(transitions.prob, dtype=dtype)
        if not jnp.issubdtype(index.dtype, jnp.integer):
            raise ValueError(
                f"{name}.index must hold integers, got dtype {index.dtype}; "
                "cast it with .astype(int)."
            )
        if index.ndim != len(rows) + 1 or prob.shape != index.shape:
            raise ValueError(
                f"{name}.index and {name}.prob must both have shape ({layout}, K); got "
                f"{index.shape} and {prob.shape}."
            )
        num_states = index.shape[0]
        if values is not None and values.size and (values.min() < 0 or values.max() >= num_states):
            raise ValueError(
                f"{name}.index must lie in [0, {num_states}); found values in "
                f"[{int(values.min())}, {int(values.max())}]."
            )
        check_distribution(f"{name}.prob", transitions.prob, dtype)  # the input: see values
        transitions = Successors(index=index, prob=prob)
        shape = index.shape[:-1]
    else:
        given, transitions = transitions, jnp.asarray(transitions, dtype=dtype)
        shape = transitions.shape
        if transitions.ndim != len(rows) + 1 or shape[0] != shape[-1]:
            raise ValueError(
                f"{name} must have shape ({layout}, S), got {shape}; for sparse models pass "
                f"cai.Successors(index, prob) with ({layout}, K) arrays."
            )
        check_distribution(name, given, dtype)  # the input: concrete under jit too
    if 0 in shape:
        raise ValueError(
            f"{name} must have at least one entry on every axis ({layout}), got shape {shape}."
        )
    return transitions


def dense_transitions(transitions) -> Float[Array, "*R S"]:
    """T[*row, s'] as a dense (*R, S) array (repeated successor indices add up)."""
    if not isinstance(transitions, Successors):
        return transitions
    index, prob = transitions
    *rows, k = index.shape
    n = int(np.prod(rows))
    flat = jnp.broadcast_to(jnp.arange(n)[:, None], (n, k))
    dense = (
        jnp.zeros((n, rows[0]), prob.dtype).at[flat, index.reshape(n, k)].add(prob.reshape(n, k))
    )
    return dense.reshape(*rows, rows[0])


def compact(transitions):
    """The model in the hot loops' layout: successor indices as 32-bit integers where S < 2^31
    (the same values; the gathers then read 24 instead of 32 bytes per slot in float64, 1.3x
    faster per mat-vec at S = 1e5, A = 4, K = 5 when measured: benchmarks/kernels.py). Dense
    models and 32-bit indices come back unchanged. Call it once, outside the loop over steps."""
    if not isinstance(transitions, Successors):
        return transitions
    index, prob = transitions
    if jnp.dtype(index.dtype).itemsize <= 4 or index.shape[0] >= 2**31:
        return transitions
    return Successors(index.astype(jnp.int32), prob)


def transition_probability(transitions, row: tuple, next_state) -> Array:
    """T(next_state | row) at integer index arrays: row a tuple of arrays (s, a) (or (s,)) and
    next_state, all of one broadcast shape B; returns shape B."""
    if isinstance(transitions, Successors):
        index, prob = transitions
        hit = index[row] == next_state[..., None]  # (*B, K)
        return jnp.sum(jnp.where(hit, prob[row], 0.0), axis=-1)
    return transitions[(*row, next_state)]
