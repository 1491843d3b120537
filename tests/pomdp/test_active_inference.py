"""The bridge to active inference (pymdp) against independent answers.

(a) `from_pymdp`'s joint model against explicit loops over every joint index (T, O, r, b_0), on
    pymdp's T-maze and on a random two-factor model whose modalities read different factors;
(b) where the theory says they coincide (one step, the pragmatic term only): pymdp's q(pi) is our
    pi(u | b) at temperature 1 / gamma, on both T-mazes and the random model;
(c) where it says they differ (the epistemic term on): they do, and by exactly that term:
    pymdp's q(pi) is ours tilted by exp(gamma * information gain), the gain computed here.
"""

import itertools

import jax.numpy as jnp
import numpy as np
import pytest

import control_as_inference as cai

pymdp_agent = pytest.importorskip("pymdp.agent")
tmaze = pytest.importorskip("pymdp.envs.tmaze")


def tmaze_model(kind):
    env = getattr(tmaze, kind)()
    A = [np.asarray(a, np.float64) for a in env.A]
    B = [np.asarray(b, np.float64) for b in env.B]
    C = [np.zeros(len(a)) for a in A]
    C[0][1] = 0.5  # the left arm's location observation is liked a little
    C[-1] = np.array([0.0, 3.0, -4.0])  # no outcome, reward, punishment (last modality)
    if kind == "TMaze":  # a separate cue modality: the reward modality is the middle one
        C[1], C[2] = np.array([0.0, 3.0, -4.0]), np.zeros(3)
    D = [np.asarray(d, np.float64) for d in env.D]
    D[1] = np.array([0.7, 0.3])  # the reward is more likely on the left
    return A, B, C, D, env.A_dependencies, env.B_dependencies


def random_model(seed=0):
    rng = np.random.default_rng(seed)
    sizes, controls = (3, 2), (2, 3)
    deps = [[0], [1], [0, 1]]
    A = [
        rng.dirichlet(np.ones(4), [sizes[f] for f in d]).transpose(-1, *range(len(d))) for d in deps
    ]
    B = [
        rng.dirichlet(np.ones(n), (n, u)).transpose(2, 0, 1)
        for n, u in zip(sizes, controls, strict=True)
    ]
    C = [rng.normal(size=4) for _ in deps]
    D = [rng.dirichlet(np.ones(n)) for n in sizes]
    return A, B, C, D, deps, [[0], [1]]


MODELS = {
    "SimplifiedTMaze": lambda: tmaze_model("SimplifiedTMaze"),
    "TMaze": lambda: tmaze_model("TMaze"),
    "random": random_model,
}


# ------------------------------------------------------------------- (a) the joint model


@pytest.mark.parametrize("name", MODELS)
def test_the_joint_model_is_the_product_of_the_factors(name):
    A, B, C, D, a_deps, _ = MODELS[name]()
    model = cai.pomdp.from_pymdp(A, B, C, D, a_deps)
    sizes, controls = [b.shape[0] for b in B], [b.shape[2] for b in B]
    obs_sizes = [a.shape[0] for a in A]
    states = list(itertools.product(*map(range, sizes)))
    actions = list(itertools.product(*map(range, controls)))
    outcomes = list(itertools.product(*map(range, obs_sizes)))
    T, Obs, r = (np.asarray(x) for x in (model.transitions, model.observations, model.reward))
    for (i, s), (j, u) in itertools.product(enumerate(states), enumerate(actions)):
        utility = 0.0
        for k, s2 in enumerate(states):
            p = np.prod([B[f][s2[f], s[f], u[f]] for f in range(len(B))])
            assert T[i, j, k] == pytest.approx(p, abs=1e-15)
            for m, a in enumerate(A):
                reads = tuple(s2[f] for f in a_deps[m])
                utility += p * a[(slice(None), *reads)] @ C[m]
        assert r[i, j] == pytest.approx(utility, abs=1e-12)
    for (k, s2), (n, o) in itertools.product(enumerate(states), enumerate(outcomes)):
        p = np.prod([A[m][(o[m], *(s2[f] for f in a_deps[m]))] for m in range(len(A))])
        assert Obs[k, 0, n] == pytest.approx(p, abs=1e-15)
    initial = [np.prod([D[f][s[f]] for f in range(len(D))]) for s in states]
    np.testing.assert_allclose(model.initial, initial, atol=1e-15)


def test_bad_pymdp_arrays_are_refused_naming_the_array():
    A, B, C, D, deps, _ = random_model()
    with pytest.raises(ValueError, match=r"B\[1\] must have shape"):
        cai.pomdp.from_pymdp(A, [B[0], B[1][:, :, :, None]], C, D, deps)
    with pytest.raises(ValueError, match=r"A\[2\] must have shape"):
        cai.pomdp.from_pymdp([A[0], A[1], A[2][:, :2]], B, C, D, deps)
    with pytest.raises(ValueError, match=r"C\[0\] must have shape"):
        cai.pomdp.from_pymdp(A, B, [np.zeros(3), C[1], C[2]], D, deps)


