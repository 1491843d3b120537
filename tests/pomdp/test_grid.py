"""The belief-grid solver and the temperature-0 limit against independent oracles.

(a) Freudenthal interpolation: exact on the grid, its convex weights rebuild the belief;
(b) the grid's finite-horizon value against `infer_beliefs`' enumeration of every history: an upper
    bound (the soft value over beliefs is convex) whose gap shrinks as the grid refines, on Tiger
    and two random POMDPs;
(c) O the identity: the infinite-horizon grid values at the point masses are tabular soft value
    iteration's (every posterior is a point mass, a grid vertex);
(d) temperature -> 0: the enumeration's values are pomdp-py's exact value iteration (within 1e-6),
    on Tiger and two random POMDPs.
Negative controls: weights taken in the wrong order do not rebuild the belief; a noisy O is not
tabular; a temperature of 0.01 is visibly off pomdp-py's hard values.
"""

import itertools
import math

import numpy as np
import pytest

import control_as_inference as cai

pomdp = cai.pomdp


def random_pomdp(seed, s=3, a=2, o=2, uniform_prior=False):
    rng = np.random.default_rng(seed)
    prior = None if uniform_prior else rng.dirichlet(np.ones(a))
    return pomdp.POMDP(
        rng.dirichlet(np.ones(s), (s, a)),
        rng.dirichlet(np.ones(o), (s, a)),
        rng.normal(size=(s, a)),
        rng.dirichlet(np.ones(s)),
        prior,
    )


# ------------------------------------------------------------------ (a) interpolation


@pytest.mark.parametrize("states, resolution", [(2, 5), (3, 4), (4, 3)])
def test_interpolation_is_exact_on_the_grid_and_rebuilds_every_belief(states, resolution):
    grid = pomdp.belief_grid(states, resolution)
    points = np.asarray(grid.beliefs)
    assert len(points) == math.comb(resolution + states - 1, states - 1)
    np.testing.assert_allclose(points.sum(1), 1, rtol=1e-15)
    index, weights = (np.asarray(x) for x in grid.interpolation(points))
    on = weights > 1e-12
    assert (on.sum(1) == 1).all() and (index[on] == np.arange(len(points))).all()
    beliefs = np.random.default_rng(0).dirichlet(np.ones(states), 200)
    index, weights = (np.asarray(x) for x in grid.interpolation(beliefs))
    assert (index >= 0).all() and (weights >= -1e-12).all()
    np.testing.assert_allclose(weights.sum(1), 1, rtol=1e-12)
    rebuilt = np.einsum("bk,bks->bs", weights, points[index])
    np.testing.assert_allclose(rebuilt, beliefs, atol=1e-12)
    # negative control: the weights in reverse order do not rebuild the beliefs
    wrong = np.einsum("bk,bks->bs", weights[:, ::-1], points[index])
    assert np.abs(wrong - beliefs).max() > 1e-2


# --------------------------------------------------- (b) an upper bound that tightens


@pytest.mark.parametrize(
    "name, model, setting",
    [
        ("tiger", pomdp.tiger(), dict(temperature=1.0, discount=0.95)),
        ("random 3x2x2", random_pomdp(1), dict(temperature=0.5, discount=0.9)),
        ("random 3x3x3", random_pomdp(2, a=3, o=3), dict(temperature=0.3, discount=1.0)),
    ],
)
def test_the_grid_value_bounds_the_exact_value_and_tightens(name, model, setting):
    horizon = 4
    exact = float(pomdp.infer_beliefs(model, horizon, **setting).value)
    gaps = []
    for resolution in (2, 8, 32):
        grid = pomdp.solve_belief_grid(model, resolution, horizon, **setting)
        gaps.append(float(grid.value(model.initial)) - exact)
    assert min(gaps) >= -1e-10 * (1 + abs(exact)), gaps  # an upper bound
    assert all(b <= a + 1e-12 for a, b in itertools.pairwise(gaps)), gaps
    assert gaps[-1] < 0.01 * gaps[0] and gaps[-1] < 0.02 * (1 + abs(exact)), gaps


def test_the_grid_policy_approaches_the_exact_policy():
    model, horizon = random_pomdp(3), 3
    exact = pomdp.infer_beliefs(model, horizon, 0.5, 0.9)
    errors = []
    for resolution in (4, 16, 64):
        grid = pomdp.solve_belief_grid(model, resolution, horizon, 0.5, 0.9)
        pi = np.asarray(grid.policy(model.initial))
        errors.append(np.abs(pi - np.exp(np.asarray(exact.log_policy[0][0]))).max())
    assert errors[-1] < 1e-3 and errors[-1] < errors[0], errors


# ------------------------------------------------------- (c) O the identity is tabular


