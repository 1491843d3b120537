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
    cai train   sac ENV_ID [--steps 20000] [--seed 0] [--out runs/NAME] [--checkpoint-every 5000]
                [--num-envs 1] [--gradient-steps 1] [agent options]
    cai evaluate RUN [--episodes 10] [--plot FILE.png]
    cai resume  RUN [--steps N]
    cai envs

ENV is a built-in gridworld name, a gymnasium toy-text id (FrozenLake-v1, CliffWalking-v1,
Taxi-v4, ...), a text map file (see `envs.make_gridworld`) or an `.npz` file with arrays
`transitions`, `reward` and optionally `initial`, `action_prior`. Bad arguments and malformed
files exit with code 2 and a one-line message.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

DEFAULT_ENV = "bridge"
GYM_IDS = (
    "FrozenLake-v1",
    "FrozenLake8x8-v1",
    "CliffWalking-v1",
    "CliffWalkingSlippery-v1",
    "Taxi-v4",
)


class UsageError(Exception):
    """A problem with the command line or an input file, reported in one line, exit code 2."""


# ----------------------------------------------------------------------------- arguments


def _add_env(parser) -> None:
    parser.add_argument(
        "env",
        nargs="?",
        default=DEFAULT_ENV,
        help=f"built-in name, gymnasium id, text map or .npz file (default {DEFAULT_ENV})",
    )
    parser.add_argument(
        "--slip", type=float, default=None, help="slip probability for built-in and text maps"
    )


