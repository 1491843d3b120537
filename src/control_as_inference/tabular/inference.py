"""Exact and variational inference in tabular control as inference.

Levine (2018), "Reinforcement Learning and Control as Probabilistic Inference: Tutorial and
Review", sections 2.3 (exact inference) and 3 (variational inference). Messages are kept in log
space and in reward units (multiplied by the temperature alpha):

    V_H(s)        = terminal_value(s)
    exact:        Q_t(s,a) = r_t(s,a) + alpha log(gamma E_{s'~T}[exp(V_{t+1}(s')/alpha)] + 1-gamma)
    variational:  Q_t(s,a) = r_t(s,a) + gamma E_{s'~T}[V_{t+1}(s')]
    V_t(s)        = alpha log sum_a p(a|s) exp(Q_t(s,a)/alpha)
    log pi_t(a|s) = log p(a|s) + (Q_t(s,a) - V_t(s))/alpha

A discount gamma < 1 is an absorbing zero-reward state entered with probability 1 - gamma at every
step; marginals are then those of the S real states and sum to the probability of not yet being
absorbed (gamma^t for variational inference).

The backward pass is one reverse `lax.scan`, the forward pass one forward `lax.scan`, both over the
one-step kernels of `passes` (re-exported here). What the result keeps is the caller's choice
(`keep`); the rest is derived on access, bit for bit (`posterior`).
"""

from __future__ import annotations

import warnings

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._core import check_int, is_concrete
from ..engine import Setting, checked_when_run
from .mdp import TabularMDP
from .passes import (  # noqa: F401  (re-exported: the steps' historical home)
    MESSAGES,
    Spec,
    backup,
    backward,
    backward_kept,
    continuation,
    evidence,
    forward,
    forward_kept,
    propagate,
)
from .posterior import KEPT, InferenceArgs, Posterior, solve


def check_horizon(horizon) -> int:
    return check_int("horizon", horizon, 0)


def check_terminal_value(terminal_value, mdp: TabularMDP) -> Array:
    if terminal_value is None:
        return jnp.zeros((mdp.num_states,), mdp.dtype)
    terminal_value = jnp.asarray(terminal_value, dtype=mdp.dtype)
    if terminal_value.shape != (mdp.num_states,):
        raise ValueError(
            f"terminal_value must have shape (S,) = ({mdp.num_states},), "
            f"got {terminal_value.shape}."
        )
    if is_concrete(terminal_value) and not jnp.all(jnp.isfinite(terminal_value)):
        raise ValueError("terminal_value must be finite (no NaN or inf).")
    return terminal_value


def check_reward_horizon(mdp: TabularMDP, horizon: int) -> None:
    if mdp.time_varying and mdp.reward.shape[0] != horizon:
        raise ValueError(
            f"reward is time-varying with {mdp.reward.shape[0]} steps but horizon is "
            f"{horizon}; they must be equal."
        )


def stepwise_reward(mdp: TabularMDP, horizon: int) -> Float[Array, "H S A"]:
    """The reward at every step, (H, S, A)."""
    check_reward_horizon(mdp, horizon)
    if mdp.time_varying:
        return mdp.reward
    return jnp.broadcast_to(mdp.reward, (horizon, *mdp.reward.shape))


