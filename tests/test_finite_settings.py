"""Issue 30, item 8 and 11: every float setting of the configs is checked finite and in range
(an infinite step size, KL bound or tolerance gave NaN results, never an error), empty inputs
are named, and a non-finite action of an agent is named as the agent's, not the environment's."""

import types

import numpy as np
import pytest

from control_as_inference._core import check_positive
from control_as_inference.agents import DiscreteConfig, MPOConfig, SACConfig
from control_as_inference.policy_search import REPSConfig, reps_update, solve_temperature

INF, NAN = float("inf"), float("nan")


@pytest.mark.parametrize(
    "make, field",
    [
        (lambda v: REPSConfig(epsilon=v), "REPSConfig.epsilon"),
        (lambda v: reps_update(np.eye(3), np.arange(3.0), v), "epsilon"),
        (lambda v: MPOConfig(learning_rate=v), "learning_rate"),
        (lambda v: MPOConfig(epsilon=v), "epsilon"),
        (lambda v: MPOConfig(epsilon_mean=v), "epsilon_mean"),
        (lambda v: MPOConfig(dual_learning_rate=v), "dual_learning_rate"),
        (lambda v: SACConfig(initial_temperature=v), "initial_temperature"),
        (lambda v: SACConfig(target_entropy=v), "target_entropy"),
        (lambda v: DiscreteConfig(temperature=v), "temperature"),
    ],
)
@pytest.mark.parametrize("value", [INF, NAN])
def test_non_finite_settings_are_refused_naming_the_field(make, field, value):
    if field == "target_entropy" and value == INF:
        value = -INF  # any sign
    with pytest.raises(ValueError, match=field):
        make(value)


def test_reps_update_with_an_infinite_bound_gave_nan():
    """The negative control of the check above: what epsilon = inf did (temperature 0, NaN
    mean), reproduced through the jitted update without the check."""
    from control_as_inference.policy_search.reps import _update

    step = _update(np.eye(3), np.arange(3.0), np.asarray(INF), 0.0)
    assert not np.isfinite(np.asarray(step.distribution.mean)).all()


def test_check_positive_is_finite_unless_asked():
    assert check_positive("x", 2.0) == 2.0
    with pytest.raises(ValueError, match="x must be finite, got inf"):
        check_positive("x", INF)
    assert check_positive("max_weight", INF, finite=False) == INF  # AWR: no clipping


def test_solve_temperature_names_an_empty_batch():
    with pytest.raises(ValueError, match=r"values must have at least one row.*\(0, 4\)"):
        solve_temperature(np.zeros((0, 4)), 0.1)


def test_a_nan_action_is_named_as_the_agents(tmp_path, monkeypatch):
    """An agent whose networks produce NaN actions: the loop used to step Pendulum with them
    and blame "the environment returned a non-finite reward"."""
    from control_as_inference.agents import loop, train

    real = loop.observe_packed

    def nan_actions(state, config, packed):
        state, action, metrics = real(state, config, packed)
        return state, np.full(np.shape(action), np.nan, np.float32), metrics

    monkeypatch.setattr(loop, "observe_packed", nan_actions)
    import jax

    config = SACConfig(hidden=(8,), buffer_size=500, batch_size=8, learning_starts=1000)
    with pytest.raises(ValueError, match=r"action: the agent chose a non-finite action .* step 2"):
        train(config, "Pendulum-v1", jax.random.key(0), 50, None, 1000, 0)


def test_train_report_says_no_episode_ended(monkeypatch, capsys):
    """cai train --steps 10 printed "mean return, last 10 episodes nan"."""
    import control_as_inference.agents as agents
    from control_as_inference.cli.agents import report

    monkeypatch.setattr(agents, "evaluate_agent", lambda *a, **k: np.array([-1.0, -3.0]))
    result = types.SimpleNamespace(
        history=[], interrupted=False, state=types.SimpleNamespace(step=10)
    )
    assert report(result, "runs/x", "Pendulum-v1", SACConfig()) == 0
    out = capsys.readouterr().out
    assert "nan" not in out and "no episode ended" in out