def _add_inference(parser, methods: bool = True) -> None:
    parser.add_argument("--temperature", type=float, default=1.0, help="alpha > 0 (default 1)")
    parser.add_argument(
        "--horizon",
        type=int,
        default=None,
        help="number of steps H (default 30 for grids, 100 for gymnasium models)",
    )
    if methods:
        parser.add_argument(
            "--method",
            choices=("exact", "variational"),
            default="exact",
            help="exact (optimistic) or variational (maximum entropy RL) inference",
        )
        parser.add_argument(
            "--discount", type=float, default=1.0, help="gamma in (0, 1] (default 1)"
        )
    parser.add_argument(
        "--prior",
        default=None,
        help="action prior p(a|s), the same in every state: comma-separated probabilities",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cai", description="Optimal control as probabilistic inference."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    solve = sub.add_parser(
        "solve",
        help="infer the soft-optimal policy of an environment",
        description="Backward and forward messages of control as inference on ENV: prints the "
        "log evidence, the soft value at the start, the policy entropy and, for grids, the "
        "values and the policy as arrows.",
    )
    _add_env(solve)
    _add_inference(solve)
    solve.add_argument("--plot", metavar="FILE.png", help="write the figure to this file")
    solve.add_argument(
        "--json", metavar="FILE", help="write values, policy and marginals as JSON to this file"
    )

    sample = sub.add_parser("sample", help="print trajectories sampled from the posterior")
    _add_env(sample)
    _add_inference(sample)
    sample.add_argument("-n", "--num", type=int, default=5, help="number of trajectories")
    sample.add_argument("--seed", type=int, default=0, help="random seed")

    map_ = sub.add_parser(
        "map", help="print the most probable trajectory (max-product, optimistic)"
    )
    _add_env(map_)
    _add_inference(map_, methods=False)

    compare = sub.add_parser(
        "compare",
        help="exact vs variational inference side by side, evaluated in the real dynamics",
        description="Solves ENV with both methods and rolls both policies out in the true "
        "environment (gymnasium's own step for gymnasium models): exact inference's optimism "
        "shows as a higher evidence and a lower real success rate.",
    )
    _add_env(compare)
    _add_inference(compare, methods=False)
    compare.add_argument("--discount", type=float, default=1.0, help="gamma in (0, 1]")
    compare.add_argument("--episodes", type=int, default=1000, help="evaluation episodes")
    compare.add_argument("--seed", type=int, default=0, help="random seed")
    compare.add_argument("--plot", metavar="FILE.png", help="write the comparison figure")

    irl = sub.add_parser(
        "irl",
        help="maximum-entropy inverse RL: recover a reward from demonstrations",
        description="Fits a reward on one-hot state (or state-action) features to demonstrations "
        "read from an .npz file (arrays states (N, T+1), actions (N, T), optional lengths (N,)) "
        "or sampled from ENV's posterior under its own reward; reports how the recovered "
        "reward's soft-optimal policy scores under the true reward.",
    )
    _add_env(irl)
    _add_inference(irl)
    irl.set_defaults(method="variational")
    irl.add_argument("--demos", metavar="FILE.npz", help="demonstrations to fit")
    irl.add_argument(
        "-n", "--num", type=int, default=500, help="demonstrations to sample without --demos"
    )
    irl.add_argument("--seed", type=int, default=0, help="random seed for sampling")
    irl.add_argument(
        "--features",
        choices=("state", "state-action"),
        default="state",
        help="one-hot features: a reward per state (default) or per state-action pair",
    )
    irl.add_argument(
        "--infinite",
        action="store_true",
        help="discounted infinite horizon (soft value iteration; needs --discount < 1)",
    )
    irl.add_argument("--max-iterations", type=int, default=300, help="optimiser steps")
    irl.add_argument(
        "--l2",
        type=float,
        default=0.01,
        help="L2 regularisation of the reward (default 0.01; one-hot features need some: "
        "unvisited states would otherwise be driven to -inf)",
    )
    irl.add_argument("--plot", metavar="FILE.png", help="true and recovered reward side by side")
    irl.add_argument("--save-demos", metavar="FILE.npz", help="write the demonstrations used")

    plan = sub.add_parser(
        "plan",
        help="plan by sampling (MPPI/CEM) with a JAX model and act in gymnasium",
        description="Closed loop on gymnasium's Pendulum-v1 from the hanging state: every step "
        "plans with MPPI (importance-weighted samples of the trajectory posterior) or CEM on "
        "the JAX model and applies the first action with gymnasium's step.",
    )
    plan.add_argument("task", choices=("pendulum",), help="what to control")
    plan.add_argument("--planner", choices=("mppi", "cem"), default="mppi")
    plan.add_argument("--samples", type=int, default=1000, help="sampled action sequences")
    plan.add_argument("--horizon", type=int, default=15, help="planning horizon")
    plan.add_argument("--temperature", type=float, default=1.0, help="alpha > 0")
    plan.add_argument("--noise", type=float, default=10.0, help="action prior variance")
    plan.add_argument("--adapt", action="store_true", help="adapt the sampling covariance")
    plan.add_argument("--steps", type=int, default=200, help="episode length")
    plan.add_argument("--seed", type=int, default=0, help="random seed")
    plan.add_argument("--plot", metavar="FILE.png", help="angle, torque and cost over time")
    plan.add_argument(
        "--video", metavar="FILE.gif", help="gymnasium's rendering as a GIF (needs pygame)"
    )

    sweep = sub.add_parser(
        "sweep",
        help="a grid of runs as Ray tasks, collected into one table and figure",
        description="Fans out every combination of the listed values as Ray tasks (a local Ray "
        "instance started on demand, or the cluster at --address) and writes one row per run; "
        "a run that fails is reported with its error. Needs the `distributed` extra (ray).",
    )
    sweep.add_argument("envs", nargs="*", default=[DEFAULT_ENV], help="environments (solve)")
    sweep.add_argument("--task", choices=("solve", "mppi"), default="solve")
    sweep.add_argument("--temperatures", default="0.1,0.3,1,3", help="comma-separated")
    sweep.add_argument("--methods", default="exact,variational", help="solve: comma-separated")
    sweep.add_argument("--discounts", default="1", help="solve: comma-separated")
    sweep.add_argument("--horizon", type=int, default=None, help="H (solve 30, mppi 15)")
    sweep.add_argument("--samples", default="1000", help="mppi: comma-separated sample counts")
    sweep.add_argument("--seeds", default="0", help="mppi: comma-separated seeds")
    sweep.add_argument("--steps", type=int, default=200, help="mppi: episode length")
    sweep.add_argument("--address", default=None, help="an existing Ray cluster (host:port)")
    sweep.add_argument("--num-cpus", type=int, default=None, help="CPUs of a local instance")
    sweep.add_argument("--out", metavar="FILE", help="write the table (.csv, else JSON)")
    sweep.add_argument("--plot", metavar="FILE.png", help="metrics against temperature")

    train = sub.add_parser(
        "train",
        help="train SAC, discrete SAC or soft Q-learning on a gymnasium environment",
        description="SAC (continuous actions), discrete SAC or soft Q-learning (discrete "
        "actions) in JAX on a gymnasium environment; logs to OUT/log.csv, checkpoints to OUT "
        "(atomically), Ctrl-C saves and exits. Defaults: rl-zoo's Pendulum-v1 settings for "
        "sac, CartPole-v1 settings for dsac/sql.",
    )
    train.add_argument(
        "agent",
        choices=("sac", "dsac", "sql"),
        help="sac (continuous actions), dsac (discrete SAC) or sql (soft Q-learning)",
    )
    train.add_argument("env_id", help="a gymnasium id, e.g. Pendulum-v1")
    train.add_argument("--steps", type=int, default=20_000, help="environment steps")
    train.add_argument("--seed", type=int, default=0, help="random seed")
    train.add_argument("--out", default=None, help="run directory (default runs/AGENT-ENV-SEED)")
    train.add_argument("--checkpoint-every", type=int, default=5000, help="steps")
    train.add_argument(
        "--num-envs",
        type=int,
        default=1,
        help="environment copies stepped together (gymnasium SyncVectorEnv); each loop step "
        "stores num-envs transitions and makes --gradient-steps updates",
    )
    train.add_argument("--gradient-steps", type=int, default=None, help="updates per loop step")
    train.add_argument(
        "--temperature-loss",
        choices=("eq18", "log"),
        default=None,
        help="sac: Haarnoja et al.'s eq. 18 (default) or SB3's and SBX's log-alpha form",
    )
    train.add_argument("--learning-rate", type=float, default=None)
    train.add_argument("--batch-size", type=int, default=None)
    train.add_argument("--buffer-size", type=int, default=None)
    train.add_argument("--learning-starts", type=int, default=None)
    train.add_argument("--gamma", type=float, default=None)
    train.add_argument("--tau", type=float, default=None)
    train.add_argument("--temperature", type=float, default=None, help="alpha (initial)")
    evaluate = sub.add_parser(
        "evaluate", help="evaluate a training run's policy (deterministic) and plot its curve"
    )
    evaluate.add_argument("run", help="run directory")
    evaluate.add_argument("--episodes", type=int, default=10)
    evaluate.add_argument("--plot", metavar="FILE.png", help="the learning curve")
    resume = sub.add_parser("resume", help="continue a training run from its checkpoint")
    resume.add_argument("run", help="run directory")
    resume.add_argument("--steps", type=int, default=None, help="new total (default: planned)")

    sub.add_parser("envs", help="list the available environments")
    return parser


