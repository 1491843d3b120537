"""Ctrl-C in the `cai` command: one line on stderr, exit code 130, from every command.

Python's default turns SIGINT into a KeyboardInterrupt raised wherever the main thread happens
to be: inside JAX's garbage-collection callback (printed as "Exception ignored" and swallowed:
the command went on and exited 0), inside an atexit callback, or just before the interpreter tears
down with XLA's threads still running (a segfault, exit 139). So `cai` never raises it. While a
command runs (`exit_on_interrupt`):

- SIGINT ends the process the same way from two places, whichever comes first: a Python handler
  (runs on the main thread between two bytecodes) and a watcher thread woken through
  `signal.set_wakeup_fd` (at once, even while the main thread waits in a long XLA call). Both
  print `cai COMMAND: interrupted` on stderr, flush stdout, end the processes this one started
  (SIGTERM: a local Ray instance of `cai sweep`, whose shutdown at exit is skipped) and call
  `os._exit(130)`: no unwinding, no atexit callbacks, no teardown.
- the command's own output files are written inside `protected()` (atomically, `_io.writing`):
  an interrupt there waits until the file is complete and renamed into place; checkpoints of the
  library are written atomically and survive any moment of exit.
- where a loop installs its own handler (train and resume's `StopOnSigint`: save a checkpoint
  and return, the command then exits 130 itself), the watcher leaves the signal to it.
- the `cai` process ends inside the same handling (`end_process`): Python's own shutdown sets
  SIGINT back to its default action while XLA's threads are still being torn down, so a Ctrl-C
  just after a command's work killed the process silently (exit -2), or raised KeyboardInterrupt
  inside one of JAX's atexit callbacks (a traceback, exit 0).

Nothing here is installed outside the main thread, and everything is restored on leaving, so
`main()` called in-process (the tests) leaves the caller's Ctrl-C as it was.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading
from typing import NoReturn

INTERRUPTED = 130
"""The exit code after Ctrl-C (128 + SIGINT), as shells expect."""

_lock = threading.RLock()  # the main thread's handler may run while the main thread holds it
_exiting = threading.Lock()
_state = {"command": None, "critical": 0, "pending": False}


def _exit_now() -> None:
    """The line, stdout flushed, os._exit(130); a second caller (the other route) returns."""
    if not _exiting.acquire(blocking=False):
        return
    with contextlib.suppress(Exception):  # a print cut mid-way may refuse a re-entrant flush
        sys.stdout.flush()
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    with contextlib.suppress(OSError):
        os.write(2, f"cai {_state['command']}: interrupted\n".encode())
    for pid in _descendants():  # say a local Ray instance that `cai sweep` started
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
    os._exit(INTERRUPTED)


def _descendants() -> list[int]:
    """The processes this one started, and theirs (from /proc; none where there is no /proc)."""
    children: dict[int, list[int]] = {}
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                    parent = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue  # ended meanwhile
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [os.getpid()]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def _request_exit() -> None:
    """Exit now, or as soon as the protected write in progress is complete."""
    with _lock:
        if _state["critical"]:
            _state["pending"] = True
            return
    _exit_now()


def _handler(signum, frame) -> None:
    _request_exit()


def _watch(fd: int) -> None:
    """The watcher thread: wakes on every signal byte; ends when the pipe is closed."""
    while True:
        try:
            data = os.read(fd, 64)
        except OSError:
            return
        if not data:
            return
        if signal.SIGINT in data and signal.getsignal(signal.SIGINT) is _handler:
            _request_exit()


def end_process(code: int) -> NoReturn:
    """End the `cai` process with exit code `code`, with Ctrl-C still answered (call it inside
    `exit_on_interrupt`): wait for the threads that Python waits for (non-daemon ones), run the
    atexit callbacks, flush stdout and stderr, then `os._exit(code)`; no interpreter teardown,
    whose SIGINT is the default action (module docstring)."""
    main = threading.main_thread()
    for thread in threading.enumerate():
        if thread is not main and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()  # a failing callback prints its traceback, as at a normal exit
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`cai solve | head`) or a closed stream
            code = code or 1
    os._exit(code)


@contextlib.contextmanager
def protected():
    """A block that an interrupt does not cut: Ctrl-C inside it exits when it ends."""
    with _lock:
        _state["critical"] += 1
    try:
        yield
    finally:
        with _lock:
            _state["critical"] -= 1
            pending = _state["pending"] and not _state["critical"]
        if pending:
            _exit_now()


@contextlib.contextmanager
def exit_on_interrupt(command: str):
    """Inside: SIGINT prints `cai COMMAND: interrupted` and exits 130 (module docstring).
    Outside the main thread nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    read, write = os.pipe()
    os.set_blocking(write, False)
    _state.update(command=command, critical=0, pending=False)
    previous = signal.signal(signal.SIGINT, _handler)
    try:
        previous_fd = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    except ValueError:  # not the main thread of the main interpreter
        previous_fd = None
    watcher = threading.Thread(target=_watch, args=(read,), name="cai-sigint", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if previous_fd is not None:
            signal.set_wakeup_fd(previous_fd)
        os.close(write)  # the watcher reads the end of the pipe and returns
        watcher.join(timeout=1)
        if not watcher.is_alive():
            os.close(read)
