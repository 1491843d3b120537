"""The POMDP family against independent oracles.

(a) O = identity: belief-space inference is tabular variational inference, bit for bit.
(b) brute-force enumeration of every (state, action, observation) trajectory: the max-ent
    objective of the computed policy equals V_0(b_0), and perturbing the policy lowers it.
(c) the Bayes filter against a direct Bayes computation.
(d) Tiger at a small temperature: listen first; the hard values -1, -2, 2.72 by hand.
Negative controls: a filter that forgets to renormalise the belief fails (a) and (b); a noisy O
does not reduce to tabular inference.
"""

import itertools

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pytest

import control_as_inference as cai
from control_as_inference.pomdp import beliefs as beliefs_module
from control_as_inference.pomdp import inference as inference_module

POMDP, infer_beliefs, belief_update = (
    cai.pomdp.POMDP,
    cai.pomdp.infer_beliefs,
    cai.pomdp.belief_update,
)


def random_pomdp(rng, s=3, a=2, o=2, initial=None):
    transitions = rng.dirichlet(np.ones(s), (s, a))
    observations = rng.dirichlet(np.ones(o), (s, a))
    reward = rng.normal(size=(s, a))
    prior = rng.dirichlet(np.ones(a))
    return POMDP(transitions, observations, reward, initial, prior)


def plant_unnormalised_filter(monkeypatch):
    """Swap the filter for `unnormalised_branches`, and the jitted enumeration for a freshly
    jitted one (the cached compilation would keep the correct filter)."""
    monkeypatch.setattr(inference_module, "branches", unnormalised_branches)
    enumerate_ = inference_module._enumerate.__wrapped__  # (equinox caches by function)
    fresh = eqx.filter_jit(lambda pomdp, setting, terminal: enumerate_(pomdp, setting, terminal))
    monkeypatch.setattr(inference_module, "_enumerate", fresh)


def unnormalised_branches(pomdp, log_belief):
    """The defect the negative controls plant: the posterior belief left unnormalised."""
    p_obs, log_post = beliefs_module.branches(pomdp, log_belief)
    log_norm = jnp.log(p_obs)[..., None]
    return p_obs, jnp.where(p_obs[..., None] > 0, log_post + log_norm, log_post)


def tabular_agreement(rng, observations=None, **setting):
    """(max |difference| of the values and Q, of the log policies) between belief-space and
    tabular inference, over point-mass initial beliefs, at depth 0 and every depth-1 history."""
    s, a, horizon = 3, 2, 3
    transitions = rng.dirichlet(np.ones(s), (s, a))
    reward, prior = rng.normal(size=(s, a)), rng.dirichlet(np.ones(a))
    terminal = rng.normal(size=s)
    mdp = cai.TabularMDP(transitions, reward, action_prior=np.broadcast_to(prior, (s, a)))
    tab = cai.infer(mdp, horizon, method="variational", terminal_value=terminal, **setting)
    observations = np.eye(s) if observations is None else observations
    values, policies = [], []
    for start in range(s):
        model = POMDP(transitions, observations, reward, np.eye(s)[start], prior)
        post = infer_beliefs(model, horizon, terminal_value=terminal, **setting)
        values += [(post.v[0][0], tab.v[0, start]), (post.q[0][0], tab.q[0, start])]
        policies += [(post.log_policy[0][0], tab.log_policy[0, start])]
        for act, obs in itertools.product(range(a), range(s)):
            n = post.node([act], [obs])
            values += [(post.q[1][n], tab.q[1, obs]), (post.v[1][n], tab.v[1, obs])]
            policies += [(post.log_policy[1][n], tab.log_policy[1, obs])]
    worst = [max(float(np.max(np.abs(x - y))) for x, y in pairs) for pairs in (values, policies)]
    return tuple(worst)