# ----------------------------------------------------------------------------- environments


def _load(args):
    """ENV -> (mdp, env or None, success states). env is a GridWorld or GymModel when known."""
    from .envs import BUILTINS, builtin, from_gymnasium, make_gridworld

    name = args.env
    slip = {} if args.slip is None else {"slip": args.slip}
    if name in BUILTINS:
        world = builtin(name, **slip)
        return world.mdp, world, world.goals
    if os.path.exists(name):
        if name.endswith(".npz"):
            return _load_npz(name), None, ()
        try:
            with open(name, encoding="utf-8") as handle:
                text = handle.read()
        except (OSError, UnicodeDecodeError) as error:
            raise UsageError(f"cannot read {name}: {error}") from None
        try:
            world = make_gridworld(text, name=os.path.basename(name), **slip)
        except ValueError as error:
            raise UsageError(f"{name} is not a valid map: {error}") from None
        return world.mdp, world, world.goals
    if "-v" in name:
        model = from_gymnasium(name)
        return model.mdp, model, ()
    raise UsageError(
        f"unknown environment {name!r}: not a built-in ({', '.join(BUILTINS)}), a file, or a "
        "gymnasium id; see `cai envs`"
    )


def _load_npz(path: str):
    from .tabular import TabularMDP

    try:
        data = np.load(path)
    except Exception as error:  # numpy raises several types for corrupt files
        raise UsageError(f"cannot read {path} as .npz: {error}") from None
    missing = [k for k in ("transitions", "reward") if k not in data.files]
    if missing:
        raise UsageError(
            f"{path} lacks the array(s) {', '.join(missing)}; it needs transitions (S, A, S) "
            "and reward (S, A), optionally initial (S,) and action_prior (S, A)"
        )
    try:
        return TabularMDP(
            data["transitions"],
            data["reward"],
            data["initial"] if "initial" in data.files else None,
            data["action_prior"] if "action_prior" in data.files else None,
        )
    except ValueError as error:
        raise UsageError(f"{path}: {error}") from None


def _with_prior(mdp, prior: str | None):
    if prior is None:
        return mdp
    from .tabular import TabularMDP

    try:
        probs = np.array([float(x) for x in prior.split(",")])
    except ValueError:
        raise UsageError(f"--prior must be comma-separated numbers, got {prior!r}") from None
    if probs.shape != (mdp.num_actions,):
        raise UsageError(f"--prior needs {mdp.num_actions} probabilities, got {len(probs)}")
    prior_table = np.broadcast_to(probs, (mdp.num_states, mdp.num_actions))
    try:
        return TabularMDP(mdp.transitions, mdp.reward, mdp.initial, prior_table)
    except ValueError as error:
        raise UsageError(f"--prior: {error}") from None


