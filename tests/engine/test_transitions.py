"""The engine's transition model: its one validator and its log-space kernels.

Every kernel is checked against plain numpy on the dense model (scipy's logsumexp for the log-space
ones), on dense (*R, S) arrays and on successor lists (*R, K) with repeated and padding slots, for
MDP rows (S, A) and KL rows (S,). Negative controls: a kernel that reads the model transposed fails
the same oracle comparison, and the shifted sum without the exact fallback is wrong where the test
forces the fallback.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp

import control_as_inference as cai
from control_as_inference import engine

S, A, K = 6, 3, 4


def model(rng, rows):
    """A dense (*rows, S) model with zeros, and the same model as successor lists (*rows, K + 1)
    (one mass split over a repeated index, one padding slot of probability 0)."""
    index = np.stack([rng.permutation(S)[:K] for _ in range(int(np.prod(rows)))])
    index = index.reshape(*rows, K)
    prob = rng.dirichlet(np.ones(K), rows)
    prob[..., -1] = 0.0  # a zero-probability slot: the dense row has S - K + 1 zeros
    prob /= prob.sum(-1, keepdims=True)
    split = np.concatenate([index, index[..., :1]], axis=-1)
    half = np.concatenate([prob, prob[..., :1] / 2], axis=-1)
    half[..., 0] /= 2
    dense = np.zeros((*rows, S))
    np.put_along_axis(dense, index, prob, axis=-1)
    return dense, engine.Successors(jnp.asarray(split), jnp.asarray(half))


@pytest.fixture(params=[(S, A), (S,)], ids=["mdp_rows", "kl_rows"])
def models(request, rng):
    return model(rng, request.param)


def both(models):
    dense, lists = models
    return [jnp.asarray(dense), lists]


def test_successors_are_one_object_everywhere():
    assert cai.Successors is engine.Successors is cai.tabular.Successors


def test_dense_transitions_and_probability(models, rng):
    dense, lists = models
    np.testing.assert_allclose(engine.dense_transitions(lists), dense, rtol=0, atol=1e-15)
    rows = tuple(rng.integers(0, n, 7) for n in dense.shape[:-1])
    nxt = rng.integers(0, S, 7)
    want = dense[(*rows, nxt)]
    for t in both(models):
        np.testing.assert_allclose(engine.transition_probability(t, rows, nxt), want, atol=1e-15)


def test_expect_and_push_against_numpy(models, rng):
    dense = models[0]
    x = rng.normal(size=S)
    w = rng.uniform(size=dense.shape[:-1])
    for t in both(models):
        np.testing.assert_allclose(engine.expect(t, jnp.asarray(x)), dense @ x, rtol=1e-13)
        want = w.reshape(-1) @ dense.reshape(-1, S)
        np.testing.assert_allclose(engine.push(t, jnp.asarray(w)), want, rtol=1e-13)


def numpy_log_expect(dense, log_x):
    with np.errstate(divide="ignore"):
        return logsumexp(np.log(dense) + log_x, axis=-1)


@pytest.mark.parametrize("spread", [1.0, 1e4], ids=["fast_path", "fallback"])
def test_log_kernels_against_numpy(models, rng, spread):
    """spread 1e4: exp(log_x - max) underflows at most successors, so the dense fast path must
    hand over to the exact branch (and the lists' per-row shift must stay exact)."""
    dense = models[0]
    log_x = rng.normal(size=S) * spread
    log_x[0] = -np.inf  # a state of zero desirability
    want = numpy_log_expect(dense, log_x)
    with np.errstate(divide="ignore", invalid="ignore"):
        law = np.where(dense > 0, np.log(dense) + log_x - want[..., None], -np.inf)
    for t in both(models):
        lx = jnp.asarray(log_x)
        np.testing.assert_allclose(engine.log_expect(t, lx), want, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(engine.log_expect_exact(t, lx), want, rtol=1e-12, atol=1e-12)
        ours = engine.log_law(t, lx)
        if isinstance(t, engine.Successors):  # slot layout: compare T(s'|r) u, summed per s'
            ours = engine.dense_transitions(engine.Successors(t.index, jnp.exp(ours)))
            np.testing.assert_allclose(ours, np.exp(law), rtol=1e-11, atol=1e-300)
        else:
            np.testing.assert_allclose(ours, law, rtol=1e-11, atol=1e-11)
    if spread > 1:  # negative control: the shifted mat-vec alone is wrong here
        with np.errstate(divide="ignore"):
            shifted = np.log(dense @ np.exp(log_x - log_x.max())) + log_x.max()
        assert not np.allclose(shifted, want, rtol=1e-6)


@pytest.mark.parametrize("spread", [1.0, 1e4], ids=["fast_path", "fallback"])
def test_log_push_against_numpy(models, rng, spread):
    dense = models[0]
    log_w = rng.normal(size=dense.shape[:-1]) * spread
    log_w[1] = -np.inf  # state 1 contributes nothing
    with np.errstate(divide="ignore"):
        terms = np.log(dense) + log_w[..., None]
        want = logsumexp(terms.reshape(-1, S), axis=0)
    for t in both(models):
        ours = engine.log_push(t, jnp.asarray(log_w))
        np.testing.assert_allclose(ours, want, rtol=1e-12, atol=1e-12)
        assert np.array_equal(np.isneginf(ours), np.isneginf(want))


def test_kernels_agree_between_layouts_under_jit_and_vmap(models, rng):
    dense, lists = models
    xs = jnp.asarray(rng.normal(size=(3, S)))
    for kernel in (engine.expect, engine.log_expect, engine.log_expect_exact):
        a = jax.jit(jax.vmap(lambda x, k=kernel: k(jnp.asarray(dense), x)))(xs)
        b = jax.jit(jax.vmap(lambda x, k=kernel: k(lists, x)))(xs)
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)


def test_operator_is_the_scaled_model(rng):
    dense, lists = model(rng, (S,))
    row, col = rng.normal(size=S), rng.normal(size=S)
    y = rng.normal(size=S)
    want = (dense * np.exp(row[:, None] - col[None, :])) @ y
    keep = np.arange(S) % 2 == 0
    masked = np.where(keep[:, None] & keep[None, :], dense * np.exp(row[:, None] - col), 0) @ y
    for t in (jnp.asarray(dense), lists):
        op = engine.scaled_operator(t, jnp.asarray(row), jnp.asarray(col))
        np.testing.assert_allclose(engine.apply_operator(op, jnp.asarray(y)), want, rtol=1e-12)
        op = engine.restrict_operator(op, jnp.asarray(keep))
        np.testing.assert_allclose(engine.apply_operator(op, jnp.asarray(y)), masked, rtol=1e-12)


def test_negative_control_a_transposed_kernel_fails_the_oracle(rng):
    dense = model(rng, (S,))[0]
    x = rng.normal(size=S)
    wrong = dense.T @ x  # reads T(s|s') instead of T(s'|s)
    assert not np.allclose(wrong, np.asarray(engine.expect(jnp.asarray(dense), jnp.asarray(x))))


# ------------------------------------------------------------------------------------ validator


def check(transitions, rows=("S", "A"), name="transitions"):
    return engine.check_transitions(transitions, jnp.float64, name, rows)


def test_valid_models_pass_and_come_back_as_arrays(models):
    dense, lists = models
    rows = ("S", "A")[: dense.ndim - 1]
    out = check(dense, rows)
    assert out.dtype == jnp.float64 and np.array_equal(out, dense)
    out = check(engine.Successors(np.asarray(lists.index), np.asarray(lists.prob)), rows)
    assert isinstance(out, engine.Successors) and jnp.issubdtype(out.index.dtype, jnp.integer)
    # within the float64 tolerance (1e-6) a row's sum passes; beyond it, it does not
    check(dense * (1 + 1e-8), rows)
    with pytest.raises(ValueError, match="sum to one"):
        check(dense * (1 + 1e-5), rows)


def bad_inputs(dense, lists):
    index, prob = np.asarray(lists.index), np.asarray(lists.prob)
    nan, inf, neg = dense.copy(), dense.copy(), dense.copy()
    nan[1, 0, 2] = np.nan
    inf[1, 0, 2] = np.inf
    neg[2, 1, :2] = [1.5, -0.5]
    neg[2, 1, 2:] = 0
    return [
        (dense[:, :, :-1], r"^transitions must have shape \(S, A, S\)"),
        (dense[0], r"^transitions must have shape"),
        (nan, r"^transitions contains NaN"),
        (inf, r"^transitions contains inf"),
        (neg, r"^transitions has a negative probability at \(2, 1, 1\)"),
        (dense * 1.1, r"^transitions does not sum to one .* state 0\).*normalise"),
        (np.zeros((0, 2, 0)), r"^transitions must have at least one entry"),
        (engine.Successors(index + S, prob), rf"^transitions.index must lie in \[0, {S}\)"),
        (engine.Successors(index - S, prob), rf"^transitions.index must lie in \[0, {S}\)"),
        (engine.Successors(index.astype(float), prob), r"^transitions.index must hold integers"),
        (engine.Successors(index[..., :2], prob), r"^transitions.index and transitions.prob"),
        (engine.Successors(index[0], prob[0]), r"must both have shape \(S, A, K\)"),
        (engine.Successors(index, prob * 2), r"^transitions.prob does not sum to one"),
    ]


@pytest.mark.parametrize("case", range(13))
def test_each_bad_input_is_named(rng, case):
    dense, lists = model(rng, (S, A))
    transitions, match = bad_inputs(dense, lists)[case]
    with pytest.raises(ValueError, match=match):
        check(transitions)


def test_field_name_and_row_layout_are_the_callers(rng):
    dense, _ = model(rng, (S,))
    with pytest.raises(ValueError, match=r"^passive must have shape \(S, S\).*\(S, K\) arrays"):
        check(dense[:, :-1], ("S",), "passive")
    with pytest.raises(ValueError, match=r"^passive does not sum to one .*state 0"):
        check(dense * 2, ("S",), "passive")


def test_distribution_check_names_the_field():
    engine.check_distribution("initial", np.array([0.25, 0.75]))  # negative control: passes
    with pytest.raises(ValueError, match=r"^initial does not sum to one over its last axis \("):
        engine.check_distribution("initial", np.array([0.5, 0.75]))
    with pytest.raises(ValueError, match=r"^initial has a negative probability at \(1,\)"):
        engine.check_distribution("initial", np.array([1.5, -0.5]))


def test_traced_models_are_checked_for_shape_only(rng):
    dense, _ = model(rng, (S, A))
    assert jax.jit(lambda t: check(t).sum())(dense * 2) > 0  # values unknown when traced
    with pytest.raises(ValueError, match="shape"):
        jax.jit(lambda t: check(t))(dense[0])


def reward_sum(r, successors):
    return cai.infer(cai.TabularMDP(successors, r), 2).log_evidence


def test_a_concrete_successor_index_closed_over_under_jit_is_checked(rng):
    """Under jax.jit a closed-over (concrete) index is still checked, in numpy: its jnp min()
    would be a tracer, and a bool of it raised TracerBoolConversionError (found when a test
    built a sparse model inside a jitted function); a numpy index too (jnp.asarray of it is a
    tracer there)."""
    index, prob = rng.integers(0, S, (S, A, 2)), np.full((S, A, 2), 0.5)
    r = jnp.asarray(rng.normal(size=(S, A)))
    for good in (cai.Successors(index, prob), cai.Successors(jnp.asarray(index), prob)):
        np.testing.assert_allclose(
            jax.jit(lambda r, m=good: reward_sum(r, m))(r), reward_sum(r, good), rtol=1e-12
        )
    for bad in (cai.Successors(index + S, prob), cai.Successors(jnp.asarray(index + S), prob)):
        with pytest.raises(ValueError, match=r"index must lie in \[0, 6\)"):
            jax.jit(lambda r, m=bad: reward_sum(r, m))(r)
    for bad in (cai.Successors(index, prob * 2), np.full((S, A, S), 0.5)):  # numpy, closed over
        with pytest.raises(ValueError, match="does not sum to one"):
            jax.jit(lambda r, m=bad: reward_sum(r, m))(r)


def test_compact_keeps_the_values_and_the_bits(rng, monkeypatch):
    """`compact` (32-bit indices for the hot loops) changes no value: the values-only backward
    pass is bit-identical with it and without it, in float64 and float32; negative control: a
    compaction that shifts the indices changes the result."""
    from control_as_inference.tabular import passes

    dense, lists = model(rng, (S, A))
    assert engine.compact(jnp.asarray(dense)).dtype == jnp.float64
    small = engine.compact(lists)
    assert small.index.dtype == jnp.int32 and np.array_equal(small.index, lists.index)
    assert engine.compact(small) is small
    reward = rng.normal(size=(S, A))

    def values(mdp, method):  # traced afresh on every call: the patches below take effect
        spec = passes.Spec.of(mdp, 1.0, 1.0, method)
        zeros = jnp.zeros(S, mdp.dtype)
        return jax.jit(lambda m: passes.backward_kept(m, spec, 6, zeros, ())[0])(mdp)

    for dtype, method in [
        (np.float64, "exact"),
        (np.float32, "exact"),
        (np.float64, "variational"),
    ]:
        mdp = cai.TabularMDP(
            engine.Successors(lists.index, lists.prob.astype(dtype)), reward.astype(dtype)
        )
        ours = values(mdp, method)
        with monkeypatch.context() as patch:
            patch.setattr(passes, "compacted", lambda m: m)
            assert np.array_equal(ours, values(mdp, method))
            shifted = engine.Successors((lists.index + 1) % S, lists.prob.astype(dtype))
            patch.setattr(
                passes, "compacted", lambda m, t=shifted: eqx.tree_at(lambda m: m.transitions, m, t)
            )
            assert not np.array_equal(ours, values(mdp, method))