def test_identity_observation_is_tabular_variational_inference_bit_for_bit(rng):
    """V and Q agree to the last bit. The log policies, the same `soft_maximum` of the same Q
    and V, agree to an ulp or two: XLA fuses it differently in the two compiled programs (the
    same function jitted and eager differ by up to 8.9e-16 on 64 random rows)."""
    values, policies = tabular_agreement(rng, temperature=0.7, discount=0.9)
    assert values == 0.0
    assert policies <= 1e-15


def test_negative_control_noisy_observation_or_unnormalised_filter_is_not_tabular(rng, monkeypatch):
    noisy = 0.9 * np.eye(3) + 0.1 / 3
    assert min(tabular_agreement(rng, noisy, temperature=0.7, discount=0.9)) > 1e-3
    plant_unnormalised_filter(monkeypatch)
    assert tabular_agreement(rng, temperature=0.7, discount=0.9)[0] > 1e-3


def objective(model, post, horizon, log_policy=None, terminal=None):
    """Brute force: E[sum_t gamma^t (r - alpha KL(pi(.|h_t) || p)) + gamma^H v_H(s_H)] of the
    history policy, enumerating every (state, action, observation) trajectory in plain numpy."""
    t_, o_, r = (np.asarray(x) for x in (model.transitions, model.observations, model.reward))
    prior, alpha = np.asarray(model.action_prior), float(post.temperature)
    gamma = float(post.discount)
    log_policy = [np.asarray(x) for x in (log_policy or post.log_policy)]
    terminal = np.zeros(len(r)) if terminal is None else terminal
    num_a, num_o = o_.shape[1:]

    def value(t, s, node):
        if t == horizon:
            return terminal[s]
        log_pi = log_policy[t][node]
        total = 0.0
        for a in range(num_a):
            pi = np.exp(log_pi[a])
            step = r[s, a] - alpha * (log_pi[a] - np.log(prior[a]))
            for s2, o in itertools.product(range(len(r)), range(num_o)):
                weight = t_[s, a, s2] * o_[s2, a, o]
                step += gamma * weight * value(t + 1, s2, node * num_a * num_o + a * num_o + o)
            total += pi * step
        return total

    return sum(p * value(0, s, 0) for s, p in enumerate(np.asarray(model.initial)))


def test_value_equals_brute_force_objective_and_is_optimal(rng):
    model = random_pomdp(rng, s=2, a=2, o=2, initial=rng.dirichlet(np.ones(2)))
    terminal = rng.normal(size=2)
    post = infer_beliefs(model, 3, temperature=0.5, discount=0.8, terminal_value=terminal)
    brute = objective(model, post, 3, terminal=terminal)
    assert abs(brute - float(post.value)) <= 1e-10 * abs(brute)
    for depth, node in ((0, 0), (1, 2), (2, 5)):  # any other policy does worse
        log_policy = [np.array(x) for x in post.log_policy]
        log_policy[depth][node] = (
            np.log([0.3, 0.7]) if log_policy[depth][node][0] > np.log(0.5) else np.log([0.7, 0.3])
        )
        assert objective(model, post, 3, log_policy, terminal) < brute - 1e-6


@pytest.mark.parametrize(
    ("name", "horizon", "setting"),
    [
        ("tiger", 3, dict(temperature=1.0, discount=0.95)),
        ("random 3x2x2", 3, dict(temperature=0.4, discount=0.9)),
        ("random 2x3x3", 2, dict(temperature=2.0, discount=1.0)),
    ],
)
def test_tiger_and_random_values_equal_brute_force_enumeration(name, horizon, setting):
    """issue 36: every (state, action, observation) sequence enumerated in plain numpy."""
    rng = np.random.default_rng(36)
    if name == "tiger":
        model = cai.pomdp.tiger()
    else:
        s, a, o = (int(x) for x in name.split()[1].split("x"))
        model = random_pomdp(rng, s=s, a=a, o=o, initial=rng.dirichlet(np.ones(s)))
    post = infer_beliefs(model, horizon, **setting)
    brute = objective(model, post, horizon)
    assert abs(brute - float(post.value)) <= 1e-10 * abs(brute), (brute, float(post.value))


