"""cai irl --method maxent | lqr | gcl | airl: the options and runs of the methods beyond the
tabular MaxEnt IRL of `irl.py` (which keeps maxent).

    lqr   exact linear-Gaussian IRL (`irl.lqr_irl`) on the double integrator of
          cai/LinearGaussian-v0 (states (N, T+1, n), actions (N, T, m) float demonstrations).
    gcl   guided cost learning (`irl.gcl_irl`) with SAC as the sampler on a gymnasium task with
          continuous actions (ENV, default Pendulum-v1); needs --demos; checkpoints to --out
          and continues with --resume.
    airl  tabular AIRL (`irl.airl_irl`, exact soft value iteration as the generator) on a
          tabular ENV with --discount < 1; --max-iterations counts its rounds (irl_airl.py).
"""

from __future__ import annotations

import os
import sys

from ._io import UsageError, at_least, fixed, run_settings, save_npz, table

METHODS = ("maxent", "lqr", "gcl", "airl")
LEGACY = ("exact", "variational")  # the old --method: maxent's inference


def add_method_options(parser) -> None:
    """--method, --inference, --discount and the sample-based methods' run options."""
    parser.add_argument(
        "--method",
        choices=METHODS + LEGACY,
        default="maxent",
        help="maxent (tabular, exact), lqr (exact linear-Gaussian), gcl (guided cost learning, "
        "continuous), airl; 'exact' and 'variational' mean maxent with that --inference "
        "(default: maxent)",
    )
    parser.add_argument(
        "--inference",
        choices=("exact", "variational"),
        default="variational",
        help="maxent's posterior: exact (optimistic) or variational (maximum entropy RL) "
        "(default: variational)",
    )
    parser.add_argument("--discount", type=float, default=1.0, help="gamma in (0, 1] (default: 1)")
    parser.add_argument(
        "--steps",
        type=int,
        default=20,
        help="gcl: cost-learning iterations, each followed by sampler training (default: 20)",
    )
    parser.add_argument(
        "--sampler-steps",
        type=int,
        default=2000,
        help="gcl: SAC environment steps per iteration (default: 2000)",
    )
    parser.add_argument(
        "--out", metavar="DIR", help="gcl: checkpoint directory (default: no checkpoints)"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="gcl: continue from the checkpoint in --out (default: start over)",
    )


# the options of `cai irl` that each method reads; any other option given (even at its default
# value) is refused (as `cai train` refuses another agent's options), never silently ignored
_RUN = ("steps", "sampler_steps", "out", "resume")
_TABULAR = ("inference", "discount", "num", "features", "infinite", "max_iterations", "l2")
_ENV = ("env", "slip", "prior")  # a tabular ENV: maxent and airl
_DEMOS = ("demos", "seed", "num", "save_demos")
_USES = {
    "maxent": (*_ENV, *_DEMOS, *_TABULAR, "plot", "temperature", "horizon"),
    "lqr": (*_DEMOS, "discount", "infinite", "max_iterations", "temperature", "horizon"),
    "gcl": (*_RUN, "env", "demos", "seed"),  # ENV: a gymnasium id (default Pendulum-v1)
    "airl": (*_ENV, *_DEMOS, "discount", "max_iterations", "temperature", "horizon"),
}


def refuse_unused(args, defaults: dict, flags: dict) -> None:
    """UsageError naming the options given (not None: `irl.add_parsers` marks an option not
    given by None) that --method does not read, then the defaults filled in for those not
    given. `defaults` and `flags`: each checked option's default and flag, by dest."""
    used = _USES[args.method]
    unused = [
        flags[d] for d in sorted(set(defaults) - set(used)) if getattr(args, d, None) is not None
    ]
    for d, default in defaults.items():
        if getattr(args, d, None) is None:
            setattr(args, d, default)
    if unused:
        verb = "does" if len(unused) == 1 else "do"
        raise UsageError(
            f"{', '.join(unused)} {verb} not apply to --method {args.method} (of these options it "
            f"reads only {', '.join(flags[d] for d in used if d in flags)}): leave them out"
        )


def dispatch(args) -> bool:
    """Run --method lqr | gcl | airl and return True; False for maxent (irl.py runs it).
    Options the method does not read are refused (`refuse_unused`)."""
    if args.method in LEGACY:  # backward compatible: `--method exact` was maxent's inference
        if args.inference is not None:  # given, even as --inference variational
            raise UsageError(
                f"--method {args.method} already sets maxent's inference: drop --inference, or "
                "use --method maxent --inference ..."
            )
        args.inference, args.method = args.method, "maxent"
    if args.method == "gcl" and args.env is None:  # gcl's ENV is a gymnasium id
        args.env = "Pendulum-v1"
    refuse_unused(args, args.option_defaults, args.option_flags)
    if args.method == "lqr":
        run_lqr(args)
        return True
    if args.method == "gcl":
        run_gcl(args)
        return True
    if args.method == "airl":
        from .irl_airl import run_airl  # tabular AIRL with an exact generator

        run_airl(args)
        return True
    return False


def _demos(path):
    import numpy as np

    from ..envs import read_npz

    arrays = read_npz(path, {"states": "(N, T+1, n)", "actions": "(N, T, m)"}, {"lengths": "(N,)"})
    lengths = arrays.get("lengths")
    return (
        np.asarray(arrays["states"], np.float64),
        np.asarray(arrays["actions"], np.float64),
        None if lengths is None else np.asarray(lengths),
    )


