"""Gridworld construction against hand-computed transitions and rewards."""

import jax
import numpy as np
import pytest

import control_as_inference as cai
from control_as_inference.envs import BUILTINS, builtin, make_gridworld, simulate


def test_transitions_and_rewards_by_hand():
    world = make_gridworld(
        "S.G\n#L.", slip=0.2, step_reward=-1.0, goal_reward=10.0, lava_reward=-50.0
    )
    # states in reading order: (0,0) S, (0,1), (0,2) G, (1,1) L, (1,2), then 5 = done
    np.testing.assert_array_equal(world.cells, [[0, 0], [0, 1], [0, 2], [1, 1], [1, 2]])
    assert world.goals == (2,) and world.lava == (3,) and world.starts == (0,)
    t = np.asarray(world.mdp.transitions)
    r = np.asarray(world.mdp.reward)
    right, down = 1, 2
    # from (0,1) moving right: goal 0.8, slips up (off the map: stay) 0.1 and down (lava) 0.1
    np.testing.assert_allclose(t[1, right], [0, 0.1, 0.8, 0.1, 0, 0])
    # from (0,0) moving down into the wall: stays 0.8, slips right 0.1 and left (off map) 0.1
    np.testing.assert_allclose(t[0, down], [0.9, 0.1, 0, 0, 0, 0])
    # rewards belong to the cell the agent is in; G and L end the episode through "done"
    np.testing.assert_allclose(r[[0, 1, 4]], -1.0)
    np.testing.assert_allclose(r[2], 10.0)
    np.testing.assert_allclose(r[3], -50.0)
    np.testing.assert_allclose(r[5], 0.0)
    np.testing.assert_allclose(t[[2, 3, 5], :, 5], 1.0)
    np.testing.assert_allclose(world.mdp.initial, [1, 0, 0, 0, 0, 0])


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_builtins_build_and_solve(name):
    world = builtin(name)
    post = cai.infer(world.mdp, 20, 1.0)
    assert np.isfinite(post.log_evidence)
    assert world.to_grid(np.asarray(post.v[0])).shape == world.shape


def test_exact_is_optimistic_on_the_slippery_cliff():
    """Exact inference believes it controls the slips: a higher evidence, a worse real policy."""
    world = builtin("slippery-cliff")
    exact = cai.infer(world.mdp, 30, 1.0, "exact")
    var = cai.infer(world.mdp, 30, 1.0, "variational")
    assert exact.log_evidence > var.log_evidence + 5
    key = jax.random.key(0)
    real_exact = simulate(world.mdp, exact.policy, 2000, key, world.goals)
    real_var = simulate(world.mdp, var.policy, 2000, key, world.goals)
    assert real_var.mean_return > real_exact.mean_return + 5
    assert real_var.success_rate > real_exact.success_rate + 0.2


def test_simulate_matches_the_variational_value():
    """Monte Carlo returns under the true dynamics against the expected return of the policy
    (the soft value minus the entropy terms, computed from the marginals)."""
    world = builtin("bridge")
    post = cai.infer(world.mdp, 30, 0.5, "variational")
    expected = float(np.sum(np.asarray(post.state_action_marginals) * np.asarray(world.mdp.reward)))
    result = simulate(world.mdp, post.policy, 20_000, jax.random.key(1), world.goals)
    assert abs(result.mean_return - expected) < 4 * result.std_return / np.sqrt(20_000)


def test_bad_layouts():
    with pytest.raises(ValueError, match="unknown characters"):
        make_gridworld("S.X")
    with pytest.raises(ValueError, match="no free cell"):
        make_gridworld("##")
    with pytest.raises(ValueError, match="slip"):
        make_gridworld("S.G", slip=1.5)
    with pytest.raises(ValueError, match="unknown gridworld"):
        builtin("nope")
