"""The `cai` command in a subprocess, as a user runs it."""

import argparse
import json
import re
import subprocess
import sys

import jax
import matplotlib.image
import numpy as np
import pytest

import control_as_inference as cai
from control_as_inference.cli import build_parser
from control_as_inference.envs import builtin

from .cli_batch import run_each


def run(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "control_as_inference.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
    )


def value_of(stdout: str, label: str) -> float:
    line = next(line for line in stdout.splitlines() if line.strip().startswith(label))
    return float(line.split()[-1])


def test_solve_default_example():
    out = run("solve")
    assert out.returncode == 0, out.stderr
    assert "soft values" in out.stdout and "→" in out.stdout and "G" in out.stdout
    # the printed evidence is the library's (the tests run in float64, like the command)
    expected = float(cai.infer(builtin("bridge").mdp, 30, 1.0).log_evidence)
    assert value_of(out.stdout, "log evidence") == pytest.approx(expected, abs=1e-4)


def test_solve_writes_a_figure_and_json(tmp_path):
    png, js = tmp_path / "v.png", tmp_path / "r.json"
    out = run(
        "solve", "cliff", "--method", "variational", "--temperature", "0.5", "--horizon", "20",
        "--plot", str(png), "--json", str(js),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "evidence lower bound" in out.stdout
    image = matplotlib.image.imread(png)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 400
    assert image.std() > 0.05  # not a blank canvas
    data = json.loads(js.read_text())
    post = cai.infer(builtin("cliff").mdp, 20, 0.5, "variational")
    np.testing.assert_allclose(data["values"], post.v, atol=1e-12)
    np.testing.assert_allclose(data["policy"], post.policy, atol=1e-12)
    np.testing.assert_allclose(data["state_marginals"], post.state_marginals, atol=1e-12)
    assert data["horizon"] == 20 and data["method"] == "variational"


def test_solve_gymnasium_and_prior():
    out = run("solve", "FrozenLake-v1", "--temperature", "0.1", "--prior", "0.1,0.2,0.3,0.4")
    assert out.returncode == 0, out.stderr
    assert "FrozenLake-v1" in out.stdout and "G" in out.stdout


@pytest.mark.slow  # sample, map and two compares in subprocesses: 25 s warm
def test_sample_map_compare(tmp_path):
    out = run("sample", "bridge", "-n", "3", "--horizon", "10")
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("log p =") == 3
    out = run("map", "bridge", "--horizon", "10")
    assert out.returncode == 0 and "(0,0)" in out.stdout
    png = tmp_path / "c.png"
    out = run("compare", "bridge", "--episodes", "300", "--plot", str(png))
    assert out.returncode == 0, out.stderr
    assert "success rate" in out.stdout and png.stat().st_size > 10_000
    out = run("compare", "FrozenLake-v1", "--temperature", "0.01", "--discount", "0.99",
              "--episodes", "200")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "gymnasium's step" in out.stdout


@pytest.mark.slow  # two solves in subprocesses
def test_text_map_and_npz_files(tmp_path):
    grid = tmp_path / "map.txt"
    grid.write_text("S..\n.#.\n..G\n")
    out = run("solve", str(grid), "--slip", "0.1")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    for title in ("soft values V_0(s):", "most probable action at t = 0"):
        start = next(i for i, line in enumerate(lines) if line.startswith(title)) + 1
        assert lines[start + 1].split()[1] == "#", lines  # the wall, in the middle of the map
    world = builtin("bridge")
    npz = tmp_path / "m.npz"
    np.savez(
        npz, transitions=np.asarray(world.mdp.transitions), reward=np.asarray(world.mdp.reward)
    )
    out = run("solve", str(npz))
    assert out.returncode == 0, out.stderr


BAD_ARGUMENTS = [
    ("solve", "--temperature", "0"),
    ("solve", "--horizon", "-3"),
    ("solve", "--discount", "2"),
    ("solve", "no-such-env"),
    ("solve", "NoSuchEnv-v0"),
    ("solve", "CartPole-v1"),
    ("solve", "--method", "magic"),
    ("solve", "--prior", "0.5,0.5"),
    ("solve", "--prior", "a,b,c,d"),
    ("sample", "-n", "0"),
    ("compare", "--episodes", "0"),
    ("irl", "-n", "0"),
    ("irl", "--infinite"),
    ("irl", "--l2", "-1"),
    ("plan", "pendulum", "--samples", "0"),
    ("plan", "pendulum", "--temperature", "0"),
    ("plan", "pendulum", "--noise", "-1"),
    ("plan", "pendulum", "--steps", "0"),
    ("plan", "cartwheel"),
    ("sweep", "--temperatures", "a,b"),
    ("train", "sac", "Pendulum-v1", "--steps", "0"),
    ("train", "sac", "CartPole-v1", "--steps", "10"),
    ("train", "sac", "Pendulum-v1", "--learning-rate", "-1"),
    ("train", "sac", "Pendulum-v1", "--batch-size", "512", "--buffer-size", "100"),
    ("train", "sac", "NoSuchEnv-v9"),
    ("train", "sac", "Pendulum-v1", "--num-envs", "0"),
    ("train", "sac", "Pendulum-v1", "--gradient-steps", "0"),
    ("train", "dsac", "CartPole-v1", "--temperature-loss", "log"),
    ("evaluate", "/nonexistent/run"),
    ("resume", "/nonexistent/run"),
    ("frobnicate",),
]

BAD_INPUT = [
    (("solve", "--slip", "0.3", "FrozenLake-v1"), "slip applies to built-in gridworlds"),
    (("sample", "--horizon", "0"), "--horizon must be >= 1 for `cai sample`, got 0"),
    (("compare", "--horizon", "0"), "--horizon must be >= 1 for `cai compare`, got 0"),
    (("solve", "--horizon", "0", "--plot", "h0.png"), "--plot needs --horizon >= 1"),
    (("solve", "--prior", "-0.1,0.5,0.3,0.3"), "--prior: action_prior has a negative"),
    (("solve", "--prior", "-1"), "--prior needs 4 probabilities, got 1"),
    (("solve", "nosuch.txt"), "nosuch.txt not found: no such file"),
    (("solve", "maps/nosuch"), "maps/nosuch not found: no such file"),
    (("resume", "/nonexistent/run", "--steps", "-5"), "--steps must be >= 1, got -5"),
]


@pytest.fixture(scope="module")
def early_exits(tmp_path_factory):
    """Every bad invocation below, run through `cai`'s main in one fresh process (tests/
    cli_batch.py: a subprocess each spent 4 s importing JAX again), in an empty folder."""
    cases = BAD_ARGUMENTS + [args for args, _ in BAD_INPUT]
    return run_each(cases, cwd=tmp_path_factory.mktemp("cwd"))


@pytest.mark.parametrize("args", BAD_ARGUMENTS)
def test_bad_arguments_exit_2_with_one_line(args, early_exits):
    out = early_exits[args]
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert "error" in last and last.startswith(("cai", "usage"))


def test_a_bad_argument_exits_2_in_its_own_process():
    """The batch's driver is not the console script: one bad invocation as a user runs it (and
    one that reaches Ray, which the batch leaves out)."""
    for args in (("solve", "--temperature", "0"), ("sweep", "--address", "127.0.0.1:1")):
        out = run(*args)
        assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
        last = out.stderr.strip().splitlines()[-1]
        assert "error" in last and last.startswith(("cai", "usage"))


@pytest.mark.parametrize("args, message", BAD_INPUT)
def test_bad_input_names_the_problem(args, message, early_exits):
    out = early_exits[args]
    assert out.returncode == 2, out.stdout
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"cai {args[0]}: error: "), out.stderr
    assert message in lines[0]


