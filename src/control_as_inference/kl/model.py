"""The linearly-solvable MDP (KL control) model, and its embedding as a tabular model.

Todorov (2007), "Linearly-solvable Markov decision problems": a state s has passive dynamics
p(s'|s) and a state cost q(s); the controller picks any transition law u(s'|s) and pays

    l(s, u) = q(s) + KL(u(.|s) || p(.|s)).

With the desirability z(s) = exp(-v(s)) the Bellman equation is linear,

    z(s) = exp(-q(s)) sum_s' p(s'|s) z(s'),    u*(s'|s) = p(s'|s) z(s') / sum_s'' p(s''|s) z(s''),

and the problem is the tabular model of control as inference with "action = next state", action
prior p, reward -q and temperature 1 (`to_tabular`). Terminal (first-exit) states end the
episode and pay their cost q once: z(s) = exp(-q(s)) there.

Validation happens on construction and raises `ValueError` naming the field; value checks need
concrete arrays (under `jax.jit` only shapes are checked), as for `TabularMDP`.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float

from .._core import float_dtype, is_concrete, safe_log
from ..engine import Successors, check_transitions, dense_transitions
from ..tabular import TabularMDP


def _check_interior_costs(cost, terminal) -> None:
    """q >= 0 at non-terminal states (concrete values only): with a negative state cost the
    first-exit cost can be unbounded below (rho(G P_NN) >= 1, z infinite)."""
    if not (is_concrete(cost) and is_concrete(terminal)):
        return
    q, interior = np.asarray(cost), ~np.asarray(terminal)
    bad = interior & (q < 0)
    if bad.any():
        where = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"cost must be >= 0 at non-terminal states, got {float(q[where]):.6g} at state "
            f"{where} ({int(bad.sum())} negative): a negative state cost can make the cost "
            "unbounded below (z infinite). Shift every cost up by a constant (the average-cost "
            "and discounted optimal laws do not change), or mark the state terminal (a terminal "
            "cost, paid once, may be negative)."
        )


class LMDP(eqx.Module):
    """A linearly-solvable MDP: passive dynamics, state costs and terminal states.

    Args:
        passive: dense (S, S) array p[s, s'] = p(s'|s), or `Successors(index, prob)` with
            (S, K) integer successors and their probabilities (padding: probability 0).
        cost: (S,) state cost q(s) >= 0; at a terminal state, the final cost paid on arrival
            (any sign). Must be finite (a huge cost such as 1e4 is fine: every solver works in
            log space).
        terminal: (S,) booleans marking the terminal (first-exit) states; None: no terminal
            state (finite-horizon, average-cost and discounted problems ignore the mask).

    Raises:
        ValueError: naming the field, for wrong shapes, NaN or inf, negative or unnormalised
            probabilities, out-of-range successor indices, or a negative non-terminal cost.
    """

    passive: Float[Array, "S S"] | Successors
    cost: Float[Array, " S"]
    terminal: Bool[Array, " S"]

    def __init__(self, passive, cost, terminal=None):
        sparse = isinstance(passive, Successors)
        dtype = float_dtype(passive.prob if sparse else passive, cost)
        passive = check_transitions(passive, dtype, "passive", ("S",))
        num_states = (passive.index if sparse else passive).shape[0]
        cost = jnp.asarray(cost, dtype=dtype)
        if cost.shape != (num_states,):
            raise ValueError(f"cost must have shape (S,) = ({num_states},), got {cost.shape}.")
        if is_concrete(cost) and not bool(jnp.all(jnp.isfinite(cost))):
            where = int(np.argwhere(~np.isfinite(np.asarray(cost)))[0][0])
            raise ValueError(f"cost must be finite, got {float(cost[where])} at state {where}.")
        if terminal is None:
            terminal = jnp.zeros((num_states,), bool)
        terminal = jnp.asarray(terminal)
        if terminal.shape != (num_states,) or terminal.dtype != jnp.bool_:
            raise ValueError(
                f"terminal must be a boolean mask of shape (S,) = ({num_states},), got "
                f"{terminal.dtype} {terminal.shape}; e.g. jnp.zeros(S, bool).at[goals].set(True)."
            )
        _check_interior_costs(cost, terminal)
        self.passive = passive
        self.cost = cost
        self.terminal = terminal

    @property
    def num_states(self) -> int:
        return self.cost.shape[0]

    @property
    def dtype(self):
        return self.cost.dtype

    @property
    def is_sparse(self) -> bool:
        return isinstance(self.passive, Successors)

    def dense_passive(self) -> Float[Array, "S S"]:
        """p[s, s'] as a dense (S, S) array (repeated successor indices add up)."""
        return dense_transitions(self.passive)


def check_exits(lmdp: LMDP) -> None:
    """First exit needs terminal states, reachable from every interior state under p."""
    if not is_concrete(lmdp.terminal):
        return
    terminal = np.asarray(lmdp.terminal)
    if not terminal.any():
        raise ValueError(
            "terminal: a first-exit problem needs at least one terminal state; mark the goals "
            "with terminal=mask, or use finite_horizon, average_cost or discounted."
        )
    if not is_concrete(lmdp.passive[1] if lmdp.is_sparse else lmdp.passive):
        return
    if lmdp.is_sparse:
        index, prob = (np.asarray(x) for x in lmdp.passive)
    else:
        dense = np.asarray(lmdp.passive)
        k = int(max(1, (dense > 0).sum(axis=1).max()))
        index = np.argsort(~(dense > 0), axis=1, kind="stable")[:, :k]
        prob = np.take_along_axis(dense, index, axis=1)
    reach = terminal.copy()
    while True:  # backward breadth-first search: one vectorised sweep per step of distance
        grown = reach | ((prob > 0) & reach[index]).any(axis=1)
        if (grown == reach).all():
            break
        reach = grown
    if not reach.all():
        stuck = np.flatnonzero(~reach)
        raise ValueError(
            f"passive: {len(stuck)} interior state(s) cannot reach a terminal state (first: "
            f"{stuck[:5].tolist()}); their desirability is 0 (cost infinite). Add transitions "
            "towards a goal or remove those states."
        )


def to_tabular(lmdp: LMDP) -> TabularMDP:
    """The LMDP as a tabular control-as-inference model with "action = next state".

    Action a of state s leads deterministically to successor a (dense: A = S, a = s'; successor
    lists: A = K, a = slot k, to index[s, k]); the action prior is p(.|s), the reward of an
    interior state -q(s), minus the final cost q(s') of the terminal state entered. A terminal
    state gets one allowed action, to itself, of reward 0 (absorbing). With temperature 1 the
    soft value is V = -v on interior states and 0 on terminal ones, and pi(a|s) = u*(s'|s).
    """
    s, dtype = lmdp.num_states, lmdp.dtype
    terminal = lmdp.terminal
    final = jnp.where(terminal, lmdp.cost, 0)
    if lmdp.is_sparse:
        index, prob = lmdp.passive
        stay = jnp.zeros_like(prob).at[:, 0].set(1)
        prior = jnp.where(terminal[:, None], stay, prob)
        index = jnp.where(terminal[:, None], jnp.arange(s)[:, None], index)
        step = -lmdp.cost[:, None] - final[index]
        reward = jnp.where(terminal[:, None], 0, jnp.where(prior > 0, step, 0))
        transitions = Successors(index=index[:, :, None], prob=jnp.ones((*index.shape, 1), dtype))
        return TabularMDP(transitions, reward, action_prior=prior)
    eye = jnp.eye(s, dtype=dtype)
    prior = jnp.where(terminal[:, None], eye, lmdp.passive)
    reward = jnp.where(terminal[:, None], 0, -lmdp.cost[:, None] - final[None, :])
    transitions = jnp.broadcast_to(eye[None], (s, s, s))
    return TabularMDP(transitions, reward, action_prior=prior)


def log_passive(lmdp: LMDP) -> Array:
    """log p in the model's layout: (S, S) dense or (S, K) over successor slots."""
    return safe_log(lmdp.passive.prob if lmdp.is_sparse else lmdp.passive)
