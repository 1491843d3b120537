"""Episodic REPS: our `run_reps` against mushroom-rl's REPS on the same black-box problems.

Both maximise a numpy objective with a Gaussian search distribution, the same KL bound epsilon,
the same number of samples per iteration and the same initial distribution N(0, I) (seeds
differ in how each library draws: ours a JAX key, mushroom-rl numpy's global generator):

    ours       cai.policy_search.run_reps (eta by bisection on the dual's derivative, weighted
               maximum likelihood with the biased weighted covariance)
    mushroom   mushroom_rl's REPS._update (eta by scipy L-BFGS-B on the dual from eta = 1, bounded
               below by float32 eps) and GaussianCholeskyDistribution.mle (the unbiased weighted
               covariance), samples drawn one at a time with distribution.sample() as its
               BlackBoxOptimization does per episode; the agent is built without an environment

Problems: quadratic -1/2 x'Ax + b'x (d = 5, A with eigenvalues 1..10, maximum known), and the
negated Rosenbrock function (d = 4, maximum 0 at x = 1). Reported per problem: the median over
seeds of the mean sample return at chosen iterations, the KL of each E-step's weights (the bound
is epsilon), and the median time per iteration after the first (sampling, objective, update).

    pip install --no-deps mushroom-rl==1.10.2 && pip install opencv-python-headless pygame
    python benchmarks/reps.py                       # 5 seeds, 100 iterations (about a minute)
"""

from __future__ import annotations

import argparse
import statistics
import time

from _threads import limit_threads


def _arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--epsilon", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=1)
    return parser.parse_args()


ARGS = _arguments() if __name__ == "__main__" else None
if ARGS is not None:
    limit_threads(ARGS.threads)

import jax  # noqa: E402
import numpy as np  # noqa: E402

jax.config.update("jax_enable_x64", True)

from control_as_inference import policy_search as ps  # noqa: E402

_Q = np.linalg.qr(np.random.default_rng(0).normal(size=(5, 5)))[0]
A = _Q @ np.diag(np.linspace(1.0, 10.0, 5)) @ _Q.T
B = np.random.default_rng(1).normal(size=5)


def quadratic(x):
    x = np.asarray(x)
    return -0.5 * np.einsum("ni,ij,nj->n", x, A, x) + x @ B


def rosenbrock(x):
    x = np.asarray(x)
    return -np.sum(100.0 * (x[:, 1:] - x[:, :-1] ** 2) ** 2 + (1.0 - x[:, :-1]) ** 2, axis=1)


PROBLEMS = {
    "quadratic d=5": (quadratic, 5, 0.5 * B @ np.linalg.solve(A, B)),
    "Rosenbrock d=4": (rosenbrock, 4, 0.0),
}


def weights_kl(d):
    w = d / d.sum()
    w = w[w > 0]
    return float(np.sum(w * np.log(len(d) * w)))


def run_ours(objective, dim, seed):
    config = ps.REPSConfig(epsilon=ARGS.epsilon, samples=ARGS.samples, iterations=ARGS.iterations)
    history = ps.run_reps(objective, jax.random.key(seed), np.zeros(dim), np.eye(dim), config)
    return history.mean_returns, history.kls, history.seconds


def run_mushroom(objective, dim, seed):
    from mushroom_rl.algorithms.policy_search.black_box_optimization import REPS
    from mushroom_rl.distributions import GaussianCholeskyDistribution
    from mushroom_rl.utils.parameters import to_parameter

    np.random.seed(seed)  # noqa: NPY002 (mushroom-rl samples from the global generator)
    agent = REPS.__new__(REPS)  # the update alone: no environment, policy or Core needed
    agent._eps = to_parameter(ARGS.epsilon)
    agent.distribution = GaussianCholeskyDistribution(np.zeros(dim), np.eye(dim))
    returns, kls, seconds = [], [], []
    for _ in range(ARGS.iterations):
        start = time.perf_counter()
        theta = np.array([agent.distribution.sample() for _ in range(ARGS.samples)])
        jep = objective(theta)
        returns.append(float(np.mean(jep)))
        # the KL its eta reaches, recomputed from the same dual solution (scipy's minimiser)
        agent._update(jep.copy(), theta)
        seconds.append(time.perf_counter() - start)
        kls.append(_mushroom_kl(jep))
    return np.asarray(returns), np.asarray(kls), np.asarray(seconds)


def _mushroom_kl(jep):
    from mushroom_rl.algorithms.policy_search.black_box_optimization import REPS
    from scipy.optimize import minimize

    res = minimize(
        REPS._dual_function,
        np.ones(1),
        jac=REPS._dual_function_diff,
        bounds=((np.finfo(np.float32).eps, np.inf),),
        args=(ARGS.epsilon, jep.copy(), None),
    )
    return weights_kl(np.exp((jep - jep.max()) / res.x.item()))


def main():
    checkpoints = [0, 10, 25, 50, ARGS.iterations - 1]
    print(
        f"REPS: epsilon {ARGS.epsilon}, {ARGS.samples} samples per iteration, "
        f"{ARGS.iterations} iterations, {ARGS.seeds} seeds; medians over seeds"
    )
    for name, (objective, dim, best) in PROBLEMS.items():
        print(f"\n{name} (maximum {best:.4g})")
        rows = {}
        for label, runner in (("ours", run_ours), ("mushroom-rl", run_mushroom)):
            runs = [runner(objective, dim, seed) for seed in range(ARGS.seeds)]
            returns = np.median(np.stack([r[0] for r in runs]), axis=0)
            kls = np.concatenate([r[1] for r in runs])
            per_iteration = statistics.median(np.concatenate([r[2][1:] for r in runs]))
            rows[label] = per_iteration
            curve = "  ".join(f"it {k}: {returns[k]:.4g}" for k in checkpoints)
            print(f"  {label:12s} {curve}")
            print(
                f"  {'':12s} KL of the weights: median {np.median(kls):.6f}, "
                f"max |KL - eps| {np.max(np.abs(kls - ARGS.epsilon)):.2e}; "
                f"time per iteration {1e3 * per_iteration:.2f} ms"
            )
        print(f"  time ratio mushroom-rl / ours: {rows['mushroom-rl'] / rows['ours']:.2f}")


if __name__ == "__main__":
    main()
