"""Guided cost learning (Finn, Levine and Abbeel 2016): MaxEnt IRL whose partition function over
trajectories is estimated by importance sampling from an adaptive sampler.

The MaxEnt model of trajectories tau = (s_0, a_0, ..., s_T) with reward r_theta and temperature
alpha is p(tau) = p_0(tau) exp(R_theta(tau) / alpha) / Z(theta), with p_0 the trajectory
distribution of the dynamics and the action prior (flat for continuous actions) and
R_theta(tau) = sum_t r_theta(s_t, a_t). Its log-likelihood of demonstrations D is

    l(theta) = 1/|D| sum_{tau in D} R_theta(tau) / alpha - log Z(theta)      (+ reward-free terms)

and GCL replaces log Z by the importance-sampling estimate with samples tau_j ~ q,

    log Z-hat = log 1/n sum_j exp(R_theta(tau_j)/alpha + log p_0(tau_j) - log q(tau_j))
              = logsumexp_j(log w_j) - log n                      (`importance_log_partition`),

an unbiased estimate of Z (log Z-hat is consistent, its error shrinking like 1/sqrt(n)).
Its gradient is the demonstrated minus the self-normalised importance-weighted reward gradient,
1/alpha (mean_D grad R - sum_j w_j grad R(tau_j) / sum_j w_j) (`gcl_objective`; jax.grad of it).
When q shares the dynamics of p_0 (a policy run in the real system) the transition terms cancel
and log p_0 - log q = sum_t log prior(a_t|s_t) - log q(a_t|s_t).

The sampler q is a policy optimised against the current reward (the "guided" part); to cover
the demonstrations the paper samples from the mixture of the sampler and the demonstrations,
q_mix = (n_s q_sampler + n_d q_demo) / (n_s + n_d) in the set's own proportions
(`mixture_log_prob`; the equal mixture for n_s = n_d), q_demo a density fitted to the
demonstrations.

Tabular proofs (tests/irl/test_gcl.py): log Z-hat against `infer(..., "exact").log_evidence`,
and the gradient of `gcl_objective` against jax.grad of `maxent_objective` (method "exact").
"""

from __future__ import annotations

import jax.numpy as jnp
from jax.scipy.special import logsumexp

from .._core import check_temperature


def importance_log_partition(log_target, log_proposal):
    """log Z-hat = log 1/n sum_j exp(log_target_j - log_proposal_j) (module docstring).

    Args:
        log_target: (n,) log of the unnormalised target at the samples, R(tau_j)/alpha +
            log p_0(tau_j) (or only its parts that differ from the proposal's).
        log_proposal: (n,) log q(tau_j) of the distribution the samples were drawn from.

    Returns:
        () the estimate of log Z; differentiable in both arguments.
    """
    log_target, log_proposal = jnp.asarray(log_target), jnp.asarray(log_proposal)
    if log_target.ndim != 1 or log_target.shape != log_proposal.shape or not log_target.size:
        raise ValueError(
            "log_target and log_proposal must be (n,) arrays of the same length n >= 1, got "
            f"{log_target.shape} and {log_proposal.shape}."
        )
    n = log_target.shape[0]
    return logsumexp(log_target - log_proposal) - jnp.log(jnp.asarray(n, log_target.dtype))


def mixture_log_prob(*log_probs, counts=None):
    """log of the mixture sum_k w_k q_k(tau) from K (n,) arrays of log q_k(tau), the density of a
    sample set drawn n_k from each q_k: w_k = n_k / sum_j n_j for `counts` = (n_1, ..., n_K), the
    equal mixture w_k = 1/K (e.g. half from the sampler, half from the demonstrations) for None."""
    stacked = jnp.stack([jnp.asarray(x) for x in log_probs])
    if counts is None:
        counts = (1,) * len(log_probs)
    if len(counts) != len(log_probs) or min(counts) <= 0:
        raise ValueError(
            f"counts must give a positive count for each of the {len(log_probs)} densities, "
            f"got {tuple(counts)}."
        )
    log_w = jnp.log(jnp.asarray(counts, stacked.dtype) / sum(counts))
    return logsumexp(stacked + log_w.reshape((-1,) + (1,) * (stacked.ndim - 1)), axis=0)


def gcl_objective(
    demo_returns, sample_returns, sample_log_proposal, sample_log_prior=None, temperature=1.0
):
    """The GCL estimate of the MaxEnt log-likelihood per demonstration (module docstring),
    mean_D R(tau)/alpha - log Z-hat.

    Args:
        demo_returns: (N,) R_theta of the demonstrations.
        sample_returns: (n,) R_theta of the samples.
        sample_log_proposal: (n,) log q(tau_j) (e.g. `mixture_log_prob` of the sampler's and
            the demonstrations' densities) less the dynamics terms p_0 shares with q.
        sample_log_prior: (n,) sum_t log prior(a_t|s_t) of the samples, None for a flat prior.
        temperature: alpha > 0.

    Returns:
        () the estimate; jax.grad of it in theta is GCL's gradient.
    """
    sample_returns = jnp.asarray(sample_returns)
    alpha = check_temperature(temperature, sample_returns.dtype)
    log_target = sample_returns / alpha
    if sample_log_prior is not None:
        log_target = log_target + jnp.asarray(sample_log_prior)
    log_z = importance_log_partition(log_target, sample_log_proposal)
    return jnp.mean(jnp.asarray(demo_returns)) / alpha - log_z


__all__ = ["gcl_objective", "importance_log_partition", "mixture_log_prob"]
