"""Exact inference against brute-force enumeration of every trajectory (and other identities)."""

import jax
import jax.extend.core
import jax.numpy as jnp
import numpy as np
import pytest

import control_as_inference as cai

from .oracles import enumerate_posterior, posterior_summaries, random_mdp, to_successors

TEMPERATURE = 0.6
HORIZON = 3


def build(transitions, reward, initial, prior, sparse=False, dtype=np.float64, rng=None):
    cast = lambda x: np.asarray(x, dtype=dtype)  # noqa: E731
    if sparse:
        index, prob = to_successors(transitions, num_successors=transitions.shape[0] + 2, rng=rng)
        transitions = cai.Successors(index, cast(prob))
    else:
        transitions = cast(transitions)
    return cai.TabularMDP(transitions, cast(reward), cast(initial), cast(prior))


def check_against_enumeration(post, model, temperature, horizon, terminal=None, rtol=1e-9):
    """Every quantity of a posterior against enumeration; raises AssertionError on mismatch."""
    transitions, reward, initial, prior = model
    s, a = prior.shape
    states, actions, log_w = enumerate_posterior(
        transitions, reward, initial, prior, horizon, temperature, terminal
    )
    oracle = posterior_summaries(states, actions, log_w, s, a)
    atol = rtol
    np.testing.assert_allclose(post.log_evidence, oracle["log_evidence"], rtol=rtol, atol=atol)
    np.testing.assert_allclose(post.state_marginals, oracle["state_marginals"], atol=atol)
    np.testing.assert_allclose(
        post.state_action_marginals, oracle["state_action_marginals"], atol=atol
    )
    reached = oracle["state_marginals"][:-1] > 1e-12
    np.testing.assert_allclose(
        np.asarray(post.policy)[reached], oracle["policy"][reached], atol=atol * 10
    )
    ours = np.asarray(cai.log_prob(post, jnp.asarray(states), jnp.asarray(actions)))
    possible = np.isfinite(oracle["log_prob"])
    np.testing.assert_array_equal(np.isfinite(ours), possible)
    np.testing.assert_allclose(ours[possible], oracle["log_prob"][possible], rtol=rtol, atol=atol)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "successors"])
@pytest.mark.parametrize("time_varying", [False, True], ids=["stationary", "time-varying"])
def test_exact_matches_enumeration(rng, sparse, time_varying):
    model = random_mdp(rng, horizon=HORIZON if time_varying else None)
    terminal = rng.normal(size=model[0].shape[0])
    post = cai.infer(
        build(*model, sparse=sparse, rng=rng),
        HORIZON,
        TEMPERATURE,
        method="exact",
        terminal_value=terminal,
    )
    check_against_enumeration(post, model, TEMPERATURE, HORIZON, terminal)


def test_exact_float32_matches_enumeration(rng):
    model = random_mdp(rng)
    post = cai.infer(build(*model, dtype=np.float32), HORIZON, TEMPERATURE)
    assert post.q.dtype == jnp.float32 and post.log_evidence.dtype == jnp.float32
    check_against_enumeration(post, model, TEMPERATURE, HORIZON, rtol=2e-5)


def test_sparse_transitions_with_zeros_match_enumeration(rng):
    """Transitions with unreachable successors exercise the -inf paths of the log kernels."""
    model = random_mdp(rng, num_states=4, sparse_k=2)
    for sparse in (False, True):
        post = cai.infer(build(*model, sparse=sparse, rng=rng), HORIZON, TEMPERATURE)
        check_against_enumeration(post, model, TEMPERATURE, HORIZON)


def test_negative_control_wrong_backup_fails_enumeration(rng):
    """E[V'] in place of alpha log E[exp(V'/alpha)] (the variational backup) must be caught."""
    model = random_mdp(rng)
    wrong = cai.infer(build(*model), HORIZON, TEMPERATURE, method="variational")
    with pytest.raises(AssertionError):
        check_against_enumeration(wrong, model, TEMPERATURE, HORIZON)


def test_negative_control_wrong_temperature_fails_enumeration(rng):
    model = random_mdp(rng)
    wrong = cai.infer(build(*model), HORIZON, TEMPERATURE * 1.1)
    with pytest.raises(AssertionError):
        check_against_enumeration(wrong, model, TEMPERATURE, HORIZON)


