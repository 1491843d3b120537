"""Environments as `TabularMDP`s: gridworlds from text maps and named built-ins."""

from .gridworld import ACTIONS, ARROWS, BUILTINS, GridWorld, builtin, make_gridworld

__all__ = ["ACTIONS", "ARROWS", "BUILTINS", "GridWorld", "builtin", "make_gridworld"]
