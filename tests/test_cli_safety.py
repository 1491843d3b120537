"""The `cai` command is safe to interrupt, runs nothing from a file, replaces nothing unasked
(issue 30, items 4, 5, 6 and 11): subprocesses, as a user runs them."""

import base64
import hashlib
import json
import os
import pickle
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from typing import NamedTuple

import numpy as np
import pytest

from control_as_inference.cli import OUTPUTS, build_parser

CAI = [sys.executable, "-m", "control_as_inference.cli"]


def run(*args, cwd=None):
    return subprocess.run([*CAI, *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def one_line_error(out, *words):
    """exit 2, one line on stderr holding every word, no traceback."""
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2, out.stderr
    assert len(lines) == 1 and all(w in lines[0] for w in words), out.stderr
    return lines[0]


# ----------------------------------------------------------------------------- Ctrl-C


def threads(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


def interrupt(*args, after: float, cwd=None):
    """Start `cai ARGS`, wait until `main` has set up its Ctrl-C handling (its watcher thread is
    the process's first thread besides the main one: nothing before it starts threads), then
    `after` seconds more, send SIGINT; (returncode, stdout, stderr)."""
    proc = subprocess.Popen(
        [*CAI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd
    )
    deadline = time.time() + 120
    while threads(proc.pid) < 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(after)
    finished_before = proc.poll() is not None
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert not finished_before, f"finished before the signal: {stderr}"
    return proc.returncode, stdout, stderr


def assert_interrupted(command, code, stderr, only_line=True):
    assert code == 130, stderr  # 128 + SIGINT; never 0 (swallowed), -2, 1 or 139 (segfault)
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert lines[-1] == f"cai {command}: interrupted", stderr
    if only_line:  # (a local Ray instance says that it started)
        assert len(lines) == 1, stderr


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc to see the thread start")
def test_ctrl_c_during_cai_irl_prints_one_line_and_exits_130():
    """Before: a traceback (up to 73 lines), exit -2; or "Exception ignored in _xla_gc_callback"
    and the command went on to exit 0."""
    code, _, stderr = interrupt("irl", "bridge", after=2.0)
    assert_interrupted("irl", code, stderr)


INTERRUPT_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys, time
    from control_as_inference.cli._interrupt import exit_on_interrupt, protected
    path = sys.argv[1]
    with exit_on_interrupt("test"):
        if sys.argv[2] == "protected":
            with protected():
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.3)  # the watcher thread has seen the signal by now
                open(path, "w").write("whole")
        else:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.3)
            open(path, "w").write("whole")
        time.sleep(5)
    print("not reached")
    """
)


@pytest.mark.parametrize("mode", ["protected", "plain"])
def test_an_interrupt_waits_for_a_protected_write_only(tmp_path, mode):
    """Inside `protected()` (every output file of a command) Ctrl-C exits when the block ends,
    the file complete; outside it at once (the negative control: the file is never written)."""
    path = tmp_path / "out.txt"
    out = subprocess.run(
        [sys.executable, "-c", INTERRUPT_SCRIPT, str(path), mode],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 130 and out.stderr == "cai test: interrupted\n", out.stderr
    assert "not reached" not in out.stdout
    assert path.exists() == (mode == "protected")


EXIT_SCRIPT = textwrap.dedent(
    """
    import atexit, os, signal, sys, time
    from control_as_inference.cli._interrupt import end_process, exit_on_interrupt

    def late_ctrl_c():  # Ctrl-C while the process shuts down (JAX's own callbacks run here)
        print("work done")
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.5)

    atexit.register(late_ctrl_c)
    with exit_on_interrupt("test"):
        if sys.argv[1] == "end_process":
            end_process(0)
    sys.exit(0)  # the negative control: Python's own shutdown
    """
)


@pytest.mark.parametrize("ending", ["end_process", "python"])
def test_ctrl_c_while_the_process_ends_is_one_line_and_130(ending):
    """`cai` ends through `end_process`: a Ctrl-C in its atexit callbacks prints the one line and
    exits 130, stdout flushed. Before (the negative control, Python's shutdown): a
    KeyboardInterrupt traceback from inside the callback, and exit 0; later in the teardown the
    default action, exit -2 and no line (CI caught `cai kl` there)."""
    out = subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT, ending], capture_output=True, text=True, timeout=60
    )
    assert out.stdout == "work done\n"
    if ending == "end_process":
        assert out.returncode == 130 and out.stderr == "cai test: interrupted\n", out.stderr
    else:
        assert out.returncode == 0 and "KeyboardInterrupt" in out.stderr, out.stderr


def test_end_process_keeps_the_exit_code_and_the_output():
    script = (
        "from control_as_inference.cli._interrupt import end_process, exit_on_interrupt\n"
        "print('unflushed', end='')\n"
        "with exit_on_interrupt('test'):\n"
        "    end_process(3)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert (out.returncode, out.stdout, out.stderr) == (3, "unflushed", "")


def test_main_in_process_leaves_the_callers_ctrl_c_as_it_was(capsys):
    from control_as_inference.cli import main

    before = signal.getsignal(signal.SIGINT)
    assert main(["solve", "--plot", "fig.xyz"]) == 2  # refused inside main's handling
    assert signal.getsignal(signal.SIGINT) is before
    assert signal.set_wakeup_fd(-1) == -1  # no wakeup pipe left behind


@pytest.fixture(scope="module")
def gcl_demos(tmp_path_factory):
    path = tmp_path_factory.mktemp("demos") / "pendulum.npz"
    rng = np.random.default_rng(0)
    np.savez(path, states=rng.normal(size=(3, 41, 3)), actions=rng.uniform(-2, 2, (3, 40, 1)))
    return str(path)


@pytest.mark.slow  # each command imports JAX and starts its work: ~2 CPU-minutes in all
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc to see the thread start")
def test_ctrl_c_in_every_long_command(tmp_path, gcl_demos):
    run_dir = str(tmp_path / "run")
    small = ("--buffer-size", "2000", "--batch-size", "64", "--learning-starts", "50")
    made = run("train", "sac", "Pendulum-v1", "--steps", "100", "--out", run_dir, *small)
    assert made.returncode == 0, made.stderr
    # each works for 9 s or more with a warm compilation cache on an idle 2-core machine: the
    # signal at 6 s must find it working (`cai` no longer lingers in Python's teardown)
    big_map = tmp_path / "map.txt"
    big_map.write_text("G" + "." * 119 + "\n" + ("." * 120 + "\n") * 118 + "." * 119 + "G\n")
    commands = [
        ("solve", "FrozenLake8x8-v1", "--horizon", "60000"),
        ("kl", str(big_map), "--plot", str(tmp_path / "kl.png")),
        ("plan", "pendulum", "--steps", "20000"),
        ("evaluate", run_dir, "--episodes", "1000"),
        ("irl", "--method", "gcl", "--demos", gcl_demos, "--out", str(tmp_path / "gcl")),
        ("sweep", "--num-cpus", "1", "--temperatures", ",".join(map(str, range(1, 13)))),
    ]
    for args in commands:
        # a signal as the work ends: test_ctrl_c_while_the_process_ends_is_one_line_and_130
        for after in (2.0, 6.0):  # importing JAX or compiling, then working
            code, _, stderr = interrupt(*args, after=after, cwd=tmp_path)
            assert_interrupted(args[0], code, stderr, only_line=args[0] != "sweep")
    # a checkpoint written before the interrupt is kept and resumes
    assert os.path.exists(os.path.join(run_dir, "checkpoint.eqx"))


@pytest.mark.slow  # ten starts of `cai irl bridge`: ~1 CPU-minute
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc to see the thread start")
def test_ctrl_c_in_cai_irl_at_ten_random_moments():
    """Before: exit 139 (a segfault) in 4 of 10 interrupts, or 0 with "Exception ignored"."""
    rng = random.Random(30)
    for _ in range(10):
        code, _, stderr = interrupt("irl", "bridge", after=rng.uniform(0.0, 8.0))
        assert_interrupted("irl", code, stderr)


# ----------------------------------------------------------------------------- run directories


TINY_RUN = """
import sys, jax, numpy as np
from control_as_inference.agents import SACConfig
from control_as_inference.agents.checkpoint import LoopState, save_checkpoint, write_run_settings
from control_as_inference.agents.environments import make_envs
from control_as_inference.agents.registry import agent_of, config_dict, promotion
out, config = sys.argv[1], SACConfig(buffer_size=1000, batch_size=32)
agent, env = agent_of(config), make_envs("Pendulum-v1", False, 1)
obs, _ = env.reset(seed=0)
with promotion():
    state = agent.init(config, env.single_observation_space, env.single_action_space,
                       jax.random.key(0))
write_run_settings(out, {"agent": agent.name, "env_id": "Pendulum-v1", "seed": 0, "steps": 1,
                         "checkpoint_every": 5000, "num_envs": 1, "config": config_dict(config)})
save_checkpoint(out, state, LoopState(env, obs, np.zeros((1, 1), np.float32), np.zeros(1),
                                      np.zeros(1, np.int64)))
"""


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A run directory at step 0 of 1 (as `cai train` writes it, without compiling the loop):
    config.json and a checkpoint of a fresh SAC state."""
    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    run_dir.mkdir()
    out = subprocess.run(
        [sys.executable, "-c", TINY_RUN, str(run_dir)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    return run_dir


class Payload:
    """Unpickling this runs `touch PATH`."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def test_resume_never_unpickles_a_run_directory(tiny_run, tmp_path):
    """An older checkpoint.json held the environments' pickle, outside the checksum: a crafted
    one ran its code on `cai resume`. Now it is refused, and nothing of it runs."""
    run_dir = tmp_path / "crafted"
    shutil.copytree(tiny_run, run_dir)
    marker = tmp_path / "pwned"
    meta = json.loads((run_dir / "checkpoint.json").read_text())
    meta.pop("env_state")
    meta["env"] = base64.b64encode(pickle.dumps(Payload(marker))).decode("ascii")
    (run_dir / "checkpoint.json").write_text(json.dumps(meta))
    out = run("resume", str(run_dir))
    one_line_error(out, "pickle", "never loaded", "start the run again")
    assert not marker.exists()


def test_the_environment_state_is_data_and_restores_exactly():
    """The checkpoint's environment state: plain JSON, and a fresh vector of environments given
    it steps exactly as the saved one (negative control: without it, it does not)."""
    from control_as_inference.agents.env_snapshot import env_snapshot, restore_env_snapshot
    from control_as_inference.agents.environments import make_envs

    env = make_envs("Pendulum-v1", False, 2)
    env.reset(seed=3)
    actions = np.random.default_rng(0).uniform(-2, 2, (30, 2, 1)).astype(np.float32)
    for a in actions[:10]:
        env.step(a)
    text = json.dumps(env_snapshot(env))
    assert "pickle" not in text

    def rollout(e):
        return [e.step(a)[:2] for a in actions[10:]]

    fresh, other = make_envs("Pendulum-v1", False, 2), make_envs("Pendulum-v1", False, 2)
    restore_env_snapshot(fresh, json.loads(text))
    other.reset(seed=3)  # the same seed, not the same state
    want = rollout(env)
    for (obs, reward), (obs2, reward2) in zip(want, rollout(fresh), strict=True):
        np.testing.assert_array_equal(obs, obs2)
        np.testing.assert_array_equal(reward, reward2)
    assert not all(
        np.array_equal(o, o2) for (o, _), (o2, _) in zip(want, rollout(other), strict=True)
    )
    with pytest.raises(ValueError, match="copies"):
        restore_env_snapshot(make_envs("Pendulum-v1", False, 3), json.loads(text))


class State(NamedTuple):
    step: object
    w: object


def test_a_checkpoint_stopped_between_its_two_files_still_loads(tmp_path, monkeypatch):
    """checkpoint.eqx renamed into place, its meta not yet: the pair is taken from
    checkpoint.next.json (negative control: without it, the checkpoint reads as damaged)."""
    import jax.numpy as jnp

    from control_as_inference.agents import checkpoint
    from control_as_inference.agents.environments import make_envs

    env = make_envs("Pendulum-v1", False, 1)
    obs, _ = env.reset(seed=0)
    loop = checkpoint.LoopState(env, obs, np.zeros((1, 1), np.float32), np.zeros(1), np.zeros(1))
    checkpoint.save_checkpoint(str(tmp_path), State(jnp.asarray(3), jnp.arange(3.0)), loop)
    replace = os.replace

    def stop_before_the_meta(src, dst):
        if dst.endswith("checkpoint.json"):
            raise KeyboardInterrupt  # the process ends here
        replace(src, dst)

    monkeypatch.setattr(checkpoint.os, "replace", stop_before_the_meta)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save_checkpoint(str(tmp_path), State(step=jnp.asarray(5), w=-jnp.ones(3)), loop)
    monkeypatch.undo()
    like = State(step=jnp.asarray(0), w=jnp.zeros(3))
    restored, meta = checkpoint.load_checkpoint(str(tmp_path), like)
    assert meta["step"] == 5 and float(restored.w[0]) == -1.0
    os.remove(tmp_path / "checkpoint.next.json")
    with pytest.raises(ValueError, match="damaged or partial"):
        checkpoint.load_checkpoint(str(tmp_path), like)


def test_resume_at_or_past_its_total_exits_2_like_steps_below_it(tiny_run, tmp_path):
    """Before: `cai resume RUN` at its planned total exited 0 (an evaluation of nothing new),
    while `--steps` at or below the checkpoint exited 2."""
    run_dir = tmp_path / "done"
    shutil.copytree(tiny_run, run_dir)
    meta = json.loads((run_dir / "checkpoint.json").read_text())
    (run_dir / "checkpoint.json").write_text(json.dumps(dict(meta, step=1)))
    one_line_error(run("resume", str(run_dir)), "already at step 1", "planned total 1")
    one_line_error(run("resume", str(run_dir), "--steps", "1"), "already at step 1", "--steps 1")


@pytest.mark.parametrize("command", ["resume", "evaluate"])
def test_a_damaged_config_json_is_named(tiny_run, tmp_path, command):
    run_dir = tmp_path / "damaged"
    shutil.copytree(tiny_run, run_dir)
    (run_dir / "config.json").write_text('{"agent": "sac", ')
    one_line_error(run(command, str(run_dir)), str(run_dir / "config.json"), "damaged")


# ----------------------------------------------------------------------------- outputs


def test_every_output_option_is_checked():
    """Every option that names a file to write is in cli.OUTPUTS (checked before any work, with
    --force to replace) or is `cai train --out` (a run directory, its own check)."""
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    writing = {"plot", "json", "save_demos", "video", "out"}
    for name, sub in commands.items():
        dests = {a.dest for a in sub._actions}
        if name == "train":
            assert {"out", "force"} <= dests
            continue
        assert dests & writing == set(OUTPUTS.get(name, {})), name
        if name in OUTPUTS:
            assert "force" in dests, name


EXISTING = [
    ("solve", "--plot", "fig.png"),
    ("solve", "--json", "result.json"),
    ("compare", "--plot", "fig.png"),
    ("irl", "--plot", "fig.png"),
    ("irl", "--save-demos", "demos.npz"),
    ("plan", "pendulum", "--plot", "fig.png"),
    ("plan", "pendulum", "--video", "movie.gif"),
    ("sweep", "--out", "table.csv"),
    ("sweep", "--plot", "fig.png"),
    ("kl", "--plot", "fig.png"),
    ("evaluate", "RUN", "--plot", "fig.png"),
]


@pytest.mark.parametrize("argv", EXISTING, ids=" ".join)
def test_an_output_option_refuses_an_existing_file_before_any_work(tmp_path, argv):
    name = argv[-1]
    (tmp_path / name).write_text("not the command's")
    started = time.perf_counter()
    out = run(*argv, cwd=tmp_path)
    one_line_error(out, argv[-2], name, "exists", "--force")
    assert time.perf_counter() - started < 20  # no JAX, no work (seconds, on a loaded machine)
    assert (tmp_path / name).read_text() == "not the command's"


def test_save_demos_and_plot_refuse_the_file_numpy_and_matplotlib_would_write(tmp_path):
    (tmp_path / "d.npz").write_text("unrelated")
    one_line_error(run("irl", "--save-demos", "d", cwd=tmp_path), "d.npz exists")
    (tmp_path / "fig.png").write_text("unrelated")
    one_line_error(run("solve", "--plot", "fig", cwd=tmp_path), "fig.png exists")
    one_line_error(run("solve", "--plot", "fig.xyz", cwd=tmp_path), "cannot write a figure")
    one_line_error(run("solve", "--json", "no/such/dir.json", cwd=tmp_path), "no directory")
    one_line_error(run("plan", "pendulum", "--video", "movie", cwd=tmp_path), "ending in .gif")
    # two options writing one file: the figure was silently replaced by the JSON (review)
    same = run("solve", "--plot", "same", "--json", "same.png", "--force", cwd=tmp_path)
    one_line_error(same, "--plot and --json both write same.png")
    # an existing file as a run directory: one line before any work, not FileExistsError after
    one_line_error(run("train", "sac", "Pendulum-v1", "--out", "d.npz", cwd=tmp_path), "a file")


def test_gcl_out_refuses_a_file_and_a_run_it_would_replace(tmp_path, gcl_demos):
    (tmp_path / "file").write_text("x")
    gcl = ("irl", "--method", "gcl", "--demos", gcl_demos, "--out")
    one_line_error(run(*gcl, "file", cwd=tmp_path), "--out file is a file")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "gcl.eqx").write_text("a run")
    one_line_error(run(*gcl, "run", cwd=tmp_path), "already holds a run", "--resume", "--force")


def test_plot_without_a_suffix_says_the_file_it_wrote(tmp_path):
    """`--plot fig` writes fig.png (matplotlib's default format); it said "written to fig"."""
    out = run("solve", "--horizon", "5", "--plot", "fig", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "figure written to fig.png" in out.stdout
    assert (tmp_path / "fig.png").exists() and not (tmp_path / "fig").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]  # no temporary file left


def test_force_lets_an_output_replace_a_file(tmp_path):
    from control_as_inference.cli._io import UsageError, check_output

    (tmp_path / "fig.png").write_text("old")
    with pytest.raises(UsageError, match="exists"):
        check_output("--plot", str(tmp_path / "fig"), "figure", force=False)
    check_output("--plot", str(tmp_path / "fig"), "figure", force=True)


@pytest.mark.slow  # compiles SAC and a GCL round, three times
def test_a_gcl_run_resumes_with_more_steps(tmp_path, gcl_demos):
    """Before: --resume with more --steps failed on the checkpoint's replay buffer with an
    internal pytree path (its size was steps x sampler-steps); now the buffer keeps the first
    run's size, and a setting that cannot change (--seed) is named."""
    common = ("irl", "--method", "gcl", "--demos", gcl_demos, "--sampler-steps", "300")
    common += ("--out", str(tmp_path / "run"))
    first = run(*common, "--steps", "1")
    assert first.returncode == 0, first.stderr
    more = run(*common, "--steps", "2", "--resume")
    assert more.returncode == 0, more.stderr
    assert "iterations                           2" in more.stdout
    one_line_error(run(*common, "--steps", "3", "--resume", "--seed", "1"), "--seed 0, not")


def test_sha256_of_the_checkpoint_is_what_load_checks(tiny_run):
    """(A sanity check of the crafted-file test: the copied checkpoint passes its checksum.)"""
    meta = json.loads((tiny_run / "checkpoint.json").read_text())
    data = (tiny_run / "checkpoint.eqx").read_bytes()
    assert hashlib.sha256(data).hexdigest() == meta["sha256"]
    assert "env" not in meta and isinstance(meta["env_state"], dict) and meta["step"] == 0
