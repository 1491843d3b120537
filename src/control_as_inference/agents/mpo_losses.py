"""MPO's M-step as pure losses (Abdolmaleki et al. 2018, "Maximum a Posteriori Policy
Optimisation", and the decoupled bounds of Abdolmaleki et al. 2018b, "Relative Entropy
Regularized Policy Iteration"). The E-step is `policy_search.solve_temperature` and
`policy_search.estep_weights`; `mpo` puts the two together.

Given E-step weights q_bj (a distribution over the samples j of each state b) the M-step
maximises the weighted log-likelihood of the new policy pi under KL bounds to the old one pi_old:

    maximise   mean_b sum_j q_bj log pi(a_bj | s_b)
    subject to mean_b KL(pi_old(.|s_b) || pi(.|s_b)) <= epsilon

Gaussian policies N(mu, diag sigma^2) have the bound split into one on the mean and one on the
covariance (decoupled): the mean is fitted with the old sigma, the covariance with the old mu,

    L_mu    = -mean_b sum_j q_bj log N(u_bj; mu_b, sigma_old,b^2)
    L_sigma = -mean_b sum_j q_bj log N(u_bj; mu_old,b, sigma_b^2)
    C_mu    = mean_b KL(N(mu_old, sigma_old^2) || N(mu, sigma_old^2))
            = mean_b sum_d (mu_d - mu_old,d)^2 / (2 sigma_old,d^2)
    C_sigma = mean_b KL(N(mu_old, sigma_old^2) || N(mu_old, sigma^2))
            = mean_b sum_d [log sigma_d - log sigma_old,d + sigma_old,d^2 / (2 sigma_d^2) - 1/2]

and the Lagrangian with multipliers alpha = exp(log alpha) >= 0, one per bound,

    policy:       L_mu + L_sigma + sg(alpha_mu) C_mu + sg(alpha_sigma) C_sigma
    multipliers:  log alpha_mu (epsilon_mu - sg(C_mu))
                  + log alpha_sigma (epsilon_sigma - sg(C_sigma))

is minimised by gradient steps in the policy and in log alpha (a multiplier grows while its bound
is violated and shrinks while it is slack); after each step log alpha is projected onto
[LOG_MULTIPLIER_MIN, LOG_MULTIPLIER_MAX]. The multipliers' loss is the Lagrangian's dual term
with its gradient in log alpha divided by alpha: epsilon - C instead of alpha (epsilon - C), the
same sign and fixed points. With alpha (epsilon - C) the gradient spans as many orders of
magnitude as alpha, and Adam's second moment, filled while a bound was violated and alpha grew,
kept the steps back down tiny: on HalfCheetah-v5 the covariance multiplier reached 1.3e7 within
2,000 updates and stayed above 4e5 for thousands more, its penalty dominated the shared
network's normalised step and the policy stopped learning (benchmarks/RESULTS.md, issue 20).

A categorical policy has one bound on C = mean_b KL(pi_old(.|s_b) || pi(.|s_b)) and weights
over all actions (B, A).

Shapes: B states, N samples per state, m action dimensions, A actions. u are the Gaussian's
samples (before any squashing: KL divergences and the weighted likelihood's gradient are
unchanged by the fixed bijection a = scale tanh(u) + offset).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

LOG_MULTIPLIER_MIN, LOG_MULTIPLIER_MAX = -18.0, 18.0

sg = jax.lax.stop_gradient


def diagonal_gaussian_log_prob(u, mean, log_std) -> Array:
    """log N(u; mean, diag exp(log_std)^2), summed over the last axis (broadcasting)."""
    z = (u - mean) * jnp.exp(-log_std)
    return jnp.sum(-0.5 * z**2 - log_std - 0.5 * jnp.log(2 * jnp.pi), axis=-1)


def decoupled_gaussian_kls(old_mean, old_log_std, mean, log_std) -> tuple[Array, Array]:
    """(C_mu, C_sigma) per state, each (B,), for means and log standard deviations (B, m)
    (module docstring): KL of the old policy to the one that changes only the mean, and to the
    one that changes only the covariance."""
    kl_mean = jnp.sum((mean - old_mean) ** 2 * jnp.exp(-2 * old_log_std) / 2, axis=-1)
    ratio = jnp.exp(2 * (old_log_std - log_std))  # sigma_old^2 / sigma^2
    kl_cov = jnp.sum(log_std - old_log_std + ratio / 2 - 0.5, axis=-1)
    return kl_mean, kl_cov


def gaussian_mstep_loss(
    mean: Float[Array, "B m"],
    log_std: Float[Array, "B m"],
    old: tuple,
    u: Float[Array, "B N m"],
    weights: Float[Array, "B N"],
    multipliers: Float[Array, " 2"],
) -> tuple[Array, tuple[Array, Array]]:
    """The policy part of the decoupled Lagrangian, (L_mu + L_sigma + sg(alpha) . C, (C_mu,
    C_sigma)) with C batch means (module docstring). old = (old_mean, old_log_std) (B, m), held
    fixed; multipliers alpha (2,) (alpha_mu, alpha_sigma), held fixed."""
    old_mean, old_log_std = sg(old[0]), sg(old[1])
    weights = sg(weights)
    fit_mean = diagonal_gaussian_log_prob(u, mean[:, None], old_log_std[:, None])
    fit_cov = diagonal_gaussian_log_prob(u, old_mean[:, None], log_std[:, None])
    likelihood = jnp.mean(jnp.sum(weights * (fit_mean + fit_cov), axis=-1))
    kl_mean, kl_cov = decoupled_gaussian_kls(old_mean, old_log_std, mean, log_std)
    kl_mean, kl_cov = jnp.mean(kl_mean), jnp.mean(kl_cov)
    alpha = sg(multipliers)
    return -likelihood + alpha[0] * kl_mean + alpha[1] * kl_cov, (kl_mean, kl_cov)


def categorical_kl(old_log_pi, log_pi) -> Array:
    """KL(pi_old || pi) per state (B,) from log-probabilities (B, A); 0 log 0 = 0."""
    old_pi = jnp.exp(old_log_pi)
    return jnp.sum(jnp.where(old_pi > 0, old_pi * (old_log_pi - log_pi), 0.0), axis=-1)


def categorical_mstep_loss(
    log_pi: Float[Array, "B A"],
    old_log_pi: Float[Array, "B A"],
    weights: Float[Array, "B A"],
    multipliers: Float[Array, " 1"],
) -> tuple[Array, Array]:
    """(-mean_b sum_a q_ba log pi(a|s_b) + sg(alpha) C, C) with C = mean_b KL(pi_old || pi) the
    one bound of a categorical policy; old_log_pi and weights held fixed."""
    likelihood = jnp.mean(jnp.sum(sg(weights) * log_pi, axis=-1))
    kl = jnp.mean(categorical_kl(sg(old_log_pi), log_pi))
    return -likelihood + sg(multipliers)[0] * kl, kl


def multiplier_loss(log_multipliers, kls, epsilons) -> Array:
    """sum_k log alpha_k (epsilon_k - sg(C_k)): its gradient in log alpha_k is epsilon_k - C_k,
    so a descent step raises alpha_k while its bound is violated (C_k > epsilon_k) and lowers it
    while the bound is slack, at a rate that does not depend on alpha_k (module docstring)."""
    return jnp.sum(log_multipliers * (epsilons - sg(kls)))


def project_multipliers(log_multipliers) -> Array:
    """log alpha clipped to [LOG_MULTIPLIER_MIN, LOG_MULTIPLIER_MAX] (after each step)."""
    return jnp.clip(log_multipliers, LOG_MULTIPLIER_MIN, LOG_MULTIPLIER_MAX)
