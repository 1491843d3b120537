"""Exact models of gymnasium's toy-text environments, and evaluation in the real environment.

gymnasium's toy-text environments (FrozenLake, CliffWalking, Taxi) expose their model as
`env.unwrapped.P[s][a] = [(prob, next_state, reward, terminated), ...]`. `from_gymnasium` turns it
into a `TabularMDP`:

- state i of the model is gymnasium's observation i;
- a transition with terminated = True goes to an extra absorbing state that pays that transition's
  reward (one such state per distinct terminal reward) and then to a last absorbing state "done"
  with reward 0, so the reward of ending is paid for the outcome that really happened (one step
  later), never as an expectation: exact inference could otherwise pick optimistic successors and
  still be paid the expected reward again and again;
- other transitions contribute their expected reward, r(s, a) = sum prob * reward (exact for the
  gymnasium toy-text environments except CliffWalkingSlippery's cliff penalty);
- the initial distribution is the environment's `initial_state_distrib`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .._core import check_int
from ..tabular import TabularMDP
from .gridworld import MOVES, GridMixin


@dataclasses.dataclass(frozen=True)
class GymModel(GridMixin):
    """A toy-text environment's exact model.

    Attributes:
        env_id: gymnasium id, or the class name for an environment instance.
        mdp: the model: the observations, then one absorbing state per distinct terminal reward,
            then "done".
        num_observations: gymnasium's number of observations.
        done: index of the final absorbing state (the last one).
        success_reward: the largest reward of a terminating transition; an episode that ends
            (terminated) on a transition of that reward counts as a success in `evaluate_policy`.
        success_state: the extra state that pays success_reward.
        max_episode_steps: gymnasium's time limit, or None.
        moves: (row, column) step intended by each action (FrozenLake: left, down, right, up;
            CliffWalking: up, right, down, left).
        make_kwargs: the keyword arguments it was made with (to make the real environment again).
        layout: for grid environments (FrozenLake, CliffWalking) the map in `make_gridworld`'s
            characters (holes and the cliff as L), one string per row; None otherwise.
    """

    env_id: str
    mdp: TabularMDP
    num_observations: int
    done: int
    success_reward: float
    success_state: int
    max_episode_steps: int | None
    layout: tuple[str, ...] | None
    moves: tuple[tuple[int, int], ...] = MOVES
    make_kwargs: dict = dataclasses.field(default_factory=dict)

    @property
    def is_grid(self) -> bool:
        return self.layout is not None

    @property
    def cells(self) -> np.ndarray:
        """(num_observations, 2): observation i is row i // cols, column i % cols."""
        if self.layout is None:
            raise ValueError(f"{self.env_id} is not laid out on a grid.")
        cols = len(self.layout[0])
        obs = np.arange(self.num_observations)
        return np.stack([obs // cols, obs % cols], axis=1)


def _make(env_id_or_env, **kwargs):
    import gymnasium as gym

    if isinstance(env_id_or_env, str):
        try:
            return gym.make(env_id_or_env, **kwargs)
        except Exception as error:  # gymnasium raises several error types for unknown ids
            raise ValueError(
                f"cannot make gymnasium environment {env_id_or_env!r}: {error}"
            ) from None
    if kwargs:
        raise ValueError("keyword arguments are only accepted together with an environment id.")
    return env_id_or_env


def from_gymnasium(env_id_or_env, **kwargs) -> GymModel:
    """The exact `TabularMDP` of a gymnasium toy-text environment (see the module docstring).

    Args:
        env_id_or_env: a gymnasium id such as "FrozenLake-v1", or an environment instance.
        **kwargs: passed to `gymnasium.make` with an id (e.g. is_slippery=False, map_name="8x8").

    Raises:
        ValueError: when the environment exposes no tabular model `unwrapped.P`.
    """
    env = _make(env_id_or_env, **kwargs)
    unwrapped = env.unwrapped
    model = getattr(unwrapped, "P", None)
    name = env_id_or_env if isinstance(env_id_or_env, str) else type(unwrapped).__name__
    if not isinstance(model, dict) or not model:
        raise ValueError(
            f"environment {name!r} exposes no tabular model (env.unwrapped.P); from_gymnasium "
            "supports gymnasium's toy-text environments (FrozenLake, CliffWalking, Taxi)."
        )
    num_obs = int(env.observation_space.n)
    num_actions = int(env.action_space.n)
    entries = [
        (s, a, *entry) for s in range(num_obs) for a in range(num_actions) for entry in model[s][a]
    ]
    endings = sorted(
        {float(r) for _, _, prob, _, r, terminated in entries if terminated and prob > 0}
    )
    ending_state = {r: num_obs + k for k, r in enumerate(endings)}
    done = num_obs + len(endings)
    transitions = np.zeros((done + 1, num_actions, done + 1))
    reward = np.zeros((done + 1, num_actions))
    for s, a, prob, nxt, r, terminated in entries:
        if terminated:
            transitions[s, a, ending_state[float(r)]] += prob
        else:
            transitions[s, a, int(nxt)] += prob
            reward[s, a] += prob * r
    for r, state in ending_state.items():
        transitions[state, :, done] = 1.0
        reward[state] = r
    transitions[done, :, done] = 1.0
    # gymnasium stores probabilities like 1/3 as floats that sum to 1 - 1e-16; renormalise rows
    transitions /= transitions.sum(axis=-1, keepdims=True)
    initial = getattr(unwrapped, "initial_state_distrib", None)
    if initial is None:
        raise ValueError(f"environment {name!r} has no initial_state_distrib to build p0 from.")
    initial = np.concatenate([np.asarray(initial, dtype=float), np.zeros(len(endings) + 1)])
    initial /= initial.sum()
    layout = _layout(unwrapped)
    if layout is not None and len(layout) * len(layout[0]) != num_obs:
        layout = None  # e.g. Taxi's desc draws the roads, not its states
    spec = getattr(env, "spec", None)
    return GymModel(
        env_id=name,
        mdp=TabularMDP(transitions, reward, initial),
        num_observations=num_obs,
        done=done,
        success_reward=endings[-1] if endings else float("nan"),
        success_state=ending_state[endings[-1]] if endings else -1,
        max_episode_steps=getattr(spec, "max_episode_steps", None),
        layout=layout,
        moves=_FROZEN_LAKE_MOVES if hasattr(unwrapped, "desc") else MOVES,
        make_kwargs=dict(kwargs),
    )


_FROZEN_LAKE_MOVES = ((0, -1), (1, 0), (0, 1), (-1, 0))


def _layout(unwrapped) -> tuple[str, ...] | None:
    """The map of FrozenLake (desc) or CliffWalking (_cliff), in make_gridworld's characters."""
    desc = getattr(unwrapped, "desc", None)
    if desc is not None:
        table = str.maketrans({"F": ".", "H": "L"})
        return tuple(b"".join(row).decode().translate(table) for row in np.asarray(desc))
    cliff = getattr(unwrapped, "_cliff", None)
    if cliff is not None:
        rows = [["L" if c else "." for c in row] for row in np.asarray(cliff)]
        start = np.unravel_index(int(unwrapped.start_state_index), cliff.shape)
        rows[start[0]][start[1]] = "S"
        rows[-1][-1] = "G"
        return tuple("".join(row) for row in rows)
    return None


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Results of rolling a policy out in the real environment.

    Attributes:
        mean_return, std_return: over episodes (undiscounted).
        success_rate: fraction of episodes that terminated on a transition paying the model's
            success_reward (FrozenLake: the goal; CliffWalking: the goal; Taxi: a drop-off).
        mean_length: mean number of steps.
        returns: (episodes,) every episode's return.
    """

    mean_return: float
    std_return: float
    success_rate: float
    mean_length: float
    returns: np.ndarray = dataclasses.field(repr=False)


def evaluate_policy(policy, env, episodes: int, key, max_steps: int | None = None) -> Evaluation:
    """Roll a tabular policy out with gymnasium's own `reset`/`step`.

    Args:
        policy: (S, A) stationary or (H, S, A) time-varying action probabilities over the
            model's states (extra absorbing states are ignored); a `Posterior` or
            `SoftValueSolution` is accepted too (its `.policy`). A time-varying policy is
            followed for H steps and the episode is then cut.
        env: a gymnasium id or environment instance (a toy-text environment).
        episodes: number of episodes.
        key: a `jax.random` key; it seeds both the action draws and the environment.
        max_steps: a cap on episode length (default: the time limit of the environment, or 1000).

    Returns:
        An `Evaluation`.
    """
    import jax

    if hasattr(policy, "policy"):
        policy = policy.policy
    policy = np.asarray(policy, dtype=np.float64)
    if policy.ndim not in (2, 3):
        raise ValueError(f"policy must have shape (S, A) or (H, S, A), got {policy.shape}.")
    episodes = check_int("episodes", episodes, 1)
    model = from_gymnasium(env) if not isinstance(env, GymModel) else env
    gym_env = _make(model.env_id, **model.make_kwargs) if isinstance(env, GymModel) else _make(env)
    num_obs = model.num_observations
    if policy.shape[-2] < num_obs or policy.shape[-1] != model.mdp.num_actions:
        raise ValueError(
            f"policy covers {policy.shape[-2]} states and {policy.shape[-1]} actions; the "
            f"environment has {num_obs} observations and {model.mdp.num_actions} actions."
        )
    limit = max_steps or model.max_episode_steps or 1000
    if policy.ndim == 3:
        limit = min(limit, policy.shape[0])
    seed = int(jax.random.randint(key, (), 0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    returns, lengths, successes = [], [], 0
    for episode in range(episodes):
        obs, _ = gym_env.reset(seed=seed + episode)
        total, steps = 0.0, 0
        for t in range(limit):
            probs = policy[t] if policy.ndim == 3 else policy
            p = probs[int(obs)]
            action = int(rng.choice(len(p), p=p / p.sum()))
            obs, r, terminated, truncated, _ = gym_env.step(action)
            total += float(r)
            steps = t + 1
            if terminated or truncated:
                successes += bool(terminated and r >= model.success_reward)
                break
        returns.append(total)
        lengths.append(steps)
    gym_env.close()
    returns = np.asarray(returns)
    return Evaluation(
        mean_return=float(returns.mean()),
        std_return=float(returns.std()),
        success_rate=successes / episodes,
        mean_length=float(np.mean(lengths)),
        returns=returns,
    )


def simulate(mdp: TabularMDP, policy, episodes: int, key, goals=()) -> Evaluation:
    """Roll a policy out in the model itself (true dynamics, no gymnasium): for built-in grids.

    Args:
        mdp: the model.
        policy: (H, S, A) or (S, A) action probabilities (or an object with `.policy`); a
            stationary policy runs for 100 steps.
        episodes: number of rollouts.
        key: a `jax.random` key.
        goals: states that count as a success when the rollout visits one of them.

    Returns:
        An `Evaluation` of the undiscounted returns sum_t r(s_t, a_t).
    """
    import jax

    if hasattr(policy, "policy"):
        policy = policy.policy
    policy = np.asarray(policy, dtype=np.float64)
    if policy.ndim == 2:
        policy = np.broadcast_to(policy, (100, *policy.shape))
    if policy.ndim != 3 or policy.shape[1:] != (mdp.num_states, mdp.num_actions):
        raise ValueError(
            f"policy must have shape (H, S, A) or (S, A) with S, A = {mdp.num_states}, "
            f"{mdp.num_actions}; got {policy.shape}."
        )
    episodes = check_int("episodes", episodes, 1)
    rng = np.random.default_rng(int(jax.random.randint(key, (), 0, 2**31 - 1)))
    transitions = np.asarray(mdp.dense_transitions(), dtype=np.float64)
    reward = np.asarray(mdp.reward, dtype=np.float64)
    horizon = policy.shape[0]
    rewards = reward if reward.ndim == 3 else np.broadcast_to(reward, (horizon, *reward.shape))
    state = rng.choice(mdp.num_states, size=episodes, p=np.asarray(mdp.initial, np.float64))
    total = np.zeros(episodes)
    goals = np.asarray(goals, dtype=int)
    success = np.isin(state, goals)

    def draw(probs):  # one categorical draw per row
        u = rng.random((probs.shape[0], 1))
        return np.minimum((probs.cumsum(axis=1) < u).sum(axis=1), probs.shape[1] - 1)

    for t in range(horizon):
        action = draw(policy[t, state])
        total += rewards[t, state, action]
        state = draw(transitions[state, action])
        success |= np.isin(state, goals)
    return Evaluation(
        mean_return=float(total.mean()),
        std_return=float(total.std()),
        success_rate=float(success.mean()),
        mean_length=float(horizon),
        returns=total,
    )
