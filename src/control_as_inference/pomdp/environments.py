"""Gymnasium environments for POMDPs: any `POMDP` as a `gymnasium.Env` (`POMDPEnv`), and a
partially observed gridworld (`observed_gridworld`) beside Tiger (`tiger`).

The environment samples the hidden state and shows only the observations; `info["belief"]`
carries the exact Bayes filter's belief (the `belief_update` of the model), `info["state"]` the
hidden state (for evaluation, not for the agent).
"""

from __future__ import annotations

from typing import ClassVar

import gymnasium as gym
import numpy as np

from ..envs import make_gridworld
from .model import POMDP

WALL_DIRECTIONS = ((-1, 0), (0, 1), (1, 0), (0, -1))  # up, right, down, left: the moves' order


class POMDPEnv(gym.Env):
    """A `POMDP` as a gymnasium environment.

    Observations are integers in [0, O]: reset shows O ("nothing seen yet": the model's
    observations follow actions), each step the o drawn from O(. | s', a). Rewards are r(s, a).
    An episode ends (terminated) on entering a state of `terminal_states`, or is truncated after
    `max_steps`.

    Args:
        pomdp: the model; max_steps: the episode length limit; terminal_states: state indices.
    """

    metadata: ClassVar[dict] = {"render_modes": []}

    def __init__(self, pomdp: POMDP, max_steps: int = 100, terminal_states=()):
        # float64 rows that sum to one to numpy's tolerance (a float32 model's may not)
        self.transitions = _normalised(pomdp.transitions)
        self.emissions = _normalised(pomdp.observations)
        self.reward = np.asarray(pomdp.reward, np.float64)
        self.initial = _normalised(pomdp.initial)
        self.pomdp = pomdp
        self.max_steps = int(max_steps)
        self.terminal_states = frozenset(int(s) for s in terminal_states)
        self.observation_space = gym.spaces.Discrete(pomdp.num_observations + 1)
        self.action_space = gym.spaces.Discrete(pomdp.num_actions)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._state = int(self.np_random.choice(len(self.initial), p=self.initial))
        self._belief, self._steps = self.initial.copy(), 0
        return self.pomdp.num_observations, self._info()

    def step(self, action):
        integer = np.ndim(action) == 0 and np.issubdtype(np.asarray(action).dtype, np.integer)
        if not (integer and self.action_space.contains(int(action))):
            n = self.action_space.n
            raise ValueError(f"action must be an int in [0, {n}), got {action!r}.")
        action = int(action)
        reward = float(self.reward[self._state, action])
        row = self.transitions[self._state, action]
        next_state = int(self.np_random.choice(len(row), p=row))
        emission = self.emissions[next_state, action]
        observation = int(self.np_random.choice(len(emission), p=emission))
        predicted = self._belief @ self.transitions[:, action]
        joint = predicted * self.emissions[:, action, observation]
        self._belief = joint / joint.sum()
        self._state, self._steps = next_state, self._steps + 1
        terminated = next_state in self.terminal_states
        truncated = not terminated and self._steps >= self.max_steps
        return observation, reward, terminated, truncated, self._info()

    def _info(self):
        return {"belief": self._belief.copy(), "state": self._state}


def _normalised(p):
    p = np.asarray(p, np.float64)
    return p / p.sum(axis=-1, keepdims=True)


def observed_gridworld(layout, slip: float = 0.1, accuracy: float = 0.9, **rewards):
    """A gridworld (`cai.envs.make_gridworld`'s map and dynamics) seen through a wall sensor.

    After each move the agent sees which of its four neighbours are walls (16 patterns, bit k for
    direction k of up, right, down, left), right with probability `accuracy` and otherwise a
    pattern drawn uniformly; the absorbing "done" state shows a 17th observation (pass its index,
    the last, as `POMDPEnv`'s terminal state). The initial belief is uniform over the free cells
    that are neither goals nor lava: the agent must localise itself.

    Returns:
        (POMDP, the `GridWorld` it was built from).
    """
    if not 0.0 <= accuracy <= 1.0:
        raise ValueError(f"accuracy must lie in [0, 1], got {accuracy}.")
    grid = make_gridworld(layout, slip=slip, **rewards)
    rows = grid.layout
    cells = np.asarray(grid.cells)
    num_states = grid.mdp.num_states  # the cells, then "done"
    patterns = np.zeros((num_states, 17))
    for s, (i, j) in enumerate(cells):
        bits = 0
        for k, (di, dj) in enumerate(WALL_DIRECTIONS):
            r, c = i + di, j + dj
            outside = not (0 <= r < len(rows) and 0 <= c < len(rows[r]))
            if outside or rows[r][c] == "#":
                bits |= 1 << k
        patterns[s, :16] = (1 - accuracy) / 16
        patterns[s, bits] += accuracy
    patterns[len(cells) :, 16] = 1.0  # done
    ends = set(grid.goals) | set(grid.lava)
    starts = [s for s in range(len(cells)) if s not in ends]
    initial = np.zeros(num_states)
    initial[starts] = 1.0 / len(starts)
    return POMDP(grid.mdp.transitions, patterns, grid.mdp.reward, initial), grid
