"""What a command will allocate, estimated before it runs: sizes that cannot fit are refused in
one line naming the option (exit 2), instead of an out-of-memory traceback after minutes.

The estimates count the arrays a command keeps (float64 and int64: 8 bytes an entry), not XLA's
temporaries, so they are lower bounds; the limit is half of the machine's physical memory."""

from __future__ import annotations

import math
import os

from ._io import UsageError

MEMORY_FRACTION = 0.5
"""Refuse above this fraction of the physical memory (os.sysconf)."""

POSTERIOR_ARRAYS = 4
"""(H, S, A) arrays of a tabular posterior kept by `cai solve` and the others: q, log_policy,
log_continuation and state_action_marginals; plus (H+1, S) values and state marginals."""


def physical_memory() -> int | None:
    """Bytes of physical memory, None where the system does not say."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def gigabytes(nbytes: float) -> str:
    return f"{nbytes / 1e9:.3g} GB"


def check_size(option: str, value, nbytes: float, memory: int | None = None) -> None:
    """UsageError "OPTION VALUE needs about N GB ..." when nbytes exceeds MEMORY_FRACTION of the
    physical memory (`memory` bytes, default: this machine's)."""
    memory = physical_memory() if memory is None else memory
    if memory is not None and nbytes > MEMORY_FRACTION * memory:
        raise UsageError(
            f"{option} {value} needs about {gigabytes(nbytes)} of memory, more than half of this "
            f"machine's {gigabytes(memory)}: lower {option}"
        )


def posterior_bytes(mdp, horizon: int, copies: int = 1) -> int:
    """Bytes of `copies` tabular posteriors over `horizon` steps (POSTERIOR_ARRAYS)."""
    s, a = mdp.num_states, mdp.num_actions
    return 8 * copies * (horizon * POSTERIOR_ARRAYS * s * a + 2 * (horizon + 1) * s)


def check_horizon(mdp, horizon: int, copies: int = 1) -> None:
    """--horizon that the posteriors of `mdp` cannot fit: refused."""
    check_size("--horizon", horizon, posterior_bytes(mdp, horizon, copies))


def check_trajectories(option: str, num: int, horizon: int, arrays: int = 4) -> None:
    """`num` sampled trajectories of `horizon` steps (states, actions, and the draws that made
    them: `arrays` (num, H+1) arrays) that cannot fit: refused, naming `option`."""
    check_size(option, num, 8 * arrays * num * (horizon + 1))


def finite_positive(option: str, value) -> None:
    """UsageError "OPTION must be finite and > 0, got VALUE" (NaN and inf fail)."""
    if not (math.isfinite(value) and value > 0):
        raise UsageError(f"{option} must be finite and > 0, got {value:g}")


def finite_at_least(option: str, value, low) -> None:
    """UsageError "OPTION must be finite and >= LOW, got VALUE" (NaN and inf fail)."""
    if not (math.isfinite(value) and value >= low):
        raise UsageError(f"{option} must be finite and >= {low:g}, got {value:g}")