def test_solve_horizon_0_prints_the_empty_posterior():
    """No action: the evidence is 1 (log 0) and there is no policy entropy to report."""
    out = run("solve", "--horizon", "0")
    assert out.returncode == 0, out.stderr
    assert value_of(out.stdout, "log evidence") == 0.0
    assert "policy entropy at t = 0  n/a (horizon 0)" in out.stdout
    assert "no action at horizon 0" in out.stdout and "→" not in out.stdout


def test_huge_numbers_print_in_a_general_format():
    out = run("solve", "--temperature", "1e-300")
    assert out.returncode == 0, out.stderr
    line = next(line for line in out.stdout.splitlines() if "log evidence" in line)
    assert line.split()[-1] == "4e+300" and len(line) < 60
    assert "soft value at the start  4.0000" in out.stdout  # ordinary values as before


def test_a_zero_prior_warns_nothing():
    out = run("irl", "--prior", "1,0,0,0", "-n", "20", "--max-iterations", "3")
    assert out.returncode == 0, out.stderr
    assert "Warning" not in out.stderr, out.stderr


def test_map_warnings_are_one_line_each(tmp_path):
    ragged = tmp_path / "ragged.txt"
    ragged.write_text("S..#G\n...#\n")
    out = run("solve", str(ragged), "--horizon", "3")
    assert out.returncode == 0, out.stderr
    assert out.stderr.splitlines() == [
        "cai solve: warning: ragged map: rows shorter than the widest (5 cells) are padded with "
        "walls # (row 1 from column 4)",
        "cai solve: warning: the goal at row 0, column 4 cannot be reached from the start at "
        "row 0, column 0",
    ]
    starts = tmp_path / "starts.txt"
    starts.write_text("S.S\n..G\n")
    out = run("solve", str(starts))
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        f"cai solve: error: {starts} is not a valid map: layout has 2 start cells S (row 0, "
        "column 0 and row 0, column 2); keep exactly one."
    ]


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("text.npz", "S.G\n", "it is not an .npz archive"),
        ("bad.txt", "S.X\n", "unknown characters"),
        ("empty.txt", "\n\n", "empty"),
        ("bad.npz", b"not a zip", "cannot read"),
        ("missing.npz", None, "lacks"),
        ("unnormalised.npz", "unnormalised", "sum to one"),
    ],
)
def test_malformed_files_exit_2(tmp_path, name, content, message):
    path = tmp_path / name
    if content is None:
        np.savez(path, reward=np.zeros((2, 2)))
    elif content == "unnormalised":
        np.savez(path, transitions=np.ones((2, 2, 2)), reward=np.zeros((2, 2)))
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    out = run("solve", str(path))
    assert out.returncode == 2, out.stdout
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], out.stderr
    assert "pickle" not in out.stderr


