"""Exact vs variational inference on a slippery cliff walk: the optimism of exact inference.

Exact inference (sum-product) conditions the dynamics on optimality too, so it "believes" it will
not slip off the cliff; variational inference (maximum-entropy RL) keeps the true dynamics.

    python examples/exact_vs_variational.py
"""

import dataclasses

import jax

import control_as_inference as cai
from control_as_inference.envs import builtin, simulate
from control_as_inference.plotting import plot_comparison


@dataclasses.dataclass(frozen=True)
class Args:
    env: str = "slippery-cliff"
    horizon: int = 30
    temperature: float = 1.0
    episodes: int = 2000
    seed: int = 0
    figure: str = "exact_vs_variational.png"


def main(args: Args) -> None:
    jax.config.update("jax_enable_x64", True)  # an application may choose float64
    world = builtin(args.env)
    key = jax.random.key(args.seed)
    posts, rollouts = {}, {}
    for method in ("exact", "variational"):
        post = cai.infer(world.mdp, args.horizon, args.temperature, method)
        real = simulate(world.mdp, post.policy, args.episodes, key, world.goals)
        posts[method], rollouts[method] = post, real
        print(
            f"{method:12s} evidence {float(post.log_evidence):9.3f}   "
            f"real return {real.mean_return:8.2f}   success {real.success_rate:.1%}"
        )
    figure = plot_comparison(
        world,
        posts["exact"],
        posts["variational"],
        rollouts=(rollouts["exact"], rollouts["variational"]),
    )
    figure.savefig(args.figure, dpi=100)
    print(f"figure: {args.figure}")


if __name__ == "__main__":
    main(Args())
