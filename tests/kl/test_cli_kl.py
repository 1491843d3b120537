"""`cai kl`: the built-in two-goal map, a map file, --weights checks and the figure."""

from __future__ import annotations

import pytest

from control_as_inference.cli import main


@pytest.mark.slow  # about 4 s: solves and a figure
def test_cai_kl_composes_the_goals_and_draws_them(tmp_path, capsys):
    grid = tmp_path / "map.txt"
    grid.write_text("G...\n.#..\n...G\n")
    figure = tmp_path / "kl.png"
    assert main(["kl", str(grid), "--weights", "1,2", "--plot", str(figure)]) == 0
    out = capsys.readouterr().out
    assert "goal 1 (row 2, column 3)" in out and "composite vs direct" in out
    gap = float(out.split("max |v difference| ")[1].split()[0])
    assert gap < 1e-8
    assert figure.stat().st_size > 5_000
    assert "-0.7" in out  # the goal of weight 2: v = -log 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["kl", "--weights", "1,2,3"], "one weight per goal (2)"),
        (["kl", "no-such-map.txt"], "not found"),
        (["kl", "--miss-cost", "-1"], "--miss-cost must be finite and >= 0"),
        (["kl", "--miss-cost", "inf"], "--miss-cost must be finite and >= 0"),
        (["kl", "--cost", "-1"], "--cost must be finite and >= 0"),
        (["kl", "--cost", "nan"], "--cost must be finite and >= 0"),
    ],
)
def test_cai_kl_bad_arguments_exit_2_with_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
