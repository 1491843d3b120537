"""Files written so that a crash never leaves half of one: every checkpoint and result file of the
agents and the IRL loops goes through `atomic_write`."""

from __future__ import annotations

import os


def atomic_write(path: str, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, flush it to disk, rename it to `path`."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
