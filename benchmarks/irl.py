"""MaxEnt IRL: ours and imitation's MCE IRL on the same model, features and demonstrations.

Both fit a linear state reward r(s) = phi(s) . theta (imitation: a bias-only-extra linear
`BasicRewardNet`) to the expected occupancy of a known reward theta*, whose fixed point is
theta* for both (imitation counts states at t = 0..H, we count state-action pairs at t < H; each
is given its own convention's occupancy of theta*). We report wall time to convergence
(compilation included for ours, reported separately), iterations, and the accuracy reached: the
largest error of the fitted reward's state occupancy (imitation's definition, sum over t = 0..H)
against the demonstrations'. Then problems imitation cannot take: state-action features and
100,000 states with successor lists.

    python benchmarks/irl.py            # S = 1000, as in benchmarks/RESULTS.md
    python benchmarks/irl.py --quick    # S = 200, well under a minute

imitation is optional (pip install ".[peers]" && pip install --no-deps imitation==1.0.1).
"""

from __future__ import annotations

import argparse
import os
import sys


def _arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--threads", type=int, default=1, help="threads for every library")
    parser.add_argument("--states", type=int, default=None, help="override S")
    parser.add_argument("--large", type=int, default=100_000, help="S of the successor-list run")
    return parser.parse_args()


ARGS = _arguments() if __name__ == "__main__" else None
if ARGS is not None:  # thread counts must be fixed before numpy, scipy, torch or jax load
    from _threads import limit_threads

    limit_threads(ARGS.threads)

import logging  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402

import control_as_inference as cai  # noqa: E402

jax.config.update("jax_enable_x64", True)


def random_model(rng, s, a, k):
    """Each (s, a) moves to k random states with Dirichlet probabilities."""
    index = rng.integers(0, s, size=(s, a, k))
    prob = rng.dirichlet(np.ones(k), size=(s, a))
    return index, prob


def dense(index, prob):
    s, a, _ = index.shape
    t = np.zeros((s, a, s))
    np.add.at(t, (np.arange(s)[:, None, None], np.arange(a)[None, :, None], index), prob)
    return t


def state_occupancy(mdp, horizon):
    """sum_{t=0..H} p(s_t = s), imitation's occupancy (Dcum), from our variational posterior."""
    post = cai.infer(mdp, horizon, 1.0, "variational")
    return np.asarray(post.state_marginals).sum(axis=0)


def ours(mdp, features, horizon, occupancy_sa, tol):
    start = time.perf_counter()
    fit = cai.maxent_irl(mdp, features, occupancy_sa, horizon=horizon, tol=tol, progress=False)
    jax.block_until_ready(fit.reward)
    total = time.perf_counter() - start
    start = time.perf_counter()  # the same fit again: compiled
    fit = cai.maxent_irl(mdp, features, occupancy_sa, horizon=horizon, tol=tol, progress=False)
    jax.block_until_ready(fit.reward)
    warm = time.perf_counter() - start
    return fit, total, warm


def imitation_fit(transitions, features, horizon, initial, demo_om, lr, max_iter):
    import torch
    from imitation.algorithms import mce_irl
    from imitation.rewards import reward_nets
    from seals import base_envs

    torch.set_num_threads(ARGS.threads)
    logging.getLogger("imitation").setLevel(logging.WARNING)
    env = base_envs.TabularModelPOMDP(
        transition_matrix=transitions,
        observation_matrix=features.astype(np.float32),
        reward_matrix=np.zeros(transitions.shape[0]),
        horizon=horizon,
        initial_state_dist=initial,
    )
    torch.manual_seed(0)
    net = reward_nets.BasicRewardNet(
        env.observation_space, env.action_space, use_action=False, hid_sizes=[]
    )
    trainer = mce_irl.MCEIRL(
        demo_om,
        env,
        net,
        rng=np.random.default_rng(0),
        optimizer_kwargs={"lr": lr},
        log_interval=None,
    )
    start = time.perf_counter()
    iterations = 0

    def step(obs):  # count iterations
        nonlocal iterations
        iterations += 1
        return original(obs)

    original = trainer._train_step
    trainer._train_step = step
    visitations = trainer.train(max_iter=max_iter)
    seconds = time.perf_counter() - start
    obs = torch.as_tensor(features, dtype=net.dtype)
    with torch.no_grad():
        reward = net(obs, None, None, None).numpy().astype(np.float64)
    return reward, visitations, seconds, iterations


