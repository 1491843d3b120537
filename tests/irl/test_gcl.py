"""Guided cost learning's importance-sampled partition function and gradient against the exact
tabular engine: log Z-hat against `infer(..., "exact").log_evidence`, and the gradient of
`gcl_objective` against jax.grad of `maxent_objective` (method "exact"), each converging like
1/sqrt(n), with the estimator that drops the proposal's log-probability as negative control."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from control_as_inference.irl import (
    gcl_objective,
    importance_log_partition,
    maxent_objective,
    mixture_log_prob,
)
from control_as_inference.tabular import TabularMDP, infer, sample_policy

H, ALPHA = 4, 1.0


def problem(seed=0, s=4, a=3):
    rng = np.random.default_rng(seed)
    transitions = rng.dirichlet(np.ones(s), size=(s, a))
    reward = rng.normal(size=(s, a))
    prior = rng.dirichlet(np.ones(a) * 2, size=s)
    initial = np.eye(s)[0]  # one start state: maxent_objective conditions on it
    return TabularMDP(transitions, reward, initial, prior), rng


def policy_terms(log_policy, states, actions):
    """(n,) sum_t log pi_t(a_t|s_t) of (n, H+1) states and (n, H) actions; log_policy (S, A)."""
    return jnp.sum(log_policy[states[:, :-1], actions], axis=1)


def returns(reward, states, actions):
    return jnp.sum(reward[states[:, :-1], actions], axis=1)


def draws(mdp, rng, log_q, n, seed):
    states, actions = sample_policy(mdp, log_q, jax.random.key(seed), n, H)
    return states, actions, policy_terms(log_q, states, actions)


def proposal(mdp, rng):
    """A stationary sampler unlike the posterior: softmax of random logits."""
    logits = rng.normal(size=(mdp.num_states, mdp.num_actions))
    return jax.nn.log_softmax(jnp.asarray(logits), axis=-1)


def test_importance_log_partition_converges_to_the_exact_log_evidence():
    mdp, rng = problem()
    exact = float(infer(mdp, H, ALPHA, "exact").log_evidence)
    log_q, log_prior = proposal(mdp, rng), jnp.log(mdp.action_prior)
    errors, naive = [], []
    for n in (400, 12800):
        states, actions, lq = draws(mdp, rng, log_q, n, n)
        target = returns(mdp.reward, states, actions) / ALPHA
        target = target + policy_terms(log_prior, states, actions)
        estimate = float(importance_log_partition(target, lq))
        # the delta-method standard error of log Z-hat: std(w) / (mean(w) sqrt(n))
        w = np.exp(np.asarray(target - lq) - float(jnp.max(target - lq)))
        se = w.std() / (w.mean() * np.sqrt(n))
        errors.append((abs(estimate - exact), se))
        # negative control: the proposal's log-probability left out (samples taken as if from p_0)
        naive.append(abs(float(importance_log_partition(target, jnp.zeros_like(lq))) - exact))
    for error, se in errors:
        assert error < 4 * se + 1e-12
    # the error bound shrinks like 1/sqrt(n) (5.7x; its estimate is noisy: heavy-tailed weights)
    assert errors[-1][1] < errors[0][1] / 3
    assert naive[-1] > 50 * errors[-1][1]


@pytest.mark.slow
def test_mixing_the_demonstrations_into_the_proposal_stays_consistent():
    """Half the samples from the sampler, half from the demonstrations' policy (here the exact
    posterior's own per-step policy is not stationary, so the variational one stands in for the
    demonstrator); density: the equal mixture."""
    mdp, rng = problem(1)
    exact = float(infer(mdp, H, ALPHA, "exact").log_evidence)
    log_q = proposal(mdp, rng)
    log_demo = jnp.log(mdp.action_prior)  # a demonstrator that follows the prior
    log_prior = jnp.log(mdp.action_prior)
    n = 40000
    s1, a1, _ = draws(mdp, rng, log_q, n // 2, 1)
    s2, a2, _ = draws(mdp, rng, log_demo, n // 2, 2)
    states, actions = jnp.concatenate([s1, s2]), jnp.concatenate([a1, a2])
    sampler, demo = policy_terms(log_q, states, actions), policy_terms(log_demo, states, actions)
    log_mix = mixture_log_prob(sampler, demo)
    target = returns(mdp.reward, states, actions) / ALPHA
    target = target + policy_terms(log_prior, states, actions)
    assert float(importance_log_partition(target, log_mix)) == pytest.approx(exact, abs=0.03)
    # negative control: the mixture's samples weighted by the sampler's density alone
    wrong = float(importance_log_partition(target, policy_terms(log_q, states, actions)))
    assert abs(wrong - exact) > 0.2


@pytest.mark.slow
def test_a_mixture_in_unequal_proportions_is_weighted_by_its_counts():
    """Three sampler draws to each demonstration: the proposal density is 3/4 q + 1/4 q_demo
    (`counts`); the equal mixture is the wrong density for this set (negative control)."""
    mdp, rng = problem(1)
    exact = float(infer(mdp, H, ALPHA, "exact").log_evidence)
    log_q = proposal(mdp, rng)
    log_demo = jnp.log(mdp.action_prior)
    s1, a1, _ = draws(mdp, rng, log_q, 30000, 1)
    s2, a2, _ = draws(mdp, rng, log_demo, 10000, 2)
    states, actions = jnp.concatenate([s1, s2]), jnp.concatenate([a1, a2])
    sampler, demo = policy_terms(log_q, states, actions), policy_terms(log_demo, states, actions)
    target = returns(mdp.reward, states, actions) / ALPHA
    target = target + policy_terms(log_demo, states, actions)
    right = float(importance_log_partition(target, mixture_log_prob(sampler, demo, counts=(3, 1))))
    equal = float(importance_log_partition(target, mixture_log_prob(sampler, demo)))
    assert right == pytest.approx(exact, abs=0.03)
    assert abs(equal - exact) > 3 * abs(right - exact)
    with pytest.raises(ValueError, match="counts"):
        mixture_log_prob(sampler, demo, counts=(1, 0))


@pytest.mark.slow
def test_gradient_converges_to_the_exact_maxent_gradient():
    mdp, rng = problem(2)
    post = infer(mdp, H, ALPHA, "exact")
    demo_states, demo_actions = _posterior_demos(mdp, post, rng)
    exact = jax.grad(maxent_objective)(
        mdp.reward, mdp, (demo_states, demo_actions), H, ALPHA, method="exact"
    )
    log_q, log_prior = proposal(mdp, rng), jnp.log(mdp.action_prior)
    gaps = []
    for n in (1000, 64000):
        states, actions, lq = draws(mdp, rng, log_q, n, 10 + n)
        prior_terms = policy_terms(log_prior, states, actions)

        def estimate(reward, proposal_terms, states=states, actions=actions, prior=prior_terms):
            demo = returns(reward, demo_states, demo_actions)
            sampled = returns(reward, states, actions)
            return gcl_objective(demo, sampled, proposal_terms, prior, ALPHA)

        grad = jax.grad(estimate)(mdp.reward, lq)
        gaps.append(float(jnp.max(jnp.abs(grad - exact))))
        naive = jax.grad(estimate)(mdp.reward, jnp.zeros_like(lq))
    assert gaps[1] < gaps[0] / 3  # 64x the samples: ~8x less error
    assert gaps[1] < 0.06
    assert float(jnp.max(jnp.abs(naive - exact))) > 10 * gaps[1]  # negative control


def _posterior_demos(mdp, post, rng):
    """Demonstrations of full length H: any fixed set works (the gradients compare on it)."""
    states, actions = sample_policy(mdp, jnp.log(mdp.action_prior), jax.random.key(99), 50, H)
    return states, actions


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="same length"):
        importance_log_partition(jnp.zeros(3), jnp.zeros(4))
    with pytest.raises(ValueError, match="temperature"):
        gcl_objective(jnp.zeros(2), jnp.zeros(3), jnp.zeros(3), temperature=0.0)