def test_envs_lists_everything():
    out = run("envs")
    assert out.returncode == 0
    for name in ("bridge", "four-rooms", "FrozenLake-v1", "Taxi-v4"):
        assert name in out.stdout


COMMANDS = (
    "solve", "sample", "map", "compare", "irl", "plan", "sweep", "train", "evaluate", "resume",
    "envs", "kl",
)  # fmt: skip


def test_help_everywhere():
    """Every command answers --help with a usage line and a description of what it does."""
    assert sorted(build_parser()._subparsers._group_actions[0].choices) == sorted(COMMANDS)
    for command in ((), *((c,) for c in COMMANDS)):
        out = run(*command, "--help")
        assert out.returncode == 0, out.stderr
        head, _, rest = out.stdout.partition("\n\n")
        assert head.startswith("usage: cai")
        description = rest.split("\n\n")[0]
        assert len(description) > 40 and not description.startswith(("positional", "options"))


def help_texts():
    """(command, option, help text) of every option of every command, from the parser."""
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name, sub in [("", parser), *commands.items()]:
        for action in sub._actions:
            if action.option_strings and action.dest not in ("help", "version"):
                yield name, action, action.help or ""


@pytest.mark.parametrize(
    "command, option",
    [
        ("solve", "--slip"), ("sample", "--num"), ("irl", "--num"), ("compare", "--episodes"),
        ("plan", "--samples"),
        ("plan", "--noise"), ("plan", "--steps"), ("sweep", "--steps"), ("sweep", "--samples"),
        ("train", "--learning-rate"), ("train", "--batch-size"), ("train", "--gamma"),
        ("plan", "--planner"), ("irl", "--method"),
    ],
)  # fmt: skip
def test_help_shows_the_defaults_the_issue_named(command, option):
    # one entry per option: its line ("  -n NUM, --num NUM  help...") and the lines below it
    entries = re.split(r"\n(?=  -)", run(command, "--help").stdout)
    entry = next(e for e in entries if re.match(rf"  (-\w \w+, )?{option}\b", e))
    assert "(default: " in " ".join(entry.split()), entry


