"""A run's own agent is named and used: the progress bar says which agent trains, and the
deterministic evaluation reads the run's config (refusing one that does not fit the state)."""

import jax
import numpy as np
import pytest

from control_as_inference.agents import (
    DiscreteConfig,
    SACConfig,
    evaluate_agent,
    load_run,
    run_config,
    train,
)

TINY = dict(learning_starts=20, batch_size=16, buffer_size=200, hidden=(16, 16))


@pytest.mark.parametrize("algorithm", ["dsac", "sql"])
def test_the_progress_bar_names_the_agent_and_evaluate_reads_the_run(algorithm, tmp_path, capsys):
    config = DiscreteConfig(algorithm=algorithm, **TINY)
    out = str(tmp_path / algorithm)
    result = train(config, "CartPole-v1", jax.random.key(0), 40, out, progress=True)
    bar = capsys.readouterr().err
    assert f"{algorithm}: 100%" in bar and "sac:" not in bar.replace(f"{algorithm}:", "")
    state, settings = load_run(out)
    assert run_config(settings) == config
    returns = evaluate_agent(state, "CartPole-v1", 2, config=run_config(settings))
    np.testing.assert_array_equal(returns, evaluate_agent(result.state, "CartPole-v1", 2))
    other = DiscreteConfig(algorithm="sql" if algorithm == "dsac" else "dsac", **TINY)
    for wrong in (other, SACConfig()):
        with pytest.raises(ValueError, match=f"the state is a {algorithm} agent's"):
            evaluate_agent(state, "CartPole-v1", 1, config=wrong)
