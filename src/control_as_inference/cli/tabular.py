"""cai solve | sample | map | compare | envs: tabular inference on an environment by name, and the
arguments every tabular command shares (ENV, --slip, the inference options, --prior)."""

from __future__ import annotations

from ._io import (
    UsageError,
    absorbed_at,
    absorbing_states,
    absorption_note,
    arrow_grid,
    at_least,
    fixed,
    format_grid,
    is_grid,
    print_trajectory,
    prior_probabilities,
    save_figure,
    state_map,
    state_name,
    table,
    writing,
)
from ._sizes import check_horizon, check_trajectories

DEFAULT_ENV = "bridge"


# ----------------------------------------------------------------------------- arguments


def add_env(parser) -> None:
    parser.add_argument(
        "env",
        nargs="?",
        default=DEFAULT_ENV,
        help=f"built-in name, gymnasium id, text map or .npz file (default: {DEFAULT_ENV})",
    )
    parser.add_argument(
        "--slip",
        type=float,
        default=None,
        help="slip probability of a built-in or a text map (default: the built-in's own, see "
        "`cai envs`; 0 for a text map)",
    )


def add_inference(parser, methods: bool = True, method: str | None = "exact") -> None:
    """--temperature, --horizon, --prior and (methods) --method (default `method`; None: exact
    for an MDP, variational for a POMDP), --discount."""
    parser.add_argument("--temperature", type=float, default=1.0, help="alpha > 0 (default: 1)")
    parser.add_argument(
        "--horizon",
        type=int,
        default=None,
        help="number of steps H (default: 30 for grids and .npz files, 100 for gymnasium models)",
    )
    if methods:
        parser.add_argument(
            "--method",
            choices=("exact", "variational"),
            default=method,
            help="exact (optimistic) or variational (maximum entropy RL) inference "
            f"(default: {method or 'exact; variational for a POMDP, the only one over beliefs'})",
        )
        parser.add_argument(
            "--discount", type=float, default=1.0, help="gamma in (0, 1] (default: 1)"
        )
    parser.add_argument(
        "--prior",
        default=None,
        help="action prior p(a|s), the same in every state: comma-separated probabilities "
        "(default: uniform)",
    )


ABSORPTION = (
    " Each trajectory is printed up to its first absorbing state (such as done, which it never "
    "leaves and which pays nothing); one line below the trajectories says so."
)


def add_parsers(sub) -> None:
    """solve, sample, map and compare (envs comes last in the help: `add_envs_parser`)."""
    solve_ = sub.add_parser(
        "solve",
        help="infer the soft-optimal policy of an environment",
        description="Backward and forward messages of control as inference on ENV: prints the "
        "log evidence, the soft value at the start, the policy entropy and, for grids, the "
        "values and the policy as arrows. --json also lists every state index with its name "
        "and grid cell, naming the extra absorbing states (end(r=R), done).",
    )
    add_env(solve_)
    add_inference(solve_, method=None)
    solve_.add_argument("--plot", metavar="FILE.png", help="write the figure to this file")
    solve_.add_argument(
        "--json",
        metavar="FILE",
        help="write values, policy, marginals and the state map (index -> name, cell) as JSON",
    )
    solve_.set_defaults(handler=solve, x64=True)

    sample_ = sub.add_parser(
        "sample",
        help="print trajectories sampled from the posterior",
        description="Draws trajectories from the trajectory posterior of ENV (exact or "
        "variational) and prints each with its log-probability under that posterior (of the "
        "part printed)." + ABSORPTION,
    )
    add_env(sample_)
    add_inference(sample_)
    sample_.add_argument(
        "-n", "--num", type=int, default=5, help="number of trajectories (default: 5)"
    )
    sample_.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    sample_.set_defaults(handler=sample, x64=True)

    map_ = sub.add_parser(
        "map",
        help="print the most probable trajectory (max-product, optimistic)",
        description="The single most probable trajectory of ENV given optimality (max-product "
        "inference: it picks the best actions and the luckiest outcomes of the dynamics)."
        + ABSORPTION,
    )
    add_env(map_)
    add_inference(map_, methods=False)
    map_.set_defaults(handler=most_probable, x64=True)

    compare_ = sub.add_parser(
        "compare",
        help="exact vs variational inference side by side, evaluated in the real dynamics",
        description="Solves ENV with both methods and rolls both policies out in the true "
        "environment (gymnasium's own step for gymnasium models): exact inference's optimism "
        "shows as a higher evidence and a lower real success rate.",
    )
    add_env(compare_)
    add_inference(compare_, methods=False)
    compare_.add_argument(
        "--discount", type=float, default=1.0, help="gamma in (0, 1] (default: 1)"
    )
    compare_.add_argument(
        "--episodes", type=int, default=1000, help="evaluation episodes (default: 1000)"
    )
    compare_.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    compare_.add_argument("--plot", metavar="FILE.png", help="write the comparison figure")
    compare_.set_defaults(handler=compare, x64=True)