def _horizon(args, env) -> int:
    from .envs import GymModel

    if args.horizon is not None:
        return args.horizon
    return 100 if isinstance(env, GymModel) else 30


def _is_grid(env) -> bool:
    return env is not None and getattr(env, "layout", None) is not None


# ----------------------------------------------------------------------------- output


def _format_grid(grid: np.ndarray) -> str:
    width = max(len(str(cell)) for cell in grid.ravel())
    return "\n".join("  " + " ".join(f"{cell!s:>{width}}" for cell in row) for row in grid)


def _arrow_grid(env, log_policy) -> np.ndarray:
    arrows = np.array(env.arrows, dtype=object)[np.asarray(log_policy).argmax(axis=1)]
    for state, char in env.marks().items():
        if char in "GL":
            arrows[state] = char
    return env.to_grid(arrows, fill="#")


def _table(rows: list[tuple[str, str]]) -> str:
    width = max(len(key) for key, _ in rows)
    return "\n".join(f"  {key:<{width}}  {value}" for key, value in rows)


def _describe(args, mdp, env, horizon) -> str:
    name = getattr(env, "name", None) or getattr(env, "env_id", None) or args.env
    return f"{name}: {mdp.num_states} states, {mdp.num_actions} actions, horizon {horizon}"


def _summary(post, mdp) -> list[tuple[str, str]]:
    from .plotting import expected_entropy

    v0 = np.asarray(post.v[0])
    label = "log evidence" if post.method == "exact" else "evidence lower bound"
    return [
        ("method", post.method),
        ("temperature", f"{float(post.temperature):g}"),
        ("discount", f"{float(post.discount):g}"),
        (label, f"{float(post.log_evidence):.4f}"),
        ("soft value at the start", f"{float(np.asarray(mdp.initial) @ v0):.4f}"),
        ("policy entropy at t = 0", f"{float(expected_entropy(post)[0]):.4f} nats"),
    ]


def _infer(args, mdp, env, method=None):
    from .tabular import infer

    horizon = _horizon(args, env)
    return infer(mdp, horizon, args.temperature, method or args.method, args.discount)


# ----------------------------------------------------------------------------- commands


def _solve(args) -> None:
    mdp, env, _ = _load(args)
    mdp = _with_prior(mdp, args.prior)
    post = _infer(args, mdp, env)
    print(_describe(args, mdp, env, post.horizon))
    print(_table(_summary(post, mdp)))
    if _is_grid(env):
        values = np.char.mod("%.1f", np.round(np.asarray(post.v[0]), 1) + 0.0).astype(object)
        print("\nsoft values V_0(s):")
        print(_format_grid(env.to_grid(values, fill="#")))
        print("\nmost probable action at t = 0 (G goal, L lava or hole, # wall):")
        print(_format_grid(_arrow_grid(env, post.log_policy[0])))
    if args.plot:
        from .plotting import plot_grid, plot_over_time

        fig = plot_grid(env, post) if _is_grid(env) else plot_over_time(post)
        _save(fig, args.plot)
    if args.json:
        _write_json(args, post)


def _save(fig, path: str) -> None:
    try:
        fig.savefig(path, dpi=100)
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot write the figure to {path}: {error}") from None
    print(f"\nfigure written to {path}")


def _write_json(args, post) -> None:
    result = {
        "env": args.env,
        "method": post.method,
        "temperature": float(post.temperature),
        "discount": float(post.discount),
        "horizon": post.horizon,
        "log_evidence": float(post.log_evidence),
        "values": np.asarray(post.v).tolist(),
        "policy": np.asarray(post.policy).tolist(),
        "state_marginals": np.asarray(post.state_marginals).tolist(),
        "state_action_marginals": np.asarray(post.state_action_marginals).tolist(),
    }
    try:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(result, handle)
    except OSError as error:
        raise UsageError(f"cannot write {args.json}: {error}") from None
    print(f"results written to {args.json}")


def _state_name(env, s: int) -> str:
    if _is_grid(env):
        if s < len(env.cells):
            i, j = env.cells[s]
            return f"({i},{j})"
        return "done" if s == env.mdp.num_states - 1 else f"end{s}"
    return str(s)


