"""Environments as `TabularMDP`s: gridworlds from text maps, named built-ins, and the exact models
of gymnasium's toy-text environments."""

from .gridworld import ACTIONS, BUILTINS, MOVES, GridMixin, GridWorld, builtin, make_gridworld
from .toytext import Evaluation, GymModel, evaluate, from_gymnasium, simulate

__all__ = [
    "ACTIONS",
    "BUILTINS",
    "MOVES",
    "Evaluation",
    "GridMixin",
    "GridWorld",
    "GymModel",
    "builtin",
    "evaluate",
    "from_gymnasium",
    "make_gridworld",
    "simulate",
]