def add_envs_parser(sub) -> None:
    sub.add_parser(
        "envs",
        help="list the available environments",
        description="Lists the built-in gridworlds, the gymnasium toy-text models and the file "
        "formats that every ENV argument accepts.",
    ).set_defaults(handler=envs, x64=None)


# ----------------------------------------------------------------------------- environments


def load(args):
    """ENV (with --slip and --prior) -> `envs.LoadedEnv`; a POMDP is refused (only `cai solve`
    takes one)."""
    from .pomdp import names_pomdp

    if names_pomdp(args.env):
        raise UsageError(
            f"{args.env} is a POMDP (it has observations): only `cai solve` handles one; "
            f"`cai {args.command}` needs a fully observed model"
        )
    return load_mdp(args)


def load_mdp(args):
    """ENV (with --slip and --prior) -> `envs.LoadedEnv`, ENV known not to be a POMDP."""
    from ..envs import load_env

    loaded = load_env(args.env, args.slip)
    return loaded._replace(mdp=with_prior(loaded.mdp, args.prior))


def with_prior(mdp, prior: str | None):
    """The model with --prior as its action prior in every state."""
    if prior is None:
        return mdp
    import numpy as np

    from ..tabular import TabularMDP

    probs = prior_probabilities(prior)
    if probs.shape != (mdp.num_actions,):
        raise UsageError(f"--prior needs {mdp.num_actions} probabilities, got {len(probs)}")
    prior_table = np.broadcast_to(probs, (mdp.num_states, mdp.num_actions))
    try:
        return TabularMDP(mdp.transitions, mdp.reward, mdp.initial, prior_table)
    except ValueError as error:
        raise UsageError(f"--prior: {error}") from None


def horizon_of(args, loaded) -> int:
    """--horizon, or the environment's default; refused when a posterior over it cannot fit in
    memory (`_sizes.check_horizon`)."""
    horizon = loaded.horizon if args.horizon is None else args.horizon
    check_horizon(loaded.mdp, horizon)
    return horizon


def positive_horizon(args) -> None:
    """UsageError for --horizon 0 where the command needs at least one action."""
    if args.horizon == 0:
        raise UsageError(f"--horizon must be >= 1 for `cai {args.command}`, got 0")


def describe(loaded, horizon) -> str:
    mdp = loaded.mdp
    return f"{loaded.name}: {mdp.num_states} states, {mdp.num_actions} actions, horizon {horizon}"


def infer_on(args, loaded, method=None):
    from ..tabular import infer

    method = method or args.method or "exact"
    return infer(loaded.mdp, horizon_of(args, loaded), args.temperature, method, args.discount)


# ----------------------------------------------------------------------------- commands


def summary(post, mdp) -> list[tuple[str, str]]:
    import numpy as np

    from ..tabular import expected_entropy

    v0 = np.asarray(post.v[0])
    label = "log evidence" if post.method == "exact" else "evidence lower bound"
    # horizon 0: no action is taken, the evidence is 1 and there is no policy at t = 0
    entropy = expected_entropy(post)
    entropy_text = f"{fixed(entropy[0])} nats" if len(entropy) else "n/a (horizon 0)"
    return [
        ("method", post.method),
        ("temperature", f"{float(post.temperature):g}"),
        ("discount", f"{float(post.discount):g}"),
        (label, fixed(post.log_evidence)),
        ("soft value at the start", fixed(np.asarray(mdp.initial) @ v0)),
        ("policy entropy at t = 0", entropy_text),
    ]


def solve(args) -> None:
    import numpy as np

    from .pomdp import names_pomdp, solve_pomdp

    if names_pomdp(args.env):
        return solve_pomdp(args)
    loaded = load_mdp(args)
    env = loaded.env
    if args.plot and args.horizon == 0:
        raise UsageError("--plot needs --horizon >= 1 (a horizon-0 posterior has no policy)")
    post = infer_on(args, loaded)
    print(describe(loaded, post.horizon))
    print(table(summary(post, loaded.mdp)))
    if is_grid(env):
        values = np.char.mod("%.1f", np.round(np.asarray(post.v[0]), 1) + 0.0).astype(object)
        print("\nsoft values V_0(s):")
        print(format_grid(env.to_grid(values, fill="#")))
        if post.horizon == 0:
            print("\nno action at horizon 0: the policy is empty")
        else:
            print("\nmost probable action at t = 0 (G goal, L lava or hole, # wall):")
            print(format_grid(arrow_grid(env, post.log_policy[0])))
    if args.plot:
        from ..plotting import plot_grid, plot_over_time

        fig = plot_grid(env, post) if is_grid(env) else plot_over_time(post)
        save_figure(fig, args.plot)
    if args.json:
        write_json(args, post, env)


