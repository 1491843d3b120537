"""An independent generic inference engine: pgmpy's variable elimination on the unrolled model.

Nodes s_t, a_t (t < H), s_H and binary e_t with p(e_t = 1 | s_t, a_t) = exp((r - max r) / alpha)
(the shift keeps it a probability and cancels in the posterior).
"""

import itertools

import numpy as np
import pytest

import control_as_inference as cai

from .oracles import random_mdp

pgmpy = pytest.importorskip("pgmpy")


def unrolled_network(transitions, reward, initial, prior, horizon, temperature):
    from pgmpy.factors.discrete import TabularCPD
    from pgmpy.models import DiscreteBayesianNetwork

    s, a, _ = transitions.shape
    edges = []
    cpds = [TabularCPD("s0", s, initial.reshape(s, 1))]
    likelihood = np.exp((reward - np.max(reward[np.isfinite(reward)])) / temperature)
    for t in range(horizon):
        st, at, et, sn = f"s{t}", f"a{t}", f"e{t}", f"s{t + 1}"
        edges += [(st, at), (st, et), (at, et), (st, sn), (at, sn)]
        cpds.append(TabularCPD(at, a, prior.T, evidence=[st], evidence_card=[s]))
        # columns run over (s, a) with a varying fastest
        ones = likelihood.reshape(1, s * a)
        cpds.append(
            TabularCPD(et, 2, np.vstack([1 - ones, ones]), evidence=[st, at], evidence_card=[s, a])
        )
        cpds.append(
            TabularCPD(
                sn,
                s,
                transitions.reshape(s * a, s).T,
                evidence=[st, at],
                evidence_card=[s, a],
            )
        )
    net = DiscreteBayesianNetwork(edges)
    net.add_cpds(*cpds)
    assert net.check_model()
    return net, np.max(reward[np.isfinite(reward)])


def test_posterior_policy_matches_pgmpy(rng):
    from pgmpy.inference import VariableElimination

    transitions, reward, initial, prior = random_mdp(rng, num_states=3, num_actions=2)
    horizon, temperature = 3, 0.8
    post = cai.infer(cai.TabularMDP(transitions, reward, initial, prior), horizon, temperature)
    net, shift = unrolled_network(transitions, reward, initial, prior, horizon, temperature)
    engine = VariableElimination(net)
    evidence = {f"e{t}": 1 for t in range(horizon)}

    # p(e = 1): the joint of all e_t at one, with the reward shift undone
    joint = engine.query(list(evidence), show_progress=False)
    p_e = joint.get_value(**evidence)
    np.testing.assert_allclose(
        np.log(p_e) + horizon * shift / temperature, post.log_evidence, rtol=1e-9
    )
    for t, state in itertools.product(range(horizon), range(3)):
        cond = engine.query([f"a{t}"], evidence={**evidence, f"s{t}": state}, show_progress=False)
        np.testing.assert_allclose(cond.values, post.policy[t, state], atol=1e-9)
    for t in range(horizon + 1):
        marg = engine.query([f"s{t}"], evidence=evidence, show_progress=False)
        np.testing.assert_allclose(marg.values, post.state_marginals[t], atol=1e-9)