@pytest.mark.parametrize("method", ["exact", "variational"])
def test_sampling_frequencies_match_posterior(rng, method):
    model = random_mdp(rng, num_states=2, num_actions=2, forbid=False)
    horizon, num = 2, 60_000
    post = cai.infer(build(*model), horizon, TEMPERATURE, method=method)
    states, actions = cai.sample(post, jax.random.key(0), num)
    assert states.shape == (num, horizon + 1) and actions.shape == (num, horizon)
    all_s, all_a, log_w = enumerate_posterior(*model, horizon, TEMPERATURE)
    if method == "exact":
        expected = np.exp(posterior_summaries(all_s, all_a, log_w, 2, 2)["log_prob"])
    else:
        expected = np.exp(np.asarray(cai.log_prob(post, all_s, all_a)))
    np.testing.assert_allclose(expected.sum(), 1.0, atol=1e-12)
    code = lambda s, a: s @ (2 ** np.arange(s.shape[1])) * 4 + a @ (2 ** np.arange(2))  # noqa: E731
    counts = np.bincount(code(np.asarray(states), np.asarray(actions)), minlength=len(expected))
    order = np.argsort(code(all_s, all_a))
    freq = counts / num
    sigma = np.sqrt(expected[order] * (1 - expected[order]) / num)
    assert np.all(np.abs(freq - expected[order]) <= 5 * sigma + 1e-4)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "successors"])
def test_most_probable_trajectory_matches_enumeration(rng, sparse):
    for _ in range(5):
        model = random_mdp(rng, horizon=HORIZON)
        terminal = rng.normal(size=model[0].shape[0])
        states, actions = cai.most_probable_trajectory(
            build(*model, sparse=sparse, rng=rng), HORIZON, TEMPERATURE, terminal_value=terminal
        )
        all_s, all_a, log_w = enumerate_posterior(*model, HORIZON, TEMPERATURE, terminal)
        best = np.argmax(log_w)
        np.testing.assert_array_equal(states, all_s[best])
        np.testing.assert_array_equal(actions, all_a[best])


def test_most_probable_trajectory_is_optimistic():
    """One risky action: 50% jackpot, 50% disaster; a safe action gives a sure middle reward.
    The MAP trajectory takes the gamble (it picks the lucky successor); the expected-value
    optimal choice is the safe one."""
    # states: 0 start, 1 jackpot, 2 disaster, 3 middle; actions: 0 gamble, 1 safe
    t = np.zeros((4, 2, 4))
    t[0, 0, 1] = t[0, 0, 2] = 0.5
    t[0, 1, 3] = 1.0
    t[1:, :, :] = np.eye(4)[1:, None, :]
    terminal = np.array([0.0, 10.0, -100.0, 1.0])
    mdp = cai.TabularMDP(t, np.zeros((4, 2)), initial=np.eye(4)[0])
    states, actions = cai.most_probable_trajectory(mdp, 1, 1.0, terminal_value=terminal)
    assert int(actions[0]) == 0 and int(states[1]) == 1
    hard = cai.infer(mdp, 1, 1e-3, method="variational", terminal_value=terminal)
    assert int(jnp.argmax(hard.log_policy[0, 0])) == 1


def test_dense_and_successors_agree(rng):
    model = random_mdp(rng, num_states=6, num_actions=3, sparse_k=3)
    for method in ("exact", "variational"):
        dense = cai.infer(build(*model), 5, 0.8, method=method, discount=0.9)
        sparse = cai.infer(build(*model, sparse=True, rng=rng), 5, 0.8, method=method, discount=0.9)
        for field in ("q", "v", "log_evidence", "state_marginals", "state_action_marginals"):
            np.testing.assert_allclose(
                getattr(sparse, field), getattr(dense, field), rtol=1e-12, atol=1e-12
            )
        finite = np.isfinite(dense.log_policy)
        np.testing.assert_array_equal(np.isfinite(sparse.log_policy), finite)
        np.testing.assert_allclose(sparse.log_policy[finite], dense.log_policy[finite], atol=1e-12)


def _with_absorbing_state(transitions, reward, initial, prior, discount):
    """The explicit model of a discount: an extra zero-reward absorbing state."""
    s, a, _ = transitions.shape
    t = np.zeros((s + 1, a, s + 1))
    t[:s, :, :s] = discount * transitions
    t[:s, :, s] = 1 - discount
    t[s, :, s] = 1.0
    r = np.concatenate([reward, np.zeros((1, a))], axis=-2)
    p0 = np.append(initial, 0.0)
    pr = np.concatenate([prior, np.full((1, a), 1.0 / a)])
    return t, r, p0, pr


