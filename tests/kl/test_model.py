"""LMDP validation: a ValueError naming the field and the fix."""

from __future__ import annotations

import numpy as np
import pytest

from control_as_inference import Successors, kl


def test_valid_models_build_and_densify():
    index = np.array([[0, 1], [1, 1]])
    prob = np.array([[0.5, 0.5], [0.25, 0.75]])
    lmdp = kl.LMDP(Successors(index, prob), [1.0, 0.0], np.array([False, True]))
    np.testing.assert_allclose(lmdp.dense_passive(), [[0.5, 0.5], [0.0, 1.0]])
    assert lmdp.is_sparse and lmdp.num_states == 2


@pytest.mark.parametrize(
    ("passive", "cost", "terminal", "match"),
    [
        (np.ones((2, 3)) / 3, [0, 0], None, "passive must have shape"),
        (np.array([[0.5, 0.4], [0, 1]]), [0, 0], None, "passive does not sum to one.*state 0"),
        (np.array([[1.5, -0.5], [0, 1]]), [0, 0], None, "negative"),
        (np.array([[np.nan, 1], [0, 1]]), [0, 0], None, "NaN"),
        (np.eye(2), [0, 0, 0], None, "cost must have shape"),
        (np.eye(2), [0, np.inf], None, "cost must be finite"),
        (np.eye(2), [0, 0], [1, 0], "terminal must be a boolean mask"),
        (Successors(np.array([[0], [2]]), np.ones((2, 1))), [0, 0], None, r"\[0, 2\)"),
        (Successors(np.array([[0.0], [1]]), np.ones((2, 1))), [0, 0], None, "integers"),
    ],
)
def test_bad_input_names_the_field(passive, cost, terminal, match):
    with pytest.raises(ValueError, match=match):
        kl.LMDP(passive, cost, terminal)


def test_first_exit_refuses_models_without_an_exit():
    with pytest.raises(ValueError, match="at least one terminal"):
        kl.first_exit(kl.LMDP(np.eye(2), [1.0, 1.0]))
    stuck = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    with pytest.raises(ValueError, match="cannot reach a terminal"):
        kl.first_exit(kl.LMDP(stuck, [1.0, 1.0, 0.0], np.array([False, False, True])))
    with pytest.raises(ValueError, match="method must be one of"):
        kl.first_exit(kl.LMDP(np.eye(2), [1.0, 1.0], np.array([False, True])), method="cg")


def test_negative_interior_costs_are_refused_naming_the_field_and_the_fix():
    passive = np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5], [0.0, 0.0, 1.0]])
    terminal = np.array([False, False, True])
    with pytest.raises(ValueError, match=r"cost must be >= 0 at non-terminal states.*state 0"):
        kl.LMDP(passive, [-1.0, 1.0, 0.0], terminal)
    with pytest.raises(ValueError, match="Shift every cost up"):
        kl.LMDP(passive, [1.0, -1e-3, 0.0])  # no terminal mask: every state is interior
    # a negative cost at a terminal state is a reward paid once on arrival: allowed
    lmdp = kl.LMDP(passive, [1.0, 1.0, -np.log(2.0)], terminal)
    assert np.all(np.isfinite(kl.first_exit(lmdp).v))
    with pytest.raises(ValueError, match=r"cost must be finite and >= 0.*-1"):
        kl.grid_lmdp("G..\n...", cost=-1.0)
    with pytest.raises(ValueError, match="lava_cost must be finite and >= 0"):
        kl.grid_lmdp("G.L\n...", lava_cost=float("nan"))
    grid = kl.grid_lmdp("G..\n..G")
    with pytest.raises(ValueError, match="miss_cost must be finite and >= 0"):
        kl.goal_components(grid, miss_cost=float("inf"))
