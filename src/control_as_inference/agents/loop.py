"""The training loop over a vector of gymnasium environments (`train.train`, `train.resume`).

Each loop step steps every copy once, stores their n transitions, makes the agent's
`gradient_steps` updates and acts for all copies, in one jitted call (`registry.observe_packed`).
A copy whose episode ended was reset in the same step: the transition stores the episode's last
observation, the next action is chosen for the reset one. A non-finite reward or observation
stops the run with a ValueError before it is stored (`check_transition`), and so does a
non-finite action of the agent before the environment sees it (`check_action`). Checkpoints are
written whenever the step count crosses a multiple of `checkpoint_every`, at the end, and on Ctrl-C.
"""

from __future__ import annotations

import os
import time
from typing import Any, NamedTuple

import numpy as np

from .checkpoint import LoopState, save_checkpoint
from .interrupt import StopOnSigint
from .logger import RunLogger
from .registry import observe_packed, pack_transitions, promotion


class TrainResult(NamedTuple):
    """state: the final agent state (`SACState` or `DiscreteState`); history: one dict per
    finished episode (as log.csv); interrupted: True when stopped by Ctrl-C (a checkpoint was
    saved)."""

    state: Any
    history: list
    interrupted: bool


class RunPlan(NamedTuple):
    """What the loop is asked to do: the agent's config, the total of environment steps, the run
    directory (None: nothing written), the steps between checkpoints, whether to show progress."""

    config: Any
    steps: int
    out: str | None
    checkpoint_every: int
    progress: bool | None  # None: only when stderr is a terminal


def _step_envs(env, action):
    """Step every copy: (next_obs, reward, terminated, done, last_obs), where next_obs holds a
    reset copy's new first observation and last_obs the last one of its ended episode (from
    info["final_obs"])."""
    next_obs, reward, terminated, truncated, info = env.step(action)
    done = terminated | truncated
    last_obs = next_obs
    if done.any():
        last_obs = next_obs.copy()
        for i in np.flatnonzero(done):
            last_obs[i] = info["final_obs"][i]
    return next_obs, reward, terminated, done, last_obs


def check_transition(reward, last_obs, next_obs, step: int, out: str | None, obs=None) -> None:
    """Refuse a non-finite reward or observation from the environment before it reaches the replay
    buffer (where it would turn every later update into NaN): a ValueError naming the field, the
    environment step (as log.csv counts them: `step` before this loop step, plus the copies) and
    the copy. `obs` (the observations acted on) is checked too when given: the loop passes the
    first reset's, which no earlier step has checked."""
    fields = (("reward", reward), ("observation", last_obs), ("observation", next_obs))
    if obs is not None:
        fields = (("observation", obs), *fields)
    for field, values in fields:
        values = np.asarray(values)
        bad = ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)
        if bad.any():
            copy = int(np.flatnonzero(bad)[0])
            saved = out is not None and os.path.exists(os.path.join(out, "checkpoint.eqx"))
            kept = f"; the last checkpoint in {out} is kept" if saved else ""
            raise ValueError(
                f"{field}: the environment returned a non-finite {field} ({values[copy]}) "
                f"at environment step {step + len(values)} (as log.csv counts; copy {copy} of "
                f"{len(values)}); rewards and "
                "observations must be finite numbers: fix the environment or wrap it "
                f"(gymnasium.wrappers.TransformReward / TransformObservation){kept}."
            )


def check_action(action, step: int, out: str | None) -> None:
    """Refuse a non-finite action of the agent before the environment sees it (where it would
    come back as a non-finite reward, blamed on the environment): a ValueError naming the agent,
    the environment step (as `check_transition`) and the copy."""
    values = np.asarray(action)
    bad = ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    if bad.any():
        copy = int(np.flatnonzero(bad)[0])
        saved = out is not None and os.path.exists(os.path.join(out, "checkpoint.eqx"))
        kept = f"; the last checkpoint in {out} is kept" if saved else ""
        raise ValueError(
            f"action: the agent chose a non-finite action ({values[copy]}) at environment step "
            f"{step + len(values)} (as log.csv counts; copy {copy} of {len(values)}): its "
            f"networks diverged; lower --learning-rate or check the settings{kept}."
        )


def run(plan: RunPlan, state, loop: LoopState, logger: RunLogger) -> TrainResult:
    """Run the loop from `loop` and `state` up to `plan.steps` environment steps (module
    docstring); the logger is closed at the end."""
    from tqdm.auto import tqdm

    config, out = plan.config, plan.out
    env, obs, action, episode_return, episode_length = loop
    n = env.num_envs
    step = int(state.step)
    started = time.perf_counter()
    disable = None if plan.progress is None else not plan.progress  # None: only on a terminal
    name = getattr(config, "algorithm", "sac")  # "dsac" or "sql"; MPOConfig: "mpo"
    bar = tqdm(total=plan.steps, initial=step, desc=name, disable=disable, unit="step")
    interrupted = False
    checked_first = False
    with promotion(), StopOnSigint() as stop:
        try:
            while step < plan.steps:
                if stop:
                    interrupted = True
                    if out is not None:
                        position = LoopState(env, obs, action, episode_return, episode_length)
                        save_checkpoint(out, state, position)
                    break
                check_action(action, step, out)  # the agent's own NaN, named as the agent's
                next_obs, reward, terminated, done, last_obs = _step_envs(env, action)
                first = obs if not checked_first else None  # the reset's, unchecked
                check_transition(reward, last_obs, next_obs, step, out, first)
                checked_first = True
                episode_return = episode_return + reward
                episode_length = episode_length + 1
                packed = pack_transitions(obs, action, reward, last_obs, terminated, next_obs)
                state, next_action, metrics = observe_packed(state, config, packed)
                step += n
                for i in np.flatnonzero(done):
                    row = {
                        "step": step,
                        "return": float(episode_return[i]),
                        "length": int(episode_length[i]),
                    }
                    row.update({k: float(v) for k, v in metrics.items()})
                    row["seconds"] = time.perf_counter() - started
                    logger.log(row)
                if done.any():
                    episode_return = np.where(done, 0.0, episode_return)
                    episode_length = np.where(done, 0, episode_length)
                    recent = np.mean([r["return"] for r in logger.history[-10:]])
                    bar.set_postfix(recent_return=f"{recent:.1f}")
                obs, action = next_obs, np.asarray(next_action)
                bar.update(n)
                crossed = step // plan.checkpoint_every > (step - n) // plan.checkpoint_every
                if out is not None and (crossed or step >= plan.steps):
                    position = LoopState(env, obs, action, episode_return, episode_length)
                    save_checkpoint(out, state, position)
        finally:
            bar.close()
            logger.close()
    return TrainResult(state, logger.history, interrupted)
