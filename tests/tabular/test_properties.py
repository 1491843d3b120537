"""Property-based checks (hypothesis) over random tiny MDPs: every shape, temperature and horizon
the strategies produce must agree with brute-force enumeration."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import control_as_inference as cai

from .oracles import enumerate_posterior, posterior_summaries


@st.composite
def tiny_models(draw):
    s = draw(st.integers(1, 3))
    a = draw(st.integers(1, 3))
    horizon = draw(st.integers(0, 3))
    temperature = draw(st.floats(0.05, 5.0))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    sparsity = draw(st.booleans())
    transitions = rng.dirichlet(np.ones(s), size=(s, a))
    if sparsity:  # some impossible successors
        transitions = np.where(rng.random((s, a, s)) < 0.4, 0.0, transitions)
        transitions[..., 0] += transitions.sum(-1) == 0
        transitions /= transitions.sum(-1, keepdims=True)
    reward = rng.normal(size=(s, a)) * draw(st.floats(0.1, 20.0))
    if a > 1 and draw(st.booleans()):
        reward[0, 0] = -np.inf
    initial = rng.dirichlet(np.ones(s))
    prior = rng.dirichlet(np.ones(a), size=s)
    return (transitions, reward, initial, prior), horizon, temperature


def check_against_enumeration(case):
    model, horizon, temperature = case
    s, a = model[3].shape
    post = cai.infer(cai.TabularMDP(*model), horizon, temperature)
    states, actions, log_w = enumerate_posterior(*model, horizon, temperature)
    oracle = posterior_summaries(states, actions, log_w, s, a)
    np.testing.assert_allclose(post.log_evidence, oracle["log_evidence"], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(post.state_marginals, oracle["state_marginals"], atol=1e-9)
    np.testing.assert_allclose(
        post.state_action_marginals, oracle["state_action_marginals"], atol=1e-9
    )
    bound = cai.infer(cai.TabularMDP(*model), horizon, temperature, "variational").log_evidence
    assert bound <= post.log_evidence + 1e-9


@settings(max_examples=10, deadline=None)
@given(tiny_models())
def test_exact_inference_matches_enumeration(case):
    """Ten models in the default run (each new shape compiles: about 2 s a model)."""
    check_against_enumeration(case)


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(tiny_models())
def test_exact_inference_matches_enumeration_on_many_models(case):
    check_against_enumeration(case)