def _sample(args) -> None:
    import jax

    from .tabular import log_prob, sample

    if args.num < 1:
        raise UsageError(f"-n must be >= 1, got {args.num}")
    mdp, env, _ = _load(args)
    mdp = _with_prior(mdp, args.prior)
    post = _infer(args, mdp, env)
    states, actions = sample(post, jax.random.key(args.seed), args.num)
    scores = log_prob(post, states, actions)
    print(_describe(args, mdp, env, post.horizon) + f", {post.method} posterior")
    arrows = env.arrows if _is_grid(env) else None
    for i in range(args.num):
        path = [_state_name(env, int(states[i, 0]))]
        for t in range(post.horizon):
            a = int(actions[i, t])
            path.append(arrows[a] if arrows else f"-{a}->")
            path.append(_state_name(env, int(states[i, t + 1])))
        print(f"  log p = {float(scores[i]):9.3f}  " + " ".join(path))


def _map(args) -> None:
    from .tabular import most_probable_trajectory

    mdp, env, _ = _load(args)
    mdp = _with_prior(mdp, args.prior)
    horizon = _horizon(args, env)
    states, actions = most_probable_trajectory(mdp, horizon, args.temperature)
    print(_describe(args, mdp, env, horizon) + ", most probable trajectory")
    arrows = env.arrows if _is_grid(env) else None
    path = [_state_name(env, int(states[0]))]
    for t in range(horizon):
        a = int(actions[t])
        path.append(arrows[a] if arrows else f"-{a}->")
        path.append(_state_name(env, int(states[t + 1])))
    print("  " + " ".join(path))


def _compare(args) -> None:
    import jax

    from .envs import GymModel, evaluate, simulate

    if args.episodes < 1:
        raise UsageError(f"--episodes must be >= 1, got {args.episodes}")
    mdp, env, goals = _load(args)
    mdp = _with_prior(mdp, args.prior)
    posts = [_infer(args, mdp, env, method) for method in ("exact", "variational")]
    key = jax.random.key(args.seed)
    results = []
    for post in posts:
        if isinstance(env, GymModel):
            results.append(evaluate(post.policy, env, args.episodes, key))
        else:
            results.append(simulate(mdp, post.policy, args.episodes, key, goals))
    where = "gymnasium's step" if isinstance(env, GymModel) else "the true model"
    print(_describe(args, mdp, env, posts[0].horizon))
    print(f"  {'':28s} {'exact':>12s} {'variational':>12s}")
    rows = [
        ("log evidence / bound", [float(p.log_evidence) for p in posts]),
        ("soft value at the start", [float(np.asarray(mdp.initial) @ p.v[0]) for p in posts]),
        (f"mean return ({args.episodes} ep.)", [r.mean_return for r in results]),
        ("success rate", [r.success_rate for r in results]),
    ]
    for label, (a, b) in rows:
        print(f"  {label:28s} {a:12.4f} {b:12.4f}")
    print(f"  (returns and success measured by rolling each policy out with {where})")
    if _is_grid(env):
        for post in posts:
            print(f"\n{post.method}: most probable action at t = 0")
            print(_format_grid(_arrow_grid(env, post.log_policy[0])))
    if args.plot:
        from .plotting import plot_comparison

        _save(plot_comparison(env if _is_grid(env) else None, *posts), args.plot)


def _read_demos(path: str):
    from .irl import as_demonstrations

    try:
        data = np.load(path)
    except Exception as error:  # numpy raises several types for corrupt files
        raise UsageError(f"cannot read {path} as .npz: {error}") from None
    missing = [k for k in ("states", "actions") if k not in data.files]
    if missing:
        raise UsageError(
            f"{path} lacks the array(s) {', '.join(missing)}; it needs states (N, T+1) and "
            "actions (N, T), optionally lengths (N,)"
        )
    lengths = data["lengths"] if "lengths" in data.files else None
    try:
        return as_demonstrations(data["states"], data["actions"], lengths)
    except ValueError as error:
        raise UsageError(f"{path}: {error}") from None


def _expected_return(mdp, reward, log_policy, horizon, discount) -> float:
    """E[sum_t gamma^t r_t(s_t, a_t)] of a policy, (S, A) stationary or (H, S, A), in the true
    dynamics (forward propagation in numpy); reward is (S, A) or (H, S, A)."""
    reward = np.asarray(reward)
    policy = np.exp(np.asarray(log_policy))
    transitions = np.asarray(mdp.dense_transitions())
    p = np.asarray(mdp.initial)
    total = 0.0
    for t in range(horizon):
        pi_t = policy if policy.ndim == 2 else policy[t]
        r_t = reward if reward.ndim == 2 else reward[t]
        joint = p[:, None] * pi_t
        total += discount**t * np.sum(np.where(joint > 0, joint * r_t, 0.0))
        p = np.einsum("sa,sat->t", joint, transitions)
    return float(total)