# ---------------------------------------------------- (b) and (c) pymdp's q(pi) beside ours


def pymdp_q_pi(model_arrays, gamma, epistemic):
    A, B, C, D, a_deps, b_deps = model_arrays
    agent = pymdp_agent.Agent(
        [jnp.asarray(a)[None] for a in A],
        [jnp.asarray(b)[None] for b in B],
        C=[jnp.asarray(c)[None] for c in C],
        D=[jnp.asarray(d)[None] for d in D],
        A_dependencies=a_deps,
        B_dependencies=b_deps,
        policy_len=1,
        gamma=gamma,
        use_states_info_gain=epistemic,
        batch_size=1,
    )
    q_pi, _ = agent.infer_policies([jnp.asarray(d)[None, None] for d in D])
    order = np.asarray(agent.policies.policy_arr)[:, 0, :]  # (policies, factors): the controls
    controls = [b.shape[2] for b in B]
    index = np.ravel_multi_index(order.T, controls)  # our joint action of each policy
    out = np.zeros(int(np.prod(controls)))
    out[index] = np.asarray(q_pi)[0]
    return out


def information_gain(A, B, D, a_deps):
    """pymdp's epistemic term per joint action, by hand: sum over modalities of
    H[q(o_m)] - E_q(s')[H[A_m(. | s')]], q(s') the factor-wise prediction."""
    controls = [b.shape[2] for b in B]
    gains = []
    for u in itertools.product(*map(range, controls)):
        predicted = [B[f][:, :, u[f]] @ D[f] for f in range(len(B))]
        total = 0.0
        for m, a in enumerate(A):
            q = predicted[a_deps[m][0]]
            for f in a_deps[m][1:]:
                q = np.multiply.outer(q, predicted[f])
            q_o = np.tensordot(a, q, axes=q.ndim)
            entropy = -np.sum(a * np.log(np.where(a > 0, a, 1)), axis=0)
            total += -np.sum(q_o * np.log(np.where(q_o > 0, q_o, 1))) - np.sum(entropy * q)
        gains.append(total)
    return np.array(gains)


@pytest.mark.parametrize("name", MODELS)
def test_with_the_pragmatic_term_only_q_pi_is_our_soft_policy(name):
    arrays = MODELS[name]()
    A, B, C, D, a_deps, _ = arrays
    gamma = 2.0
    model = cai.pomdp.from_pymdp(A, B, C, D, a_deps)
    ours = np.exp(np.asarray(cai.pomdp.infer_beliefs(model, 1, 1 / gamma).log_policy[0][0]))
    theirs = pymdp_q_pi(arrays, gamma, epistemic=False)
    print(f"\n{name}: ours  {np.round(ours, 4)}\n{name}: pymdp {np.round(theirs, 4)}")
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-14)
    if name != "TMaze":  # (its arms are two moves away: every first move has utility 0)
        assert ours.max() - ours.min() > 0.04  # a policy with preferences, not a uniform one


@pytest.mark.parametrize("name", MODELS)
def test_with_the_epistemic_term_they_differ_by_exactly_that_term(name):
    arrays = MODELS[name]()
    A, B, C, D, a_deps, _ = arrays
    gamma = 2.0
    model = cai.pomdp.from_pymdp(A, B, C, D, a_deps)
    ours = np.exp(np.asarray(cai.pomdp.infer_beliefs(model, 1, 1 / gamma).log_policy[0][0]))
    theirs = pymdp_q_pi(arrays, gamma, epistemic=True)
    print(f"\n{name}: ours           {np.round(ours, 4)}")
    print(f"{name}: pymdp (+ info) {np.round(theirs, 4)}")
    assert np.abs(ours - theirs).max() > 1e-3
    tilted = ours * np.exp(gamma * information_gain(A, B, D, a_deps))
    np.testing.assert_allclose(tilted / tilted.sum(), theirs, rtol=1e-8, atol=1e-12)


def test_bad_dependencies_and_initial_beliefs_are_refused():
    A, B, C, D, deps, _ = random_model()
    with pytest.raises(ValueError, match=r"A_dependencies\[1\] must name distinct factors"):
        cai.pomdp.from_pymdp(A, B, C, D, [[0], [2], [0, 1]])
    with pytest.raises(ValueError, match="D must hold one"):
        cai.pomdp.from_pymdp(A, B, C, [D[0]], deps)
    with pytest.raises(ValueError, match="leading batch axis"):
        cai.pomdp.from_pymdp(A, [b[None] for b in B], C, D, deps)
