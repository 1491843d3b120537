"""KL gridworlds: the map builder, goal components, the example script and its figure."""

from __future__ import annotations

import importlib.util
import pathlib

import numpy as np
import pytest

from control_as_inference import kl

EXAMPLE = pathlib.Path(__file__).parents[2] / "examples" / "kl_gridworld.py"


def test_grid_lmdp_builds_a_random_walk_with_goal_exits():
    grid = kl.grid_lmdp(["G.#", "..G"], cost=2.0, final_costs=[0.0, 3.0])
    lmdp = grid.lmdp
    assert lmdp.num_states == 5 and list(grid.goals) == [0, 4]
    np.testing.assert_allclose(lmdp.dense_passive().sum(axis=1), 1)
    # cell (0, 1): up and right are blocked (stay), left is the goal, down is (1, 1)
    p = np.asarray(lmdp.dense_passive())[1]
    np.testing.assert_allclose(p[[0, 1, 3]], [0.2, 0.6, 0.2])
    np.testing.assert_allclose(lmdp.cost, [0.0, 2.0, 2.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="no goal"):
        kl.grid_lmdp(["..."])
    with pytest.raises(ValueError, match="unknown characters"):
        kl.grid_lmdp(["G.x"])


def test_goal_components_compose_to_the_either_goal_problem():
    grid = kl.grid_lmdp(["G....", ".#.#.", "....G"])
    parts = [kl.first_exit(c, method="direct") for c in kl.goal_components(grid, miss_cost=40.0)]
    both = kl.compose(parts, [1.0, 1.0])
    mixed = np.array(grid.lmdp.cost)
    mixed[grid.goals] = -np.log(1 + np.exp(-40.0))
    direct = kl.first_exit(kl.LMDP(grid.lmdp.passive, mixed, grid.lmdp.terminal), method="direct")
    np.testing.assert_allclose(both.v, direct.v, rtol=1e-12)
    np.testing.assert_allclose(both.policy, direct.policy, atol=1e-12)


@pytest.mark.slow  # about 10 s: four solves, the embedding and a figure
def test_example_runs_and_writes_the_figure(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("kl_gridworld", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "kl.png"
    module.main(module.Args(out=str(out)))
    text = capsys.readouterr().out
    assert out.stat().st_size > 10_000
    gap = float(text.split("max |v difference| ")[1].split()[0])
    assert gap < 1e-8
