"""The one global random generator numcnn falls back on when no ``rng=`` is given, the
generators a model holds (``find_generators``), and the ``.npz``-safe encoding of a
generator's state (for checkpoints and resumable loaders)."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

_global_rng = np.random.default_rng(0)


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed numcnn's global generator (used by layers built without ``rng=``)."""
    global _global_rng
    _global_rng = np.random.default_rng(seed)
    return _global_rng


def default_rng(rng: np.random.Generator | int | None = None) -> np.random.Generator:
    """Return ``rng`` itself, a new generator seeded with an int, or the global generator."""
    if rng is None:
        return _global_rng
    if isinstance(rng, np.random.Generator):
        return rng
    what = "a numpy.random.Generator, a non-negative int seed or None"
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        if rng < 0:
            raise ValueError(f"rng must be {what}; got {rng!r}")
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be {what}; got {rng!r}")


def find_generators(model) -> list[tuple[str, np.random.Generator]]:
    """``(owner, generator)`` for every Generator attribute of every module of ``model``
    (anything with ``named_modules()``), in ``named_modules`` order: "2:rng" is attribute
    ``rng`` of module "2".  A generator shared by several modules appears once per owner.

    Used to save and restore random layers (Dropout) in checkpoints and to replay their
    draws in gradient checks.
    """
    found = []
    for name, module in model.named_modules():
        for attr, value in vars(module).items():
            if isinstance(value, np.random.Generator):
                found.append((f"{name}:{attr}", value))
    return found


def rng_state_to_arrays(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A generator's ``bit_generator.state`` as a flat dict of ``.npz``-safe arrays.

    PCG64's state and increment are 128-bit ints, too big for any numpy integer dtype, so
    every Python int is stored as its decimal string; arrays (MT19937's key) stay arrays.
    Nested dict keys are joined with ".".
    """
    out: dict[str, np.ndarray] = {}

    def walk(prefix: str, v: Any) -> None:
        if isinstance(v, Mapping):
            for k, sub in v.items():
                walk(f"{prefix}.{k}" if prefix else str(k), sub)
        elif isinstance(v, (bool, np.bool_)):
            out[prefix] = np.array(str(int(v)))
        elif isinstance(v, numbers.Integral):
            out[prefix] = np.array(str(int(v)))
        elif isinstance(v, str):
            out[prefix] = np.array(v)
        else:
            out[prefix] = np.array(v, copy=True)

    walk("", rng.bit_generator.state)
    return out


def rng_state_from_arrays(arrays: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of ``rng_state_to_arrays``: the nested dict ``bit_generator.state`` takes."""
    state: dict[str, Any] = {}
    for key, v in arrays.items():
        a = np.asarray(v)
        if key == "bit_generator":
            value: Any = str(a)
        elif a.dtype.kind == "U":
            value = int(str(a))
        else:
            value = a
        *parents, leaf = key.split(".")
        node = state
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    if "bit_generator" not in state:
        raise ValueError(f"rng_state_from_arrays: expected the keys of rng_state_to_arrays "
                         f"(with 'bit_generator'); got {sorted(arrays)}")
    return state
