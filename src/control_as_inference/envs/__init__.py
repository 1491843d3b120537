"""Environments as `TabularMDP`s: gridworlds from text maps, named built-ins, and the exact models
of gymnasium's toy-text environments."""

from .gridworld import ACTIONS, ARROWS, BUILTINS, GridWorld, builtin, make_gridworld
from .toytext import Evaluation, GymModel, evaluate, from_gymnasium

__all__ = [
    "ACTIONS",
    "ARROWS",
    "BUILTINS",
    "Evaluation",
    "GridWorld",
    "GymModel",
    "builtin",
    "evaluate",
    "from_gymnasium",
    "make_gridworld",
]
