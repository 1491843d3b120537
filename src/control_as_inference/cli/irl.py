"""cai irl: maximum-entropy inverse RL on an environment, from demonstrations in an .npz file or
sampled from the environment's own posterior."""

from __future__ import annotations

import sys

from ._io import UsageError, at_least, fixed, is_grid, save_figure, save_npz, table
from ._sizes import finite_at_least
from .irl_demos import read_demos
from .irl_methods import add_method_options, dispatch
from .tabular import add_env, add_inference, describe, horizon_of, load


def add_parsers(sub) -> None:
    irl = sub.add_parser(
        "irl",
        help="inverse RL: recover a reward from demonstrations (maxent, lqr, gcl, airl)",
        description="--method maxent (default) fits a reward on one-hot state (or state-action) "
        "features to demonstrations read from an .npz file (arrays states (N, T+1), actions "
        "(N, T), optional lengths (N,)) or sampled from ENV's posterior under its own reward, "
        "and reports how the recovered reward's soft-optimal policy scores under the true "
        "reward. --method lqr fits a quadratic reward to linear-Gaussian demonstrations "
        "exactly, gcl learns a neural reward by guided cost learning (continuous ENV, --demos), "
        "airl runs tabular AIRL; options a method does not read are refused.",
    )
    add_env(irl)
    add_inference(irl, methods=False)
    irl.set_defaults(handler=run, x64=True)
    add_method_options(irl)
    irl.add_argument("--demos", metavar="FILE.npz", help="demonstrations to fit")
    irl.add_argument(
        "-n",
        "--num",
        type=int,
        default=500,
        help="demonstrations to sample without --demos (default: 500)",
    )
    irl.add_argument("--seed", type=int, default=0, help="random seed for sampling (default: 0)")
    irl.add_argument(
        "--features",
        choices=("state", "state-action"),
        default="state",
        help="one-hot features: a reward per state or per state-action pair (default: state)",
    )
    irl.add_argument(
        "--infinite",
        action="store_true",
        help="discounted infinite horizon (soft value iteration; needs --discount < 1)",
    )
    irl.add_argument(
        "--max-iterations", type=int, default=300, help="optimiser steps (default: 300)"
    )
    irl.add_argument(
        "--l2",
        type=float,
        default=0.01,
        help="L2 regularisation of the reward; one-hot features need some: unvisited states "
        "would otherwise be driven to -inf (default: 0.01)",
    )
    irl.add_argument("--plot", metavar="FILE.png", help="true and recovered reward side by side")
    irl.add_argument("--save-demos", metavar="FILE.npz", help="write the demonstrations used")
    checked = ("steps", "sampler_steps", "out", "resume", "plot", "save_demos", "temperature")
    checked += ("inference", "discount", "num", "features", "infinite", "max_iterations", "l2")
    checked += ("env", "slip", "prior", "demos", "seed")
    actions = {a.dest: a for a in irl._actions if a.dest in (*checked, "horizon")}
    irl.set_defaults(
        option_defaults={d: a.default for d, a in actions.items()},
        option_flags={d: (a.option_strings or ["ENV"])[-1] for d, a in actions.items()},
    )
    # None marks an option not given (even one given its default value, such as --inference
    # variational beside --method exact): `irl_methods.dispatch` refuses those the method does
    # not read, then fills in the defaults
    for action in actions.values():
        action.default = None


def run(args) -> None:
    import jax
    import numpy as np

    from ..irl import maxent_irl
    from ..tabular import expected_return, infer, sample, sample_policy, soft_value_iteration

    if dispatch(args):  # --method lqr | gcl | airl (irl_methods.py); maxent continues here
        return
    at_least("-n", args.num, 1)
    at_least("--max-iterations", args.max_iterations, 1)
    finite_at_least("--l2", args.l2, 0)
    loaded = load(args)
    mdp = loaded.mdp
    if mdp.time_varying:
        raise UsageError("cai irl needs a stationary (S, A) reward in ENV")
    horizon = None if args.infinite else horizon_of(args, loaded)
    if args.infinite and not args.discount < 1:
        raise UsageError("--infinite needs --discount < 1 (e.g. --discount 0.95)")
    # the demonstrator's posterior under the true reward
    if horizon is None:
        truth = soft_value_iteration(mdp, args.temperature, args.discount)
    else:
        truth = infer(mdp, horizon, args.temperature, args.inference, args.discount)
    key = jax.random.key(args.seed)
    if args.demos:
        demos = read_demos(args.demos)
        source = args.demos
    elif horizon is None:  # episodes from the stationary soft-optimal policy
        length = 3 * horizon_of(args, loaded)
        demos = sample_policy(mdp, truth.log_policy, key, args.num, length)
        source = f"{args.num} episodes of {length} steps from the true soft-optimal policy"
    else:
        demos = sample(truth, key, args.num)
        source = f"{args.num} trajectories sampled from the {args.inference} posterior"
    if args.save_demos:
        save_npz(args.save_demos, states=demos[0], actions=demos[1])
    s, a = mdp.num_states, mdp.num_actions
    features = np.eye(s) if args.features == "state" else np.eye(s * a).reshape(s, a, s * a)
    fit = maxent_irl(
        mdp,
        features,
        demos,
        horizon=horizon,
        temperature=args.temperature,
        discount=args.discount,
        method=args.inference,
        max_iterations=args.max_iterations,
        regularization=args.l2,
        progress=sys.stderr.isatty(),
    )
    gamma = args.discount
    steps = horizon if horizon is not None else int(np.ceil(np.log(1e-4) / np.log(gamma)))
    policies = [
        ("the true reward's policy", truth.log_policy),
        ("the recovered reward's policy", fit.solution.log_policy),
        ("the action prior (no reward)", np.asarray(mdp.log_action_prior)),
    ]
    returns = [
        (name, expected_return(mdp, mdp.reward, log_policy, steps, gamma))
        for name, log_policy in policies
    ]
    print(describe(loaded, "infinite" if horizon is None else horizon))
    print(f"demonstrations: {source}")
    converged = "converged" if fit.converged else "not converged"
    print(
        table(
            [
                ("features", f"one-hot {args.features} ({features.shape[-1]})"),
                ("method", f"maxent ({args.inference} inference)"),
                ("iterations", f"{fit.iterations} ({converged})"),
                ("log-likelihood per demonstration", fixed(fit.log_likelihood[-1])),
                ("max feature-count gap", f"{fit.feature_gap[-1]:.2e} (L2 {args.l2:g})"),
            ]
        )
    )
    print(f"\nexpected true return over {steps} steps (discount {gamma:g}) of")
    print(table([(name, fixed(value)) for name, value in returns]))
    if args.plot:
        from ..plotting import plot_rewards

        env = loaded.env if is_grid(loaded.env) else None
        save_figure(plot_rewards(env, np.asarray(mdp.reward), np.asarray(fit.reward)), args.plot)
