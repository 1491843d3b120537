"""MPO on a tabular MDP with the exact Q of each policy (Abdolmaleki et al. 2018, with the
E-step solved in closed form and the M-step exact).

Iteration k evaluates pi_k exactly and improves it under a KL trust region:

    Q_k = Q^{pi_k}_alpha    (soft Q of pi_k: r + gamma T V, V = E_pi[Q - alpha log(pi / p)];
                             alpha = `temperature`, 0 for plain MPO; a linear solve)
    q   = argmax_q  E_q[Q_k] - alpha KL(q || p)   subject to  mean_s KL(q || pi_k) <= epsilon
    pi_{k+1} = q            (the M-step fits q exactly: a table can)

The Lagrangian gives, with eta >= 0 the multiplier of the KL bound,

    log q(a|s) = [eta log pi_k(a|s) + alpha log p(a|s) + Q_k(s, a)] / (eta + alpha) - log Z(s)
               = log pi_k(a|s) + v(s, a) / (eta + alpha) - log Z(s),
    v = Q_k + alpha (log p - log pi_k),

a tilt of pi_k by v at temperature eta' = eta + alpha: eta' comes from `solve_temperature(v,
epsilon, log pi_k)`, and eta = max(eta' - alpha, 0) (eta = 0: the bound does not bind and the step
is soft policy iteration, q ∝ p exp(Q_k / alpha)).

What the iteration converges to (tested):

- alpha = 0 (plain MPO): pi_{k+1} ∝ pi_k exp(Q^{pi_k} / eta_k) is mirror ascent on the expected
  return with a KL proximity to the last policy. Its fixed points are policies greedy on their
  own support; with full support kept (eta >= min_eta > 0) it converges to the hard optimum
  (value iteration's policy) for every epsilon > 0. While the bound binds each step moves exactly
  epsilon of KL; once pi_k is nearly deterministic the greedy step fits inside the bound and the
  floor min_eta sets the step. A looser bound gets there in fewer iterations.
- alpha > 0: the fixed point, for every epsilon, is pi = p exp((Q - V) / alpha) with Q the soft Q
  of pi itself: soft value iteration's policy at temperature alpha. As the bound loosens (epsilon
  -> inf, eta -> 0) each step becomes soft policy iteration, which converges to it fastest.

With a fixed eta instead of a bound (`eta` given) the same update is entropy-regularised
natural policy gradient / policy mirror descent (Cen et al. 2021) with step 1 / eta.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

from .._core import check_discount, check_int, check_positive
from ..tabular import TabularMDP
from .estep import _solve


class TabularMPO(NamedTuple):
    """The result of `tabular_mpo`.

    log_policy: (S, A) log pi_K of the last policy.
    q: (S, A) the exact (soft) Q of the last policy.
    values: (K + 1,) p0 · V^{pi_k} (soft value with alpha > 0) for k = 0..K.
    kl: (K,) mean_s KL(pi_{k+1} || pi_k) of each step (<= epsilon).
    eta: (K,) the KL bound's multiplier eta of each step (0 where the bound does not bind).
    active: (K,) whether the bound bound on each step.
    """

    log_policy: Float[Array, "S A"]
    q: Float[Array, "S A"]
    values: Float[Array, " K1"]
    kl: Float[Array, " K"]
    eta: Float[Array, " K"]
    active: Bool[Array, " K"]


def soft_policy_evaluation(
    mdp: TabularMDP, log_policy, discount: float, temperature: float = 0.0
) -> tuple[Float[Array, "S A"], Float[Array, " S"]]:
    """Exact (soft) Q and V of a stationary policy by a linear solve.

        V = (I - gamma P_pi)^{-1} (r_pi - alpha KL(pi || p)),   Q = r + gamma T V
        with P_pi(s, s') = sum_a pi(a|s) T(s'|s, a), r_pi(s) = sum_a pi(a|s) r(s, a).

    mdp: stationary reward (S, A); log_policy (S, A); discount in (0, 1); temperature alpha >= 0
    (0: the ordinary Q^pi). Actions of probability 0 contribute nothing (even with -inf reward).
    Returns (Q (S, A), V (S,)).
    """
    if mdp.time_varying:
        raise ValueError(f"reward: needs a stationary (S, A) reward, got {mdp.reward.shape}.")
    if isinstance(discount, bool) or not isinstance(discount, float | int):
        raise ValueError(f"discount must be a Python number, got {discount!r}.")
    check_discount(discount, mdp.dtype, geometric=True)
    if not (isinstance(temperature, float | int) and temperature >= 0):
        raise ValueError(f"temperature (the entropy weight alpha) must be >= 0, got {temperature}")
    log_policy = jnp.asarray(log_policy, dtype=mdp.dtype)
    return _evaluate(mdp, log_policy, mdp.log_action_prior, discount, temperature)


def _evaluate(mdp, log_policy, log_prior, discount, temperature):
    transitions = mdp.dense_transitions()
    policy = jnp.exp(log_policy)
    taken = policy > 0
    reward = jnp.where(taken, mdp.reward, 0.0)
    penalty = jnp.where(taken, log_policy - jnp.where(taken, log_prior, 0.0), 0.0)
    r_pi = jnp.sum(policy * (reward - temperature * penalty), axis=-1)
    p_pi = jnp.einsum("sa,sat->st", policy, transitions)
    eye = jnp.eye(mdp.num_states, dtype=mdp.dtype)
    v = jnp.linalg.solve(eye - discount * p_pi, r_pi)
    q = mdp.reward + discount * jnp.einsum("sat,t->sa", transitions, v)
    return q, v


def tabular_mpo(
    mdp: TabularMDP,
    discount: float,
    *,
    epsilon: float | None = None,
    eta: float | None = None,
    temperature: float = 0.0,
    iterations: int = 100,
    min_eta: float = 1e-3,
) -> TabularMPO:
    """MPO with exact Q on a tabular MDP (module docstring): `iterations` E/M steps from the
    action prior.

    Args:
        mdp: the model (stationary reward; its action prior p is the initial policy and the
            reference of the entropy term; -inf rewards are never taken).
        discount: gamma in (0, 1).
        epsilon: the KL bound on mean_s KL(pi_{k+1} || pi_k) (> 0; 0.1 when neither epsilon nor
            eta is given).
        eta: a fixed multiplier (> 0) instead of a bound: the step is a tilt at eta + alpha.
        temperature: alpha >= 0, the weight of the KL to the prior in the objective (0: plain
            MPO, which converges to the hard optimum; > 0: to soft value iteration's policy).
        iterations: number of steps (a Python int >= 1).
        min_eta: a floor (> 0, reward units) on the tilt temperature eta + alpha, as MPO
            implementations keep one: where the bound does not bind (or binds below the floor),
            the step pi ∝ pi_k exp(v / min_eta) is a long mirror-ascent step that keeps every
            action in the support. (The exact eta -> 0 step keeps only the greedy actions, for
            good: a KL to the last policy can never bring an action back, and the iteration
            can stop at a suboptimal deterministic policy.)

    Returns:
        `TabularMPO` with the per-step KL, eta and whether the bound was active (its root lies
        above the floor: then mean_s KL(pi_{k+1} || pi_k) = epsilon).
    """
    if epsilon is not None and eta is not None:
        raise ValueError("give one of epsilon (a KL bound) and eta (a fixed multiplier), not both.")
    if eta is not None:
        check_positive("eta", eta)
    else:
        epsilon = 0.1 if epsilon is None else check_positive("epsilon (the KL bound)", epsilon)
    if not (isinstance(temperature, float | int) and temperature >= 0):
        raise ValueError(f"temperature (the entropy weight alpha) must be >= 0, got {temperature}")
    check_positive("min_eta", min_eta)
    soft_policy_evaluation(mdp, mdp.log_action_prior, discount, temperature)  # the checks
    iterations = check_int("iterations", iterations, 1)
    settings = jnp.asarray([discount, temperature, eta or epsilon, min_eta], dtype=mdp.dtype)
    return _mpo_loop(mdp, settings, iterations, eta is not None)


@functools.partial(jax.jit, static_argnums=(2, 3))
def _mpo_loop(mdp, settings, iterations, fixed) -> TabularMPO:
    discount, alpha, bound, min_eta = settings
    log_prior = mdp.log_action_prior
    support = (log_prior > -jnp.inf) & (mdp.reward > -jnp.inf)

    def step(log_pi, _):
        q, v_state = _evaluate(mdp, log_pi, log_prior, discount, alpha)
        pen = jnp.where(support, log_prior - jnp.where(support, log_pi, 0.0), 0.0)
        v = jnp.where(support, q + alpha * pen, 0.0)  # tilt values; finite
        if fixed:
            tilt, active = bound + alpha, jnp.asarray(True)
        else:  # eta' = eta + alpha; eta' <= alpha: the bound does not bind, eta = 0
            sol = _solve(v, bound, log_pi, 100)
            floor = jnp.maximum(alpha, min_eta)
            tilt = jnp.maximum(sol.temperature, floor)
            active = sol.active & (sol.temperature > floor)
        new = jax.nn.log_softmax(log_pi + v / tilt, axis=-1)
        new = jnp.where(support, new, -jnp.inf)
        p_new = jnp.exp(new)
        kl = jnp.mean(jnp.sum(jnp.where(p_new > 0, p_new * (new - log_pi), 0.0), axis=-1))
        return new, (jnp.dot(mdp.initial, v_state), kl, tilt - alpha, active)

    log_pi0 = jax.nn.log_softmax(jnp.where(support, log_prior, -jnp.inf), axis=-1)
    log_pi, (values, kl, eta, active) = jax.lax.scan(step, log_pi0, None, length=iterations)
    q, v_state = _evaluate(mdp, log_pi, log_prior, discount, alpha)
    values = jnp.concatenate([values, jnp.dot(mdp.initial, v_state)[None]])
    return TabularMPO(log_pi, q, values, kl, eta, active)