def test_every_option_has_help_and_says_its_default():
    """Every option says what it is; one with a default says which (a None default too, unless
    the option names a file to write or read, which has none)."""
    for command, action, text in help_texts():
        where = f"cai {command} {action.option_strings[-1]}"
        assert text, f"{where} has no help"
        if action.default in (False,) or isinstance(action, argparse._StoreTrueAction):
            continue
        if action.default is None and "FILE" in (action.metavar or ""):
            continue
        assert "(default: " in text, f"{where}: {text!r}"
        if action.default is not None:
            shown = text.split("(default: ", 1)[1]
            assert shown.startswith(f"{action.default:g}" if isinstance(action.default, float)
                                    else str(action.default)), f"{where}: {text!r}"  # fmt: skip


def test_train_help_defaults_are_the_configs():
    from control_as_inference.agents import DiscreteConfig, SACConfig
    from control_as_inference.cli.agents import AGENT_DEFAULTS

    sac, discrete = SACConfig(), DiscreteConfig()
    for name, (sac_text, discrete_text) in AGENT_DEFAULTS.items():
        sac_name = "initial_temperature" if name == "temperature" else name
        assert float(sac_text) == getattr(sac, sac_name), name
        assert float(discrete_text) == getattr(discrete, name), name


def test_version_prints_the_installed_version():
    from importlib.metadata import version

    out = run("--version")
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"cai {version('control-as-inference')}\n"
    assert "--version" in run("--help").stdout


NOTE = "(shown up to the first absorbing state, done: never left, reward 0"


@pytest.mark.slow  # sample and map runs in subprocesses: 22 s warm
def test_sample_and_map_stop_at_absorption_and_say_so_once():
    out = run("sample", "bridge", "-n", "4")  # horizon 30: every trajectory ends long before
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()[1:]
    assert len(lines) == 5 and lines[-1] == f"  {NOTE}; log p is that of the part shown)"
    for line in lines[:4]:
        assert line.endswith(" done") and line.count("done") == 1, line
    # log p is that of the part printed: the same draws here, whose policy at done is uniform
    # over the 4 actions, so each step left out had added log(1/4) to log p of the whole
    bridge = builtin("bridge")
    post = cai.infer(bridge.mdp, 30, 1.0)
    states, actions = cai.sample(post, jax.random.key(0), 4)
    whole = np.asarray(cai.log_prob(post, states, actions))
    done = bridge.mdp.num_states - 1
    for line, path, log_p in zip(lines, np.asarray(states), whole, strict=False):
        shown = int(np.argmax(path == done))
        assert line.count(" done") == 1 and len(line.split()) == 5 + 2 * shown
        assert float(line.split()[3]) == pytest.approx(log_p + (30 - shown) * np.log(4), abs=2e-3)
    out = run("map", "FrozenLake-v1", "--temperature", "0.1")
    assert out.returncode == 0, out.stderr
    path, note = out.stdout.splitlines()[1:]
    assert path.endswith("(3,2) ↓ end(r=1) ← done") and path.count("done") == 1
    assert note == f"  {NOTE})"
    out = run("map", "--horizon", "5")  # never absorbed: nothing cut, nothing said
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.splitlines()) == 2 and "absorbing" not in out.stdout