def infer(
    mdp: TabularMDP,
    horizon,
    temperature=1.0,
    method: str = "exact",
    discount=1.0,
    terminal_value=None,
    keep=None,
) -> Posterior:
    """Backward and forward messages of tabular control as inference.

    Args:
        mdp: the model.
        horizon: H >= 0, number of decisions (a Python int).
        temperature: alpha > 0 (scalar; may be traced, e.g. under `jax.vmap`: a traced value
            is checked when the computation runs, which then raises instead of returning NaN;
            see `engine.Setting`).
        method: "exact" (sum-product on the graphical model: optimistic posterior dynamics and
            start state) or "variational" (soft Bellman backup with the true dynamics; maximum
            entropy RL).
        discount: gamma in (0, 1], see the module docstring (traced: as temperature).
        terminal_value: (S,) V_H, zeros if None.
        keep: which of the posterior's (H, S, A) messages and marginals to store: names among
            "q", "log_policy", "log_continuation", "state_marginals" and
            "state_action_marginals" ("v" may be named too: the values are always kept); None
            (the default) keeps all. What is not kept is recomputed, bit for bit, when read
            (`posterior`). With keep=("v",) (or any messages but no marginals) the forward
            pass does not run and no (H, S, A) array is made but those kept; asking for a
            marginal runs the forward pass, which reads log_policy (and, exact,
            log_continuation) from the backward pass: they exist during the call even when
            not kept (for the marginals in less memory see `infer_summary`).

    Returns:
        A `Posterior`; see its fields for shapes and maths.

    Works under `jax.jit` (horizon and method static) and `jax.vmap` (e.g. over a batch of
    rewards or temperatures).
    """
    args = check_arguments(mdp, horizon, temperature, method, discount, terminal_value, keep)
    return solve(mdp, args)


def check_keep(keep) -> tuple[str, ...]:
    """`infer`'s keep as a tuple of names in `KEPT` order ("v" dropped: always kept)."""
    if keep is None:
        return KEPT
    if isinstance(keep, str):
        keep = (keep,)
    unknown = sorted(set(keep) - {"v", *KEPT})
    if unknown:
        raise ValueError(
            f"keep: unknown name(s) {unknown}; choose among 'v', {', '.join(map(repr, KEPT))}."
        )
    return tuple(name for name in KEPT if name in keep)


def check_arguments(
    mdp, horizon, temperature, method, discount, terminal_value, keep=None
) -> InferenceArgs:
    """Validate `infer`'s arguments (ValueError naming the field; traced values are checked
    when the computation runs: `engine.Setting`)."""
    setting = Setting(temperature, discount, check_horizon(horizon), method, dtype=mdp.dtype)
    terminal_value = check_terminal_value(terminal_value, mdp)
    check_reward_horizon(mdp, setting.horizon)
    warn_unresolved_temperature(mdp, setting, terminal_value)
    return InferenceArgs(setting, terminal_value, check_keep(keep))


class PrecisionWarning(RuntimeWarning):
    """A result the dtype cannot resolve (a temperature below the soft values' rounding)."""


def unresolved_below(mdp, horizon: int, terminal_value=None) -> float:
    """The smallest temperature the soft values resolve: the dtype's eps times their scale
    (the largest finite |reward| times the horizon, plus the largest |V_H|). Below it
    alpha log p(a|s) and the Q differences that make the policy are lost in the rounding of
    V = alpha log sum_a p exp(Q / alpha): the policy comes out wrong, often uniform."""
    reward = np.asarray(mdp.reward)
    finite = np.abs(reward[np.isfinite(reward)])
    scale = (finite.max() if finite.size else 0.0) * max(horizon, 1)
    if terminal_value is not None:
        scale += float(np.max(np.abs(np.asarray(terminal_value)), initial=0.0))
    return float(np.finfo(mdp.dtype).eps * scale)


def warn_unresolved_temperature(mdp, setting, terminal_value=None) -> None:
    """PrecisionWarning naming the temperature when it is below `unresolved_below` (concrete
    values only; the log evidence stays right, the policy does not)."""
    alpha = setting.temperature
    if not setting.horizon or not (is_concrete(alpha) and is_concrete(mdp.reward)):
        return
    if terminal_value is not None and not is_concrete(terminal_value):
        return
    limit = unresolved_below(mdp, setting.horizon, terminal_value)
    if float(alpha) < limit:
        warnings.warn(
            f"temperature {float(alpha):g} is below what the soft values resolve in "
            f"{np.dtype(mdp.dtype).name} ({limit:.2g}: eps times the largest |reward| times the "
            "horizon): the policy may be wrong (at worst uniform) though the log evidence "
            f"is right; use a temperature >= {limit:.2g}, or most_probable_trajectory for the "
            "hard limit.",
            PrecisionWarning,
            stacklevel=4,
        )


check_traced = checked_when_run  # the old name (engine.setting.checked_when_run)
