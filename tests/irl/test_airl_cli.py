"""cai irl --method airl: the tabular AIRL run end to end on a small map, and its refusals."""

from __future__ import annotations

import pytest

from control_as_inference.cli import main


@pytest.mark.slow  # about 10 s of CPU: the default run's budget is spent
def test_cai_irl_method_airl(tmp_path, capsys):
    grid = tmp_path / "grid.txt"
    grid.write_text("S..\n...\n..G\n")
    code = main(
        ["irl", str(grid), "--method", "airl", "--discount", "0.9", "--max-iterations", "200",
         "-n", "50"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "airl (state-only g" in out and "the learned g's policy" in out
    # the grid's reward is state-only: g is compared with it over the 10 visited states
    assert "spread" in out and "over the 10 demonstrated states" in out
    rows = dict(
        line.strip().rsplit(None, 1) for line in out.splitlines() if line.startswith("  the ")
    )
    true, learned = float(rows["the true reward's policy"]), float(rows["the learned g's policy"])
    prior = float(rows["the action prior (no reward)"])
    assert learned > prior and abs(learned - true) < abs(prior - true), out


def test_cai_irl_method_airl_needs_a_discount_below_one(capsys):
    code = main(["irl", "cliff", "--method", "airl"])
    assert code != 0
    assert "--discount in (0, 1)" in capsys.readouterr().err