def test_json_maps_every_state_index_to_its_cell_or_extra_state(tmp_path):
    js = tmp_path / "fl.json"
    out = run("solve", "FrozenLake-v1", "--json", str(js))
    assert out.returncode == 0, out.stderr
    data = json.loads(js.read_text())
    states = data["states"]
    assert len(states) == len(data["values"][0]) == 19  # 16 cells, 3 extra states
    for i, entry in enumerate(states[:16]):
        assert entry["index"] == i and entry["cell"] == [i // 4, i % 4]
        assert entry["name"] == f"({i // 4},{i % 4})" and "extra" not in entry
    assert [s["name"] for s in states[16:]] == ["end(r=0)", "end(r=1)", "done"]
    assert all(s["cell"] is None and s["extra"] for s in states[16:])
    assert "reward 1" in states[17]["extra"] and "absorbing" in states[18]["extra"]


@pytest.mark.slow  # an IRL fit in a subprocess (in-process: tests/irl)
def test_irl_recovers_a_policy_that_scores_like_the_truth(tmp_path):
    png, demos = tmp_path / "r.png", tmp_path / "demos.npz"
    out = run("irl", "--plot", str(png), "--save-demos", str(demos), "-n", "400")
    assert out.returncode == 0, out.stderr
    assert "converged" in out.stdout
    truth = value_of(out.stdout, "the true reward's policy")
    recovered = value_of(out.stdout, "the recovered reward's policy")
    prior = value_of(out.stdout, "the action prior")
    # most of the way from the action prior to the truth
    assert recovered - prior > 0.7 * (truth - prior)
    assert matplotlib.image.imread(png).shape[2] in (3, 4)
    # the saved demonstrations read back give the same fit
    again = run("irl", "--demos", str(demos))
    assert again.returncode == 0, again.stderr
    assert value_of(again.stdout, "the recovered reward's policy") == pytest.approx(recovered)


@pytest.mark.slow  # IRL fits in subprocesses (in-process: tests/irl)
def test_irl_infinite_horizon_and_bad_demos(tmp_path):
    out = run(
        "irl",
        "cliff",
        "--infinite",
        "--discount",
        "0.9",
        "-n",
        "200",
        "--features",
        "state-action",
        "--max-iterations",
        "50",
    )
    assert out.returncode == 0, out.stderr
    assert "horizon infinite" in out.stdout and "state-action (196)" in out.stdout
    bad = tmp_path / "bad.npz"
    np.savez(bad, states=np.full((2, 3), 99), actions=np.zeros((2, 2), dtype=int))
    out = run("irl", "--demos", str(bad))
    assert out.returncode == 2 and "out of range" in out.stderr and "Traceback" not in out.stderr
    np.savez(bad, states=np.zeros((2, 3), dtype=int))
    out = run("irl", "--demos", str(bad))
    assert out.returncode == 2 and "lacks" in out.stderr


@pytest.mark.slow  # MPPI plans a whole swing-up and writes a video
def test_plan_pendulum_writes_a_plot_and_a_video(tmp_path):
    import importlib.util

    png, gif = tmp_path / "p.png", tmp_path / "p.gif"
    out = run("plan", "pendulum", "--samples", "300", "--plot", str(png), "--video", str(gif))
    if importlib.util.find_spec("pygame") is None:  # the video extra is not installed
        assert out.returncode == 2 and "pygame" in out.stderr, out.stderr
        out = run("plan", "pendulum", "--samples", "300", "--plot", str(png))
    else:
        assert gif.stat().st_size > 10_000
    assert out.returncode == 0, out.stderr
    assert "upright (|angle| < 0.1)  from step" in out.stdout
    assert value_of(out.stdout, "total cost") < 420
    assert matplotlib.image.imread(png).shape[2] in (3, 4)


SMALL_RUN = ("--buffer-size", "2000", "--batch-size", "64", "--learning-starts", "50")


@pytest.mark.slow  # four `cai` processes that each compile SAC: ~45 s, over the default budget
def test_train_resume_evaluate(tmp_path):
    run_dir = str(tmp_path / "run")
    out = run("train", "sac", "Pendulum-v1", "--steps", "400", "--out", run_dir, *SMALL_RUN)
    assert out.returncode == 0, out.stderr
    assert "400 steps, 2 episodes" in out.stdout
    out = run("resume", run_dir, "--steps", "600")
    assert out.returncode == 0, out.stderr
    assert "600 steps, 3 episodes" in out.stdout
    png = tmp_path / "curve.png"
    out = run("evaluate", run_dir, "--episodes", "2", "--plot", str(png))
    assert out.returncode == 0, out.stderr
    assert f"{run_dir}: Pendulum-v1, sac, step 600" in out.stdout and png.exists()
    # --steps is a new total: one already reached is said, not silently done
    out = run("resume", run_dir, "--steps", "500")
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        f"cai resume: error: {run_dir} is already at step 600, not below --steps 500 (the new "
        "total, not steps to add): nothing to do; give a total above 600 with --steps"
    ]
    # an existing run is not overwritten unless asked
    log = (tmp_path / "run" / "log.csv").read_text()
    out = run("train", "sac", "Pendulum-v1", "--steps", "200", "--out", run_dir, *SMALL_RUN)
    assert out.returncode == 2
    assert out.stderr.splitlines() == [
        f"cai train: error: {run_dir} already holds a run (at step 600): continue it with "
        f"`cai resume {run_dir}`, or pass --force to start over (its log and checkpoint are lost)"
    ]
    assert (tmp_path / "run" / "log.csv").read_text() == log
    out = run(
        "train", "sac", "Pendulum-v1", "--steps", "200", "--out", run_dir, "--force", *SMALL_RUN
    )
    assert out.returncode == 0, out.stderr
    assert "200 steps, 1 episodes" in out.stdout


