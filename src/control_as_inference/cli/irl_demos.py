"""Demonstrations read from an .npz file, for every `cai irl` method (a leaf module: `cli.irl`,
`cli.irl_methods` and `cli.irl_airl` import it, it imports none of them)."""

from __future__ import annotations

from ._io import UsageError

DEMO_ARRAYS = {"states": "(N, T+1)", "actions": "(N, T)"}
DEMO_OPTIONAL = {"lengths": "(N,)"}


def read_demos(path: str):
    """`irl.Demonstrations` from an .npz file with states, actions and optionally lengths."""
    from ..envs import read_npz
    from ..irl import as_demonstrations

    arrays = read_npz(path, DEMO_ARRAYS, DEMO_OPTIONAL)
    try:
        return as_demonstrations(arrays["states"], arrays["actions"], arrays.get("lengths"))
    except ValueError as error:
        raise UsageError(f"{path}: {error}") from None
