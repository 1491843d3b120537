"""Gridworld construction against hand-computed transitions and rewards."""

import numpy as np
import pytest

import control_as_inference as cai
from control_as_inference.envs import BUILTINS, builtin, make_gridworld


def test_transitions_and_rewards_by_hand():
    world = make_gridworld(
        "S.G\n#L.", slip=0.2, step_reward=-1.0, goal_reward=10.0, lava_reward=-50.0
    )
    # states in reading order: (0,0) S, (0,1), (0,2) G, (1,1) L, (1,2)
    np.testing.assert_array_equal(world.cells, [[0, 0], [0, 1], [0, 2], [1, 1], [1, 2]])
    assert world.goals == (2,) and world.lava == (3,) and world.starts == (0,)
    t = np.asarray(world.mdp.transitions)
    right, down = 1, 2
    # from (0,1) moving right: goal 0.8, slips up (wall, stay) 0.1 and down (lava) 0.1
    np.testing.assert_allclose(t[1, right], [0, 0.1, 0.8, 0.1, 0])
    np.testing.assert_allclose(world.mdp.reward[1, right], -1 + 0.8 * 10 + 0.1 * -50)
    # from (0,0) moving down into the wall: stays 0.8, slips right 0.1 and left (off map) 0.1
    np.testing.assert_allclose(t[0, down], [0.9, 0.1, 0, 0, 0])
    # absorbing cells
    np.testing.assert_allclose(t[2, :, 2], 1.0)
    np.testing.assert_allclose(np.asarray(world.mdp.reward)[[2, 3]], 0.0)
    np.testing.assert_allclose(world.mdp.initial, [1, 0, 0, 0, 0])


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_builtins_build_and_solve(name):
    world = builtin(name)
    post = cai.infer(world.mdp, 20, 1.0)
    assert np.isfinite(post.log_evidence)
    assert world.to_grid(np.asarray(post.v[0])).shape == world.shape


def test_exact_is_optimistic_on_the_slippery_cliff():
    world = builtin("slippery-cliff")
    exact = cai.infer(world.mdp, 30, 1.0, "exact")
    var = cai.infer(world.mdp, 30, 1.0, "variational")
    start = world.starts[0]
    assert exact.v[0, start] > var.v[0, start] + 10


def test_bad_layouts():
    with pytest.raises(ValueError, match="unknown characters"):
        make_gridworld("S.X")
    with pytest.raises(ValueError, match="no free cell"):
        make_gridworld("##")
    with pytest.raises(ValueError, match="slip"):
        make_gridworld("S.G", slip=1.5)
    with pytest.raises(ValueError, match="unknown gridworld"):
        builtin("nope")