@pytest.mark.slow  # two SAC subprocesses, 40 s (resume: tests/agents/test_sac.py)
def test_train_vectorised_and_resume(tmp_path):
    run_dir = str(tmp_path / "run")
    out = run(
        "train",
        "sac",
        "Pendulum-v1",
        "--steps",
        "400",
        "--num-envs",
        "2",
        "--out",
        run_dir,
        *SMALL_RUN,
    )
    assert out.returncode == 0, out.stderr
    assert "400 steps, 2 episodes" in out.stdout  # one per copy
    out = run("resume", run_dir, "--steps", "800")  # the run's two copies again
    assert out.returncode == 0, out.stderr
    assert "800 steps, 4 episodes" in out.stdout


def test_ctrl_c_saves_a_checkpoint_and_exits_130(tmp_path):
    import signal
    import time

    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "control_as_inference.cli",
            "train",
            "sac",
            "Pendulum-v1",
            "--steps",
            "1000000",
            "--out",
            str(run_dir),
            *SMALL_RUN,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    log = run_dir / "log.csv"

    def episodes():  # rows below the header: the loop is running (its handler is in place)
        return len(log.read_text().splitlines()) - 1 if log.exists() else 0

    deadline = time.time() + 180
    while time.time() < deadline and episodes() < 1:
        time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr  # 128 + SIGINT, as shells expect
    assert "interrupted at step" in stdout and "cai resume" in stdout
    meta = json.loads((run_dir / "checkpoint.json").read_text())
    assert meta["step"] > 0


LIGHT = """
import importlib.util, sys, types
# the top-level package as a lazy __init__ leaves it: a namespace for the subpackages only
spec = importlib.util.find_spec("control_as_inference")
package = types.ModuleType("control_as_inference")
package.__path__ = list(spec.submodule_search_locations)
sys.modules["control_as_inference"] = package
from control_as_inference.cli import main
heavy = ("jax", "numpy", "equinox", "matplotlib", "gymnasium")
def loaded():
    return sorted(m for m in sys.modules if m.split(".")[0] in heavy or (
        m.startswith("control_as_inference.") and not m.startswith("control_as_inference.cli")))
assert not loaded(), loaded()
for argv in (["--help"], ["solve", "--horizon", "x"], ["train", "--help"]):
    try:
        main(argv)
    except SystemExit as exit:
        assert exit.code == (0 if "--help" in argv else 2), (argv, exit.code)
    assert not loaded(), (argv, loaded())
"""


def test_help_and_usage_errors_import_nothing_heavy():
    """The cli package imports the standard library only: `cai --help` and usage errors do not
    wait for JAX (each command imports the library when it runs)."""
    out = subprocess.run([sys.executable, "-c", LIGHT], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "usage: cai" in out.stdout and "invalid int value: 'x'" in out.stderr