def test_identity_observation_on_the_grid_is_tabular_soft_value_iteration():
    rng = np.random.default_rng(4)
    s, a = 3, 2
    transitions, reward = rng.dirichlet(np.ones(s), (s, a)), rng.normal(size=(s, a))
    prior = rng.dirichlet(np.ones(a))
    mdp = cai.TabularMDP(transitions, reward, action_prior=np.broadcast_to(prior, (s, a)))
    tabular = cai.soft_value_iteration(mdp, 0.7, 0.9, tol=1e-13)
    model = pomdp.POMDP(transitions, np.eye(s), reward, None, prior)
    grid = pomdp.solve_belief_grid(model, 3, None, 0.7, 0.9, tol=1e-13)
    assert bool(grid.converged)
    masses = np.asarray(grid.value(np.eye(s)))
    np.testing.assert_allclose(masses, tabular.v, rtol=1e-10)
    np.testing.assert_allclose(grid.policy(np.eye(s)), np.exp(tabular.log_policy), rtol=1e-9)
    # negative control: a noisy sensor is not the MDP
    noisy = pomdp.POMDP(transitions, 0.8 * np.eye(s) + 0.2 / s, reward, None, prior)
    other = pomdp.solve_belief_grid(noisy, 3, None, 0.7, 0.9, tol=1e-13)
    assert np.abs(np.asarray(other.value(np.eye(s))) - np.asarray(tabular.v)).max() > 1e-2


def test_bad_grid_requests_are_refused():
    with pytest.raises(ValueError, match="lower the resolution"):
        pomdp.belief_grid(8, 200)
    with pytest.raises(ValueError, match="discount must be < 1"):
        pomdp.solve_belief_grid(pomdp.tiger(), 4, None, 1.0, 1.0)
    with pytest.raises(ValueError, match="resolution"):
        pomdp.belief_grid(3, 0)


# ------------------------------------------------------- (d) pomdp-py at temperature 0


def pomdp_py_value(model, horizon, discount):
    """pomdp-py's exact value of the initial belief (its `value`: the recursion over every
    action and observation), with our arrays as its models."""
    pomdp_py = pytest.importorskip("pomdp_py")
    t, o, r = (np.asarray(x) for x in (model.transitions, model.observations, model.reward))

    class Item:
        def __init__(self, i):
            self.i = i

        def __hash__(self):
            return hash(self.i)

        def __eq__(self, other):
            return self.i == other.i

    class State(Item, pomdp_py.State):
        pass

    class Action(Item, pomdp_py.Action):
        pass

    class Observation(Item, pomdp_py.Observation):
        pass

    class Transition(pomdp_py.TransitionModel):
        def probability(self, next_state, state, action):
            return float(t[state.i, action.i, next_state.i])

    class Sensor(pomdp_py.ObservationModel):
        def probability(self, observation, next_state, action):
            return float(o[next_state.i, action.i, observation.i])

    class Reward(pomdp_py.RewardModel):
        def sample(self, state, action, next_state):
            return float(r[state.i, action.i])

    states = [State(i) for i in range(model.num_states)]
    actions = [Action(i) for i in range(model.num_actions)]
    observations = [Observation(i) for i in range(model.num_observations)]
    belief = {s: float(model.initial[s.i]) for s in states}
    return pomdp_py.value(
        belief, states, actions, observations, Transition(), Sensor(), Reward(), discount,
        horizon=horizon,
    )  # fmt: skip


@pytest.mark.parametrize(
    "model, horizon, discount",
    [
        (pomdp.tiger(), 3, 0.95),
        (random_pomdp(5, uniform_prior=True), 3, 0.9),
        (random_pomdp(6, s=2, a=3, o=3, uniform_prior=True), 3, 1.0),
    ],
)
def test_at_temperature_zero_the_values_are_pomdp_pys_exact_value_iteration(
    model, horizon, discount
):
    hard = pomdp_py_value(model, horizon, discount)
    cold = pomdp.infer_beliefs(model, horizon, 1e-9, discount)
    assert abs(float(cold.value) - hard) < 1e-6, (float(cold.value), hard)
    # the soft value approaches it from above-or-below by at most H alpha log A per step count
    warm = pomdp.infer_beliefs(model, horizon, 1e-2, discount)
    assert abs(float(warm.value) - hard) > 1e-4  # negative control: 0.01 is not the limit


def test_grid_reads_are_checked():
    grid = pomdp.belief_grid(4, 10)
    rounded = np.array([0.5, -1e-12, 1e-12, 0.5])  # a filter's rounding below zero
    index, weights = (np.asarray(x) for x in grid.interpolation(rounded))
    assert (index >= 0).all() and abs(weights.sum() - 1) < 1e-12
    with pytest.raises(ValueError, match=r"belief must have shape \(\.\.\., S\)"):
        grid.interpolation(np.ones(3) / 3)
    model = random_pomdp(7)
    finite = pomdp.solve_belief_grid(model, 4, 3, 0.5)
    with pytest.raises(ValueError, match=r"t must be in \[0, 3\)"):
        finite.policy(model.initial, t=3)
    with pytest.raises(ValueError, match=r"t must be in \[0, 4\)"):
        finite.value(model.initial, t=7)
    with pytest.raises(ValueError, match="terminal_value contains NaN"):
        pomdp.solve_belief_grid(model, 4, 3, terminal_value=np.full(3, np.nan))
    with pytest.raises(ValueError, match="terminal_value needs a finite horizon"):
        pomdp.solve_belief_grid(model, 4, None, 1.0, 0.9, terminal_value=np.zeros(3))