@pytest.mark.parametrize("method", ["exact", "variational"])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "successors"])
def test_discount_is_an_absorbing_state(rng, method, sparse):
    model = random_mdp(rng, num_states=4, num_actions=3)
    discount, horizon = 0.8, 6
    terminal = rng.normal(size=4)
    post = cai.infer(
        build(*model, sparse=sparse, rng=rng),
        horizon,
        0.7,
        method=method,
        discount=discount,
        terminal_value=terminal,
    )
    augmented = cai.infer(
        build(*_with_absorbing_state(*model, discount)),
        horizon,
        0.7,
        method=method,
        terminal_value=np.append(terminal, 0.0),
    )
    if method == "variational":
        # the variational bound on the augmented model equals the discounted objective
        np.testing.assert_allclose(post.v, augmented.v[:, :4], atol=1e-12)
    else:
        np.testing.assert_allclose(post.v, augmented.v[:, :4], atol=1e-12)
        np.testing.assert_allclose(post.log_evidence, augmented.log_evidence, atol=1e-12)
    np.testing.assert_allclose(post.q, augmented.q[:, :4], atol=1e-12)
    np.testing.assert_allclose(post.state_marginals, augmented.state_marginals[:, :4], atol=1e-12)
    np.testing.assert_allclose(
        post.state_action_marginals, augmented.state_action_marginals[:, :4], atol=1e-12
    )
    np.testing.assert_allclose(post.log_evidence, augmented.log_evidence, atol=1e-12)


@pytest.mark.parametrize("method", ["exact", "variational"])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "successors"])
def test_grad_of_log_evidence_is_marginals(rng, method, sparse):
    """d log p(e) / d r(s,a) = sum_t p(s_t=s, a_t=a | e) / alpha (for the variational bound the
    same holds by the envelope theorem, with discounted marginals)."""
    transitions, reward, initial, prior = random_mdp(rng, num_states=4, num_actions=3)
    structure = build(transitions, reward, initial, prior, sparse=sparse, rng=rng)

    def log_evidence(r):
        mdp = cai.TabularMDP(structure.transitions, r, initial, prior)
        return cai.infer(mdp, 5, 0.7, method=method, discount=0.9).log_evidence

    r = jnp.asarray(np.where(np.isfinite(reward), reward, -1.0))
    grad = jax.grad(log_evidence)(r)
    post = cai.infer(
        cai.TabularMDP(structure.transitions, r, initial, prior),
        5,
        0.7,
        method=method,
        discount=0.9,
    )
    expected = post.state_action_marginals.sum(0) / 0.7
    np.testing.assert_allclose(grad, expected, rtol=1e-9, atol=1e-12)
    assert np.all(np.isfinite(jax.grad(log_evidence)(jnp.asarray(reward))))


def test_jit_and_vmap_over_rewards(rng):
    transitions, _, initial, prior = random_mdp(rng)
    rewards = rng.normal(size=(5, 3, 2))

    @jax.jit
    def solve(r):
        return cai.infer(cai.TabularMDP(transitions, r, initial, prior), HORIZON, TEMPERATURE)

    batched = jax.vmap(solve)(jnp.asarray(rewards))
    for i, r in enumerate(rewards):
        one = cai.infer(cai.TabularMDP(transitions, r, initial, prior), HORIZON, TEMPERATURE)
        np.testing.assert_allclose(batched.log_evidence[i], one.log_evidence, rtol=1e-12)
        np.testing.assert_allclose(batched.state_marginals[i], one.state_marginals, atol=1e-12)
    temperatures = jnp.asarray([0.3, 1.0, 3.0])
    mdp = cai.TabularMDP(transitions, rewards[0], initial, prior)
    swept = jax.vmap(lambda a: cai.infer(mdp, HORIZON, a).log_evidence)(temperatures)
    for i, a in enumerate([0.3, 1.0, 3.0]):
        np.testing.assert_allclose(swept[i], cai.infer(mdp, HORIZON, a).log_evidence, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("method", ["exact", "variational"])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "successors"])
