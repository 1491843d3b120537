"""Continuous inverse RL on Pendulum-v1: our AIRL (SAC generator; with --gcl also guided cost
learning, `irl.gcl_sac.gcl_irl`) against imitation's AIRL (its PPO generator), on the same
demonstrations.

1. Expert: our jitted SAC on the JAX Pendulum-v1 (`--expert-steps`).
2. Demonstrations: `--demos` episodes of 200 steps of the expert's stochastic policy, saved to an
   `.npz` file (states (N, T+1, 3), actions (N, T, 1), lengths (N,)) and loaded back.
3. Ours: `airl_sac` for `--airl-steps` environment steps; then SAC retrained from scratch for
   `--retrain-steps` on the learned state-only reward g (the true reward never seen).
4. imitation 1.0.1: `AIRL` with `BasicShapedRewardNet` and SB3's PPO on gymnasium's
   Pendulum-v1 (4 copies) for `--imitation-steps` generator steps, with the settings of
   imitation's documented AIRL example.
5. Scoring: every policy's mean action, 10 episodes of gymnasium's Pendulum-v1 with seeds
   1000..1009, the true reward. Wall times exclude the expert and the scoring.

    nice -n 10 python benchmarks/irl_continuous.py            # as in benchmarks/RESULTS.md
    python benchmarks/irl_continuous.py --quick               # a smoke run, a few minutes

imitation is optional (pip install ".[peers]" && pip install --no-deps imitation==1.0.1).
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def _arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    parser.add_argument("--threads", type=int, default=1, help="threads for every library")
    parser.add_argument("--expert-steps", type=int, default=20_000)
    parser.add_argument("--demos", type=int, default=10, help="demonstrated episodes")
    parser.add_argument("--airl-steps", type=int, default=30_000)
    parser.add_argument("--retrain-steps", type=int, default=20_000)
    parser.add_argument("--imitation-steps", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="/tmp/irl_continuous", help="where the .npz goes")
    parser.add_argument("--skip-imitation", action="store_true")
    parser.add_argument("--gcl", action="store_true", help="also GCL (irl/gcl_sac.py)")
    parser.add_argument("--only-gcl", action="store_true", help="GCL only (with --reuse-demos)")
    parser.add_argument("--reuse-demos", metavar="DEMOS.npz", help="skip the expert, use these")
    parser.add_argument("--only-imitation", metavar="DEMOS.npz", help="run imitation only")
    return parser.parse_args()


ARGS = _arguments() if __name__ == "__main__" else None
if ARGS is not None:
    sys.path.insert(0, os.path.dirname(__file__))
    from _threads import limit_threads

    limit_threads(ARGS.threads)
    if ARGS.quick:
        ARGS.expert_steps, ARGS.airl_steps, ARGS.retrain_steps = 500, 2000, 500
        ARGS.imitation_steps, ARGS.demos = 8192, 2

import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from control_as_inference.agents.jax_train import make_train, pendulum_env  # noqa: E402
from control_as_inference.agents.sac import SACConfig  # noqa: E402
from control_as_inference.irl.airl_sac import (  # noqa: E402
    actor_episode,
    airl_sac,
    continuous_demonstrations,
    learned_reward_env,
)

EVAL_SEEDS = range(1000, 1010)


def score_gymnasium(act) -> float:
    """Mean true return of act(obs (3,)) -> action (1,) over the evaluation seeds."""
    import gymnasium as gym

    env = gym.make("Pendulum-v1")
    totals = []
    for seed in EVAL_SEEDS:
        obs, _ = env.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(np.asarray(act(obs), np.float32))
            total += float(reward)
            done = terminated or truncated
        totals.append(total)
    return float(np.mean(totals))


def jax_actor(actor):
    deterministic = eqx.filter_jit(actor.deterministic)
    return lambda obs: np.asarray(deterministic(jnp.asarray(obs, jnp.float32)))


def expert_demonstrations(args):
    start = time.perf_counter()
    train = jax.jit(make_train(SACConfig(), pendulum_env(), args.expert_steps))
    state, _ = train(jax.random.key(args.seed))
    actor = state.actor
    episode = jax.jit(lambda k: actor_episode(actor, pendulum_env(), k, 200, False))
    keys = jax.random.split(jax.random.key(args.seed + 1), args.demos)
    returns, states, actions = zip(*(episode(k) for k in keys), strict=True)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "pendulum_demos.npz")
    np.savez(path, states=np.stack(states), actions=np.stack(actions))
    print(
        f"expert: {args.expert_steps} SAC steps in {time.perf_counter() - start:.1f} s; "
        f"demonstrations' mean true return {np.mean(returns):.1f}; saved to {path}"
    )
    return actor, path


def ours(args, path):
    data = np.load(path)
    demos = continuous_demonstrations(data["states"], data["actions"], obs_dim=3, action_dim=1)
    start = time.perf_counter()
    fit = airl_sac(pendulum_env(), demos, jax.random.key(args.seed + 2), steps=args.airl_steps)
    airl_time = time.perf_counter() - start
    nets = fit.reward_model

    def g(obs, action, next_obs):
        return nets.reward(obs[None])[0]

    start = time.perf_counter()
    train = jax.jit(
        make_train(SACConfig(), learned_reward_env(pendulum_env(), g), args.retrain_steps)
    )
    state, _ = train(jax.random.key(args.seed + 3))
    retrain_time = time.perf_counter() - start
    return {
        "ours AIRL (SAC generator)": (score_gymnasium(jax_actor(fit.solution.actor)), airl_time),
        "ours AIRL, SAC retrained on g": (
            score_gymnasium(jax_actor(state.actor)),
            airl_time + retrain_time,
        ),
        "discriminator -L per round": fit.objective,
    }


def ours_gcl(args, path):
    """C's guided cost learning (`irl.gcl_sac.gcl_irl`, SAC sampler) for the same number of
    sampler steps as our AIRL, then SAC retrained on its reward r(s, a)."""
    from control_as_inference.irl.gcl_sac import gcl_irl

    data = np.load(path)
    demos = continuous_demonstrations(data["states"], data["actions"], obs_dim=3, action_dim=1)
    rounds = max(1, args.airl_steps // 2000)
    start = time.perf_counter()
    fit = gcl_irl(demos, pendulum_env(), steps=rounds, seed=args.seed + 4, sampler_steps=2000)
    gcl_time = time.perf_counter() - start
    reward = fit.reward_model

    def r(obs, action, next_obs):
        return reward(obs, action)

    start = time.perf_counter()
    train = jax.jit(
        make_train(SACConfig(), learned_reward_env(pendulum_env(), r), args.retrain_steps)
    )
    state, _ = train(jax.random.key(args.seed + 5))
    retrain_time = time.perf_counter() - start
    return {
        "ours GCL (SAC sampler)": (score_gymnasium(jax_actor(fit.solution.actor)), gcl_time),
        "ours GCL, SAC retrained on its reward": (
            score_gymnasium(jax_actor(state.actor)),
            gcl_time + retrain_time,
        ),
    }


def imitation_airl(args, path):
    import types

    # imitation's adversarial module imports torch.utils.tensorboard (tensorboard is not
    # installed); its SummaryWriter is used only with init_tensorboard=True, which we leave off
    stub = types.ModuleType("torch.utils.tensorboard")
    stub.SummaryWriter = None
    sys.modules.setdefault("torch.utils.tensorboard", stub)
    import gymnasium as gym
    from imitation.algorithms.adversarial.airl import AIRL
    from imitation.data import rollout
    from imitation.data.types import Trajectory
    from imitation.rewards.reward_nets import BasicShapedRewardNet
    from imitation.util.networks import RunningNorm
    from imitation.util.util import make_vec_env
    from stable_baselines3 import PPO
    from stable_baselines3.ppo import MlpPolicy

    data = np.load(path)
    trajectories = [
        Trajectory(obs=s, acts=a, infos=None, terminal=False)
        for s, a in zip(data["states"], data["actions"], strict=True)
    ]
    transitions = rollout.flatten_trajectories(trajectories)
    rng = np.random.default_rng(args.seed)
    venv = make_vec_env("Pendulum-v1", rng=rng, n_envs=4)
    start = time.perf_counter()
    # the settings of imitation's documented AIRL example (docs/algorithms/airl.rst, 1.0.1)
    learner = PPO(
        env=venv,
        policy=MlpPolicy,
        batch_size=64,
        ent_coef=0.0,
        learning_rate=0.0005,
        gamma=0.95,
        clip_range=0.1,
        vf_coef=0.1,
        n_epochs=5,
        seed=args.seed,
        verbose=0,
    )
    reward_net = BasicShapedRewardNet(
        venv.observation_space, venv.action_space, normalize_input_layer=RunningNorm
    )
    trainer = AIRL(
        demonstrations=transitions,
        demo_batch_size=min(2048, len(transitions)),
        gen_replay_buffer_capacity=512,
        n_disc_updates_per_round=16,
        venv=venv,
        gen_algo=learner,
        reward_net=reward_net,
        allow_variable_horizon=True,
    )
    trainer.train(args.imitation_steps)
    elapsed = time.perf_counter() - start
    del gym

    def act(obs):
        return learner.predict(obs, deterministic=True)[0]

    return {"imitation AIRL (PPO generator)": (score_gymnasium(act), elapsed)}


def main(args):
    import platform

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; {args}")
    if args.only_imitation:
        for name, (ret, seconds) in imitation_airl(args, args.only_imitation).items():
            print(f"| {name} | {ret:.1f} | {seconds:.1f} |")
        return
    if args.reuse_demos:
        path, rows = args.reuse_demos, {}
    else:
        actor, path = expert_demonstrations(args)
        rows = {"expert (our SAC, true reward)": (score_gymnasium(jax_actor(actor)), float("nan"))}
    if not args.only_gcl:
        rows.update(ours(args, path))
    if args.gcl or args.only_gcl:
        rows.update(ours_gcl(args, path))
        print("ours GCL:", rows, flush=True)
    curve = rows.pop("discriminator -L per round", [])
    print("ours: discriminator -L per round:", np.round(curve, 3).tolist())
    print("ours:", rows, flush=True)
    if not args.skip_imitation:
        rows.update(imitation_airl(args, path))
    print("\n| method | true return (10 seeds, mean action) | wall time (s) |\n|---|---:|---:|")
    for name, (ret, seconds) in rows.items():
        print(f"| {name} | {ret:.1f} | {seconds:.1f} |")


if __name__ == "__main__":
    main(ARGS)
