"""Z-learning converges to the solved desirability: the error falls with the number of samples."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from control_as_inference import kl

from . import oracles


@pytest.fixture
def problem(rng):
    passive, cost, terminal = oracles.random_lmdp(rng, 8, sparse_k=4)
    lmdp = kl.LMDP(passive, cost, terminal)
    return lmdp, kl.first_exit(lmdp)


def errors(lmdp, z, key, sizes, log_law=None):
    samples = kl.sample_transitions(lmdp, key, sizes[-1], log_law=log_law)
    out = []
    for n in sizes:
        prefix = kl.Transitions(*(x[:n] for x in samples))
        out.append(float(np.max(np.abs(np.exp(kl.z_learning(lmdp, prefix).log_z) - z))))
    return out


def test_passive_z_learning_error_falls_with_samples(problem):
    lmdp, sol = problem
    sizes = [300, 3_000, 30_000]
    curve = errors(lmdp, np.asarray(sol.z), jax.random.key(0), sizes)
    # the curve (max |z - z*|) falls with samples, and ends well below its start
    assert curve[0] > curve[1] > curve[2], curve
    assert curve[2] < 0.25 * curve[0] and curve[2] < 0.02, curve


def test_importance_weighted_z_learning_from_another_law(problem):
    lmdp, sol = problem
    # behaviour: the optimal law of the same problem with half the costs (not the target law)
    other = kl.first_exit(kl.LMDP(lmdp.passive, lmdp.cost / 2, lmdp.terminal))
    sizes = [300, 3_000, 30_000]
    curve = errors(lmdp, np.asarray(sol.z), jax.random.key(1), sizes, other.log_policy)
    assert curve[0] > curve[2] and curve[2] < 0.02, curve
    # negative control: the same samples without the importance weights learn another z
    samples = kl.sample_transitions(lmdp, jax.random.key(1), sizes[-1], other.log_policy)
    unweighted = samples._replace(log_weight=np.zeros_like(samples.log_weight))
    z_wrong = np.exp(kl.z_learning(lmdp, unweighted).log_z)
    assert np.max(np.abs(z_wrong - np.asarray(sol.z))) > 5 * curve[2]


def test_z_learning_samples_start_inside_and_restart_at_exits(problem):
    lmdp, _ = problem
    samples = kl.sample_transitions(lmdp, jax.random.key(2), 500)
    terminal = np.asarray(lmdp.terminal)
    assert not terminal[np.asarray(samples.state)].any()
    assert np.all(np.asarray(lmdp.dense_passive())[samples.state, samples.next_state] > 0)
    np.testing.assert_array_equal(samples.log_weight, 0.0)
