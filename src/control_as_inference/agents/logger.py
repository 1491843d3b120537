"""The per-episode log of a run: a list in memory, `log.csv` in the run directory and, with
tensorboardX installed (the `tensorboard` extra), TensorBoard event files in `tensorboard/`
(`tensorboard --logdir runs`), all behind one `RunLogger`.

A row is {step, return, length, critic_loss, actor_loss, temperature, entropy, seconds}
(`LOG_FIELDS`) for each finished episode of any environment copy. A resumed run drops the rows
written after its checkpoint (they will be written again), from log.csv and, by a purge, from
TensorBoard.
"""

from __future__ import annotations

import csv
import os
import time

LOG_FIELDS = (
    "step",
    "return",
    "length",
    "critic_loss",
    "actor_loss",
    "temperature",
    "entropy",
    "seconds",
)


def read_log(out: str) -> list[dict]:
    """The rows of `out`/log.csv as dicts of floats (LOG_FIELDS); [] when there is no log."""
    path = os.path.join(out, "log.csv")
    if not os.path.exists(path):
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def _cell(x):
    return int(x) if float(x).is_integer() and abs(x) < 2**53 else float(x)


def _write_log(out: str, rows: list, fields: tuple = LOG_FIELDS) -> None:
    """log.csv with the header `fields` and `rows`, replacing what was there."""
    with open(os.path.join(out, "log.csv"), "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(fields)
        for row in rows:
            writer.writerow([_cell(row[f]) for f in fields])


def _header(out: str) -> tuple:
    """The columns of out/log.csv (LOG_FIELDS when it has none)."""
    path = os.path.join(out, "log.csv")
    if not os.path.exists(path):
        return LOG_FIELDS
    with open(path, newline="", encoding="utf-8") as handle:
        return tuple(next(csv.reader(handle), LOG_FIELDS))


def _tensorboard(out, start_step: int):
    """A TensorBoard writer in out/tensorboard when tensorboardX is installed, else None. Events
    after start_step (written before a crash, and to be written again) are purged."""
    if out is None:
        return None
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        return None
    # tensorboardX names files by the second: a suffix keeps two writers of one second apart
    # and in order (TensorBoard reads the files sorted by name)
    suffix = f".{time.time_ns():020d}"
    directory = os.path.join(out, "tensorboard")
    return SummaryWriter(directory, purge_step=start_step or None, filename_suffix=suffix)


class RunLogger:
    """The history (one dict per finished episode) and, when `out` is a run directory, log.csv
    and TensorBoard. Make one with `start` or `resume`; `log(row)` each episode; `close()`.

    Attributes:
        out: the run directory, or None (nothing written).
        history: the rows so far (a resumed run's begin with those up to its checkpoint).
    """

    def __init__(self, out: str | None, history: list, start_step: int, fields=LOG_FIELDS):
        self.out = out
        self.history = history
        self.fields = tuple(fields)
        self._board = _tensorboard(out, start_step)

    @classmethod
    def start(cls, out: str | None, fields: tuple = LOG_FIELDS) -> RunLogger:
        """A fresh run: log.csv with just its header, `fields` (LOG_FIELDS and an agent's own
        metrics, `registry.log_fields`)."""
        if out is not None:
            _write_log(out, [], fields)
        return cls(out, [], 0, fields)

    @classmethod
    def resume(cls, out: str, step: int) -> RunLogger:
        """A run resumed from its checkpoint at `step`: later rows are dropped from log.csv (and
        purged from TensorBoard)."""
        fields = _header(out)
        history = [row for row in read_log(out) if row["step"] <= step]
        _write_log(out, history, fields)
        return cls(out, history, step, fields)

    def log(self, row: dict) -> None:
        """Record one finished episode (a dict with every field of `fields`)."""
        self.history.append(row)
        if self.out is not None:
            path = os.path.join(self.out, "log.csv")
            with open(path, "a", newline="", encoding="utf-8") as handle:
                csv.writer(handle).writerow([_cell(row[f]) for f in self.fields])
        if self._board is not None:
            for name in self.fields[1:]:
                self._board.add_scalar(f"train/{name}", row[name], row["step"])

    def close(self) -> None:
        """Flush and close TensorBoard's event file (log.csv is closed after every row)."""
        if self._board is not None:
            self._board.close()
            self._board = None