def _irl(args) -> None:
    import jax

    from .irl import maxent_irl
    from .tabular import infer, sample, soft_value_iteration

    if args.num < 1:
        raise UsageError(f"-n must be >= 1, got {args.num}")
    if args.max_iterations < 1:
        raise UsageError(f"--max-iterations must be >= 1, got {args.max_iterations}")
    if not args.l2 >= 0:
        raise UsageError(f"--l2 must be >= 0, got {args.l2}")
    mdp, env, _ = _load(args)
    mdp = _with_prior(mdp, args.prior)
    if mdp.time_varying:
        raise UsageError("cai irl needs a stationary (S, A) reward in ENV")
    horizon = None if args.infinite else _horizon(args, env)
    if args.infinite and not args.discount < 1:
        raise UsageError("--infinite needs --discount < 1 (e.g. --discount 0.95)")
    # the demonstrator's posterior under the true reward
    if horizon is None:
        truth = soft_value_iteration(mdp, args.temperature, args.discount)
    else:
        truth = infer(mdp, horizon, args.temperature, args.method, args.discount)
    if args.demos:
        demos = _read_demos(args.demos)
        source = args.demos
    elif horizon is None:  # episodes from the stationary soft-optimal policy
        import equinox as eqx

        length = 3 * _horizon(args, env)
        rollout = infer(mdp, length, args.temperature, "variational", 1.0)
        policy = jax.numpy.broadcast_to(truth.log_policy, rollout.log_policy.shape)
        rollout = eqx.tree_at(lambda post: post.log_policy, rollout, policy)
        demos = sample(rollout, jax.random.key(args.seed), args.num)
        source = f"{args.num} episodes of {length} steps from the true soft-optimal policy"
    else:
        demos = sample(truth, jax.random.key(args.seed), args.num)
        source = f"{args.num} trajectories sampled from the {args.method} posterior"
    states, actions = demos[0], demos[1]
    if args.save_demos:
        try:
            np.savez(args.save_demos, states=np.asarray(states), actions=np.asarray(actions))
        except OSError as error:
            raise UsageError(f"cannot write {args.save_demos}: {error}") from None
    s, a = mdp.num_states, mdp.num_actions
    features = np.eye(s) if args.features == "state" else np.eye(s * a).reshape(s, a, s * a)
    fit = maxent_irl(
        mdp,
        features,
        demos,
        horizon=horizon,
        temperature=args.temperature,
        discount=args.discount,
        method=args.method,
        max_iterations=args.max_iterations,
        regularization=args.l2,
        progress=sys.stderr.isatty(),
    )
    gamma = args.discount
    steps = horizon if horizon is not None else int(np.ceil(np.log(1e-4) / np.log(gamma)))
    uniform = np.log(np.asarray(mdp.action_prior))
    returns = [
        (
            "the true reward's policy",
            _expected_return(mdp, mdp.reward, truth.log_policy, steps, gamma),
        ),
        (
            "the recovered reward's policy",
            _expected_return(mdp, mdp.reward, fit.solution.log_policy, steps, gamma),
        ),
        ("the action prior (no reward)", _expected_return(mdp, mdp.reward, uniform, steps, gamma)),
    ]
    print(_describe(args, mdp, env, "infinite" if horizon is None else horizon))
    print(f"demonstrations: {source}")
    print(
        _table(
            [
                ("features", f"one-hot {args.features} ({features.shape[-1]})"),
                ("method", args.method),
                (
                    "iterations",
                    f"{fit.iterations} ({'converged' if fit.converged else 'not converged'})",
                ),
                ("log-likelihood per demonstration", f"{fit.log_likelihood[-1]:.4f}"),
                ("max feature-count gap", f"{fit.feature_gap[-1]:.2e} (L2 {args.l2:g})"),
            ]
        )
    )
    print(f"\nexpected true return over {steps} steps (discount {gamma:g}) of")
    print(_table([(name, f"{value:.4f}") for name, value in returns]))
    if args.plot:
        from .plotting import plot_rewards

        truth_reward = np.asarray(mdp.reward)
        _save(
            plot_rewards(env if _is_grid(env) else None, truth_reward, np.asarray(fit.reward)),
            args.plot,
        )


