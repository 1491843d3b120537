"""Embedding a standard MDP into an LMDP, and the approximation gap it leaves.

Todorov (2009), "Efficient computation of optimal actions" (PNAS), "embedding of traditional
MDPs": for every interior state s, choose q(s) and p(.|s) such that each original action a,
used as the law u = T(.|s,a), costs what it cost before:

    l(s,a) = q(s) + KL(T(.|s,a) || p(.|s))       for all a.

With m(s') = q(s) - log p(s'|s) on the union of the actions' supports this is linear,

    sum_s' T(s'|s,a) m(s') = l(s,a) - sum_s' T(s'|s,a) log T(s'|s,a)          (B m = c),

solved here by least squares of minimum norm (exact when the actions' rows are independent and
at least as many as the support), then q(s) = -log sum_s' exp(-m(s')) and p(s'|s) = exp(q - m).
The LMDP may also pick laws between the actions, so its first-exit cost-to-go is a lower bound
of the MDP's (when the match is exact); `embedding_gap` reports how far below it is, against
exact (hard) value iteration.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._core import is_concrete, safe_log
from ..engine import fixed_point, sup_norm
from .first_exit import KLSolution, first_exit
from .model import LMDP


class Embedding(NamedTuple):
    """lmdp: the embedded `LMDP`; match_residual (S,): max_a |q(s) + KL(T(.|s,a)||p(.|s)) -
    l(s,a)| (0 at terminal states; > 0 where least squares could not match every action)."""

    lmdp: LMDP
    match_residual: Float[Array, " S"]


def _check_mdp(transitions, cost, terminal, final_cost):
    transitions = jnp.asarray(transitions)
    dtype = transitions.dtype if jnp.issubdtype(transitions.dtype, jnp.floating) else None
    cost = jnp.asarray(cost, dtype)
    s = transitions.shape[0]
    if transitions.ndim != 3 or transitions.shape[2] != s:
        raise ValueError(f"transitions must have shape (S, A, S), got {transitions.shape}.")
    if cost.shape != transitions.shape[:2]:
        raise ValueError(
            f"cost must have shape (S, A) = {transitions.shape[:2]}, got {cost.shape}."
        )
    terminal = jnp.asarray(terminal)
    if terminal.shape != (s,) or terminal.dtype != jnp.bool_:
        raise ValueError(f"terminal must be a boolean mask of shape ({s},).")
    final_cost = (
        jnp.zeros((s,), cost.dtype) if final_cost is None else jnp.asarray(final_cost, cost.dtype)
    )
    if final_cost.shape != (s,):
        raise ValueError(f"final_cost must have shape ({s},), got {final_cost.shape}.")
    if is_concrete(transitions) and not np.allclose(np.asarray(transitions).sum(-1), 1, atol=1e-5):
        raise ValueError("transitions must sum to one over their last axis.")
    return transitions.astype(cost.dtype), cost, terminal, final_cost


def embed_mdp(transitions, cost, terminal, final_cost=None) -> Embedding:
    """The LMDP whose passive dynamics and state costs match the MDP's actions (module docstring).

    Args:
        transitions: (S, A, S) T(s'|s,a).
        cost: (S, A) l(s,a) (a cost: the negative of a reward).
        terminal: (S,) booleans, the first-exit states.
        final_cost: (S,) cost of arriving at a terminal state; zeros if None.

    Returns:
        An `Embedding(lmdp, match_residual)`; terminal rows of p are self-loops.

    The state costs q may be negative (exact matching can need it; the LMDP is built without
    `LMDP`'s q >= 0 check, which `jit` skips): its first-exit problem is still solvable while
    rho(diag(exp(-q_N)) P_NN) < 1.

    Raises:
        ValueError: for wrong shapes, or when negative state costs leave the first-exit problem
            without a solution (nearly collinear action laws with different costs give q far
            below 0).
    """
    transitions, cost, terminal, final_cost = _check_mdp(transitions, cost, terminal, final_cost)
    embedding = _embed(transitions, cost, terminal, final_cost)
    _check_embedded_costs(embedding.lmdp)
    return embedding


def _check_embedded_costs(lmdp: LMDP) -> None:
    """Refuse an embedding whose negative state costs leave its first-exit problem without a
    solution: rho(G P_NN) >= 1 with G = diag(exp(-q_N)) (checked only when some q_N < 0)."""
    if not is_concrete(lmdp.cost):
        return
    q, interior = np.asarray(lmdp.cost, np.float64), ~np.asarray(lmdp.terminal)
    if not (interior & (q < 0)).any():
        return
    p = np.asarray(lmdp.passive, np.float64)[np.ix_(interior, interior)]
    gain = np.exp(np.minimum(-q[interior], 700.0))
    radius = float(np.max(np.abs(np.linalg.eigvals(gain[:, None] * p)))) if p.size else 0.0
    if radius >= 1 - 1e-9:
        s = int(np.argmin(np.where(interior, q, np.inf)))
        raise ValueError(
            f"embed_mdp: the embedded state costs are negative (q = {q[s]:.4g} at state {s}) "
            f"and large enough that the LMDP's first-exit problem has no solution (spectral "
            f"radius of diag(exp(-q)) P on interior states {radius:.3g} >= 1: the cost is "
            f"unbounded below). Matching every action's cost exactly needs it: the laws "
            f"transitions[{s}] are nearly collinear while their costs cost[{s}] differ. Merge "
            "nearly identical actions, bring their costs closer, or raise that state's costs."
        )


@jax.jit
def _embed(transitions, cost, terminal, final_cost) -> Embedding:
    log_t = safe_log(transitions)
    entropy_term = jnp.sum(jnp.where(transitions > 0, transitions * log_t, 0), axis=-1)
    support = jnp.any(transitions > 0, axis=1)  # (S, S)
    c = cost - entropy_term  # (S, A)
    m = jax.vmap(lambda b, rhs: jnp.linalg.pinv(b) @ rhs)(transitions, c)  # (S, S)
    m_masked = jnp.where(support, -m, -jnp.inf)
    q = -jax.nn.logsumexp(m_masked, axis=1)
    log_p = jnp.where(support, q[:, None] - m, -jnp.inf)
    kl = jnp.sum(jnp.where(transitions > 0, transitions * (log_t - log_p[:, None, :]), 0), axis=-1)
    residual = jnp.where(terminal, 0, jnp.max(jnp.abs(q[:, None] + kl - cost), axis=1))
    eye = jnp.eye(transitions.shape[0], dtype=cost.dtype)
    passive = jnp.where(terminal[:, None], eye, jnp.exp(log_p))
    passive = passive / jnp.sum(passive, axis=1, keepdims=True)
    lmdp = LMDP(passive, jnp.where(terminal, final_cost, q), terminal)
    return Embedding(lmdp, residual)


def value_iteration(
    transitions, cost, terminal, final_cost=None, tol=1e-12, max_iterations=100_000
):
    """Exact first-exit value iteration of the MDP: v(s) = min_a [l(s,a) + E_T v] on interior
    states, v = final_cost on terminal ones, from v = final cost / 0 to max |dv| <= tol. (S,)."""
    transitions, cost, terminal, final_cost = _check_mdp(transitions, cost, terminal, final_cost)

    def step(v):
        return jnp.where(terminal, final_cost, jnp.min(cost + transitions @ v, axis=1))

    v0 = jnp.where(terminal, final_cost, 0)
    # on the solver layer with rate 1/2 and no size term: it stops when max |dv| <= tol
    result = fixed_point(
        step,
        v0,
        tol=tol,
        max_iterations=max_iterations,
        rate=0.5,
        norm=lambda v: jnp.zeros((), v.dtype),
        distance=lambda new, old: sup_norm(new - old),
    )
    return result.solution


class EmbeddingGap(NamedTuple):
    """embedding: the `Embedding`; solution: its first-exit `KLSolution`; v_mdp (S,): exact
    value iteration of the MDP; gap: () max over interior states of |v_lmdp - v_mdp|."""

    embedding: Embedding
    solution: KLSolution
    v_mdp: Float[Array, " S"]
    gap: Float[Array, ""]


def embedding_gap(transitions, cost, terminal, final_cost=None) -> EmbeddingGap:
    """Embed the MDP, solve the LMDP's first-exit problem and compare with value iteration."""
    embedding = embed_mdp(transitions, cost, terminal, final_cost)
    solution = first_exit(embedding.lmdp)
    v_mdp = value_iteration(transitions, cost, terminal, final_cost)
    interior = ~embedding.lmdp.terminal
    gap = jnp.max(jnp.where(interior, jnp.abs(solution.v - v_mdp), 0))
    return EmbeddingGap(embedding, solution, v_mdp, gap)