def run_lqr(args) -> None:
    """Exact linear-Gaussian IRL on the double integrator: demonstrations from --demos or
    sampled from the true reward's soft-LQR policy; reports the recovered policy's distance
    from the true one."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from ..envs import double_integrator_problem as default_problem
    from ..irl import lqr_irl, lqr_log_likelihood
    from ..lqr import (
        LinearGaussianSystem,
        QuadraticReward,
        sample_trajectories,
        soft_lqr,
        soft_lqr_infinite,
    )

    at_least("-n", args.num, 1)
    at_least("--max-iterations", args.max_iterations, 1)
    system, reward = default_problem()
    f64 = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
    system = LinearGaussianSystem(
        *(jnp.asarray(x, f64) for x in (system.A, system.B, system.W)),
        jnp.asarray(system.initial_mean, f64),
        jnp.asarray(system.initial_cov, f64),
    )
    reward = QuadraticReward(jnp.asarray(reward.Q, f64), jnp.asarray(reward.R, f64))
    gamma, alpha = args.discount, args.temperature
    horizon = None if args.infinite else (30 if args.horizon is None else args.horizon)
    if horizon is not None:
        at_least("--horizon", horizon, 1)
    if horizon is None:
        truth = soft_lqr_infinite(system, reward, alpha, discount=gamma)
        terminal = (truth.P, truth.p, jnp.zeros((), f64))
        sampler = soft_lqr(system, reward, 90, alpha, discount=gamma, terminal=terminal)
    else:
        truth = sampler = soft_lqr(system, reward, horizon, alpha, discount=gamma)
    lengths = None
    if args.demos:
        states, actions, lengths = _demos(args.demos)
        source = args.demos
    else:
        states, actions = sample_trajectories(system, sampler, jax.random.key(args.seed), args.num)
        steps = actions.shape[1]
        source = f"{args.num} trajectories of {steps} steps from the true soft-LQR policy"
    if args.save_demos:
        save_npz(args.save_demos, states=np.asarray(states), actions=np.asarray(actions))
    try:
        fit = lqr_irl(
            system, states, actions, horizon=horizon, temperature=alpha, discount=gamma,
            max_iterations=args.max_iterations, lengths=lengths,
        )  # fmt: skip
    except ValueError as error:
        raise UsageError(str(error)) from None
    got = fit.solution
    true_ll = lqr_log_likelihood(
        reward, system, jnp.asarray(states, f64), jnp.asarray(actions, f64), horizon, alpha,
        gamma, lengths=None if lengths is None else jnp.asarray(lengths),
    )  # fmt: skip
    print(
        "double integrator (cai/LinearGaussian-v0), true reward Q = I, R = I; "
        + ("stationary policy" if horizon is None else f"horizon {horizon}")
    )
    print(f"demonstrations: {source}")
    converged = "converged" if fit.converged else "not converged"
    rows = [
        ("method", "lqr (exact linear-Gaussian IRL)"),
        ("iterations", f"{fit.iterations} ({converged})"),
        ("log-likelihood per demonstration", fixed(fit.log_likelihood[-1])),
        ("... under the true reward", fixed(float(true_ll))),
        ("max |K - K_true|", f"{float(jnp.max(jnp.abs(got.K - truth.K))):.3g}"),
        (
            "max |Sigma / Sigma_true - 1|",
            f"{float(jnp.max(jnp.abs(got.Sigma / truth.Sigma - 1))):.3g}",
        ),
    ]
    print(table(rows))
    np.set_printoptions(precision=4, suppress=True)
    print(f"recovered Q =\n{np.asarray(fit.reward_model.Q)}")
    print(f"recovered R = {np.asarray(fit.reward_model.R)}")


GCL_SETTINGS = "cai-gcl.json"
"""The file in `cai irl --method gcl --out DIR` that holds the run's settings (`run_settings`)."""


def run_gcl(args) -> None:
    """Guided cost learning with SAC on ENV (default Pendulum-v1) from --demos."""
    if not args.demos:
        raise UsageError(
            "--method gcl needs --demos FILE.npz (states (N, T+1, n), actions (N, T, m))"
        )
    at_least("--steps", args.steps, 1)
    at_least("--sampler-steps", args.sampler_steps, 1)
    if args.resume and not args.out:
        raise UsageError("--resume needs --out DIR (the directory of the checkpoint)")
    env_id = args.env  # ENV, or Pendulum-v1 when not given (dispatch)
    states, actions, lengths = _demos(args.demos)
    from ..agents import SACConfig
    from ..irl import gcl_irl

    sac_config = None
    if args.out:  # the sampler's replay buffer keeps the first run's size: --steps may grow
        settings = {"env_id": env_id, "seed": args.seed, "demos": os.path.abspath(args.demos)}
        settings["buffer_size"] = max(args.steps * args.sampler_steps, 256)  # gcl_irl's default
        saved = run_settings(args.out, GCL_SETTINGS, settings, args.resume, ("env_id", "seed"))
        sac_config = SACConfig(buffer_size=saved["buffer_size"])
    # said before the minutes of training (without a terminal there is no progress bar)
    print(
        f"{env_id}: guided cost learning from {args.demos} ({args.steps} iterations of "
        f"{args.sampler_steps} SAC steps)",
        flush=True,
    )
    try:
        fit = gcl_irl(
            (states, actions, lengths), env_id, steps=args.steps, seed=args.seed,
            sampler_steps=args.sampler_steps, checkpoint_dir=args.out, resume=args.resume,
            progress=sys.stderr.isatty(), sac_config=sac_config,
        )  # fmt: skip
    except (ValueError, FileNotFoundError) as error:
        raise UsageError(str(error)) from None
    rows = [
        ("method", "gcl (guided cost learning, SAC sampler)"),
        ("iterations", str(fit.iterations)),
        ("IS log-likelihood per demonstration", fixed(float(fit.objective[-1]))),
    ]
    if args.out:
        rows.append(("checkpoint", args.out))
    print(table(rows))