def _plan(args) -> None:
    import jax

    from .mppi import pendulum_config, pendulum_episode, save_gif

    if args.steps < 1:
        raise UsageError(f"--steps must be >= 1, got {args.steps}")
    if args.video:
        # headless rendering, without pygame's greeting on stdout
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
        try:
            import pygame  # noqa: F401
        except ImportError:
            raise UsageError(
                "--video renders with gymnasium, which needs pygame: "
                "pip install 'control-as-inference[video]'"
            ) from None
    config = pendulum_config(
        args.samples,
        horizon=args.horizon,
        temperature=args.temperature,
        noise_cov=args.noise,
        adapt_covariance=args.adapt,
    )
    episode = pendulum_episode(
        config,
        jax.random.key(args.seed),
        args.steps,
        planner=args.planner,
        progress=sys.stderr.isatty(),
        render=bool(args.video),
        seed=args.seed,
    )
    angle = (episode.states[:, 0] + np.pi) % (2 * np.pi) - np.pi
    upright = np.abs(angle) < 0.1
    # the first step from which the pendulum stays within 0.1 rad of upright
    stays = np.flatnonzero(~upright)
    since = 0 if stays.size == 0 else int(stays[-1]) + 1
    print(
        f"Pendulum-v1 from hanging, {args.planner}: {args.samples} samples, horizon "
        f"{args.horizon}, temperature {args.temperature:g}, noise variance {args.noise:g}"
    )
    print(
        _table(
            [
                ("total cost", f"{episode.total_cost:.1f}"),
                (
                    "upright (|angle| < 0.1)",
                    f"from step {since} to the end" if since < len(angle) else "not at the end",
                ),
                ("planning time per step", f"{1e3 * np.median(episode.plan_seconds):.2f} ms"),
                ("effective sample size", f"{np.median(episode.effective_sample_size):.0f}"),
            ]
        )
    )
    if args.plot:
        from .plotting import plot_episode

        _save(plot_episode(episode), args.plot)
    if args.video:
        try:
            save_gif(episode.frames, args.video, fps=20)
        except (OSError, ValueError) as error:
            raise UsageError(f"cannot write {args.video}: {error}") from None
        print(f"video written to {args.video}")