def test_extreme_rewards_and_temperature(rng, dtype, method, sparse):
    """|r| = 1e4 and temperature 1e-3: exponents of 1e7 must not overflow, underflow or NaN."""
    transitions, _, initial, prior = random_mdp(rng, num_states=5, num_actions=3, sparse_k=2)
    reward = rng.choice([-1e4, 1e4], size=(5, 3)) * rng.uniform(0.5, 1.0, size=(5, 3))
    reward[1, 2] = -np.inf
    mdp = build(transitions, reward, initial, prior, sparse=sparse, dtype=dtype, rng=rng)
    post = cai.infer(mdp, 6, 1e-3, method=method)
    for field in ("v", "log_evidence", "state_marginals", "state_action_marginals"):
        assert np.all(np.isfinite(getattr(post, field))), field
    finite_r = np.isfinite(reward)
    assert np.all(np.isfinite(post.q[:, finite_r]))
    assert np.all(post.q[:, ~finite_r] == -np.inf)
    assert not np.any(np.isnan(post.log_policy))
    np.testing.assert_allclose(post.state_marginals.sum(1), 1.0, rtol=1e-4)
    # in the hard limit both methods' values approach the optimum of their backups
    if dtype is np.float64 and method == "variational":
        from .oracles import hard_value_iteration

        hard = hard_value_iteration(transitions, np.where(finite_r, reward, -1e30), 6)
        assert np.all(post.v[0] <= hard + 1e-6)
        # V_soft >= V_hard + alpha sum_t log p(a*_t|s_t) >= V_hard - alpha H max(-log p)
        assert np.all(post.v[0] >= hard - 1e-3 * 6 * np.max(-np.log(prior)) - 1e-6)


def test_extreme_exact_matches_float64_enumeration(rng):
    """Exact inference with r/alpha ~ 1e3 spans still matches the (float64) enumeration."""
    model = random_mdp(rng)
    model = (model[0], model[1] * 30, model[2], model[3])
    post = cai.infer(build(*model), HORIZON, 0.05)
    check_against_enumeration(post, model, 0.05, HORIZON, rtol=1e-8)


def test_forward_pass_survives_huge_value_gaps():
    """Posterior dynamics whose factors span more than the float range (exp(+-1e7)): the forward
    pass must still put the mass on the right successor (the shifted mat-vec alone would give 0)."""
    # state 0 moves to 1 or 2; 1 has a huge future, 2 a small one; both absorbing afterwards
    t = np.zeros((3, 1, 3))
    t[0, 0, 1] = t[0, 0, 2] = 0.5
    t[1, 0, 1] = t[2, 0, 2] = 1.0
    mdp = cai.TabularMDP(t, np.array([[0.0], [0.0], [0.0]]), initial=np.array([0.5, 0.0, 0.5]))
    post = cai.infer(mdp, 1, 1e-3, terminal_value=np.array([0.0, 1e4, 0.0]))
    # p(s_0 | e) is all on state 0 (it may reach state 1); then s_1 = 1 surely
    np.testing.assert_allclose(post.state_marginals, [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], atol=1e-12)


def test_horizon_zero(rng):
    model = random_mdp(rng)
    post = cai.infer(build(*model), 0, TEMPERATURE, terminal_value=np.arange(3.0))
    assert post.q.shape == (0, 3, 2) and post.v.shape == (1, 3)
    expected = np.log(np.sum(model[2] * np.exp(np.arange(3.0) / TEMPERATURE)))
    np.testing.assert_allclose(post.log_evidence, expected, rtol=1e-12)


def _primitives(jaxpr) -> set[str]:
    names = set()
    for eqn in jaxpr.eqns:
        names.add(eqn.primitive.name)
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
            names |= _primitives(sub)
    return names


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "successors"])
def test_vmap_with_an_underflowing_member_is_exact_for_every_member(rng, sparse):
    """A batch of rewards where one member needs the log-sum-exp fallback (r/alpha spans of 1e7)
    and the others do not: every member equals its own unbatched posterior, its gradient too."""
    transitions, _, initial, prior = random_mdp(rng, num_states=5, num_actions=3, sparse_k=2)
    mild = rng.normal(size=(2, 5, 3))
    extreme = rng.choice([-1e4, 1e4], size=(1, 5, 3))
    rewards = np.concatenate([mild, extreme, mild[:1] * 2])
    structure = build(transitions, rewards[0], initial, prior, sparse=sparse, rng=rng)

    def evidence(r):
        mdp = cai.TabularMDP(structure.transitions, r, structure.initial, structure.action_prior)
        return cai.infer(mdp, 4, 0.05).log_evidence

    @jax.jit  # one program for every member (eager, each call compiles its scans anew)
    def solve(r, temperature):
        mdp = cai.TabularMDP(structure.transitions, r, structure.initial, structure.action_prior)
        return cai.infer(mdp, 4, temperature)

    for temperature in (0.5, 1e-3):
        batched = jax.vmap(lambda r, a=temperature: solve(r, a))(jnp.asarray(rewards))
        for i, r in enumerate(rewards):
            one = solve(jnp.asarray(r), temperature)
            np.testing.assert_allclose(batched.log_evidence[i], one.log_evidence, rtol=1e-12)
            np.testing.assert_allclose(batched.state_marginals[i], one.state_marginals, atol=1e-9)
    grads = jax.vmap(jax.grad(evidence))(jnp.asarray(rewards))
    one_gradient = jax.jit(jax.grad(evidence))
    for i, r in enumerate(rewards):
        expected = one_gradient(jnp.asarray(r))
        np.testing.assert_allclose(grads[i], expected, rtol=1e-9, atol=1e-9)


