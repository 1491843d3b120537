"""cai irl --method airl: tabular AIRL (`irl.airl_irl`, generator = exact soft value iteration)
on a tabular environment, from demonstrations in an .npz file or sampled from the true
reward's soft-optimal policy; reports how the learned state-only reward g compares with the
true one and how its soft-optimal policy scores under the true reward."""

from __future__ import annotations

import sys
import warnings

from ._io import UsageError, at_least, fixed, save_npz, table
from .tabular import describe, horizon_of, load


def run_airl(args) -> None:
    import jax
    import numpy as np

    from ..engine import ConvergenceWarning
    from ..irl import airl_irl, as_demonstrations
    from ..tabular import expected_return, sample_policy, soft_value_iteration
    from .irl_demos import read_demos

    at_least("-n", args.num, 1)
    at_least("--max-iterations", args.max_iterations, 1)
    if not 0 < args.discount < 1:
        raise UsageError("--method airl needs --discount in (0, 1) (e.g. --discount 0.9)")
    loaded = load(args)
    mdp = loaded.mdp
    if mdp.time_varying:
        raise UsageError("cai irl needs a stationary (S, A) reward in ENV")
    gamma, alpha = args.discount, args.temperature
    truth = soft_value_iteration(mdp, alpha, gamma)
    if args.demos:
        demos = read_demos(args.demos)
        source = args.demos
    else:
        length = 3 * horizon_of(args, loaded)
        demos = sample_policy(mdp, truth.log_policy, jax.random.key(args.seed), args.num, length)
        source = f"{args.num} episodes of {length} steps from the true soft-optimal policy"
    if args.save_demos:
        save_npz(args.save_demos, states=demos[0], actions=demos[1])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        try:
            fit = airl_irl(
                mdp, demos, temperature=alpha, discount=gamma, rounds=args.max_iterations
            )
        except ValueError as error:
            raise UsageError(str(error)) from None
    steps = int(np.ceil(np.log(1e-4) / np.log(gamma)))
    recovered = soft_value_iteration(eqx_replace_reward(mdp, fit.reward), alpha, gamma)
    returns = [
        (name, expected_return(mdp, mdp.reward, log_policy, steps, gamma))
        for name, log_policy in (
            ("the true reward's policy", truth.log_policy),
            ("the learned g's policy", recovered.log_policy),
            ("the action prior (no reward)", np.asarray(mdp.log_action_prior)),
        )
    ]
    # g is identified only where the demonstrations go (padding after a trajectory's end is not
    # a visit), and it can equal the true reward only when that reward is state-only
    padded = as_demonstrations(*demos)
    states, lengths = np.asarray(padded.states), np.asarray(padded.lengths)
    visited = np.unique(np.concatenate([s[: n + 1] for s, n in zip(states, lengths, strict=True)]))
    true = np.asarray(mdp.reward)
    if np.allclose(true, true[:, :1]):
        offset = (np.asarray(fit.reward)[:, 0] - true[:, 0])[visited]
        comparison = (
            f"spread {np.ptp(offset):.3g} over the {len(visited)} demonstrated states "
            "(0: equal up to a constant)"
        )
    else:
        comparison = (
            "not compared: the true reward depends on the action, and AIRL's g is a state-only "
            f"reward ({len(visited)} demonstrated states)"
        )
    print(describe(loaded, "infinite"))
    print(f"demonstrations: {source}")
    converged = "converged" if fit.converged else "not converged"
    print(
        table(
            [
                ("method", "airl (state-only g, exact soft value iteration as generator)"),
                ("rounds", f"{fit.iterations} ({converged})"),
                ("discriminator -L", f"{fit.objective[-1]:.4f} (chance: -1.3863)"),
                ("g - true reward", comparison),
            ]
        )
    )
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    print(f"\nexpected true return over {steps} steps (discount {gamma:g}) of")
    print(table([(name, fixed(value)) for name, value in returns]))


def eqx_replace_reward(mdp, reward):
    import equinox as eqx

    return eqx.tree_at(lambda m: m.reward, mdp, reward)
