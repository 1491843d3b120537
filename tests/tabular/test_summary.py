"""infer_summary (checkpointed, memory-lean) against infer's full messages."""

import numpy as np
import pytest

import control_as_inference as cai

from .oracles import random_mdp
from .test_exact import build


@pytest.mark.parametrize("method", ["exact", "variational"])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "successors"])
@pytest.mark.parametrize("horizon, segment", [(7, None), (7, 3), (9, 1), (5, 8), (0, None)])
def test_summary_equals_the_sums_of_infer(rng, method, sparse, horizon, segment):
    model = random_mdp(rng, num_states=5, num_actions=3)
    mdp = build(*model, sparse=sparse, rng=rng)
    terminal = rng.normal(size=5)
    full = cai.infer(mdp, horizon, 0.7, method, 0.9, terminal)
    lean = cai.infer_summary(mdp, horizon, 0.7, method, 0.9, terminal, segment=segment)
    np.testing.assert_allclose(lean.log_evidence, full.log_evidence, rtol=1e-12)
    np.testing.assert_allclose(lean.v0, full.v[0], atol=1e-12)
    np.testing.assert_allclose(lean.occupancy, full.state_action_marginals.sum(0), atol=1e-12)
    np.testing.assert_allclose(lean.final_state_marginal, full.state_marginals[-1], atol=1e-12)


def test_time_varying_reward(rng):
    model = random_mdp(rng, num_states=4, num_actions=2, horizon=6)
    mdp = build(*model)
    full = cai.infer(mdp, 6, 0.5)
    lean = cai.infer_summary(mdp, 6, 0.5, segment=4)
    np.testing.assert_allclose(lean.occupancy, full.state_action_marginals.sum(0), atol=1e-12)
    with pytest.raises(ValueError, match="segment"):
        cai.infer_summary(mdp, 6, 0.5, segment=0)
