"""AIRL against exact answers: with the generator replaced by exact soft value iteration and
exact occupancies, the only approximation is the discriminator fit, and on a deterministic model
with a state-only reward the theory (Fu et al. 2018, Theorem C.1) says g is the reward and h
the soft value of `soft_value_iteration` up to constants, and f the exact soft advantage Q - V.
Negative controls: a wrong shaping discount, an action-dependent g, stochastic dynamics."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import control_as_inference as cai
from control_as_inference.irl.airl import (
    airl_discriminator_loss,
    airl_irl,
    airl_logits,
    discounted_occupancy,
    shaped_reward,
)

MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1), (0, 0))  # up, right, down, left, stay


def thin_wall_grid(rows, cols, blocked=(), slip=0.0):
    """(S, 5, S) dynamics of a grid whose every cell is a state; `blocked` lists pairs of
    neighbouring cells with a wall between them. A blocked or off-grid move stays put; with
    slip, a uniformly random action replaces the chosen one with probability slip."""
    blocked = {frozenset(edge) for edge in blocked}

    def dest(i, j, a):
        k, m = i + MOVES[a][0], j + MOVES[a][1]
        inside = 0 <= k < rows and 0 <= m < cols
        if not inside or frozenset({(i, j), (k, m)}) in blocked:
            return i * cols + j
        return k * cols + m

    transitions = np.zeros((rows * cols, 5, rows * cols))
    for i in range(rows):
        for j in range(cols):
            for a in range(5):
                transitions[i * cols + j, a, dest(i, j, a)] += 1 - slip
                for b in range(5):
                    transitions[i * cols + j, a, dest(i, j, b)] += slip / 5
    return transitions


def expert(transitions, state_reward, temperature, discount):
    """The model, the expert's soft-optimal solution and its exact discounted occupancy."""
    reward = np.repeat(state_reward[:, None], transitions.shape[1], axis=1)
    mdp = cai.TabularMDP(transitions, reward)
    solution = cai.soft_value_iteration(mdp, temperature, discount)
    p_pi = np.einsum("sa,sat->st", np.asarray(solution.policy), transitions)
    d = np.linalg.solve(np.eye(len(p_pi)) - discount * p_pi.T, np.asarray(mdp.initial))
    return mdp, solution, d[:, None] * np.asarray(solution.policy)


def spread(x):
    """max - min: zero when x is a constant."""
    return float(np.ptp(np.asarray(x)))


def test_discriminator_pieces_against_the_formula(rng):
    f, log_pi, log_prior = rng.normal(size=(3, 7))
    alpha = 0.7
    d = np.exp(f / alpha) / (np.exp(f / alpha) + np.exp(log_pi - log_prior))
    logits = airl_logits(jnp.asarray(f), jnp.asarray(log_pi), alpha, jnp.asarray(log_prior))
    np.testing.assert_allclose(jax.nn.sigmoid(logits), d, rtol=1e-12)
    w, v = rng.dirichlet(np.ones(7)), rng.dirichlet(np.ones(7))
    loss = airl_discriminator_loss(logits, logits, jnp.asarray(w), jnp.asarray(v))
    np.testing.assert_allclose(loss, -(w @ np.log(d)) - v @ np.log(1 - d), rtol=1e-12)
    plain = airl_discriminator_loss(logits[:3], logits[3:])
    np.testing.assert_allclose(plain, -np.log(d[:3]).mean() - np.log(1 - d[3:]).mean())
    g, h, h_next = rng.normal(size=(3, 4))
    done = np.array([0.0, 1.0, 0.0, 1.0])
    np.testing.assert_allclose(
        shaped_reward(g, h, h_next, 0.9, done), g + 0.9 * (1 - done) * h_next - h
    )


def test_discounted_occupancy_against_a_linear_solve(rng):
    transitions = thin_wall_grid(2, 2, slip=0.3)
    policy = rng.dirichlet(np.ones(5), size=4)
    start = rng.dirichlet(np.ones(4))
    p_pi = np.einsum("sa,sat->st", policy, transitions)
    d = np.linalg.solve(np.eye(4) - 0.8 * p_pi.T, start)
    want = d[:, None] * policy / d.sum()
    got = discounted_occupancy(transitions, policy, start[None], jnp.zeros(1, int), 0.8, 0)
    np.testing.assert_allclose(got, want, rtol=1e-10)
    # finite lengths: 200 steps of the scan are the infinite sum up to 0.8^200
    got = discounted_occupancy(transitions, policy, start[None], jnp.array([200]), 0.8, 200)
    np.testing.assert_allclose(got, want, rtol=1e-10)


@pytest.fixture(scope="module")
def recovered():
    rng = np.random.default_rng(3)
    transitions = thin_wall_grid(2, 3, blocked=[((0, 1), (1, 1))])
    state_reward = rng.normal(size=6)
    mdp, solution, rho = expert(transitions, state_reward, 1.0, 0.8)
    stochastic = expert(thin_wall_grid(2, 3, [((0, 1), (1, 1))], slip=0.6), state_reward, 1.0, 0.8)
    fits = {
        "airl": airl_irl(mdp, rho, discount=0.8),
        "stochastic dynamics": airl_irl(stochastic[0], stochastic[2], discount=0.8),
        "wrong shaping discount": airl_irl(mdp, rho, discount=0.8, shaping_discount=0.4),
        "action-dependent g": airl_irl(mdp, rho, discount=0.8, state_only=False),
    }
    return transitions, state_reward, solution, fits


