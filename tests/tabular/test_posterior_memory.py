"""A posterior that keeps less (`infer(..., keep=...)`) gives every attribute bit for bit.

The oracle is the computation `infer` ran before it could keep less (`posterior_oracle`: the
backward scan stacking every message, the forward scan reading them). Every derived attribute
must equal it exactly (`np.array_equal`, NaN-free, -inf where the oracle has -inf), on random
models with forbidden actions (-inf rewards), both methods, dense and successor-list transitions,
float32 and float64, discount 1 and < 1, a time-varying reward; and the kept pytree must be
smaller.
"""

from __future__ import annotations

import itertools

import jax
import numpy as np
import pytest

import control_as_inference as cai

from .oracles import random_mdp, to_successors
from .posterior_oracle import oracle_posterior

FIELDS = (
    "q",
    "v",
    "log_policy",
    "log_evidence",
    "state_marginals",
    "state_action_marginals",
    "log_initial",
    "log_continuation",
)
S, A, H, K = 6, 3, 5, 3


def models(seed, sparse, dtype, count=3, time_varying=False):
    """`count` random models of one shape (so that each compiles once)."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        t, r, p0, prior = random_mdp(rng, S, A, horizon=H if time_varying else None, sparse_k=2)
        if sparse:
            index, prob = to_successors(t, K, rng)
            t = cai.Successors(index, prob.astype(dtype))
        else:
            t = t.astype(dtype)
        yield cai.TabularMDP(t, r.astype(dtype), p0.astype(dtype), prior.astype(dtype))


def assert_identical(post, oracle, where):
    for field in FIELDS:
        got, want = np.asarray(getattr(post, field)), np.asarray(oracle[field])
        assert got.dtype == want.dtype and got.shape == want.shape, (where, field)
        assert np.array_equal(got, want), (where, field, np.max(np.abs(got - want)))


@pytest.mark.parametrize(
    "method, sparse, dtype",
    list(itertools.product(("exact", "variational"), (False, True), (np.float32, np.float64))),
)
def test_values_only_posterior_derives_every_field_bit_for_bit(method, sparse, dtype):
    for i, mdp in enumerate(models(1 + sparse, sparse, dtype, count=2)):
        temperature, discount = (0.7, 1.0) if i % 2 == 0 else (1.3, 0.8)
        oracle = oracle_posterior(mdp, H, temperature, method, discount)
        assert np.isneginf(np.asarray(oracle["q"])).any()  # forbidden actions are exercised
        for keep in (None, ("v",)):
            post = cai.infer(mdp, H, temperature, method, discount, keep=keep)
            assert_identical(post, oracle, (i, keep))


KEEPS = [
    ("log_continuation",),
    ("state_marginals",),
    ("log_policy", "state_action_marginals"),
    ("v", "q", "state_action_marginals"),
]


@pytest.mark.parametrize("method", ["exact", "variational"])
def test_every_keep_gives_the_same_posterior(method):
    """Successor lists in float32 (where XLA's rounding is the most sensitive to how a step is
    compiled) and a time-varying reward, with a discount."""
    (mdp,) = models(3, True, np.float32, count=1, time_varying=True)
    oracle = oracle_posterior(mdp, H, 0.9, method, 0.9)
    for keep in KEEPS:
        post = cai.infer(mdp, H, 0.9, method, 0.9, keep=keep)
        assert set(post.kept) == {n for n in keep if n != "v"} - (
            {"log_continuation"} if method == "variational" else set()
        )
        assert_identical(post, oracle, keep)


def stored_bytes(post):
    return sum(x.nbytes for x in jax.tree_util.tree_leaves(post.kept)) + post.v.nbytes


def test_kept_pytree_is_smaller():
    (mdp,) = models(4, True, np.float32, count=1)
    full = cai.infer(mdp, H, keep=None)
    lean = cai.infer(mdp, H, keep=("v",))
    leaves_full = sum(x.nbytes for x in jax.tree_util.tree_leaves(full))
    leaves_lean = sum(x.nbytes for x in jax.tree_util.tree_leaves(lean))
    messages = H * S * A * 4  # one (H, S, A) float32 array
    assert leaves_full - leaves_lean == 4 * messages + (H + 1) * S * 4
    assert stored_bytes(lean) == (H + 1) * S * 4 and lean.kept == {}
    marginals = cai.infer(mdp, H, keep=("state_marginals",))
    assert stored_bytes(marginals) == 2 * (H + 1) * S * 4


def test_vmapped_posterior_derives_over_its_batch():
    (mdp,) = models(5, False, np.float64, count=1)
    rewards = np.stack([np.asarray(mdp.reward), np.asarray(mdp.reward) + 0.5])

    def solve(reward, keep):
        return cai.infer(cai.TabularMDP(mdp.transitions, reward), H, keep=keep)

    full = jax.vmap(lambda r: solve(r, None))(rewards)
    lean = jax.vmap(lambda r: solve(r, ("v",)))(rewards)
    assert lean.horizon == H
    for field in ("q", "log_policy", "state_marginals", "state_action_marginals"):
        got, want = np.asarray(getattr(lean, field)), np.asarray(getattr(full, field))
        assert got.shape == want.shape == (2, *np.shape(want)[1:])
        # a different program (vmapped over every leaf, the model's too): equal to rounding only
        np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)


def test_keep_rejects_unknown_names():
    (mdp,) = models(6, False, np.float64, count=1)
    with pytest.raises(ValueError, match="keep"):
        cai.infer(mdp, H, keep=("values", "q"))
