"""The state of a vector of gymnasium environments as plain data (JSON), never a pickle.

A checkpoint once held the environments' pickle, and unpickling a file runs whatever code it
names: a crafted run directory ran code on `cai resume`. Now the environments are rebuilt from
their gymnasium id (config.json's `env_id`, made by `environments.make_envs`) and the snapshot
only sets data on them: for the vector and for every layer of each copy (wrappers, then the
environment itself), the attributes that are numbers, strings, None, numeric arrays, random
generators' states (`numpy.random.Generator.bit_generator.state`) or tuples, lists and
str-keyed dicts of those. Anything else (spaces, specs, renderers) is the fresh environment's.

    snapshot = env_snapshot(env)          # JSON-ready
    restore_env_snapshot(fresh, snapshot)  # fresh: make_envs(env_id, discrete, num_envs)

For gymnasium's classic-control and toy-text environments (their state is `state`, the TimeLimit
count and the generator) a resumed run is bit-identical to an uninterrupted one (tested); an
environment that keeps its state in other objects restarts those parts fresh.
"""

from __future__ import annotations

import base64

import numpy as np

_KINDS = "biuf"  # numeric array dtypes (bool, ints, floats): nothing that holds objects
_SKIP = object()


def _encode(value, depth: int = 0):
    """A JSON-ready form of a data value, or _SKIP for anything else."""
    if depth > 8:
        return _SKIP
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic) and value.dtype.kind in _KINDS:
        value = np.asarray(value)
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in _KINDS:
            return _SKIP
        data = base64.b64encode(np.ascontiguousarray(value).tobytes()).decode("ascii")
        return {"array": data, "dtype": value.dtype.str, "shape": list(value.shape)}
    if isinstance(value, np.random.Generator):
        return {"generator": value.bit_generator.state}
    if isinstance(value, (tuple, list)):
        items = [_encode(x, depth + 1) for x in value]
        if any(x is _SKIP for x in items):
            return _SKIP
        return {"tuple" if isinstance(value, tuple) else "list": items}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        items = {k: _encode(x, depth + 1) for k, x in value.items()}
        if any(x is _SKIP for x in items.values()):
            return _SKIP
        return {"dict": items}
    return _SKIP


def _decode(data):
    """The value of an `_encode`d form (ValueError for anything it cannot be)."""
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if not isinstance(data, dict) or len(data) not in (1, 3):
        raise ValueError(f"not a snapshot value: {str(data)[:80]}")
    if "array" in data:
        dtype = np.dtype(data["dtype"])
        if dtype.kind not in _KINDS:
            raise ValueError(f"array of dtype {dtype} in a snapshot")
        raw = base64.b64decode(data["array"], validate=True)
        return np.frombuffer(raw, dtype).reshape(data["shape"]).copy()
    if "generator" in data:
        generator = np.random.default_rng()
        generator.bit_generator.state = data["generator"]
        return generator
    if "tuple" in data:
        return tuple(_decode(x) for x in data["tuple"])
    if "list" in data:
        return [_decode(x) for x in data["list"]]
    if "dict" in data:
        return {str(k): _decode(x) for k, x in data["dict"].items()}
    raise ValueError(f"not a snapshot value: {str(data)[:80]}")


def _layers(env) -> list:
    """A copy's wrappers, outermost first, then the environment itself."""
    layers = [env]
    while hasattr(layers[-1], "env") and len(layers) < 32:
        layers.append(layers[-1].env)
    return layers


def _attributes(layer) -> dict:
    out = {}
    for name, value in vars(layer).items():
        encoded = _encode(value)
        if encoded is not _SKIP:
            out[name] = encoded
    return out


def env_snapshot(env) -> dict:
    """The data state of a gymnasium vector env (module docstring): JSON-ready."""
    return {
        "vector": _attributes(env),
        "copies": [
            [{"class": type(layer).__name__, "data": _attributes(layer)} for layer in _layers(e)]
            for e in env.envs
        ],
    }


def _set(layer, name: str, data) -> None:
    generator = getattr(layer, name, None)
    if isinstance(data, dict) and set(data) == {"generator"}:
        if isinstance(generator, np.random.Generator):  # the same object, as others may hold it
            generator.bit_generator.state = data["generator"]
            return
    setattr(layer, name, _decode(data))


def restore_env_snapshot(env, snapshot: dict) -> None:
    """Set the data of `env_snapshot` on a fresh vector of the same environments.

    Raises:
        ValueError: a snapshot of other environments (copies or wrapper layers differ) or not a
            snapshot.
    """
    try:
        copies = snapshot["copies"]
        if len(copies) != len(env.envs):
            raise ValueError(f"{len(copies)} environment copies saved, {len(env.envs)} made")
        for name, data in snapshot["vector"].items():
            _set(env, str(name), data)
        for e, saved in zip(env.envs, copies, strict=True):
            layers = _layers(e)
            classes = [type(layer).__name__ for layer in layers]
            if [layer["class"] for layer in saved] != classes:
                raise ValueError(f"environment layers {classes} differ from the saved ones")
            for layer, entry in zip(layers, saved, strict=True):
                for name, data in entry["data"].items():
                    _set(layer, str(name), data)
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"not an environment snapshot: {error!r}") from None