def _numbers(text: str, name: str, kind=float) -> list:
    try:
        values = [kind(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"{name} must be comma-separated numbers, got {text!r}") from None
    if not values:
        raise UsageError(f"{name} is empty")
    return values


def _sweep(args) -> None:
    from .distributed import grid, plot_sweep, run_sweep, write_table

    temperatures = _numbers(args.temperatures, "--temperatures")
    if args.task == "solve":
        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
        runs = grid(
            env=args.envs,
            temperature=temperatures,
            method=methods,
            discount=_numbers(args.discounts, "--discounts"),
            horizon=[args.horizon or 30],
        )
    else:
        runs = grid(
            temperature=temperatures,
            samples=_numbers(args.samples, "--samples", int),
            seed=_numbers(args.seeds, "--seeds", int),
            horizon=[args.horizon or 15],
            steps=[args.steps],
        )
    rows = run_sweep(runs, args.task, args.address, args.num_cpus, progress=sys.stderr.isatty())
    metrics = [c for c in dict.fromkeys(k for row in rows for k in row) if c not in runs[0]]
    print(f"{len(rows)} runs ({sum(not r['error'] for r in rows)} succeeded) on Ray")
    shown = list(runs[0]) + [m for m in metrics if m != "error"]
    print("  " + " ".join(f"{c:>15s}" for c in shown))
    for row in rows:
        cells = []
        for c in shown:
            value = row.get(c, "")
            cells.append(f"{value:15.4g}" if isinstance(value, float) else f"{value!s:>15s}")
        line = "  " + " ".join(cells)
        if row["error"]:
            line += f"  error: {row['error']}"
        print(line)
    if args.out:
        try:
            write_table(rows, args.out)
        except OSError as error:
            raise UsageError(f"cannot write {args.out}: {error}") from None
        print(f"table written to {args.out}")
    if args.plot:
        _save(plot_sweep(rows, x="temperature"), args.plot)


def _train(args) -> None:
    import jax

    from .agents import DiscreteConfig, SACConfig, evaluate, train

    if args.steps < 1:
        raise UsageError(f"--steps must be >= 1, got {args.steps}")
    if args.checkpoint_every < 1:
        raise UsageError(f"--checkpoint-every must be >= 1, got {args.checkpoint_every}")
    if args.num_envs < 1:
        raise UsageError(f"--num-envs must be >= 1, got {args.num_envs}")
    names = (
        "learning_rate",
        "batch_size",
        "buffer_size",
        "learning_starts",
        "gamma",
        "tau",
        "gradient_steps",
    )
    settings = {k: getattr(args, k) for k in names if getattr(args, k) is not None}
    if args.agent == "sac":
        if args.temperature is not None:
            settings["initial_temperature"] = args.temperature
        if args.temperature_loss is not None:
            settings["temperature_loss_form"] = args.temperature_loss
        config = SACConfig(**settings)
    else:
        if args.temperature_loss is not None:
            raise UsageError("--temperature-loss applies to sac only")
        if args.temperature is not None:
            settings["temperature"] = args.temperature
        config = DiscreteConfig(algorithm=args.agent, **settings)
    out = args.out or os.path.join("runs", f"{args.agent}-{args.env_id}-{args.seed}")
    result = train(
        config,
        args.env_id,
        jax.random.key(args.seed),
        args.steps,
        out,
        args.checkpoint_every,
        args.seed,
        progress=sys.stderr.isatty(),
        num_envs=args.num_envs,
    )
    _report_run(result, out, evaluate, args.env_id)


def _report_run(result, out, evaluate, env_id) -> None:
    history = result.history
    if result.interrupted:
        print(
            f"interrupted at step {int(result.state.step)}: checkpoint saved in {out}; "
            f"continue with `cai resume {out}`"
        )
        return
    recent = np.mean([row["return"] for row in history[-10:]]) if history else float("nan")
    returns = evaluate(result.state, env_id, 10)
    print(f"{env_id}: {int(result.state.step)} steps, {len(history)} episodes in {out}")
    print(
        _table(
            [
                ("mean return, last 10 episodes", f"{recent:.1f}"),
                (
                    "deterministic evaluation (10 ep.)",
                    f"{returns.mean():.1f} +- {returns.std():.1f}",
                ),
            ]
        )
    )


def _resume(args) -> None:
    from .agents import evaluate, resume

    if args.steps is not None and args.steps < 1:
        raise UsageError(f"--steps must be >= 1, got {args.steps}")
    result = resume(args.run, args.steps, progress=sys.stderr.isatty())
    with open(os.path.join(args.run, "config.json"), encoding="utf-8") as handle:
        env_id = json.load(handle)["env_id"]
    _report_run(result, args.run, evaluate, env_id)


def _evaluate(args) -> None:
    from .agents import evaluate, load_run
    from .agents.train import _read_log

    if args.episodes < 1:
        raise UsageError(f"--episodes must be >= 1, got {args.episodes}")
    state, run = load_run(args.run)
    returns = evaluate(state, run["env_id"], args.episodes)
    print(f"{args.run}: {run['env_id']}, step {int(state.step)}")
    print(
        _table(
            [
                (
                    f"deterministic evaluation ({args.episodes} ep.)",
                    f"{returns.mean():.1f} +- {returns.std():.1f}",
                ),
            ]
        )
    )
    if args.plot:
        from .plotting import plot_learning_curve

        history = _read_log(args.run)
        if not history:
            raise UsageError(f"{args.run}/log.csv has no finished episodes to plot")
        _save(plot_learning_curve(history, f"{run['env_id']}: {args.run}"), args.plot)


def _envs(_args) -> None:
    from .envs import BUILTINS

    print("built-in gridworlds:")
    for name, spec in BUILTINS.items():
        print(f"  {name:24s} {spec['doc']}")
    print("gymnasium toy-text models (exact, from env.unwrapped.P):")
    for name in GYM_IDS:
        print(f"  {name}")
    print(
        "files: a text map (. # S G L) or an .npz with transitions, reward[, initial, action_prior]"
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `cai` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    import jax

    # The command line is an application: it may choose float64 for its own process (the
    # learning agents train in float32).
    jax.config.update("jax_enable_x64", args.command not in ("train", "evaluate", "resume"))
    command = {
        "solve": _solve,
        "sample": _sample,
        "map": _map,
        "compare": _compare,
        "irl": _irl,
        "plan": _plan,
        "sweep": _sweep,
        "train": _train,
        "evaluate": _evaluate,
        "resume": _resume,
        "envs": _envs,
    }[args.command]
    try:
        command(args)
    except (UsageError, ValueError) as error:
        message = " ".join(str(error).split())
        print(f"cai {args.command}: error: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `cai solve | head`: stop quietly, like other tools
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