def test_g_is_the_reward_h_the_soft_value_f_the_advantage(recovered):
    transitions, state_reward, solution, fits = recovered
    fit = fits["airl"]
    assert fit.converged and fit.method == "airl"
    g = np.asarray(fit.reward)
    assert spread(g - state_reward[:, None]) < 1e-2
    assert spread(np.asarray(fit.value) - np.asarray(solution.v)) < 1e-2
    f = np.einsum("sat,sat->sa", transitions, np.asarray(fit.reward_model.f(0.8)))
    np.testing.assert_allclose(f, np.asarray(solution.q - solution.v[:, None]), atol=1e-2)
    np.testing.assert_allclose(np.mean(fit.value), 0.0, atol=1e-12)  # the normalisation


@pytest.mark.parametrize(
    "variant", ["wrong shaping discount", "action-dependent g", "stochastic dynamics"]
)
def test_negative_controls_do_not_disentangle(recovered, variant):
    _, state_reward, _, fits = recovered
    g = np.asarray(fits[variant].reward_model.g)
    g = g if g.ndim == 2 else g[:, None]
    assert spread(g - state_reward[:, None]) > 0.3
    if variant == "stochastic dynamics":  # a converged fit, and still not the reward
        assert fits[variant].converged


def test_bad_input_is_named():
    mdp = cai.TabularMDP(thin_wall_grid(1, 2), np.zeros((2, 5)))
    with pytest.raises(ValueError, match="occupancy must have shape"):
        airl_irl(mdp, np.ones((3, 5)))
    with pytest.raises(ValueError, match="finite, non-negative"):
        airl_irl(mdp, np.full((2, 5), np.nan))
    with pytest.raises(ValueError, match="out of range"):
        airl_irl(mdp, ([[0, 7]], [[1]]))
    with pytest.raises(ValueError, match=r"discount must lie in \(0, 1\)"):
        airl_irl(mdp, np.ones((2, 5)), discount=1.0)


def test_a_fit_stopped_early_says_so(recovered):
    transitions, state_reward, _, _ = recovered
    mdp, _, rho = expert(transitions, state_reward, 1.0, 0.8)
    with pytest.warns(cai.ConvergenceWarning, match="did not converge in 3 rounds"):
        fit = airl_irl(mdp, rho, discount=0.8, rounds=3)
    assert not fit.converged


@pytest.mark.slow
def test_from_sampled_demonstrations_the_error_shrinks_with_their_number():
    """Demonstrations sampled from the expert (uniform start states, 40 steps): the expert side
    of the loss is then an empirical count, and g - r approaches a constant as N grows."""
    rng = np.random.default_rng(3)
    transitions = thin_wall_grid(2, 3, blocked=[((0, 1), (1, 1))])
    state_reward = rng.normal(size=6)
    mdp, solution, _ = expert(transitions, state_reward, 1.0, 0.8)
    errors = []
    for num in (100, 3000):
        states, actions = cai.sample_policy(mdp, solution.log_policy, jax.random.key(num), num, 40)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", cai.ConvergenceWarning)
            fit = airl_irl(mdp, (np.asarray(states), np.asarray(actions)), discount=0.8)
        errors.append(spread(np.asarray(fit.reward)[:, 0] - state_reward))
    assert errors[1] < 0.5 * errors[0] and errors[1] < 0.15, errors


def shifted_walls(gap, rows=4, cols=5):
    """A wall between rows 1 and 2 with one gap, at column `gap`."""
    return thin_wall_grid(rows, cols, [((1, j), (2, j)) for j in range(cols) if j != gap])


@pytest.mark.slow
def test_the_state_only_reward_transfers_when_the_walls_move():
    """Fu et al.'s shifting maze on a 4 x 5 grid: learn with the gap on the left, re-optimise
    with our exact engine after it moved to the right, score with the true reward in the new
    dynamics. g's policy scores as the true reward's; the learned state-action reward
    E_{s'}[f] (the advantage of the old world) does worse than a uniform policy."""
    alpha, gamma, horizon = 0.5, 0.9, 60
    old, new = shifted_walls(0), shifted_walls(4)
    state_reward = np.zeros(20)
    state_reward[1] = 1.0  # the goal: row 0, column 1; the start: row 3, column 1
    mdp, _, rho = expert(old, state_reward, alpha, gamma)
    fit = airl_irl(mdp, rho, temperature=alpha, discount=gamma, rounds=2000)
    start = np.eye(20)[16]
    true = np.repeat(state_reward[:, None], 5, axis=1)

    def score(transitions, reward):
        model = cai.TabularMDP(transitions, reward, start)
        policy = cai.soft_value_iteration(model, alpha, gamma).log_policy
        return cai.expected_return(model, true, policy, horizon, gamma)

    state_action = np.einsum("sat,sat->sa", old, np.asarray(fit.reward_model.f(gamma)))
    best, learned = score(new, true), score(new, np.asarray(fit.reward))
    baseline, uniform = score(new, state_action), score(new, np.zeros((20, 5)))
    # within 2%: the fit stops unconverged at its 2000-round cap (the policy still moves ~0.02 a
    # round), so its last digits follow rounding; traced temperatures (issue 29, values 2e-15
    # apart per round) moved the score from within 1% to 1.24% (1.1111 against 1.1251)
    assert best > 1.0 and abs(learned - best) < 0.02 * best, (best, learned)
    assert baseline < uniform < 0.01 * best, (baseline, uniform)
    # in the old world both score as the true reward does
    assert abs(score(old, state_action) - score(old, true)) < 0.01 * score(old, true)
