"""Ctrl-C as a request to stop between two loop steps.

An interrupt inside a jitted call would leave the state's donated buffers deleted, with nothing
valid to save; so the first SIGINT only sets a flag that the loop reads between steps (it then
saves a checkpoint and returns). A second Ctrl-C goes to the handler that was there before, at
once: KeyboardInterrupt in a script, in the `cai` command its one line and exit code 130 (the
checkpoint pair on disk is consistent at every moment, `checkpoint.save_checkpoint`).
"""

from __future__ import annotations

import signal
import threading


class StopOnSigint:
    """A context manager: inside it, SIGINT makes the object true instead of raising.

        with StopOnSigint() as stop:
            while ...:
                if stop:
                    ...  # save and leave

    Signals can only be handled in the main thread; elsewhere the object stays false and
    SIGINT behaves as usual. The previous handler is restored on exit.
    """

    def __init__(self):
        self._signals: list = []
        self._previous = None

    def __bool__(self) -> bool:
        return bool(self._signals)

    def __enter__(self) -> StopOnSigint:
        if threading.current_thread() is threading.main_thread():

            def handler(signum, frame):
                self._signals.append(signum)
                if len(self._signals) > 1:  # a second: what was there before, at once
                    previous = self._previous
                    if not callable(previous):  # SIG_DFL or SIG_IGN (ints): KeyboardInterrupt
                        previous = signal.default_int_handler
                    previous(signum, frame)

            self._previous = signal.signal(signal.SIGINT, handler)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