def test_negative_control_unnormalised_filter_misses_the_brute_force_objective(rng, monkeypatch):
    model = random_pomdp(rng, s=2, a=2, o=2, initial=rng.dirichlet(np.ones(2)))
    plant_unnormalised_filter(monkeypatch)
    post = infer_beliefs(model, 3, temperature=0.5, discount=0.8)
    assert abs(objective(model, post, 3) - float(post.value)) > 1e-3


def test_belief_update_is_bayes_rule(rng):
    model = random_pomdp(rng, s=4, a=3, o=3)
    t_, o_ = np.asarray(model.transitions), np.asarray(model.observations)
    belief = rng.dirichlet(np.ones(4))
    for a, o in itertools.product(range(3), range(3)):
        joint = o_[:, a, o] * (belief @ t_[:, a, :])  # p(s', o | b, a)
        new, p = belief_update(model, belief, a, o)
        np.testing.assert_allclose(p, joint.sum(), rtol=1e-12)
        np.testing.assert_allclose(new, joint / joint.sum(), rtol=1e-12)
        # negative control: O read at the state before the step is a different (wrong) answer
        wrong = o_[:, a, o] * belief
        assert np.max(np.abs(new - wrong / wrong.sum())) > 1e-3


def test_impossible_observation_weighs_nothing_and_stays_finite():
    model = POMDP(np.eye(2)[:, None, :], np.eye(2), np.zeros((2, 1)), np.array([1.0, 0.0]))
    new, p = belief_update(model, np.array([1.0, 0.0]), 0, 1)
    assert p == 0.0 and np.isfinite(new).all() and abs(float(new.sum()) - 1) < 1e-15


@pytest.mark.parametrize(("horizon", "hard"), [(1, -1.0), (2, -2.0), (3, 2.72)])
def test_tiger_listens_first_and_reaches_the_hard_values(horizon, hard):
    """By hand: open at b = 1/2 gives -45, so H = 1, 2 listen (-1, -2); H = 3 listens twice and
    opens after two agreeing sounds: -2 + (0.85^2 10 - 0.15^2 100) - (2 0.85 0.15) = 2.72."""
    alpha = 1e-4
    post = infer_beliefs(cai.pomdp.tiger(), horizon, temperature=alpha)
    assert float(np.exp(post.log_policy[0][0][0])) > 1 - 1e-6  # listen
    assert hard - horizon * alpha * np.log(3) - 1e-9 <= float(post.value) <= hard + 1e-9
    if horizon == 3:  # heard the tiger left twice: open the right door
        node = post.node([0, 0], [0, 0])
        assert int(np.argmax(post.log_policy[2][node])) == 2


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"observations": np.full((3, 2), 0.5)}, "observations must have shape"),
        ({"observations": np.full((2, 2), 0.6)}, "observations does not sum to one"),
        ({"reward": np.array([[np.nan], [0.0]])}, "reward is not finite"),
        ({"initial": np.array([0.5, 0.6])}, "initial does not sum to one"),
        ({"action_prior": np.array([1.0, 0.0])}, "action_prior must have shape"),
        ({"transitions": np.full((2, 1, 2), 0.7)}, "transitions does not sum to one"),
    ],
)
def test_bad_model_input_names_the_field(change, field):
    fields = {
        "transitions": np.eye(2)[:, None, :],
        "observations": np.eye(2),
        "reward": np.zeros((2, 1)),
        "initial": None,
        "action_prior": None,
    }
    with pytest.raises(ValueError, match=field):
        POMDP(**{**fields, **change})


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"method": "exact"}, "exact"),
        ({"temperature": 0.0}, "temperature"),
        ({"horizon": 30}, "horizon"),
        ({"terminal_value": np.zeros(3)}, "terminal_value"),
    ],
)
def test_bad_inference_input_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        infer_beliefs(cai.pomdp.tiger(), **{"horizon": 2, **kwargs})
