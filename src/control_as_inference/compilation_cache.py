"""Compile once: JAX's persistent compilation cache for this library's programs.

    import control_as_inference as cai
    cai.enable_compilation_cache()          # ~/.cache/control-as-inference/jax (XDG)
    cai.enable_compilation_cache("/tmp/c")  # or any directory

JAX compiles every jitted program on its first call in a process (seconds for the IRL and
planning programs); with the cache on, the compiled executables are written to a directory and
later processes load them instead of compiling again. The `cai` command turns the cache on for
every command that uses JAX; `CAI_COMPILATION_CACHE=0` in the environment, or
`cai --no-compilation-cache COMMAND ...`, turns it off. Importing the library changes no JAX
setting: only `enable_compilation_cache` does, when called.

The directory is `$XDG_CACHE_HOME/control-as-inference/jax`, or `~/.cache/...` when
XDG_CACHE_HOME is unset, created readable by its owner only: JAX trusts what it finds there (an
executable loaded from the cache is run), so it must not be writable by others. Delete it to
free the space; JAX keys each entry by the program, the JAX and XLA versions, the backend and the
compile options, so a stale entry is never used.
"""

from __future__ import annotations

import os
from pathlib import Path

ENVIRONMENT_SWITCH = "CAI_COMPILATION_CACHE"
"""Environment variable read by the `cai` command: 0, false, no or off disable the cache; 1,
true, yes, on or unset enable it."""

MIN_COMPILE_SECONDS = 0.0
"""Programs whose compilation took at least this long are cached: all. JAX's default (1 s)
would leave out the hundred or so small programs of a command's setup (0.02 to 0.2 s each,
seconds together; measured in benchmarks/RESULTS.md, "Issue 23")."""

_OFF = ("0", "false", "no", "off")
_ON = ("", "1", "true", "yes", "on")


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/control-as-inference/jax, or ~/.cache/control-as-inference/jax."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "control-as-inference" / "jax"


def cache_enabled_by_environment() -> bool:
    """Whether `CAI_COMPILATION_CACHE` allows the cache (unset: yes)."""
    value = os.environ.get(ENVIRONMENT_SWITCH, "").strip().lower()
    if value in _OFF:
        return False
    if value in _ON:
        return True
    raise ValueError(
        f"{ENVIRONMENT_SWITCH}={value!r} is not understood: set it to 0 (no compilation cache) "
        "or 1 (the default), or unset it."
    )


MAX_BYTES = 1 << 30
"""The cache's default size limit: 1 GiB; JAX evicts the least recently used programs above it."""


def enable_compilation_cache(
    path: str | os.PathLike | None = None,
    min_compile_seconds: float = MIN_COMPILE_SECONDS,
    max_bytes: int = MAX_BYTES,
) -> Path:
    """Turn on JAX's persistent compilation cache in `path` (default: `default_cache_dir()`),
    caching every program that took at least `min_compile_seconds` to compile. Sets the JAX
    options `jax_compilation_cache_dir` and `jax_persistent_cache_min_compile_time_secs` for
    this process; programs compiled from then on are read from and written to the directory,
    which JAX keeps under `max_bytes` (`jax_compilation_cache_max_size`; -1: no limit) by
    evicting the least recently used. Returns the directory (created, mode 0o700, if missing;
    an existing directory keeps its permissions)."""
    import jax

    if not min_compile_seconds >= 0:
        raise ValueError(f"min_compile_seconds must be >= 0, got {min_compile_seconds}.")
    if not (isinstance(max_bytes, int) and (max_bytes > 0 or max_bytes == -1)):
        raise ValueError(f"max_bytes must be a positive int or -1 (no limit), got {max_bytes!r}.")
    directory = Path(path).expanduser() if path is not None else default_cache_dir()
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"path {str(directory)!r} exists and is not a directory.")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if max_bytes != -1:
        _stamp_access_times(directory)
    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_seconds))
    jax.config.update("jax_compilation_cache_max_size", max_bytes)
    return directory


def _stamp_access_times(directory: Path) -> None:
    """Give every entry written without a size limit (`max_bytes=-1`, or plain JAX sharing the
    directory) the access-time file that JAX's size-limited cache keeps beside it (KEY-atime: 8
    bytes, nanoseconds, little-endian; here the entry's modification time). Without it, JAX's
    eviction fails on that entry with FileNotFoundError at every later write: each new program
    is left uncached and every command warns."""
    for entry in directory.glob("*-cache"):
        atime = entry.with_name(entry.name.removesuffix("-cache") + "-atime")
        if not atime.exists():
            try:
                atime.write_bytes(entry.stat().st_mtime_ns.to_bytes(8, "little"))
            except OSError:  # a read-only or vanished entry: JAX's own warning says so later
                pass
