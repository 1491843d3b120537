"""General helpers over pytrees and keys that more than one family uses (agents, irl):
`dataclasses_replace(module, **changes)`, a copy of an equinox module with some fields replaced,
and `key_data(key)`, the raw uint32 data of a typed or raw `jax.random` key."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array


def key_data(key) -> Array:
    """Raw uint32 key data of a typed or raw `jax.random` key (what a state stores: it
    serialises)."""
    return jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key


def dataclasses_replace(module, **changes):
    """A copy of an equinox module with some fields replaced."""
    names = tuple(changes)
    return eqx.tree_at(
        lambda m: tuple(getattr(m, n) for n in names), module, tuple(changes[n] for n in names)
    )