def test_vmap_keeps_the_fallback_a_cond():
    """Under vmap the fallback's predicate is reduced over the batch, so the cond stays a cond
    (a batched predicate turns it into a select that runs both branches)."""
    rng = np.random.default_rng(0)
    transitions, reward, initial, prior = random_mdp(rng)

    def log_evidence(r):
        return cai.infer(cai.TabularMDP(transitions, r, initial, prior), HORIZON, 1.0).log_evidence

    jaxpr = jax.make_jaxpr(jax.vmap(log_evidence))(jnp.zeros((4, *reward.shape))).jaxpr
    assert "cond" in _primitives(jaxpr)


@pytest.mark.parametrize("discount", [1.0, 0.9, 1e-3])
@pytest.mark.parametrize("log_stop", [-800.0, -3.0, 0.0, 40.0, 800.0])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "successors"])
def test_continuation_against_log_sum_exp(rng, discount, log_stop, sparse):
    """`continuation` = log(gamma E[exp(x)] + (1 - gamma) exp(log_stop)) in every regime, including
    rows whose shifted sum underflows (x down to -2000) and stop terms that dominate or vanish."""
    from scipy.special import logsumexp

    from control_as_inference.tabular.inference import continuation

    transitions, _, _, _ = random_mdp(rng, num_states=6, num_actions=2, sparse_k=3)
    transitions[0, 0] = [0, 0, 0, 0.5, 0.5, 0]  # a row whose shifted sum underflows to 0
    log_x = np.array([0.0, -1.0, -30.0, -800.0, -2000.0, -5.0])
    with np.errstate(divide="ignore"):
        log_t = np.log(transitions)
        inner = logsumexp(log_t + log_x, axis=-1)
        expected = np.logaddexp(np.log(discount) + inner, np.log1p(-discount) + log_stop)
    mdp = build(
        transitions, np.zeros((6, 2)), np.full(6, 1 / 6), np.full((6, 2), 0.5), sparse, rng=rng
    )
    ours = continuation(mdp.transitions, jnp.asarray(log_x), jnp.asarray(log_stop), discount)
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-12)
    # negative control: the shifted product alone (no fallback) is wrong where it underflows
    if discount == 1.0:
        shifted = np.log(np.maximum(np.exp(log_t) @ np.exp(log_x), 1e-300))
        assert np.max(np.abs(shifted - expected)) > 1.0


@pytest.mark.parametrize("discount", [1.0, 0.9])
def test_continuation_takes_the_fast_path_for_far_negative_values(rng, discount, monkeypatch):
    """Values far below zero (costs with a small temperature: log_stop = -max V / alpha = 1e7)
    need no fallback: with it replaced by NaNs the result is still right."""
    from scipy.special import logsumexp

    from control_as_inference.tabular import passes
    from control_as_inference.tabular.inference import continuation

    transitions, _, _, _ = random_mdp(rng, num_states=4, num_actions=2)
    log_x = np.array([0.0, -1.0, -3.0, -10.0])
    monkeypatch.setattr(passes, "log_expect_exact", lambda t, lx: jnp.full(t.shape[:2], jnp.nan))
    ours = continuation(jnp.asarray(transitions), jnp.asarray(log_x), jnp.asarray(1e7), discount)
    inner = logsumexp(np.log(transitions) + log_x, axis=-1)
    if discount == 1.0:
        expected = inner
    else:
        expected = np.logaddexp(np.log(discount) + inner, np.log1p(-discount) + 1e7)
    np.testing.assert_allclose(ours, expected, rtol=1e-12)