def main():
    rng = np.random.default_rng(0)
    s = ARGS.states or (200 if ARGS.quick else 1000)
    a, k, f, horizon = 4, 5, 10, 50
    print(
        f"machine: {platform.machine()} {os.cpu_count()} cores, {ARGS.threads} thread(s); "
        f"jax {jax.__version__} on {jax.default_backend()}"
    )
    print(f"MaxEnt IRL, S = {s}, A = {a}, {k} successors, H = {horizon}, F = {f} state features\n")
    index, prob = random_model(rng, s, a, k)
    transitions = dense(index, prob)
    features = rng.normal(size=(s, f))
    theta = rng.normal(size=f)
    initial = np.full(s, 1.0 / s)
    true = cai.TabularMDP(transitions, features @ theta, initial)
    post = cai.infer(true, horizon, 1.0, "variational")
    occupancy_sa = np.asarray(post.state_action_marginals).sum(axis=0)
    demo_om = np.asarray(post.state_marginals).sum(axis=0)  # imitation's convention, t = 0..H

    rows = []
    fit, total, warm = ours(true, features, horizon, occupancy_sa, tol=1e-6)
    err = np.abs(
        state_occupancy(cai.TabularMDP(transitions, fit.reward, initial), horizon) - demo_om
    ).max()
    rows.append(
        (
            "ours (L-BFGS, f64)",
            total,
            warm,
            fit.iterations,
            err,
            np.abs(np.asarray(fit.reward_model.weights) - theta).max(),
        )
    )

    try:
        import imitation  # noqa: F401
    except Exception as error:  # ImportError or its dependencies failing
        print(f"(imitation not available: {type(error).__name__}: {error}; skipped)")
    else:
        for lr in (1e-2, 1e-1):
            reward, _, seconds, iterations = imitation_fit(
                transitions, features, horizon, initial, demo_om, lr, 1000
            )
            err_im = np.abs(
                state_occupancy(cai.TabularMDP(transitions, reward, initial), horizon) - demo_om
            ).max()
            centred = reward - reward.mean() - (features @ theta - (features @ theta).mean())
            rows.append(
                (
                    f"imitation MCEIRL (Adam lr {lr:g})",
                    seconds,
                    seconds,
                    iterations,
                    err_im,
                    np.abs(centred).max(),
                )
            )

    print(
        f"{'':36s} {'seconds':>8s} {'compiled':>8s} {'iters':>6s} "
        f"{'occupancy err':>13s} {'reward err':>10s}"
    )
    for name, t, t_warm, iters, e, re in rows:
        print(f"{name:36s} {t:8.2f} {t_warm:8.2f} {iters:6d} {e:13.2e} {re:10.2e}")
    for name, t, _, _, e, _ in rows[1:]:
        print(
            f"ratio imitation/ours ({name}): {t / rows[0][1]:.1f}x wall "
            f"(ours converged to {rows[0][4]:.1e}, it to {e:.1e})"
        )

    print("\nState-action features (imitation takes state rewards only):")
    sa_features = rng.normal(size=(s, a, f))
    true_sa = cai.TabularMDP(transitions, sa_features @ theta, initial)
    post_sa = cai.infer(true_sa, horizon, 1.0, "variational")
    states, actions = cai.sample(post_sa, jax.random.key(0), 5000)
    start = time.perf_counter()
    fit = cai.maxent_irl(true_sa, sa_features, (states, actions), horizon=horizon, progress=False)
    print(
        f"  5000 sampled demonstrations: {time.perf_counter() - start:.2f} s, "
        f"{fit.iterations} iterations, max |theta - theta*| = "
        f"{np.abs(np.asarray(fit.reward_model.weights) - theta).max():.3f}"
    )

    big = ARGS.large if not ARGS.quick else 20_000
    print(
        f"\nSuccessor lists, S = {big}, A = {a}, K = {k}, H = {horizon} (imitation needs a dense "
        f"{big}x{a}x{big} array):"
    )
    index, prob = random_model(rng, big, a, k)
    features = rng.normal(size=(big, f))
    large = cai.TabularMDP(cai.Successors(index, prob), features @ theta)
    post = cai.infer(large, horizon, 1.0, "variational")
    occupancy_sa = np.asarray(post.state_action_marginals).sum(axis=0)
    del post
    start = time.perf_counter()
    fit = cai.maxent_irl(large, features, occupancy_sa, horizon=horizon, tol=1e-6, progress=False)
    print(
        f"  {time.perf_counter() - start:.2f} s, {fit.iterations} iterations, converged "
        f"{fit.converged}, max |theta - theta*| = "
        f"{np.abs(np.asarray(fit.reward_model.weights) - theta).max():.2e}"
    )


if __name__ == "__main__":
    sys.exit(main())
