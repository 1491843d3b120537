"""Gridworld construction against hand-computed transitions and rewards."""

import warnings

import jax
import numpy as np
import pytest

import control_as_inference as cai
from control_as_inference.envs import (
    BUILTINS,
    GRID_HORIZON,
    MapWarning,
    builtin,
    default_horizon,
    load_env,
    load_mdp,
    make_gridworld,
    read_npz,
    simulate,
)


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


def test_maps_need_exactly_one_start():
    with pytest.raises(ValueError, match="no start cell; mark one cell S"):
        make_gridworld("...\n..G")
    with pytest.raises(
        ValueError, match=r"2 start cells S \(row 0, column 0 and row 1, column 2\)"
    ):
        make_gridworld("S..\n..S\nG..")


@pytest.mark.parametrize(
    "layout, message",
    [
        ("S..\n...", "no goal cell G"),
        (
            "S..#G\n...#.",
            r"the goal at row 0, column 4 cannot be reached from the start at row 0, column 0",
        ),
        ("S.#G\nL#..", r"the goal at row 0, column 3 cannot be reached"),
        ("S...\n..\n...G", r"padded with walls # \(row 1 from column 2\)$"),
        ("S...\n..\n.G", r"\(row 1 from column 2 and row 2 from column 2\)$"),
    ],
)
def test_maps_that_build_with_a_warning(layout, message):
    with pytest.warns(MapWarning, match=message) as record:
        make_gridworld(layout)
    assert len(record) == 1


def test_good_maps_and_builtins_build_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_gridworld("S..\n.#.\n..G")
        make_gridworld("S.G", slip=0.5)
        for name in BUILTINS:
            builtin(name)


def test_registry_loads_builtins_maps_and_npz_files(tmp_path):
    loaded = load_env("bridge")
    world = builtin("bridge")
    assert loaded.name == "bridge" and loaded.env.layout == world.layout
    assert loaded.goals == world.goals
    assert loaded.horizon == GRID_HORIZON == default_horizon(None) == 30
    np.testing.assert_array_equal(loaded.mdp.transitions, world.mdp.transitions)
    still = load_env("bridge", slip=0.0)
    assert still.env.slip == 0.0 and still.mdp.transitions.max() == 1.0
    grid = tmp_path / "room.txt"
    grid.write_text("S..\n.#.\n..G\n")
    loaded = load_env(str(grid), slip=0.1)
    assert loaded.name == "room.txt" and loaded.env.slip == 0.1 and loaded.goals == (7,)
    npz = tmp_path / "m.npz"
    initial = np.eye(world.mdp.num_states)[1]
    np.savez(npz, transitions=world.mdp.transitions, reward=world.mdp.reward, initial=initial)
    loaded = load_env(str(npz))
    assert loaded.name == str(npz) and loaded.env is None and loaded.goals == ()
    assert loaded.horizon == 30
    np.testing.assert_array_equal(loaded.mdp.initial, initial)
    np.testing.assert_array_equal(load_mdp(str(npz)).reward, world.mdp.reward)


def test_registry_errors_name_the_file(tmp_path):
    with pytest.raises(ValueError, match=r"unknown environment 'nope'.*see `cai envs`$"):
        load_env("nope")
    bad = tmp_path / "bad.txt"
    bad.write_text("S.X\n")
    with pytest.raises(ValueError, match=r"bad\.txt is not a valid map: .*unknown characters"):
        load_env(str(bad))
    missing = tmp_path / "missing.npz"
    np.savez(missing, reward=np.zeros((2, 2)))
    message = (
        "missing.npz lacks the array(s) transitions; it needs transitions (S, A, S) and "
        "reward (S, A), optionally initial (S,) and action_prior (S, A)"
    )
    with pytest.raises(ValueError) as error:
        load_env(str(missing))
    assert str(error.value).endswith(message)
    unnormalised = tmp_path / "unnormalised.npz"
    np.savez(unnormalised, transitions=np.ones((2, 2, 2)), reward=np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"unnormalised\.npz: transitions does not sum to one"):
        load_env(str(unnormalised))
    for name, write in (
        ("corrupt.npz", lambda path: path.write_bytes(b"not a zip")),
        ("single.npy", lambda path: np.save(path, np.zeros(3))),
    ):
        path = tmp_path / name
        write(path)
        with pytest.raises(ValueError, match=rf"cannot read .*{name} as \.npz"):
            read_npz(str(path), {"reward": "(S, A)"})
    with pytest.raises(ValueError, match=r"cannot read .*absent\.npz as \.npz"):
        read_npz(str(tmp_path / "absent.npz"), {"reward": "(S, A)"})
    text = tmp_path / "text.npz"
    text.write_text("S.G\n")
    with pytest.raises(
        ValueError, match=r"text\.npz as \.npz: it is not an \.npz archive"
    ) as error:
        read_npz(str(text), {"reward": "(S, A)"})
    assert "pickle" not in str(error.value)
    for name in ("nosuch.txt", "nosuch.map", "nosuch.npz", "maps/nosuch"):
        with pytest.raises(ValueError, match=rf"^{name} not found: no such file$"):
            load_env(name)
    world = builtin("bridge")
    np.savez(text, transitions=world.mdp.transitions, reward=world.mdp.reward)
    for name, kind in (("FrozenLake-v1", "a gymnasium model"), (str(text), "an .npz model")):
        with pytest.raises(ValueError, match=rf"slip applies to .* text maps only; .* is {kind}"):
            load_env(name, slip=0.1)
    demos = tmp_path / "demos.npz"
    np.savez(demos, states=np.zeros((2, 3), dtype=int), actions=np.zeros((2, 2), dtype=int))
    arrays = read_npz(str(demos), {"states": "(N, T+1)", "actions": "(N, T)"}, {"lengths": "(N,)"})
    assert list(arrays) == ["states", "actions"] and arrays["actions"].shape == (2, 2)
