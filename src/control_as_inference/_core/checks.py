"""Argument checks shared by every family: one message per idea, a `ValueError` naming the field.

Value checks need concrete arrays; under `jax.jit` or `jax.vmap` (tracers) only shapes are
checked, so untrusted data should be validated outside the transformation.
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp
import numpy as np

METHODS = ("exact", "variational")


def is_concrete(x) -> bool:
    """Values can be checked: not a tracer, and (for a global array spread over several
    processes) every shard is in this process."""
    if isinstance(x, jax.core.Tracer):
        return False
    return getattr(x, "is_fully_addressable", True)


def _dtype_of(x):
    return x.dtype if hasattr(x, "dtype") else np.asarray(x).dtype


def float_dtype(*arrays):
    """The common floating dtype of the inputs (None entries skipped; JAX's default float if none
    is floating), canonicalised (float64 becomes float32 unless x64 is enabled)."""
    floats = [_dtype_of(a) for a in arrays if a is not None]
    floats = [d for d in floats if jnp.issubdtype(d, jnp.floating)]
    dtype = np.result_type(*floats) if floats else jnp.asarray(0.0).dtype
    return jax.dtypes.canonicalize_dtype(dtype)


def check_int(name: str, value, low: int) -> int:
    """A Python (or numpy) integer >= low, not a bool; returned as an int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be a Python int >= {low}, got {value!r}.")
    return int(value)


def check_positive(name: str, value, finite: bool = True) -> float:
    """A Python real number > 0 (not a bool, not NaN) and, unless `finite=False`, finite: an
    infinite step size, bound or tolerance gives NaN or nothing, never an answer."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"{name} must be a number > 0, got {value!r}.")
    if finite and not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}.")
    return value


def check_scalar(name: str, value, dtype, hint: str = ""):
    """`value` as a 0-d array of `dtype`; a ValueError naming `name` for any other shape."""
    value = jnp.asarray(value, dtype=dtype)
    if value.shape != ():
        raise ValueError(f"{name} must be a scalar, got shape {value.shape}{hint}.")
    return value


HARD_LIMIT = (
    "for the hard (temperature -> 0) limit use a small positive value or most_probable_trajectory"
)
TEMPERATURE_DOMAIN = "temperature must be finite and > 0"


def check_temperature(temperature, dtype, hint: str = HARD_LIMIT):
    """alpha > 0 and finite, as a 0-d array (may be traced: then only the shape is checked;
    `engine.Setting` adds the check that runs with the computation)."""
    temperature = check_scalar("temperature", temperature, dtype, "; use jax.vmap for a sweep")
    if is_concrete(temperature) and not (temperature > 0 and jnp.isfinite(temperature)):
        raise ValueError(f"{TEMPERATURE_DOMAIN}, got {float(temperature)}; {hint}.")
    return temperature


def discount_domain(name: str = "discount", geometric: bool = False) -> str:
    """The one wording of the discount's domain (engine/setting.py documents it): gamma in
    (0, 1]; a geometric sum over an unbounded horizon with no absorbing state to end it
    (`geometric=True`) needs gamma < 1."""
    if geometric:
        return f"{name} must lie in (0, 1) (an unbounded geometric horizon needs {name} < 1)"
    return f"{name} must lie in (0, 1]"


def check_discount(discount, dtype, *, geometric: bool = False, name: str = "discount"):
    """gamma in (0, 1] (or (0, 1) if `geometric`), as a 0-d array of `dtype` (None: the value's
    own; may be traced: then only the shape is checked)."""
    discount = check_scalar(name, discount, dtype)
    if is_concrete(discount):
        inside = 0 < discount < 1 if geometric else 0 < discount <= 1
        if not inside:
            raise ValueError(f"{discount_domain(name, geometric)}, got {float(discount)}.")
    return discount


def check_method(method) -> str:
    """The method name, "exact" or "variational"."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
    return method
