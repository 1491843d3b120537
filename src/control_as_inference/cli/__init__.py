"""The `cai` command.

    cai solve   [ENV] [inference options] [--plot FILE.png] [--json FILE]
    cai sample  [ENV] [inference options] [-n 5] [--seed 0]
    cai map     [ENV] [--temperature --horizon]
    cai compare [ENV] [inference options] [--episodes 1000] [--plot FILE.png]
    cai irl     [ENV] [--demos FILE.npz | -n 500 --seed 0] [--features state|state-action]
                [inference options] [--infinite] [--plot FILE.png] [--save-demos FILE.npz]
    cai plan    pendulum [--planner mppi|cem] [--samples 1000] [--steps 200] [--plot FILE.png]
                [--video FILE.gif]
    cai sweep   [ENV ...] [--task solve|mppi] [--temperatures 0.1,1] [--methods ...] [--seeds ...]
                [--address HOST:PORT] [--num-cpus N] [--out FILE.csv|.json] [--plot FILE.png]
    cai train   sac ENV_ID [--steps 20000] [--seed 0] [--out runs/NAME [--force]]
                [--checkpoint-every 5000] [--num-envs 1] [--gradient-steps 1] [agent options]
    cai evaluate RUN [--episodes 10] [--plot FILE.png]
    cai resume  RUN [--steps N]
    cai kl      [MAP] [--cost 1] [--weights 1,1] [--miss-cost 50] [--plot FILE.png]
    cai envs
    cai --version
    cai --no-compilation-cache COMMAND ...

Commands that use JAX keep its compiled programs in ~/.cache/control-as-inference/jax (or
$XDG_CACHE_HOME/control-as-inference/jax), so that the next run does not compile them again;
`--no-compilation-cache` or CAI_COMPILATION_CACHE=0 turns this off.

ENV is a built-in gridworld name, a gymnasium toy-text id (FrozenLake-v1, CliffWalking-v1,
Taxi-v4, ...), a text map file (see `envs.make_gridworld`) or an `.npz` file with arrays
`transitions`, `reward` and optionally `initial`, `action_prior`. Bad arguments and malformed
files exit with code 2 and a one-line message; warnings are one line each on stderr; Ctrl-C
during train or resume saves a checkpoint and exits with code 130, in every other command it
prints one line and exits with code 130 at once (`_interrupt`). No output option replaces an
existing file without --force, and each is checked before any work.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from typing import NoReturn

from . import agents, irl, kl, plan, sweep, tabular
from ._interrupt import INTERRUPTED, end_process, exit_on_interrupt
from ._io import UsageError, check_output, check_output_dir, output_path

# The modules of this package import argparse and the standard library only; every command
# imports the library (and so JAX) when it runs, so that `cai --help` and usage errors are quick.
#
#     tabular.py  solve, sample, map, compare, envs, and the ENV and inference options
#     irl.py      irl                      plan.py    plan
#     sweep.py    sweep                    agents.py  train, evaluate, resume
#     kl.py       kl
#     _io.py      UsageError, tables, grids, trajectories, writing files

__all__ = ["UsageError", "build_parser", "main", "script"]

DISTRIBUTION = "control-as-inference"


class VersionAction(argparse.Action):
    """--version: print `cai VERSION` (the installed distribution's, read only when asked) and
    exit."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest, default=argparse.SUPPRESS, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from importlib.metadata import PackageNotFoundError, version

        try:
            text = version(DISTRIBUTION)
        except PackageNotFoundError:  # run from a source tree that was never installed
            text = "unknown (not installed)"
        print(f"cai {text}")  # on stdout, like argparse's own version action
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The `cai` argument parser: every command's options, defaults and help."""
    parser = argparse.ArgumentParser(
        prog="cai", description="Optimal control as probabilistic inference."
    )
    parser.add_argument(
        "--version", action=VersionAction, help="print the installed version and exit"
    )
    parser.add_argument(
        "--no-compilation-cache",
        action="store_true",
        help="do not read or write JAX's compilation cache (~/.cache/control-as-inference/jax; "
        "also CAI_COMPILATION_CACHE=0)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # every command sets `handler` (a function of the parsed arguments) and `x64` (the JAX
    # precision of this process: True, False for the learning agents, None: JAX not used here)
    tabular.add_parsers(sub)
    irl.add_parsers(sub)
    plan.add_parsers(sub)
    sweep.add_parsers(sub)
    agents.add_parsers(sub)
    kl.add_parsers(sub)
    tabular.add_envs_parser(sub)
    for command, options in OUTPUTS.items():
        sub.choices[command].add_argument(
            "--force",
            action="store_true",
            help=f"replace what {', '.join(FLAGS[o] for o in options)} name(s) if it exists "
            "(default: refuse)",
        )
    return parser


OUTPUTS = {
    "solve": {"plot": "figure", "json": "file"},
    "compare": {"plot": "figure"},
    "irl": {
        "plot": "figure",
        "save_demos": "npz",
        "out": ("gcl.eqx", "gcl.eqx.json", "cai-gcl.json"),
    },
    "plan": {"plot": "figure", "video": "gif"},
    "sweep": {"out": "file", "plot": "figure"},
    "evaluate": {"plot": "figure"},
    "kl": {"plot": "figure"},
}
"""Every command's output options (by dest): what they write ("figure", "npz", "gif", "file", or for
a directory the names of the files the command writes there). `check_outputs` checks them all
before any work; `cai train --out` has its own check (a run directory)."""

FLAGS = {"plot": "--plot", "json": "--json", "save_demos": "--save-demos", "out": "--out"}
FLAGS["video"] = "--video"


def check_outputs(args) -> None:
    """UsageError (before any work) for an output option that would replace something without
    --force, or that cannot be written (`_io.check_output`)."""
    if args.command == "train" and args.out is not None:  # a run directory: never a file
        check_output_dir("--out", args.out, (), args.force, False)
    written: dict[str, str] = {}  # real path -> the option that writes it
    for dest, kind in OUTPUTS.get(args.command, {}).items():
        path = getattr(args, dest, None)
        if path is None:
            continue
        if isinstance(kind, tuple):
            resume = bool(getattr(args, "resume", False))
            check_output_dir(FLAGS[dest], path, kind, args.force, resume)
            continue
        check_output(FLAGS[dest], path, kind, args.force)
        real = os.path.realpath(output_path(path, kind))
        if real in written:  # the second would silently replace the first, even with --force
            raise UsageError(
                f"{written[real]} and {FLAGS[dest]} both write {output_path(path, kind)}: "
                "give them different names"
            )
        written[real] = FLAGS[dest]


LIST_OPTIONS = ("--prior", "--temperatures", "--discounts", "--samples", "--seeds")
"""Options whose value is a comma-separated list of numbers: argparse reads "-0.1,0.5" as an
option, not a negative number, so `_attach_negative_lists` writes it as --prior=-0.1,0.5."""


NUMERIC = "0123456789.,"


def _attach_negative_lists(argv: list[str]) -> list[str]:
    """argv with `OPTION -0.1,...` (OPTION in LIST_OPTIONS, a value that starts like a
    negative number) joined into `OPTION=-0.1,...`, so that the value reaches its check."""
    out: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "--":
            out.append(arg)
            out.extend(args)
            break
        if out and out[-1] in LIST_OPTIONS and len(arg) > 1 and arg[0] == "-" and arg[1] in NUMERIC:
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


def _error(args, error) -> int:
    """The one-line message of a usage error on stderr; the exit code 2. A library error that
    names a field the command has as an option ("temperature must be ...") names the option
    ("--temperature must be ..."): the user typed the option."""
    message = " ".join(str(error).split())
    field, _, rest = message.partition(" ")
    if rest and field.isidentifier() and field in vars(args) and field != "command":
        message = f"--{field.replace('_', '-')} {rest}"
    print(f"cai {args.command}: error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    """Run one `cai` command in this process (sys.argv[1:] without `argv`); the exit code. Ctrl-C
    during the command prints one line and ends the process with 130 (`_interrupt`)."""
    args = _parse(sys.argv[1:] if argv is None else list(argv))
    with exit_on_interrupt(args.command):
        return _run(args)


def script() -> NoReturn:
    """The `cai` console script and `python -m control_as_inference.cli`: `main`, then the process
    ends with Ctrl-C still handled until the very end (`_interrupt.end_process`)."""
    args = _parse(sys.argv[1:])
    with exit_on_interrupt(args.command):
        end_process(_run(args))


def _parse(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(_attach_negative_lists(argv))


def _run(args) -> int:
    """main's work, with Ctrl-C handled by `exit_on_interrupt`."""
    try:
        check_outputs(args)  # before JAX and any work
    except UsageError as error:
        return _error(args, error)
    if args.x64 is not None:
        import jax

        # The command line is an application: it may choose float64 for its own process (the
        # learning agents train in float32).
        jax.config.update("jax_enable_x64", args.x64)
    if args.x64 is not None and not args.no_compilation_cache:
        # compiled programs are reused by later runs (control_as_inference.compilation_cache)
        from ..compilation_cache import cache_enabled_by_environment, enable_compilation_cache

        try:
            if cache_enabled_by_environment():
                enable_compilation_cache()
        except (ValueError, OSError) as error:  # a bad switch or an unwritable cache folder
            print(f"cai {args.command}: warning: no compilation cache: {error}", file=sys.stderr)
    # a warning is one line on stderr, naming the command, like an error
    formatwarning = warnings.formatwarning
    warnings.formatwarning = lambda message, *_, **__: (
        f"cai {args.command}: warning: {' '.join(str(message).split())}\n"
    )
    try:
        code = args.handler(args)  # None: success; train and resume return 130 after Ctrl-C
    except (UsageError, ValueError) as error:
        return _error(args, error)
    except BrokenPipeError:  # e.g. `cai solve | head`: stop quietly, like other tools
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:  # raised by a handler of the caller's (main() in a thread)
        print(f"cai {args.command}: interrupted", file=sys.stderr)
        return INTERRUPTED
    finally:
        warnings.formatwarning = formatwarning
    return code or 0