def write_json(args, post, env) -> None:
    import json

    import numpy as np

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
        # the state axis of every array above: index -> name, grid cell, extra absorbing states
        "states": state_map(env, post.mdp.num_states),
    }
    with writing(args.json) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        json.dump(result, handle)
    print(f"results written to {args.json}")


def sample(args) -> None:
    import jax
    import numpy as np

    from ..tabular import log_prob
    from ..tabular import sample as sample_posterior

    at_least("-n", args.num, 1)
    positive_horizon(args)
    loaded = load(args)
    check_trajectories("-n", args.num, horizon_of(args, loaded))
    post = infer_on(args, loaded)
    states, actions = sample_posterior(post, jax.random.key(args.seed), args.num)
    scores = np.asarray(log_prob(post, states, actions))
    states, actions = np.asarray(states), np.asarray(actions)
    log_policy = np.asarray(post.log_policy)
    absorbing = absorbing_states(loaded.mdp)
    print(describe(loaded, post.horizon) + f", {post.method} posterior")
    reached = set()
    for i in range(args.num):
        t = absorbed_at(states[i], absorbing)
        # log p of the part shown: the actions after absorption change nothing (the state
        # stays, with probability 1), so their log pi is left out
        after = np.arange(t, post.horizon)
        score = scores[i] - log_policy[after, states[i, after], actions[i, after]].sum()
        if t < post.horizon:
            reached.add(state_name(loaded.env, int(states[i, t])))
        prefix = f"  log p = {fixed(score, 3):>9s}  "
        print_trajectory(loaded.env, states[i, : t + 1], actions[i, :t], prefix)
    if reached:
        print(absorption_note(reached, log_p=True))


def most_probable(args) -> None:
    """cai map."""
    from ..tabular import most_probable_trajectory

    loaded = load(args)
    horizon = horizon_of(args, loaded)
    states, actions = most_probable_trajectory(loaded.mdp, horizon, args.temperature)
    print(describe(loaded, horizon) + ", most probable trajectory")
    t = absorbed_at(states, absorbing_states(loaded.mdp))
    print_trajectory(loaded.env, states[: t + 1], actions[:t])
    if t < horizon:
        print(absorption_note({state_name(loaded.env, int(states[t]))}, log_p=False))


def compare(args) -> None:
    import jax
    import numpy as np

    from ..envs import GymModel, evaluate_policy, simulate

    at_least("--episodes", args.episodes, 1)
    positive_horizon(args)
    loaded = load(args)
    mdp, env = loaded.mdp, loaded.env
    posts = [infer_on(args, loaded, method) for method in ("exact", "variational")]
    key = jax.random.key(args.seed)
    gym = isinstance(env, GymModel)
    results = [
        evaluate_policy(post.policy, env, args.episodes, key)
        if gym
        else simulate(mdp, post.policy, args.episodes, key, loaded.goals)
        for post in posts
    ]
    where = "gymnasium's step" if gym else "the true model"
    print(describe(loaded, posts[0].horizon))
    print(f"  {'':28s} {'exact':>12s} {'variational':>12s}")
    rows = [
        ("log evidence / bound", [float(p.log_evidence) for p in posts]),
        ("soft value at the start", [float(np.asarray(mdp.initial) @ p.v[0]) for p in posts]),
        (f"mean return ({args.episodes} ep.)", [r.mean_return for r in results]),
        ("success rate", [r.success_rate for r in results]),
    ]
    for label, (a, b) in rows:
        print(f"  {label:28s} {fixed(a):>12s} {fixed(b):>12s}")
    print(f"  (returns and success measured by rolling each policy out with {where})")
    if is_grid(env):
        for post in posts:
            print(f"\n{post.method}: most probable action at t = 0")
            print(format_grid(arrow_grid(env, post.log_policy[0])))
    if args.plot:
        from ..plotting import plot_comparison

        fig = plot_comparison(env if is_grid(env) else None, *posts, rollouts=results)
        save_figure(fig, args.plot)


def envs(_args) -> None:
    from ..envs import BUILTINS, GYM_IDS

    print("built-in gridworlds:")
    for name, spec in BUILTINS.items():
        print(f"  {name:24s} {spec['doc']}")
    print("gymnasium toy-text models (exact, from env.unwrapped.P):")
    for name in GYM_IDS:
        print(f"  {name}")
    print(
        "files: a text map (. # S G L) or an .npz with transitions, reward[, initial, action_prior]"
    )
    print(
        "POMDPs (cai solve): tiger, or an .npz with transitions, observations, reward[, initial, "
        "action_prior]"
    )
